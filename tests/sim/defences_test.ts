/**
 * The swarm's defences judged by behaviour over short in-memory runs (the dependency-free MLP, real
 * wire frames, 10% loss): no honest peer is ever ignored under label skew (several seeds), and the
 * crafted attacks (ALIE, the model-replacement backdoor) stay contained. Bounds were measured on the
 * learner of 2026-11-30 and given margin (see the report in the README's simulation section).
 */
import assert from "node:assert/strict";
import { parseSplit, splitIndices } from "../../src/learn/mod.ts";
import {
  type Attack,
  loadMnist,
  MNIST_PIXELS,
  runSwarmSim,
  subset,
  type SwarmSimResult,
  TinyMlp,
} from "../../src/sim/mod.ts";
import { deflateBody } from "../../src/wire/mod.ts";

const { train, test } = await loadMnist(1);
const smallTest = subset(test, Array.from({ length: 1000 }, (_, i) => i));

function run(
  o: { split: string; seed: number; rounds: number; attack?: Attack; nodes?: number },
): Promise<SwarmSimResult> {
  const shards = splitIndices(train.y, 5, parseSplit(o.split), o.seed).map((ix) => subset(train, ix))
    .slice(5 - (o.nodes ?? 5));
  return runSwarmSim({
    createModel: () =>
      new TinyMlp({
        inputs: MNIST_PIXELS,
        hidden: 32,
        classes: 10,
        seed: 1,
        optimizer: "sgd",
        learningRate: 0.5,
      }),
    shards,
    features: MNIST_PIXELS,
    test: smallTest,
    rounds: o.rounds,
    localSteps: 1,
    loss: 0.1,
    maxDatagram: 1232,
    deflate: deflateBody,
    evalEvery: o.rounds,
    seed: o.seed,
    byzantine: o.attack ? [{ node: 0, attack: o.attack }] : [],
    evaluate: "consensus",
    tuning: { learningRate: 0.5, rateFinal: 0.05, rateDecayRounds: Math.round(o.rounds * 0.55) },
  });
}

const honestMin = (r: SwarmSimResult) =>
  Math.min(...r.nodes.filter((n) => !n.byzantine).map((n) => n.accuracy));

Deno.test("no honest peer is ever ignored by anyone with 2 classes per node, on 3 seeds", async () => {
  for (const seed of [1, 2, 3]) {
    const r = await run({ split: "classes:2", seed, rounds: 160 });
    assert.deepEqual(
      r.falsePositives,
      [],
      `seed ${seed}: honest peers ignored: ${JSON.stringify(r.falsePositives)}`,
    );
  }
});

Deno.test("an ALIE attacker (mean − σ of the honest models) costs the honest nodes at most 2 pp", async () => {
  const clean = honestMin(await run({ split: "iid", seed: 4, rounds: 160 }));
  const r = await run({ split: "iid", seed: 4, rounds: 160, attack: "alie" });
  assert.ok(honestMin(r) >= clean - 0.02, `honest min ${honestMin(r)} vs clean ${clean}`);
  assert.deepEqual(r.falsePositives, []);
});

const backdoorRun = async () => ({
  clean: honestMin(await run({ split: "iid", seed: 5, rounds: 160 })),
  attacked: await run({ split: "iid", seed: 5, rounds: 160, attack: "backdoor" }),
});

Deno.test("a model-replacement backdoor attacker gets its trigger into no honest model", async () => {
  const { attacked: r } = await backdoorRun();
  const honest = r.nodes.filter((n) => !n.byzantine);
  for (const n of honest) {
    assert.ok(n.backdoor !== undefined && n.backdoor <= 0.05, `${n.id}: backdoor success ${n.backdoor}`);
  }
  // The attacker's own model does carry the backdoor: the measurement can fail.
  assert.ok(r.nodes[0].backdoor! > 0.3, `attacker's own backdoor success ${r.nodes[0].backdoor}`);
});

// Over 400 rounds with this test's data (the first 1,000 test digits) the trigger reached 8.7% of one honest
// model when every slowed peer's radius was cut by its pace (e3ccb79); with the cut applied only beyond the
// clip radius (9c0bdda) it is held below 5%. Before the pace-scaled radius it reached 78–85%.
Deno.test("a model-replacement backdoor attacker gets its trigger into no honest model over 400 rounds", async () => {
  const r = await run({ split: "iid", seed: 1, rounds: 400, attack: "backdoor" });
  for (const n of r.nodes.filter((n) => !n.byzantine)) {
    assert.ok(n.backdoor !== undefined && n.backdoor <= 0.05, `${n.id}: backdoor success ${n.backdoor}`);
  }
  assert.deepEqual(r.falsePositives, []);
});

Deno.test("a backdoor attacker costs the honest nodes no more than 2 pp against a swarm of the honest nodes alone", async () => {
  // What any defence that leaves the attacker out can reach: the honest nodes' own swarm (4 nodes).
  const honestOnly = honestMin(await run({ split: "iid", seed: 5, rounds: 160, nodes: 4 }));
  const { attacked } = await backdoorRun();
  assert.ok(honestMin(attacked) >= honestOnly - 0.02, `honest min ${honestMin(attacked)} vs ${honestOnly}`);
});

// Known to fail (issue 12 stays open): at 160 rounds on this seed the attacker is left out of the merge
// by every honest node from about round 10, and the honest nodes end at 72.2–72.7% against 84.3% for the
// clean 5-node run — what the 4 honest nodes reach on their own (72.1–73.7%, the test above): at 160
// rounds one node's data less costs 11 pp on this seed. The trigger is held (≤ 0.1%). Run it with
// AGENT_TEST_KNOWN_FAILURES=1.
Deno.test({
  name: "a model-replacement backdoor attacker costs the honest nodes at most 2 pp (known to fail: issue 12)",
  ignore: Deno.env.get("AGENT_TEST_KNOWN_FAILURES") !== "1",
  fn: async () => {
    const { clean, attacked } = await backdoorRun();
    assert.ok(honestMin(attacked) >= clean - 0.02, `honest min ${honestMin(attacked)} vs clean ${clean}`);
  },
});
