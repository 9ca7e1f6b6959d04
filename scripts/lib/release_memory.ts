/**
 * Resident memory of the **released** agent per phase, for `deno task bench:release --memory`: three
 * agents started through a release's launcher (`<release>/agent run`), paired with each other, gossiping
 * on one loopback port; each gets its own MNIST shard posted to `/v1/samples` as the board test does.
 * VmRSS of every agent is sampled from /proc every 100 ms; phases:
 * - **idle**: running and paired, heartbeats exchanged, no samples yet;
 * - **training**: from the first posted sample until `trainMs` after the last one;
 * - **flood**: junk datagrams sent to the gossip port for 5 s (and 2 s after).
 *
 * Runs with the environment given (e.g. the unit's `SERVICE_ENV`), so two settings compare in one run.
 *
 * @module
 */
import { join } from "node:path";
import { AgentProcess, freeTcpPort, freeUdpPort, waitFor } from "./cluster.ts";
import { writeShardFile } from "./shards.ts";
import { loadMnist, subset } from "../../src/sim/mnist.ts";

/** What one setting measured (bytes; worst agent per phase). */
export interface MemoryRun {
  peak: Record<"idle" | "training" | "flood", number>;
  /** Anonymous and file-backed resident bytes of the largest agent at the end of training. */
  anonymous: number;
  file: number;
  /** Lowest held-out accuracy and fewest rounds over the agents at the end of training. */
  accuracy: number;
  rounds: number;
  junk: number;
}

const dec = new TextDecoder();

async function cli(launcher: string, args: string[], env: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(launcher, { args, env, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`agent ${args.join(" ")}: ${dec.decode(out.stderr).trim()}`);
  return dec.decode(out.stdout);
}

function vmRss(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function rollup(pid: number): { anonymous: number; file: number } {
  const t = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(t)?.[1] ?? 0) * 1024;
  return { anonymous: kb("Anonymous"), file: kb("Rss") - kb("Anonymous") };
}

/** Runs the three-agent memory scenario with `launcher` and `env`; cleans up after itself. */
export async function measureReleaseMemory(options: {
  launcher: string;
  env: Record<string, string>;
  samplesPerAgent?: number;
  trainMs?: number;
  log?: (line: string) => void;
}): Promise<MemoryRun> {
  const { launcher } = options;
  const perAgent = options.samplesPerAgent ?? 1500;
  const work = await Deno.makeTempDir({ prefix: "release-memory-" });
  const agents: AgentProcess[] = [];
  const names = ["mem-a", "mem-b", "mem-c"];
  const env = { ...options.env, DENO_DIR: join(work, "deno-dir"), HOME: work, NO_COLOR: "1" };
  let phase: keyof MemoryRun["peak"] | "start" = "start";
  const peak: MemoryRun["peak"] = { idle: 0, training: 0, flood: 0 };
  let sampler: ReturnType<typeof setInterval> | undefined;
  try {
    const { train, test } = await loadMnist(1);
    if (perAgent * names.length > train.count) {
      throw new Error(
        `${perAgent} samples per agent needs ${
          perAgent * names.length
        } MNIST training rows, there are ${train.count}: ask for at most ${
          Math.floor(train.count / names.length)
        }`,
      );
    }
    const testPath = join(work, "test.jsonl");
    await writeShardFile(testPath, subset(test, Array.from({ length: 1000 }, (_, i) => i)));
    const port = freeUdpPort();
    const states = names.map((n) => join(work, n));
    const payloads: string[] = [];
    for (const [i, s] of states.entries()) {
      await Deno.mkdir(s, { recursive: true, mode: 0o700 });
      await Deno.writeTextFile(
        join(s, "agent.yaml"),
        [
          `node:\n  name: ${names[i]}`,
          `data:\n  test: ${testPath}`,
          `gossip:\n  port: ${port}\n  broadcast: 127.255.255.255\n  sharePort: true\n  intervalMs: 500\n  peerTimeoutMs: 5000`,
          "learning:\n  roundMs: 200\n  checkpointMs: 5000",
          "logging:\n  level: warn\n  format: json\n",
        ].join("\n"),
      );
      payloads.push(JSON.parse(await cli(launcher, ["id", "--json", "--state", s], env)).payload);
    }
    for (const [i, s] of states.entries()) {
      for (const [j, p] of payloads.entries()) {
        if (i !== j) await cli(launcher, ["trust", p, "--yes", "--state", s], env);
      }
    }
    for (const [i, s] of states.entries()) {
      const api = `127.0.0.1:${freeTcpPort()}`;
      agents.push(
        new AgentProcess({ name: names[i], state: s, api, launcher, env: { ...env, AGENT_API_LISTEN: api } }),
      );
    }
    sampler = setInterval(() => {
      if (phase === "start") return;
      for (const a of agents) peak[phase] = Math.max(peak[phase], vmRss(a.pid) ?? 0);
    }, 100);
    await waitFor(
      async () => {
        const all = await Promise.all(agents.map((a) => a.status()));
        return all.every((s) =>
          s && s.gossip.datagramsOut >= 6 && s.peers.filter((p) => p.alive).length === 2
        );
      },
      "three paired agents hearing each other",
      120_000,
    );
    phase = "idle";
    await new Promise((r) => setTimeout(r, 10_000));
    phase = "training";
    await Promise.all(agents.map(async (a, i) => {
      for (let start = 0; start < perAgent; start += 250) {
        const rows: number[][] = [];
        const labels: number[] = [];
        for (let k = start; k < Math.min(perAgent, start + 250); k++) {
          const r = i * perAgent + k;
          rows.push(Array.from(train.x.subarray(r * 784, (r + 1) * 784), (v) => Math.round(v * 1e4) / 1e4));
          labels.push(train.y[r]);
        }
        const res = await fetch(`http://${a.api}/v1/samples`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ rows, labels }),
        });
        if (!res.ok) {
          throw new Error(`POST /v1/samples to ${a.name}: HTTP ${res.status}: ${await res.text()}`);
        }
        await res.body?.cancel();
      }
    }));
    await new Promise((r) => setTimeout(r, options.trainMs ?? 30_000));
    const trained = (await Promise.all(agents.map((a) => a.status()))).filter((s) => s !== undefined);
    const largest = agents.reduce((a, b) => (vmRss(a.pid) ?? 0) >= (vmRss(b.pid) ?? 0) ? a : b);
    const { anonymous, file } = rollup(largest.pid);
    phase = "flood";
    const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const buf = new Uint8Array(1232);
    let junk = 0;
    try {
      const end = Date.now() + 5000;
      while (Date.now() < end) {
        crypto.getRandomValues(buf);
        await sock.send(buf.subarray(0, 1 + (buf[0] << 2) % 1232), {
          transport: "udp",
          hostname: "127.0.0.1",
          port,
        });
        junk++;
      }
    } finally {
      sock.close();
    }
    await new Promise((r) => setTimeout(r, 2000));
    const dead = agents.filter((a) => vmRss(a.pid) === undefined);
    if (dead.length) throw new Error(`agent ${dead[0].name} exited: ${(await dead[0].log()).slice(-2000)}`);
    return {
      peak,
      anonymous,
      file,
      accuracy: Math.min(...trained.map((s) => s.accuracy ?? 0)),
      rounds: Math.min(...trained.map((s) => s.rounds)),
      junk,
    };
  } finally {
    if (sampler !== undefined) clearInterval(sampler);
    await Promise.all(agents.map((a) => a.stop()));
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}
