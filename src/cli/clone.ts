/**
 * `agent clone user@host`: installs this agent on another board over SSH and pairs the two.
 * The work is done by `src/replicate/`; this file parses options, wires the local agent (its own `id`
 * and `trust` commands, run in-process), draws the upload progress bar and prints the outcome.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { Command, CommandContext, Io } from "./command.ts";
import { intOpt, stringOpt } from "./command.ts";

/** The `clone` command. */
export const cloneCommand: Command = {
  name: "clone",
  summary: "Install this agent on another board over SSH and pair the two",
  usage: [
    "clone [user@]host [--port N] [--identity KEYFILE] [--prefix DIR] [--name NAME] [--no-service] [--accept-new-host-key] [--dry-run]",
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
    "Running it again with nothing changed reports 'up to date' and changes nothing.",
  ].join("\n"),
  options: {
    port: { type: "string", short: "p", arg: "N", help: "SSH port (default 22 or ~/.ssh/config)" },
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
      help: "Node name of the new agent (default: the target's host name)",
    },
    "no-service": { type: "boolean", help: "Do not install the systemd service; print the start command" },
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
    "limit-rate": { type: "string", arg: "KIB", help: "Upload at most KIB KiB/s (spare a slow link)" },
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
  positionals: [1, 1],
  examples: [
    "agent clone pi@raspberrypi.local",
    "agent clone root@192.0.2.7 --name greenhouse --accept-new-host-key",
    "agent clone pi@board --dry-run",
    "agent clone pi@board --prefix agent --no-service   # installs in ~/agent on the board",
  ],
  run: runClone,
};

/** Runs another agent command in-process against the same state directory and returns its stdout. */
async function runLocal(ctx: CommandContext, argv: string[]): Promise<string> {
  const { runCli } = await import("./mod.ts");
  let out = "";
  let err = "";
  const io: Io = {
    ...ctx.io,
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    isTerminal: false,
    stdinIsTerminal: false,
  };
  const global = ["--state", ctx.state.root, ...(ctx.global.config ? ["--config", ctx.global.config] : [])];
  const code = await runCli([...argv, ...global], io);
  if (code !== 0) {
    throw new Error(`'agent ${argv.slice(0, 2).join(" ")}' failed here (exit ${code}): ${err.trim()}`);
  }
  return out;
}

async function runClone(ctx: CommandContext): Promise<number> {
  const { parseTarget, checkSshOption } = await import("../replicate/ssh.ts");
  const { cloneAgent, renderProgress, mib } = await import("../replicate/clone.ts");
  const { CloneError } = await import("../replicate/errors.ts");
  const { defaultCacheDir } = await import("../replicate/release.ts");

  const target = parseTarget(ctx.positionals[0]);
  const port = intOpt(ctx, "port", 1, 65535, "clone");
  const limit = intOpt(ctx, "limit-rate", 1, 10_000_000, "clone");
  const name = stringOpt(ctx, "name");
  if (name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/.test(name)) {
    throw new UsageError(
      `Option --name ${JSON.stringify(name)} is not a valid node name`,
      "Use 1-32 letters, digits, '.', '_' or '-'",
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

  const controller = new AbortController();
  const onSigint = () => controller.abort();
  Deno.addSignalListener("SIGINT", onSigint);
  Deno.addSignalListener("SIGTERM", onSigint);
  const progressStart = new Map<string, number>();
  let progressShown = false;
  let lastDraw = 0;
  try {
    const report = await cloneAgent({
      ssh: {
        target,
        port,
        identity: files.identity,
        knownHosts: files["known-hosts"],
        sshConfig: files["ssh-config"],
        acceptNewHostKey: ctx.values["accept-new-host-key"] === true,
        extraOptions,
      },
      prefix: stringOpt(ctx, "prefix"),
      remoteState: stringOpt(ctx, "remote-state"),
      name,
      service: ctx.values["no-service"] !== true,
      dryRun: ctx.values["dry-run"] === true,
      cacheDir: stringOpt(ctx, "cache") ?? defaultCacheDir(ctx.io.env),
      runtimeFile: files.runtime,
      binary: files.binary,
      rateLimit: limit !== undefined ? limit * 1024 : undefined,
      signal: controller.signal,
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
      debug: ctx.global.logLevel === "debug" ? (line) => ctx.io.stderr(`debug: ${line}\n`) : undefined,
    }, {
      configPath: ctx.configPath,
      checkpointsDir: ctx.state.checkpoints,
      modelsDir: ctx.state.models,
      identity: async () => JSON.parse(await runLocal(ctx, ["id", "--json"])),
      trusted: async () => JSON.parse(await runLocal(ctx, ["trust", "list", "--json"])),
      trust: async (payload) => {
        await runLocal(ctx, ["trust", payload, "--yes"]);
      },
    });

    if (ctx.global.json) {
      ctx.print("", report);
      return 0;
    }
    if (report.action === "dry-run") {
      ctx.io.stdout(
        `Plan for ${report.target} (dry run, nothing changed):\n${
          report.plan.map((l) => `  ${l}`).join("\n")
        }\n`,
      );
      return 0;
    }
    const lines: string[] = [];
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
    if (report.seeded.length) {
      lines.push(`  copied: ${report.seeded.join(", ")} (the private key stays here)`);
    }
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
        lines.push(`  service: agent.service ${report.service} (journalctl -u agent -f)`);
        break;
      case "unchanged":
        lines.push("  service: agent.service running, unchanged");
        break;
      default:
        lines.push(
          `  service: ${
            report.service === "skipped" ? "not installed (--no-service)" : "not available on the target"
          }; start the agent with:`,
          `    ssh ${ctx.positionals[0]}${port ? ` -p ${port}` : ""} ${report.startCommand}`,
        );
    }
    ctx.io.stdout(lines.join("\n") + "\n");
    return 0;
  } catch (e) {
    if (progressShown) ctx.io.stderr("\n");
    if (e instanceof CloneError) {
      ctx.io.stderr(`agent: error: ${e.message}\n${e.hint ? `  hint: ${e.hint}\n` : ""}`);
      return e.kind === "interrupted" ? 130 : 1;
    }
    throw e;
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
    Deno.removeSignalListener("SIGTERM", onSigint);
  }
}
