/**
 * A many-node swarm in memory: 100 nodes with bounded fan-in (a publishing committee of 8) over a shared
 * medium of limited capacity, on a tiny MLP, in a few seconds.
 */
import assert from "node:assert/strict";
import { loadMnist, MNIST_PIXELS, subset } from "../../src/sim/mnist.ts";
import { parseSplit, splitIndices } from "../../src/learn/split.ts";
import { runSwarmSim } from "../../src/sim/swarm.ts";
import { HELLO_DATAGRAM_BYTES, planAirtime } from "../../src/gossip/airtime.ts";
import { airtimeSettings } from "../../src/agent/airtime.ts";
import { defaultConfig } from "../../src/config/load.ts";
import { snapshotBytes, ValueEncoding } from "../../src/learn/codec.ts";
import { SimNetwork } from "../../src/sim/network.ts";
import { SeededRandom } from "../../src/time.ts";
import { TinyMlp } from "../../src/sim/tiny_mlp.ts";
import { deflateBody, MessageType } from "../../src/wire/mod.ts";

const { train, test } = await loadMnist(1);

const tinyMlp = () =>
  new TinyMlp({ inputs: MNIST_PIXELS, hidden: 4, classes: 10, seed: 1, optimizer: "sgd" });

/** `nodes` tiny MLPs on IID shards over a shared 125 kB/s medium at 10% loss, rounds on the airtime plan. */
function committeeSim(
  nodes: number,
  o: Pick<Parameters<typeof runSwarmSim>[0], "rounds" | "seed" | "tuning" | "onRound"> & { testRows: number },
) {
  const shards = splitIndices(train.y, nodes, parseSplit("iid"), 5).map((ix) => subset(train, ix));
  return runSwarmSim({
    createModel: tinyMlp,
    shards,
    features: MNIST_PIXELS,
    test: subset(test, Array.from({ length: o.testRows }, (_, i) => i)),
    rounds: o.rounds,
    localSteps: 1,
    loss: 0.1,
    capacity: 125_000,
    roundMs: "auto",
    maxDatagram: 1232,
    deflate: deflateBody,
    evalEvery: o.rounds,
    seed: o.seed,
    tuning: o.tuning,
    onRound: o.onRound,
  });
}

Deno.test("100 nodes with fan-in 8 on a shared 125 kB/s medium: 8 publish, copies stay within K, they learn", async () => {
  const model = tinyMlp();
  let mostCopies = 0;
  let mostMembers = 0;
  const result = await committeeSim(100, {
    testRows: 500,
    rounds: 8,
    seed: 5,
    tuning: { fanIn: 8, learningRate: 0.5, validateEvery: 0 },
    onRound: (_, learners) => {
      let members = 0;
      for (const l of learners) {
        const stats = l!.stats(0);
        mostCopies = Math.max(mostCopies, stats.peers.filter((p) => p.inSync).length);
        if (stats.member) members++;
      }
      mostMembers = Math.max(mostMembers, members);
    },
  });
  assert.equal(model.paramCount, 3190);
  // The committee's 8 copies, and an outgoing holder's until its successor's copy is in sync.
  assert.ok(mostCopies >= 7 && mostCopies <= 9, `a node holds ${mostCopies} copies in sync`);
  assert.equal(mostMembers, 8, "8 nodes train and publish at a time");
  // The agent's airtime plan for 100 boards: the committee's 8 updates, 100 boards' Hellos and the
  // handovers, between the plan with no push counted and the plan with the uncompressed bound.
  const plan = (handoverBytes: number) =>
    planAirtime(100, {
      ...airtimeSettings(defaultConfig()),
      bytesPerRound: 1232,
      fanIn: 8,
      handoverBytes,
    }).roundMs;
  const bound = 2 * snapshotBytes(model.paramCount, ValueEncoding.Int8, 1232);
  assert.ok(plan(0) > 500, "100 boards' Hellos alone stretch the rounds");
  assert.ok(
    result.roundMs >= plan(0) && result.roundMs <= plan(bound) + 1e-6,
    `${result.roundMs} ms per round, plan ${plan(0)}..${plan(bound)} ms`,
  );
  // The Hellos count towards the channel's load; within the budget it keeps the base loss.
  assert.ok(result.channel.offered > (100 * HELLO_DATAGRAM_BYTES * 1000) / (result.roundMs * 2));
  assert.ok(Math.abs(result.channel.maxLoss - 0.1) < 1e-9, `loss ${result.channel.maxLoss}`);
  const accs = result.nodes.map((n) => n.accuracy);
  const mean = accs.reduce((a, b) => a + b, 0) / accs.length;
  assert.ok(mean > 0.2, `mean accuracy ${mean} after 8 rounds (chance is 0.1)`);
});

Deno.test("the shared medium loses what it cannot carry: loss grows with the offered load above capacity", async () => {
  const net = await SimNetwork.create({
    nodes: 40,
    seed: 1,
    loss: 0.1,
    duplicate: 0,
    maxDatagram: 1232,
    sign: false,
    capacity: 10_000,
  });
  for (let i = 0; i < 40; i++) net.join(i);
  const hash = new Uint8Array(8);
  const rng = new SeededRandom(2);
  const body = deflateBody(Uint8Array.from({ length: 1000 }, () => rng.nextU32() & 0xff));
  const send = async (nodes: number) => {
    for (let i = 0; i < nodes; i++) await net.send(i, [{ type: MessageType.Delta, body }], hash, 0);
    net.flush(1000);
    return net.load[net.load.length - 1];
  };
  const quiet = await send(5);
  assert.ok(quiet.offered < 10_000 && Math.abs(quiet.loss - 0.1) < 1e-12, "below capacity: the base loss");
  const busy = await send(40);
  assert.ok(Math.abs(busy.loss - (1 - 0.9 * 10_000 / busy.offered)) < 1e-12, `loss ${busy.loss}`);
  assert.ok(busy.loss > 0.75);
  let delivered = 0;
  for (const _ of net.deliver(10_000)) delivered++;
  // 5 × 39 receivers at 10% loss, then 40 × 39 at ≈ 78%: about 175 + 340.
  assert.ok(delivered > 400 && delivered < 640, `${delivered} delivered`);
});

Deno.test("rounds stretched past the peer timeout by a large committee's handovers time no peer out", async () => {
  // 30 nodes, a committee of 16 whose seats change hands every 62 ms: the handovers alone ask for more
  // airtime than the budget, so the plan stretches the rounds far beyond the 15 s peer timeout. The agent
  // keeps its learner's timeout at four round intervals (src/agent/airtime.ts); so does the simulation.
  const result = await committeeSim(30, {
    testRows: 200,
    rounds: 4,
    seed: 3,
    tuning: { fanIn: 16, fanInPeriodMs: 1000, peerTimeoutMs: 15_000, learningRate: 0.5, validateEvery: 0 },
  });
  assert.ok(result.roundMs > 15_000, `${result.roundMs} ms per round`);
  assert.deepEqual(result.falsePositives, []);
});
