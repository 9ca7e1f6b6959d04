/**
 * The `agent` command line: the command table, global options, help, and turning every
 * {@linkcode UsageError} into a one-line message, a hint and exit code 2.
 *
 * To add a subcommand: write `src/cli/<name>.ts` exporting a {@linkcode Command}, add it to
 * {@linkcode COMMANDS}. A command appears here (and so in help) only when it works.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { closest, type Config, loadConfig } from "../config/mod.ts";
import { CorruptStateError, UsageError } from "../errors.ts";
import { createLogger, LOG_LEVELS, type LogLevel } from "../log.ts";
import { CloneError } from "../replicate/mod.ts";
import { resolveStateDir, stateLayout } from "../state/mod.ts";
import { VERSION } from "../version.ts";
import type { Command, CommandContext, GlobalOptions, Io, OptionSpec } from "./command.ts";
import { doctorCommand } from "./doctor.ts";
import { cloneCommand } from "./clone.ts";
import { idCommand } from "./id.ts";
import { inferCommand } from "./infer.ts";
import { initCommand } from "./init.ts";
import { modelsCommand } from "./models.ts";
import { runCommand } from "./run.ts";
import { serviceCommand } from "./service.ts";
import { trustCommand } from "./trust.ts";
import { statusCommand } from "./status.ts";

/** Every working subcommand, in help order. */
export const COMMANDS: readonly Command[] = [
  initCommand,
  idCommand,
  trustCommand,
  runCommand,
  statusCommand,
  inferCommand,
  modelsCommand,
  doctorCommand,
  cloneCommand,
  serviceCommand,
];

/** Options accepted by every command. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  state: {
    type: "string",
    arg: "DIR",
    help: "State directory (default: $STATE_DIRECTORY, /var/lib/agent as root, else ~/.local/state/agent)",
  },
  config: { type: "string", arg: "FILE", help: "Config file (default: <state>/agent.yaml)" },
  "log-level": { type: "string", arg: "LEVEL", help: "debug, info, warn or error (overrides logging.level)" },
  json: { type: "boolean", help: "Machine-readable JSON output" },
  help: { type: "boolean", short: "h", help: "Show help" },
};

const TOP_USAGE = "agent <command> [options]";

/** Top-level help text. */
export function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `agent ${VERSION} — an edge-learning agent: tiny models that learn on each board's private data and`,
    "improve together by gossiping signed, compressed model updates with paired peers on the LAN.",
    "",
    `Usage: ${TOP_USAGE}`,
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Global options:",
    ...optionLines({ ...GLOBAL_OPTIONS, version: { type: "boolean", help: "Print the version" } }),
    "",
    "Run 'agent <command> --help' for a command's options.",
  ].join("\n");
}

/** Help text of one command. */
export function commandHelp(cmd: Command): string {
  return [
    `agent ${cmd.name} — ${cmd.summary}`,
    "",
    "Usage:",
    ...cmd.usage.map((u) => `  agent ${u}`),
    ...(cmd.description ? ["", cmd.description] : []),
    ...(Object.keys(cmd.options).length ? ["", "Options:", ...optionLines(cmd.options)] : []),
    "",
    "Global options:",
    ...optionLines(GLOBAL_OPTIONS),
    ...(cmd.examples?.length ? ["", "Examples:", ...cmd.examples.map((e) => `  ${e}`)] : []),
  ].join("\n");
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  const left = Object.entries(options).map(([name, o]) =>
    `  ${o.short ? `-${o.short}, ` : ""}--${name}${o.arg ? ` ${o.arg}` : ""}`
  );
  const width = Math.max(20, ...left.map((l) => l.length));
  return Object.values(options).map((o, i) => `${left[i].padEnd(width)} ${o.help}`);
}

/** Real process I/O. */
export function processIo(): Io {
  const enc = new TextEncoder();
  return {
    stdout: (t) => writeAll(Deno.stdout, enc.encode(t)),
    stderr: (t) => writeAll(Deno.stderr, enc.encode(t)),
    isTerminal: Deno.stdout.isTerminal(),
    stdinIsTerminal: Deno.stdin.isTerminal(),
    env: Deno.env.toObject(),
    readLine: async () => {
      const buf = new Uint8Array(1);
      const bytes: number[] = [];
      while (true) {
        const n = await Deno.stdin.read(buf);
        if (n === null) return bytes.length ? new TextDecoder().decode(new Uint8Array(bytes)) : null;
        if (buf[0] === 10) return new TextDecoder().decode(new Uint8Array(bytes));
        bytes.push(buf[0]);
      }
    },
    readStdin: async () => new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer()),
  };
}

function writeAll(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array) {
  let off = 0;
  while (off < bytes.length) off += w.writeSync(bytes.subarray(off));
}

/** Runs the CLI with `argv` (without the program name); returns the exit code. */
export async function runCli(argv: string[], io: Io): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`agent: error: ${e.message}\n${e.hint ? `  hint: ${e.hint}\n` : ""}`);
      return 2;
    }
    if (e instanceof CloneError) {
      // The command line was fine; the target, the network or this machine was not.
      io.stderr(`agent: error: ${e.message}\n${e.hint ? `  hint: ${e.hint}\n` : ""}`);
      return e.kind === "interrupted" ? 130 : 1;
    }
    if (e instanceof CorruptStateError) {
      io.stderr(
        `agent: error: ${e.message}\n  hint: the file was kept as it is; move it aside (or restore a backup) and run again\n`,
      );
      return 1;
    }
    const fsError = fileSystemError(e);
    if (fsError) {
      io.stderr(
        `agent: error: ${fsError}\n  hint: Check the paths given on the command line and in the config\n`,
      );
      return 2;
    }
    throw e;
  }
}

/**
 * One line for a file-system error that escaped a command (a path the user gave that is a directory,
 * not a directory, missing, not permitted): Deno's message names the operation and the path.
 */
function fileSystemError(e: unknown): string | undefined {
  const kinds = [
    Deno.errors.NotFound,
    Deno.errors.IsADirectory,
    Deno.errors.NotADirectory,
    Deno.errors.AlreadyExists,
    Deno.errors.PermissionDenied,
    Deno.errors.NotCapable,
  ];
  if (!kinds.some((k) => e instanceof k)) return undefined;
  const message = (e as Error).message.replace(/, run again with.*$/, "");
  return `Cannot use a path: ${message}`;
}

async function dispatch(argv: string[], io: Io): Promise<number> {
  const first = argv[0];
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    if (first === "help" && argv[1]) return dispatch([argv[1], "--help"], io);
    io.stdout(topHelp() + "\n");
    return first === undefined ? 2 : 0;
  }
  if (first === "--version" || first === "-V") {
    io.stdout(`agent ${VERSION}\n`);
    return 0;
  }
  if (first.startsWith("-")) {
    throw new UsageError(
      `Expected a command before ${JSON.stringify(first)}`,
      `Options come after the command: ${TOP_USAGE}; run 'agent --help' for the list`,
    );
  }
  const cmd = COMMANDS.find((c) => c.name === first);
  if (!cmd) {
    const near = closest(first, COMMANDS.map((c) => c.name));
    throw new UsageError(
      `Unknown command ${JSON.stringify(first)}`,
      near
        ? `Did you mean 'agent ${near}'? Run 'agent --help' for all commands`
        : "Run 'agent --help' for the commands",
    );
  }
  const options = { ...GLOBAL_OPTIONS, ...cmd.options };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv.slice(1),
      options: Object.fromEntries(
        Object.entries(options).map((
          [k, o],
        ) => [k, {
          type: o.type,
          ...(o.short ? { short: o.short } : {}),
          ...(o.multiple ? { multiple: true } : {}),
        }]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw translateParseError(e as Error & { code?: string }, cmd, Object.keys(options));
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (values.help) {
    io.stdout(commandHelp(cmd) + "\n");
    return 0;
  }
  const [min, max] = cmd.positionals;
  if (parsed.positionals.length > max) {
    const extra = parsed.positionals[max];
    throw new UsageError(
      `Unexpected argument ${JSON.stringify(extra)} for 'agent ${cmd.name}'`,
      `Usage: agent ${cmd.usage[0]}`,
    );
  }
  if (parsed.positionals.length < min) {
    throw new UsageError(`'agent ${cmd.name}' needs more arguments`, `Usage: agent ${cmd.usage[0]}`);
  }
  const logLevel = values["log-level"] as string | undefined;
  if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(
      `Option --log-level ${JSON.stringify(logLevel)} is not one of ${LOG_LEVELS.join(", ")}`,
    );
  }
  for (const name of ["state", "config"]) {
    if (values[name] === "") throw new UsageError(`Option --${name} needs a non-empty value`);
  }
  const global: GlobalOptions = {
    state: values.state as string | undefined,
    config: values.config as string | undefined,
    logLevel: logLevel as LogLevel | undefined,
    json: values.json === true,
  };
  for (const k of Object.keys(GLOBAL_OPTIONS)) delete values[k];
  const ctx = makeContext(cmd, values, parsed.positionals, global, io);
  return await cmd.run(ctx);
}

function makeContext(
  cmd: Command,
  values: CommandContext["values"],
  positionals: string[],
  global: GlobalOptions,
  io: Io,
): CommandContext {
  let uid: number | null = null;
  try {
    uid = Deno.uid();
  } catch { /* not permitted or not on this OS */ }
  const state = stateLayout(resolveStateDir({ flag: global.state, env: io.env, uid }));
  checkStateDir(state.root);
  const configPath = global.config ?? state.config;
  let cached: Config | undefined;
  const ctx: CommandContext = {
    values,
    positionals,
    global,
    io,
    state,
    configPath,
    async config() {
      if (cached) return cached;
      let text: string | undefined;
      try {
        checkConfigFile(configPath);
        text = await Deno.readTextFile(configPath);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        if (global.config) {
          throw new UsageError(
            `Config file ${JSON.stringify(configPath)} does not exist`,
            "Check the --config path",
          );
        }
      }
      cached = loadConfig({
        file: configPath,
        text,
        env: io.env,
        overrides: global.logLevel ? { "logging.level": global.logLevel } : {},
      });
      return cached;
    },
    logger(config?: Config) {
      return createLogger({
        level: global.logLevel ?? config?.logging.level ?? "info",
        format: config?.logging.format ?? "auto",
        write: (line) => io.stderr(line + "\n"),
      }, {});
    },
    print(human, json) {
      io.stdout(
        global.json
          ? JSON.stringify(json) + "\n"
          : human.endsWith("\n") || human === ""
          ? human
          : human + "\n",
      );
    },
  };
  void cmd;
  return ctx;
}

/** The state directory may not exist yet (init makes it), but if it exists it must be a directory. */
function checkStateDir(root: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(root);
  } catch {
    return; // missing (init creates it) or unreadable (the command reports what it cannot read)
  }
  if (!info.isDirectory) {
    throw new UsageError(
      `State directory ${JSON.stringify(root)} is not a directory`,
      "Give --state (or AGENT_STATE) a directory; 'agent init --state DIR' creates one",
    );
  }
}

/** A config file must be a regular file (not a directory, a device or a pipe such as /dev/stdin). */
function checkConfigFile(path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    // Deno refuses device files such as /dev/stdin unless given every permission.
    if (!(e instanceof Deno.errors.NotCapable)) return; // missing: the caller says so
    info = { isFile: false, isDirectory: false } as Deno.FileInfo;
  }
  if (!info.isFile) {
    throw new UsageError(
      `Config file ${JSON.stringify(path)} is ${info.isDirectory ? "a directory" : "not a regular file"}`,
      "Give --config the path of a YAML file ('agent init' writes one into the state directory)",
    );
  }
}

function translateParseError(e: Error & { code?: string }, cmd: Command, known: string[]): UsageError {
  const help = `Run 'agent ${cmd.name} --help' for its options`;
  const quoted = e.message.match(/'([^']+)'/)?.[1] ?? "";
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const name = quoted.replace(/^-+/, "");
      const near = closest(name, known);
      return new UsageError(
        `Unknown option ${JSON.stringify(quoted)} for 'agent ${cmd.name}'`,
        near ? `Did you mean --${near}? ${help}` : help,
      );
    }
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const opt = e.message.match(/--([\w-]+)/)?.[1] ?? quoted;
      return /argument missing/.test(e.message)
        ? new UsageError(`Option --${opt} needs a value`, help)
        : new UsageError(`Option --${opt} does not take a value`, help);
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(`Unexpected argument ${JSON.stringify(quoted)} for 'agent ${cmd.name}'`, help);
    default:
      return new UsageError(`Bad arguments for 'agent ${cmd.name}': ${e.message}`, help);
  }
}
