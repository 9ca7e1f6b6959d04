/**
 * `agent clone` against a real OpenSSH server on loopback (tests/_support/sshd.ts), run as a
 * real `agent` process from this source tree, exactly as a user would run it. The "target" is this
 * machine, so the test can inspect the installed tree directly.
 *
 * Needs Debian's openssh-server and openssh-client, tar, gzip, coreutils; runs as root.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { AGENT_FLAGS as AGENT_RUN_FLAGS } from "../../scripts/lib/cluster.ts";
import { cloneTarget, sshdAvailable, startSshd } from "../_support/sshd.ts";
import { changedPaths, snapshotTree, type TreeSnapshot } from "../_support/tree_snapshot.ts";
import { waitFor } from "../_support/wait.ts";
import { commandWorks, run } from "../_support/command.ts";
import { runAgent } from "../_support/cli.ts";
import { ROOT } from "../_support/root.ts";

/** Subnet of the veth pair between the two namespaces of the gossip step (exists only inside them). */
const GOSSIP_NET = "10.231.77";
const GOSSIP_PORT = 41377;
const AGENT_FLAGS = [...AGENT_RUN_FLAGS, join(ROOT, "src/main.ts")];

function agentCommand(args: string[], env: Record<string, string>): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [...AGENT_FLAGS, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

function assertSameTree(before: TreeSnapshot, after: TreeSnapshot, what: string) {
  assert.deepEqual(changedPaths(before, after).slice(0, 10), [], `${what}: changed entries`);
  assert.ok(before.size > 10, `${what}: the snapshot covers the installed tree`);
}

/** Files under `dir` holding any needle (grep -F on bytes, via PCRE escapes); "name: path" lines. */
async function findBytes(dir: string, needles: Record<string, Uint8Array>): Promise<string[]> {
  const hits: string[] = [];
  for (const [name, needle] of Object.entries(needles)) {
    const pattern = Array.from(needle, (b) => `\\x${b.toString(16).padStart(2, "0")}`).join("");
    const r = await run("grep", ["-rlaP", pattern, dir], { env: { LC_ALL: "C" } });
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
    for (const path of r.stdout.split("\n").filter((l) => l)) hits.push(`${name}: ${path}`);
  }
  return hits;
}

/** Encodings of the private key seed that must never appear on the target. */
async function privateKeyNeedles(pemPath: string): Promise<Record<string, Uint8Array>> {
  const pem = await Deno.readTextFile(pemPath);
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const der = Buffer.from(b64, "base64");
  const seed = der.subarray(der.length - 32);
  assert.equal(der.length, 48, "PKCS#8 Ed25519 DER");
  const enc = (s: string) => new TextEncoder().encode(s);
  return {
    pemBody: enc(b64.slice(0, 40)),
    derRaw: new Uint8Array(der),
    seedRaw: new Uint8Array(seed),
    seedHex: enc(seed.toString("hex")),
    seedBase64: enc(seed.toString("base64").replace(/=+$/, "")),
    seedBase64url: enc(seed.toString("base64url")),
  };
}

function descendants(pid: number): number[] {
  const all: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) all.push(Number(e.name));
    } catch { /* gone */ }
  }
  return all;
}

Deno.test({
  name: "agent clone installs a second, mutually trusted agent over real SSH, atomically and idempotently",
  ignore: !sshdAvailable(),
}, async (t) => {
  await using sshd = await startSshd();
  const work = await Deno.makeTempDir({ prefix: "agent-clone-" });
  try {
    const env = { XDG_CACHE_HOME: join(work, "cache"), HOME: work };
    const parentState = join(work, "parent");
    const prefix = join(work, "target", "prefix");
    const childState = join(work, "target", "state");
    const target = [
      ...cloneTarget(sshd),
      "--prefix",
      prefix,
      "--remote-state",
      childState,
      "--state",
      parentState,
    ];
    const child = async (args: string[]) =>
      await run(join(prefix, "current", "agent"), [...args, "--state", childState], { env });

    // A parent with an identity and one paired peer (which the child must come to trust too).
    assert.equal((await runAgent(["init", "--state", parentState, "--name", "parent"], { env })).code, 0);
    const peerState = join(work, "peer");
    assert.equal((await runAgent(["init", "--state", peerState, "--name", "peer"], { env })).code, 0);
    const peer = JSON.parse((await runAgent(["id", "--json", "--state", peerState], { env })).stdout);
    assert.equal((await runAgent(["trust", peer.payload, "--yes", "--state", parentState], { env })).code, 0);
    const parent = JSON.parse((await runAgent(["id", "--json", "--state", parentState], { env })).stdout);
    // Gossip settings for the final step (two network namespaces joined by a veth pair); the child
    // receives them with the copied config.
    await Deno.writeTextFile(
      join(parentState, "agent.yaml"),
      [
        "node:\n  name: parent",
        `gossip:\n  port: ${GOSSIP_PORT}\n  broadcast: ${GOSSIP_NET}.255\n  intervalMs: 100\n  peerTimeoutMs: 1500`,
        "logging:\n  level: info\n  format: json\n",
      ].join("\n"),
    );
    // A model checkpoint the child must receive (the files are copied as they are).
    const checkpoint = crypto.getRandomValues(new Uint8Array(4096));
    await Deno.mkdir(join(parentState, "checkpoints"), { recursive: true });
    await Deno.writeFile(join(parentState, "checkpoints", "mnist-mlp.ckpt"), checkpoint);

    await t.step("--dry-run prints the plan and changes nothing on the target", async () => {
      const r = await runAgent(["clone", ...target, "--dry-run", "--no-service"], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Plan for root@127\.0\.0\.1.*dry run, nothing changed/);
      assert.match(r.stdout, /release: 0\.1\.0-[0-9a-f]{16} \(source, x86_64, [\d.]+ MiB compressed/);
      assert.match(r.stdout, /the private key is never copied/);
      await assert.rejects(Deno.stat(join(work, "target")), Deno.errors.NotFound);
    });

    let childId: { fingerprint: string; name: string; payload: string } | undefined;
    await t.step("clone installs a release that runs with its own identity and mutual trust", async () => {
      const r = await runAgent(["clone", ...target, "--name", "child", "--no-service", "--json"], { env });
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.action, "installed");
      assert.equal(report.changed, true);
      assert.equal(report.service, "skipped");
      assert.deepEqual(report.seeded, ["config", "checkpoints"]);
      assert.deepEqual(await Deno.readFile(join(childState, "checkpoints", "mnist-mlp.ckpt")), checkpoint);
      const childConfig = await Deno.readTextFile(join(childState, "agent.yaml"));
      assert.match(childConfig, /name: child/);
      assert.match(childConfig, new RegExp(`broadcast: ${GOSSIP_NET.replaceAll(".", "\\.")}\\.255`));
      assert.ok(report.uploadedBytes > 1_000_000);

      const v = await run(join(prefix, "current", "agent"), ["--version"], { env });
      assert.equal(v.stdout.trim(), "agent 0.1.0", v.stderr);
      assert.equal(await Deno.readLink(join(prefix, "current")), `releases/${report.release}`);

      childId = JSON.parse((await child(["id", "--json"])).stdout);
      assert.equal(childId!.name, "child");
      assert.notEqual(childId!.fingerprint, parent.fingerprint);
      assert.equal(childId!.fingerprint, report.child.fingerprint);

      const childTrust = JSON.parse((await child(["trust", "list", "--json"])).stdout) as {
        fingerprint: string;
      }[];
      assert.deepEqual(
        childTrust.map((p) => p.fingerprint).sort(),
        [parent.fingerprint, peer.fingerprint].sort(),
      );
      const parentTrust = JSON.parse(
        (await runAgent(["trust", "list", "--json", "--state", parentState], { env })).stdout,
      );
      assert.ok(parentTrust.some((p: { fingerprint: string }) => p.fingerprint === childId!.fingerprint));
    });

    await t.step("the private key never reaches the target, in any encoding", async () => {
      const needles = await privateKeyNeedles(join(parentState, "identity", "ed25519.key"));
      // The needles are found where the key is (so the search works) …
      assert.ok((await findBytes(join(parentState, "identity"), needles)).length > 0);
      // … and nowhere on the target.
      assert.deepEqual(await findBytes(join(work, "target"), needles), []);
    });

    let installed = new Map<string, string>();
    await t.step("a second clone with nothing changed reports up to date and changes nothing", async () => {
      const before = await snapshotTree(join(work, "target"));
      // Without --no-service: systemd is not running here, so it prints the exact start command.
      const r = await runAgent(["clone", ...target, "--name", "child"], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /is up to date \(release 0\.1\.0-[0-9a-f]{16}\); nothing changed/);
      assert.match(r.stdout, /service: not available on the target; start the agent with:/);
      assert.ok(
        r.stdout.includes(
          `ssh root@127.0.0.1 -p ${sshd.port} ${prefix}/current/agent run --state ${childState}`,
        ),
        r.stdout,
      );
      installed = await snapshotTree(join(work, "target"));
      assertSameTree(before, installed, "second clone");
    });

    await t.step("an interrupted upload leaves the target on its previous release", async () => {
      // The upload area (and so the prefix directory's own mtime) may change; nothing else may.
      const skipIncoming = (rel: string) => rel === "prefix" || rel.startsWith("prefix/.incoming");
      const before = new Map([...installed].filter(([rel]) => !skipIncoming(rel)));
      // A different release (a 'compiled binary' of 3 MB) uploaded slowly, interrupted half way.
      const fake = join(work, "fake-agent");
      const noise = new Uint8Array(3 * 1024 * 1024);
      for (let i = 0; i < noise.length; i += 65536) crypto.getRandomValues(noise.subarray(i, i + 65536));
      await Deno.writeFile(
        fake,
        new Uint8Array([...new TextEncoder().encode("#!/bin/sh\nexit 0\n"), ...noise]),
      );
      const proc = agentCommand(
        ["clone", ...target, "--no-service", "--binary", fake, "--limit-rate", "512"],
        env,
      ).spawn();
      const part = await waitFor("the partial upload", async () => {
        try {
          for await (const e of Deno.readDir(join(prefix, ".incoming"))) {
            if (
              e.name.endsWith(".part") && (await Deno.stat(join(prefix, ".incoming", e.name))).size > 100_000
            ) {
              return e.name;
            }
          }
        } catch { /* not yet */ }
        return undefined;
      });
      assert.match(part, /^app-[0-9a-f]{16}\.tar\.gz\.part$/);
      const sshPids = descendants(proc.pid);
      assert.ok(sshPids.length > 0, "ssh is running");
      proc.kill("SIGINT");
      const out = await proc.output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 130, stderr);
      assert.match(stderr, /interrupted.*\n.*previous release/);
      for (const pid of sshPids) assert.ok(!exists(`/proc/${pid}`), `ssh child ${pid} was stopped`);
      assertSameTree(
        before,
        await snapshotTree(join(work, "target"), { skip: skipIncoming }),
        "interrupted clone",
      );
      assert.equal(
        (await run(join(prefix, "current", "agent"), ["--version"], { env })).stdout.trim(),
        "agent 0.1.0",
      );
    });

    await t.step(
      "a connection lost during the upload fails with a clear message; the target is unchanged",
      async () => {
        const skipIncoming = (rel: string) => rel === "prefix" || rel.startsWith("prefix/.incoming");
        const before = new Map([...installed].filter(([rel]) => !skipIncoming(rel)));
        const fake = join(work, "fake-agent-2");
        const noise = new Uint8Array(3 * 1024 * 1024);
        for (let i = 0; i < noise.length; i += 65536) crypto.getRandomValues(noise.subarray(i, i + 65536));
        await Deno.writeFile(
          fake,
          new Uint8Array([...new TextEncoder().encode("#!/bin/sh\nexit 0\n"), ...noise]),
        );
        const proc = agentCommand([
          "clone",
          ...target,
          "--no-service",
          "--binary",
          fake,
          "--limit-rate",
          "512",
        ], env)
          .spawn();
        await waitFor("the partial upload", async () => {
          try {
            for await (const e of Deno.readDir(join(prefix, ".incoming"))) {
              if (
                e.name.endsWith(".part") &&
                (await Deno.stat(join(prefix, ".incoming", e.name))).size > 100_000
              ) {
                return true;
              }
            }
          } catch { /* not yet */ }
          return undefined;
        });
        assert.ok(sshd.dropSessions() > 0, "sessions were open");
        const out = await proc.output();
        const stderr = new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 1, stderr);
        assert.match(
          stderr,
          /agent: error: Lost the connection to root@127\.0\.0\.1 \(port \d+\) during the upload of the app/,
        );
        assert.match(stderr, /hint: .*previous release/);
        assertSameTree(
          before,
          await snapshotTree(join(work, "target"), { skip: skipIncoming }),
          "lost connection",
        );
      },
    );

    await t.step(
      "an update from a newer checkout uploads only the changed app part and keeps the previous release",
      async () => {
        // A second checkout of the same tree with one source file changed (node_modules hard-linked);
        // the clone bundles it anew.
        const checkout = join(work, "checkout");
        await Deno.mkdir(checkout);
        for (const f of ["deno.json", "deno.lock", "src", "models"]) {
          assert.equal((await run("cp", ["-a", join(ROOT, f), checkout])).code, 0);
        }
        assert.equal((await run("cp", ["-al", join(ROOT, "node_modules"), checkout])).code, 0);
        // A change to code that runs (a comment alone would not change the minified bundle, and then
        // the target is rightly up to date).
        const cli = join(checkout, "src", "cli", "mod.ts");
        const text = await Deno.readTextFile(cli);
        assert.ok(text.includes("an edge-learning agent"));
        await Deno.writeTextFile(cli, text.replace("an edge-learning agent", "a newer edge-learning agent"));
        const previous = await Deno.readLink(join(prefix, "current"));
        const args = [
          ...AGENT_FLAGS.slice(0, -1),
          join(checkout, "src", "main.ts"),
          "clone",
          ...target,
          "--no-service",
          "--json",
        ];
        const r = await run(Deno.execPath(), args, { env });
        assert.equal(r.code, 0, r.stderr);
        const report = JSON.parse(r.stdout);
        assert.equal(report.action, "installed");
        assert.deepEqual(report.uploaded, ["app"]);
        assert.deepEqual(report.reused, ["runtime"]);
        assert.ok(report.uploadedBytes < 2_000_000, `uploaded ${report.uploadedBytes} bytes`);
        assert.equal(await Deno.readLink(join(prefix, "current")), `releases/${report.release}`);
        const kept = [...Deno.readDirSync(join(prefix, "releases"))].map((e) => e.name).sort();
        assert.deepEqual(kept, [previous.slice("releases/".length), report.release].sort());
        const ino = (p: string) => Deno.statSync(join(prefix, p)).ino;
        assert.equal(ino(`releases/${report.release}/deno`), ino(`${previous}/deno`));
        assert.equal(
          (await run(join(prefix, "current", "agent"), ["--version"], { env })).stdout.trim(),
          "agent 0.1.0",
        );
        // Nothing about the pairing changed.
        assert.deepEqual(report.trustAdded, { onChild: [], onParent: [] });
      },
    );

    await t.step(
      "an unknown host key is refused; --accept-new-host-key pins it; a changed key is refused",
      async () => {
        const kh = join(work, "known_hosts");
        await Deno.writeTextFile(kh, "");
        const flags = [
          ...cloneTarget(sshd, kh),
          "--prefix",
          prefix,
          "--remote-state",
          childState,
          "--state",
          parentState,
        ];
        const refused = await runAgent(["clone", ...flags, "--dry-run"], { env });
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /host key of root@127\.0\.0\.1 \(port \d+\) is not known/);
        assert.match(refused.stderr, /hint: .*--accept-new-host-key/);

        const accepted = await runAgent(["clone", ...flags, "--dry-run", "--accept-new-host-key"], { env });
        assert.equal(accepted.code, 0, accepted.stderr);
        assert.ok((await Deno.readTextFile(kh)).includes(sshd.hostPublicKey.split(" ")[1]), "key pinned");
        const pinned = await runAgent(["clone", ...flags, "--dry-run"], { env });
        assert.equal(pinned.code, 0, pinned.stderr);

        const wrong = [
          ...cloneTarget(sshd, sshd.wrongKnownHosts),
          "--prefix",
          prefix,
          "--state",
          parentState,
        ];
        const changed = await runAgent(["clone", ...wrong, "--dry-run", "--accept-new-host-key"], { env });
        assert.equal(changed.code, 1);
        assert.match(changed.stderr, /does not match the one pinned.*man-in-the-middle/);
        assert.match(changed.stderr, /ssh-keygen -R/);
      },
    );

    await t.step("a key the server does not accept and a closed port fail with a clear message", async () => {
      const other = join(work, "other_key");
      assert.equal((await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other])).code, 0);
      const flags = cloneTarget(sshd);
      flags[flags.indexOf("--identity") + 1] = other;
      const denied = await runAgent(["clone", ...flags, "--prefix", prefix, "--dry-run"], { env });
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /Could not log in to root@127\.0\.0\.1/);
      assert.match(denied.stderr, /hint: .*ssh-copy-id/);

      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const closedPort = (l.addr as Deno.NetAddr).port;
      l.close();
      const closed = cloneTarget(sshd);
      closed[closed.indexOf("--port") + 1] = String(closedPort);
      const refused = await runAgent(["clone", ...closed, "--dry-run"], { env });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /connection refused/);
    });

    await t.step("a board with too little free disk is refused before anything is uploaded", async () => {
      const small = join(work, "small");
      await Deno.mkdir(small);
      const mounted = await run("mount", ["-t", "tmpfs", "-o", "size=20m", "tmpfs", small]);
      assert.equal(mounted.code, 0, `mount a 20 MiB tmpfs (needs root): ${mounted.stderr}`);
      try {
        const flags = [
          ...cloneTarget(sshd),
          "--prefix",
          join(small, "prefix"),
          "--remote-state",
          join(small, "state"),
        ];
        const r = await runAgent(["clone", ...flags, "--state", parentState, "--no-service"], { env });
        assert.equal(r.code, 1, r.stdout);
        assert.match(r.stderr, /has 20 MiB free at .* but the release needs \d+ MiB/);
        assert.match(r.stderr, /hint: Free some space/);
        assert.deepEqual([...Deno.readDirSync(small)], []);
      } finally {
        await run("umount", [small]);
      }
    });

    await t.step({
      name: "the cloned agent and its parent gossip with each other (agent run, two network namespaces)",
      ignore: !commandWorks("ip", ["-V"]),
      fn: async () => {
        const ns = [`agc-${Deno.pid}-p`, `agc-${Deno.pid}-c`];
        const procs: {
          name: string;
          child: Deno.ChildProcess;
          lines: Record<string, unknown>[];
          done: Promise<void>;
        }[] = [];
        try {
          for (const n of ns) assert.equal((await run("ip", ["netns", "add", n])).code, 0);
          const veth = [`agcp${Deno.pid % 10000}`, `agcc${Deno.pid % 10000}`];
          assert.equal(
            (await run("ip", ["link", "add", veth[0], "type", "veth", "peer", "name", veth[1]])).code,
            0,
          );
          for (const [i, n] of ns.entries()) {
            for (
              const args of [
                ["link", "set", veth[i], "netns", n],
                ["-n", n, "addr", "add", `${GOSSIP_NET}.${i + 1}/24`, "brd", "+", "dev", veth[i]],
                ["-n", n, "link", "set", veth[i], "up"],
                ["-n", n, "link", "set", "lo", "up"],
              ]
            ) {
              const r = await run("ip", args);
              assert.equal(r.code, 0, `ip ${args.join(" ")}: ${r.stderr}`);
            }
          }
          const start = (name: string, n: string, argv: string[]) => {
            const child = new Deno.Command("ip", {
              args: ["netns", "exec", n, ...argv],
              env,
              stdin: "null",
              stdout: "null",
              stderr: "piped",
            }).spawn();
            const lines: Record<string, unknown>[] = [];
            const done = (async () => {
              let buf = "";
              for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
                buf += chunk;
                let i;
                while ((i = buf.indexOf("\n")) >= 0) {
                  const line = buf.slice(0, i);
                  buf = buf.slice(i + 1);
                  try {
                    lines.push(JSON.parse(line));
                  } catch {
                    lines.push({ msg: line });
                  }
                }
              }
            })();
            procs.push({ name, child, lines, done });
          };
          // The parent runs from this source tree; the child runs the installed release.
          start("parent", ns[0], [Deno.execPath(), ...AGENT_FLAGS, "run", "--state", parentState]);
          start("child", ns[1], [join(prefix, "current", "agent"), "run", "--state", childState]);
          const sees = (who: number, peer: string, fingerprint: string) =>
            procs[who].lines.some((l) =>
              l.msg === "Peer is alive" && l.peer === peer && l.fingerprint === fingerprint &&
              String(l.address).startsWith(`${GOSSIP_NET}.${2 - who}`)
            );
          await waitFor("parent and child to see each other alive", () =>
            Promise.resolve(
              sees(0, "child", childId!.fingerprint) && sees(1, "parent", parent.fingerprint)
                ? true
                : undefined,
            ), { timeoutMs: 90_000 }).catch((e) => {
              throw new Error(
                `${e.message}\n${
                  procs.map((p) => `--- ${p.name}\n${JSON.stringify(p.lines.slice(-8))}`).join("\n")
                }`,
              );
            });
        } finally {
          for (const p of procs) {
            try {
              p.child.kill("SIGINT");
            } catch { /* exited */ }
          }
          for (const p of procs) {
            await p.child.status;
            await p.done;
          }
          for (const n of ns) await run("ip", ["netns", "del", n]);
        }
      },
    });

    await t.step({
      name: "a non-root login gets a home-directory install and may not write a system prefix",
      ignore: !commandWorks("useradd", ["--help"]),
      fn: async () => {
        const user = `agcl${Deno.pid % 100000}`;
        const home = join(work, "home", user);
        const made = await run("useradd", ["-M", "-d", home, "-s", "/bin/sh", "-p", "*", user]);
        assert.equal(made.code, 0, made.stderr);
        try {
          await Deno.mkdir(home, { recursive: true });
          assert.equal((await run("chown", [`${user}:`, home])).code, 0);
          await Deno.chmod(work, 0o755);
          await Deno.chmod(join(work, "home"), 0o755);
          const flags = cloneTarget(sshd);
          flags[0] = `${user}@${sshd.host}`;
          const plan = await runAgent(["clone", ...flags, "--state", parentState, "--dry-run"], { env });
          assert.equal(plan.code, 0, plan.stderr);
          assert.ok(plan.stdout.includes(`upload: `), plan.stdout);
          assert.ok(plan.stdout.includes(`install: ${home}/.local/lib/agent/releases/`), plan.stdout);
          assert.ok(plan.stdout.includes(`state: ${home}/.local/state/agent:`), plan.stdout);
          assert.match(plan.stdout, /service: not possible \(systemd is not running\)/);
          const denied = await runAgent([
            "clone",
            ...flags,
            "--state",
            parentState,
            "--prefix",
            "/opt/agent-test-denied",
            "--no-service",
          ], { env });
          assert.equal(denied.code, 1, denied.stdout);
          assert.match(denied.stderr, /may not write "\/opt\/agent-test-denied"/);
          await assert.rejects(Deno.stat("/opt/agent-test-denied"), Deno.errors.NotFound);
        } finally {
          // sshd may still be closing the user's last session: -f removes the account anyway.
          const removed = await run("userdel", ["-f", user]);
          assert.equal(removed.code, 0, `userdel ${user}: ${removed.stderr}`);
        }
      },
    });

    await t.step("bad command lines exit 2 with a hint", async () => {
      for (
        const [args, msg] of [
          [["clone", "root@host:0"], /Argument 1: port "0" of "root@host:0" is not a number from 1 to 65535/],
          [["clone", "root@a", "root@b", "--name", "x"], /--name names one board, but 2 targets were given/],
          [["clone", "--inventory", join(work, "nope")], /--inventory: cannot read/],
          [["clone", "root@127.0.0.1", "--port", "70000"], /--port 70000 is out of range/],
          [["clone", "root@127.0.0.1", "--ssh-option", "StrictHostKeyChecking=no"], /not allowed/],
          [["clone", "root@127.0.0.1", "--identity", join(work, "nope")], /does not exist/],
        ] as [string[], RegExp][]
      ) {
        const r = await runAgent(args, { env });
        assert.equal(r.code, 2, args.join(" "));
        assert.match(r.stderr, msg);
        assert.match(r.stderr, /hint: /);
      }
    });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
