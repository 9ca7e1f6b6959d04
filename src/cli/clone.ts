/**
 * `agent clone user@host …`: installs this agent on other boards over SSH and pairs them all. The work
 * is done by `src/replicate/`; this file parses options and targets (command line and `--inventory`),
 * wires the local agent, and shows progress: an upload bar for one board, a live table for several
 * (plain lines when not on a terminal), then the outcome.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { CloneOptions, ClonePhase, CloneReport } from "../replicate/mod.ts";
import type { HostSpec } from "../replicate/mod.ts";
import type { SshOptions } from "../replicate/mod.ts";
import type { Command, CommandContext } from "./command.ts";
import { intOpt, stringOpt } from "./command.ts";
import { localAgent } from "./clone_local.ts";
import { type FleetRow, renderFleetSummary, renderFleetTable, renderProgress } from "./clone_progress.ts";

/** The `clone` command. */
export const cloneCommand: Command = {
  name: "clone",
  summary: "Install this agent on other boards over SSH and pair them all",
  usage: [
    "clone [user@]host[:port]… [--inventory FILE] [--parallel N] [--identity KEYFILE] [--prefix DIR] [--name NAME] [--no-service] [--accept-new-host-key] [--dry-run]",
  ],
  description: [
    "Uses your OpenSSH client (keys, agent, ~/.ssh/config). Host keys are always checked: an unknown",
    "host is refused unless --accept-new-host-key (then its key is pinned). Passwords are never asked.",
    "",
    "Steps: probe the board (architecture, OS, page size, disk, systemd), upload a release for its",
    "architecture that needs neither Deno nor the internet there, verify its sha256 and switch",
    "<prefix>/current atomically (the previous release is kept), copy the config and model",
    "checkpoints (never the private key), let the board create its own identity, make both agents",
    "trust each other (the new one also trusts every peer this one trusts), and install and start",
    "the systemd service when the login is root or may sudo without a password.",
    "After the service (re)starts, a health check on the board waits for it to answer; if a changed",
    "release does not, the board switches back to its previous release (its state is untouched).",
    "Running it again with nothing changed reports 'up to date' and changes nothing.",
    "",
    "Several targets (or --inventory FILE: one user@host[:port] a line, # comments) are cloned in",
    "parallel, --parallel at a time; one failure never stops the others, and every new board trusts",
    "every other. The exit code is 0 only when every board succeeded.",
  ].join("\n"),
  options: {
    inventory: {
      type: "string",
      arg: "FILE",
      help: "Read targets from FILE, one user@host[:port] a line (# comments, blank lines allowed)",
    },
    parallel: { type: "string", arg: "N", help: "Clone to at most N boards at once (default 4)" },
    port: {
      type: "string",
      short: "p",
      arg: "N",
      help: "SSH port for targets without :port (default 22 or ~/.ssh/config)",
    },
    identity: { type: "string", short: "i", arg: "KEYFILE", help: "SSH private key to log in with" },
    prefix: {
      type: "string",
      arg: "DIR",
      help:
        "Install directory on the target; relative = under the login's home (default /opt/agent as root, else ~/.local/lib/agent)",
    },
    "remote-state": {
      type: "string",
      arg: "DIR",
      help: "State directory on the target (default /var/lib/agent as root, else ~/.local/state/agent)",
    },
    name: {
      type: "string",
      arg: "NAME",
      help: "Node name of the new agent (default: the target's host name; one target only)",
    },
    "no-service": { type: "boolean", help: "Do not install the systemd service; print the start command" },
    "health-timeout": {
      type: "string",
      arg: "S",
      help: "Seconds the service may take to answer after a (re)start before rolling back (default 60)",
    },
    "accept-new-host-key": {
      type: "boolean",
      help: "Accept an unknown host key once and pin it (a changed key is still refused)",
    },
    "dry-run": { type: "boolean", help: "Probe the target and print the plan; change nothing" },
    "known-hosts": {
      type: "string",
      arg: "FILE",
      help: "known_hosts file to use instead of ~/.ssh/known_hosts",
    },
    "ssh-config": {
      type: "string",
      arg: "FILE",
      help: "ssh config file (-F); /dev/null ignores ~/.ssh/config",
    },
    "ssh-option": {
      type: "string",
      multiple: true,
      arg: "KEY=VALUE",
      help: "Extra ssh -o option (repeatable)",
    },
    "limit-rate": {
      type: "string",
      arg: "KIB",
      help: "Upload at most KIB KiB/s per board (spare a slow link)",
    },
    runtime: { type: "string", arg: "FILE", help: "Deno runtime binary for the target's architecture" },
    binary: {
      type: "string",
      arg: "FILE",
      help: "Ship this compiled agent binary instead of the source tree",
    },
    cache: {
      type: "string",
      arg: "DIR",
      help: "Cache for runtimes and release tarballs (default ~/.cache/agent)",
    },
  },
  positionals: [0, 10_000],
  examples: [
    "agent clone pi@raspberrypi.local",
    "agent clone root@192.0.2.7 --name greenhouse --accept-new-host-key",
    "agent clone pi@board --dry-run",
    "agent clone pi@board --prefix agent --no-service   # installs in ~/agent on the board",
    "agent clone root@10.0.0.11 root@10.0.0.12:2222 root@10.0.0.13",
    "agent clone --inventory boards.txt --parallel 8 --json",
  ],
  run: runClone,
};

/** Everything the command line says, checked. */
interface Parsed {
  hosts: HostSpec[];
  fleet: boolean;
  parallel: number;
  ssh: Omit<SshOptions, "target" | "port">;
  port?: number;
  base: Omit<CloneOptions, "ssh" | "log" | "signal">;
}

async function parse(ctx: CommandContext): Promise<Parsed> {
  const { parseHostSpec, parseInventory, checkDuplicates } = await import("../replicate/inventory.ts");
  const { checkSshOption } = await import("../replicate/ssh.ts");
  const { releaseSource } = await import("../replicate/source.ts");
  const { defaultCacheDir } = await import("../replicate/release.ts");
  const port = intOpt(ctx, "port", 1, 65535, "clone");
  const limit = intOpt(ctx, "limit-rate", 1, 10_000_000, "clone");
  const parallel = intOpt(ctx, "parallel", 1, 64, "clone") ?? 4;
  const healthTimeoutS = intOpt(ctx, "health-timeout", 5, 3600, "clone") ?? 60;
  const inventory = stringOpt(ctx, "inventory");
  const hosts = ctx.positionals.map((p, i) => parseHostSpec(p, `Argument ${i + 1}`));
  if (inventory !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(inventory);
    } catch (e) {
      throw new UsageError(
        `Option --inventory: cannot read ${JSON.stringify(inventory)}: ${(e as Error).message}`,
        "Give a text file with one user@host[:port] a line",
      );
    }
    hosts.push(...parseInventory(text, inventory));
  }
  if (hosts.length === 0) {
    throw new UsageError(
      "'agent clone' needs a target",
      "Give user@host (several are fine) or --inventory FILE",
    );
  }
  checkDuplicates(hosts, port);
  const fleet = hosts.length > 1 || inventory !== undefined;
  const name = stringOpt(ctx, "name");
  if (name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/.test(name)) {
    throw new UsageError(
      `Option --name ${JSON.stringify(name)} is not a valid node name`,
      "Use 1-32 letters, digits, '.', '_' or '-'",
    );
  }
  if (name !== undefined && fleet) {
    throw new UsageError(
      `Option --name names one board, but ${hosts.length} targets were given`,
      "Drop --name (each board takes its host name), or set node.name in each board's config later",
    );
  }
  const files: Record<string, string | undefined> = {};
  for (const f of ["identity", "known-hosts", "ssh-config", "runtime", "binary"]) {
    const v = stringOpt(ctx, f);
    if (v === "") throw new UsageError(`Option --${f} needs a file name`, "Run 'agent clone --help'");
    if (v !== undefined && v !== "/dev/null") {
      try {
        if (!(await Deno.stat(v)).isFile) throw new Deno.errors.NotFound();
      } catch {
        throw new UsageError(`Option --${f}: file ${JSON.stringify(v)} does not exist`, "Check the path");
      }
    }
    files[f] = v;
  }
  for (const d of ["prefix", "remote-state"]) {
    const v = stringOpt(ctx, d);
    if (v !== undefined && (v === "" || /[\n\0]/.test(v))) {
      throw new UsageError(
        `Option --${d} ${JSON.stringify(v)} is not a usable directory`,
        "Give an absolute path",
      );
    }
  }
  const extraOptions = ((ctx.values["ssh-option"] as string[] | undefined) ?? []).map(checkSshOption);
  const cacheDir = stringOpt(ctx, "cache") ?? defaultCacheDir(ctx.io.env);
  return {
    hosts,
    fleet,
    parallel,
    port,
    ssh: {
      identity: files.identity,
      knownHosts: files["known-hosts"],
      sshConfig: files["ssh-config"],
      acceptNewHostKey: ctx.values["accept-new-host-key"] === true,
      extraOptions,
    },
    base: {
      prefix: stringOpt(ctx, "prefix"),
      remoteState: stringOpt(ctx, "remote-state"),
      name,
      service: ctx.values["no-service"] !== true,
      dryRun: ctx.values["dry-run"] === true,
      release: releaseSource({ cacheDir, runtimeFile: files.runtime, binary: files.binary }),
      healthTimeoutS,
      rateLimit: limit !== undefined ? limit * 1024 : undefined,
      debug: ctx.global.logLevel === "debug" ? (line) => ctx.io.stderr(`debug: ${line}\n`) : undefined,
    },
  };
}

async function runClone(ctx: CommandContext): Promise<number> {
  const p = await parse(ctx);
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  Deno.addSignalListener("SIGINT", onSigint);
  Deno.addSignalListener("SIGTERM", onSigint);
  try {
    return p.fleet ? await runFleet(ctx, p, controller.signal) : await runOne(ctx, p, controller.signal);
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
    Deno.removeSignalListener("SIGTERM", onSigint);
  }
}

function sshFor(p: Parsed, host: HostSpec): SshOptions {
  return { ...p.ssh, target: host.target, port: host.port ?? p.port };
}

/** One board: an upload bar on a terminal, then what happened in words. */
async function runOne(ctx: CommandContext, p: Parsed, signal: AbortSignal): Promise<number> {
  const { cloneAgent } = await import("../replicate/clone.ts");
  const { CloneError } = await import("../replicate/errors.ts");
  const progressStart = new Map<string, number>();
  let progressShown = false;
  let lastDraw = 0;
  const host = p.hosts[0];
  try {
    const report = await cloneAgent({
      ...p.base,
      ssh: sshFor(p, host),
      signal,
      log: (line) => {
        if (progressShown) {
          ctx.io.stderr("\n");
          progressShown = false;
        }
        if (!ctx.global.json) ctx.io.stderr(line + "\n");
      },
      progress: ctx.io.isTerminal && !ctx.global.json
        ? (label, sent, total) => {
          const now = Date.now();
          if (!progressStart.has(label)) progressStart.set(label, now);
          // Redraw at most ten times a second, and always at the end.
          if (sent < total && now - lastDraw < 100) return;
          lastDraw = now;
          ctx.io.stderr(`\r${renderProgress(label, sent, total, now - progressStart.get(label)!)}`);
          progressShown = sent < total;
          if (sent >= total) ctx.io.stderr("\n");
        }
        : undefined,
    }, localAgent(ctx));
    if (ctx.global.json) {
      ctx.print("", report);
      return 0;
    }
    ctx.io.stdout(describeReport(report, host, p.port) + "\n");
    return 0;
  } catch (e) {
    if (progressShown) ctx.io.stderr("\n");
    if (e instanceof CloneError) {
      ctx.io.stderr(`agent: error: ${e.message}\n${e.hint ? `  hint: ${e.hint}\n` : ""}`);
      return e.kind === "interrupted" ? 130 : 1;
    }
    throw e;
  }
}

/** The outcome of one clone in words. */
function describeReport(report: CloneReport, host: HostSpec, defaultPort: number | undefined): string {
  if (report.action === "dry-run") {
    return `Plan for ${report.target} (dry run, nothing changed):\n${
      report.plan.map((l) => `  ${l}`).join("\n")
    }`;
  }
  const lines: string[] = [];
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  if (!report.changed) {
    lines.push(`${report.target} is up to date (release ${report.release}); nothing changed.`);
  } else {
    lines.push(
      report.action === "up-to-date"
        ? `${report.target}: release ${report.release} was already installed; state and trust updated.`
        : `Cloned to ${report.target}: release ${report.release} in ${report.prefix}/current${
          report.uploadedBytes
            ? ` (uploaded ${mib(report.uploadedBytes)} in ${(report.uploadMs / 1000).toFixed(1)} s)`
            : ""
        }`,
    );
  }
  if (report.child && report.parent) {
    lines.push(`  new agent:  ${report.child.name}  ${report.child.fingerprint}  (trusts this agent)`);
    lines.push(`  this agent: ${report.parent.name}  ${report.parent.fingerprint}  (trusts the new agent)`);
  }
  if (report.seeded.length) lines.push(`  copied: ${report.seeded.join(", ")} (the private key stays here)`);
  if (report.trustAdded.onChild.length > 1) {
    lines.push(
      `  the new agent also trusts the ${report.trustAdded.onChild.length - 1} peer(s) this agent trusts;`,
      "  for them to accept its updates, run on each of those boards:",
      `    agent trust ${report.child!.payload}`,
    );
  }
  switch (report.service) {
    case "started":
    case "restarted":
      lines.push(
        `  service: agent.service ${report.service}${
          report.health ? `, healthy after ${(report.health.waitedMs / 1000).toFixed(1)} s` : ""
        } (journalctl -u agent -f)`,
      );
      break;
    case "unchanged":
      lines.push("  service: agent.service running, unchanged");
      break;
    default: {
      const port = host.port ?? defaultPort;
      const user = host.target.user ? `${host.target.user}@` : "";
      const h = host.target.host.includes(":") ? `[${host.target.host}]` : host.target.host;
      lines.push(
        `  service: ${
          report.service === "skipped" ? "not installed (--no-service)" : "not available on the target"
        }; start the agent with:`,
        `    ssh ${user}${h}${port ? ` -p ${port}` : ""} ${report.startCommand}`,
      );
    }
  }
  return lines.join("\n");
}

/** Several boards: a live table (terminal) or plain lines, then the summary; exit 0 only if all succeeded. */
async function runFleet(ctx: CommandContext, p: Parsed, signal: AbortSignal): Promise<number> {
  const { cloneAgent } = await import("../replicate/clone.ts");
  const { cloneFleet } = await import("../replicate/fleet.ts");
  const { trustSiblings } = await import("../replicate/trust.ts");
  const { Ssh, describeTarget } = await import("../replicate/ssh.ts");
  const local = localAgent(ctx);
  const live = ctx.io.isTerminal && !ctx.global.json;
  const rows: FleetRow[] = p.hosts.map((h) => ({ target: describeTarget(h.target, h.port ?? p.port) }));
  let drawn = 0;
  let lastDraw = 0;
  const draw = (force = false) => {
    if (!live) return;
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const lines = renderFleetTable(rows, now);
    ctx.io.stderr((drawn ? `\x1b[${drawn}A` : "") + lines.map((l) => `\x1b[2K${l}\n`).join(""));
    drawn = lines.length;
  };
  const plain = (i: number, line: string) => {
    if (!live && !ctx.global.json) ctx.io.stderr(`[${rows[i].target}] ${line.trim()}\n`);
  };
  if (!ctx.global.json && !live) {
    ctx.io.stderr(`Cloning to ${p.hosts.length} board(s), ${p.parallel} at a time …\n`);
  }
  draw(true);
  const timer = live ? setInterval(() => draw(), 250) : undefined;
  const started = Date.now();
  let results;
  try {
    results = await cloneFleet(p.hosts, {
      parallel: p.parallel,
      signal,
      describe: (h) => describeTarget(h.target, h.port ?? p.port),
      clone: (h, i) => {
        rows[i].startedAt = Date.now();
        return cloneAgent({
          ...p.base,
          ssh: sshFor(p, h),
          signal,
          log: (line) => plain(i, line),
          phase: (phase: ClonePhase) => {
            rows[i].phase = phase;
            plain(i, `step: ${phase}`);
            draw();
          },
          progress: (label, sent, total) => {
            rows[i].upload = { label, sent, total };
            draw();
          },
        }, local);
      },
      trustSiblings: async (h, report, siblings) => {
        const ssh = new Ssh(sshFor(p, h), signal);
        ssh.sudo = report.sudo;
        return await trustSiblings(ssh, report, report.child!, siblings);
      },
      onResult: (i, r) => {
        rows[i].result = r;
        plain(i, r.status === "failed" || r.status === "rolled-back" ? `${r.status}: ${r.reason}` : r.status);
        draw(true);
      },
    });
  } finally {
    if (timer !== undefined) clearInterval(timer);
  }
  draw(true);
  const ok = results.every((r) =>
    r.status === "installed" || r.status === "up-to-date" || r.status === "dry-run"
  );
  if (ctx.global.json) {
    ctx.print("", {
      ok,
      parallel: p.parallel,
      ms: Date.now() - started,
      hosts: results.map((r) => ({
        target: r.target,
        status: r.status,
        reason: r.reason,
        hint: r.hint,
        kind: r.kind,
        ms: r.ms,
        release: r.report?.release,
        service: r.report?.service,
        fingerprint: r.report?.child?.fingerprint,
        siblingsTrusted: r.siblingsTrusted,
        ...(r.report?.action === "dry-run" ? { plan: r.report.plan } : {}),
      })),
    });
  } else {
    for (const r of results) {
      if (r.report?.action === "dry-run") {
        ctx.io.stdout(
          `Plan for ${r.target} (dry run, nothing changed):\n${
            r.report.plan.map((l) => `  ${l}`).join("\n")
          }\n`,
        );
      }
    }
    ctx.io.stdout(renderFleetSummary(results) + "\n");
  }
  if (signal.aborted) return 130;
  return ok ? 0 : 1;
}
