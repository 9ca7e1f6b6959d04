/**
 * Helpers for the board test: the installed agent as its user sees it (its API from inside the
 * board's network namespace, its unit through systemctl), MNIST shards posted to `/v1/samples`, and a
 * sampler of the agent's resident memory per phase, read from /proc on the host.
 *
 * @module
 */
import type { Board, BoardFleet } from "../../scripts/lib/boards.ts";
import type { StatusReport } from "../../src/api/status.ts";
import type { Dataset } from "../../src/sim/mnist.ts";

/** Where `agent clone` installs the release as root, and the API the service listens on. */
export const PREFIX = "/opt/agent";
const API = "http://127.0.0.1:7070";

/** The ssh flags `agent clone` needs to reach the fleet's boards: its key, its known hosts, no user config. */
export function fleetSsh(fleet: Pick<BoardFleet, "sshKey" | "knownHosts">): string[] {
  return ["--identity", fleet.sshKey, "--known-hosts", fleet.knownHosts, "--ssh-config", "/dev/null"];
}

/** GET/POST on the board's agent API with the host's curl inside the board's network namespace. */
async function curl(board: Board, path: string, body?: Uint8Array): Promise<{ code: number; text: string }> {
  const args = ["curl", "-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}"];
  if (body) args.push("-H", "Content-Type: application/json", "--data-binary", "@-");
  const r = await board.netExec([...args, `${API}${path}`], body ? { stdin: body } : {});
  const nl = r.stdout.lastIndexOf("\n");
  return {
    code: r.code === 0 ? Number(r.stdout.slice(nl + 1)) : 0,
    text: r.stdout.slice(0, Math.max(0, nl)),
  };
}

/** The agent's `/v1/status`, or undefined while it does not answer. */
export async function status(board: Board): Promise<StatusReport | undefined> {
  const r = await curl(board, "/v1/status").catch(() => ({ code: 0, text: "" }));
  return r.code === 200 ? JSON.parse(r.text) as StatusReport : undefined;
}

/** Posts `data` to `/v1/samples` in requests of `perRequest` rows (under the default 1 MiB body limit). */
export async function postSamples(board: Board, data: Dataset, perRequest = 250): Promise<number> {
  let stored = 0;
  for (let start = 0; start < data.count; start += perRequest) {
    const end = Math.min(data.count, start + perRequest);
    const rows: number[][] = [];
    const labels: number[] = [];
    for (let i = start; i < end; i++) {
      rows.push(Array.from(data.x.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 1e4) / 1e4));
      labels.push(data.y[i]);
    }
    const r = await curl(board, "/v1/samples", new TextEncoder().encode(JSON.stringify({ rows, labels })));
    if (r.code !== 200) throw new Error(`POST /v1/samples on ${board.name}: HTTP ${r.code}: ${r.text}`);
    stored = JSON.parse(r.text).stored;
  }
  return stored;
}

/** `systemctl show agent -p …` as a map. */
export async function unitProps(board: Board, props: string[]): Promise<Record<string, string>> {
  const r = await board.exec(["systemctl", "show", "agent.service", "-p", props.join(",")]);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** Fields of /proc/<pid>/status (inside the board) as a map. */
export async function procStatus(board: Board, pid: number): Promise<Record<string, string>> {
  const text = await board.sh(`cat /proc/${pid}/status`);
  return Object.fromEntries(
    text.split("\n").filter((l) => l.includes(":")).map((l) => {
      const i = l.indexOf(":");
      return [l.slice(0, i), l.slice(i + 1).trim()];
    }),
  );
}

/** Resident memory per phase of each board's agent, sampled from the host's /proc. */
export class RssSampler {
  phase = "startup";
  /** Highest VmRSS seen per board and phase, in bytes. */
  readonly peak = new Map<string, Map<string, number>>();
  /** Called with each new host PID of a board's agent (e.g. to confine it to a memory cgroup). */
  onNewPid?: (board: Board, hostPid: number) => Promise<void>;
  /** Failures of {@linkcode onNewPid}. */
  readonly errors: string[] = [];
  #pids = new Map<string, number>();
  #stop = false;
  #loop: Promise<void>;

  constructor(readonly boards: Board[], everyMs = 200) {
    this.#loop = (async () => {
      while (!this.#stop) {
        for (const b of boards) await this.#sample(b).catch(() => {});
        await new Promise((r) => setTimeout(r, everyMs));
      }
    })();
  }

  async #sample(b: Board): Promise<void> {
    let pid = this.#pids.get(b.name);
    let rss = pid ? vmRss(pid) : undefined;
    if (rss === undefined) {
      if (!b.leader()) return;
      const main = Number((await unitProps(b, ["MainPID"])).MainPID);
      if (!main) return;
      pid = b.hostPid(main);
      if (!pid) return;
      this.#pids.set(b.name, pid);
      const gone = await this.onNewPid?.(b, pid).then(() => false).catch((e) => {
        // The process may have ended meanwhile (a restart): find its successor next time.
        if (vmRss(pid!) === undefined) return true;
        this.errors.push(`${b.name}: ${e}`);
        return false;
      });
      if (gone) {
        this.#pids.delete(b.name);
        return;
      }
      rss = vmRss(pid);
      if (rss === undefined) return;
    }
    const m = this.peak.get(b.name) ?? new Map<string, number>();
    m.set(this.phase, Math.max(m.get(this.phase) ?? 0, rss));
    this.peak.set(b.name, m);
  }

  /** Highest value over all boards in `phase` (bytes), or undefined when never sampled. */
  worst(phase: string): number | undefined {
    const v = [...this.peak.values()].map((m) => m.get(phase)).filter((x): x is number => x !== undefined);
    return v.length ? Math.max(...v) : undefined;
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#loop;
  }
}

function vmRss(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Bytes as MiB with one decimal, for logs. */
export function mib(bytes: number | undefined): string {
  return bytes === undefined ? "–" : `${(bytes / 1048576).toFixed(1)} MiB`;
}
