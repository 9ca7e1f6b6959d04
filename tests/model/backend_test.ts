import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import { loadMnist } from "../../src/sim/mnist.ts";
import {
  type BackendName,
  createModel,
  initBackend,
  initialWeights,
  loadModelSpec,
} from "../../src/model/mod.ts";
import { SeededRandom } from "../../src/time.ts";

function isUsage(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.match(e.message, pattern);
    assert.ok(e.hint && e.hint.length > 0);
    return true;
  };
}

Deno.test("initBackend() refuses a forced webgpu without WebGPU or without an adapter", async () => {
  await assert.rejects(
    () => initBackend("webgpu", { gpu: null }),
    isUsage(/webgpu is not available: navigator\.gpu/),
  );
  await assert.rejects(
    () => initBackend("webgpu", { gpu: { requestAdapter: () => Promise.resolve(null) } }),
    isUsage(/webgpu is not available: .*returned no adapter/),
  );
});

Deno.test("initBackend() refuses a forced wasm whose .wasm files are missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      () => initBackend("wasm", { wasmDir: dir }),
      isUsage(/wasm is not available: cannot read .*tfjs-backend-wasm\.wasm/),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("initBackend() rejects an unknown backend name", async () => {
  await assert.rejects(() => initBackend("tpu" as "cpu"), isUsage(/Backend "tpu" is not one of/));
});

Deno.test("initBackend('auto') falls back past a missing or software WebGPU adapter to wasm", async () => {
  const none = await initBackend("auto", { gpu: null });
  assert.equal(none.name, "wasm");
  assert.match(none.reason, /^auto: WebGPU skipped \(navigator\.gpu is undefined.*\); WASM with/);
  assert.equal(none.simd, true);
  const soft = await initBackend("auto", {
    gpu: {
      requestAdapter: () => Promise.resolve({ info: { description: "llvmpipe", isFallbackAdapter: true } }),
    },
  });
  assert.equal(soft.name, "wasm");
  assert.match(soft.reason, /adapter "llvmpipe" is a software fallback/);
});

Deno.test("initBackend('auto') falls back to cpu when neither WebGPU nor wasm is available", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const info = await initBackend("auto", { gpu: null, wasmDir: dir });
    assert.equal(info.name, "cpu");
    assert.match(
      info.reason,
      /WebGPU skipped .*; WASM skipped \(cannot read .*\); plain JavaScript cpu backend$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Weights far from the seeded start, so outputs are not near-uniform and differences would show. */
function perturbed(base: Float32Array, seed: number): Float32Array {
  const rng = new SeededRandom(seed);
  return base.map((v) => v + (rng.next() - 0.5) * 0.2);
}

Deno.test("every backend can be forced, trains one step and agrees with the cpu backend within 1e-4", async () => {
  const { test } = await loadMnist(3);
  const rows = 6;
  const x = test.x.subarray(0, rows * 784);
  const y = test.y.subarray(0, rows);
  const results: Record<
    string,
    { backend: BackendName; probs: Float32Array; loss: number; after: Float32Array }[]
  > = {};
  for (const name of ["cpu", "wasm", "webgpu"] as const) {
    const info = await initBackend(name);
    assert.equal(info.name, name);
    assert.match(info.reason, /^forced/);
    if (name === "webgpu") assert.ok(info.adapter);
    for (const id of ["mnist-mlp", "mnist-vit"]) {
      const spec = await loadModelSpec(id);
      const model = await createModel(spec, { jsFastPath: false, learningRate: 0.001 });
      try {
        assert.equal(model.backend, name);
        model.setWeights(perturbed(initialWeights(spec), 5));
        const probs = await model.predict(x, rows);
        const loss = await model.trainBatch(x, y, rows);
        assert.ok(Number.isFinite(loss));
        assert.notDeepEqual(
          model.getWeights(),
          perturbed(initialWeights(spec), 5),
          "the step changed nothing",
        );
        // Adam's first step moves every weight by about ±lr whatever the size of its gradient, so
        // weights with near-zero gradients may move differently; compare what the step did instead.
        const after = await model.predict(x, rows);
        (results[id] ??= []).push({ backend: name, probs, loss, after });
      } finally {
        model.dispose();
      }
    }
  }
  for (const [id, runs] of Object.entries(results)) {
    const [ref, ...others] = runs;
    for (const r of others) {
      const where = `${id} on ${r.backend} vs ${ref.backend}`;
      assert.ok(Math.abs(r.loss - ref.loss) < 1e-4, `${where}: loss ${r.loss} vs ${ref.loss}`);
      assert.ok(
        maxDiff(r.probs, ref.probs) < 1e-4,
        `${where}: probabilities differ by ${maxDiff(r.probs, ref.probs)}`,
      );
      assert.ok(
        maxDiff(r.after, ref.after) < 1e-4,
        `${where}: probabilities after a step differ by ${maxDiff(r.after, ref.after)}`,
      );
    }
  }
  await initBackend("wasm");
});

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}
