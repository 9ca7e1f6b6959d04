/**
 * A many-node swarm in memory: 100 nodes with bounded fan-in over a shared medium of limited capacity,
 * on a tiny MLP, in a few seconds.
 */
import assert from "node:assert/strict";
import { loadMnist, MNIST_PIXELS, subset } from "../../src/sim/mnist.ts";
import { parseSplit, splitIndices } from "../../src/learn/split.ts";
import { autoRoundMs, runSwarmSim } from "../../src/sim/swarm.ts";
import { TinyMlp } from "../../src/sim/tiny_mlp.ts";
import { deflateBody } from "../../src/wire/mod.ts";

const { train, test } = await loadMnist(1);

Deno.test("100 nodes with fan-in 8 on a shared 125 kB/s medium run, stay within K copies and learn", async () => {
  const nodes = 100;
  const shards = splitIndices(train.y, nodes, parseSplit("iid"), 5).map((ix) => subset(train, ix));
  const model = new TinyMlp({ inputs: MNIST_PIXELS, hidden: 4, classes: 10, seed: 1, optimizer: "sgd" });
  let mostCopies = 0;
  const result = await runSwarmSim({
    createModel: () =>
      new TinyMlp({ inputs: MNIST_PIXELS, hidden: 4, classes: 10, seed: 1, optimizer: "sgd" }),
    shards,
    features: MNIST_PIXELS,
    test: subset(test, Array.from({ length: 500 }, (_, i) => i)),
    rounds: 8,
    localSteps: 1,
    loss: 0.1,
    capacity: 125_000,
    roundMs: "auto",
    maxDatagram: 1232,
    deflate: deflateBody,
    evalEvery: 8,
    seed: 5,
    tuning: { fanIn: 8, learningRate: 0.5, validateEvery: 0 },
    onRound: (_, learners) => {
      for (const l of learners) {
        const copies = l!.stats(0).peers.filter((p) => p.inSync).length;
        mostCopies = Math.max(mostCopies, copies);
      }
    },
  });
  assert.equal(model.paramCount, 3190);
  assert.equal(mostCopies, 8, "every node merges at most K = 8 peers' copies");
  assert.equal(result.roundMs, autoRoundMs(nodes, 1232, 125_000));
  assert.ok(
    result.channel.meanLoss >= 0.1 && result.channel.meanLoss < 0.2,
    `loss ${result.channel.meanLoss}`,
  );
  const accs = result.nodes.map((n) => n.accuracy);
  const mean = accs.reduce((a, b) => a + b, 0) / accs.length;
  assert.ok(mean > 0.3, `mean accuracy ${mean} (chance is 0.1)`);
});

Deno.test("the shared medium loses what it cannot carry: loss grows with the offered load above capacity", async () => {
  const shards = splitIndices(train.y, 40, parseSplit("iid"), 5).map((ix) => subset(train, ix));
  const run = (capacity: number) =>
    runSwarmSim({
      createModel: () =>
        new TinyMlp({ inputs: MNIST_PIXELS, hidden: 2, classes: 10, seed: 1, optimizer: "sgd" }),
      shards,
      features: MNIST_PIXELS,
      test: subset(test, Array.from({ length: 50 }, (_, i) => i)),
      rounds: 2,
      localSteps: 1,
      loss: 0.1,
      capacity,
      roundMs: 1000,
      maxDatagram: 1232,
      deflate: deflateBody,
      evalEvery: 2,
      seed: 5,
      tuning: { fanIn: 8, validateEvery: 0 },
    });
  const wide = await run(0);
  const narrow = await run(10_000);
  assert.ok(Math.abs(wide.channel.maxLoss - 0.1) < 1e-9, "without a capacity: the base loss");
  // 40 nodes offer ≈ 40 × 1,232 B/s; a 10 kB/s channel carries about a fifth of it.
  const offered = narrow.channel.offered;
  const expected = 1 - 0.9 * (10_000 / offered);
  assert.ok(Math.abs(narrow.channel.meanLoss - expected) < 1e-9, `${narrow.channel.meanLoss} vs ${expected}`);
  assert.ok(narrow.channel.meanLoss > 0.8);
});
