/**
 * `deno task bench:fanin`: one real `agent run` (from source, on loopback) against swarms of N synthetic
 * trusted peers, to see what one board pays as the swarm grows: resident memory, CPU, gossip bytes in and
 * out per second, and the round interval the airtime budget (`gossip.swarmBytesPerSecond`) gives it.
 *
 * For each N (default 5, 50, 100, 300) the bench makes a fresh state directory, N Ed25519 identities, and
 * trusts them through the same `TrustStore.add` that `agent trust` uses; the agent trains on 2,000 MNIST
 * rows. The peers send real signed frames to the agent's gossip port: Hellos, and Deltas made by four
 * real learners of the same model (precomputed, each peer replays one learner's stream from round 1, as a
 * swarm that starts together), at the rate the airtime rule gives a swarm of N + 1 boards. With more boards
 * than `learning.fanIn` only the peers holding a seat of the publishing committee send Deltas, drawn as
 * every board draws it (`slotOwners` over the N peers and the agent, on the clock), as in a real swarm. After a warm-up
 * (at least three round intervals) it measures for a while (at least four): CPU from /proc/PID/stat,
 * RSS from /proc/PID/status (median and peak), bytes from `/v1/status`, and the agent's own airtime report.
 * The baseline of the same run is the agent with no peer at all (N = 0).
 *
 *   nice -n 10 deno task bench:fanin [--nodes 5,50,100,300] [--warmup 20] [--measure 30] [--budget B]
 *     [--fan-in K] [--seat-ms MS] [--service-env] [--json]
 *
 * `--budget` sets `gossip.swarmBytesPerSecond` for the agent and its peers (default: the config default);
 * a budget of 100000000 is the swarm without the airtime rule (every board at learning.roundMs).
 * `--fan-in` and `--seat-ms` set `learning.fanIn` and `learning.fanInPeriodMs` the same way.
 * `--service-env` runs the agent with the systemd unit's memory environment (`SERVICE_ENV`: V8's old
 * generation capped, one glibc arena that gives freed memory back), as a board runs it.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { stringify } from "yaml";
import { type Config, defaultConfig } from "../src/config/mod.ts";
import { GossipNode, planAirtime } from "../src/gossip/mod.ts";
import { createSigner, encodePayload, randomSeed, type Signer, TrustStore } from "../src/identity/mod.ts";
import {
  DEFAULT_LEARNER_OPTIONS,
  handoverBound,
  slotOwners,
  SwarmLearner,
  tuningFromConfig,
} from "../src/learn/mod.ts";
import { decodePayload } from "../src/identity/mod.ts";
import { toHex } from "../src/bytes.ts";
import { createModel, initBackend, modelHash, paramCount, resolveModelSpec } from "../src/model/mod.ts";
import { loadMnist, subset } from "../src/sim/mnist.ts";
import { stateLayout, writeFileAtomic } from "../src/state/mod.ts";
import { SeededRandom } from "../src/time.ts";
import { bodyBudget, deflateBody, MessageType } from "../src/wire/mod.ts";
import { agentOk, AgentProcess, freeTcpPort, freeUdpPort, waitFor } from "./lib/cluster.ts";
import { writeShardFile } from "./lib/shards.ts";
import { type AirtimeLearner, airtimeSettings } from "../src/agent/airtime.ts";
import { SERVICE_ENV } from "../src/systemd/unit.ts";

/** Learners whose Delta streams the synthetic peers replay. */
const SOURCES = 4;

interface Options {
  nodes: number[];
  warmupS: number;
  measureS: number;
  json: boolean;
  /** gossip.swarmBytesPerSecond of the agent and its synthetic peers. */
  budget: number;
  /** learning.fanIn and learning.fanInPeriodMs of the agent and its synthetic peers. */
  fanIn: number;
  fanInPeriodMs: number;
  /** Run the agent with the unit's SERVICE_ENV. */
  serviceEnv: boolean;
}

/** The default config with the bench's budget and committee: what the agent and its peers run. */
function benchConfig(o: Options): Config {
  const cfg = defaultConfig();
  return {
    ...cfg,
    gossip: { ...cfg.gossip, swarmBytesPerSecond: o.budget },
    learning: { ...cfg.learning, fanIn: o.fanIn, fanInPeriodMs: o.fanInPeriodMs },
  };
}

/** One measured row. */
export interface FaninRow {
  peers: number;
  swarmSize: number | null;
  roundMs: number | null;
  helloMs: number | null;
  rssMedianMb: number;
  rssPeakMb: number;
  cpuPercent: number;
  bytesInPerS: number;
  bytesOutPerS: number;
  airtimeSwarmPerS: number | null;
  peersMerged: number;
  rounds: number;
  seconds: number;
}

/** A usage error: one line, exit 2. */
function usage(message: string): never {
  console.error(`bench:fanin: ${message}`);
  Deno.exit(2);
}

function options(): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      options: {
        nodes: { type: "string", default: "5,50,100,300" },
        warmup: { type: "string", default: "20" },
        measure: { type: "string", default: "30" },
        json: { type: "boolean", default: false },
        "service-env": { type: "boolean", default: false },
        budget: { type: "string", default: String(defaultConfig().gossip.swarmBytesPerSecond) },
        "fan-in": { type: "string", default: String(defaultConfig().learning.fanIn) },
        "seat-ms": { type: "string", default: String(defaultConfig().learning.fanInPeriodMs) },
      },
    });
  } catch (e) {
    usage(
      `${
        (e as Error).message.split("\n")[0]
      } (options: --nodes --warmup --measure --budget --fan-in --seat-ms --service-env --json)`,
    );
  }
  const { values } = parsed;
  const nodes = values.nodes.split(",").map(Number);
  const seconds = (name: "warmup" | "measure") => {
    const v = Number(values[name]);
    if (!(v > 0 && v <= 3600)) usage(`--${name} ${JSON.stringify(values[name])}: give seconds 1..3600`);
    return v;
  };
  if (nodes.some((n) => !Number.isInteger(n) || n < 1 || n > 2000)) {
    usage(`--nodes ${JSON.stringify(values.nodes)}: give whole numbers 1..2000, e.g. 5,50,100,300`);
  }
  const budget = Number(values.budget);
  if (!Number.isInteger(budget) || budget < 1000 || budget > 100_000_000) {
    usage(`--budget ${JSON.stringify(values.budget)}: give bytes/s 1000..100000000`);
  }
  const fanIn = Number(values["fan-in"]);
  if (!Number.isInteger(fanIn) || fanIn < 0 || fanIn > 4096) {
    usage(`--fan-in ${JSON.stringify(values["fan-in"])}: give a whole number 0..4096 (0 = off)`);
  }
  const fanInPeriodMs = Number(values["seat-ms"]);
  if (!Number.isInteger(fanInPeriodMs) || fanInPeriodMs < 1000 || fanInPeriodMs > 86_400_000) {
    usage(`--seat-ms ${JSON.stringify(values["seat-ms"])}: give milliseconds 1000..86400000`);
  }
  return {
    nodes,
    warmupS: seconds("warmup"),
    measureS: seconds("measure"),
    json: values.json,
    budget,
    fanIn,
    fanInPeriodMs,
    serviceEnv: values["service-env"],
  };
}

/** Delta bodies per round of {@linkcode SOURCES} real learners of mnist-mlp, `rounds` rounds long. */
async function deltaStreams(rounds: number): Promise<Uint8Array[][]> {
  await initBackend("wasm");
  const { train } = await loadMnist(1);
  const cfg = defaultConfig();
  const budget = bodyBudget(cfg.gossip.maxDatagram);
  const streams: Uint8Array[][] = [];
  for (let s = 0; s < SOURCES; s++) {
    const model = await createModel("mnist-mlp");
    const rows = Array.from({ length: 1000 }, (_, i) => (s * 1000 + i) % train.count);
    const learner = new SwarmLearner({
      model,
      data: subset(train, rows, 784),
      features: 784,
      rng: new SeededRandom(17 + s),
      selfKey: (await createSigner(randomSeed())).publicKey,
      deflate: deflateBody,
      ...tuningFromConfig(cfg.learning),
      joining: false,
    });
    const stream: Uint8Array[] = [];
    for (let r = 0; r < rounds; r++) {
      await learner.train(1);
      learner.mix(r * cfg.learning.roundMs);
      const out = learner.outgoing(budget).filter((m) => m.type === MessageType.Delta);
      stream.push(out[0]?.body ?? stream.at(-1)!);
    }
    model.dispose();
    streams.push(stream);
  }
  return streams;
}

/** utime + stime of a process, in seconds. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

/** The mnist-mlp learner's size and encoding: what a committee handover pushes. */
let handoverLearner: AirtimeLearner | undefined;

/** The airtime rule's plan for `boards` boards under `budget` (the agent's own rule, handovers counted). */
function planFor(boards: number, o: Options) {
  return planAirtime(boards, airtimeSettings(benchConfig(o), handoverLearner));
}

/** The round and Hello intervals the synthetic peers follow. */
interface PeerPlan {
  roundMs: number;
  helloMs: number;
}

/**
 * Sends the N peers' frames to `port` at the intervals of `plan` (read before each send, so the peers
 * follow the agent's own airtime plan once it is known) until `stop` is set.
 */
async function runPeers(
  peers: { node: GossipNode; source: number; hex: string }[],
  streams: Uint8Array[][],
  port: number,
  stop: { done: boolean },
  plan: PeerPlan,
  agentHex: string,
  o: Options,
): Promise<void> {
  const { fanIn, fanInPeriodMs } = o;
  const roster = [agentHex, ...peers.map((p) => p.hex)];
  const seated = () =>
    new Set(
      fanIn > 0 && roster.length > fanIn ? slotOwners(roster, fanIn, fanInPeriodMs, Date.now()) : roster,
    );
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port };
  const start = performance.now();
  // Next due time of each peer's Delta and Hello, staggered over one interval.
  const nextDelta = peers.map((_, i) => start + (i / peers.length) * plan.roundMs);
  const nextHello = peers.map((_, i) => start + (i / peers.length) * plan.helloMs);
  const round = peers.map(() => 0);
  try {
    while (!stop.done) {
      const now = performance.now();
      for (let i = 0; i < peers.length; i++) {
        const p = peers[i];
        if (now >= nextHello[i]) {
          nextHello[i] += plan.helloMs;
          for (const f of await p.node.tick(now)) await sock.send(f, to);
        }
        if (now >= nextDelta[i]) {
          nextDelta[i] += plan.roundMs;
          if (!seated().has(p.hex)) continue;
          const stream = streams[p.source];
          const body = stream[Math.min(round[i]++, stream.length - 1)];
          await sock.send(await p.node.send(MessageType.Delta, body), to);
        }
      }
      const due = Math.min(...nextDelta, ...nextHello);
      await new Promise((r) => setTimeout(r, Math.max(1, Math.min(50, due - performance.now()))));
    }
  } finally {
    sock.close();
  }
}

/** One row: a fresh agent, `n` trusted synthetic peers, warm-up, then the measurement. */
async function measure(
  n: number,
  streams: Uint8Array[][],
  shard: string,
  root: string,
  o: Options,
): Promise<FaninRow> {
  const state = join(root, `n${n}`);
  await Deno.mkdir(state, { recursive: true, mode: 0o700 });
  const gossipPort = freeUdpPort();
  const api = `127.0.0.1:${freeTcpPort()}`;
  await writeFileAtomic(
    join(state, "agent.yaml"),
    stringify({
      node: { name: `airtime-fanin-${n}` },
      data: { source: shard },
      gossip: { port: gossipPort, broadcast: "127.255.255.255", swarmBytesPerSecond: o.budget },
      learning: { fanIn: o.fanIn, fanInPeriodMs: o.fanInPeriodMs },
      api: { listen: api },
      logging: { level: "warn", format: "json" },
    }),
  );
  const self = JSON.parse(await agentOk(["id", "--json", "--state", state])) as { payload: string };
  const spec = (await resolveModelSpec({ id: "mnist-mlp" }, join(state, "models"))).spec;
  const peers: { node: GossipNode; source: number; hex: string }[] = [];
  const trust = await TrustStore.open(stateLayout(state));
  for (let i = 0; i < n; i++) {
    const signer: Signer = await createSigner(randomSeed());
    const name = `peer-${i}`;
    await trust.add({
      publicKey: signer.publicKey,
      name,
      payload: encodePayload({ publicKey: signer.publicKey, name }),
    });
    peers.push({
      node: new GossipNode({
        signer,
        verifier: { verify: () => Promise.resolve(true) },
        trust: { isTrusted: () => true },
        modelHash: modelHash(spec),
        bootEpoch: 1,
        name,
        maxDatagram: 1232,
        rateLimit: 500,
        intervalMs: 1000,
        peerTimeoutMs: 15000,
      }),
      source: i % SOURCES,
      hex: toHex(signer.publicKey),
    });
  }
  const agentHex = toHex(decodePayload(self.payload).publicKey);
  const agent = new AgentProcess({
    name: `n${n}`,
    state,
    api,
    env: o.serviceEnv ? { ...SERVICE_ENV } : undefined,
  });
  const stop = { done: false };
  let sending: Promise<void> = Promise.resolve();
  let following: Promise<void> = Promise.resolve();
  try {
    await waitFor(() => agent.status(), `the agent with ${n} peers to answer on ${api}`, 120_000, 500);
    // The peers start at the plan for N + 1 boards with handovers at their uncompressed bound, then
    // follow the intervals the agent itself plans (its handovers as it measures them) once it hears
    // all of them: every board of a swarm plans alike.
    const plan = planFor(n + 1, o);
    const peerPlan: PeerPlan = { roundMs: plan.roundMs, helloMs: plan.helloMs };
    if (n > 0) sending = runPeers(peers, streams, gossipPort, stop, peerPlan, agentHex, o);
    following = (async () => {
      while (!stop.done) {
        const a = (await agent.status().catch(() => undefined))?.airtime;
        if (a && a.swarmSize === n + 1) Object.assign(peerPlan, { roundMs: a.roundMs, helloMs: a.helloMs });
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    const warmupMs = Math.max(o.warmupS * 1000, 3 * plan.roundMs);
    const measureMs = Math.max(o.measureS * 1000, 4 * plan.roundMs);
    await new Promise((r) => setTimeout(r, warmupMs));
    // An overloaded agent answers late: wait for its status rather than miss the row.
    const status = () =>
      waitFor(() => agent.status(), `/v1/status of the agent with ${n} peers`, 60_000, 200);
    const s0 = await status();
    const c0 = await cpuSeconds(agent.pid);
    const t0 = performance.now();
    const rss: number[] = [];
    while (performance.now() - t0 < measureMs) {
      rss.push(await rssMb(agent.pid));
      await new Promise((r) => setTimeout(r, 1000));
    }
    const c1 = await cpuSeconds(agent.pid);
    const s1 = await status();
    const seconds = (performance.now() - t0) / 1000;
    return {
      peers: n,
      swarmSize: s1.airtime?.swarmSize ?? null,
      roundMs: s1.airtime?.roundMs ?? null,
      helloMs: s1.airtime?.helloMs ?? null,
      rssMedianMb: median(rss),
      rssPeakMb: Math.max(...rss),
      cpuPercent: ((c1 - c0) / seconds) * 100,
      bytesInPerS: (s1.gossip.bytesIn - s0.gossip.bytesIn) / seconds,
      bytesOutPerS: (s1.gossip.bytesOut - s0.gossip.bytesOut) / seconds,
      airtimeSwarmPerS: s1.airtime?.swarmBytesPerSecond ?? null,
      peersMerged: s1.peers.filter((p) => p.merged).length,
      rounds: s1.rounds - s0.rounds,
      seconds,
    };
  } finally {
    stop.done = true;
    await sending;
    await following;
    await agent.stop();
  }
}

function table(rows: FaninRow[]): string {
  const base = rows[0];
  const head = "| peers N | swarm size heard | round interval | Hello interval | RSS median (peak) | " +
    "RSS vs N = 0 | CPU | bytes in/s | bytes out/s | rounds | peers merged |";
  const sep = "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";
  const ms = (v: number | null) => v === null ? "-" : `${(v / 1000).toFixed(2)} s`;
  const lines = rows.map((r) =>
    `| ${r.peers} | ${r.swarmSize ?? "-"} | ${ms(r.roundMs)} | ${ms(r.helloMs)} | ` +
    `${r.rssMedianMb.toFixed(0)} MB (${r.rssPeakMb.toFixed(0)}) | ` +
    `${r.rssMedianMb - base.rssMedianMb >= 0 ? "+" : ""}${
      (r.rssMedianMb - base.rssMedianMb).toFixed(0)
    } MB | ` +
    `${r.cpuPercent.toFixed(0)}% | ${Math.round(r.bytesInPerS).toLocaleString("en-US")} | ` +
    `${Math.round(r.bytesOutPerS).toLocaleString("en-US")} | ${r.rounds} in ${r.seconds.toFixed(0)} s | ` +
    `${r.peersMerged} |`
  );
  return [head, sep, ...lines].join("\n");
}

async function main(): Promise<void> {
  const o = options();
  const spec = (await resolveModelSpec({ id: "mnist-mlp" }, "/nonexistent")).spec; // the built-in spec
  const tuning = { ...DEFAULT_LEARNER_OPTIONS, ...tuningFromConfig(benchConfig(o).learning) };
  // Before any chunk is measured the learner counts the uncompressed bound: so does the plan here.
  handoverLearner = {
    tuning,
    handoverBytes: (maxDatagram) => handoverBound(paramCount(spec), tuning.encoding, maxDatagram),
    retune: () => {},
  };
  const root = await Deno.makeTempDir({ prefix: "airtime-fanin-" });
  try {
    const longest = Math.max(...o.nodes.map((n) => {
      const p = planFor(n + 1, o);
      return (Math.max(o.warmupS * 1000, 3 * p.roundMs) + Math.max(o.measureS * 1000, 4 * p.roundMs)) /
        p.roundMs;
    }));
    console.error(`Precomputing ${SOURCES} learners' Delta streams (${Math.ceil(longest) + 20} rounds)…`);
    const streams = await deltaStreams(Math.ceil(longest) + 20);
    const { train } = await loadMnist(1);
    const shard = join(root, "shard.jsonl");
    await writeShardFile(shard, subset(train, Array.from({ length: 2000 }, (_, i) => 40000 + i), 784));
    const rows: FaninRow[] = [];
    for (const n of [0, ...o.nodes]) {
      console.error(`Measuring the agent with ${n} trusted peers…`);
      rows.push(await measure(n, streams, shard, root, o));
      console.error(table(rows));
    }
    if (o.json) console.log(JSON.stringify(rows, null, 2));
    else {
      console.log(
        `One board against swarm size, gossip.swarmBytesPerSecond ${o.budget}, ` +
          `learning.fanIn ${o.fanIn}, learning.fanInPeriodMs ${o.fanInPeriodMs}${
            o.serviceEnv ? ", the unit's SERVICE_ENV" : ""
          } ` +
          `(${
            new Date().toISOString().slice(0, 10)
          }, ${Deno.build.target}, ${navigator.hardwareConcurrency} CPUs)\n`,
      );
      console.log(table(rows));
    }
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
