/**
 * Running the target's own installed `agent` over SSH: every remote step after the install is a short
 * POSIX `sh` script that sets `prefix` and `state` and calls `"$prefix"/current/agent … --state "$state"`.
 *
 * @module
 */
import { CloneError, CloneFailure } from "./errors.ts";
import { shQuote } from "./ssh.ts";

/** Where the agent lives on the target. */
export interface RemotePaths {
  prefix: string;
  state: string;
}

/** One `agent` command line on the target (pure). */
export function agentCommand(args: string[]): string {
  return [`"$prefix"/current/agent`, ...args.map(shQuote), "--state", `"$state"`].join(" ");
}

/** A script running `commands` with `prefix` and `state` set (pure). */
export function agentScript(paths: RemotePaths, commands: string[]): string {
  return ["set -eu", `prefix=${shQuote(paths.prefix)}`, `state=${shQuote(paths.state)}`, ...commands].join(
    "\n",
  ) +
    "\n";
}

/** Parses the `--json` output of a remote agent command; a non-JSON answer is a {@linkcode CloneError}. */
export function parseRemoteJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CloneError(
      CloneFailure.RemoteCommandFailed,
      `'${what} --json' on the target printed something that is not JSON: ${
        JSON.stringify(text.slice(0, 200))
      }`,
      "The installed release may be damaged; run the clone again",
    );
  }
}
