import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import {
  listModelIds,
  loadModelSpec,
  modelHash,
  paramCount,
  parseModelSpec,
  toHex,
} from "../../src/model/mod.ts";

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
  assert.deepEqual(await listModelIds(), [
    "mnist-mlp",
    "mnist-vit",
    "seq-mnist-cnn",
    "seq-mnist-transformer",
    "weather-cnn",
    "weather-mlp",
    "weather-transformer",
  ]);
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
    assert.match(e.hint ?? "", /mnist-mlp, mnist-vit, seq-mnist-cnn/);
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
  rejects(VIT + "mlp:\n  hidden: [32]\n  activation: relu\n", /both vit: and mlp:/);
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

const SENSOR = `id: sensor-seq
version: 1
description: "accelerometer windows"
seed: 3
sequence: {steps: 48, channels: 6}
range: [-20, 20]
mean: [0, 0, 9.8, 0, 0, 0]
std: [2, 2, 2, 1, 1, 1]
classes: [idle, walk, run]
transformer:
  patch: 8
  dim: 16
  depth: 1
  heads: 2
  mlpDim: 32
  pooling: cls
`;

Deno.test("parseModelSpec() reads an input shape, range, normalisation and class names", () => {
  const spec = parseModelSpec(SENSOR, "sensor.yaml");
  assert.equal(spec.kind, "transformer");
  assert.equal(spec.input, 48 * 6);
  assert.equal(spec.classes, 3);
  assert.deepEqual(spec.classNames, ["idle", "walk", "run"]);
  assert.deepEqual(spec.shape, { kind: "sequence", steps: 48, channels: 6 });
  assert.deepEqual(spec.norm.range, [-20, 20]);
  assert.equal(spec.norm.mean?.length, 6);
  const features = parseModelSpec(
    "id: s\nversion: 1\ndescription: d\nseed: 1\nfeatures: 12\nscale: 1/255\nclasses: 3\nmlp: {hidden: [8], activation: relu}\n",
    "s.yaml",
  );
  assert.deepEqual(features.shape, { kind: "features", features: 12 });
  assert.equal(features.norm.scale, 1 / 255);
  assert.equal(features.classNames, undefined);
});

Deno.test("parseModelSpec() refuses inconsistent shapes, ranges and sections with the line", () => {
  rejects(
    SENSOR.replace("patch: 8", "patch: 7"),
    /^transformer\.patch: 7 does not divide sequence\.steps 48 \(x\.yaml line 11\)$/,
  );
  rejects(SENSOR.replace("range: [-20, 20]", "range: [20, -20]"), /^range: \[20,-20\] must have low < high/);
  rejects(SENSOR.replace("range: [-20, 20]", "range: [0]"), /^range: \[0\] is not \[low, high\]/);
  rejects(SENSOR.replace("std: [2, 2, 2, 1, 1, 1]", "std: [2, 2, 0, 1, 1, 1]"), /^std: .* must be positive/);
  rejects(
    SENSOR.replace("mean: [0, 0, 9.8, 0, 0, 0]", "mean: [0, 0]"),
    /^mean: has 2 values, expected 288 \(one per feature\) or 6 \(one per channel\)/,
  );
  rejects(
    SENSOR.replace("classes: [idle, walk, run]", "classes: [idle, idle]"),
    /^classes: .* names a class twice/,
  );
  rejects(
    SENSOR.replace("sequence: {steps: 48, channels: 6}", "features: 288").replace(/^(mean|std):.*\n/gm, ""),
    /transformer: needs sequence/,
  );
  rejects(
    SENSOR.replace("sequence: {steps: 48, channels: 6}", "sequence: {steps: 48}"),
    /^sequence\.channels is missing/,
  );
  rejects(
    SENSOR.replace("scale", "scale").replace("range: [-20, 20]", "scale: abc"),
    /^scale: "abc" is not a positive number or fraction/,
  );
  rejects(
    SENSOR.replace("pooling: cls", "pooling: max"),
    /^transformer\.pooling: "max" is not one of mean, cls/,
  );
  rejects(SENSOR + "features: 3\n", /states both features: and sequence:; keep one/);
  rejects(SENSOR.replace("sequence: {steps: 48, channels: 6}\n", ""), /needs its input shape/);
  rejects(
    VIT.replace("input: 784", "image: {height: 28, width: 28, channels: 3}"),
    /vit\.imageSize: 28² = 784 does not match input 2352/,
  );
  rejects(
    VIT.replace(
      "input: 784",
      "input: 784\nimage: {height: 28, width: 28, channels: 1}\nsequence: {steps: 1, channels: 1}",
    ),
    /states both/,
  );
  const cnn =
    `id: c\nversion: 1\ndescription: d\nseed: 1\nsequence: {steps: 12, channels: 2}\nclasses: 2\ncnn1d:\n  filters: [4, 4]\n  kernel: 3\n  pool: 4\n  pooling: mean\n`;
  rejects(cnn, /^cnn1d\.pool: 4\^2 layers = 16 does not divide sequence\.steps 12/);
  rejects(
    cnn.replace("kernel: 3", "kernel: 4").replace("pool: 4", "pool: 2"),
    /^cnn1d\.kernel: 4 is not odd/,
  );
});

Deno.test("the built-in MNIST specs state a 28×28 image in [0, 1] and keep their model hash", async () => {
  const expected: Record<string, string> = {
    "mnist-mlp": "9ccbb422cc2d93fa",
    "mnist-vit": "ce432daaaafca6a6",
  };
  for (const [id, hash] of Object.entries(expected)) {
    const spec = await loadModelSpec(id);
    assert.deepEqual(spec.shape, { kind: "image", height: 28, width: 28, channels: 1 });
    assert.deepEqual(spec.norm, { range: [0, 1] });
    assert.equal(toHex(modelHash(spec)), hash, id);
  }
});

Deno.test("the model hash covers a sequence model's architecture and the input normalisation", () => {
  const base = parseModelSpec(SENSOR, "s.yaml");
  const hash = (text: string) => toHex(modelHash(parseModelSpec(text, "s.yaml")));
  assert.notEqual(hash(SENSOR.replace("pooling: cls", "pooling: mean")), toHex(modelHash(base)));
  assert.notEqual(
    hash(SENSOR.replace("std: [2, 2, 2, 1, 1, 1]", "std: [2, 2, 2, 1, 1, 2]")),
    toHex(modelHash(base)),
  );
  // The range is a check, the class names are labels: neither changes what the weights mean.
  assert.equal(hash(SENSOR.replace("range: [-20, 20]", "range: [-30, 30]")), toHex(modelHash(base)));
  assert.equal(hash(SENSOR.replace("[idle, walk, run]", "[rest, walk, run]")), toHex(modelHash(base)));
});

Deno.test("the README's example of a user's own spec is a valid spec", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("### Your own model"));
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(yaml, "README has a ```yaml block under ### Your own model");
  const spec = parseModelSpec(yaml, "README.md");
  assert.equal(spec.input, 12);
  assert.deepEqual(spec.classNames, ["idle", "walk", "run"]);
});
