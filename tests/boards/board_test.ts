/**
 * Real boards: three Debian bookworm containers with systemd as PID 1 and sshd on a bridge of their
 * own (scripts/lib/boards.ts), and the agent installed on them exactly as a user does it from a
 * checkout: `deno task agent clone root@<board>` with an ssh key and a pinned known_hosts. Then, on
 * the released launcher under the hardened unit: hardening in force, pairing, learning together over
 * real UDP subnet broadcast, memory per phase, junk datagrams, `kill -9`, reboot, status, journal,
 * uninstall, and the SIGSYS trap of systemd 252.
 *
 * Needs root, systemd-nspawn (systemd-container), mmdebstrap, openssh-client and curl; skipped with
 * the reason otherwise, except under CI=true, where a missing piece is a failure.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { agentCli } from "../../scripts/lib/cluster.ts";
import { type Board, BoardFleet, boardsUnavailable, ensureRootfs } from "../../scripts/lib/boards.ts";
import { loadMnist, subset } from "../../src/sim/mnist.ts";
import { parseSplit, splitIndices } from "../../src/learn/split.ts";
import { sampleToJsonl } from "../../src/learn/data.ts";
import { MEMORY_HIGH, MEMORY_MAX } from "../../src/systemd/unit.ts";
import {
  fleetSsh,
  mib,
  postSamples,
  PREFIX,
  procStatus,
  RssSampler,
  status,
  unitProps,
} from "../_support/board_agent.ts";
import { waitFor } from "../_support/wait.ts";

const BOARDS = 3;
const TARGET = 0.9;
/**
 * Accuracy a restarted agent must be back at within two minutes. (Measured: after `kill -9` the first
 * evaluation is at the checkpoint's accuracy, 0.91–0.923; after a reboot the first two, ≈ 4 s, were
 * 0.39–0.69, then ≥ 0.87.)
 */
const RECOVERED = 0.8;
const GOSSIP_PORT = 41234;
const TEST_SET = "/srv/agent-data/test.jsonl";

const unavailable = boardsUnavailable() ?? (await hasCurl() ? undefined : "missing curl");
if (unavailable) {
  console.warn(`board test skipped: ${unavailable} (deno task test installs what it needs when run as root)`);
}

async function hasCurl(): Promise<boolean> {
  try {
    return (await new Deno.Command("curl", { args: ["--version"], stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

const t0 = Date.now();
const log = (line: string) =>
  console.log(`[boards +${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${line}`);

/** Bytes from systemd's size notation ("256M"). */
function bytesOf(size: string): number {
  const m = /^(\d+)([KMG]?)$/.exec(size)!;
  return Number(m[1]) * ({ "": 1, K: 1024, M: 1048576, G: 1073741824 }[m[2]] as number);
}

/**
 * Waits until the board's served model is back at the target after a restart (the caller checks the
 * rounds resumed); returns what happened on the way, for the log.
 */
async function recovered(b: Board, since: number): Promise<string> {
  const seen: number[] = [];
  const s = await waitFor(
    `${b.name} back at ${RECOVERED} accuracy after the restart (seen ${seen})`,
    async () => {
      const s = await status(b);
      if (s?.accuracy != null) seen.push(s.accuracy);
      return s && s.accuracy !== null && s.accuracy >= RECOVERED ? s : undefined;
    },
    { timeoutMs: 120_000, everyMs: 1000 },
  );
  return `accuracy ${seen.join(" → ")} (${
    ((Date.now() - since) / 1000).toFixed(1)
  } s after the restart, round ${s.rounds})`;
}

Deno.test({
  name:
    "agent clone to three systemd boards: hardened service, paired, learning together, survives kill -9 and reboot",
  ignore: unavailable !== undefined && Deno.env.get("CI") !== "true",
}, async (t) => {
  if (unavailable) throw new Error(`CI=true but the board test cannot run: ${unavailable}`);
  const rootfs = await ensureRootfs({ log });

  // Every board's private digits (a different Dirichlet(0.5) shard each) and a shared test set.
  const { train, test } = await loadMnist(1);
  const shards = splitIndices(train.y, BOARDS, parseSplit("dirichlet:0.5"), 7)
    .map((idx) => subset(train, idx));
  const testRows = subset(test, Array.from({ length: Math.min(1000, test.count) }, (_, i) => i));
  let testJsonl = "";
  for (let i = 0; i < testRows.count; i++) {
    testJsonl += sampleToJsonl(
      Array.from(testRows.x.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 1e4) / 1e4),
      testRows.y[i],
    );
  }

  const bootStarted = Date.now();
  await using fleet = await BoardFleet.start({
    count: BOARDS,
    rootfs,
    log,
    files: () => ({ [TEST_SET.slice(1)]: testJsonl }),
  });
  const bootS = (Date.now() - bootStarted) / 1000;
  const boards = fleet.boards;
  const work = await Deno.makeTempDir({ prefix: "agb-local-" });
  const sampler = new RssSampler(boards);
  const limits: string[] = [];
  const cloneTimes: number[] = [];
  sampler.onNewPid = async (b, pid) => {
    const cg = await b.confineMemory(pid, bytesOf(MEMORY_MAX), bytesOf(MEMORY_HIGH));
    if (cg && !limits.includes(cg)) limits.push(cg);
  };
  try {
    // This machine's agent: its config travels to every board with `agent clone`.
    const local = join(work, "state");
    await Deno.mkdir(local, { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(
      join(local, "agent.yaml"),
      [
        "node:\n  name: laptop",
        `data:\n  test: ${TEST_SET}`,
        `gossip:\n  port: ${GOSSIP_PORT}\n  broadcast: ${fleet.broadcast}\n  intervalMs: 500\n  peerTimeoutMs: 5000`,
        "learning:\n  roundMs: 200\n  checkpointMs: 5000",
        "logging:\n  level: info\n  format: json\n",
      ].join("\n"),
    );
    const agent = async (args: string[]) => {
      const r = await agentCli([...args, "--state", local]);
      assert.equal(r.code, 0, `agent ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    await agent(["id"]); // makes this machine's identity
    const clone = async (b: Board) => {
      const started = Date.now();
      const out = await agent([
        "clone",
        `root@${b.ip}`,
        ...fleetSsh(fleet),
        "--json",
      ]);
      return { report: JSON.parse(out), seconds: (Date.now() - started) / 1000 };
    };

    await t.step(
      "agent clone root@board installs and starts the hardened service on each board",
      async () => {
        for (const b of boards) {
          const { report, seconds } = await clone(b);
          cloneTimes.push(seconds);
          log(`clone ${b.name}: ${seconds.toFixed(1)} s, ${report.action}, service ${report.service}`);
          assert.equal(report.service, "started");
          assert.equal((await b.exec(["systemctl", "is-enabled", "agent"])).stdout.trim(), "enabled");
          await waitFor(
            `agent.service active on ${b.name}`,
            async () => (await b.exec(["systemctl", "is-active", "agent"])).stdout.trim() === "active",
            { timeoutMs: 30_000 },
          );
        }
      },
    );

    const ids: { name: string; fingerprint: string }[] = [];
    await t.step("a second clone completes the mesh: every board trusts every other", async () => {
      for (const b of boards) ids.push(JSON.parse(await b.sh(`${PREFIX}/current/agent id --json`)));
      const trusts = async (b: Board) =>
        (JSON.parse(await b.sh(`${PREFIX}/current/agent trust list --json`)) as { fingerprint: string }[])
          .map((e) => e.fingerprint);
      // One pass pairs each board with this machine and with the boards cloned before it only.
      assert.ok(!(await trusts(boards[0])).includes(ids[1].fingerprint), "board 1 learns of board 2 later");
      for (const b of boards.slice(0, -1)) {
        const { report, seconds } = await clone(b);
        log(
          `re-clone ${b.name}: ${
            seconds.toFixed(1)
          } s, ${report.action}, trust +${report.trustAdded.onChild.length}`,
        );
      }
      for (const [i, b] of boards.entries()) {
        const has = await trusts(b);
        for (const [j, other] of ids.entries()) {
          if (i !== j) assert.ok(has.includes(other.fingerprint), `${b.name} trusts ${other.name}`);
        }
      }
    });

    await t.step(
      "the unit runs with its hardening in force (systemctl show, /proc/<MainPID>/status)",
      async () => {
        for (const b of boards) {
          const p = await unitProps(b, [
            "NoNewPrivileges",
            "User",
            "SystemCallErrorNumber",
            "SystemCallArchitectures",
            "MemoryMax",
            "MemoryHigh",
            "ProtectSystem",
            "MainPID",
            "PrivateUsers",
          ]);
          assert.equal(p.NoNewPrivileges, "yes");
          assert.equal(p.User, "agent");
          assert.equal(p.ProtectSystem, "strict");
          assert.match(p.SystemCallErrorNumber, /^(1|EPERM)$/, "SystemCallErrorNumber=EPERM (SIGSYS trap)");
          assert.equal(Number(p.MemoryMax), bytesOf(MEMORY_MAX));
          assert.equal(Number(p.MemoryHigh), bytesOf(MEMORY_HIGH));
          const st = await procStatus(b, Number(p.MainPID));
          assert.equal(st.Seccomp, "2", "seccomp filter mode");
          assert.equal(st.NoNewPrivs, "1");
          assert.notEqual(st.Uid.split(/\s+/)[0], "0", "not root");
          assert.equal(st.CapEff, "0000000000000000");
        }
      },
    );

    await t.step(
      "idle, then each board learns its own shard; together all reach 90% held-out accuracy",
      async () => {
        sampler.phase = "idle";
        await waitFor("every agent's API and a few heartbeats", async () => {
          const all = await Promise.all(boards.map(status));
          return all.every((s) => s && s.gossip.datagramsOut >= 6);
        }, { timeoutMs: 60_000 });
        // The idle phase lasts until every board's memory was sampled in it.
        await waitFor(
          "idle memory of every board",
          () => boards.every((b) => sampler.peak.get(b.name)?.has("idle")),
          { timeoutMs: 30_000 },
        );
        sampler.phase = "training";
        const started = Date.now();
        await Promise.all(boards.map((b, i) => postSamples(b, shards[i])));
        log(
          `posted ${shards.map((s) => s.count).join(" + ")} samples in ${
            ((Date.now() - started) / 1000).toFixed(1)
          } s`,
        );
        let last: string[] = [];
        await waitFor(`≥ ${TARGET} held-out accuracy on every board (last: ${last})`, async () => {
          const all = await Promise.all(boards.map(status));
          last = all.map((s) => `${s?.node.name}: ${s?.accuracy} @${s?.rounds}`);
          return all.every((s) => s && s.accuracy !== null && s.accuracy >= TARGET);
        }, { timeoutMs: 240_000, everyMs: 1000 });
        log(`all ≥ ${TARGET} after ${((Date.now() - started) / 1000).toFixed(1)} s: ${last.join(", ")}`);
        const all = await Promise.all(boards.map(status));
        for (const s of all) {
          assert.equal(
            s!.peers.filter((p) => p.alive).length,
            BOARDS - 1,
            `${s!.node.name} hears both peers`,
          );
        }
        // A board that joined after the others continues their round count (their Hellos), not a count
        // read from message stamps: a peer restarted from its checkpoint continues those 65,536 further on.
        const rounds = all.map((s) => s!.rounds);
        assert.ok(Math.max(...rounds) - Math.min(...rounds) < 1000, `round counts ${rounds.join(", ")}`);
      },
    );

    await t.step(
      "a flood of junk datagrams is counted, dropped, costs no memory and lets peers' updates through",
      async () => {
        // Peers' datagrams accepted per second without a flood, over as long as the flood lasts.
        const quiet = await Promise.all(boards.map(status));
        const quietStarted = Date.now();
        await waitFor("5 s of quiet gossip", () => Date.now() - quietStarted >= 5000, { everyMs: 250 });
        sampler.phase = "flood";
        const before = await Promise.all(boards.map(status));
        const quietRate = before.map((s, i) =>
          (s!.gossip.accepted - quiet[i]!.gossip.accepted) / ((Date.now() - quietStarted) / 1000)
        );
        const floodStarted = Date.now();
        const sock = Deno.listenDatagram({ transport: "udp", hostname: `${fleet.net}.1`, port: 0 });
        const buf = new Uint8Array(1232);
        let sent = 0;
        const end = Date.now() + 5000;
        try {
          while (Date.now() < end) {
            for (const b of boards) {
              crypto.getRandomValues(buf);
              await sock.send(buf.subarray(0, 1 + (buf[0] << 2) % 1232), {
                transport: "udp",
                hostname: b.ip,
                port: GOSSIP_PORT,
              });
              sent++;
            }
          }
        } finally {
          sock.close();
        }
        const after = await waitFor("status after the flood", async () => {
          const all = await Promise.all(boards.map(status));
          return all.every((s) => s) ? all : undefined;
        }, { timeoutMs: 30_000 });
        const floodRate = after.map((s, i) =>
          (s!.gossip.accepted - before[i]!.gossip.accepted) / ((Date.now() - floodStarted) / 1000)
        );
        const rejected = (r: Record<string, number>) => Object.values(r).reduce((a, v) => a + v, 0);
        log(
          `flood: ${sent} junk datagrams in 5 s; ${
            after.map((s, i) =>
              `${s!.node.name}: ${before[i]!.accuracy} → ${s!.accuracy} @${before[i]!.rounds}→${s!.rounds}, ${
                rejected(s!.gossip.rejected) - rejected(before[i]!.gossip.rejected)
              } rejected, peers' datagrams accepted ${floodRate[i].toFixed(1)}/s (quiet ${
                quietRate[i].toFixed(1)
              }/s)`
            ).join("; ")
          }`,
        );
        for (const [i, s] of after.entries()) {
          assert.ok(rejected(s!.gossip.rejected) > rejected(before[i]!.gossip.rejected), "junk counted");
          assert.ok(
            floodRate[i] >= quietRate[i] / 3,
            `${s!.node.name} accepted its peers' datagrams at ${
              floodRate[i].toFixed(1)
            }/s during the flood, ${quietRate[i].toFixed(1)}/s without`,
          );
        }
        // Just after the boards first reach the target their held-out accuracy still wanders: measured at
        // 0.7 s intervals over 6 s *without* a flood, a board went 0.916 → 0.888; beside floods one read
        // 0.853 and a CI run 0.875 straight after one, while peers' datagrams were still accepted at 0.7 of
        // the quiet rate (9.3–10.7/s against 13.5/s; the check above allows down to a third). So the flood
        // is judged by what it does to gossip and by what follows it: learning goes on, every board at target.
        const settled = await waitFor(`every board at ${TARGET} after the flood`, async () => {
          const all = await Promise.all(boards.map(status));
          const seen = all.map((s) => `${s?.node.name}: ${s?.accuracy} @${s?.rounds}`).join(", ");
          const done = all.every((s, i) =>
            s && s.accuracy !== null && s.accuracy >= TARGET && s.rounds > after[i]!.rounds
          );
          if (!done) throw new Error(`last: ${seen}`);
          return seen;
        }, { timeoutMs: 60_000, everyMs: 1000 });
        log(`after the flood: ${settled}`);
        sampler.phase = "after";
      },
    );

    await t.step(
      "kill -9 of the main process: systemd restarts it and it resumes from its checkpoint",
      async () => {
        const b = boards[1];
        const history: { at: number; rounds: number }[] = [];
        await waitFor("7 s of rounds", async () => {
          const s = await status(b);
          if (s) history.push({ at: Date.now(), rounds: s.rounds });
          return history.length > 1 && history.at(-1)!.at - history[0].at >= 7000;
        }, { timeoutMs: 60_000, everyMs: 500 });
        // Checkpoints every 5 s: what was reached 6 s before the kill is on disk.
        const killAt = Date.now();
        const saved = history.filter((h) => h.at <= killAt - 6000).at(-1)!.rounds;
        const before = await unitProps(b, ["MainPID", "NRestarts"]);
        await b.sh(`kill -9 ${before.MainPID}`);
        const after = await waitFor("a restarted agent answering", async () => {
          const p = await unitProps(b, ["MainPID", "NRestarts", "ActiveState"]);
          if (p.MainPID === before.MainPID || p.ActiveState !== "active") return undefined;
          const s = await status(b);
          return s && s.pid !== Number(before.MainPID) ? { p, s } : undefined;
        }, { timeoutMs: 60_000, everyMs: 300 });
        log(
          `kill -9: back in ${
            ((Date.now() - killAt) / 1000).toFixed(1)
          } s at round ${after.s.rounds} (saved ≥ ${saved})`,
        );
        assert.equal(Number(after.p.NRestarts), Number(before.NRestarts) + 1);
        assert.ok(after.s.rounds >= saved && saved > 0, `rounds ${after.s.rounds} ≥ checkpointed ${saved}`);
        log(`kill -9: ${await recovered(b, killAt)}`);
      },
    );

    await t.step(
      "systemctl reboot: the board comes back with the service active and learning on",
      async () => {
        const b = boards[2];
        const before = (await status(b))!;
        const seconds = await b.reboot();
        const back = await waitFor("the agent after the reboot", async () => {
          const s = await status(b);
          return s && s.accuracy !== null ? s : undefined;
        }, { timeoutMs: 90_000, everyMs: 500 });
        log(
          `reboot: up in ${
            seconds.toFixed(1)
          } s, agent at round ${back.rounds} (was ${before.rounds}), ${back.accuracy}`,
        );
        assert.equal((await b.exec(["systemctl", "is-active", "agent"])).stdout.trim(), "active");
        // A clean shutdown writes a final checkpoint: nothing is lost.
        assert.ok(back.rounds >= before.rounds, `rounds ${back.rounds} ≥ ${before.rounds} before the reboot`);
        log(`reboot: ${await recovered(b, Date.now() - seconds * 1000)}`);
        const journal = await b.sh("journalctl -b -u agent -o cat --no-pager");
        assert.doesNotMatch(journal, /corrupt|Uncaught/i);
      },
    );

    await t.step(`no agent was OOM-killed under the unit's MemoryMax=${MEMORY_MAX}`, async () => {
      assert.deepEqual(sampler.errors, [], "memory limits applied");
      let v1 = false;
      try {
        v1 = Deno.statSync("/sys/fs/cgroup/memory/memory.limit_in_bytes").isFile;
      } catch { /* no cgroup-v1 memory controller: nothing was confined */ }
      if (v1) assert.ok(limits.length >= BOARDS, `every agent confined: ${limits.length}`);
      for (const cg of limits) {
        const control = await Deno.readTextFile(join(cg, "memory.oom_control")).catch(() => "");
        assert.doesNotMatch(control, /oom_kill [1-9]/, `${cg}: ${control}`);
      }
      for (const b of boards) {
        const journal = await b.sh("journalctl -u agent -o cat --no-pager");
        assert.doesNotMatch(journal, /oom-kill|Out of memory/i, b.name);
      }
    });

    await t.step("agent service status and journalctl -u agent -o json are readable", async () => {
      const b = boards[0];
      const r = await b.ssh(`${PREFIX}/current/agent service status`);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /agent\.service: active \(running\), enabled/);
      const j = await b.ssh("journalctl -u agent -o json --no-pager -n 200");
      const lines = j.stdout.trim().split("\n");
      assert.ok(lines.length > 10);
      const messages = lines.map((l) => JSON.parse(l).MESSAGE as string);
      // The agent's own lines are JSON too (logging.format: json).
      const own = messages.filter((m) => typeof m === "string" && m.startsWith("{")).map((m) =>
        JSON.parse(m)
      );
      assert.ok(own.some((m) => typeof m.msg === "string"), "agent log records in the journal");
      const st = await b.ssh(`${PREFIX}/current/agent status --json`);
      assert.equal(st.code, 0, st.stderr);
      assert.equal(JSON.parse(st.stdout).node.fingerprint, ids[0].fingerprint);
    });

    await t.step("without SystemCallErrorNumber=EPERM, systemd 252 kills the agent with SIGSYS", async () => {
      const b = boards[1];
      const unit = await b.sh("cat /etc/systemd/system/agent.service");
      assert.match(unit, /^SystemCallErrorNumber=EPERM$/m);
      const probe = (withEperm: boolean) =>
        unit.replace(/^ExecStart=.*$/m, `ExecStart=${PREFIX}/current/agent --version`)
          .replace(/^Type=exec$/m, "Type=oneshot")
          .replace(/^Restart=.*$/m, "")
          .replace(/^SystemCallErrorNumber=EPERM$/m, withEperm ? "SystemCallErrorNumber=EPERM" : "");
      for (const [name, withEperm] of [["agb-sigsys", false], ["agb-eperm", true]] as const) {
        await b.exec(["sh", "-c", `cat > /etc/systemd/system/${name}.service`], {
          stdin: new TextEncoder().encode(probe(withEperm)),
        });
      }
      await b.sh("systemctl daemon-reload; systemctl start agb-eperm; systemctl start agb-sigsys || true");
      const props = async (u: string) =>
        Object.fromEntries(
          (await b.sh(`systemctl show ${u} -p Result,ExecMainStatus,ExecMainCode`)).trim().split("\n")
            .map((l) => l.split("=")),
        );
      const bad = await props("agb-sigsys");
      const good = await props("agb-eperm");
      await b.sh(
        "rm /etc/systemd/system/agb-sigsys.service /etc/systemd/system/agb-eperm.service; systemctl daemon-reload; systemctl reset-failed",
      );
      assert.equal(good.Result, "success", JSON.stringify(good));
      assert.equal(bad.Result, "signal", JSON.stringify(bad));
      assert.equal(bad.ExecMainStatus, "31", "SIGSYS");
    });

    await t.step("agent service uninstall leaves no unit behind", async () => {
      const b = boards[0];
      const r = await b.ssh(`${PREFIX}/current/agent service uninstall`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await unitProps(b, ["LoadState"])).LoadState, "not-found");
      assert.equal(
        (await b.exec([
          "sh",
          "-c",
          "ls /etc/systemd/system/agent.service /etc/systemd/system/*/agent.service",
        ]))
          .stdout.trim(),
        "",
      );
      const left = await b.sh(
        `uid=$(id -u agent); for f in /proc/[0-9]*/status; do grep -qE "^Uid:\\s+$uid\\s" $f 2>/dev/null && echo $f; done; true`,
      );
      assert.equal(left.trim(), "", "no process of the agent user left");
    });
  } finally {
    await sampler.stop();
    const phases = ["idle", "training", "flood", "after"];
    if (sampler.errors.length) log(`memory limits not applied: ${sampler.errors.join("; ")}`);
    log(`RSS per phase (worst board): ${phases.map((p) => `${p} ${mib(sampler.worst(p))}`).join(", ")}`);
    for (const [name, m] of sampler.peak) {
      log(`  ${name}: ${phases.map((p) => `${p} ${mib(m.get(p))}`).join(", ")}`);
    }
    for (const cg of limits) {
      const read = (f: string) => Deno.readTextFile(join(cg, f)).then((s) => s.trim()).catch(() => "?");
      const oom = /oom_kill (\d+)/.exec(await read("memory.oom_control"))?.[1] ?? "?";
      log(
        `memory cgroup ${cg.split("/").slice(-2).join("/")}: peak ${
          mib(Number(await read("memory.max_usage_in_bytes")))
        }, failcnt ${await read("memory.failcnt")}, oom kills ${oom}`,
      );
    }
    log(`boot ${bootS.toFixed(1)} s; clone ${cloneTimes.map((s) => `${s.toFixed(1)} s`).join(", ")}`);
    await Deno.remove(work, { recursive: true });
  }
});
