import assert from "node:assert/strict";
import {
  type Cnn1dSpec,
  createModel,
  initBackend,
  initialWeights,
  loadCheckpoint,
  loadModelSpec,
  type ModelSpec,
  paramCount,
  paramLayout,
  parseModelSpec,
  saveCheckpoint,
} from "../../src/model/mod.ts";
import { SeededRandom } from "../../src/time.ts";

const TRANSFORMER = (pooling: string) =>
  parseModelSpec(
    `id: t-${pooling}
version: 1
description: "test"
seed: 11
sequence: {steps: 12, channels: 3}
range: [-5, 5]
classes: [a, b]
transformer: {patch: 3, dim: 8, depth: 2, heads: 2, mlpDim: 16, pooling: ${pooling}}
`,
    "t.yaml",
  );

const CNN = (pooling: string) =>
  parseModelSpec(
    `id: c-${pooling}
version: 1
description: "test"
seed: 11
sequence: {steps: 12, channels: 3}
classes: 2
cnn1d: {filters: [4, 6], kernel: 3, pool: 2, pooling: ${pooling}}
`,
    "c.yaml",
  );

/** A sequence task only order over time solves: is the bump in channel 0 in the first or second half? */
function bumps(count: number, seed: number): { x: Float32Array; y: Uint8Array } {
  const rng = new SeededRandom(seed);
  const x = new Float32Array(count * 36);
  const y = new Uint8Array(count);
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < 36; i++) x[r * 36 + i] = (rng.next() - 0.5) * 0.2;
    y[r] = rng.next() < 0.5 ? 0 : 1;
    const t = (y[r] === 0 ? 0 : 6) + (rng.nextU32() % 6);
    x[r * 36 + t * 3] += 2;
  }
  return { x, y };
}

const SPECS: [string, () => ModelSpec][] = [
  ["transformer (mean pooling)", () => TRANSFORMER("mean")],
  ["transformer (class token)", () => TRANSFORMER("cls")],
  ["1-D CNN (mean)", () => CNN("mean")],
  ["1-D CNN (flatten)", () => CNN("flatten")],
];

Deno.test("sequence models: the same seed gives bit-identical initial weights in every model", async () => {
  await initBackend("wasm");
  for (const [name, make] of SPECS) {
    const spec = make();
    const a = await createModel(spec);
    const b = await createModel(make());
    try {
      assert.deepEqual(a.getWeights(), b.getWeights(), name);
      assert.deepEqual(a.getWeights(), initialWeights(spec), name);
      assert.equal(a.paramCount, paramCount(spec));
      assert.notDeepEqual(initialWeights(spec), initialWeights({ ...spec, seed: 12 }), name);
    } finally {
      a.dispose();
      b.dispose();
    }
  }
  const cls = paramLayout(TRANSFORMER("cls")).map((p) => p.name);
  assert.ok(cls.includes("cls") && !paramLayout(TRANSFORMER("mean")).some((p) => p.name === "cls"));
});

Deno.test("sequence models learn an order-in-time task, predict batch 1 like batch N, and round-trip a checkpoint", async () => {
  await initBackend("wasm");
  const train = bumps(512, 1);
  const test = bumps(200, 2);
  for (const [name, make] of SPECS) {
    const spec = make();
    const model = await createModel(spec, { learningRate: 0.01 });
    const dir = await Deno.makeTempDir({ prefix: "model-seq-" });
    try {
      const before = await model.evaluate(test.x, test.y, 200);
      for (let epoch = 0; epoch < 8; epoch++) {
        for (let i = 0; i + 32 <= 512; i += 32) {
          await model.trainBatch(train.x.subarray(i * 36), train.y.subarray(i), 32);
        }
      }
      const after = await model.evaluate(test.x, test.y, 200);
      assert.ok(after.accuracy >= 0.85, `${name}: ${before.accuracy} → ${after.accuracy}`);
      const one = await model.predict(test.x.subarray(36 * 5), 1);
      const many = await model.predict(test.x, 8);
      for (let c = 0; c < 2; c++) assert.ok(Math.abs(one[c] - many[5 * 2 + c]) < 1e-5, name);

      await saveCheckpoint(dir, model, { step: 7 });
      const fresh = await createModel(make());
      try {
        const loaded = await loadCheckpoint(dir, fresh);
        assert.ok(loaded.checkpoint, name);
        assert.equal(loaded.checkpoint.step, 7);
        fresh.setWeights(loaded.checkpoint.weights);
        assert.deepEqual(fresh.getWeights(), model.getWeights(), name);
        assert.deepEqual(await fresh.predict(test.x, 4), await model.predict(test.x, 4), name);
      } finally {
        fresh.dispose();
      }
    } finally {
      model.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("a checkpoint of one sequence model is refused by another (the hash covers pooling)", async () => {
  await initBackend("wasm");
  const dir = await Deno.makeTempDir({ prefix: "model-seq-" });
  const mean = await createModel(CNN("mean"));
  const base = CNN("mean") as Cnn1dSpec;
  const other = await createModel({ ...base, cnn1d: { ...base.cnn1d, pool: 1 } });
  try {
    await saveCheckpoint(dir, mean, { step: 1 });
    const loaded = await loadCheckpoint(dir, other);
    assert.equal(loaded.checkpoint, undefined);
  } finally {
    mean.dispose();
    other.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the built-in sequence specs build and run on sequential-MNIST-shaped rows", async () => {
  await initBackend("wasm");
  for (const id of ["seq-mnist-transformer", "seq-mnist-cnn", "weather-cnn", "weather-transformer"]) {
    const spec = await loadModelSpec(id);
    const model = await createModel(spec);
    try {
      const probs = await model.predict(new Float32Array(spec.input * 3), 3);
      assert.equal(probs.length, 3 * spec.classes);
      for (let r = 0; r < 3; r++) {
        const sum = probs.subarray(r * spec.classes, (r + 1) * spec.classes).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - 1) < 1e-5, id);
      }
    } finally {
      model.dispose();
    }
  }
});
