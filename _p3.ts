import * as tf from "@tensorflow/tfjs";
import { createModel, initBackend } from "./src/model/mod.ts";
import { loadMnist } from "./src/learn/mnist.ts";
await initBackend("wasm");
const { train } = await loadMnist(1);
const m = await createModel("mnist-vit", { learningRate: 0.003 });
for (let i = 0; i < 20; i++) await m.trainBatch(train.x, train.y, 32);
let t0 = performance.now();
for (let i = 0; i < 20; i++) await m.trainBatch(train.x, train.y, 32);
console.log("train step ms", (performance.now() - t0) / 20);
const prof = await tf.profile(async () => { for (let i = 0; i < 5; i++) await m.trainBatch(train.x, train.y, 32); });
const agg = new Map<string, number>();
let total = 0;
for (const k of prof.kernels) { agg.set(k.name, (agg.get(k.name) ?? 0) + (k.kernelTimeMs as number) / 5); total += (k.kernelTimeMs as number) / 5; }
console.log("kernel total per step", total.toFixed(1), "kernels per step", prof.kernels.length / 5);
const cnt = new Map<string, number>(); for (const k of prof.kernels) cnt.set(k.name, (cnt.get(k.name) ?? 0) + 0.2); console.log([...cnt.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([k, v]) => `${v} ${k}`).join(", "));
console.log([...agg.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([k, v]) => `${v.toFixed(2)} ${k}`).join("\n"));
