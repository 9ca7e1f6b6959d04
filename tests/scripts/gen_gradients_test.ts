import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { GRADIENTS_MODULE, renderGradientsModule } from "../../scripts/lib/gradients_bundle.ts";

Deno.test("src/model/_gradients.js is the bundle of the pinned tfjs-core's gradients (run 'deno task gen:gradients')", async () => {
  const path = fileURLToPath(new URL(`../../${GRADIENTS_MODULE}`, import.meta.url));
  assert.equal(await Deno.readTextFile(path), await renderGradientsModule());
});

Deno.test("the bundled gradients register into the app's tfjs and compute the gradients training uses", async () => {
  await tf.setBackend("cpu");
  const x = tf.tensor2d([[1, -2], [3, 0.5]]);
  const w = tf.tensor2d([[0.5, -1], [2, 0.25]]);
  const loss = (k: tf.Tensor) =>
    tf.losses.softmaxCrossEntropy(tf.oneHot([0, 1], 2), tf.relu(tf.matMul(x, k)));
  assert.throws(() => tf.grad(loss)(w), /gradient|Cannot compute/i, "no gradients before the bundle loads");
  // @ts-ignore: generated JavaScript without types.
  await import("../../src/model/_gradients.js");
  const g = await tf.grad(loss)(w).array() as number[][];
  // d/dW of mean softmax cross-entropy through relu(xW), by central differences.
  const eps = 1e-3;
  const base = await w.array();
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 2; j++) {
      const at = (d: number) => {
        const k = base.map((r) => [...r]);
        k[i][j] += d;
        return loss(tf.tensor2d(k)).dataSync()[0];
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      assert.ok(Math.abs(g[i][j] - numeric) < 1e-2, `dL/dW[${i}][${j}] ${g[i][j]} vs ${numeric}`);
    }
  }
});
