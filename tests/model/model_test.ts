import assert from "node:assert/strict";
import { loadMnist } from "../../src/sim/mnist.ts";
import {
  createModel,
  initBackend,
  initialWeights,
  JS_FAST_PATH_MAX_BATCH,
  loadModelSpec,
  type TrainableModel,
} from "../../src/model/mod.ts";
import { SeededRandom } from "../../src/time.ts";

async function withModel<T>(id: string, f: (m: TrainableModel) => Promise<T>, jsFastPath = true): Promise<T> {
  await initBackend("wasm");
  const m = await createModel(id, { jsFastPath });
  try {
    return await f(m);
  } finally {
    m.dispose();
  }
}

Deno.test("getWeights()/setWeights() round-trip the flat vector and start at the seeded weights", async () => {
  for (const id of ["mnist-mlp", "mnist-vit"]) {
    await withModel(id, async (m) => {
      const spec = await loadModelSpec(id);
      assert.deepEqual(m.getWeights(), initialWeights(spec));
      assert.equal(m.paramCount, initialWeights(spec).length);
      const rng = new SeededRandom(9);
      const w = new Float32Array(m.paramCount).map(() => rng.next() - 0.5);
      m.setWeights(w);
      assert.deepEqual(m.getWeights(), w);
      // The copy handed out is not the model's own state.
      m.getWeights().fill(0);
      assert.deepEqual(m.getWeights(), w);
      // Variables really hold the new weights: a training step starts from them.
      const { train } = await loadMnist(1);
      await m.trainBatch(train.x, train.y, 4);
      const after = m.getWeights();
      assert.ok(after.some((v, i) => v !== w[i]));
      assert.ok(after.every((v, i) => Math.abs(v - w[i]) < 0.01));
    });
  }
});

Deno.test("setWeights() rejects a wrong length or a non-finite value and keeps the weights", async () => {
  await withModel("mnist-mlp", (m) => {
    const before = m.getWeights();
    assert.throws(() => m.setWeights(new Float32Array(m.paramCount - 1)), /got 25449 floats, expected 25450/);
    const bad = before.slice();
    bad[7] = NaN;
    assert.throws(() => m.setWeights(bad), /value NaN at index 7 is not finite/);
    assert.deepEqual(m.getWeights(), before);
    return Promise.resolve();
  });
});

Deno.test("trainBatch() and predict() reject inputs that do not fit", async () => {
  await withModel("mnist-mlp", async (m) => {
    await assert.rejects(() => m.predict(new Float32Array(783), 1), /783 floats cannot hold 1 rows of 784/);
    await assert.rejects(
      () => m.trainBatch(new Float32Array(784), new Uint8Array([10]), 1),
      /label 10 at row 0/,
    );
    await assert.rejects(
      () => m.trainBatch(new Float32Array(784 * 2), new Uint8Array(1), 2),
      /1 labels for 2 rows/,
    );
  });
});

Deno.test("the JavaScript fast path agrees with the tfjs graph for both models", async () => {
  const { test } = await loadMnist(2);
  for (const id of ["mnist-mlp", "mnist-vit"]) {
    const fast = await createModel(id);
    const graph = await createModel(id, { jsFastPath: false });
    try {
      const rng = new SeededRandom(4);
      const w = fast.getWeights().map((v) => v + (rng.next() - 0.5) * 0.2);
      fast.setWeights(w);
      graph.setWeights(w);
      for (let r = 0; r < 8; r++) {
        const x = test.x.subarray(r * 784, (r + JS_FAST_PATH_MAX_BATCH) * 784);
        const a = await fast.predict(x, JS_FAST_PATH_MAX_BATCH);
        const b = await graph.predict(x, JS_FAST_PATH_MAX_BATCH);
        for (let i = 0; i < a.length; i++) {
          assert.ok(Math.abs(a[i] - b[i]) < 1e-5, `${id} row ${r}: ${a[i]} vs ${b[i]}`);
        }
        const sum = a.subarray(0, 10).reduce((s, v) => s + v, 0);
        assert.ok(Math.abs(sum - 1) < 1e-5);
      }
      // After a training step the fast path must see the new weights.
      await fast.trainBatch(test.x, test.y, 8);
      graph.setWeights(fast.getWeights());
      const a = await fast.predict(test.x, 1), b = await graph.predict(test.x, 1);
      for (let i = 0; i < 10; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-5);
    } finally {
      fast.dispose();
      graph.dispose();
    }
  }
});

Deno.test("several models live in one process without sharing state", async () => {
  await initBackend("wasm");
  const { train } = await loadMnist(1);
  const a = await createModel("mnist-mlp"),
    b = await createModel("mnist-mlp"),
    c = await createModel("mnist-vit");
  try {
    const start = b.getWeights();
    for (let i = 0; i < 3; i++) {
      await a.trainBatch(train.x.subarray(i * 32 * 784), train.y.subarray(i * 32), 32);
    }
    assert.notDeepEqual(a.getWeights(), start);
    assert.deepEqual(b.getWeights(), start);
    assert.deepEqual(a.modelHash, b.modelHash);
    assert.notDeepEqual(a.modelHash, c.modelHash);
  } finally {
    a.dispose();
    b.dispose();
    c.dispose();
  }
});

Deno.test("the ViT learns: a short run on 400 digits clearly beats chance", async () => {
  await initBackend("wasm");
  const { train, test } = await loadMnist(1);
  const m = await createModel("mnist-vit", { learningRate: 0.005 });
  try {
    const before = await m.evaluate(test.x, test.y, 500);
    const n = 400, batch = 20;
    for (let epoch = 0; epoch < 4; epoch++) {
      for (let i = 0; i + batch <= n; i += batch) {
        await m.trainBatch(train.x.subarray(i * 784), train.y.subarray(i), batch);
      }
    }
    const after = await m.evaluate(test.x, test.y, 500);
    assert.ok(after.accuracy >= 0.4, `accuracy ${after.accuracy} after training (chance is 0.1)`);
    assert.ok(after.loss < before.loss - 0.5, `loss ${before.loss} → ${after.loss}`);
  } finally {
    m.dispose();
  }
});

Deno.test("predict(), trainBatch() and setWeights() leak no tensors; dispose() frees the model's", async () => {
  await initBackend("wasm");
  const { train } = await loadMnist(1);
  const tf = await import("@tensorflow/tfjs-core");
  for (const id of ["mnist-mlp", "mnist-vit"]) {
    const start = tf.memory().numTensors;
    const m = await createModel(id, { jsFastPath: false });
    await m.trainBatch(train.x, train.y, 8); // creates the optimizer's moments
    await m.predict(train.x, 8); // creates the cached inference split
    const settled = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await m.trainBatch(train.x, train.y, 8);
      await m.predict(train.x, 8);
      m.setWeights(m.getWeights());
      await m.predict(train.x, 8);
      await m.evaluate(train.x, train.y, 8);
    }
    assert.equal(tf.memory().numTensors, settled, `${id} leaked tensors`);
    m.dispose();
    assert.equal(tf.memory().numTensors, start, `${id} kept tensors after dispose()`);
  }
});

Deno.test("models created concurrently share one backend initialisation", async () => {
  const models = await Promise.all([1, 2, 3].map(() => createModel("mnist-mlp")));
  try {
    assert.equal(new Set(models.map((m) => m.backend)).size, 1);
    const infos = await Promise.all([initBackend("wasm"), initBackend("wasm")]);
    assert.equal(infos[0], infos[1]);
  } finally {
    for (const m of models) m.dispose();
  }
});

/** One step's weight change of a fresh model (same weights, same batch). */
async function stepChange(
  options: Parameters<typeof createModel>[1],
  steps: number,
  beforeStep?: (m: TrainableModel, step: number) => void,
): Promise<Float32Array[]> {
  await initBackend("wasm");
  const { train } = await loadMnist(1);
  const m = await createModel("mnist-mlp", options);
  try {
    const out: Float32Array[] = [];
    for (let s = 0; s < steps; s++) {
      beforeStep?.(m, s);
      const w0 = m.getWeights();
      await m.trainBatch(train.x, train.y, 16);
      const w1 = m.getWeights();
      out.push(w1.map((v, i) => v - w0[i]));
    }
    return out;
  } finally {
    m.dispose();
  }
}

function ratio(a: Float32Array, b: Float32Array): number {
  let dot = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    bb += b[i] * b[i];
  }
  return dot / bb;
}

Deno.test("createModel({optimizer: 'sgd'}) takes momentum steps: v ← μ·v + g, w ← w − lr·v", async () => {
  // Same batch twice: the first step is −lr·g, the second −lr·(μ·g + g') with g' ≈ g (tiny step).
  const [first, second] = await stepChange({ optimizer: "sgd", learningRate: 1e-4, momentum: 0.9 }, 2);
  assert.ok(Math.abs(ratio(second, first) - 1.9) < 0.01, `second/first step ratio ${ratio(second, first)}`);
  const [plain1, plain2] = await stepChange({ optimizer: "sgd", learningRate: 1e-4, momentum: 0 }, 2);
  assert.ok(Math.abs(ratio(plain1, first) - 1) < 1e-3, "first step is plain SGD whatever the momentum");
  assert.ok(Math.abs(ratio(plain2, plain1) - 1) < 0.01, "no momentum: equal steps");
});

Deno.test("setLearningRate() scales the following steps and keeps the optimizer state", async () => {
  for (const optimizer of ["sgd", "adam"] as const) {
    const base = await stepChange({ optimizer, learningRate: 1e-4, momentum: 0 }, 2);
    const changed = await stepChange({ optimizer, learningRate: 1e-4, momentum: 0 }, 2, (m, s) => {
      if (s === 1) {
        m.setLearningRate(3e-4);
        assert.equal(m.learningRate, 3e-4);
      }
    });
    assert.ok(Math.abs(ratio(changed[0], base[0]) - 1) < 1e-3, `${optimizer}: first step unchanged`);
    assert.ok(Math.abs(ratio(changed[1], base[1]) - 3) < 0.03, `${optimizer}: ${ratio(changed[1], base[1])}`);
  }
});

Deno.test("createModel() and setLearningRate() reject bad optimizer settings", async () => {
  await initBackend("wasm");
  await assert.rejects(
    () => createModel("mnist-mlp", { optimizer: "rmsprop" as "adam" }),
    /unknown optimizer "rmsprop"/,
  );
  await assert.rejects(() => createModel("mnist-mlp", { optimizer: "sgd", momentum: 1 }), /momentum 1/);
  await assert.rejects(() => createModel("mnist-mlp", { learningRate: -1 }), /Learning rate -1/);
  const m = await createModel("mnist-mlp");
  try {
    assert.equal(m.learningRate, 0.001);
    assert.throws(() => m.setLearningRate(NaN), /Learning rate NaN/);
  } finally {
    m.dispose();
  }
});
