/**
 * `agent service install|uninstall|status`: the hardened systemd unit (see src/systemd/unit.ts).
 *
 * `install` writes `/etc/systemd/system/agent.service` (only if it differs), creates the `agent`
 * system user, hands it the state directory `/var/lib/agent`, and enables and starts the unit
 * (restarting it when the unit changed or `--restart` is given). `--no-start` only writes the file
 * (for images, or to inspect it). `uninstall` stops and removes the unit and keeps the state.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { UsageError } from "../errors.ts";
import {
  DEFAULT_UNIT_OPTIONS,
  renderUnit,
  SERVICE_STATE_DIR,
  SYSTEM_UNIT_DIR,
  UNIT_NAME,
  unitPrefixProblem,
} from "../systemd/mod.ts";
import { writeFileAtomic } from "../state/mod.ts";
import type { Command, CommandContext } from "./command.ts";
import { stringOpt } from "./command.ts";

/** The `service` command. */
export const serviceCommand: Command = {
  name: "service",
  summary: "Install, remove or show the systemd service (hardened unit)",
  usage: [
    "service install [--prefix DIR] [--user NAME] [--unit-dir DIR] [--gpu] [--no-start] [--restart]",
    "service uninstall [--unit-dir DIR]",
    "service status",
    "service health [--timeout S] [--settle S]",
    "service unit [--prefix DIR] [--user NAME] [--gpu]",
  ],
  description: [
    "The unit runs '<prefix>/current/agent run' as the system user 'agent' with state in /var/lib/agent,",
    "no capabilities, a read-only system and a system-call filter. 'install' needs root and a running",
    "systemd (or --no-start to only write the file). 'unit' prints the unit text. --gpu lets the service",
    "use the GPU's render node for WebGPU (PrivateDevices=yes otherwise hides /dev/dri). 'health' waits until",
    "the service runs and answers GET /v1/status (exit 0), or says why not (exit 1): 'agent clone'",
    "runs it after an upgrade and switches back to the previous release when it fails.",
  ].join("\n"),
  options: {
    prefix: {
      type: "string",
      arg: "DIR",
      help: "Install prefix holding current/agent (default: the one this agent runs from)",
    },
    user: { type: "string", arg: "NAME", help: "System user to run as (default agent; created if missing)" },
    "unit-dir": {
      type: "string",
      arg: "DIR",
      help: `Where to write ${UNIT_NAME} (default ${SYSTEM_UNIT_DIR})`,
    },
    "no-start": { type: "boolean", help: "Only write the unit file; do not create the user or start it" },
    restart: { type: "boolean", help: "Restart the service if it is already running" },
    gpu: {
      type: "boolean",
      help: "Give the service the GPU render nodes (DeviceAllow=char-drm rw, group render) for WebGPU",
    },
    timeout: { type: "string", arg: "S", help: "health: give up after S seconds (default 60)" },
    settle: { type: "string", arg: "S", help: "health: the service must stay up S seconds (default 3)" },
  },
  positionals: [1, 1],
  examples: [
    "sudo /opt/agent/current/agent service install",
    "agent service unit --prefix /opt/agent > agent.service",
    "sudo /opt/agent/current/agent service install --gpu",
    "agent service status",
  ],
  run: runService,
};

async function cmd(
  program: string,
  args: string[],
): Promise<{ ok: boolean; code: number; out: string; err: string }> {
  let o: Deno.CommandOutput;
  try {
    o = await new Deno.Command(program, { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { ok: false, code: 127, out: "", err: `${program} is not installed` };
    }
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      // The launcher's --allow-run list lacks it (a packaging bug), or the OS refused to run it.
      throw new UsageError(
        `Could not run ${program}: ${(e as Error).message}`,
        `This release may not run '${program}'; run '${program} ${args.join(" ")}' by hand, or report it`,
      );
    }
    throw e;
  }
  const dec = new TextDecoder();
  return { ok: o.success, code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr).trim() };
}

async function must(program: string, args: string[], what: string): Promise<string> {
  const r = await cmd(program, args);
  if (!r.ok) {
    throw new UsageError(
      `Could not ${what}: ${program} ${args.join(" ")} failed (exit ${r.code}): ${r.err}`,
      "Run it by hand to see why; 'journalctl -xe' may say more",
    );
  }
  return r.out;
}

/** True when /etc/passwd has an entry for `user`. */
async function passwdHas(user: string): Promise<boolean> {
  try {
    return (await Deno.readTextFile("/etc/passwd")).split("\n").some((l) => l.startsWith(`${user}:`));
  } catch {
    return false;
  }
}

function systemdRunning(): boolean {
  try {
    return Deno.statSync("/run/systemd/system").isDirectory;
  } catch {
    return false;
  }
}

/** The prefix this agent runs from, when it runs from `<prefix>/releases/<id>`. */
function ownPrefix(env: Record<string, string | undefined>): string | undefined {
  const rel = env.AGENT_RELEASE_DIR;
  if (!rel) return undefined;
  const releases = dirname(rel.replace(/\/+$/, ""));
  return releases.endsWith("/releases") ? dirname(releases) : undefined;
}

function requireRoot(what: string) {
  if (Deno.uid() !== 0) {
    throw new UsageError(`'agent service ${what}' needs root`, `Run it with sudo`);
  }
  if (!systemdRunning()) {
    throw new UsageError(
      `systemd is not running on this machine, so there is no service to ${what}`,
      what === "install"
        ? "Start the agent directly with 'agent run', or use --no-start to only write the unit file"
        : "Nothing to do",
    );
  }
}

async function runService(ctx: CommandContext): Promise<number> {
  const action = ctx.positionals[0];
  const unitDir = stringOpt(ctx, "unit-dir") ?? SYSTEM_UNIT_DIR;
  const unitPath = join(unitDir, UNIT_NAME);
  switch (action) {
    case "unit":
    case "install":
      return await install(ctx, unitPath, action === "unit");
    case "uninstall":
      return await uninstall(ctx, unitPath);
    case "status":
      return await status(ctx);
    case "health":
      return await (await import("./service_health.ts")).runHealth(ctx);
    default:
      throw new UsageError(
        `Unknown service action ${JSON.stringify(action)}`,
        "Use one of: install, uninstall, status, health, unit",
      );
  }
}

async function install(ctx: CommandContext, unitPath: string, printOnly: boolean): Promise<number> {
  const prefix =
    (stringOpt(ctx, "prefix") ?? ownPrefix(ctx.io.env) ?? (printOnly ? DEFAULT_UNIT_OPTIONS.prefix : ""))
      .replace(/\/+$/, "");
  if (prefix === "") {
    throw new UsageError(
      "This agent does not run from an installed release, so the prefix is unknown",
      "Give it with --prefix DIR (the directory holding current/agent), e.g. --prefix /opt/agent",
    );
  }
  const problem = unitPrefixProblem(prefix);
  if (problem) {
    throw new UsageError(
      `Cannot use this prefix for the service: ${problem}`,
      "Install under /opt, e.g. --prefix /opt/agent",
    );
  }
  const user = stringOpt(ctx, "user") ?? DEFAULT_UNIT_OPTIONS.user;
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) {
    throw new UsageError(`Option --user ${JSON.stringify(user)} is not a valid system user name`);
  }
  const gpu = ctx.values.gpu === true;
  const text = renderUnit({ prefix, user, gpu });
  if (printOnly) {
    ctx.io.stdout(text);
    return 0;
  }
  const noStart = ctx.values["no-start"] === true;
  let runnable = false;
  try {
    const st = await Deno.stat(join(prefix, "current", "agent"));
    runnable = st.isFile && ((st.mode ?? 0o755) & 0o111) !== 0;
  } catch { /* missing */ }
  if (!runnable) {
    throw new UsageError(
      `${prefix}/current/agent does not exist`,
      "Install a release there first ('agent clone' does), or give the right --prefix",
    );
  }
  if (!noStart) requireRoot("install");
  if (gpu && !noStart && !(await cmd("getent", ["group", "render"])).ok) {
    throw new UsageError(
      "--gpu needs the group 'render' (owner of /dev/dri/renderD*), and this system has none",
      "Check 'ls -l /dev/dri'; install the GPU driver (Debian: its udev rules create the group), or drop --gpu",
    );
  }

  let existing: string | undefined;
  try {
    existing = await Deno.readTextFile(unitPath);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const changed = existing !== text;
  if (changed) {
    try {
      await Deno.mkdir(dirname(unitPath), { recursive: true });
      await writeFileAtomic(unitPath, text, { mode: 0o644 });
    } catch (e) {
      if (!(e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable)) throw e;
      throw new UsageError(
        `Could not write ${unitPath}: ${(e as Error).message}`,
        "Run it as root (sudo), or choose a writable --unit-dir",
      );
    }
  }
  let started = false;
  let restarted = false;
  let userCreated = false;
  if (!noStart) {
    // /etc/passwd is read directly (the released launcher may run only the programs it names);
    // useradd's exit 9 means the user exists elsewhere (NSS), which is fine too.
    if (!(await passwdHas(user))) {
      const made = await cmd("useradd", [
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        "/usr/sbin/nologin",
        user,
      ]);
      if (!made.ok && made.code !== 9) {
        throw new UsageError(
          `Could not create the system user ${user}: useradd failed (exit ${made.code}): ${made.err}`,
          "Run it by hand to see why; 'journalctl -xe' may say more",
        );
      }
      userCreated = made.ok;
    }
    // State seeded by root (e.g. by 'agent clone') must belong to the service user.
    const stateDir = SERVICE_STATE_DIR;
    try {
      await Deno.stat(stateDir);
      await must("chown", ["-R", `${user}:${user}`, stateDir], `give ${stateDir} to ${user}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (changed) await must("systemctl", ["daemon-reload"], "reload systemd");
    await must("systemctl", ["enable", UNIT_NAME], "enable the service");
    const active = (await cmd("systemctl", ["is-active", "--quiet", UNIT_NAME])).ok;
    if (!active) {
      await must("systemctl", ["start", UNIT_NAME], "start the service");
      started = true;
    } else if (changed || ctx.values.restart === true) {
      await must("systemctl", ["restart", UNIT_NAME], "restart the service");
      restarted = true;
    }
  }
  const result = { unit: unitPath, prefix, user, changed, userCreated, started, restarted };
  ctx.print(
    [
      `${changed ? "Wrote" : "Unchanged:"} ${unitPath}`,
      userCreated ? `Created system user ${user}` : "",
      noStart
        ? `Not started (--no-start). Start it with: systemctl daemon-reload && systemctl enable --now ${UNIT_NAME}`
        : started
        ? `Started ${UNIT_NAME}; logs: journalctl -u agent -f`
        : restarted
        ? `Restarted ${UNIT_NAME}`
        : `${UNIT_NAME} is running`,
    ].filter((l) => l).join("\n"),
    result,
  );
  return 0;
}

async function uninstall(ctx: CommandContext, unitPath: string): Promise<number> {
  let present = true;
  try {
    await Deno.stat(unitPath);
  } catch {
    present = false;
  }
  if (!present) {
    ctx.print(`${unitPath} is not installed; nothing changed`, { unit: unitPath, changed: false });
    return 0;
  }
  if (systemdRunning()) {
    if (Deno.uid() !== 0) throw new UsageError("'agent service uninstall' needs root", "Run it with sudo");
    await cmd("systemctl", ["disable", "--now", UNIT_NAME]);
  }
  await Deno.remove(unitPath);
  if (systemdRunning()) await cmd("systemctl", ["daemon-reload"]);
  ctx.print(
    `Removed ${unitPath}. The state in /var/lib/agent and the 'agent' user are kept (remove them by hand if you want).`,
    { unit: unitPath, changed: true },
  );
  return 0;
}

async function status(ctx: CommandContext): Promise<number> {
  if (!systemdRunning()) {
    ctx.print("systemd is not running on this machine: no service", { systemd: false });
    return 3;
  }
  const r = await cmd("systemctl", [
    "show",
    UNIT_NAME,
    "-p",
    "LoadState,ActiveState,SubState,UnitFileState,MainPID,FragmentPath,NRestarts",
  ]);
  const kv: Record<string, string> = {};
  for (const line of r.out.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) kv[line.slice(0, i)] = line.slice(i + 1);
  }
  const active = kv.ActiveState === "active";
  ctx.print(
    kv.LoadState === "not-found"
      ? `${UNIT_NAME} is not installed (agent service install)`
      : `${UNIT_NAME}: ${kv.ActiveState} (${kv.SubState}), ${kv.UnitFileState}, PID ${kv.MainPID}, restarts ${
        kv.NRestarts ?? 0
      }\n  unit: ${kv.FragmentPath}\n  logs: journalctl -u agent -f`,
    { systemd: true, ...kv },
  );
  return active ? 0 : 3;
}
