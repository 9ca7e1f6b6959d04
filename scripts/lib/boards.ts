/**
 * Real boards for tests and scripts: Debian bookworm containers with systemd as PID 1, booted with
 * `systemd-nspawn` on a bridge of their own, each with its own IP address, sshd and host keys.
 *
 * - {@linkcode ensureRootfs} builds a minimal root filesystem once with `mmdebstrap` into
 *   `/var/cache/agent-boards/bookworm-<hash of the package list>` and reuses it (later runs of one CI
 *   job and of this machine); each board boots a fresh `cp -a` copy of it (≈ 0.5 s).
 * - {@linkcode BoardFleet.start} makes a bridge `agb-<run>` with a private /24 that exists only on it,
 *   and boots N containers. The host's PID 1 is not systemd here, so each nspawn runs with
 *   `--register=no --keep-unit` inside a cgroup subtree of its own (without it two containers' systemds
 *   share `/system.slice/*.service` cgroups and fight), in a loop that boots again when the guest
 *   reboots (nspawn exits 133), on a bridge rather than a veth pair (the host end of a veth vanishes on
 *   reboot). The supervisor of each board stops its container when this process dies (its stdin, a
 *   pipe from us, closes), and {@linkcode cleanupStaleBoards} removes what a killed run left behind,
 *   so no container, bridge or cgroup outlives a failed test.
 * - Helpers run commands inside ({@linkcode Board.exec}, nsenter), over ssh ({@linkcode Board.ssh}),
 *   reboot, stop, and confine one process to a cgroup-v1 memory limit from the host
 *   ({@linkcode Board.confineMemory}: the containers see the v1 memory controller read-only, so the
 *   unit's own `MemoryMax=` is recorded by systemd but not enforced inside them).
 *
 * Needs root, `systemd-nspawn` (systemd-container), `mmdebstrap`, `ssh`/`ssh-keygen` (openssh-client)
 * and a Debian mirror in /etc/apt.
 *
 * @module
 */
import { join } from "node:path";
import { isDir, must, type Run, run } from "./boards_rootfs.ts";

export {
  arm64Unavailable,
  BOARD_PACKAGES,
  type BoardArch,
  boardsUnavailable,
  ensureRootfs,
  must,
  type Run,
  run,
} from "./boards_rootfs.ts";
import type { BoardArch } from "./boards_rootfs.ts";
import {
  CGROUP_HIERARCHIES,
  cgroupDirs,
  childrenOf,
  cleanupStaleBoards,
  killContainer,
  MEMORY_HIERARCHY,
  pidAlive,
  PREFIX,
  removeCgroupTree,
  RUNS_DIR,
} from "./boards_host.ts";

export { childrenOf, cleanupStaleBoards, PREFIX, RUNS_DIR } from "./boards_host.ts";

/** Polls `cond` until it returns a truthy value; throws naming `what` at the deadline. */
export async function waitFor<T>(
  what: string,
  cond: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  everyMs = 250,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (true) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The supervisor of one board: boots nspawn in a loop (reboot = exit 133), stops it when stdin closes. */
const SUPERVISOR = String.raw`
set -u
name=$1 root=$2 br=$3 dir=$4; shift 4
cgs="$*"
exec >> "$dir/$name.console.log" 2>&1
for d in $cgs; do mkdir -p "$d/$name" && echo $$ > "$d/$name/cgroup.procs"; done
stopping() { [ -e "$dir/$name.stop" ]; }
# The owner's death closes our stdin: power the container off. (A background job's stdin would be
# /dev/null; fd 3 keeps the pipe.)
exec 3<&0
( cat <&3 > /dev/null; touch "$dir/$name.stop"; p=$(cat "$dir/$name.nspawn.pid" 2>/dev/null) && kill -TERM "$p" 2>/dev/null ) &
watch=$!
while :; do
  systemd-nspawn -D "$root" -M "$name" -b --register=no --keep-unit --network-bridge="$br" \
    --console=passive </dev/null 3<&- &
  echo $! > "$dir/$name.nspawn.pid"
  wait $!
  rc=$?
  echo "=== nspawn exited rc=$rc $(date +%T.%N) ==="
  stopping && break
  [ $rc -eq 133 ] || break
done
rm -f "$dir/$name.nspawn.pid"
kill $watch 2>/dev/null
for d in $cgs; do
  echo $$ > "$d/cgroup.procs" 2>/dev/null
  find "$d/$name" -depth -type d -exec rmdir {} \; 2>/dev/null
done
exit 0
`;

/** Options of {@linkcode BoardFleet.start}. */
export interface FleetOptions {
  count: number;
  rootfs: string;
  log?: (line: string) => void;
  /** Seconds to wait for each board to boot and answer ssh (default 120). */
  bootTimeoutS?: number;
  /** Files to write into every board's root before it boots (path → content), e.g. data. */
  files?: (i: number) => Record<string, string | Uint8Array>;
  /**
   * Architecture of `rootfs` (default amd64). arm64 boards run under qemu-user: their run is named
   * `agb-arm64-…` on 10.164.x.0/24, and since systemd-networkd cannot start under qemu-user
   * ("Could not setup manager: Protocol not supported") the host sets their address.
   */
  arch?: BoardArch;
}

/** A set of booted boards on one bridge. */
export class BoardFleet implements AsyncDisposable {
  readonly run: string;
  readonly dir: string;
  readonly bridge: string;
  /** First three octets of the private /24 (e.g. "10.213.7"). */
  readonly net: string;
  readonly boards: Board[] = [];
  /** Client key that logs in as root on every board; and a known_hosts pinning their host keys. */
  readonly sshKey: string;
  readonly knownHosts: string;
  readonly log: (line: string) => void;
  readonly arch: BoardArch;

  private constructor(run: string, net: string, log: (line: string) => void, arch: BoardArch = "amd64") {
    this.arch = arch;
    this.run = run;
    this.dir = join(RUNS_DIR, run);
    this.bridge = run;
    this.net = net;
    this.sshKey = join(this.dir, "id_ed25519");
    this.knownHosts = join(this.dir, "known_hosts");
    this.log = log;
  }

  /** Broadcast address of the boards' subnet. */
  get broadcast(): string {
    return `${this.net}.255`;
  }

  /** Makes the bridge and boots `count` boards on it (in parallel); cleans up everything on failure. */
  static async start(options: FleetOptions): Promise<BoardFleet> {
    const log = options.log ?? (() => {});
    await cleanupStaleBoards(log);
    const arch = options.arch ?? "amd64";
    // Bridge names are at most 15 characters: "agb-arm64-" leaves room for 2 random bytes.
    const id = crypto.getRandomValues(new Uint8Array(arch === "amd64" ? 3 : 2));
    const hex = Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("");
    const run = arch === "amd64" ? `${PREFIX}-${hex}` : `${PREFIX}-${arch}-${hex}`;
    const fleet = new BoardFleet(run, await freeSubnet(id[0], arch === "amd64" ? 213 : 164), log, arch);
    try {
      await Deno.mkdir(fleet.dir, { recursive: true, mode: 0o700 });
      await Deno.writeTextFile(join(fleet.dir, "owner"), String(Deno.pid));
      await must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", run, "-f", fleet.sshKey]);
      await must("ip", ["link", "add", fleet.bridge, "type", "bridge"]);
      await must("ip", ["addr", "add", `${fleet.net}.1/24`, "dev", fleet.bridge]);
      await must("ip", ["link", "set", fleet.bridge, "up"]);
      const boards = await Promise.all(
        Array.from({ length: options.count }, (_, i) => fleet.#prepare(i, options)),
      );
      await Deno.writeTextFile(fleet.knownHosts, boards.map((b) => b.knownHostsLines).join(""));
      fleet.boards.push(...boards);
      const started = Date.now();
      await Promise.all(boards.map((b) => b.boot((options.bootTimeoutS ?? 120) * 1000)));
      log(
        `${boards.length} boards booted and answering ssh in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      return fleet;
    } catch (e) {
      await fleet.stop().catch((e2) => log(`cleanup after a failed start: ${e2}`));
      throw e;
    }
  }

  async #prepare(i: number, options: FleetOptions): Promise<Board> {
    const name = `${this.run}-${i + 1}`;
    const root = join(this.dir, name);
    await must("cp", ["-a", options.rootfs, root]);
    const ip = `${this.net}.${i + 2}`;
    await Deno.writeTextFile(join(root, "etc/hostname"), `${name}\n`);
    await Deno.mkdir(join(root, "etc/systemd/network"), { recursive: true });
    await Deno.writeTextFile(
      join(root, "etc/systemd/network/10-host0.network"),
      `[Match]\nName=host0\n[Network]\nAddress=${ip}/24\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`,
    );
    // Host keys of its own (the cached tree has none), pinned in the fleet's known_hosts.
    await must("ssh-keygen", ["-A", "-f", root]);
    let knownHostsLines = "";
    for (const e of Deno.readDirSync(join(root, "etc/ssh"))) {
      if (/^ssh_host_.*_key\.pub$/.test(e.name)) {
        const [type, key] = (await Deno.readTextFile(join(root, "etc/ssh", e.name))).trim().split(/\s+/);
        knownHostsLines += `${ip} ${type} ${key}\n`;
      }
    }
    await Deno.mkdir(join(root, "root/.ssh"), { recursive: true, mode: 0o700 });
    await Deno.copyFile(`${this.sshKey}.pub`, join(root, "root/.ssh/authorized_keys"));
    await Deno.chmod(join(root, "root/.ssh/authorized_keys"), 0o600);
    for (const [path, content] of Object.entries(options.files?.(i) ?? {})) {
      const abs = join(root, path);
      await Deno.mkdir(join(abs, ".."), { recursive: true });
      if (typeof content === "string") await Deno.writeTextFile(abs, content);
      else await Deno.writeFile(abs, content);
    }
    return new Board(this, name, i, ip, root, knownHostsLines);
  }

  /** Stops every board, removes the bridge, cgroups and files. Safe to call twice. */
  async stop(): Promise<void> {
    const errors: string[] = [];
    await Promise.all(this.boards.map((b) => b.stop().catch((e) => errors.push(String(e)))));
    await run("ip", ["link", "del", this.bridge]);
    for (const cg of cgroupDirs(this.run)) await removeCgroupTree(cg).catch((e) => errors.push(String(e)));
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    if (errors.length) throw new Error(`Stopping the boards: ${errors.join("; ")}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** A private /24 (10.213.x or nearby) not routed on this machine. */
async function freeSubnet(seed: number, second = 213): Promise<string> {
  const routes = await run("ip", ["-4", "route", "show", "table", "all"]);
  for (let k = 0; k < 256; k++) {
    const net = `10.${second}.${(seed + k) % 256}`;
    if (!routes.stdout.includes(`${net}.`)) return net;
  }
  throw new Error(`No free 10.${second}.x.0/24 subnet on this machine`);
}

/** One booted board. */
export class Board {
  readonly fleet: BoardFleet;
  readonly name: string;
  readonly index: number;
  readonly ip: string;
  /** Its root directory on the host. */
  readonly root: string;
  readonly knownHostsLines: string;
  #supervisor?: Deno.ChildProcess;
  #stdin?: WritableStreamDefaultWriter<Uint8Array>;
  #exited?: Promise<Deno.CommandStatus>;

  constructor(
    fleet: BoardFleet,
    name: string,
    index: number,
    ip: string,
    root: string,
    knownHostsLines: string,
  ) {
    this.fleet = fleet;
    this.name = name;
    this.index = index;
    this.ip = ip;
    this.root = root;
    this.knownHostsLines = knownHostsLines;
  }

  /** The supervisor's log (nspawn's console output). */
  get consoleLog(): string {
    return join(this.fleet.dir, `${this.name}.console.log`);
  }

  /** Starts the supervisor and waits until systemd reports running and ssh answers. */
  async boot(timeoutMs: number): Promise<void> {
    const cgroups = [...CGROUP_HIERARCHIES].filter(isDir).map((h) => join(h, this.fleet.run));
    this.#supervisor = new Deno.Command("bash", {
      args: [
        "-c",
        SUPERVISOR,
        "agb-supervisor",
        this.name,
        this.root,
        this.fleet.bridge,
        this.fleet.dir,
        ...cgroups,
      ],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#stdin = this.#supervisor.stdin.getWriter();
    this.#exited = this.#supervisor.status;
    await this.waitBooted(timeoutMs);
  }

  /** PID (host view) of systemd-nspawn, or undefined. */
  nspawnPid(): number | undefined {
    try {
      const pid = Number(Deno.readTextFileSync(join(this.fleet.dir, `${this.name}.nspawn.pid`)));
      return pid && pidAlive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** PID (host view) of the container's systemd, or undefined while it is not up. */
  leader(): number | undefined {
    const n = this.nspawnPid();
    return n ? childrenOf(n)[0] : undefined;
  }

  /** Waits until the container's systemd is `running` (or `degraded`, logged) and ssh answers. */
  async waitBooted(timeoutMs: number, previousLeader?: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    let state = "";
    while (true) {
      const l = this.leader();
      if (l && l !== previousLeader) {
        state = (await run("nsenter", ["-t", String(l), "-a", "systemctl", "is-system-running"], {
          continueIfStopped: true,
        })).stdout
          .trim();
        if (state === "running" || state === "degraded") break;
      }
      if (Date.now() > end || this.#exitedNow) {
        const tail = (await Deno.readTextFile(this.consoleLog).catch(() => "")).split("\n").slice(-15);
        throw new Error(
          `Board ${this.name} did not boot (system state ${JSON.stringify(state)}); its console:\n${
            tail.join("\n")
          }`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (state === "degraded") {
      const failed = await this.exec(["systemctl", "--failed", "--no-legend", "--plain"]);
      this.fleet.log(`${this.name} is degraded: ${failed.stdout.trim().replace(/\n/g, "; ")}`);
    }
    if (this.fleet.arch !== "amd64") {
      // networkd cannot run under qemu-user: address host0 from the host (host's `ip`, board's netns).
      for (
        const argv of [
          ["ip", "addr", "replace", `${this.ip}/24`, "dev", "host0"],
          ["ip", "link", "set", "host0", "up"],
        ]
      ) {
        const r = await this.netExec(argv);
        if (r.code !== 0) {
          throw new Error(`On ${this.name}: ${argv.join(" ")} → exit ${r.code}: ${r.stderr.trim()}`);
        }
      }
    }
    while ((await this.ssh("true", { timeoutS: 3 })).code !== 0) {
      if (Date.now() > end) throw new Error(`ssh to ${this.name} (${this.ip}) does not answer`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  get #exitedNow(): boolean {
    return this.#supervisor !== undefined && !this.nspawnPid() && !pidAlive(this.#supervisor.pid);
  }

  /** Runs a command inside the board (all namespaces of its PID 1), no ssh involved. */
  async exec(argv: string[], options: { stdin?: Uint8Array } = {}): Promise<Run> {
    const l = this.leader();
    if (!l) throw new Error(`Board ${this.name} is not running`);
    return await run("nsenter", ["-t", String(l), "-a", "--", ...argv], {
      ...options,
      continueIfStopped: true,
    });
  }

  /** Runs a shell script inside the board; throws on failure. */
  async sh(script: string): Promise<string> {
    const r = await this.exec(["sh", "-c", script]);
    if (r.code !== 0) {
      throw new Error(`On ${this.name}: ${script.slice(0, 200)} → exit ${r.code}: ${r.stderr.trim()}`);
    }
    return r.stdout;
  }

  /** Runs a command in the board's network namespace only (host files and programs). */
  async netExec(argv: string[], options: { stdin?: Uint8Array } = {}): Promise<Run> {
    const l = this.leader();
    if (!l) throw new Error(`Board ${this.name} is not running`);
    return await run("nsenter", ["-t", String(l), "-n", "--", ...argv], {
      ...options,
      continueIfStopped: true,
    });
  }

  /** The ssh options that reach this board as root. */
  sshArgs(timeoutS = 10): string[] {
    return [
      "-F",
      "/dev/null",
      "-i",
      this.fleet.sshKey,
      "-o",
      `UserKnownHostsFile=${this.fleet.knownHosts}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "LogLevel=ERROR",
      "-o",
      `ConnectTimeout=${timeoutS}`,
    ];
  }

  /** Runs `command` (a shell command line) over ssh as root. */
  async ssh(command: string, options: { stdin?: Uint8Array; timeoutS?: number } = {}): Promise<Run> {
    return await run("ssh", [...this.sshArgs(options.timeoutS), `root@${this.ip}`, command], options);
  }

  /** `systemctl reboot` inside; waits until the new boot is running and ssh answers. Returns seconds. */
  async reboot(timeoutMs = 120_000): Promise<number> {
    const before = this.leader();
    const started = Date.now();
    await this.exec(["systemctl", "reboot"]);
    await this.waitBooted(timeoutMs, before);
    return (Date.now() - started) / 1000;
  }

  /**
   * Confines one process (host PID) to a cgroup-v1 memory limit from the host, with its charges moved
   * along; returns the cgroup directory (read `memory.max_usage_in_bytes`, `memory.failcnt`,
   * `memory.oom_control` there). Undefined when the host has no v1 memory controller.
   */
  async confineMemory(hostPid: number, limitBytes: number, softBytes: number): Promise<string | undefined> {
    if (!isDir(MEMORY_HIERARCHY)) return undefined;
    const dir = join(MEMORY_HIERARCHY, this.fleet.run, this.name, `pid-${hostPid}`);
    await Deno.mkdir(dir, { recursive: true });
    // Moving the charges along is refused by newer kernels (EINVAL); then only what the process
    // allocates from now on counts, so confine it early.
    await Deno.writeTextFile(join(dir, "memory.move_charge_at_immigrate"), "3").catch(() => {});
    await Deno.writeTextFile(join(dir, "memory.limit_in_bytes"), String(limitBytes));
    await Deno.writeTextFile(join(dir, "memory.soft_limit_in_bytes"), String(softBytes));
    await Deno.writeTextFile(join(dir, "cgroup.procs"), String(hostPid));
    return dir;
  }

  /** Host PID of a process the board's systemd knows by `containerPid` (e.g. a unit's MainPID). */
  hostPid(containerPid: number): number | undefined {
    const l = this.leader();
    if (!l) return undefined;
    const ns = Deno.readLinkSync(`/proc/${l}/ns/pid`);
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const status = Deno.readTextFileSync(`/proc/${e.name}/status`);
        const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1].trim().split(/\s+/).map(Number);
        if (
          nspid && nspid.length >= 2 && nspid[1] === containerPid &&
          Deno.readLinkSync(`/proc/${e.name}/ns/pid`) === ns
        ) {
          return Number(e.name);
        }
      } catch { /* gone */ }
    }
    return undefined;
  }

  /** Powers the board off (SIGKILL after a grace period) and waits until its supervisor is gone. */
  async stop(graceMs = 20_000): Promise<void> {
    if (!this.#supervisor) return;
    await Deno.writeTextFile(join(this.fleet.dir, `${this.name}.stop`), "").catch(() => {});
    if (this.leader()) await this.exec(["systemctl", "poweroff"]).catch(() => {});
    const exited = this.#exited!;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), graceMs));
    if ((await Promise.race([exited, late])) === "late") {
      const n = this.nspawnPid();
      if (n) killContainer(n);
      await exited;
    }
    clearTimeout(timer);
    await this.#stdin?.close().catch(() => {});
    this.#supervisor = undefined;
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}
