import assert from "node:assert/strict";
import {
  initialWeights,
  loadModelSpec,
  MODEL_HASH_SIZE,
  modelHash,
  paramCount,
  paramLayout,
  toHex,
} from "../../src/model/mod.ts";

async function sha256Hex(w: Float32Array): Promise<string> {
  return toHex(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(w.buffer as ArrayBuffer))),
  );
}

/**
 * Golden values: the seeded initial weights must be bit-identical on every device and backend (the
 * arm64 check in scripts/test_arm64.sh compares the same hashes). Changing a spec's layout, seed or
 * the initialiser changes these on purpose only.
 */
export const GOLDEN = {
  "mnist-mlp": {
    weights: "d41cd93ea2d21d4335c6fb8166052460347256c7ee39e19df065916075ff7460",
    model: "9ccbb422cc2d93fa",
  },
  "mnist-vit": {
    weights: "81796fbe57deaa39a9b24a921a2794b80761484696ba6c3ef7c0e9473aa2e343",
    model: "ce432daaaafca6a6",
  },
} as const;

Deno.test("initialWeights() matches the golden hash of every shipped spec", async () => {
  for (const [id, golden] of Object.entries(GOLDEN)) {
    const spec = await loadModelSpec(id);
    const w = initialWeights(spec);
    assert.equal(w.length, paramCount(spec));
    assert.equal(await sha256Hex(w), golden.weights, id);
    assert.equal(toHex(modelHash(spec)), golden.model, id);
    assert.equal(modelHash(spec).length, MODEL_HASH_SIZE);
  }
});

Deno.test("initialWeights() depends on the seed but modelHash() does not", async () => {
  const spec = await loadModelSpec("mnist-mlp");
  const other = { ...spec, seed: spec.seed + 1 };
  assert.notEqual(await sha256Hex(initialWeights(other)), await sha256Hex(initialWeights(spec)));
  assert.deepEqual(modelHash(other), modelHash(spec));
  assert.notDeepEqual(modelHash({ ...spec, version: 2 }), modelHash(spec));
  assert.ok(spec.kind === "mlp");
  assert.notDeepEqual(modelHash({ ...spec, mlp: { ...spec.mlp, hidden: [33] } }), modelHash(spec));
});

Deno.test("paramLayout() tiles the flat vector in the documented order", async () => {
  const vit = await loadModelSpec("mnist-vit");
  const layout = paramLayout(vit);
  assert.equal(layout[0].name, "patch/kernel");
  assert.deepEqual(layout[0].shape, [49, 32]);
  assert.equal(layout[layout.length - 1].name, "head/bias");
  let offset = 0;
  for (const p of layout) {
    assert.equal(p.offset, offset, p.name);
    offset += p.size;
  }
  assert.equal(offset, paramCount(vit));
  const w = initialWeights(vit);
  const gamma = layout.find((p) => p.name === "block0/ln1/gamma")!;
  assert.ok(w.subarray(gamma.offset, gamma.offset + gamma.size).every((v) => v === 1));
  const kernel = layout.find((p) => p.name === "block0/attn/qkv/kernel")!;
  const limit = Math.sqrt(6 / (32 + 96));
  assert.ok(
    w.subarray(kernel.offset, kernel.offset + kernel.size).every((v) => Math.abs(v) <= limit && v !== 0),
  );
});
