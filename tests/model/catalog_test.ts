import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import { installSpecFile, listKnownSpecs, modelHash, resolveModelSpec, toHex } from "../../src/model/mod.ts";
import { SENSOR_SPEC } from "../_support/sensor_spec.ts";

async function withDirs(f: (outside: string, state: string) => Promise<void>) {
  // The spec lives outside the repository, in a directory of its own.
  const outside = await Deno.makeTempDir({ prefix: "model-spec-" });
  const state = await Deno.makeTempDir({ prefix: "model-state-" });
  try {
    await f(outside, state);
  } finally {
    await Deno.remove(outside, { recursive: true });
    await Deno.remove(state, { recursive: true });
  }
}

Deno.test("resolveModelSpec() loads model.spec from a path outside the repo and copies it into the state", async () => {
  await withDirs(async (outside, state) => {
    await Deno.writeTextFile(`${outside}/my.yaml`, SENSOR_SPEC);
    const models = `${state}/models`;
    const known = await resolveModelSpec({ id: "mnist-mlp", spec: `${outside}/my.yaml` }, models);
    assert.equal(known.spec.id, "sensor-mlp");
    assert.equal(known.origin, "local");
    assert.equal(await Deno.readTextFile(`${models}/sensor-mlp.yaml`), SENSOR_SPEC);
    // The file is gone (e.g. on a cloned board): the state's copy is used by id.
    await Deno.remove(`${outside}/my.yaml`);
    const again = await resolveModelSpec({ id: "sensor-mlp", spec: `${outside}/my.yaml` }, models);
    assert.equal(toHex(modelHash(again.spec)), toHex(modelHash(known.spec)));
    // And by id alone.
    assert.equal((await resolveModelSpec({ id: "sensor-mlp" }, models)).origin, "local");
    assert.equal((await resolveModelSpec({ id: "mnist-vit" }, models)).origin, "built-in");
  });
});

Deno.test("resolveModelSpec() names a missing spec file, and an unknown id with the known ones", async () => {
  await withDirs(async (outside, state) => {
    await assert.rejects(
      () => resolveModelSpec({ id: "x", spec: `${outside}/nope.yaml` }, `${state}/models`),
      (e: unknown) =>
        e instanceof UsageError && /Model spec file ".*nope\.yaml" does not exist/.test(e.message),
    );
    await assert.rejects(
      () => resolveModelSpec({ id: "sensor-mlp" }, `${state}/models`),
      (e: unknown) =>
        e instanceof UsageError && /Unknown model "sensor-mlp"/.test(e.message) &&
        /Known models: mnist-mlp, mnist-vit/.test(e.hint ?? ""),
    );
  });
});

Deno.test("installSpecFile() refuses a spec that reuses a built-in id with other content", async () => {
  await withDirs(async (outside, state) => {
    await Deno.writeTextFile(`${outside}/fake.yaml`, SENSOR_SPEC.replace("id: sensor-mlp", "id: mnist-mlp"));
    await assert.rejects(
      () => installSpecFile(`${outside}/fake.yaml`, `${state}/models`),
      (e: unknown) =>
        e instanceof UsageError && /uses the id "mnist-mlp" of a built-in model/.test(e.message),
    );
    await assert.rejects(() => Deno.stat(`${state}/models`), Deno.errors.NotFound);
  });
});

Deno.test("listKnownSpecs() lists the built-in specs and the board's own", async () => {
  await withDirs(async (outside, state) => {
    await Deno.writeTextFile(`${outside}/my.yaml`, SENSOR_SPEC);
    await installSpecFile(`${outside}/my.yaml`, `${state}/models`);
    const known = await listKnownSpecs(`${state}/models`);
    const ids = known.map((k) => `${k.spec.id}:${k.origin}`);
    assert.ok(ids.includes("mnist-mlp:built-in") && ids.includes("seq-mnist-transformer:built-in"));
    assert.equal(ids.at(-1), "sensor-mlp:local");
  });
});
