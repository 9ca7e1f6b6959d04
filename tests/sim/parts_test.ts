/** The simulation's small parts: seeds and summaries, churn plans, poisoned rows, the trigger, attack bytes. */
import assert from "node:assert/strict";
import { inflateSync } from "fflate";
import { UsageError } from "../../src/errors.ts";
import { decodeDelta, LearnMessage, SwarmLearner } from "../../src/learn/mod.ts";
import {
  addTrigger,
  BACKDOOR_TARGET,
  backdoorTest,
  backdoorTrainingData,
  createAttack,
  MISLABELLED_ROWS,
  online,
  parseSeeds,
  planChurn,
  poisonRows,
  type SeedSummary,
  summarizeSeeds,
  TinyMlp,
} from "../../src/sim/mod.ts";
import { SeededRandom } from "../../src/time.ts";
import { bodyBudget, deflateBody } from "../../src/wire/mod.ts";

Deno.test("parseSeeds() reads A..B and a count, and rejects the rest with a hint", () => {
  assert.deepEqual(parseSeeds("11..13"), [11, 12, 13]);
  assert.deepEqual(parseSeeds("3"), [1, 2, 3]);
  for (const bad of ["0", "3..1", "a", "1-3", "", "1..2000"]) {
    assert.throws(() => parseSeeds(bad), (e: unknown) => e instanceof UsageError && !!e.hint, bad);
  }
});

Deno.test("summarizeSeeds() reports the worst node, the median and spread of minima, and false positives", () => {
  const run = (seed: number, min: number, fp: string[]): SeedSummary => ({
    seed,
    minHonest: min,
    meanHonest: min + 0.01,
    mbPerNode: seed / 10,
    falsePositives: fp,
    reached: { round: 100, mb: seed / 20 },
  });
  const s = summarizeSeeds([run(1, 0.93, []), run(2, 0.9, ["n1", "n2"]), run(3, 0.95, [])]);
  assert.equal(s.worst, 0.9);
  assert.equal(s.medianMin, 0.93);
  assert.deepEqual(s.spread, [0.9, 0.95]);
  assert.equal(s.mbPerNode, 0.3);
  assert.equal(s.falsePositives, 2);
  assert.equal(s.seedsWithFalsePositives, 1);
  assert.equal(s.reachedMb, 0.15);
  assert.equal(summarizeSeeds([run(1, 0.9, []), { ...run(2, 0.9, []), reached: null }]).reachedMb, null);
});

Deno.test("a churn plan brings every node back by 70% of the run and never churns an attacker", () => {
  const plan = planChurn(20, 1000, 7, new Set([0, 1]));
  assert.equal(plan.joinAt.size, 2);
  assert.equal(plan.away.size, 4);
  for (const i of [...plan.joinAt.keys(), ...plan.away.keys()]) assert.ok(i > 1);
  for (let i = 0; i < 20; i++) assert.ok(online(plan, i, 700), `node ${i} back by round 700`);
  const [leaver, { from, to }] = [...plan.away][0];
  assert.ok(!online(plan, leaver, from) && online(plan, leaver, to) && online(plan, leaver, from - 1));
  assert.deepEqual(planChurn(20, 1000, 7, new Set([0, 1])), plan, "drawn from the seed");
});

Deno.test("poisonRows() appends one 0–255 row, 1,000 mislabelled rows or one 1e30 row", () => {
  const data = {
    x: Float32Array.from({ length: 3 * 4 }, (_, i) => i / 12),
    y: Uint8Array.from([1, 2, 9]),
    count: 3,
  };
  const scale = poisonRows(data, "scale", 4);
  assert.equal(scale.count, 4);
  assert.deepEqual([...scale.x.subarray(12)], [...data.x.subarray(0, 4)].map((v) => Math.fround(v * 255)));
  const huge = poisonRows(data, "huge", 4);
  assert.deepEqual([...huge.x.subarray(12)], [1e30, 1e30, 1e30, 1e30].map(Math.fround));
  const mis = poisonRows(data, "mislabel", 4);
  assert.equal(mis.count, 3 + MISLABELLED_ROWS);
  assert.deepEqual([...mis.y.subarray(3, 6)], [2, 3, 0]);
});

Deno.test("the backdoor draws a 3×3 white patch and maps triggered copies to the target class", () => {
  const x = new Float32Array(784 * 2);
  const data = { x, y: Uint8Array.from([3, BACKDOOR_TARGET]), count: 2 };
  const t = addTrigger(data, 784);
  assert.equal(t.x.reduce((s, v) => s + v, 0), 18);
  assert.equal(x.reduce((s, v) => s + v, 0), 0, "the input is not changed");
  const train = backdoorTrainingData(data, 784);
  assert.equal(train.count, 4);
  assert.deepEqual([...train.y], [3, BACKDOOR_TARGET, BACKDOOR_TARGET, BACKDOOR_TARGET]);
  const bt = backdoorTest(data, 784);
  assert.equal(bt.count, 1, "test rows of the target class are left out");
  assert.deepEqual([...bt.y], [BACKDOOR_TARGET]);
});

Deno.test("crafted attack messages are valid Delta bodies within the budget", async () => {
  const budget = bodyBudget(1232);
  const model = () => new TinyMlp({ inputs: 784, hidden: 8, classes: 10, seed: 1, optimizer: "sgd" });
  const data = {
    x: new Float32Array(784 * 20).map((_, i) => (i % 7) / 7),
    y: new Uint8Array(20).map((_, i) => i % 10),
    count: 20,
  };
  const learner = (k: number) =>
    new SwarmLearner({
      model: model(),
      data,
      features: 784,
      rng: new SeededRandom(k),
      selfKey: new Uint8Array(32).fill(k),
      deflate: deflateBody,
    });
  const [evil, peer] = [learner(1), learner(2)];
  for (const attack of ["alie", "ipm", "adaptive", "backdoor", "signflip"] as const) {
    const hooks = createAttack(attack, { deflate: deflateBody, rng: new SeededRandom(3) });
    for (let round = 1; round <= 3; round++) {
      const now = round * 1000;
      for (const l of [evil, peer]) {
        await l.train(1);
        l.mix(now);
      }
      const honest = peer.outgoing(budget);
      for (const m of honest) evil.onMessage(new Uint8Array(32).fill(2), m.type, inflateSync(m.body), now);
      const out = hooks.outgoing(evil.outgoing(budget), { learner: evil, now, budget });
      for (const m of out) {
        assert.ok(m.body.length <= budget, `${attack}: ${m.body.length} B > ${budget}`);
        if (m.type === LearnMessage.Delta) assert.ok(decodeDelta(inflateSync(m.body)).indices.length > 0);
      }
    }
  }
});
