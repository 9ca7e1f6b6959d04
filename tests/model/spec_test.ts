import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import { listModelIds, loadModelSpec, paramCount, parseModelSpec } from "../../src/model/mod.ts";

const VIT = `id: mnist-vit
version: 1
description: "test"
seed: 1
input: 784
classes: 10
vit:
  imageSize: 28
  patchSize: 7
  dim: 32
  depth: 1
  heads: 2
  mlpDim: 64
`;

function rejects(text: string, pattern: RegExp) {
  assert.throws(() => parseModelSpec(text, "x.yaml"), (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("loadModelSpec() loads the shipped specs", async () => {
  assert.deepEqual(await listModelIds(), ["mnist-mlp", "mnist-vit"]);
  const mlp = await loadModelSpec("mnist-mlp");
  assert.equal(mlp.kind, "mlp");
  assert.equal(paramCount(mlp), 784 * 32 + 32 + 32 * 10 + 10);
  const vit = await loadModelSpec("mnist-vit");
  assert.equal(vit.kind, "vit");
  assert.ok(paramCount(vit) <= 30_000, `mnist-vit has ${paramCount(vit)} parameters`);
  if (vit.kind === "vit") {
    assert.ok(vit.vit.heads >= 2 && vit.vit.depth >= 1);
  }
});

Deno.test("loadModelSpec() names the known models for an unknown id", async () => {
  await assert.rejects(() => loadModelSpec("mnist-cnn"), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /Unknown model "mnist-cnn"/);
    assert.match(e.hint ?? "", /mnist-mlp, mnist-vit/);
    return true;
  });
  await assert.rejects(() => loadModelSpec("../etc/passwd"), UsageError);
});

Deno.test("parseModelSpec() accepts a valid ViT spec", () => {
  const spec = parseModelSpec(VIT, "x.yaml");
  assert.equal(spec.kind, "vit");
  assert.equal(spec.seed, 1);
});

Deno.test("parseModelSpec() errors name the key path and line", () => {
  rejects(
    VIT.replace("heads: 2", "heads: 3"),
    /^vit\.heads: 3 does not divide vit\.dim 32 \(x\.yaml line 12\)$/,
  );
  rejects(VIT.replace("dim: 32", "dim: 0"), /^vit\.dim: 0 is out of range 2\.\.1024 \(x\.yaml line 10\)$/);
  rejects(VIT.replace("heads: 2", "head: 2"), /^Unknown model spec key vit\.head \(x\.yaml line 12\)$/);
  rejects(
    VIT.replace("seed: 1", "seed: -1"),
    /^seed: -1 is out of range 0\.\.4294967295 \(x\.yaml line 4\)$/,
  );
  rejects(VIT.replace("seed: 1", "seed: 1.5"), /^seed: 1\.5 is not an integer \(x\.yaml line 4\)$/);
  rejects(VIT.replace("input: 784", "input: 780"), /vit\.imageSize: 28² = 784 does not match input 780/);
  rejects(VIT.replace("patchSize: 7", "patchSize: 5"), /vit\.patchSize: 5 does not divide vit\.imageSize 28/);
  rejects(VIT.replace("  mlpDim: 64\n", ""), /^vit\.mlpDim is missing \(x\.yaml line 7\)$/);
  rejects(VIT.replace("seed: 1\n", ""), /^seed is missing/);
  rejects(VIT.replace("id: mnist-vit", "id: Mnist"), /^id: "Mnist" does not match/);
  rejects(VIT + "mlp:\n  hidden: [32]\n  activation: relu\n", /both mlp: and vit:/);
  rejects(VIT.replace(/vit:[\s\S]*/, ""), /needs an architecture section/);
  rejects("id: [1, 2\n", /^Model spec is not valid YAML/);
  rejects("- 1\n- 2\n", /must be a mapping/);
  rejects(VIT.replace("seed: 1", "seed: 1\nseed: 2"), /not valid YAML/);
});

Deno.test("parseModelSpec() checks MLP hidden layers", () => {
  const mlp = VIT.replace(/vit:[\s\S]*/, "mlp:\n  hidden: [32]\n  activation: relu\n");
  assert.equal(parseModelSpec(mlp, "x.yaml").kind, "mlp");
  rejects(mlp.replace("[32]", "32"), /^mlp\.hidden: 32 is not a list of integers/);
  rejects(mlp.replace("[32]", "[]"), /^mlp\.hidden: \[\] must have 1\.\.8 entries/);
  rejects(mlp.replace("[32]", "[32, 0]"), /^mlp\.hidden: \[32,0\] is out of range 1\.\.4096/);
  rejects(
    mlp.replace("relu", "gelu"),
    /^mlp\.activation: "gelu" is not one of relu, sigmoid, linear \(x\.yaml line 9\)$/,
  );
});
