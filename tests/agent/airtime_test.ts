import assert from "node:assert/strict";
import { AirtimeControl, airtimeSettings } from "../../src/agent/airtime.ts";
import { type Config, defaultConfig } from "../../src/config/mod.ts";
import type { GossipNode } from "../../src/gossip/mod.ts";
import { ManualClock } from "../../src/time.ts";
import { FROM, testNode } from "../_support/gossip_node.ts";
import { testSigner, TrustSet } from "../_support/identity.ts";

/** A node trusting `peers` boards, each of which has sent it one Hello at time 0. */
async function nodeHearing(peers: number) {
  const me = await testSigner(1);
  const trust = new TrustSet();
  const node = testNode(me, trust, { peerTimeoutMs: 15000 });
  for (let i = 0; i < peers; i++) {
    const s = await testSigner(100 + i);
    trust.add(s.publicKey);
    const frame = (await testNode(s, new TrustSet([me.publicKey])).tick(0))[0];
    assert.equal((await node.onDatagram(frame, FROM, 0)).kind, "accepted");
  }
  return { node, trust };
}

/** The defaults with every board publishing (no committee): the rounds stretch with N. */
function everyonePublishes(): Config {
  const c = defaultConfig();
  return { ...c, learning: { ...c.learning, fanIn: 0 } };
}

function control(node: GossipNode, clock: ManualClock, config: () => Config) {
  return new AirtimeControl({ node, clock, config });
}

Deno.test("AirtimeControl keeps learning.roundMs and gossip.intervalMs with a few boards", async () => {
  const { node } = await nodeHearing(4);
  const clock = new ManualClock(100);
  const plan = control(node, clock, defaultConfig).plan();
  assert.equal(plan.swarmSize, 5);
  assert.equal(plan.roundMs, 500);
  assert.equal(node.helloIntervalMs, 1000);
});

Deno.test("AirtimeControl stretches rounds and Hellos for 100 trusted boards heard, and keeps them alive", async () => {
  const { node } = await nodeHearing(100);
  const clock = new ManualClock(100);
  // With the default committee only 32 of the 101 boards publish updates: the rounds stretch less.
  const committee = control(node, clock, defaultConfig).plan();
  assert.equal(committee.publishers, 32);
  assert.ok(committee.roundMs > 1000 && committee.roundMs < 2000, `${committee.roundMs}`);
  const airtime = control(node, clock, everyonePublishes);
  const plan = airtime.plan();
  assert.equal(plan.swarmSize, 101);
  assert.ok(plan.roundMs > 4000, `${plan.roundMs}`);
  assert.equal(node.helloIntervalMs, plan.helloMs, "the gossip core sends Hellos at the stretched interval");
  // No Hello before the stretched interval has passed.
  assert.equal((await node.tick(0)).length, 1);
  assert.equal((await node.tick(plan.helloMs - 1)).length, 0);
  assert.equal((await node.tick(plan.helloMs)).length, 1);
  // Peers silent for three stretched Hello intervals are still alive (timeout stretched too).
  const later = 100 + 2.9 * plan.helloMs;
  assert.ok(later > 15000, "longer than gossip.peerTimeoutMs");
  assert.equal(node.peers(later).filter((p) => p.alive).length, 100);
  clock.set(later);
  assert.equal(airtime.plan().swarmSize, 101, "so the estimate holds between their Hellos");
});

Deno.test("AirtimeControl applies a reloaded gossip.swarmBytesPerSecond at the next plan", async () => {
  const { node } = await nodeHearing(40);
  const clock = new ManualClock(100);
  let config = defaultConfig();
  const airtime = control(node, clock, () => config);
  const before = airtime.plan().roundMs;
  config = { ...config, gossip: { ...config.gossip, swarmBytesPerSecond: 1_000_000 } };
  assert.ok(before > 500);
  assert.equal(airtime.plan().roundMs, 500);
  assert.equal(airtime.report().budgetBytesPerSecond, 1_000_000);
});

Deno.test("AirtimeControl.report() measures this board's bytes/s and what it hears, leaving out its echo", async () => {
  const { node } = await nodeHearing(2);
  const clock = new ManualClock(0);
  const airtime = control(node, clock, defaultConfig);
  airtime.report();
  const other = testNode(await testSigner(100), new TrustSet([node.publicKey]));
  // 10 s: this board sends one Hello a second (and hears it back), a peer sends one too.
  for (let t = 1000; t <= 10_000; t += 1000) {
    clock.set(t);
    const own = await node.tick(t);
    assert.equal((await node.onDatagram(own[0], FROM, t)).kind, "rejected");
    await node.onDatagram((await other.tick(t))[0], FROM, t);
    airtime.report();
  }
  const r = airtime.report();
  const c = node.counters();
  const helloBytes = c.sentBytes / c.sent;
  assert.ok(Math.abs(r.ownBytesPerSecond - helloBytes) <= 1, `${r.ownBytesPerSecond} vs ${helloBytes}`);
  assert.ok(Math.abs(r.swarmBytesPerSecond - 2 * helloBytes) <= 2, `${r.swarmBytesPerSecond}`);
  assert.equal(r.swarmSize, 3);
  assert.equal(r.roundMs, 500);
  assert.equal(r.budgetBytesPerSecond, 32000);
  assert.ok(r.plannedBytesPerSecond > 3 * 2464 && r.plannedBytesPerSecond < 32000);
});

Deno.test("airtimeSettings() counts learning.deltasPerRound datagrams of gossip.maxDatagram per round", () => {
  const c = defaultConfig();
  const s = airtimeSettings({ ...c, learning: { ...c.learning, deltasPerRound: 3 } });
  assert.equal(s.bytesPerRound, 3 * 1232);
  assert.equal(s.budgetBytesPerSecond, 32000);
  assert.equal(s.handoverBytes, 0, "no learner: handovers not counted");
  const learner = { tuning: { peerTimeoutMs: 0 }, handoverBytes: (d: number) => 48 * d, retune() {} };
  const withLearner = airtimeSettings(c, learner);
  assert.equal(withLearner.handoverBytes, 48 * 1232);
  assert.equal(withLearner.fanInPeriodMs, c.learning.fanInPeriodMs);
});

Deno.test("AirtimeControl keeps the learner's peer timeout at four stretched rounds", async () => {
  const { node } = await nodeHearing(100);
  const learner = {
    tuning: { peerTimeoutMs: 0 },
    handoverBytes: () => 59_136,
    retune(changes: { peerTimeoutMs: number }) {
      this.tuning = Object.freeze({ ...this.tuning, ...changes });
    },
  };
  const airtime = new AirtimeControl({
    node,
    clock: new ManualClock(100),
    config: everyonePublishes,
    learner,
  });
  const plan = airtime.plan();
  assert.equal(learner.tuning.peerTimeoutMs, 4 * plan.roundMs);
  const few = await nodeHearing(1);
  new AirtimeControl({ node: few.node, clock: new ManualClock(100), config: defaultConfig, learner }).plan();
  assert.equal(learner.tuning.peerTimeoutMs, 15000, "gossip.peerTimeoutMs when rounds are short");
});
