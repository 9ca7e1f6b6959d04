/**
 * `deno task bench:dashboard [-- --seconds 60] [--polls 4] [--cycles 1] [--json]`: does watching the dashboard
 * cost a board anything? Two real agents on loopback, paired and learning MNIST. On node-1, a steady
 * predict load (one batch-1 `/v1/predict` every 50 ms, latency measured by the client) runs through
 * three phases of `--seconds` each, in one run: idle, polled (the page's data endpoints asked `--polls`
 * times a second: `/v1/status` and the whole `/v1/history` each time, and the page `/` once a second —
 * more than an open page asks, which is one `/v1/status` and one `/v1/history?since=…` every 2 s), and
 * idle again, so drift shows (`--cycles N` repeats polled + idle N times). RSS is read from /proc/PID/status once a second (not through the API).
 *
 * Also, in-process: the cost of answering `/v1/history` for a full 24 h ring (8,640 samples, 8 reject
 * reasons), the largest answer the endpoint can give.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { AgentProcess, freeTcpPort, freeUdpPort, waitFor } from "./lib/cluster.ts";
import { loopbackConfig, prepareSwarm } from "./lib/swarm.ts";
import { MetricHistory } from "../src/api/history.ts";

/** One phase's figures. */
export interface PhaseResult {
  phase: string;
  predicts: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  rssMedianMb: number;
  rssMaxMb: number;
  /** RSS at the phase's end minus at its start. */
  rssGrowthMb: number;
  /** Dashboard requests answered in the phase (0 when idle). */
  pageRequests: number;
  pageP95Ms: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function rssBytes(pid: number): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(text)?.[1]);
  return kb * 1024;
}

async function timed(url: string, init?: RequestInit): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return performance.now() - t0;
}

/** Runs `fn` every `everyMs` until `endAt`, one call at a time (a slow answer delays the next). */
async function every(everyMs: number, endAt: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = performance.now();
  for (let i = 0; performance.now() < endAt; i++) {
    await fn(i);
    next += everyMs;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

async function phase(
  name: string,
  agent: AgentProcess,
  seconds: number,
  polls: number,
): Promise<PhaseResult> {
  const base = `http://${agent.api}`;
  const body = JSON.stringify({ rows: [Array(784).fill(0.5)] });
  const endAt = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  const rss: number[] = [];
  const pageTimes: number[] = [];
  const predict = every(50, endAt, async () => {
    latencies.push(
      await timed(`${base}/v1/predict`, {
        method: "POST",
        body,
        headers: { "content-type": "application/json" },
      }),
    );
  });
  const memory = every(1000, endAt, async () => void rss.push(await rssBytes(agent.pid)));
  const rssGrowth = () => rss[rss.length - 1] - rss[0];
  const page = polls > 0
    ? every(1000 / polls, endAt, async (i) => {
      pageTimes.push(await timed(`${base}/v1/status`));
      pageTimes.push(await timed(`${base}/v1/history`));
      if (i % polls === 0) pageTimes.push(await timed(`${base}/`));
    })
    : Promise.resolve();
  await Promise.all([predict, memory, page]);
  const growth = rssGrowth();
  latencies.sort((a, b) => a - b);
  rss.sort((a, b) => a - b);
  pageTimes.sort((a, b) => a - b);
  const mb = (n: number) => Math.round(n / 1048576 * 10) / 10;
  const ms = (n: number) => Math.round(n * 100) / 100;
  return {
    phase: name,
    predicts: latencies.length,
    p50Ms: ms(quantile(latencies, 0.5)),
    p95Ms: ms(quantile(latencies, 0.95)),
    p99Ms: ms(quantile(latencies, 0.99)),
    maxMs: ms(latencies[latencies.length - 1]),
    rssMedianMb: mb(quantile(rss, 0.5)),
    rssMaxMb: mb(rss[rss.length - 1]),
    rssGrowthMb: mb(growth),
    pageRequests: pageTimes.length,
    pageP95Ms: ms(quantile(pageTimes, 0.95)),
  };
}

/** Time and size of a full 24 h ring's `/v1/history` answer (series + JSON), in this process. */
export function fullRingCost(): { samples: number; bytes: number; ms: number; ringBytes: number } {
  const h = new MetricHistory();
  const reasons = [
    "untrusted",
    "replay",
    "malformed",
    "bad-signature",
    "rate-limited",
    "oversize",
    "own",
    "bad-body",
  ];
  for (let i = 0; i < h.capacity; i++) {
    h.record({
      t: 1e12 + i * h.intervalMs,
      accuracy: 0.9,
      loss: 0.2,
      bytesIn: i * 1000,
      bytesOut: i * 900,
      rss: 1e8,
      rejects: Object.fromEntries(reasons.map((r, k) => [r, i * k])),
    });
  }
  let bytes = 0;
  const runs = 20;
  const t0 = performance.now();
  for (let k = 0; k < runs; k++) bytes = JSON.stringify(h.series()).length;
  return {
    samples: h.size,
    bytes,
    ms: Math.round((performance.now() - t0) / runs * 10) / 10,
    ringBytes: h.byteLength,
  };
}

if (import.meta.main) {
  let values: { seconds: string; polls: string; cycles: string; json: boolean };
  try {
    ({ values } = parseArgs({
      args: Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args,
      options: {
        seconds: { type: "string", default: "60" },
        polls: { type: "string", default: "4" },
        cycles: { type: "string", default: "1" },
        json: { type: "boolean", default: false },
      },
    }));
  } catch (e) {
    console.error(
      `bench:dashboard: error: ${
        (e as Error).message
      }\n  hint: deno task bench:dashboard -- [--seconds 60] [--polls 4] [--cycles 1] [--json]`,
    );
    Deno.exit(2);
  }
  const seconds = Number(values.seconds);
  const polls = Number(values.polls);
  if (!Number.isInteger(seconds) || seconds < 5 || seconds > 3600) {
    console.error(`bench:dashboard: error: --seconds ${JSON.stringify(values.seconds)} is not 5..3600`);
    Deno.exit(2);
  }
  if (!Number.isInteger(polls) || polls < 1 || polls > 50) {
    console.error(`bench:dashboard: error: --polls ${JSON.stringify(values.polls)} is not 1..50`);
    Deno.exit(2);
  }
  const cycles = Number(values.cycles);
  if (!Number.isInteger(cycles) || cycles < 1 || cycles > 20) {
    console.error(`bench:dashboard: error: --cycles ${JSON.stringify(values.cycles)} is not 1..20`);
    Deno.exit(2);
  }
  const root = await Deno.makeTempDir({ prefix: "agent-dash-bench-" });
  const gossip = freeUdpPort();
  const apis = [freeTcpPort(), freeTcpPort()];
  const agents: AgentProcess[] = [];
  try {
    const nodes = await prepareSwarm({
      root,
      nodes: 2,
      split: "iid",
      config: (i, paths) => loopbackConfig(`node-${i + 1}`, paths, { gossip, api: apis[i] }),
    });
    for (let i = 0; i < 2; i++) {
      agents.push(
        new AgentProcess({ name: nodes[i].name, state: nodes[i].state, api: `127.0.0.1:${apis[i]}` }),
      );
    }
    const board = agents[0];
    const warm = await waitFor(
      async () => {
        const s = await board.status();
        return s && s.accuracy !== null && s.accuracy > 0.8 && s.peers.some((p) => p.merged) ? s : undefined;
      },
      "node-1 learning with its peer merged",
      300_000,
      1000,
    );
    console.error(`node-1 at ${(warm.accuracy! * 100).toFixed(1)}% after ${warm.rounds} rounds; measuring…`);
    const load = async () => (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
    const loadBefore = await load();
    const results: PhaseResult[] = [];
    const plan: [string, number][] = [["idle", 0]];
    for (let c = 0; c < cycles; c++) plan.push([`polled ${polls}/s`, polls], ["idle", 0]);
    for (const [name, p] of plan) {
      results.push(await phase(name, board, seconds, p));
      console.error(`  ${name} done`);
    }
    const loadAfter = await load();
    const ring = fullRingCost();
    const mean = (rows: PhaseResult[], k: keyof PhaseResult) =>
      rows.reduce((a, r) => a + (r[k] as number), 0) / rows.length;
    const idle = results.filter((r) => r.pageRequests === 0);
    const polledRows = results.filter((r) => r.pageRequests > 0);
    const delta = (k: keyof PhaseResult) => Math.round((mean(polledRows, k) - mean(idle, k)) * 100) / 100;
    if (values.json) {
      console.log(
        JSON.stringify({ seconds, polls, phases: results, fullRing: ring, loadBefore, loadAfter }, null, 2),
      );
    } else {
      console.log(
        `Dashboard load, ${seconds} s a phase, predict batch 1 every 50 ms on node-1 (2 agents learning):`,
      );
      console.log(
        "| phase | predicts | p50 ms | p95 ms | p99 ms | max ms | RSS median MB | RSS max MB | RSS growth MB | " +
          "page requests | page p95 ms |",
      );
      console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
      for (const r of results) {
        console.log(
          `| ${r.phase} | ${r.predicts} | ${r.p50Ms} | ${r.p95Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.rssMedianMb} | ` +
            `${r.rssMaxMb} | ${r.rssGrowthMb} | ${r.pageRequests} | ${
              Number.isNaN(r.pageP95Ms) ? "-" : r.pageP95Ms
            } |`,
        );
      }
      console.log(
        `Mean of the polled phases minus mean of the idle ones: p50 ${delta("p50Ms")} ms, ` +
          `p95 ${delta("p95Ms")} ms, RSS growth in a phase ${delta("rssGrowthMb")} MB`,
      );
      console.log(`Load average (1, 5, 15 min) before: ${loadBefore}; after: ${loadAfter}`);
      console.log(
        `Full 24 h ring: ${ring.samples} samples in ${(ring.ringBytes / 1024).toFixed(0)} kB; ` +
          `its /v1/history answer is ${(ring.bytes / 1024).toFixed(0)} kB, made in ${ring.ms} ms`,
      );
    }
  } finally {
    await Promise.all(agents.map((a) => a.stop(5000)));
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}
