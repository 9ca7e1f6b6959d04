/**
 * A node's own bad rows cannot make honest peers shun each other: small in-memory swarms (the reference
 * MLP, the in-memory network with loss, real wire frames) where one node's shard holds a row of raw 0–255
 * pixels, a row of 1e30, a row with NaN, or a burst of 1,000 mislabelled rows.
 */
import assert from "node:assert/strict";
import { concatSamples, parseSplit, type Samples, splitIndices } from "../../src/learn/mod.ts";
import {
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
const pool = subset(train, Array.from({ length: 12000 }, (_, i) => i));
const shards = splitIndices(pool.y, 3, parseSplit("classes:4"), 2).map((ix) => subset(pool, ix));

function rows(values: (i: number) => number, count: number, label: (i: number) => number): Samples {
  const x = new Float32Array(count * MNIST_PIXELS);
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < MNIST_PIXELS; i++) x[r * MNIST_PIXELS + i] = values(r * MNIST_PIXELS + i);
  }
  return { x, y: Uint8Array.from({ length: count }, (_, i) => label(i)), count };
}

function swarm(poison?: Samples): Promise<SwarmSimResult> {
  const data = poison
    ? shards.map((s, i) => (i === 0 ? concatSamples([s, poison], MNIST_PIXELS) : s))
    : shards;
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
    shards: data,
    features: MNIST_PIXELS,
    test: smallTest,
    rounds: 240,
    localSteps: 1,
    loss: 0.1,
    maxDatagram: 1232,
    deflate: deflateBody,
    evalEvery: 240,
    seed: 5,
    tuning: { messagesPerRound: 4, learningRate: 0.5, rateDecayRounds: 160, rateFinal: 0.05 },
  });
}

const clean = await swarm();
const cleanMin = Math.min(...clean.nodes.map((n) => n.accuracy));

const cases: [string, Samples][] = [
  // One MNIST row as raw 0–255 pixels (a client that forgot to scale).
  ["a row of raw 0–255 pixels", {
    x: pool.x.slice(0, MNIST_PIXELS).map((v) => v * 255),
    y: pool.y.slice(0, 1),
    count: 1,
  }],
  ["a row of 1e30", rows(() => 1e30, 1, () => 3)],
  ["a row with NaN", rows((i) => (i % 7 === 0 ? NaN : 0.5), 1, () => 3)],
  // Rows of node 0's own digits, every one labelled as the next class.
  [
    "a burst of 1,000 mislabelled rows",
    (() => {
      const s = shards[0];
      const ix = Array.from({ length: 1000 }, (_, i) => i % s.count);
      const burst = subset(s, ix);
      return { ...burst, y: burst.y.map((v) => (v + 1) % 10) };
    })(),
  ],
];

for (const [name, poison] of cases) {
  Deno.test(`one node's shard with ${name}: no honest peer is ever ignored and the swarm still learns`, async () => {
    assert.ok(
      cleanMin >= 0.7,
      `the clean swarm itself must learn for the comparison to mean anything: ${cleanMin}`,
    );
    const r = await swarm(poison);
    assert.deepEqual(r.falsePositives, [], "honest peers ignored at some round");
    const min = Math.min(...r.nodes.map((n) => n.accuracy));
    // A bad-scale row is skipped, but one row more in a shard changes the batches drawn, and this small
    // swarm's worst node still moves by a few points from that alone (measured at 240 rounds: 83.6% vs
    // 85.7%; at 120 rounds 79.0% vs 87.3%, which is why the run is this long). A burst of wrong labels is
    // data the node believes (1 in 5 of node 0's rows here, 1 in 12 in the full-size sim): it costs
    // accuracy on node 0's digits (68.9%), no trust. Before 2026-12-01 this ran 40 rounds, where nothing
    // had learned yet (20.6% clean).
    const slack = name.includes("mislabelled") ? 0.25 : 0.05;
    assert.ok(min >= cleanMin - slack, `worst node ${min} vs clean ${cleanMin}`);
  });
}
