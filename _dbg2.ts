import { loadMnist, MNIST_PIXELS, subset } from "./src/learn/mnist.ts";
import { parseSplit, splitIndices } from "./src/learn/split.ts";
import { runSwarmSim } from "./src/learn/swarm_sim.ts";
import { deflateBody } from "./src/wire/mod.ts";
import { createModel, initBackend } from "./src/model/mod.ts";
const rounds = Number(Deno.args[0] ?? 400);
const lr = Number(Deno.env.get("LR") ?? 0.1);
const { train, test } = await loadMnist(1);
const shards = splitIndices(train.y, 5, parseSplit("classes:2"), 1).map((ix) => subset(train, ix));
await initBackend("wasm");
let last = "";
await runSwarmSim({
  createModel: () => createModel("mnist-mlp", { optimizer: "sgd", learningRate: lr }),
  shards, features: MNIST_PIXELS, test: subset(test, Array.from({ length: 500 }, (_, i) => i)), rounds, localSteps: 1, loss: 0.1, maxDatagram: 1232,
  deflate: deflateBody, evalEvery: 20, seed: 1, evaluate: "consensus",
  tuning: { learningRate: lr, rateFinal: 0.02, rateDecayRounds: 880, ...JSON.parse(Deno.args[1] ?? "{}") },
  onEval: (row) => { if (row.node === "n0") console.log(row.round, row.accuracy.toFixed(3), row.loss.toFixed(3)); },
  onRound: (round, ls) => {
    const st = ls[0]!.stats(round * 1000);
    const line = JSON.stringify(st.rejected) + " resid " + st.residualRms.toExponential(2) + " peers " + st.peers.map((p) => p.score.toFixed(2)).join(",");
    if (JSON.stringify(st.rejected) !== last || round % 20 === 0) console.log("r", round, line);
    last = JSON.stringify(st.rejected);
  },
});
