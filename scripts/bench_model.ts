/**
 * `deno task bench:model [-- --backends wasm,webgpu,cpu] [--quick]`: inference and training speed of
 * the shipped models on each backend, with the baselines measured in the same run (a tfjs layers
 * model of the same MLP, and a 512×512×512 matMul for the arithmetic ceiling). Prints one markdown
 * table; all ratios come from this run.
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { loadMnist } from "../src/sim/mnist.ts";
import { type BackendName, createModel, initBackend, type TrainableModel } from "../src/model/mod.ts";
import { denseOptions } from "../src/model/model.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { backends: { type: "string", default: "wasm,webgpu,cpu" }, quick: { type: "boolean" } },
});
const backends = values.backends!.split(",") as BackendName[];
const quick = values.quick === true;

/** FLOPs of one MLP sample (784·32 + 32·10 multiply-adds). */
const MLP_FLOPS = 2 * (784 * 32 + 32 * 10);

const { train } = await loadMnist(1);

/** Median of `runs` timings of `f` in microseconds, after `warm` untimed runs. */
async function p50(f: () => Promise<unknown>, runs: number, warm = Math.max(3, runs / 10)): Promise<number> {
  for (let i = 0; i < warm; i++) await f();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    times.push((performance.now() - t0) * 1000);
  }
  return median(times);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

type Row = { metric: string; target: string; values: Record<string, string> };
const rows: Row[] = [];
function put(metric: string, target: string, backend: string, value: string) {
  let row = rows.find((r) => r.metric === metric);
  if (!row) rows.push(row = { metric, target, values: {} });
  row.values[backend] = value;
}

for (const name of backends) {
  const info = await initBackend(name);
  const slow = name !== "wasm";
  const n = (k: number) => Math.max(5, Math.round(quick ? k / 5 : slow ? k / 4 : k));
  console.error(`# ${name}: ${info.reason}`);

  // Baseline: the same MLP as a tfjs layers model.
  const layers = tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 32, inputShape: [784], activation: "relu" }),
      tfl.layers.dense({ units: 10, activation: "softmax" }),
    ],
  });
  let r = 0;
  const next = (count: number) => {
    r = (r + count) % (train.count - count);
    return train.x.subarray(r * 784, (r + count) * 784);
  };
  const layersUs = await p50(async () => {
    const x = tf.tensor2d(next(1), [1, 784]);
    const y = layers.predict(x) as tf.Tensor;
    await y.data();
    x.dispose();
    y.dispose();
  }, n(500));
  layers.dispose();
  put("MLP batch 1, tfjs layers predict (µs p50)", "baseline", name, layersUs.toFixed(1));

  const mlp = await createModel("mnist-mlp");
  const mlpGraph = await createModel("mnist-mlp", { jsFastPath: false });
  const graphUs = await p50(() => mlpGraph.predict(next(1), 1), n(500));
  put("MLP batch 1, fused ops graph (µs p50)", "", name, graphUs.toFixed(1));
  const fastUs = await p50(() => mlp.predict(next(1), 1), n(2000));
  put("MLP batch 1, agent predict (µs p50)", "≤ 50", name, fastUs.toFixed(1));
  put(
    "MLP batch 1, agent ÷ layers",
    "",
    name,
    `${(fastUs / layersUs).toFixed(3)} (${(layersUs / fastUs).toFixed(1)}× faster)`,
  );

  // Batch-256 throughput against the arithmetic ceiling, a 512³ matMul. Interleaved run by run, so
  // both see the same machine load (other processes on a shared box shift either one alone).
  const a = tf.randomNormal([512, 512]);
  const matMul = async () => {
    const c = tf.matMul(a, a);
    await c.data();
    c.dispose();
  };
  const mlp256 = () => mlp.predict(next(256), 256);
  for (let i = 0; i < 3; i++) await matMul(), await mlp256();
  const mmTimes: number[] = [], b256Times: number[] = [];
  for (let i = 0; i < n(30); i++) {
    let t0 = performance.now();
    await matMul();
    mmTimes.push((performance.now() - t0) * 1000);
    t0 = performance.now();
    for (let j = 0; j < 4; j++) await mlp256();
    b256Times.push((performance.now() - t0) * 1000 / 4);
  }
  a.dispose();
  const mmUs = median(mmTimes), b256Us = median(b256Times);
  const mmGflops = 2 * 512 ** 3 / mmUs / 1000;
  put("512³ matMul (GFLOP/s)", "baseline", name, mmGflops.toFixed(2));
  const mlpGflops = 256 * MLP_FLOPS / b256Us / 1000;
  put("MLP batch 256 (samples/s)", "", name, Math.round(256e6 / b256Us).toLocaleString("en"));
  put(
    "MLP batch 256 (GFLOP/s; % of matMul)",
    "≥ 90%",
    name,
    `${mlpGflops.toFixed(2)} (${(100 * mlpGflops / mmGflops).toFixed(0)}%)`,
  );

  const vit = await createModel("mnist-vit");
  const vitGraph = await createModel("mnist-vit", { jsFastPath: false });
  const vitFastUs = await p50(() => vit.predict(next(1), 1), n(300));
  put("ViT batch 1, agent predict (µs p50)", "≤ 1000", name, vitFastUs.toFixed(1));
  const vitGraphUs = await p50(() => vitGraph.predict(next(1), 1), n(100));
  put("ViT batch 1, fused ops graph (µs p50)", "", name, vitGraphUs.toFixed(1));
  const vit256Us = await p50(() => vit.predict(next(256), 256), n(20), 2);
  put("ViT batch 256 (samples/s)", "", name, Math.round(256e6 / vit256Us).toLocaleString("en"));

  // Training: our dense-layer gradient vs tfjs' own (interleaved step by step, same load).
  for (const [id, model, other] of [["MLP", mlpGraph, mlp], ["ViT", vitGraph, vit]] as const) {
    const steps = id === "MLP" ? n(100) : n(30);
    const ours: number[] = [], theirs: number[] = [];
    const step = async (m: TrainableModel, custom: boolean | "auto", into: number[]) => {
      denseOptions.customGradient = custom;
      const x = next(32), y = train.y.subarray(r, r + 32);
      const t0 = performance.now();
      await m.trainBatch(x, y, 32);
      into.push((performance.now() - t0) * 1000);
    };
    for (let i = 0; i < steps + 3; i++) {
      await step(model, "auto", ours);
      await step(other, false, theirs);
    }
    denseOptions.customGradient = "auto";
    const oursUs = median(ours.slice(3)), theirsUs = median(theirs.slice(3));
    put(`${id} training, batch 32 (samples/s)`, "", name, Math.round(32e6 / oursUs).toLocaleString("en"));
    put(
      `${id} training with tfjs' own matMul gradient (samples/s)`,
      "baseline",
      name,
      `${Math.round(32e6 / theirsUs).toLocaleString("en")} (ours ${(theirsUs / oursUs).toFixed(2)}×)`,
    );
  }

  for (const m of [mlp, mlpGraph, vit, vitGraph]) m.dispose();
}

const cols = backends;
const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
console.log(line(["metric", ...cols, "target"]));
console.log(line(["---", ...cols.map(() => "---:"), "---"]));
for (const row of rows) console.log(line([row.metric, ...cols.map((c) => row.values[c] ?? ""), row.target]));
console.log(
  `\n${new Date().toISOString().slice(0, 16)}Z, Deno ${Deno.version.deno}, ${Deno.build.arch}, ` +
    `${navigator.hardwareConcurrency} cores; p50 = median. 'agent predict' uses the JavaScript forward pass ` +
    `for batches ≤ 2 and the fused tfjs graph above that.`,
);
