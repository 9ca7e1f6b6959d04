/**
 * `agent clone` to a fleet, against three real OpenSSH servers on loopback (each playing one board with
 * a HOME of its own, so each gets its own prefix and state) plus one target whose port is closed: the
 * three are installed in parallel, the closed one fails with its reason, the summary and the exit code
 * say so, and every new board trusts every other (and the parent trusts all three).
 *
 * Needs Debian's openssh-server and openssh-client; runs as root.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AGENT_FLAGS, freeTcpPort, MAIN } from "../../scripts/lib/cluster.ts";
import { type Sshd, sshdAvailable, startSshd } from "../_support/sshd.ts";
import { run } from "../_support/command.ts";
import { runAgent } from "../_support/cli.ts";

Deno.test({
  name:
    "agent clone --inventory clones three boards in parallel; a dead one fails alone; all trust each other",
  ignore: !sshdAvailable(),
}, async (t) => {
  const work = await Deno.makeTempDir({ prefix: "agent-clone-fleet-" });
  const boards: Sshd[] = [];
  try {
    const homes = [0, 1, 2].map((i) => join(work, `board-${i}`));
    for (const home of homes) {
      await Deno.mkdir(home);
      boards.push(await startSshd({ setEnv: { HOME: home } }));
    }
    // One key and one known_hosts for the whole fleet, as a user would have.
    const key = boards[0].clientKey;
    const pub = await Deno.readTextFile(`${key}.pub`);
    for (const b of boards.slice(1)) {
      await Deno.writeTextFile(join(b.dir, "authorized_keys"), pub, { append: true });
    }
    const knownHosts = join(work, "known_hosts");
    await Deno.writeTextFile(
      knownHosts,
      (await Promise.all(boards.map((b) => Deno.readTextFile(b.knownHosts)))).join(""),
    );
    const dead = freeTcpPort();
    const inventory = join(work, "boards.txt");
    await Deno.writeTextFile(
      inventory,
      [
        "# three loopback boards and one that is down",
        "[lab]",
        ...boards.map((b, i) => `${b.user}@127.0.0.1:${b.port}   # board ${i}`),
        "",
        `root@127.0.0.1:${dead}`,
      ].join("\n") + "\n",
    );
    const env = { XDG_CACHE_HOME: join(work, "cache"), HOME: work };
    const parentState = join(work, "parent");
    assert.equal((await runAgent(["init", "--state", parentState, "--name", "parent"], { env })).code, 0);
    const common = [
      "--inventory",
      inventory,
      "--identity",
      key,
      "--known-hosts",
      knownHosts,
      "--ssh-config",
      "/dev/null",
      "--prefix",
      "~/prefix",
      "--remote-state",
      "~/state",
      "--no-service",
      "--state",
      parentState,
    ];
    const child = (i: number, args: string[]) =>
      run(join(homes[i], "prefix", "current", "agent"), [...args, "--state", join(homes[i], "state")], {
        env,
      });

    await t.step(
      "the three live boards are installed, the dead one fails with its reason, exit 1",
      async () => {
        const r = await runAgent(["clone", ...common, "--parallel", "3", "--json"], { env });
        assert.equal(r.code, 1, r.stderr);
        const summary = JSON.parse(r.stdout);
        assert.equal(summary.ok, false);
        assert.equal(summary.parallel, 3);
        assert.deepEqual(
          summary.hosts.map((h: { status: string }) => h.status),
          ["installed", "installed", "installed", "failed"],
        );
        const failed = summary.hosts[3];
        assert.equal(failed.kind, "unreachable");
        assert.match(
          failed.reason,
          new RegExp(`Could not connect to root@127\\.0\\.0\\.1 \\(port ${dead}\\): connection refused`),
        );
        assert.match(failed.hint, /sshd/);

        const parentId = JSON.parse(
          (await runAgent(["id", "--json", "--state", parentState], { env })).stdout,
        );
        const ids: { fingerprint: string }[] = [];
        for (const i of [0, 1, 2]) {
          assert.equal((await child(i, ["--version"])).stdout.trim(), "agent 0.1.0");
          ids.push(JSON.parse((await child(i, ["id", "--json"])).stdout));
          assert.equal(ids[i].fingerprint, summary.hosts[i].fingerprint);
        }
        assert.equal(new Set(ids.map((id) => id.fingerprint)).size, 3, "each board made its own identity");
        for (const i of [0, 1, 2]) {
          const trusts = JSON.parse((await child(i, ["trust", "list", "--json"])).stdout)
            .map((p: { fingerprint: string }) => p.fingerprint).sort();
          const others = ids.filter((_, j) => j !== i).map((id) => id.fingerprint);
          assert.deepEqual(
            trusts,
            [parentId.fingerprint, ...others].sort(),
            `board ${i} trusts the parent and the other two`,
          );
          for (const f of summary.hosts[i].siblingsTrusted) {
            assert.ok(others.includes(f), "only siblings are added");
          }
        }
        // The first board to pair saw no sibling through the parent yet: the fleet step added them.
        assert.ok(summary.hosts.some((h: { siblingsTrusted: string[] }) => h.siblingsTrusted.length === 2));
        const parentTrusts = JSON.parse(
          (await runAgent(["trust", "list", "--json", "--state", parentState], { env })).stdout,
        )
          .map((p: { fingerprint: string }) => p.fingerprint).sort();
        assert.deepEqual(parentTrusts, ids.map((id) => id.fingerprint).sort());
      },
    );

    await t.step(
      "a second run says up to date per board in plain lines and a summary, still exit 1",
      async () => {
        const r = await runAgent(["clone", ...common], { env });
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /Cloning to 4 board\(s\), 4 at a time/);
        assert.match(r.stderr, /\[root@127\.0\.0\.1 \(port \d+\)\] step: probe/);
        assert.match(r.stdout, new RegExp(`root@127\\.0\\.0\\.1 \\(port ${boards[0].port}\\)\\s+up to date`));
        assert.match(r.stdout, /FAILED .*connection refused/);
        assert.match(r.stdout, /4 board\(s\): 0 installed, 3 up to date, 1 failed$/m);
      },
    );

    await t.step(
      "on a real terminal (script(1) gives it a pty) the table redraws in place, then the summary",
      async () => {
        const quote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
        const command = [Deno.execPath(), ...AGENT_FLAGS, MAIN, "clone", ...common].map(quote).join(" ");
        // -q: no banner; -e: the child's exit code; -f: flush as it writes; the log goes to /dev/null,
        // what the terminal showed comes out on script's stdout.
        const r = await run("script", ["-qefc", command, "/dev/null"], { env: { ...env, TERM: "xterm" } });
        assert.equal(r.code, 1, r.stdout);
        const screen = r.stdout;
        const esc = "\x1b";
        const draws = screen.split(`${esc}[2KTARGET `).length - 1;
        assert.ok(draws >= 2, `the table is drawn, then redrawn: ${draws} draw(s)\n${screen}`);
        // Each redraw moves the cursor up over the header and the four rows it drew before.
        assert.ok(screen.includes(`${esc}[5A${esc}[2KTARGET `), screen);
        assert.match(screen, new RegExp(`root@127\\.0\\.0\\.1 \\(port ${dead}\\)\\s+FAILED`));
        assert.match(screen, /4 board\(s\): 0 installed, 3 up to date, 1 failed/);
        // Live means no plain per-step lines.
        assert.doesNotMatch(screen, /\] step: probe/);
        assert.doesNotMatch(screen, /Cloning to 4 board\(s\)/);
      },
    );

    await t.step("without the dead board every board succeeds: exit 0", async () => {
      const text = await Deno.readTextFile(inventory);
      await Deno.writeTextFile(
        inventory,
        text.replace(`root@127.0.0.1:${dead}`, `# root@127.0.0.1:${dead} (retired)`),
      );
      const r = await runAgent(["clone", ...common, "--parallel", "2", "--json"], { env });
      assert.equal(r.code, 0, r.stderr);
      const summary = JSON.parse(r.stdout);
      assert.equal(summary.ok, true);
      assert.deepEqual(summary.hosts.map((h: { status: string }) => h.status), [
        "up-to-date",
        "up-to-date",
        "up-to-date",
      ]);
    });

    await t.step(
      "a bad inventory line is a one-line usage error naming the line; nothing is contacted",
      async () => {
        const bad = join(work, "bad.txt");
        await Deno.writeTextFile(
          bad,
          `# ok\n${boards[0].user}@127.0.0.1:${boards[0].port}\nroot@127.0.0.1:99999\n`,
        );
        const r = await runAgent(["clone", "--inventory", bad, "--state", parentState], { env });
        assert.equal(r.code, 2);
        assert.match(
          r.stderr,
          /^agent: error: Inventory ".*bad\.txt" line 3: port "99999" of "root@127\.0\.0\.1:99999" is not a number from 1 to 65535\n {2}hint: /,
        );
      },
    );
  } finally {
    for (const b of boards) await b.stop();
    await Deno.remove(work, { recursive: true });
  }
});
