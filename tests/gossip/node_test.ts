import assert from "node:assert/strict";
import {
  type GossipEvent,
  type GossipNode,
  loadReplayWindows,
  MemoryNetwork,
  RejectReason,
  saveReplayWindows,
} from "../../src/gossip/mod.ts";
import { ManualClock, SeededRandom } from "../../src/time.ts";
import {
  bodyBudget,
  decodeHeader,
  deflateBody,
  encodeFrame,
  FRAME_OVERHEAD,
  MessageType,
  signedPart,
} from "../../src/wire/mod.ts";
import { FROM, MODEL_HASH, testNode } from "../_support/gossip_node.ts";
import { CountingVerifier, testSigner, TrustSet } from "../_support/identity.ts";

const alice = await testSigner(11);
const bob = await testSigner(12);
const mallory = await testSigner(13);

function rejected(e: GossipEvent, reason: RejectReason): void {
  assert.equal(e.kind, "rejected", e.kind === "accepted" ? "was accepted" : "");
  if (e.kind === "rejected") assert.equal(e.reason, reason, e.detail);
}

function accepted(e: GossipEvent) {
  assert.equal(e.kind, "accepted", e.kind === "rejected" ? `${e.reason}: ${e.detail}` : "");
  if (e.kind !== "accepted") throw new Error("unreachable");
  return e.message;
}

function setup(overrides: Parameters<typeof testNode>[2] = {}) {
  const trust = new TrustSet([alice.publicKey, bob.publicKey]);
  const verifier = new CountingVerifier();
  const receiver = testNode(bob, trust, { verifier, name: "bob", ...overrides });
  const sender = testNode(alice, trust, { name: "alice" });
  return { trust, verifier, receiver, sender };
}

Deno.test("GossipNode accepts a trusted Hello and fills the peer table", async () => {
  const { receiver, sender } = setup();
  sender.setProgress({ round: 3, samples: 100, merged: 5, accuracy: 8000, uptime: 9 });
  const [hello] = await sender.tick(0);
  const m = accepted(await receiver.onDatagram(hello, FROM, 50));
  assert.equal(m.type, MessageType.Hello);
  assert.equal(m.hello?.name, "alice");
  const [peer] = receiver.peers(1050);
  assert.equal(peer.name, "alice");
  assert.equal(peer.address, "10.0.0.9:41234");
  assert.equal(peer.lastSeen, 50);
  assert.equal(peer.ageMs, 1000);
  assert.equal(peer.alive, true);
  assert.equal(peer.trusted, true);
  assert.equal(peer.datagramsIn, 1);
  assert.deepEqual(peer.progress, { round: 3, samples: 100, merged: 5, accuracy: 8000, uptime: 9 });
  assert.deepEqual(peer.sequence, [1, 0]);
  assert.equal(receiver.peers(50 + 5001)[0].alive, false);
});

Deno.test("GossipNode.tick() sends one Hello per interval", async () => {
  const { sender } = setup();
  assert.equal((await sender.tick(0)).length, 1);
  assert.equal((await sender.tick(999)).length, 0);
  assert.equal((await sender.tick(1000)).length, 1);
  assert.equal(sender.counters().sent, 2);
});

Deno.test("GossipNode drops an untrusted sender without any crypto and counts it", async () => {
  const { receiver, verifier } = setup();
  const stranger = testNode(mallory, new TrustSet(), { name: "mallory" });
  const [hello] = await stranger.tick(0);
  rejected(await receiver.onDatagram(hello, FROM, 0), RejectReason.Untrusted);
  assert.equal(verifier.calls, 0);
  assert.equal(receiver.counters().rejected.untrusted, 1);
  assert.equal(receiver.peers(0).length, 0);
  assert.equal(receiver.untrustedSenders()[0].count, 1);
});

Deno.test("GossipNode refuses a revoked sender from the next datagram, without restart", async () => {
  const { receiver, sender, trust, verifier } = setup();
  accepted(await receiver.onDatagram((await sender.tick(0))[0], FROM, 0));
  trust.revoke(alice.publicKey);
  const calls = verifier.calls;
  rejected(await receiver.onDatagram((await sender.tick(1000))[0], FROM, 1000), RejectReason.Untrusted);
  assert.equal(verifier.calls, calls);
  assert.equal(receiver.peers(1000)[0].trusted, false);
});

Deno.test("GossipNode ignores its own broadcasts by key", async () => {
  const { receiver } = setup();
  const [own] = await receiver.tick(0);
  rejected(await receiver.onDatagram(own, { hostname: "10.0.0.1", port: 1 }, 0), RejectReason.Own);
});

Deno.test("GossipNode refuses a replayed datagram, also after a restart with persisted windows", async () => {
  const { receiver, sender, trust } = setup();
  const dir = await Deno.makeTempDir();
  try {
    const captured = await sender.send(MessageType.Delta, deflateBody(new Uint8Array([1, 2, 3])));
    accepted(await receiver.onDatagram(captured, FROM, 0));
    rejected(await receiver.onDatagram(captured, FROM, 1), RejectReason.Replay);
    const path = `${dir}/replay.bin`;
    await saveReplayWindows(path, receiver.replay);
    // restart: a new node object from the persisted windows
    const restarted = testNode(bob, trust, { replay: await loadReplayWindows(path) });
    rejected(await restarted.onDatagram(captured, FROM, 0), RejectReason.Replay);
    // the sender's next datagram, and after its own restart (new epoch), are fresh
    accepted(
      await restarted.onDatagram(
        await sender.send(MessageType.Delta, deflateBody(new Uint8Array(1))),
        FROM,
        1,
      ),
    );
    const senderRestarted = testNode(alice, trust, { bootEpoch: 2 });
    const fresh = await senderRestarted.send(MessageType.Delta, deflateBody(new Uint8Array(1)));
    accepted(await restarted.onDatagram(fresh, FROM, 2));
    // now the whole old epoch is stale
    rejected(
      await restarted.onDatagram(
        await sender.send(MessageType.Delta, deflateBody(new Uint8Array(1))),
        FROM,
        3,
      ),
      RejectReason.Replay,
    );
    assert.equal(restarted.counters().rejected.replay, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GossipNode accepts reordered datagrams within the window, once each", async () => {
  const { receiver, sender } = setup();
  const frames = [];
  for (let i = 0; i < 300; i++) {
    frames.push(await sender.send(MessageType.Delta, deflateBody(new Uint8Array([i & 255]))));
  }
  accepted(await receiver.onDatagram(frames[299], FROM, 0));
  accepted(await receiver.onDatagram(frames[44], FROM, 0)); // 255 below the highest: inside
  rejected(await receiver.onDatagram(frames[43], FROM, 0), RejectReason.Replay); // 256 below: outside
  rejected(await receiver.onDatagram(frames[44], FROM, 0), RejectReason.Replay);
  accepted(await receiver.onDatagram(frames[200], FROM, 0));
});

Deno.test("GossipNode rate-limits a sender with a token bucket on the injected clock", async () => {
  const { receiver, sender } = setup({ rateLimit: 10 });
  const frames = [];
  for (let i = 0; i < 25; i++) {
    frames.push(await sender.send(MessageType.Delta, deflateBody(new Uint8Array(1))));
  }
  let ok = 0;
  for (let i = 0; i < 21; i++) if ((await receiver.onDatagram(frames[i], FROM, 0)).kind === "accepted") ok++;
  assert.equal(ok, 20); // burst = 2 s at 10/s
  assert.equal(receiver.counters().rejected["rate-limited"], 1);
  accepted(await receiver.onDatagram(frames[21], FROM, 100)); // 100 ms later: one token back
  rejected(await receiver.onDatagram(frames[22], FROM, 100), RejectReason.RateLimited);
});

Deno.test("GossipNode rejects a forged signature, an edited byte and another model", async () => {
  const { receiver, sender } = setup();
  const frame = await sender.send(MessageType.Delta, deflateBody(new Uint8Array(40)));
  const badSig = frame.slice();
  badSig[badSig.length - 1] ^= 0x80;
  rejected(await receiver.onDatagram(badSig, FROM, 0), RejectReason.BadSignature);
  const edited = frame.slice();
  edited[52] ^= 0x01; // counter
  rejected(await receiver.onDatagram(edited, FROM, 0), RejectReason.BadSignature);
  // the forged copies did not consume the sequence: the real one still passes
  accepted(await receiver.onDatagram(frame, FROM, 0));
  const other = testNode(alice, new TrustSet(), { modelHash: new Uint8Array(8).fill(9) });
  rejected(
    await receiver.onDatagram(await other.send(MessageType.Delta, deflateBody(new Uint8Array(1))), FROM, 0),
    RejectReason.ModelMismatch,
  );
  const peer = receiver.peers(0)[0];
  assert.deepEqual(peer.rejects, { "bad-signature": 2, "model-mismatch": 1 });
  assert.equal(peer.score, 0.25);
  assert.equal(peer.otherModel, "0909090909090909", "the other model is named for status");
  accepted(
    await receiver.onDatagram(await sender.send(MessageType.Delta, deflateBody(new Uint8Array(1))), FROM, 0),
  );
  assert.equal(receiver.peers(0)[0].otherModel, null, "back on our model");
});

Deno.test("GossipNode rejects signed but broken bodies from a trusted peer as bad-body", async () => {
  const { receiver, sender } = setup({ maxInflated: 1000 });
  const garbage = await sender.send(MessageType.Delta, new Uint8Array([0xff, 0xff, 0xff]));
  rejected(await receiver.onDatagram(garbage, FROM, 0), RejectReason.BadBody);
  const bomb = await sender.send(MessageType.Delta, deflateBody(new Uint8Array(1001)));
  rejected(await receiver.onDatagram(bomb, FROM, 2000), RejectReason.BadBody);
  const badHello = await sender.send(MessageType.Hello, deflateBody(new Uint8Array([0, 1, 2])));
  rejected(await receiver.onDatagram(badHello, FROM, 4000), RejectReason.BadBody);
  assert.equal(receiver.counters().accepted, 0);
});

Deno.test("GossipNode drops oversize and malformed datagrams before parsing or crypto", async () => {
  const { receiver, verifier } = setup({ maxDatagram: 512 });
  const big = testNode(alice, new TrustSet(), { maxDatagram: 4096 });
  const frame = await big.send(MessageType.Delta, new Uint8Array(513 - FRAME_OVERHEAD).fill(1));
  assert.equal(frame.length, 513);
  rejected(await receiver.onDatagram(frame, FROM, 0), RejectReason.Oversize);
  rejected(await receiver.onDatagram(new Uint8Array(4097), FROM, 0), RejectReason.Oversize);
  rejected(await receiver.onDatagram(new Uint8Array(0), FROM, 0), RejectReason.Malformed);
  rejected(
    await receiver.onDatagram(new TextEncoder().encode("GET / HTTP/1.1\r\n"), FROM, 0),
    RejectReason.Malformed,
  );
  assert.equal(verifier.calls, 0);
});

Deno.test("GossipNode.send() refuses a body over the budget with a plain Error", async () => {
  const { sender } = setup();
  assert.equal(sender.bodyBudget, bodyBudget(1232));
  await assert.rejects(
    () => sender.send(MessageType.Delta, new Uint8Array(sender.bodyBudget + 1)),
    /exceeds maxDatagram/,
  );
  const ok = await sender.send(MessageType.Delta, new Uint8Array(sender.bodyBudget));
  assert.equal(ok.length, 1232);
});

Deno.test("GossipNode.advanceEpoch() restarts the counter in a newer epoch only", async () => {
  const { sender } = setup();
  await sender.send(MessageType.Delta, deflateBody(new Uint8Array(1)));
  assert.equal(sender.sequenceRemaining, 2 ** 32 - 1);
  assert.throws(() => sender.advanceEpoch(1), /above 1/);
  sender.advanceEpoch(5);
  const h = decodeHeader(await sender.send(MessageType.Delta, deflateBody(new Uint8Array(1))), {
    maxDatagram: 1232,
  });
  assert.deepEqual([h.bootEpoch, h.counter], [5, 0]);
});

Deno.test("three nodes on a lossy in-memory network keep each other alive with heartbeats", async () => {
  const clock = new ManualClock(0);
  const net = new MemoryNetwork(new SeededRandom(5), {
    loss: 0.1,
    duplicate: 0.05,
    delayMs: 2,
    jitterMs: 20,
  });
  const signers = [alice, bob, await testSigner(14)];
  const trust = new TrustSet(signers.map((s) => s.publicKey));
  const nodes: GossipNode[] = signers.map((s, i) =>
    testNode(s, trust, { name: `n${i}`, intervalMs: 100, peerTimeoutMs: 1000 })
  );
  const transports = nodes.map((_, i) => net.transport(`n${i}`, clock));
  let deadPeerObservations = 0;
  for (let t = 0; t <= 10_000; t += 10) {
    clock.set(t);
    for (let i = 0; i < nodes.length; i++) {
      for (const d of await nodes[i].tick(t)) await transports[i].broadcast(d);
    }
    net.deliver(t);
    for (let i = 0; i < nodes.length; i++) {
      for (const r of transports[i].drain()) {
        const e = await nodes[i].onDatagram(r.bytes, r.from, t);
        if (e.kind === "rejected") assert.equal(e.reason, RejectReason.Replay); // only network duplicates
      }
    }
    if (t >= 500) {
      for (const n of nodes) {
        const peers = n.peers(t);
        assert.equal(peers.length, 2);
        deadPeerObservations += peers.filter((p) => !p.alive).length;
      }
    }
  }
  assert.equal(deadPeerObservations, 0);
  assert.ok(net.stats.dropped > 0);
  for (const t of transports) t.close();
});

Deno.test("signedPart() of a received frame is what the sender signed", async () => {
  const frame = await encodeFrame(
    {
      type: MessageType.Hello,
      modelHash: MODEL_HASH,
      bootEpoch: 1,
      counter: 0,
      body: new Uint8Array([3, 0]),
    },
    alice,
    1232,
  );
  assert.deepEqual(await alice.sign(signedPart(frame)), frame.subarray(frame.length - 64));
});

Deno.test("GossipNode slows down a trusted sender after a bad body (one second of its budget)", async () => {
  const { receiver, sender } = setup({ rateLimit: 10, maxInflated: 1000 });
  const bomb = await sender.send(MessageType.Delta, deflateBody(new Uint8Array(100_000)));
  rejected(await receiver.onDatagram(bomb, FROM, 0), RejectReason.BadBody);
  // 20 tokens at start, 1 used by the bomb, 10 taken as penalty: 9 left
  let ok = 0;
  for (let i = 0; i < 12; i++) {
    const f = await sender.send(MessageType.Delta, deflateBody(new Uint8Array(1)));
    if ((await receiver.onDatagram(f, FROM, 0)).kind === "accepted") ok++;
  }
  assert.equal(ok, 9);
  assert.equal(receiver.counters().rejected["rate-limited"], 3);
});
