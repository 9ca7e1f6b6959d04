/**
 * Small real swarms: MNIST shards, the dependency-free reference MLP, the in-memory network with loss,
 * real wire frames. Each run takes a few seconds.
 */
import assert from "node:assert/strict";
import { loadMnist, MNIST_PIXELS, subset } from "../../src/sim/mnist.ts";
import { parseSplit, splitIndices } from "../../src/learn/split.ts";
import {
  BASIC_ATTACKS as ATTACKS,
  runSwarmSim,
  type SwarmSimOptions,
  type SwarmSimResult,
} from "../../src/sim/mod.ts";
import { TinyMlp } from "../../src/sim/tiny_mlp.ts";
import { deflateBody } from "../../src/wire/mod.ts";

const { train, test } = await loadMnist(1);
const smallTest = subset(test, Array.from({ length: 1000 }, (_, i) => i));

function swarm(nodes: number, rows: number, extra: Partial<SwarmSimOptions> = {}): Promise<SwarmSimResult> {
  const pool = subset(train, Array.from({ length: rows }, (_, i) => i));
  const shards = splitIndices(pool.y, nodes, parseSplit("iid"), 3).map((ix) => subset(pool, ix));
  return runSwarmSim({
    createModel: () =>
      new TinyMlp({
        inputs: MNIST_PIXELS,
        hidden: 32,
        classes: 10,
        seed: 1,
        optimizer: "sgd",
        learningRate: 0.05,
      }),
    shards,
    features: MNIST_PIXELS,
    test: smallTest,
    rounds: 24,
    localSteps: 4,
    loss: 0.1,
    maxDatagram: 1232,
    deflate: deflateBody,
    evalEvery: 4,
    seed: 5,
    tuning: { messagesPerRound: 4 },
    ...extra,
  });
}

const honest = (r: SwarmSimResult) => r.nodes.filter((n) => !n.byzantine);

Deno.test("3 nodes with IID shards and 10% loss all reach ≥ 85% within 24 rounds", async () => {
  const r = await swarm(3, 3000);
  for (const n of r.nodes) {
    assert.ok(n.accuracy >= 0.85, `${n.id}: ${n.accuracy}`);
    assert.ok(n.datagramsSent > 0 && n.bytesSent <= n.datagramsSent * 1232);
  }
  assert.ok(r.largestDatagram <= 1232);
});

Deno.test("one Byzantine node of 3 cannot wreck the honest ones, whatever its attack", async () => {
  const clean = await swarm(3, 3000);
  const cleanAcc = Math.min(...clean.nodes.slice(1).map((n) => n.accuracy));
  for (const attack of ATTACKS) {
    // Validation checks every 2 rounds instead of 10: this swarm runs only 24 rounds. One attacker in 3
    // is beyond what centered clipping alone holds; with IID data (as here) a suspect may be clipped
    // tighter (learning.suspectClip; the default only reports, because under label skew honest peers
    // fail the check).
    const r = await swarm(3, 3000, {
      byzantine: [{ node: 0, attack }],
      tuning: { messagesPerRound: 4, validateEvery: 2, suspectClip: 0.5 },
    });
    for (const n of honest(r)) {
      assert.ok(n.accuracy >= cleanAcc - 0.03, `${attack}: ${n.id} ${n.accuracy} vs clean ${cleanAcc}`);
    }
    const evil = r.nodes[0];
    if (attack === "nan" || attack === "huge") {
      assert.equal(evil.ignoredBy, 2, `${attack}: both honest nodes ignore and report the attacker`);
    }
    if (attack === "signflip") {
      // Honest values moving far too fast: slowed, and merged with no pull (its pace), never ignored.
      assert.equal(evil.ignoredBy + evil.dampedBy, 2, `${attack}: both honest nodes damp or ignore it`);
    }
    if (attack === "nan") assert.ok((honest(r)[0].rejected["non-finite"] ?? 0) > 0);
    if (attack === "huge") assert.ok((honest(r)[0].rejected["value-bound"] ?? 0) > 0);
    if (attack === "signflip") assert.ok((honest(r)[0].rejected["norm-bound"] ?? 0) > 0);
    if (attack === "labelflip") {
      // Honest-looking updates of a model trained on wrong labels: flagged on local validation rows and
      // merged with a tighter clip (the check cannot tell skewed data from malice, so it excludes nobody).
      assert.ok((honest(r)[0].rejected.validation ?? 0) > 0);
    }
  }
});

Deno.test("a node joining halfway catches up from snapshot chunks within 10% more rounds", async () => {
  let rounds: number[] = [];
  const r = await swarm(3, 3000, {
    rounds: 40,
    evalEvery: 1,
    lateJoin: { node: 2, round: 20 },
    onRound: (_, ls) => {
      rounds = ls.map((l) => l?.stats(0).rounds ?? 0);
    },
  });
  // The joiner continues the learning-rate schedule at the swarm's round count (from peers' stamps).
  assert.ok(rounds[2] >= rounds[0] - 2, `joiner at round ${rounds[2]}, swarm at ${rounds[0]}`);
  const late = r.nodes[2];
  assert.ok(late.caughtUpRound !== undefined, "caught up");
  assert.ok(late.caughtUpRound! <= 20 + 4, `caught up at round ${late.caughtUpRound}`);
  const others = Math.min(r.nodes[0].accuracy, r.nodes[1].accuracy);
  assert.ok(late.accuracy >= others - 0.02, `late ${late.accuracy} vs others ${others}`);
});

Deno.test("a node restarted from an older checkpoint resumes without a jump in loss", async () => {
  const r = await swarm(3, 3000, { rounds: 24, restart: { node: 0, round: 16, ageRounds: 4 } });
  const { lossAtCheckpoint, lossBefore, lossAfter } = r.restart!;
  assert.ok(
    Math.abs(lossAfter - lossAtCheckpoint) < 1e-6,
    `resumes exactly at the checkpoint: ${lossAtCheckpoint} → ${lossAfter}`,
  );
  assert.ok(lossAfter < lossBefore + 0.3, `no jump: ${lossBefore} before the restart → ${lossAfter}`);
  assert.ok(lossAfter < 1.5, `far below the untrained loss (~2.3): ${lossAfter}`);
  const others = Math.min(r.nodes[1].accuracy, r.nodes[2].accuracy);
  assert.ok(r.nodes[0].accuracy >= others - 0.02, `restarted ${r.nodes[0].accuracy} vs ${others}`);
});

Deno.test("the peers of a node restarted from its checkpoint keep their accuracy, on 3 seeds", async () => {
  // A restarted node used to take a new epoch: its peers dropped their copy of it until it was pushed
  // again, and their swarm model lost its share meanwhile (0.90 → 0.60 at the restart, seed 1).
  for (const seed of [1, 2, 3]) {
    const acc = new Map<string, number>();
    const r = await swarm(3, 3000, {
      rounds: 30,
      seed,
      evalEvery: 1,
      evaluate: "consensus",
      restart: { node: 0, round: 20, ageRounds: 8 },
      onEval: (row) => acc.set(`${row.round}/${row.node}`, row.accuracy),
    });
    for (const n of r.nodes) {
      const before = acc.get(`19/${n.id}`)!;
      for (let round = 20; round < 30; round++) {
        const a = acc.get(`${round}/${n.id}`)!;
        assert.ok(
          a >= before - 0.05,
          `seed ${seed}, ${n.id}: ${before} before the restart, ${a} at round ${round}`,
        );
      }
    }
  }
});

Deno.test("under label skew (2 classes per node) no honest peer is ever ignored, on 3 seeds", async () => {
  for (const seed of [1, 2, 3]) {
    const pool = subset(train, Array.from({ length: 5000 }, (_, i) => i));
    const shards = splitIndices(pool.y, 5, parseSplit("classes:2"), seed).map((ix) => subset(pool, ix));
    const r = await swarm(5, 5000, {
      shards,
      seed,
      rounds: 40,
      evalEvery: 40,
      // Checks every 2 rounds: the false positives this guards against came from the validation check.
      tuning: { messagesPerRound: 4, validateEvery: 2 },
    });
    assert.deepEqual(r.falsePositives, [], `seed ${seed}: honest peers ignored at some round`);
  }
});
