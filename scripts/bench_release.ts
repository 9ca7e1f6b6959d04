/**
 * `deno task bench:release [--runs N]`: the release before and after issue 13, measured in the same run.
 *
 * - **before**: the layout releases had until then, staged from this checkout: the runtime, a launcher
 *   running `src/main.ts` with `--config deno.json --node-modules-dir=manual`, and the app tree
 *   (`deno.json`, `deno.lock`, `src/`, `models/`, `node_modules/` without source maps and `.d.ts`).
 * - **after**: the release `agent clone` builds now (buildRelease): runtime, launcher, `app/` (bundle,
 *   `wasm/`, `models/`).
 *
 * For each: files, MiB unpacked and gzip'd, the cold start (first run, empty DENO_DIR) and warm start
 * (median of N runs) of `agent --version` and `agent status` (no agent running: it reads the config
 * and says so), and, as root with sshd, the time to send the gzip'd release over SSH on loopback and
 * unpack it there. Prints a Markdown table.
 *
 * `deno task bench:release --memory` instead measures the resident memory of the released agent per
 * phase (idle, training, flood; scripts/lib/release_memory.ts): three paired agents run by the release's
 * launcher, once with the service environment of the unit before the memory work and once with today's
 * (`SERVICE_ENV` in src/systemd/unit.ts), one after the other in the same run.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { buildRelease } from "../src/replicate/release.ts";
import { RUN_FLAGS } from "../src/replicate/launcher.ts";
import { hostArch, resolveRuntime } from "../src/replicate/runtime.ts";
import { sshdAvailable, startSshd } from "../tests/_support/sshd.ts";
import { measureReleaseMemory } from "./lib/release_memory.ts";
import { PREVIOUS_SERVICE_ENV, SERVICE_ENV } from "../src/systemd/unit.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const dec = new TextDecoder();

async function sh(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const out = await new Deno.Command(cmd, { args, ...opts, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** Files and bytes under `dir` (regular files; symlinks not followed). */
async function tally(dir: string): Promise<{ files: number; bytes: number }> {
  const out = await sh("find", [dir, "-type", "f", "-printf", "%s\n"]);
  const sizes = out.trim().split("\n").filter((l) => l).map(Number);
  return { files: sizes.length, bytes: sizes.reduce((a, b) => a + b, 0) };
}

/** The launcher of the releases before issue 13 (runs the source tree with its node_modules). */
function oldLauncher(): string {
  const flags = RUN_FLAGS.filter((f) => !["--no-config", "--no-lock", "--no-remote", "--no-npm"].includes(f));
  return `#!/bin/sh
set -e
here=$(dirname "$(readlink -f "$0")")
export DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 AGENT_RELEASE_DIR="$here"
exec "$here/deno" run ${
    [...flags, "--frozen", "--node-modules-dir=manual"].join(" ")
  } --config "$here/deno.json" "$here/src/main.ts" "$@"
`;
}

async function stageOld(dir: string, runtime: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const f of ["deno.json", "deno.lock", "src", "models"]) await sh("cp", ["-a", join(ROOT, f), dir]);
  await sh("cp", ["-al", join(ROOT, "node_modules"), dir]);
  await sh("find", [
    join(dir, "node_modules"),
    "-type",
    "f",
    "(",
    "-name",
    "*.map",
    "-o",
    "-name",
    "*.d.ts",
    "-o",
    "-name",
    "*.d.mts",
    "-o",
    "-name",
    "*.d.cts",
    ")",
    "-delete",
  ]);
  await Deno.copyFile(runtime, join(dir, "deno"));
  await Deno.chmod(join(dir, "deno"), 0o755);
  await Deno.writeTextFile(join(dir, "agent"), oldLauncher(), { mode: 0o755 });
  await Deno.chmod(join(dir, "agent"), 0o755);
}

/** Wall-clock and CPU (user + system) milliseconds of one run, from GNU time (CPU time is what load from other processes disturbs least). */
async function timeRun(
  agent: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ wall: number; cpu: number }> {
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "TIME %e %U %S", agent, ...args],
    env,
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).output();
  const err = dec.decode(out.stderr);
  if (/Uncaught|NotCapable|error: (?!.*not running)/.test(err)) {
    throw new Error(`${agent} ${args.join(" ")}: ${err}`);
  }
  const m = err.match(/TIME ([\d.]+) ([\d.]+) ([\d.]+)/);
  if (!m) throw new Error(`no timing from /usr/bin/time: ${err}`);
  return { wall: Number(m[1]) * 1000, cpu: (Number(m[2]) + Number(m[3])) * 1000 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

/** `--memory`: RSS per phase of the released agent under the previous and today's service environment. */
async function benchMemory(launcher: string, id: string, runs: number, samples: number): Promise<void> {
  const settings = [
    { name: "before: previous unit environment", env: PREVIOUS_SERVICE_ENV },
    { name: "after: today's unit environment", env: SERVICE_ENV },
  ];
  const rows: string[][] = [];
  for (let r = 0; r < runs; r++) {
    for (const s of settings) {
      const m = await measureReleaseMemory({ launcher, env: { ...s.env }, samplesPerAgent: samples });
      rows.push([
        s.name,
        Object.entries(s.env).map(([k, v]) => `${k}=${v}`).join(" "),
        mib(m.peak.idle),
        mib(m.peak.training),
        mib(m.peak.flood),
        `${mib(m.anonymous)} + ${mib(m.file)}`,
        `${m.accuracy.toFixed(3)} @ ${m.rounds}`,
        m.junk.toLocaleString("en-US"),
      ]);
      console.error(`bench:release --memory: ${rows.at(-1)!.join(" | ")}`);
    }
  }
  console.log(
    `release ${id}: 3 paired agents through the released launcher on loopback, ${
      samples.toLocaleString("en-US")
    } MNIST samples each ` +
      `posted to /v1/samples, 30 s of training, 5 s of junk datagrams; peak VmRSS of the worst agent per ` +
      `phase; load average ${Deno.loadavg().map((x) => x.toFixed(1)).join(" ")}\n`,
  );
  const head = [
    "setting",
    "environment",
    "idle",
    "training",
    "flood",
    "anonymous + file after training",
    "worst accuracy @ rounds",
    "junk datagrams",
  ];
  console.log(`| ${head.join(" | ")} |`);
  console.log(`| ${head.map((_, i) => (i < 2 ? "---" : "---:")).join(" | ")} |`);
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "5" },
      memory: { type: "boolean", default: false },
      samples: { type: "string", default: "1500" },
    },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    console.error(`bench:release: --runs must be a positive integer, got ${JSON.stringify(values.runs)}`);
    Deno.exit(2);
  }
  const samples = Number(values.samples);
  if (!Number.isInteger(samples) || samples < 1 || samples > 2666) {
    console.error(
      `bench:release: --samples must be an integer from 1 to 2666 (MNIST rows posted to each of 3 agents, from 8,000), got ${
        JSON.stringify(values.samples)
      }`,
    );
    Deno.exit(2);
  }
  const arch = hostArch();
  if (!arch) {
    console.error("bench:release: runs on Linux x86_64 or aarch64 only");
    Deno.exit(2);
  }
  const work = await Deno.makeTempDir({ prefix: "release-bench-" });
  try {
    const cacheDir = join(work, "cache");
    const runtime = await resolveRuntime(arch, { cacheDir });
    const t0 = performance.now();
    const release = await buildRelease({ arch, runtime, cacheDir });
    const buildMs = performance.now() - t0;
    const newDir = join(work, "after");
    await Deno.mkdir(newDir);
    for (const p of release.parts) await sh("tar", ["-xzf", p.tarball, "-C", newDir]);
    if (values.memory) {
      await benchMemory(join(newDir, "agent"), release.id, runs, samples);
      Deno.exit(0);
    }
    const oldDir = join(work, "before");
    await stageOld(oldDir, runtime.path);
    const oldTgz = join(work, "before.tar.gz");
    await sh("tar", ["-czf", oldTgz, "-C", oldDir, "."]);
    const newTgz = join(work, "after.tar.gz");
    await sh("tar", ["-czf", newTgz, "-C", newDir, "."]);

    const layouts = [
      { name: "before (source tree + node_modules)", dir: oldDir, tgz: oldTgz },
      { name: "after (bundle + wasm + models)", dir: newDir, tgz: newTgz },
    ];
    const state = join(work, "state");
    const rows: string[][] = [];
    let sshd: Awaited<ReturnType<typeof startSshd>> | undefined;
    if (Deno.uid() === 0 && sshdAvailable()) sshd = await startSshd();
    try {
      for (const l of layouts) {
        const { files, bytes } = await tally(l.dir);
        const gz = (await Deno.stat(l.tgz)).size;
        const agent = join(l.dir, "agent");
        const cells: string[] = [l.name, files.toLocaleString("en-US"), mib(bytes), mib(gz)];
        for (const args of [["--version"], ["status", "--state", state]]) {
          const denoDir = join(work, `deno-dir-${crypto.randomUUID()}`);
          const env = { HOME: work, PATH: "/usr/bin:/bin:/usr/sbin:/sbin", DENO_DIR: denoDir, NO_COLOR: "1" };
          const cold = await timeRun(agent, args, env);
          const warm: { wall: number; cpu: number }[] = [];
          for (let i = 0; i < runs; i++) warm.push(await timeRun(agent, args, env));
          const w = median(warm.map((x) => x.wall)), c = median(warm.map((x) => x.cpu));
          cells.push(
            `${Math.round(cold.wall)} (${Math.round(cold.cpu)}) / ${Math.round(w)} (${Math.round(c)}) ms`,
          );
        }
        if (sshd) {
          const target = join(work, `target-${l.dir === oldDir ? "before" : "after"}`);
          const ssh = (cmd: string) => [
            "-F",
            "/dev/null",
            "-i",
            sshd!.clientKey,
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            `UserKnownHostsFile=${sshd!.knownHosts}`,
            "-o",
            "StrictHostKeyChecking=yes",
            "-p",
            String(sshd!.port),
            `${sshd!.user}@${sshd!.host}`,
            cmd,
          ];
          const t = performance.now();
          await sh("sh", [
            "-c",
            `ssh "$@" < ${l.tgz}`,
            "ssh",
            ...ssh(
              `mkdir -p ${target} && cat > ${target}.tgz && tar -xzf ${target}.tgz -C ${target} && sync`,
            ),
          ]);
          cells.push(`${((performance.now() - t) / 1000).toFixed(2)} s`);
        } else {
          cells.push("(needs root and sshd)");
        }
        rows.push(cells);
      }
    } finally {
      await sshd?.[Symbol.asyncDispose]();
    }
    console.log(
      `release ${release.id} for ${arch}, built from this checkout in ${(buildMs / 1000).toFixed(1)} s ` +
        `(bundle included); start times: cold (empty DENO_DIR) / warm (median of ${runs}), wall-clock ms ` +
        `with CPU ms (user + system) in brackets; load average ${
          Deno.loadavg().map((x) => x.toFixed(1)).join(" ")
        }\n`,
    );
    const head = [
      "layout",
      "files",
      "unpacked",
      "gzip'd",
      "`agent --version`",
      "`agent status`",
      "ssh upload + unpack (loopback)",
    ];
    console.log(`| ${head.join(" | ")} |`);
    console.log(`| ${head.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`);
    for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}
