/**
 * What a subcommand is: its help text, its options (for `node:util` `parseArgs`) and its `run`.
 * Each subcommand lives in its own file and imports heavy modules (tfjs, …) lazily inside `run`, so
 * `agent --help` stays fast.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import type { Logger } from "../log.ts";
import type { StateLayout } from "../state/mod.ts";
import { UsageError } from "../errors.ts";

/** One option of a command. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** Placeholder in help, e.g. `NAME`. */
  arg?: string;
  help: string;
}

/** The world a command runs in (passed in, so commands can be driven in-process by tests). */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** True when stdout is a terminal (colour, tables, prompts). */
  isTerminal: boolean;
  /** True when stdin is a terminal (confirmation prompts). */
  stdinIsTerminal: boolean;
  env: Record<string, string | undefined>;
  /** Reads one line from stdin (for confirmations), or null at end of input. */
  readLine(): Promise<string | null>;
  /** Reads all of stdin. */
  readStdin(): Promise<Uint8Array>;
}

/** Options every command accepts. */
export interface GlobalOptions {
  state?: string;
  config?: string;
  logLevel?: "debug" | "info" | "warn" | "error";
  json: boolean;
}

/** What `run` receives. */
export interface CommandContext {
  /** Parsed option values of this command (global ones removed). */
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  global: GlobalOptions;
  io: Io;
  /** The resolved state directory layout. */
  state: StateLayout;
  /** Path of the config file in use (may not exist). */
  configPath: string;
  /** Loads and validates the config (file if present, defaults otherwise, env and flag overrides). */
  config(): Promise<Config>;
  logger(config?: Config): Logger;
  /** Prints data: JSON when `--json`, otherwise the human form. */
  print(human: string, json: unknown): void;
}

/** A subcommand. */
export interface Command {
  name: string;
  /** One line for `agent --help`. */
  summary: string;
  /** Usage line(s) after `agent `, e.g. `init [--name NAME] [--force]`. */
  usage: string[];
  /** Longer description for `agent <cmd> --help`. */
  description?: string;
  options: Record<string, OptionSpec>;
  /** Allowed positional arguments: [min, max]. */
  positionals: [number, number];
  /** Examples for help. */
  examples?: string[];
  run(ctx: CommandContext): Promise<number>;
}

/** Reads a string option, or undefined. */
export function stringOpt(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === "string" ? v : undefined;
}

/** Reads an integer option within [min, max]; a bad value is a {@linkcode UsageError} naming it. */
export function intOpt(
  ctx: CommandContext,
  name: string,
  min: number,
  max: number,
  cmd: string,
): number | undefined {
  const raw = stringOpt(ctx, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n)) {
    throw new UsageError(
      `Option --${name} must be an integer, got ${JSON.stringify(raw)}`,
      `Run 'agent ${cmd} --help'`,
    );
  }
  if (n < min || n > max) {
    throw new UsageError(`Option --${name} ${n} is out of range ${min}..${max}`, `Run 'agent ${cmd} --help'`);
  }
  return n;
}
