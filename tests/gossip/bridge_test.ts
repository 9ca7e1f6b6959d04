/**
 * Bridging without loops: two LANs and a broker as in-memory networks, two bridging boards on site A and
 * one on site B, real signatures. Every frame reaches the other site, each bridge forwards each frame it
 * accepted exactly once, the networks fall quiet (no loop), and junk, untrusted and replayed frames are
 * never forwarded.
 */
import assert from "node:assert/strict";
import {
  BridgeTransport,
  GossipNode,
  GossipService,
  keyId,
  MemoryNetwork,
  type MemoryTransport,
  type Received,
  type Transport,
} from "../../src/gossip/mod.ts";
import { nullLogger } from "../../src/log.ts";
import { SeededRandom, systemClock } from "../../src/time.ts";
import { deflateBody, MessageType } from "../../src/wire/mod.ts";
import { testNode } from "../_support/gossip_node.ts";
import { testSigner, TrustSet } from "../_support/identity.ts";

/** A memory transport whose datagrams arrive marked as coming through the broker. */
class ViaBroker implements Transport {
  constructor(readonly inner: MemoryTransport) {}
  get localAddress() {
    return { ...this.inner.localAddress, via: "broker" as const };
  }
  broadcast(bytes: Uint8Array) {
    return this.inner.broadcast(bytes);
  }
  send(bytes: Uint8Array) {
    return this.inner.broadcast(bytes);
  }
  async *receive(): AsyncIterable<Received> {
    for await (const r of this.inner.receive()) yield { ...r, from: { ...r.from, via: "broker" } };
  }
  close() {
    this.inner.close();
  }
}

Deno.test("bridges forward each accepted frame exactly once between LAN and broker, and never junk", async () => {
  const names = ["a1", "bridgeA", "bridgeA2", "bridgeB", "b1"];
  const signers = await Promise.all(names.map((_, i) => testSigner(300 + i)));
  const trust = new TrustSet(signers.map((s) => s.publicKey));
  const lanA = new MemoryNetwork(new SeededRandom(1));
  const lanB = new MemoryNetwork(new SeededRandom(2));
  const broker = new MemoryNetwork(new SeededRandom(3));
  const nets = [lanA, lanB, broker];
  const transports: Record<string, Transport> = {
    a1: lanA.transport("a1", systemClock),
    bridgeA: new BridgeTransport(
      lanA.transport("bridgeA", systemClock),
      new ViaBroker(broker.transport("bridgeA", systemClock)),
    ),
    bridgeA2: new BridgeTransport(
      lanA.transport("bridgeA2", systemClock),
      new ViaBroker(broker.transport("bridgeA2", systemClock)),
    ),
    bridgeB: new BridgeTransport(
      lanB.transport("bridgeB", systemClock),
      new ViaBroker(broker.transport("bridgeB", systemClock)),
    ),
    b1: lanB.transport("b1", systemClock),
  };
  const nodes: Record<string, GossipNode> = {};
  const accepted: Record<string, string[]> = {};
  const services = names.map((name, i) => {
    nodes[name] = testNode(signers[i], trust, { name, intervalMs: 60_000 });
    accepted[name] = [];
    return new GossipService({
      node: nodes[name],
      transport: transports[name],
      clock: systemClock,
      logger: nullLogger,
      intervalMs: 60_000,
      tickMs: 60_000,
      onMessage: (m) => {
        accepted[name].push(`${m.senderId}:${m.header.bootEpoch}:${m.header.counter}`);
      },
    });
  });
  const bridges = ["bridgeA", "bridgeA2", "bridgeB"].map((n) =>
    [n, transports[n] as BridgeTransport] as const
  );

  /** Delivers until nothing is in flight and nothing changed for a while (a loop would never settle). */
  const settle = async () => {
    let quiet = 0;
    let last = "";
    for (let i = 0; i < 2000 && quiet < 10; i++) {
      for (const n of nets) n.deliver(Infinity);
      await new Promise((r) => setTimeout(r, 2));
      const now = JSON.stringify([nets.map((n) => [n.pending, n.stats.posted]), accepted]);
      quiet = now === last && nets.every((n) => n.pending === 0) ? quiet + 1 : 0;
      last = now;
    }
    assert.equal(quiet, 10, "the networks never fell quiet: a forwarding loop");
  };

  for (const s of services) s.start();
  try {
    for (let i = 0; i < 5; i++) {
      await services[0].publish(MessageType.Delta, deflateBody(new Uint8Array([i])));
    }
    for (let i = 0; i < 3; i++) {
      await services[4].publish(MessageType.Delta, deflateBody(new Uint8Array([9, i])));
    }
    await settle();

    // Every node heard every other node's frames (one Hello each at start, plus the deltas), each once.
    const sent = Object.fromEntries(names.map((n) => [keyId(nodes[n].publicKey), nodes[n].counters().sent]));
    for (const n of names) {
      const mine = keyId(nodes[n].publicKey);
      assert.equal(new Set(accepted[n]).size, accepted[n].length, `${n} accepted a frame twice`);
      for (const [sender, count] of Object.entries(sent)) {
        if (sender === mine) continue;
        const got = accepted[n].filter((id) => id.startsWith(sender)).length;
        assert.equal(got, count, `${n} got ${got} of ${count} frames of ${sender.slice(0, 8)}`);
      }
    }
    // Each bridge forwarded each frame it accepted exactly once, to the side it did not come from.
    for (const [name, b] of bridges) {
      assert.equal(b.counters.toBroker + b.counters.toLan, nodes[name].counters().accepted, name);
      assert.equal(b.counters.failed, 0);
    }
    // Site B's LAN carries b1's frames once each and the rest once per frame (from its one bridge).
    assert.ok(bridges[2][1].counters.toLan > 0 && bridges[2][1].counters.toBroker === 4);
    // With two bridges on site A the other copy of each frame is a counted replay, not forwarded again.
    assert.ok(nodes.bridgeB.counters().rejected.replay > 0);

    // How each peer is heard: site B's bridge hears a1 through the broker, b1 on its LAN (relayed).
    const via = (n: string, peer: string) =>
      nodes[n].peers(systemClock.now()).find((p) => p.key === keyId(nodes[peer].publicKey))?.transport;
    assert.equal(via("bridgeB", "a1"), "broker");
    assert.equal(via("b1", "a1"), "lan");
    assert.equal(via("bridgeA", "a1"), "lan");
    assert.equal(via("bridgeA", "b1"), "broker");

    // Junk, an untrusted signed frame and a replay of a1's frame on site A's LAN: nothing is forwarded.
    const before = bridges.map(([, b]) => ({ ...b.counters }));
    const brokerPosted = broker.stats.posted;
    const stranger = testNode(await testSigner(999), trust, { name: "stranger" });
    const junk = [
      crypto.getRandomValues(new Uint8Array(300)),
      new Uint8Array(5000),
      await stranger.send(MessageType.Delta, deflateBody(new Uint8Array([1]))),
      await nodes.a1.send(MessageType.Delta, deflateBody(new Uint8Array([7]))),
    ];
    const mallory = lanA.transport("mallory", systemClock);
    for (const j of junk) await mallory.broadcast(j);
    await mallory.broadcast(junk[3]); // the replay
    await settle();
    // The one fresh frame of a1 (junk[3]) is forwarded once by each bridge of site A; the rest never.
    assert.deepEqual(bridges.map(([, b]) => b.counters.toBroker - 0), [
      before[0].toBroker + 1,
      before[1].toBroker + 1,
      before[2].toBroker,
    ]);
    assert.equal(broker.stats.posted, brokerPosted + 2);
    const rejected = nodes.bridgeA.counters().rejected;
    assert.ok(
      rejected.malformed >= 1 && rejected.oversize >= 1 && rejected.untrusted >= 1 && rejected.replay >= 1,
    );
    mallory.close();
  } finally {
    for (const s of services) await s.stop();
  }
});

/** A LAN where a broadcast also reaches its sender, as UDP broadcast does. */
class EchoLan implements Transport {
  readonly localAddress = { hostname: "10.0.0.1", port: 41234 };
  sent: Uint8Array[] = [];
  #queue: Received[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  inject(bytes: Uint8Array) {
    this.#queue.push({ bytes, from: { hostname: "10.0.0.1", port: 41234, via: "lan" } });
    this.#wake?.();
  }
  broadcast(bytes: Uint8Array) {
    this.sent.push(bytes);
    this.inject(bytes);
    return Promise.resolve(true);
  }
  send(bytes: Uint8Array) {
    return this.broadcast(bytes);
  }
  async *receive(): AsyncIterable<Received> {
    while (!this.#closed) {
      if (this.#queue.length === 0) await new Promise<void>((r) => (this.#wake = r));
      while (this.#queue.length > 0) yield this.#queue.shift()!;
    }
  }
  close() {
    this.#closed = true;
    this.#wake?.();
  }
}

Deno.test("a bridge drops the echo of a frame it forwarded to its LAN, once, and passes a later copy on", async () => {
  const lan = new EchoLan();
  const broker = new ViaBroker(new MemoryNetwork(new SeededRandom(4)).transport("b", systemClock));
  const bridge = new BridgeTransport(lan, broker);
  const got: Received[] = [];
  const reading = (async () => {
    for await (const r of bridge.receive()) got.push(r);
  })();
  const frame = crypto.getRandomValues(new Uint8Array(200));
  await bridge.relay(frame, { hostname: "broker", port: 1883, via: "broker" });
  assert.equal(lan.sent.length, 1);
  lan.inject(frame.slice()); // a replay by someone else on the LAN: this one must be checked
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(bridge.counters.echoes, 1);
  assert.equal(bridge.counters.toLan, 1);
  assert.equal(
    got.length,
    1,
    "the later copy goes to the receive pipeline (and is counted as a replay there)",
  );
  bridge.close();
  await reading;
});
