/** Test helpers for driving the CLI in-process: a recording Io and a state-directory snapshot. */
import { join } from "node:path";
import type { Io } from "../../src/cli/command.ts";
import { runCli } from "../../src/cli/mod.ts";

/** What one CLI run printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `agent argv…` in-process. `answers` feed the confirmation prompt, `stdin` is what standard input
 * holds, `tty` says whether stdin is a terminal.
 */
export async function cli(
  argv: string[],
  options: { tty?: boolean; answers?: string[]; stdin?: string } = {},
): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const answers = [...(options.answers ?? [])];
  const io: Io = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    isTerminal: false,
    stdinIsTerminal: options.tty ?? false,
    env: {},
    readLine: () => Promise.resolve(answers.length ? answers.shift()! : null),
    readStdin: () => Promise.resolve(new TextEncoder().encode(options.stdin ?? "")),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

/**
 * Every file AND directory under `root` with mode, inode and content, to prove a failed command wrote
 * nothing (stricter than `snapshotTree` in tests/_helpers.ts: a new empty directory or a file
 * rewritten with the same bytes also counts as a change).
 */
export async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(dir: string) {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      const st = await Deno.lstat(p);
      if (e.isDirectory) {
        out[p] = `dir ${st.mode! & 0o777}`;
        await walk(p);
      } else {
        out[p] = `file ${st.mode! & 0o777} ${st.ino} ${await Deno.readTextFile(p)}`;
      }
    }
  }
  await walk(root);
  return out;
}
