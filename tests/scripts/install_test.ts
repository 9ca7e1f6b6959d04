/**
 * `deno task install` puts a board's `agent` on this machine: the real release unpacked under a prefix,
 * `current` pointing at it, and an `agent` link in a bin directory that runs from any working directory
 * and resolves relative paths against it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { installPaths } from "../../scripts/install.ts";
import { ROOT } from "../_support/root.ts";
import { tempDir } from "../_support/temp_dir.ts";

async function run(cmd: string, args: string[], cwd: string) {
  const out = await new Deno.Command(cmd, { args, cwd, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("deno task install: an agent command on PATH that runs the released launcher from any directory", async () => {
  await using tmp = await tempDir("agent-install-");
  const prefix = join(tmp.path, "prefix");
  const bin = join(tmp.path, "bin");
  const install = () =>
    run(Deno.execPath(), ["task", "-q", "install", "--prefix", prefix, "--bin", bin], ROOT);
  const first = await install();
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /Installed agent release .* into /);
  const current = await Deno.realPath(join(prefix, "current"));
  assert.ok(current.startsWith(join(prefix, "releases")), current);
  assert.equal(await Deno.realPath(join(bin, "agent")), join(current, "agent"), "the link runs the launcher");

  const cwd = join(tmp.path, "elsewhere");
  await Deno.mkdir(cwd);
  const version = await run(join(bin, "agent"), ["--version"], cwd);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^agent \d+\.\d+\.\d+\n$/);
  const init = await run(join(bin, "agent"), ["init", "--state", "st", "--name", "here"], cwd);
  assert.equal(init.code, 0, init.stderr);
  assert.ok((await Deno.stat(join(cwd, "st", "agent.yaml"))).isFile, "relative --state is the caller's cwd");

  const again = await install();
  assert.equal(again.code, 0, again.stderr);
  assert.equal(await Deno.realPath(join(prefix, "current")), current, "same source, same release");

  const bad = await run(Deno.execPath(), ["task", "-q", "install", "--prefix", ""], ROOT);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^install: error: --prefix needs a non-empty value\n/);
});

Deno.test("installPaths() uses the board layout as root and the user's own directories otherwise", () => {
  assert.deepEqual(installPaths({ HOME: "/root" }, 0, {}), { prefix: "/opt/agent", bin: "/usr/local/bin" });
  assert.deepEqual(installPaths({ HOME: "/home/pi" }, 1000, {}), {
    prefix: "/home/pi/.local/share/agent",
    bin: "/home/pi/.local/bin",
  });
  assert.deepEqual(installPaths({ HOME: "/h", XDG_DATA_HOME: "/d" }, 1000, { bin: "/b" }), {
    prefix: "/d/agent",
    bin: "/b",
  });
});
