import assert from "node:assert/strict";
import { type AcceptedMessage, GossipNode, GossipService, MemoryNetwork } from "../../src/gossip/mod.ts";
import { nullLogger } from "../../src/log.ts";
import { SeededRandom, systemClock } from "../../src/time.ts";
import { decodeHeader, deflateBody, MessageType } from "../../src/wire/mod.ts";
import { testNode } from "../_support/gossip_node.ts";
import { testSigner, TrustSet } from "../_support/identity.ts";
import { waitFor } from "../_support/wait.ts";

const alice = await testSigner(41);
const bob = await testSigner(42);

/** A node that claims its sequence counter is nearly used up (to exercise the epoch bump). */
class NearlyExhausted extends GossipNode {
  override get sequenceRemaining(): number {
    return this.bootEpoch === 1 ? 10 : 2 ** 32;
  }
}

Deno.test("GossipService moves to a new persisted boot epoch before the counter runs out", async () => {
  const net = new MemoryNetwork(new SeededRandom(1));
  const trust = new TrustSet([alice.publicKey, bob.publicKey]);
  const node = new NearlyExhausted({
    signer: alice,
    verifier: { verify: () => Promise.resolve(true) },
    trust,
    modelHash: new Uint8Array(8),
    bootEpoch: 1,
    name: "alice",
    maxDatagram: 1232,
    rateLimit: 500,
    intervalMs: 60_000,
    peerTimeoutMs: 5000,
  });
  const asked: number[] = [];
  const service = new GossipService({
    node,
    transport: net.transport("alice", systemClock),
    clock: systemClock,
    logger: nullLogger,
    intervalMs: 60_000,
    nextEpoch: () => {
      asked.push(1);
      return Promise.resolve(7);
    },
  });
  service.start();
  try {
    await service.publish(MessageType.Delta, deflateBody(new Uint8Array(1)));
    await waitFor("the new epoch", () => node.bootEpoch === 7);
    const frame = await node.send(MessageType.Delta, deflateBody(new Uint8Array(1)));
    const h = decodeHeader(frame, { maxDatagram: 1232 });
    assert.deepEqual([h.bootEpoch, h.counter], [7, 0]);
    assert.equal(asked.length, 1);
  } finally {
    await service.stop();
  }
});

Deno.test("GossipService keeps serving when the message handler throws, and saves replay windows at stop", async () => {
  const net = new MemoryNetwork(new SeededRandom(2));
  const trust = new TrustSet([alice.publicKey, bob.publicKey]);
  const sender = testNode(alice, trust, { name: "alice" });
  const senderTransport = net.transport("alice", systemClock);
  const got: AcceptedMessage[] = [];
  let saves = 0;
  const service = new GossipService({
    node: testNode(bob, trust, { name: "bob", intervalMs: 60_000 }),
    transport: net.transport("bob", systemClock),
    clock: systemClock,
    logger: nullLogger,
    intervalMs: 60_000,
    onMessage: (m) => {
      got.push(m);
      if (got.length === 1) throw new Error("handler bug");
    },
    saveReplay: () => {
      saves++;
      return Promise.resolve();
    },
    saveMs: 60_000,
  });
  service.start();
  try {
    for (let i = 0; i < 3; i++) {
      await senderTransport.broadcast(await sender.send(MessageType.Delta, deflateBody(new Uint8Array([i]))));
    }
    net.deliver(Infinity);
    await waitFor("three messages", () => got.length === 3);
    assert.deepEqual(got.map((m) => m.body[0]).sort(), [0, 1, 2]);
  } finally {
    await service.stop();
    senderTransport.close();
  }
  assert.equal(saves, 1);
});
