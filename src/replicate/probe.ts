/**
 * What the target is, found by one POSIX `sh` script run over SSH before anything is copied:
 * architecture, OS, C library, page size, free disk, systemd, privileges, tools, and what agent release
 * is installed under the prefix. {@linkcode parseProbe} reads its `key=value` output and
 * {@linkcode assessTarget} decides whether the agent can run there (pure, unit-tested).
 *
 * @module
 */
import { CloneError, CloneFailure } from "./errors.ts";
import { type Arch, ARCHES, parseComponents } from "./arch.ts";
import { shQuote } from "./ssh.ts";

export { type Arch, ARCHES } from "./arch.ts";

/** What the probe found on the target. */
export interface TargetInfo {
  /** `uname -s` (Linux). */
  kernel: string;
  /** `uname -m` as reported. */
  machine: string;
  /** Normalised architecture, or undefined when not one we ship. */
  arch: Arch | undefined;
  /** `uname -r`. */
  kernelRelease: string;
  /** PRETTY_NAME from /etc/os-release. */
  os: string;
  /** glibc version (`getconf GNU_LIBC_VERSION`), empty when the C library is not glibc (e.g. musl). */
  glibc: string;
  /** Bytes per memory page (`getconf PAGESIZE`). */
  pageSize: number;
  /** Free KiB on the file system that will hold the prefix. */
  freeKiB: number;
  /** Remote user id (0 = root). */
  uid: number;
  /** Home directory of the login. */
  home: string;
  /** `sudo -n true` works (passwordless sudo). */
  sudo: boolean;
  /** systemd is the running init (/run/systemd/system exists) and systemctl is installed. */
  systemd: boolean;
  /** The login can write where the prefix is (or would be created). */
  prefixWritable: boolean;
  /** Tools the install needs that are missing. */
  missingTools: string[];
  /** Release id `<prefix>/current` points at, or empty. */
  currentRelease: string;
  /** `<prefix>/current/agent --version` output, or empty. */
  installedVersion: string;
  /** Releases present under `<prefix>/releases`. */
  releases: string[];
  /** Content keys of the current release's reusable parts (its COMPONENTS file): runtime, deps. */
  currentParts: Record<string, string>;
  /** The resolved absolute prefix on the target. */
  prefix: string;
  /** The resolved absolute state directory on the target. */
  state: string;
  /** What the target's state directory already holds: "config", "identity", "checkpoints". */
  stateHas: string[];
}

/** Tools the install script uses on the target. */
export const REQUIRED_TOOLS = ["tar", "gzip", "sha256sum", "mkdir", "mv", "ln", "rm", "df", "readlink"];

/**
 * The probe script. `prefix` and `remoteState` may start with `~/` (the login's home); undefined picks
 * the default (system-wide for root or a sudo-able service login, else under the home). Prints
 * `key=value` lines only.
 */
export function probeScript(
  prefix: string | undefined,
  remoteState: string | undefined,
  wantService: boolean,
): string {
  const expr = (v: string) => v.startsWith("~/") ? `"$HOME"/${shQuote(v.slice(2))}` : shQuote(v);
  return `set -u
prefix=${prefix === undefined ? '""' : expr(prefix)}
state=${remoteState === undefined ? '""' : expr(remoteState)}
system=0
if [ "$(id -u)" = 0 ]; then system=1
elif [ ${
    wantService ? 1 : 0
  } = 1 ] && [ -d /run/systemd/system ] && command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then system=1
fi
if [ -z "$prefix" ]; then if [ $system = 1 ]; then prefix=/opt/agent; else prefix="$HOME/.local/lib/agent"; fi; fi
if [ -z "$state" ]; then if [ $system = 1 ]; then state=/var/lib/agent; else state="\${XDG_STATE_HOME:-$HOME/.local/state}/agent"; fi; fi
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
case "$state" in /*) ;; *) state="$PWD/$state" ;; esac
echo "prefix=$prefix"
echo "state=$state"
sst=""; [ -e "$state/agent.yaml" ] && sst="$sst config"; [ -e "$state/identity" ] && sst="$sst identity"
if [ -d "$state/checkpoints" ] && [ -n "$(ls -A "$state/checkpoints" 2>/dev/null)" ]; then sst="$sst checkpoints"; fi
echo "stateHas=$sst"
echo "kernel=$(uname -s 2>/dev/null)"
echo "machine=$(uname -m 2>/dev/null)"
echo "kernelRelease=$(uname -r 2>/dev/null)"
os=""; if [ -r /etc/os-release ]; then os=$(. /etc/os-release 2>/dev/null; echo "\${PRETTY_NAME:-\${NAME:-}}"); fi
echo "os=$os"
echo "glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null)"
echo "pageSize=$(getconf PAGESIZE 2>/dev/null || getconf PAGE_SIZE 2>/dev/null)"
d="$prefix"; while [ ! -d "$d" ] && [ "$d" != "/" ]; do d=$(dirname "$d"); done
echo "freeKiB=$(df -Pk "$d" 2>/dev/null | awk 'NR==2 {print $4}')"
if [ -w "$d" ] || { [ $system = 1 ] && [ "$(id -u)" != 0 ]; }; then echo prefixWritable=1; else echo prefixWritable=0; fi
echo "uid=$(id -u)"
echo "home=$HOME"
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then echo sudo=1; else echo sudo=0; fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then echo systemd=1; else echo systemd=0; fi
missing=""; for t in ${
    REQUIRED_TOOLS.join(" ")
  }; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done
echo "missingTools=$missing"
cur=$(readlink "$prefix/current" 2>/dev/null || true)
echo "currentRelease=\${cur##*/}"
v=""; if [ -x "$prefix/current/agent" ]; then v=$("$prefix/current/agent" --version 2>/dev/null | head -n 1); fi
echo "installedVersion=$v"
echo "releases=$(ls -1 "$prefix/releases" 2>/dev/null | grep -v '^\\.' | tr '\\n' ' ')"
cp=""; if [ -r "$prefix/current/COMPONENTS" ]; then cp=$(tr '\\n' ' ' < "$prefix/current/COMPONENTS"); fi
echo "currentParts=$cp"
`;
}

/** Maps `uname -m` to a release architecture. */
export function normaliseArch(machine: string): Arch | undefined {
  switch (machine.trim()) {
    case "x86_64":
    case "amd64":
      return "x86_64";
    case "aarch64":
    case "arm64":
      return "aarch64";
    default:
      return undefined;
  }
}

/** Reads the probe output (pure); missing numeric fields become 0, missing strings empty. */
export function parseProbe(output: string): TargetInfo {
  const kv = new Map<string, string>();
  for (const line of output.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) kv.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const s = (k: string) => kv.get(k) ?? "";
  const n = (k: string) => {
    const v = Number(s(k));
    return Number.isFinite(v) && s(k) !== "" ? v : 0;
  };
  const machine = s("machine");
  const list = (k: string) => s(k).split(/\s+/).filter((x) => x !== "");
  return {
    kernel: s("kernel"),
    machine,
    arch: normaliseArch(machine),
    kernelRelease: s("kernelRelease"),
    os: s("os"),
    glibc: s("glibc"),
    pageSize: n("pageSize"),
    freeKiB: n("freeKiB"),
    uid: kv.has("uid") && s("uid") !== "" ? n("uid") : -1,
    home: s("home"),
    sudo: s("sudo") === "1",
    systemd: s("systemd") === "1",
    prefixWritable: s("prefixWritable") !== "0",
    missingTools: list("missingTools"),
    currentRelease: s("currentRelease"),
    installedVersion: s("installedVersion"),
    releases: list("releases"),
    currentParts: parseComponents(s("currentParts")),
    prefix: s("prefix"),
    state: s("state"),
    stateHas: list("stateHas"),
  };
}

/**
 * Refuses targets the agent cannot run on, with what to do (pure). `neededKiB` is the disk space the
 * upload and unpacked release need.
 */
export function assessTarget(info: TargetInfo, who: string, neededKiB: number): void {
  if (info.kernel !== "Linux") {
    throw new CloneError(
      CloneFailure.UnsupportedTarget,
      `${who} runs ${JSON.stringify(info.kernel || "an unknown OS")}, not Linux`,
      "The agent runs on Linux boards only (x86_64 or aarch64 with glibc)",
    );
  }
  if (!info.arch) {
    const armv7 = /^arm/.test(info.machine);
    throw new CloneError(
      CloneFailure.UnsupportedTarget,
      `${who} has architecture ${JSON.stringify(info.machine)}; releases exist for ${
        ARCHES.join(" and ")
      } only`,
      armv7
        ? "Install a 64-bit OS on the board (e.g. Raspberry Pi OS 64-bit); 32-bit ARM is not supported by Deno"
        : "Use an x86_64 or aarch64 (64-bit ARM) Linux board",
    );
  }
  if (info.glibc === "") {
    throw new CloneError(
      CloneFailure.UnsupportedTarget,
      `${who} does not use glibc (musl-based systems such as Alpine cannot run the release)`,
      "Use a glibc distribution (Debian, Raspberry Pi OS, Ubuntu, Fedora)",
    );
  }
  if (info.arch === "aarch64" && info.pageSize > 4096) {
    throw new CloneError(
      CloneFailure.UnsupportedTarget,
      `${who} runs a kernel with ${info.pageSize / 1024} KiB memory pages (kernel ${
        JSON.stringify(info.kernelRelease)
      }); the JavaScript engine needs 4 KiB pages`,
      "On a Raspberry Pi 5 switch to the 4 KiB-page kernel: add the line 'kernel=kernel8.img' to /boot/firmware/config.txt and reboot, then run the clone again",
    );
  }
  if (!info.prefixWritable) {
    throw new CloneError(
      CloneFailure.UnsupportedTarget,
      `${who}: the login may not write ${JSON.stringify(info.prefix)}`,
      "Choose a --prefix the login owns (a relative one is under its home), or log in as root",
    );
  }
  if (info.missingTools.length > 0) {
    throw new CloneError(
      CloneFailure.UnsupportedTarget,
      `${who} lacks ${info.missingTools.join(", ")}, needed to install`,
      `Install them on the target (Debian: sudo apt-get install tar gzip coreutils)`,
    );
  }
  if (neededKiB > 0 && info.freeKiB < neededKiB) {
    throw new CloneError(
      CloneFailure.NoSpace,
      `${who} has ${Math.floor(info.freeKiB / 1024)} MiB free at ${
        JSON.stringify(info.prefix)
      } but the release needs ${Math.ceil(neededKiB / 1024)} MiB`,
      "Free some space on the target or choose another --prefix on a bigger disk",
    );
  }
}
