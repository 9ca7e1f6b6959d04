import assert from "node:assert/strict";
import { cli } from "../_support/cli.ts";
import { snapshotTree } from "../_support/tree_snapshot.ts";
import { withTempDir } from "../_support/temp_dir.ts";
import { SENSOR_SPEC } from "../_support/sensor_spec.ts";

Deno.test("agent init --model PATH copies a spec from outside the repo into the state and uses its id", () =>
  withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/specs`);
    await Deno.writeTextFile(`${dir}/specs/sensor.yaml`, SENSOR_SPEC);
    const state = `${dir}/state`;
    const r = await cli(["init", "--state", state, "--model", `${dir}/specs/sensor.yaml`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(`${state}/models/sensor-mlp.yaml`), SENSOR_SPEC);
    const config = await Deno.readTextFile(`${state}/agent.yaml`);
    assert.match(config, /^ {2}id: sensor-mlp$/m);
    assert.match(config, new RegExp(`^  spec: ${dir}/specs/sensor\\.yaml$`, "m"));
    // A second run with the same spec changes nothing.
    const before = await snapshotTree(state);
    const again = await cli(["init", "--state", state, "--model", `${dir}/specs/sensor.yaml`]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await snapshotTree(state), before);
  }, "model-cli-"));

Deno.test("agent init refuses an unknown model id with the known ones (exit 2, nothing written)", () =>
  withTempDir(async (dir) => {
    const state = `${dir}/state`;
    const r = await cli(["init", "--state", state, "--model", "sensor-mlp"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^agent: error: Unknown model "sensor-mlp"/);
    assert.match(
      r.stderr,
      /hint: Known models: mnist-mlp, mnist-vit, seq-mnist-cnn, seq-mnist-transformer, weather-cnn/,
    );
    await assert.rejects(() => Deno.stat(state), Deno.errors.NotFound);
    const bad = await cli(["init", "--state", state, "--model", `${dir}/missing.yaml`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Model spec file ".*missing\.yaml" does not exist/);
    await Deno.writeTextFile(`${dir}/broken.yaml`, SENSOR_SPEC.replace("features: 12", "features: twelve"));
    const broken = await cli(["init", "--state", state, "--model", `${dir}/broken.yaml`]);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /features: "twelve" is not an integer \(.*broken\.yaml line 5\)/);
    await assert.rejects(() => Deno.stat(state), Deno.errors.NotFound);
    const ok = await cli(["init", "--state", state, "--model", "weather-mlp"]);
    assert.equal(ok.code, 0, ok.stderr);
  }, "model-cli-"));

Deno.test("agent models lists built-in and local specs with shape, range, classes and hash", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/sensor.yaml`, SENSOR_SPEC);
    const state = `${dir}/state`;
    assert.equal((await cli(["init", "--state", state, "--model", `${dir}/sensor.yaml`])).code, 0);
    const text = await cli(["models", "--state", state]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split("\n");
    assert.match(lines[0], /^ID +VERSION +KIND +PARAMS +INPUT +CLASSES +HASH +ORIGIN$/);
    assert.match(
      text.stdout,
      /^mnist-mlp +1 +mlp +25,450 +28×28×1 image, range \[0, 1\] +10 +9ccbb422cc2d93fa +built-in$/m,
    );
    assert.match(
      text.stdout,
      /^seq-mnist-transformer +1 +transformer +[\d,]+ +28 steps × 28 channels, range \[0, 1\]/m,
    );
    assert.match(
      text.stdout,
      /^sensor-mlp +1 +mlp +259 +12 features, range \[-10, 10\] +idle walk run +[0-9a-f]{16} +local$/m,
    );
    const json = await cli(["models", "--state", state, "--json"]);
    const rows = JSON.parse(json.stdout) as {
      id: string;
      origin: string;
      classes: unknown;
      input: unknown;
    }[];
    const sensor = rows.find((r) => r.id === "sensor-mlp")!;
    assert.equal(sensor.origin, "local");
    assert.deepEqual(sensor.classes, ["idle", "walk", "run"]);
    assert.deepEqual(sensor.input, { kind: "features", features: 12, values: 12, range: [-10, 10] });
  }, "model-cli-"));
