import assert from "node:assert/strict";
import { causeChain, compileArgs, INCLUDES, PERMISSION_FLAGS, TARGETS } from "../../scripts/compile.ts";
import { stageApp } from "../../src/replicate/release.ts";
import { ROOT } from "../_support/root.ts";

Deno.test("compileArgs() compiles the release's bundle with wasm/ and models/ and the one permission list", async () => {
  const args = compileArgs("aarch64", "out");
  for (const flag of PERMISSION_FLAGS) assert.ok(args.includes(flag), flag);
  assert.deepEqual(INCLUDES, ["app/"]);
  for (const path of INCLUDES) assert.equal(args[args.indexOf(path) - 1], "--include", path);
  assert.deepEqual(args.slice(args.indexOf("--target"), args.indexOf("--target") + 2), [
    "--target",
    TARGETS.aarch64,
  ]);
  assert.equal(args.at(-1), "app/main.js");
  // The staged directory is what a release ships beside its launcher and runtime.
  const stage = await Deno.makeTempDir();
  try {
    const files = await stageApp(ROOT, stage, { cacheDir: `${stage}/cache` });
    for (const f of ["app/main.js", "app/wasm/tfjs-backend-wasm-simd.wasm", "app/models/mnist-mlp.yaml"]) {
      assert.ok(files.includes(f), f);
      await Deno.stat(`${stage}/${f}`);
    }
  } finally {
    await Deno.remove(stage, { recursive: true });
  }
  // The agent task runs with the same permissions as the binary.
  const deno = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  for (const flag of PERMISSION_FLAGS) {
    assert.ok(deno.tasks.agent.includes(flag), `deno task agent lacks ${flag}`);
  }
});

Deno.test("causeChain() extracts deno's 'Caused by' lines", () => {
  const err =
    "\x1b[31merror\x1b[0m: Writing deno compile executable\n\nCaused by:\n    0: Could not find denort at '/x'\n" +
    "    1: No such file or directory (os error 2)\n\nStack backtrace:\n   0: <unknown>\n";
  assert.deepEqual(causeChain(err), [
    "Could not find denort at '/x'",
    "No such file or directory (os error 2)",
  ]);
  assert.deepEqual(causeChain("error: boom\n"), ["error: boom"]);
});

Deno.test("deno task compile explains a DENORT_BIN that does not exist and exits 1", async () => {
  const out = await Deno.makeTempDir();
  try {
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}scripts/compile.ts`, "--target", "x86_64", "--out", out],
      cwd: ROOT,
      env: { DENORT_BIN: `${out}/missing-denort`, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 1, stderr);
    assert.match(
      stderr,
      /cannot build agent-x86_64 with DENORT_BIN=.*missing-denort: Could not find denort at/,
    );
    assert.match(
      stderr,
      /Fix: point DENORT_BIN at the denort binary of Deno 2\.9\.5 for x86_64-unknown-linux-gnu/,
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
