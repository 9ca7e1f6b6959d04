/**
 * An in-memory {@linkcode Io}: drives CLI commands in-process and records what they print.
 *
 * @module
 */
import type { Io } from "../../src/cli/command.ts";

/** An Io that records each write, in order. */
export interface RecordingIo extends Io {
  /** Each stdout write. */
  out: string[];
  /** Each stderr write. */
  err: string[];
  /** Everything written to stdout. */
  outText(): string;
  /** Everything written to stderr. */
  errText(): string;
}

/** What the command sees: its environment, its standard input, the answers typed at its prompts. */
export interface RecordingIoOptions {
  /** The environment (default empty). */
  env?: Record<string, string | undefined>;
  /** What standard input holds (default empty). */
  stdin?: string;
  /** The lines typed at prompts, in order; then end of input. */
  answers?: string[];
  /** Whether standard input is a terminal (default false). */
  stdinIsTerminal?: boolean;
}

/** A recording Io; stdout is never a terminal. */
export function recordingIo(options: RecordingIoOptions = {}): RecordingIo {
  const out: string[] = [];
  const err: string[] = [];
  const answers = [...(options.answers ?? [])];
  return {
    out,
    err,
    outText: () => out.join(""),
    errText: () => err.join(""),
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
    isTerminal: false,
    stdinIsTerminal: options.stdinIsTerminal ?? false,
    env: options.env ?? {},
    readLine: () => Promise.resolve(answers.length ? answers.shift()! : null),
    readStdin: () => Promise.resolve(new TextEncoder().encode(options.stdin ?? "")),
  };
}
