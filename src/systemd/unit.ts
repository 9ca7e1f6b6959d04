/**
 * The agent's systemd unit: one template ({@linkcode renderUnit}), the file shipped as
 * `deploy/agent.service` (the default rendering; a test keeps them equal), and the commands that
 * install, remove and inspect it.
 *
 * Hardening, and why each line is safe for a Deno/V8 daemon that gossips over UDP and serves a
 * local HTTP API:
 * - a dedicated system user `agent` (not root); state in `StateDirectory=agent` (/var/lib/agent,
 *   exported as `$STATE_DIRECTORY`, which the agent uses as its state directory), the Deno
 *   compile cache in `CacheDirectory=agent`;
 * - `ProtectSystem=strict`, `ProtectHome=yes`, private /tmp and /dev, no capabilities at all
 *   (`CapabilityBoundingSet=` empty, `NoNewPrivileges=yes`);
 * - `RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK`: UDP/TCP, the journal socket, and
 *   netlink for listing network interfaces (broadcast addresses);
 * - `SystemCallFilter=@system-service` minus privileged, mount, debug, … groups;
 * - NOT `MemoryDenyWriteExecute=yes`: V8's JIT needs writable+executable memory and crashes under it.
 * - `Restart=on-failure` with a start limit (5 starts in 5 minutes), so a crash loop stops.
 *
 * `systemd-analyze security --offline=true` rates it 1.2 ("OK"); CI checks it stays ≤ 2.0 and that
 * `systemd-analyze verify` prints nothing.
 *
 * @module
 */

/**
 * The unit's memory limits (systemd units: K, M, G), from the board test's measurements of the agent's
 * resident memory per phase (README "Boards"): boards learning from 1,700–4,300 posted samples peaked at
 * 122–148 MiB resident (about 46 MiB of it the `deno` executable's code, mapped from disk), and at 205
 * MiB before the launcher's warm-up. On a real board the service's cgroup is also charged for the page
 * cache of its state files, hence the room above the peak. Above `MemoryHigh=` the kernel reclaims and
 * throttles.
 */
export const MEMORY_HIGH = "192M";
/** Hard limit (the OOM killer ends the agent; systemd restarts it from its checkpoint). */
export const MEMORY_MAX = "256M";
/**
 * V8 flags of the service (through `DENO_V8_FLAGS`, added to the launcher's own `--v8-flags`): a
 * 32 MiB old generation. The agent's live JavaScript heap is 13–27 MiB (`--trace-gc`); samples and
 * tensors live outside it. 64 MiB took one training agent from 236–262 MiB resident to 142–148 MiB;
 * 32 MiB saved another ≈ 10 MiB at the training peak with the same rounds per second
 * (`deno task bench:release --memory`).
 */
export const SERVICE_V8_FLAGS = "--max-old-space-size=32";
/**
 * The service's environment. Besides the V8 flags, glibc's allocator is told to keep one arena (Deno
 * runs a dozen threads, and each thread's arena keeps freed memory of its own) and to give freed memory
 * back above 128 KiB (array buffers of samples, weights and request bodies are malloc'd, and the
 * default keeps up to 32 MiB of freed top-of-heap and lets the thresholds grow): measured with the
 * released launcher, ≈ 10 MiB less while training and under a datagram flood, same rounds per second.
 */
export const SERVICE_ENV: Readonly<Record<string, string>> = {
  DENO_V8_FLAGS: SERVICE_V8_FLAGS,
  MALLOC_ARENA_MAX: "1",
  MALLOC_TRIM_THRESHOLD_: "131072",
  MALLOC_MMAP_THRESHOLD_: "131072",
};
/** The environment of the unit before the memory work (the benchmark's baseline). */
export const PREVIOUS_SERVICE_ENV: Readonly<Record<string, string>> = {
  DENO_V8_FLAGS: "--max-old-space-size=64",
};

/** Values substituted into the unit. */
export interface UnitOptions {
  /** Install prefix: ExecStart is `<prefix>/current/agent run`. */
  prefix: string;
  /** System user and group the agent runs as. */
  user: string;
  /**
   * Let the service use the GPU's render nodes (`/dev/dri/renderD*`) for WebGPU: `PrivateDevices=no`
   * with `DevicePolicy=closed` + `DeviceAllow=char-drm rw` (only the standard pseudo devices and DRM),
   * and the `render` group. Off by default: `PrivateDevices=yes` hides /dev/dri.
   */
  gpu?: boolean;
}

/** Defaults: the prefix `agent clone` uses for root, and the `agent` user. */
export const DEFAULT_UNIT_OPTIONS: UnitOptions = { prefix: "/opt/agent", user: "agent" };

/** Where the unit's `StateDirectory=agent` lives (what `$STATE_DIRECTORY` says to the agent). */
export const SERVICE_STATE_DIR = "/var/lib/agent";

/** Name of the unit file. */
export const UNIT_NAME = "agent.service";

/** Where system units live. */
export const SYSTEM_UNIT_DIR = "/etc/systemd/system";

/** Directories a hardened unit cannot run a program from (`ProtectHome=yes`). */
export const PROTECTED_HOME_DIRS = ["/home", "/root", "/run/user"];

/** True when `path` is under a directory hidden by `ProtectHome=yes`. */
export function underProtectedHome(path: string): boolean {
  return PROTECTED_HOME_DIRS.some((d) => path === d || path.startsWith(`${d}/`));
}

/** Checks a prefix for the unit; returns a reason it cannot be used, or undefined. */
export function unitPrefixProblem(prefix: string): string | undefined {
  if (!prefix.startsWith("/")) return `prefix ${JSON.stringify(prefix)} is not an absolute path`;
  if (/[\s"'\\$%;]/.test(prefix)) {
    return `prefix ${JSON.stringify(prefix)} contains a space, quote, '$', '%', ';' or backslash`;
  }
  if (underProtectedHome(prefix)) {
    return `prefix ${
      JSON.stringify(prefix)
    } is under a home directory, which the hardened service cannot see (ProtectHome=yes)`;
  }
  return undefined;
}

/** The unit file text (pure). */
export function renderUnit(options: UnitOptions = DEFAULT_UNIT_OPTIONS): string {
  const problem = unitPrefixProblem(options.prefix);
  if (problem) throw new Error(`Cannot render the unit: ${problem}`);
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(options.user)) throw new Error(`Bad user name ${options.user}`);
  const prefix = options.prefix.replace(/\/+$/, "");
  return `# agent: edge-learning agent that gossips signed model updates with paired peers.
# Installed by 'agent service install' (or 'agent clone'); remove with 'agent service uninstall'.
[Unit]
Description=Edge-learning agent (gossips model updates with paired peers)
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
Type=exec
ExecStart=${prefix}/current/agent run
Restart=on-failure
RestartSec=5s
TimeoutStopSec=20s
User=${options.user}
Group=${options.user}
StateDirectory=agent
StateDirectoryMode=0700
CacheDirectory=agent
CacheDirectoryMode=0700
UMask=0077

# No privileges at all.
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
RestrictSUIDSGID=yes
PrivateUsers=yes

# File system: read-only except the state and cache directories.
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=${options.gpu ? "no" : "yes"}
PrivateMounts=yes
DevicePolicy=closed
${
    options.gpu
      ? "# --gpu: WebGPU on the board's GPU through its render node (DRM), nothing else of /dev.\nDeviceAllow=char-drm rw\nSupplementaryGroups=render\n"
      : ""
  }ProtectProc=invisible
ProcSubset=pid
RemoveIPC=yes

# Kernel and host.
ProtectHostname=yes
ProtectClock=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictNamespaces=yes
KeyringMode=private
NotifyAccess=none

# Network: UDP/TCP over IPv4/IPv6, the journal socket, netlink to list interfaces.
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK

# Memory: a board's budget. Above MemoryHigh= the kernel reclaims and throttles; MemoryMax= is the
# hard limit (the OOM killer ends the agent and Restart= brings it back from its checkpoint). V8's
# old generation is capped so that its garbage collector works within it instead of growing the heap
# (samples and tensors live outside it, in array buffers and WebAssembly memory); glibc's allocator
# keeps one arena and returns freed memory above 128 KiB.
MemoryHigh=${MEMORY_HIGH}
MemoryMax=${MEMORY_MAX}
${Object.entries(SERVICE_ENV).map(([k, v]) => `Environment=${k}=${v}`).join("\n")}

# System calls. MemoryDenyWriteExecute= is deliberately absent: V8's JIT needs W+X memory.
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @mount @debug @obsolete @raw-io @reboot @swap @cpu-emulation @module @clock
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
`;
}
