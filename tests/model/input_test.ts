import assert from "node:assert/strict";
import { InputCheck, parseModelSpec } from "../../src/model/mod.ts";

Deno.test("InputCheck.prepare() refuses a value outside the range and names column, value and range", () => {
  const check = new InputCheck({ kind: "image", height: 2, width: 2, channels: 1 }, { range: [0, 1] });
  const out = new Float32Array(4);
  assert.equal(check.prepare([0, 0.5, 1, 0], out), undefined);
  assert.deepEqual(Array.from(out), [0, 0.5, 1, 0]);
  const p = check.prepare([0, 0.5, 255, 0], out);
  assert.ok(p);
  assert.equal(check.explain(p), "column 3 (row 2, column 1): 255 is outside the model's range [0, 1]");
  assert.equal(check.explain(p, 1), "column 4 (row 2, column 1): 255 is outside the model's range [0, 1]");
  assert.match(check.explain(check.prepare([0, -0.001, 0, 0], out)!), /column 2 .*-0\.001 is outside/);
});

Deno.test("InputCheck.prepare() always refuses non-finite values, with or without a range", () => {
  for (
    const check of [
      new InputCheck({ kind: "features", features: 2 }),
      new InputCheck({ kind: "features", features: 2 }, { range: [-1e9, 1e9] }),
    ]
  ) {
    const out = new Float32Array(2);
    for (const bad of [NaN, Infinity, -Infinity, "1", null]) {
      const p = check.prepare([1, bad], out);
      assert.ok(p, String(bad));
      assert.equal(p.column, 1);
      assert.match(check.explain(p), /^column 2: .* is not a finite number$/);
    }
  }
});

Deno.test("InputCheck.prepare() checks the range on raw values, then scales and standardises", () => {
  const scaled = new InputCheck({ kind: "features", features: 3 }, { range: [0, 255], scale: 1 / 255 });
  const out = new Float32Array(3);
  assert.equal(scaled.prepare([0, 51, 255], out), undefined);
  assert.deepEqual(Array.from(out), [0, Math.fround(0.2), 1]);
  assert.ok(scaled.transforms);
  // Per-channel mean/std of a sequence (time-major rows).
  const seq = new InputCheck({ kind: "sequence", steps: 2, channels: 2 }, { mean: [10, 0], std: [2, 4] });
  const o = new Float32Array(4);
  assert.equal(seq.prepare([12, 4, 8, -8], o), undefined);
  assert.deepEqual(Array.from(o), [1, 1, -1, -2]);
  assert.match(
    seq.explain(seq.prepare([1, 2, 3, NaN], o)!),
    /^column 4 \(step 2, channel 2\): NaN is not a finite number$/,
  );
  // Stored raw rows are checked by the range only and normalised later, once.
  const raw = new Float32Array([12, 4, 8, -8]);
  assert.equal(seq.rangeOnly().transforms, false);
  assert.deepEqual(Array.from(seq.normalise(raw, 1)), [1, 1, -1, -2]);
});

Deno.test("InputCheck of a parsed spec: scale 1/255 with the range of raw pixels", () => {
  const spec = parseModelSpec(
    `id: px
version: 1
description: "0-255 pixels"
seed: 1
image: {height: 2, width: 2, channels: 1}
range: [0, 255]
scale: 1/255
classes: 2
mlp: {hidden: [4], activation: relu}
`,
    "px.yaml",
  );
  const check = new InputCheck(spec.shape, spec.norm);
  const out = new Float32Array(4);
  assert.equal(check.prepare([255, 0, 127.5, 255], out), undefined);
  assert.deepEqual(Array.from(out), [1, 0, 0.5, 1]);
  assert.match(
    check.explain(check.prepare([256, 0, 0, 0], out)!),
    /256 is outside the model's range \[0, 255\]/,
  );
});
