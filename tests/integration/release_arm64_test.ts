/**
 * Opt-in (AGENT_TEST_ARM64=1, ~1 min): builds the aarch64 release (runtime fetched with `npm pack` and
 * checked against its pinned digests), unpacks it as an install would, and runs `agent --version` and
 * `agent init` with the shipped aarch64 Deno under qemu, with an empty DENO_DIR and `--cached-only`:
 * proof that the release runs on a 64-bit ARM board with no Deno and no internet.
 *
 * Needs (Debian): `dpkg --add-architecture arm64 && apt-get update && apt-get install -y
 * qemu-user-static libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64`, and the npm registry.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildRelease, RUN_FLAGS } from "../../src/replicate/release.ts";
import { resolveRuntime } from "../../src/replicate/runtime.ts";

const qemu = "/usr/bin/qemu-aarch64-static";
let hasQemu = false;
try {
  hasQemu = Deno.statSync(qemu).isFile;
} catch { /* not installed */ }

Deno.test({
  name: "the aarch64 release runs offline with its own Deno under qemu",
  ignore: !hasQemu || Deno.env.get("AGENT_TEST_ARM64") !== "1",
}, async () => {
  const work = await Deno.makeTempDir({ prefix: "agent-arm64-" });
  try {
    const cacheDir = join(work, "cache");
    const runtime = await resolveRuntime("aarch64", { cacheDir });
    assert.equal(runtime.source, "npm");
    const release = await buildRelease({ arch: "aarch64", runtime, cacheDir });
    const dir = join(work, "release");
    await Deno.mkdir(dir);
    for (const p of release.parts) {
      assert.ok((await new Deno.Command("tar", { args: ["-xzf", p.tarball, "-C", dir] }).output()).success);
    }
    const check = await new Deno.Command("sha256sum", {
      args: ["-c", "--quiet", "--strict", "MANIFEST"],
      cwd: dir,
    }).output();
    assert.ok(check.success, new TextDecoder().decode(check.stdout));
    const run = async (args: string[]) => {
      const out = await new Deno.Command(qemu, {
        args: [
          join(dir, "deno"),
          "run",
          ...RUN_FLAGS,
          join(dir, "app", "main.js"),
          ...args,
        ],
        env: { DENO_DIR: join(work, "deno-dir"), DENO_NO_UPDATE_CHECK: "1", HOME: work },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    const v = await run(["--version"]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^agent \d+\.\d+\.\d+/);
    const init = await run(["init", "--state", join(work, "state"), "--name", "armnode"]);
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /fingerprint [A-Z2-7]{7}-/);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
