/**
 * Every subcommand of the RELEASED launcher, run at least once: a release is built from this checkout
 * once (bundle + wasm + models + launcher + runtime, exactly what `agent clone` uploads), unpacked into
 * `<prefix>/releases/<id>` with `current` pointing at it, and `<prefix>/current/agent` is run with a HOME
 * and state of its own and a clean environment. Nothing may print a stack trace or a Deno permission
 * error ("Requires run access to …", NotCapable): that is how a program missing from the launcher's
 * `--allow-run` list (issue 13: `getent`) shows up.
 *
 * `agent service install` needs root and systemd: as root with `unshare`, it runs in a private mount
 * namespace with an overlay over /etc (useradd writes there only), tmpfs over /var/lib and /opt, and
 * systemd's marker directory /run/systemd/system, so getent, useradd, chown and systemctl really run;
 * systemctl then reports that systemd is not PID 1, which the agent must say in one line. The real
 * service under real systemd is the boards test's job.
 */
import assert from "node:assert/strict";
import { COMMANDS } from "../../src/cli/mod.ts";
import { join } from "node:path";
import { buildRelease } from "../../src/replicate/release.ts";
import { hostArch, resolveRuntime } from "../../src/replicate/runtime.ts";
import { freeTcpPort, freeUdpPort } from "../../scripts/lib/cluster.ts";
import { waitFor } from "../_support/wait.ts";
import { cloneTarget, sshdAvailable, startSshd } from "../_support/sshd.ts";
import { type CommandResult, run } from "../_support/command.ts";

const dec = new TextDecoder();

/** Fails on anything that is not a one-line error: stack frames, uncaught errors, permission errors. */
function assertClean(r: CommandResult, what: string) {
  const all = `${r.stdout}\n${r.stderr}`;
  assert.doesNotMatch(all, /NotCapable|Requires \w+ access|PermissionDenied/, `${what}: permission error`);
  assert.doesNotMatch(all, /Uncaught|^\s+at .*:\d+:\d+\)?$/m, `${what}: stack trace`);
  assert.doesNotMatch(all, /Dynamic require|is not defined|Cannot find module/, `${what}: broken bundle`);
}

const isRoot = Deno.uid() === 0;

/** Root, unshare, and overlayfs over /etc inside a private mount namespace all work here. */
function namespaceWorks(): boolean {
  if (!isRoot) return false;
  let dir: string | undefined;
  try {
    dir = Deno.makeTempDirSync({ prefix: "release-nsprobe-" });
    Deno.mkdirSync(`${dir}/u`);
    Deno.mkdirSync(`${dir}/w`);
    const probe =
      `mount --make-rprivate / && mount -t overlay overlay -o lowerdir=/etc,upperdir=${dir}/u,workdir=${dir}/w /etc`;
    return new Deno.Command("unshare", { args: ["-m", "sh", "-c", probe], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  } finally {
    if (dir) Deno.removeSync(dir, { recursive: true });
  }
}
const canUnshare = namespaceWorks();

Deno.test({
  name: "every subcommand of the released launcher runs without a stack trace or a permission error",
  ignore: hostArch() === undefined,
}, async (t) => {
  const work = await Deno.makeTempDir({ prefix: "release-cli-" });
  try {
    // One release, built like 'agent clone' builds it, unpacked like the install script unpacks it.
    const cacheDir = join(work, "cache");
    const arch = hostArch()!;
    const release = await buildRelease({ arch, runtime: await resolveRuntime(arch, { cacheDir }), cacheDir });
    const prefix = join(work, "prefix");
    const dir = join(prefix, "releases", release.id);
    await Deno.mkdir(dir, { recursive: true });
    for (const p of release.parts) {
      assert.equal((await run("tar", ["-xzf", p.tarball, "-C", dir])).code, 0);
    }
    await Deno.symlink(`releases/${release.id}`, join(prefix, "current"));
    const home = join(work, "home");
    await Deno.mkdir(home);
    const env = {
      HOME: home,
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      NO_COLOR: "1",
    };
    const agentPath = join(prefix, "current", "agent");
    const agent = async (args: string[], stdin?: string): Promise<CommandResult> => {
      const r = await run(agentPath, args, { env, stdin, clearEnv: true });
      assertClean(r, `agent ${args.join(" ")}`);
      return r;
    };
    const ok = async (args: string[], stdin?: string) => {
      const r = await agent(args, stdin);
      assert.equal(r.code, 0, `agent ${args.join(" ")}: ${r.stderr}`);
      return r;
    };
    const a = join(work, "a");
    const b = join(work, "b");

    await t.step(
      "the release is a few files: runtime, launcher, the bundle and its wasm and models",
      async () => {
        const files = (await run("find", [dir, "-type", "f", "-printf", "%P\n"])).stdout.trim().split("\n")
          .sort();
        const chunks = files.filter((f) => /^app\/[^/]+\.js$/.test(f));
        // Every built-in spec of the repository's models/, and nothing else.
        const builtInSpecs = [...Deno.readDirSync(new URL("../../models/", import.meta.url))]
          .map((e) => e.name).filter((n) => n.endsWith(".yaml")).sort();
        assert.ok(chunks.includes("app/main.js"));
        assert.ok(chunks.length < 80, `${chunks.length} bundle files`);
        assert.deepEqual(files.filter((f) => !chunks.includes(f)), [
          "COMPONENTS",
          "MANIFEST",
          "agent",
          ...builtInSpecs.map((f) => `app/models/${f}`),
          "app/wasm/tfjs-backend-wasm-simd.wasm",
          "app/wasm/tfjs-backend-wasm-threaded-simd.wasm",
          "app/wasm/tfjs-backend-wasm.wasm",
          "deno",
        ]);
        assert.equal(release.fileCount, files.length);
      },
    );

    await t.step("--version, --help and every command's --help", async () => {
      assert.equal((await ok(["--version"])).stdout.trim(), "agent 0.1.0");
      const help = (await ok(["--help"])).stdout;
      const commands = [...help.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]);
      assert.deepEqual(
        commands,
        COMMANDS.map((c) => c.name),
        "every command of the source is in the release",
      );
      for (const c of commands) assert.match((await ok([c, "--help"])).stdout, new RegExp(`agent ${c}`));
      const bad = await agent(["frobnicate"]);
      assert.equal(bad.code, 2);
    });

    const gossipPort = freeUdpPort();
    const apiPort = freeTcpPort();
    await t.step("init and id (text, JSON, PNG and SVG)", async () => {
      await ok(["init", "--state", a, "--name", "alpha"]);
      await ok(["init", "--state", b, "--name", "beta"]);
      await Deno.writeTextFile(
        join(a, "agent.yaml"),
        `node:\n  name: alpha\ngossip:\n  port: ${gossipPort}\n  broadcast: 127.255.255.255\n` +
          `api:\n  listen: 127.0.0.1:${apiPort}\nlearning:\n  checkpointMs: 1000\n`,
      );
      assert.match((await ok(["id", "--state", a])).stdout, /alpha/);
      await ok(["id", "--state", a, "--png", join(work, "a.png"), "--svg", join(work, "a.svg")]);
      assert.ok((await Deno.stat(join(work, "a.png"))).size > 100);
    });

    await t.step("trust (payload, PNG, stdin), trust list, trust revoke", async () => {
      const beta = JSON.parse((await ok(["id", "--json", "--state", b])).stdout);
      await ok(["trust", beta.payload, "--yes", "--state", a]);
      await ok(["trust", join(work, "a.png"), "--yes", "--state", b]);
      const list = JSON.parse((await ok(["trust", "list", "--json", "--state", a])).stdout);
      assert.deepEqual(list.map((p: { name: string }) => p.name), ["beta"]);
      assert.match((await ok(["trust", "list", "--state", b])).stdout, /alpha/);
      await ok(["trust", "revoke", "beta", "--state", a]);
      await ok(["trust", "-", "--yes", "--force", "--state", a], beta.payload);
    });

    await t.step("doctor picks the wasm backend from the release's app/wasm/ directory", async () => {
      const r = await ok(["doctor", "--state", a]);
      assert.match(r.stdout, /backend +wasm \(SIMD/);
      assert.match(r.stdout, /model +mnist-mlp/);
      await ok(["doctor", "--state", a, "--backend", "cpu", "--json"]);
    });

    await t.step("models lists the built-in specs and a spec of the board's own", async () => {
      const spec = join(work, "sensor.yaml");
      await Deno.writeTextFile(
        spec,
        "id: sensor-mlp\nversion: 1\ndescription: a sensor\nseed: 3\nfeatures: 4\nrange: [0, 10]\n" +
          "classes: [idle, walk]\nmlp: {hidden: [8], activation: relu}\n",
      );
      const c = join(work, "c");
      await ok(["init", "--state", c, "--model", spec]);
      const models = JSON.parse((await ok(["models", "--json", "--state", c])).stdout);
      const ids = (models.models ?? models).map((m: { id: string }) => m.id);
      for (const id of ["mnist-mlp", "sensor-mlp"]) assert.ok(ids.includes(id), `${id} in ${ids}`);
      assert.match((await ok(["models", "--state", c])).stdout, /sensor-mlp/);
    });

    await t.step("infer reads rows from a file and from stdin", async () => {
      const row = JSON.stringify(Array.from({ length: 784 }, (_, i) => (i % 7) / 7));
      await Deno.writeTextFile(join(work, "rows.jsonl"), `${row}\n${row}\n`);
      assert.match((await ok(["infer", "--state", a, "--input", join(work, "rows.jsonl")])).stdout, /\d/);
      await ok(["infer", "--state", a, "--json", "--top", "1"], `${row}\n`);
    });

    await t.step("run serves its API and metrics, status reads it, SIGTERM stops it cleanly", async () => {
      const child = new Deno.Command(agentPath, {
        args: ["run", "--state", a],
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      try {
        await waitFor("the API", async () => (await fetch(`http://127.0.0.1:${apiPort}/v1/status`)).ok, {
          timeoutMs: 60_000,
        });
        const metrics = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
        assert.match(metrics, /^agent_/m);
        const st = await ok(["status", "--state", a]);
        assert.match(st.stdout, /alpha/);
        await ok(["status", "--state", a, "--json"]);
        await ok(["status", "--state", a, "--watch", "--interval", "1", "--count", "2"]);
      } finally {
        child.kill("SIGTERM");
      }
      const out = await child.output();
      const r = { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
      assertClean(r, "agent run");
      assert.equal(r.code, 0, r.stderr);
      // Stopped: status says so from the saved snapshot.
      const after = await agent(["status", "--state", a]);
      assert.match(after.stdout + after.stderr, /not running/i);
    });

    await t.step("service unit, status, install --no-start and uninstall", async () => {
      const unit = await ok(["service", "unit"]);
      assert.ok(unit.stdout.includes(`ExecStart=${prefix}/current/agent run`), unit.stdout);
      const st = await agent(["service", "status"]);
      assert.ok([0, 3].includes(st.code), st.stderr);
      const unitDir = join(work, "units");
      await ok(["service", "install", "--no-start", "--unit-dir", unitDir]);
      assert.ok(
        (await Deno.readTextFile(join(unitDir, "agent.service"))).includes("SystemCallErrorNumber=EPERM"),
      );
      await ok(["service", "uninstall", "--unit-dir", unitDir]);
    });

    await t.step({
      name: "service install as root runs getent, useradd, chown and systemctl (private mount namespace)",
      ignore: !canUnshare,
      fn: async () => {
        const ov = join(work, "overlay");
        for (const d of ["upper", "work"]) await Deno.mkdir(join(ov, d), { recursive: true });
        const script = [
          "set -e",
          "mount --make-rprivate /",
          `mount -t overlay overlay -o lowerdir=/etc,upperdir=${ov}/upper,workdir=${ov}/work /etc`,
          "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system",
          "mount -t tmpfs tmpfs /var/lib && mkdir -p /var/lib/agent",
          `exec "$0" service install --unit-dir "$1"`,
        ].join("\n");
        const r = await run("unshare", ["-m", "sh", "-c", script, agentPath, join(work, "units2")], {
          env,
          clearEnv: true,
        });
        assertClean(r, "agent service install");
        // systemd is not PID 1 here: the first systemctl call fails, said in one line.
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /^agent: error: Could not reload systemd: systemctl daemon-reload failed/m);
        // useradd ran (inside the overlay only) and chown then gave it the state directory.
        assert.match(
          await Deno.readTextFile(join(ov, "upper", "passwd")),
          /^agent:x:\d+:\d+::\/nonexistent:/m,
        );
      },
    });

    await t.step({
      name: "clone --dry-run over real SSH, and a refused connection, from the released launcher",
      ignore: !sshdAvailable(),
      fn: async () => {
        await using sshd = await startSshd();
        const flags = [
          ...cloneTarget(sshd),
          "--prefix",
          join(work, "target"),
          "--remote-state",
          join(work, "target-state"),
          "--state",
          a,
          "--no-service",
        ];
        const r = await ok(["clone", ...flags, "--dry-run"]);
        // Cloning from a release repackages the release itself: the very same id.
        assert.ok(r.stdout.includes(`release: ${release.id} (source, ${arch}`), r.stdout);
        const closed = [...flags];
        closed[closed.indexOf("--port") + 1] = String(freeTcpPort());
        const refused = await agent(["clone", ...closed, "--dry-run"]);
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /connection refused/);
      },
    });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
