/**
 * The host side of the board containers (scripts/lib/boards.ts): what they need on this machine
 * ({@linkcode boardsUnavailable}), small process helpers, and the Debian root filesystem they boot,
 * built once with `mmdebstrap` and cached ({@linkcode ensureRootfs}).
 *
 * @module
 */
import { join } from "node:path";

/** Debian packages inside each board (a minimal bookworm, like a Raspberry Pi OS Lite image). */
export const BOARD_PACKAGES = [
  "systemd",
  "systemd-sysv",
  "dbus",
  "openssh-server",
  "iproute2",
  "ca-certificates",
];

/** Debian release of the boards. */
export const BOARD_SUITE = "bookworm";

/** Where built root filesystems are kept between runs. */
export const ROOTFS_CACHE = "/var/cache/agent-boards";

/** Output of a command. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion. */
export async function run(
  cmd: string,
  args: string[],
  options: { stdin?: Uint8Array; continueIfStopped?: boolean } = {},
): Promise<Run> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // nsenter (util-linux) stops itself when its child in the container is stopped, and waits for a
  // SIGCONT to pass on. A container shutting down SIGSTOPs every process in it, then SIGCONTs and
  // kills them, but cannot reach the nsenter outside: without this it would wait for ever, and the
  // container's shutdown with it (the child, a zombie of a stopped parent, is never reaped).
  const watch = options.continueIfStopped
    ? setInterval(() => {
      try {
        const stat = Deno.readTextFileSync(`/proc/${child.pid}/stat`);
        if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("T")) Deno.kill(child.pid, "SIGCONT");
      } catch { /* exited */ }
    }, 200)
    : undefined;
  try {
    if (options.stdin) {
      const w = child.stdin.getWriter();
      await w.write(options.stdin).catch(() => {});
      await w.close().catch(() => {});
    }
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearInterval(watch);
  }
}

/** Like {@linkcode run} but throws with stderr on a non-zero exit. */
export async function must(
  cmd: string,
  args: string[],
  options: { stdin?: Uint8Array } = {},
): Promise<string> {
  const r = await run(cmd, args, options);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ").slice(0, 300)} exited with ${r.code}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

function onPath(program: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    try {
      if (Deno.statSync(join(dir, program)).isFile) return true;
    } catch { /* not here */ }
  }
  return false;
}

/** Why boards cannot run here (undefined when they can). */
export function boardsUnavailable(): string | undefined {
  if (Deno.build.os !== "linux") return "boards need Linux";
  if (Deno.uid() !== 0) return "boards need root (systemd-nspawn, bridges, cgroups)";
  const missing = [
    ["systemd-nspawn", "systemd-container"],
    ["mmdebstrap", "mmdebstrap"],
    ["ssh", "openssh-client"],
    ["ssh-keygen", "openssh-client"],
    ["ip", "iproute2"],
    ["nsenter", "util-linux"],
  ].filter(([p]) => !onPath(p)).map(([p, pkg]) => `${p} (${pkg})`);
  if (missing.length) return `missing ${missing.join(", ")}`;
  if (
    !isDir("/sys/fs/cgroup/systemd") && !isDir("/sys/fs/cgroup/unified") &&
    !isFile("/sys/fs/cgroup/cgroup.controllers")
  ) {
    return "no cgroup hierarchy at /sys/fs/cgroup";
  }
  return undefined;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

export function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** The Debian mirror this machine's apt uses. */
export function debianMirror(): string {
  for (const f of ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(f);
    } catch {
      continue;
    }
    const m = /^URIs:\s*(\S+)/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+\s+main/m.exec(text);
    if (m && !/security/.test(m[1])) return m[1];
  }
  return "http://deb.debian.org/debian";
}

/** Debian architecture of a board root filesystem: the host's own, or arm64 run under qemu-user. */
export type BoardArch = "amd64" | "arm64";

/** Hash of what a root filesystem is made of (suite, packages, post-build steps' version, arch). */
export async function rootfsKey(
  packages = BOARD_PACKAGES,
  suite = BOARD_SUITE,
  arch: BoardArch = "amd64",
): Promise<string> {
  // amd64 keeps the key it had before arm64 boards existed, so its cached tree stays valid.
  const text = JSON.stringify({
    suite,
    packages: [...packages].sort(),
    steps: 1,
    ...(arch === "amd64" ? {} : { arch }),
  });
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(d.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The cached root filesystem, built first if missing (≈ 20–70 s; mmdebstrap into a temporary
 * directory that is renamed when complete, so an interrupted build is never used).
 */
export async function ensureRootfs(
  options: { packages?: string[]; arch?: BoardArch; log?: (line: string) => void } = {},
): Promise<string> {
  const packages = options.packages ?? BOARD_PACKAGES;
  const arch = options.arch ?? "amd64";
  const name = arch === "amd64" ? BOARD_SUITE : `${BOARD_SUITE}-${arch}`;
  const dir = join(ROOTFS_CACHE, `${name}-${await rootfsKey(packages, BOARD_SUITE, arch)}`);
  if (isDir(join(dir, "etc"))) return dir;
  await Deno.mkdir(ROOTFS_CACHE, { recursive: true });
  const tmp = `${dir}.tmp-${Deno.pid}`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  const mirror = debianMirror();
  options.log?.(
    `building the board root filesystem (${BOARD_SUITE} ${arch}, ${packages.join(",")}) from ${mirror}`,
  );
  if (arch !== "amd64") await ensureQemuBinfmt();
  const started = Date.now();
  try {
    await must("mmdebstrap", [
      "--quiet",
      "--variant=minbase",
      ...(arch === "amd64" ? [] : [`--architectures=${arch}`]),
      `--include=${packages.join(",")}`,
      BOARD_SUITE,
      tmp,
      `deb ${mirror} ${BOARD_SUITE} main`,
    ]);
    // Static settings every board gets; its address, name and host keys are written at start.
    await must("systemctl", ["--root", tmp, "enable", "systemd-networkd.service"]).catch(async () => {
      // No host systemctl: make the symlinks by hand.
      const wants = join(tmp, "etc/systemd/system/multi-user.target.wants");
      await Deno.mkdir(wants, { recursive: true });
      await Deno.symlink(
        "/lib/systemd/system/systemd-networkd.service",
        join(wants, "systemd-networkd.service"),
      );
      return "";
    });
    for (const e of Deno.readDirSync(join(tmp, "etc/ssh"))) {
      if (e.name.startsWith("ssh_host_")) await Deno.remove(join(tmp, "etc/ssh", e.name));
    }
    await Deno.writeTextFile(join(tmp, "etc/machine-id"), "");
    await Deno.rename(tmp, dir).catch(async (e) => {
      if (!isDir(join(dir, "etc"))) throw e; // a concurrent build finished first: use it
      await Deno.remove(tmp, { recursive: true });
    });
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  options.log?.(`root filesystem built in ${((Date.now() - started) / 1000).toFixed(1)} s: ${dir}`);
  return dir;
}

const BINFMT = "/proc/sys/fs/binfmt_misc";

/**
 * Why arm64 boards cannot run here (undefined when they can): they need `qemu-aarch64-static`
 * (Debian `qemu-user-static`) and its binfmt rule, which {@linkcode ensureQemuBinfmt} registers.
 */
export function arm64Unavailable(): string | undefined {
  if (!onPath("qemu-aarch64-static")) return "missing qemu-aarch64-static (qemu-user-static)";
  if (!isFile("/usr/lib/binfmt.d/qemu-aarch64.conf")) {
    return "no binfmt rule for qemu-aarch64 (/usr/lib/binfmt.d/qemu-aarch64.conf, qemu-user-static)";
  }
  return undefined;
}

/**
 * Makes the kernel run aarch64 ELF files with `qemu-aarch64-static`: mounts `binfmt_misc` if it is
 * not, and registers qemu-user-static's magic/mask with the static binary itself as interpreter and
 * flag F (opened now, so it also works inside chroots and containers). The shipped rule points at
 * `/usr/libexec/qemu-binfmt/aarch64-binfmt-P`, absent on these machines, so an entry whose
 * interpreter is missing is replaced. Idempotent.
 */
export async function ensureQemuBinfmt(): Promise<void> {
  const qemu = "/usr/bin/qemu-aarch64-static";
  if (!isFile(join(BINFMT, "register"))) await must("mount", ["-t", "binfmt_misc", "binfmt_misc", BINFMT]);
  const entry = join(BINFMT, "qemu-aarch64");
  if (isFile(entry)) {
    const text = await Deno.readTextFile(entry);
    const interpreter = /^interpreter (\S+)/m.exec(text)?.[1] ?? "";
    if (/^enabled/m.test(text) && isFile(interpreter)) return;
    await Deno.writeTextFile(entry, "-1"); // remove the unusable entry
  }
  const rule = (await Deno.readTextFile("/usr/lib/binfmt.d/qemu-aarch64.conf")).split("\n")
    .find((l) => l.startsWith(":qemu-aarch64:"));
  const m = rule && /^(:qemu-aarch64:M::[^:]*:[^:]*:)/.exec(rule);
  if (!m) throw new Error("No qemu-aarch64 rule in /usr/lib/binfmt.d/qemu-aarch64.conf");
  await Deno.writeTextFile(join(BINFMT, "register"), `${m[1]}${qemu}:F`);
}
