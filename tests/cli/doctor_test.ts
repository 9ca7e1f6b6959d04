import assert from "node:assert/strict";
import type { Io } from "../../src/cli/command.ts";
import { runCli } from "../../src/cli/mod.ts";

function fakeIo(): Io & { out: string; err: string } {
  const io = {
    out: "",
    err: "",
    stdout: (t: string) => void (io.out += t),
    stderr: (t: string) => void (io.err += t),
    isTerminal: false,
    stdinIsTerminal: false,
    env: {},
    readLine: () => Promise.resolve(null),
    readStdin: () => Promise.resolve(new Uint8Array(0)),
  };
  return io;
}

Deno.test("agent doctor reports the backend and why, and passes on a fresh state directory", async () => {
  const state = await Deno.makeTempDir();
  try {
    const io = fakeIo();
    assert.equal(await runCli(["doctor", "--state", state, "--backend", "wasm", "--json"], io), 0);
    const report = JSON.parse(io.out);
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
    const io = fakeIo();
    assert.equal(await runCli(["doctor", "--state", state], io), 1);
    assert.match(io.out, /FAIL {2}config +model\.backend: "tpu" is not one of auto, webgpu, wasm, cpu/);
    assert.match(
      io.out,
      /FAIL {2}identity key +.*mode 0644: readable by other users\n.*hint: Run: chmod 600 /,
    );
    assert.match(io.out, /check\(s\) failed/);

    await Deno.writeTextFile(`${state}/agent.yaml`, "model:\n  backend: auto\n");
    await Deno.chmod(`${state}/identity/ed25519.key`, 0o600);
    const ok = fakeIo();
    assert.equal(await runCli(["doctor", "--state", state, "--backend", "cpu"], ok), 0);
    assert.match(ok.out, /ok {4}backend +cpu: forced \(cpu\)/);
    assert.match(ok.out, /healthy/);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});
