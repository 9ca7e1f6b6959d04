/**
 * Runs where qemu-user-static can do it (skipped with the reason otherwise; AGENT_TEST_ARM64=0 skips
 * it; about 3 minutes, plus ≈ 2.5 minutes once to build the arm64 root filesystem): one arm64 Debian bookworm board, systemd as PID 1 under
 * qemu-user-static (binfmt), on a bridge of its own (scripts/lib/boards.ts, `arch: "arm64"`), and
 * `agent clone root@<board> --no-service` from this checkout: the probe must say aarch64, the aarch64
 * release is installed, and its released launcher answers `--version`, `id` and `status`, then
 * `agent run` (started by hand with `systemd-run`, no sandbox) serves `/v1/status`.
 *
 * Not checked here, because qemu-user cannot show it: the hardened unit (networkd, `PrivateUsers=`
 * and syscall filters do not work under qemu-user) and real-speed learning (qemu-user is 40–70×
 * slower than the board). Run it under the boards lock like the other board tests:
 * `flock /tmp/agent-boards.lock deno test -A tests/boards/arm64_board_test.ts`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { agentCli } from "../../scripts/lib/cluster.ts";
import { arm64Unavailable, BoardFleet, boardsUnavailable, ensureRootfs } from "../../scripts/lib/boards.ts";
import { fleetSsh, PREFIX, status } from "../_support/board_agent.ts";
import { waitFor } from "../_support/wait.ts";

const optedOut = Deno.env.get("AGENT_TEST_ARM64") === "0";
const unavailable = optedOut ? "AGENT_TEST_ARM64=0" : boardsUnavailable() ?? arm64Unavailable();
if (!optedOut && unavailable) console.warn(`arm64 board test skipped: ${unavailable}`);

const t0 = Date.now();
const log = (line: string) =>
  console.log(`[arm64 +${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}`);
const seconds = (since: number) => (Date.now() - since) / 1000;

Deno.test({
  name: "agent clone installs the aarch64 release on an arm64 board under qemu-user and it serves its status",
  ignore: unavailable !== undefined,
}, async (t) => {
  let started = Date.now();
  const rootfs = await ensureRootfs({ arch: "arm64", log });
  log(`arm64 root filesystem ready in ${seconds(started).toFixed(1)} s: ${rootfs}`);
  started = Date.now();
  await using fleet = await BoardFleet.start({ count: 1, rootfs, arch: "arm64", log, bootTimeoutS: 300 });
  const board = fleet.boards[0];
  log(`${board.name} (${board.ip}) booted and answers ssh in ${seconds(started).toFixed(1)} s`);
  const machine = (await board.sh("uname -m")).trim();
  assert.equal(machine, "aarch64");

  const work = await Deno.makeTempDir({ prefix: "agb-arm64-local-" });
  try {
    const local = join(work, "state");
    await Deno.mkdir(local, { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(
      join(local, "agent.yaml"),
      `node:\n  name: laptop\ngossip:\n  broadcast: ${fleet.broadcast}\n`,
    );
    const agent = async (args: string[]) => {
      const r = await agentCli([...args, "--state", local]);
      assert.equal(r.code, 0, `agent ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    await agent(["id"]);

    await t.step("agent clone --no-service probes aarch64 and installs the aarch64 release", async () => {
      started = Date.now();
      const report = JSON.parse(
        await agent([
          "clone",
          `root@${board.ip}`,
          "--no-service",
          ...fleetSsh(fleet),
          "--json",
        ]),
      );
      log(
        `clone: ${seconds(started).toFixed(1)} s, ${report.action}, arch ${report.arch}, ` +
          `${(report.uploadedBytes / 1048576).toFixed(1)} MiB uploaded, service ${report.service}`,
      );
      assert.equal(report.arch, "aarch64");
      assert.equal(report.action, "installed");
      assert.equal(report.service, "skipped");
      // The shipped Deno is an aarch64 ELF (e_machine 0xb7 at offset 18).
      const elf = await Deno.readFile(join(board.root, PREFIX.slice(1), "current", "deno"));
      assert.equal(elf[18] | (elf[19] << 8), 0xb7);
    });

    const launcher = `${PREFIX}/current/agent`;
    const onBoard = async (cmd: string) => {
      const s = Date.now();
      const r = await board.ssh(cmd, { timeoutS: 600 });
      assert.equal(r.code, 0, `${cmd} on ${board.name}: ${r.stderr}`);
      log(`${cmd}: ${seconds(s).toFixed(1)} s`);
      return r.stdout;
    };

    await t.step("the released launcher answers --version, id and status", async () => {
      assert.match(await onBoard(`${launcher} --version`), /^agent \d+\.\d+\.\d+/);
      assert.match(await onBoard(`${launcher} id --json`), /"fingerprint"/);
      const st = await board.ssh(`${launcher} status`, { timeoutS: 600 });
      log(`status (agent not running): exit ${st.code}: ${(st.stdout + st.stderr).trim().split("\n")[0]}`);
      // Nothing runs yet: a clear one-line answer, not a crash of the aarch64 runtime.
      assert.equal(st.code, 1);
      assert.match(st.stderr, /the agent is not running/);
    });

    await t.step("agent run, started by hand without the unit's sandbox, serves /v1/status", async () => {
      started = Date.now();
      await onBoard(`systemd-run --unit=agent-arm64 --property=Restart=no ${launcher} run`);
      const report = await waitFor("/v1/status on the arm64 board", () => status(board), {
        timeoutMs: 600_000,
        everyMs: 1000,
      });
      log(`agent run answered /v1/status after ${seconds(started).toFixed(1)} s`);
      assert.ok(report);
      await onBoard(`${launcher} status`);
      await board.ssh("systemctl stop agent-arm64", { timeoutS: 120 });
    });
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
});
