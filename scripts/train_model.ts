/**
 * `deno task train:model -- --model ID --state DIR [--epochs N] [--backend B] [--rows FILE --count N]`:
 * trains a model centrally on the MNIST training split (8,000 digits), reports held-out accuracy, and
 * saves a checkpoint into `DIR/checkpoints` the way the daemon does, so `agent infer --state DIR` has
 * trained weights. With `--rows FILE` it also writes N held-out digits as JSON Lines (and their labels
 * to FILE.labels) to feed `agent infer`. A demo and benchmark helper, not part of the agent.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadMnist, MNIST_PIXELS } from "../src/sim/mnist.ts";
import { createModel, initBackend, saveCheckpoint } from "../src/model/mod.ts";
import { stateLayout } from "../src/state/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "mnist-mlp" },
    state: { type: "string" },
    epochs: { type: "string", default: "3" },
    backend: { type: "string", default: "auto" },
    rate: { type: "string", default: "0.002" },
    rows: { type: "string" },
    count: { type: "string", default: "20" },
  },
});
if (!values.state) {
  console.error("train:model: --state DIR is required (the checkpoint goes to DIR/checkpoints)");
  Deno.exit(2);
}
const info = await initBackend(values.backend as "auto");
const { train, test } = await loadMnist(1);
const model = await createModel(values.model!, { learningRate: Number(values.rate) });
console.error(`train:model: ${values.model} on ${info.name} (${info.reason})`);
const batch = 32;
let step = 0;
const t0 = performance.now();
for (let epoch = 1; epoch <= Number(values.epochs); epoch++) {
  for (let i = 0; i + batch <= train.count; i += batch) {
    await model.trainBatch(train.x.subarray(i * MNIST_PIXELS), train.y.subarray(i), batch);
    step++;
  }
  const { accuracy, loss } = await model.evaluate(test.x, test.y, test.count);
  console.error(
    `train:model: epoch ${epoch}: test accuracy ${(100 * accuracy).toFixed(1)}%, loss ${loss.toFixed(3)} ` +
      `(${Math.round(step * batch / ((performance.now() - t0) / 1000))} samples/s)`,
  );
}
const path = await saveCheckpoint(stateLayout(values.state).checkpoints, model, { step });
console.error(`train:model: wrote ${path}`);
model.dispose();
if (values.rows) {
  const n = Math.min(Number(values.count), test.count);
  const lines = [];
  for (let r = 0; r < n; r++) {
    lines.push(JSON.stringify(Array.from(test.x.subarray(r * MNIST_PIXELS, (r + 1) * MNIST_PIXELS))));
  }
  await Deno.writeTextFile(values.rows, lines.join("\n") + "\n");
  await Deno.writeTextFile(values.rows + ".labels", Array.from(test.y.subarray(0, n)).join("\n") + "\n");
  console.error(
    `train:model: wrote ${n} held-out digits to ${values.rows} (labels in ${values.rows}.labels)`,
  );
}
