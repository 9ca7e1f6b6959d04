/**
 * Running `agent …`: from source in a subprocess (as the released launcher does) or in-process through
 * `runCli` with a {@linkcode recordingIo}; both give a {@linkcode CommandResult}.
 *
 * @module
 */
import { AGENT_FLAGS, MAIN } from "../../scripts/lib/cluster.ts";
import { runCli } from "../../src/cli/mod.ts";
import { type CommandResult, run } from "./command.ts";
import { recordingIo } from "./io.ts";
import { ROOT } from "./root.ts";

/**
 * Runs `agent args…` from source in a subprocess with the permissions the released launcher grants
 * (not `-A`: a missing permission fails here as it would on a board); NO_COLOR set, cwd the repository
 * root.
 */
export function runAgent(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; cwd?: string } = {},
): Promise<CommandResult> {
  return run(Deno.execPath(), [...AGENT_FLAGS, MAIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: options.stdin,
  });
}

/**
 * Runs `agent argv…` in-process. `answers` feed the confirmation prompt, `stdin` is what standard input
 * holds, `tty` says whether stdin is a terminal.
 */
export async function cli(
  argv: string[],
  options: { tty?: boolean; answers?: string[]; stdin?: string } = {},
): Promise<CommandResult> {
  const io = recordingIo({ answers: options.answers, stdin: options.stdin, stdinIsTerminal: options.tty });
  const code = await runCli(argv, io);
  return { code, stdout: io.outText(), stderr: io.errText() };
}
