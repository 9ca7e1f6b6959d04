/**
 * A full SD card, for real: the state directory is a 600 KiB tmpfs (root only). A checkpoint of the
 * default model is ≈ 500 KB and a new one is written before the old one is removed, so the first one
 * fits and every later one fails with ENOSPC, as on the board of issue 13. Every failed atomic write
 * must remove its temp file, failures must back off instead of retrying every round, `/v1/status`,
 * `/metrics` and `agent doctor` must say that state cannot be saved and how much space is free, and
 * saving must resume as soon as space comes back (the tmpfs is grown, as a user would free space).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AGENT_FLAGS, agentCli, freeTcpPort, freeUdpPort, MAIN } from "../../scripts/lib/cluster.ts";
import type { StatusReport } from "../../src/api/status.ts";
import { sh } from "../_support/command.ts";
import { waitFor } from "../_support/wait.ts";

/**
 * No temp file of an atomic write stays behind: the agent may be writing one at this very moment (the
 * status every 5 s), so a file counts only if it is still there after a second.
 */
async function noTempFileLeft(dir: string): Promise<void> {
  let left: string[] = [];
  try {
    await waitFor("no temp file of an atomic write in the state directory", () => {
      left = tempFiles(dir);
      return left.length === 0;
    }, { timeoutMs: 1000 });
  } catch {
    assert.deepEqual(left, [], "temp files left behind for over a second");
  }
}

const isRoot = Deno.uid() === 0;

/** Temp files of atomic writes left in `dir` (`.<name>.tmp-<pid>-<rand>`). */
function tempFiles(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      if (e.isDirectory) visit(join(d, e.name));
      else if (/\.tmp-/.test(e.name)) out.push(join(d, e.name));
    }
  };
  visit(dir);
  return out;
}

Deno.test({
  name: "a full state filesystem: temp files removed, back-off, reported everywhere, saving resumes",
  ignore: !isRoot,
}, async () => {
  const work = await Deno.makeTempDir({ prefix: "release-fulldisk-" });
  const state = join(work, "state");
  await Deno.mkdir(state);
  await sh("mount", "-t", "tmpfs", "-o", "size=600k,mode=0700", "release-fulldisk", state);
  let child: Deno.ChildProcess | undefined;
  let pumps: Promise<void>[] = [];
  try {
    const api = `127.0.0.1:${freeTcpPort()}`;
    const init = await agentCli(["init", "--state", state, "--name", "sdcard"]);
    assert.equal(init.code, 0, init.stderr);
    await Deno.writeTextFile(
      join(state, "agent.yaml"),
      `node:\n  name: sdcard\ngossip:\n  port: ${freeUdpPort()}\n  broadcast: 127.255.255.255\n` +
        `api:\n  listen: ${api}\nlearning:\n  checkpointMs: 1000\nlogging:\n  format: json\n`,
    );
    child = new Deno.Command(Deno.execPath(), {
      args: [...AGENT_FLAGS, MAIN, "run", "--state", state],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let log = "";
    const dec = new TextDecoder();
    pumps = [child.stdout, child.stderr].map(async (s) => {
      for await (const c of s) log += dec.decode(c, { stream: true });
    });
    const status = async (): Promise<StatusReport | undefined> => {
      try {
        const r = await fetch(`http://${api}/v1/status`, { signal: AbortSignal.timeout(2000) });
        return r.ok ? await r.json() : undefined;
      } catch {
        return undefined;
      }
    };
    // Saving works: a checkpoint exists.
    await waitFor("the first checkpoint", async () => {
      for await (const e of Deno.readDir(join(state, "checkpoints"))) {
        if (e.name.endsWith(".ckpt")) return true;
      }
      return false;
    }, { timeoutMs: 60_000 });
    const before = await status();
    assert.equal(before?.storage?.ok, true, JSON.stringify(before?.storage));

    // The next checkpoint does not fit.
    const failing = await waitFor("the agent to report that it cannot save", async () => {
      const s = await status();
      return s?.storage && !s.storage.ok ? s : undefined;
    }, { timeoutMs: 30_000 });
    assert.match(failing.storage!.lastError!, /No space left on device/);
    assert.ok(failing.storage!.freeBytes! < 128 * 1024, `free ${failing.storage!.freeBytes}`);
    assert.equal(failing.storage!.totalBytes, 600 * 1024);

    // Repeated checkpoint failures back off: the gaps between attempts grow (1 s, 2 s, 4 s …) instead
    // of one attempt per 500 ms round. Each failure is logged once, with its count in a row.
    const failures = () =>
      log.split("\n").filter((l) => l.includes("Cannot save the checkpoint")).map((l) => JSON.parse(l));
    await waitFor("four failed checkpoints", () => failures().length >= 4, {
      timeoutMs: 40_000,
      everyMs: 200,
    });
    const f = failures();
    assert.deepEqual(f.slice(0, 4).map((x) => x.failingInARow), [1, 2, 3, 4]);
    const t = f.map((x) => Date.parse(x.time));
    const gaps = [t[1] - t[0], t[2] - t[1], t[3] - t[2]];
    assert.ok(gaps[0] >= 900, `first gap ${gaps[0]} ms`);
    assert.ok(gaps[1] >= 1.6 * gaps[0] && gaps[2] >= 1.6 * gaps[1], `gaps ${gaps.join(", ")} ms`);
    // Not one temp file is left, though every write failed (one being written this instant is gone
    // a moment later: waited for, not counted).
    await noTempFileLeft(state);

    // /metrics and agent doctor say it too.
    const metrics = await (await fetch(`http://${api}/metrics`)).text();
    assert.match(metrics, /^agent_state_save_ok 0$/m);
    assert.match(metrics, /^agent_state_save_failures_total [1-9]\d*$/m);
    const free = Number(metrics.match(/^agent_state_free_bytes (\d+)$/m)?.[1]);
    assert.ok(free >= 0 && free < 128 * 1024, `free ${free}`);
    const doctor = await agentCli(["doctor", "--state", state]);
    assert.equal(doctor.code, 1, doctor.stdout + doctor.stderr);
    assert.match(
      doctor.stdout,
      /FAIL +disk +state cannot be saved in .*No space left on device.*KiB free of 600 KiB/,
    );
    assert.match(
      doctor.stdout,
      /FAIL +saving +the running agent cannot save its state since .*checkpoint: No space/,
    );
    await noTempFileLeft(state); // doctor's own failed probe left nothing either

    // Space comes back: saving resumes at once, long before the next back-off step.
    const failuresBefore = failures().length;
    await sh("mount", "-o", "remount,size=4m", state);
    const freedAt = Date.now();
    await waitFor("a new checkpoint after the space came back", async () => {
      const s = await status();
      return s?.storage?.ok === true && log.includes("Saving works again");
    }, { timeoutMs: 20_000, everyMs: 100 });
    const resumeMs = Date.now() - freedAt;
    // The status snapshot is written every 5 s; the checkpoint resumes within a round or two.
    assert.ok(resumeMs < 8000, `resumed after ${resumeMs} ms`);
    assert.ok(failures().length <= failuresBefore + 1);
    await noTempFileLeft(state);

    child.kill("SIGTERM");
    const exit = await child.status;
    await Promise.all(pumps);
    child = undefined;
    assert.equal(exit.code, 0, log.slice(-2000));
    assert.doesNotMatch(log, /Uncaught|^\s+at /m);
  } finally {
    if (child) {
      child.kill("SIGKILL");
      await child.status;
    }
    await Promise.all(pumps);
    await sh("umount", state).catch(() => {});
    await Deno.remove(work, { recursive: true });
  }
});
