/**
 * Running a program and keeping what it printed: the one `{ code, stdout, stderr }` of the tests, and
 * the probes that decide whether a test can run here.
 *
 * @module
 */

/** What one program run printed and returned. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How {@linkcode run} starts the program. */
export interface RunOptions {
  /** Added to the environment (the only environment with `clearEnv`). */
  env?: Record<string, string>;
  /** Start from an empty environment plus `env`. */
  clearEnv?: boolean;
  /** What standard input holds (none when absent). */
  stdin?: string | Uint8Array;
  /** Working directory. */
  cwd?: string;
}

/** Runs `cmd args…` to the end; never throws for a non-zero exit. */
export async function run(cmd: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  const child = new Deno.Command(cmd, {
    args,
    env: options.env,
    clearEnv: options.clearEnv,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    );
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs `cmd args…` and returns its stdout; throws with its stderr when it fails. */
export async function sh(cmd: string, ...args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Whether `cmd args…` runs and succeeds here (to skip a test that needs it, saying why). */
export function commandWorks(cmd: string, args: string[]): boolean {
  try {
    return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/** Whether the program `name` is on the PATH. */
export function isInstalled(name: string): boolean {
  return commandWorks("sh", ["-c", 'command -v "$1"', "sh", name]);
}
