import assert from "node:assert/strict";
import { cli } from "./_cli_io.ts";

Deno.test("agent doctor reports the backend and why, and passes on a fresh state directory", async () => {
  const state = await Deno.makeTempDir();
  try {
    const run = await cli(["doctor", "--state", state, "--backend", "wasm", "--json"]);
    assert.equal(run.code, 0, run.stdout);
    const report = JSON.parse(run.stdout);
    assert.equal(report.healthy, true);
    assert.equal(report.backend.name, "wasm");
    assert.equal(report.backend.simd, true);
    const names = report.checks.map((c: { name: string }) => c.name);
    for (const n of ["config", "state", "identity key", "model", "backend", "inference", "checkpoint"]) {
      assert.ok(names.includes(n), n);
    }
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("agent doctor fails on a world-readable key and on a bad config", async () => {
  const state = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${state}/identity`);
    await Deno.writeFile(`${state}/identity/ed25519.key`, new Uint8Array(32), { mode: 0o644 });
    await Deno.chmod(`${state}/identity/ed25519.key`, 0o644);
    await Deno.writeTextFile(`${state}/agent.yaml`, "model:\n  backend: tpu\n");
    const io = await cli(["doctor", "--state", state]);
    assert.equal(io.code, 1);
    assert.match(io.stdout, /FAIL {2}config +model\.backend: "tpu" is not one of auto, webgpu, wasm, cpu/);
    assert.match(
      io.stdout,
      /FAIL {2}identity key +.*mode 0644: readable by other users\n.*hint: Run: chmod 600 /,
    );
    assert.match(io.stdout, /check\(s\) failed/);

    await Deno.writeTextFile(`${state}/agent.yaml`, "model:\n  backend: auto\n");
    await Deno.chmod(`${state}/identity/ed25519.key`, 0o600);
    const ok = await cli(["doctor", "--state", state, "--backend", "cpu"]);
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /ok {4}backend +cpu: forced \(cpu\)/);
    assert.match(ok.stdout, /healthy/);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});
