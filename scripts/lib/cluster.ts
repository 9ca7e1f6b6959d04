/**
 * Runs real `agent` processes on this machine: the demo, the benchmarks and the integration tests use
 * it. Children get their own state directory, a free API port and, with `loopback`, a shared gossip
 * port on 127.255.255.255. Every child is tracked and stopped (SIGTERM, then SIGKILL after a grace
 * period); children also stop by themselves when this process dies, because their stdin is a pipe from
 * us and `AGENT_EXIT_ON_STDIN_EOF=1` makes `agent run` shut down when it closes.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { StatusReport } from "../../src/api/status.ts";
import { AGENT_PERMISSIONS } from "../../src/replicate/release.ts";

/** Path of `src/main.ts`. */
export const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));

/** Permissions `agent` runs with (same as `deno task agent`). */
export const AGENT_FLAGS = ["run", "--quiet", ...AGENT_PERMISSIONS];

/** Result of a one-shot `agent` command. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `agent <args>` to completion (e.g. `id --json`, `trust … --yes`). */
export async function agentCli(
  args: string[],
  options: { env?: Record<string, string>; prefix?: string[] } = {},
): Promise<CliResult> {
  const [cmd, ...pre] = options.prefix ?? [Deno.execPath()];
  const out = await new Deno.Command(cmd, {
    args: [...pre, ...AGENT_FLAGS, MAIN, ...args],
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Like {@linkcode agentCli} but throws with the command's stderr when it fails. */
export async function agentOk(
  args: string[],
  options: { env?: Record<string, string>; prefix?: string[] } = {},
) {
  const r = await agentCli(args, options);
  if (r.code !== 0) {
    throw new Error(`agent ${args.join(" ")} exited with ${r.code}:\n${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** A free TCP port on loopback (bound then released; good enough on a quiet test machine). */
export function freeTcpPort(hostname = "127.0.0.1"): number {
  const l = Deno.listen({ hostname, port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A free UDP port. */
export function freeUdpPort(): number {
  const s = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
  const port = (s.addr as Deno.NetAddr).port;
  s.close();
  return port;
}

/** One running `agent run`. */
export class AgentProcess {
  readonly name: string;
  readonly state: string;
  readonly api: string;
  readonly logPath: string;
  readonly child: Deno.ChildProcess;
  /** Resolves with the exit status when the process ends. */
  readonly exited: Promise<Deno.CommandStatus>;
  #log: Deno.FsFile;
  #pumps: Promise<void>;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;

  constructor(
    options: {
      name: string;
      state: string;
      api: string;
      env?: Record<string, string>;
      args?: string[];
      prefix?: string[];
      /** A release's launcher (`<release>/agent`) to run instead of `src/main.ts` from this checkout. */
      launcher?: string;
    },
  ) {
    this.name = options.name;
    this.state = options.state;
    this.api = options.api;
    this.logPath = join(options.state, "agent.log");
    this.#log = Deno.openSync(this.logPath, { append: true, create: true, write: true });
    const [cmd, ...pre] = options.launcher ? [options.launcher] : options.prefix ?? [Deno.execPath()];
    const program = options.launcher ? [] : [...AGENT_FLAGS, MAIN];
    this.child = new Deno.Command(cmd, {
      args: [...pre, ...program, "run", "--state", options.state, ...(options.args ?? [])],
      env: { NO_COLOR: "1", AGENT_EXIT_ON_STDIN_EOF: "1", ...options.env },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = this.child.stdin.getWriter();
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) await this.#log.write(chunk);
    };
    this.#pumps = Promise.all([pump(this.child.stdout), pump(this.child.stderr)]).then(() => {});
    this.exited = this.child.status.then(async (s) => {
      await this.#pumps;
      await this.#stdin.close().catch(() => {});
      this.#log.close();
      return s;
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  /** The process's log so far. */
  async log(): Promise<string> {
    return await Deno.readTextFile(this.logPath).catch(() => "");
  }

  /** GET `path` on the agent's API; undefined when it does not answer. */
  async get(path: string, timeoutMs = 2000): Promise<Response | undefined> {
    try {
      return await fetch(`http://${this.api}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    } catch {
      return undefined;
    }
  }

  /** `/v1/status` as JSON, or undefined when the agent does not answer (yet). */
  async status(): Promise<StatusReport | undefined> {
    const res = await this.get("/v1/status");
    if (!res) return undefined;
    if (!res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    return await res.json();
  }

  /** Sends `signal`; ignores a process that is already gone. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.child.kill(signal);
    } catch {
      // already exited
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit status. */
  async stop(graceMs = 15_000): Promise<Deno.CommandStatus> {
    this.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((r) => {
      timer = setTimeout(() => {
        this.kill("SIGKILL");
        r();
      }, graceMs);
    });
    const status = await Promise.race([this.exited, killed.then(() => this.exited)]);
    clearTimeout(timer);
    return status;
  }
}

/** Waits until `cond()` is truthy, polling every `everyMs`; throws `what` at the deadline. */
export async function waitFor<T>(
  cond: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs: number,
  everyMs = 250,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (true) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
