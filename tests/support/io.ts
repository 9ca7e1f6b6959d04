/**
 * An in-memory {@linkcode Io} for driving CLI commands in-process.
 *
 * @module
 */
import type { Io } from "../../src/cli/command.ts";

/** An Io that records what a command prints. */
export interface RecordingIo extends Io {
  out: string[];
  err: string[];
}

/** A recording Io with the given environment and stdin. */
export function recordingIo(env: Record<string, string | undefined> = {}, stdin = ""): RecordingIo {
  const out: string[] = [];
  const err: string[] = [];
  const lines = stdin.split("\n");
  return {
    out,
    err,
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
    isTerminal: false,
    stdinIsTerminal: false,
    env,
    readLine: () => Promise.resolve(lines.length ? lines.shift()! : null),
    readStdin: () => Promise.resolve(new TextEncoder().encode(stdin)),
  };
}
