import assert from "node:assert/strict";
import {
  type AirtimeSettings,
  estimateSwarmSize,
  HELLO_DATAGRAM_BYTES,
  MAX_ROUND_MS,
  planAirtime,
  RateMeter,
} from "../../src/gossip/airtime.ts";
import { encodeHello, MessageType } from "../../src/wire/mod.ts";
import { deflateBody } from "../../src/wire/mod.ts";
import { ManualClock } from "../../src/time.ts";
import { FROM, testNode } from "../_support/gossip_node.ts";
import { testSigner, TrustSet } from "../_support/identity.ts";

/** The defaults: 32,000 B/s, 500 ms rounds of one 1,232-byte delta, a Hello per second, 15 s timeout. */
const DEFAULTS: AirtimeSettings = {
  budgetBytesPerSecond: 32000,
  roundMs: 500,
  helloMs: 1000,
  peerTimeoutMs: 15000,
  bytesPerRound: 1232,
};

Deno.test("planAirtime() changes nothing while the swarm fits the budget (up to 12 boards by default)", () => {
  for (const n of [1, 2, 5, 12]) {
    const p = planAirtime(n, DEFAULTS);
    assert.equal(p.roundMs, 500, `${n} boards`);
    assert.equal(p.helloMs, 1000);
    assert.equal(p.peerTimeoutMs, 15000);
    assert.equal(p.stretch, 1);
    assert.ok(p.withinBudget);
  }
  assert.ok(planAirtime(13, DEFAULTS).roundMs > 500, "the 13th board stretches the rounds");
});

Deno.test("planAirtime() keeps N boards × their bytes per second within the budget as N grows", () => {
  let previous = 0;
  for (const n of [13, 20, 50, 100, 300, 1000]) {
    const p = planAirtime(n, DEFAULTS);
    const perBoard = (1232 * 1000) / p.roundMs + (HELLO_DATAGRAM_BYTES * 1000) / p.helloMs;
    assert.ok(Math.abs(n * perBoard - 32000) < 1e-6, `${n} boards send ${n * perBoard} B/s`);
    assert.ok(Math.abs(p.swarmBytesPerSecond - 32000) < 1e-6);
    assert.ok(p.withinBudget);
    assert.ok(p.roundMs > previous, "more boards, longer rounds");
    assert.equal(p.helloMs / 1000, p.roundMs / 500, "Hellos thin out by the same factor");
    assert.ok(p.peerTimeoutMs >= 3 * p.helloMs, "a live peer sends three Hellos per timeout");
    assert.ok(p.peerTimeoutMs >= 15000);
    previous = p.roundMs;
  }
  // 300 boards: about 12 s between rounds, a Hello every 25 s.
  const p300 = planAirtime(300, DEFAULTS);
  assert.ok(p300.roundMs > 12000 && p300.roundMs < 13000, `${p300.roundMs}`);
});

Deno.test("planAirtime() with a publishing committee counts K boards' rounds and every board's Hellos", () => {
  for (const n of [5, 16]) {
    assert.deepEqual(planAirtime(n, { ...DEFAULTS, fanIn: 16 }), planAirtime(n, DEFAULTS));
  }
  for (const n of [50, 300, 1000]) {
    const all = planAirtime(n, DEFAULTS);
    const p = planAirtime(n, { ...DEFAULTS, fanIn: 16 });
    assert.equal(p.publishers, 16);
    const rounds = (16 * 1232 * 1000) / p.roundMs;
    const hellos = (n * HELLO_DATAGRAM_BYTES * 1000) / p.helloMs;
    assert.ok(Math.abs(rounds + hellos - 32000) < 1e-6, `${n} boards: ${rounds + hellos} B/s`);
    assert.ok(Math.abs(p.swarmBytesPerSecond - 32000) < 1e-6);
    assert.ok(p.roundMs < all.roundMs / 2.5, `${n} boards: rounds every ${p.roundMs} ms, not ${all.roundMs}`);
  }
});

Deno.test("planAirtime() takes the committee's handover pushes off the budget before stretching rounds", () => {
  const committee = { ...DEFAULTS, fanIn: 16, fanInPeriodMs: 120_000 };
  const handoverBytes = 29_568; // mnist-mlp, int8, 1,232-byte datagrams
  for (const n of [50, 300]) {
    const without = planAirtime(n, committee);
    const p = planAirtime(n, { ...committee, handoverBytes });
    const pushes = (16 * handoverBytes * 1000) / 120_000;
    assert.ok(Math.abs(p.handoverBytesPerSecond - pushes) < 1e-9);
    assert.ok(Math.abs(p.swarmBytesPerSecond - 32000) < 1e-6, `${n} boards: ${p.swarmBytesPerSecond} B/s`);
    assert.ok(p.withinBudget);
    const ratio = p.roundMs / without.roundMs;
    assert.ok(Math.abs(ratio - 32000 / (32000 - pushes)) < 1e-9, `${n} boards: stretched ${ratio}×`);
  }
  // Every board publishing (no committee yet): no handovers.
  assert.equal(planAirtime(10, { ...committee, handoverBytes }).handoverBytesPerSecond, 0);
  // Handovers alone beyond the budget: the longest rounds, reported over budget.
  const over = planAirtime(300, { ...committee, handoverBytes, fanInPeriodMs: 1000 });
  assert.equal(over.withinBudget, false);
  assert.equal(over.roundMs, MAX_ROUND_MS);
});

Deno.test("planAirtime() scales with the budget and the bytes each round sends", () => {
  const small = planAirtime(100, DEFAULTS);
  const twiceBudget = planAirtime(100, { ...DEFAULTS, budgetBytesPerSecond: 64000 });
  assert.ok(Math.abs(twiceBudget.roundMs - small.roundMs / 2) < 1e-6);
  const twoDeltas = planAirtime(100, { ...DEFAULTS, bytesPerRound: 2464 });
  assert.ok(twoDeltas.roundMs > small.roundMs * 1.9);
  const generous = planAirtime(100, { ...DEFAULTS, budgetBytesPerSecond: 10_000_000 });
  assert.equal(generous.roundMs, 500, "a large budget leaves learning.roundMs as it is");
});

Deno.test("planAirtime() stops at the longest round and says the budget cannot be met", () => {
  const p = planAirtime(10_000_000, DEFAULTS);
  assert.equal(p.roundMs, MAX_ROUND_MS);
  assert.equal(p.withinBudget, false);
});

Deno.test("planAirtime() refuses nonsense settings as a bug", () => {
  assert.throws(() => planAirtime(5, { ...DEFAULTS, budgetBytesPerSecond: 0 }), /Bug: invalid airtime/);
  assert.throws(() => planAirtime(5, { ...DEFAULTS, roundMs: NaN }), /Bug: invalid airtime/);
});

Deno.test("HELLO_DATAGRAM_BYTES is at least a real Hello with a 32-character name", () => {
  const body = deflateBody(encodeHello({
    name: "board-0123456789-abcdefghijklmno",
    round: 123456,
    samples: 60000,
    merged: 99999,
    accuracy: 9321,
    uptime: 86400,
  }));
  assert.ok(HELLO_DATAGRAM_BYTES >= 120 + body.length, `${HELLO_DATAGRAM_BYTES} < ${120 + body.length}`);
});

Deno.test("estimateSwarmSize() counts this board and the trusted peers heard recently, nothing else", () => {
  assert.equal(estimateSwarmSize([]), 1);
  assert.equal(
    estimateSwarmSize([
      { trusted: true, alive: true },
      { trusted: true, alive: false },
      { trusted: false, alive: true }, // revoked since
    ]),
    2,
  );
});

Deno.test("a flood of frames from 500 made-up keys does not change the swarm size a node estimates", async () => {
  const me = await testSigner(1);
  const friend = await testSigner(2);
  const trust = new TrustSet([friend.publicKey]);
  const node = testNode(me, trust);
  const sender = testNode(friend, new TrustSet([me.publicKey]));
  const hello = await sender.tick(0);
  assert.equal((await node.onDatagram(hello[0], FROM, 0)).kind, "accepted");
  for (let i = 0; i < 500; i++) {
    const fake = testNode(await testSigner(1000 + i), new TrustSet());
    const frame = await fake.send(MessageType.Hello, deflateBody(new Uint8Array(8)));
    assert.equal((await node.onDatagram(frame, FROM, 10)).kind, "rejected");
  }
  assert.equal(estimateSwarmSize(node.peers(20)), 2);
  assert.equal(planAirtime(estimateSwarmSize(node.peers(20)), DEFAULTS).roundMs, 500);
});

Deno.test("RateMeter measures bytes per second over its window with an injected clock", () => {
  const clock = new ManualClock(0);
  const meter = new RateMeter(10_000);
  assert.equal(meter.rate(), 0, "no rate before two samples");
  let total = 0;
  for (let s = 0; s <= 30; s++) {
    meter.sample(clock.now(), total);
    clock.advance(1000);
    total += s < 20 ? 2000 : 500; // 2,000 B/s, then 500 B/s
  }
  assert.ok(Math.abs(meter.rate() - 500) < 1e-9, `${meter.rate()}`);
});

Deno.test("RateMeter sampled very often still measures over its window, not since the start", () => {
  const meter = new RateMeter(10_000);
  // 1,000 B/s for 60 s, then 100 B/s for 20 s, sampled every 10 ms.
  let total = 0;
  for (let t = 0; t <= 80_000; t += 10) {
    meter.sample(t, total);
    total += t < 60_000 ? 10 : 1;
  }
  assert.ok(Math.abs(meter.rate() - 100) < 1, `${meter.rate()}`);
});
