/**
 * A real OpenSSH server on loopback for integration tests (clone over SSH).
 *
 * `startSshd()` makes a temp directory with a host key, a client key, `authorized_keys`, a pinned
 * `known_hosts` and an `sshd_config`, checks the config with `sshd -t`, starts `sshd -D -e` on a free
 * port and waits until it accepts TCP connections. `stop()` kills the listener and every session process
 * it forked (by PID, found through /proc), waits for the listener to exit and removes the directory.
 * Use it with `await using sshd = await startSshd()` so it is always stopped, even when a test fails.
 *
 * Needs Debian's `openssh-server` and `openssh-client` and root (the client logs in as root).
 *
 * @module
 */
import { join } from "node:path";
import { freeTcpPort } from "../../scripts/lib/cluster.ts";

/** A running sshd and the files a client needs to reach it. */
export interface Sshd extends AsyncDisposable {
  /** Loopback address and port. */
  host: string;
  port: number;
  /** Login user (the current user, root in CI). */
  user: string;
  /** Temp directory holding every file below (removed by `stop`). */
  dir: string;
  /** Client private key accepted by the server. */
  clientKey: string;
  /** known_hosts that pins this server's host key. */
  knownHosts: string;
  /** known_hosts with a different (wrong) key for the same host and port. */
  wrongKnownHosts: string;
  /** An empty known_hosts (the server is unknown). */
  emptyKnownHosts: string;
  /** The server's host public key line (`ssh-ed25519 AAAA…`). */
  hostPublicKey: string;
  /** The `sshd -e` log so far (for failure messages). */
  log(): string;
  /** Kills every open session (the listener stays): clients see the connection drop. */
  dropSessions(): number;
  stop(): Promise<void>;
}

/** True when the OpenSSH server and client are installed (tests are skipped with a reason otherwise). */
export function sshdAvailable(): boolean {
  try {
    return Deno.statSync("/usr/sbin/sshd").isFile && Deno.statSync("/usr/bin/ssh").isFile;
  } catch {
    return false;
  }
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

function userName(): string {
  const uid = Deno.uid();
  if (uid === 0) return "root";
  for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
    const f = line.split(":");
    if (Number(f[2]) === uid) return f[0];
  }
  throw new Error(`No /etc/passwd entry for uid ${uid}`);
}

/** Children of `pid` (direct), read from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(e.name));
    } catch { /* exited meanwhile */ }
  }
  return out;
}

function descendantsOf(pid: number): number[] {
  const all: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const c of childrenOf(queue.shift()!)) {
      all.push(c);
      queue.push(c);
    }
  }
  return all;
}

/** Options for {@linkcode startSshd}. */
export interface SshdOptions {
  /** Environment of every session (`SetEnv`), e.g. a HOME of its own so one machine plays several boards. */
  setEnv?: Record<string, string>;
}

/** Starts sshd on a free loopback port; see the module comment. */
export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  const dir = await Deno.makeTempDir({ prefix: "agent-sshd-" });
  let child: Deno.ChildProcess | undefined;
  let logDone: Promise<void> | undefined;
  try {
    await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    const hostKey = join(dir, "host_ed25519");
    const otherKey = join(dir, "other_ed25519");
    const clientKey = join(dir, "client_ed25519");
    for (const k of [hostKey, otherKey, clientKey]) {
      await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "agent-test", "-f", k]);
    }
    const authorized = join(dir, "authorized_keys");
    await Deno.copyFile(`${clientKey}.pub`, authorized);
    // sshd reads authorized_keys as the user logging in: readable by everyone, so tests can also log
    // in as an unprivileged user (StrictModes is off; the private keys stay 0600).
    await Deno.chmod(authorized, 0o644);
    await Deno.chmod(dir, 0o755);
    const port = freeTcpPort();
    const host = "127.0.0.1";
    const pub = (await Deno.readTextFile(`${hostKey}.pub`)).trim().split(" ").slice(0, 2).join(" ");
    const otherPub = (await Deno.readTextFile(`${otherKey}.pub`)).trim().split(" ").slice(0, 2).join(" ");
    const knownHosts = join(dir, "known_hosts");
    const wrongKnownHosts = join(dir, "known_hosts.wrong");
    const emptyKnownHosts = join(dir, "known_hosts.empty");
    await Deno.writeTextFile(knownHosts, `[${host}]:${port} ${pub}\n`);
    await Deno.writeTextFile(wrongKnownHosts, `[${host}]:${port} ${otherPub}\n`);
    await Deno.writeTextFile(emptyKnownHosts, "");
    const pidFile = join(dir, "sshd.pid");
    const config = join(dir, "sshd_config");
    await Deno.writeTextFile(
      config,
      [
        `Port ${port}`,
        `ListenAddress ${host}`,
        `HostKey ${hostKey}`,
        `PidFile ${pidFile}`,
        `AuthorizedKeysFile ${authorized}`,
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "Subsystem sftp internal-sftp",
        "MaxStartups 100",
        "MaxSessions 100",
        ...(options.setEnv
          ? [`SetEnv ${Object.entries(options.setEnv).map(([k, v]) => `${k}=${v}`).join(" ")}`]
          : []),
        "",
      ].join("\n"),
    );
    await run("/usr/sbin/sshd", ["-t", "-f", config]);
    child = new Deno.Command("/usr/sbin/sshd", {
      args: ["-D", "-e", "-f", config],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let logText = "";
    logDone = (async () => {
      const dec = new TextDecoder();
      for await (const chunk of child!.stderr) logText += dec.decode(chunk, { stream: true });
    })();
    // Wait (with a deadline) until it accepts connections.
    const deadline = Date.now() + 10_000;
    while (true) {
      try {
        const conn = await Deno.connect({ hostname: host, port });
        conn.close();
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`sshd did not start on port ${port}: ${logText}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const proc = child;
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      // Session processes first (a client with an open connection keeps them alive), then the listener.
      for (const pid of descendantsOf(proc.pid)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      try {
        proc.kill("SIGTERM");
      } catch { /* gone */ }
      await proc.status;
      await logDone;
      await Deno.remove(dir, { recursive: true });
    };
    return {
      host,
      port,
      user: userName(),
      dir,
      clientKey,
      knownHosts,
      wrongKnownHosts,
      emptyKnownHosts,
      hostPublicKey: pub,
      log: () => logText,
      dropSessions: () => {
        const pids = descendantsOf(proc.pid);
        for (const pid of pids) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch { /* gone */ }
        }
        return pids.length;
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (e) {
    if (child) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      await logDone;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

/** The target and SSH flags of `agent clone` that reach `sshd` as root, pinned to `knownHosts`. */
export function cloneTarget(sshd: Sshd, knownHosts: string = sshd.knownHosts): string[] {
  return [
    `${sshd.user}@${sshd.host}`,
    "--port",
    String(sshd.port),
    "--identity",
    sshd.clientKey,
    "--known-hosts",
    knownHosts,
    "--ssh-config",
    "/dev/null",
  ];
}
