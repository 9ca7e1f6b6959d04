/**
 * `deno task bench:swarm` (root): real agents on a real (virtual) network. N agents (default 5), each
 * in its own network namespace on a Linux bridge, gossiping by subnet broadcast; every node holds 2
 * MNIST classes; nftables drops 10% of incoming gossip datagrams in every namespace. Two runs: all
 * honest, then with one Byzantine agent (AGENT_DEV_ATTACK, a development-only switch). The simulation
 * (scripts/sim.ts) runs with the same settings in the same invocation for comparison.
 *
 * Reports per-node accuracy over time (on a shared test set), bytes and datagrams per node, the
 * largest datagram, datagrams above 1,232 B counted on the wire by nftables, and steady RSS per agent.
 * Targets: every node ≥ 93.5%, ≤ 2 MB sent per node, datagrams ≤ 1,232 B, Byzantine run within 2 pp,
 * RSS ≤ 128 MB.
 *
 *   sudo deno task bench:swarm [--seeds 1] [--nodes 5] [--duration 300] [--split classes:2] [--loss 10]
 *                              [--attack signflip|none] [--skip-sim] [--log-level debug] [--keep] [--json]
 *
 * `--attack none` leaves the Byzantine run out (half the time per seed).
 *
 * With `--seeds A..B` (or a count N = 1..N) both runs repeat per seed (the seed picks the shards and the
 * test digits) and the report gives, per run kind, what `deno task bench:swarm-sim` gives: the worst
 * node over all seeds, the median and spread of the per-seed minima, MB per node, and the false
 * positives — honest peers that some agent ignored (alive, score below the learner's threshold) in any
 * status snapshot (every 5 s).
 *
 * Needs: root, iproute2, nftables.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "../src/errors.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ATTACKS, parseSeeds, type SeedSummary, summarizeSeeds } from "../src/sim/mod.ts";
import { DEFAULT_LEARNER_OPTIONS } from "../src/learn/mod.ts";
import { STATUS_FORMAT, type StatusReport } from "../src/api/status.ts";
import { readCheckedJson } from "../src/state/mod.ts";
import { AgentProcess } from "./lib/cluster.ts";
import { createNetwork, type Network } from "./lib/netns.ts";
import { prepareSwarm } from "./lib/swarm.ts";
import { loadMnist, subset } from "../src/sim/mnist.ts";
import { createModel, initBackend, loadCheckpoint, type TrainableModel } from "../src/model/mod.ts";
import { stateLayout } from "../src/state/mod.ts";

const GOSSIP_PORT = 41234;
const TARGETS = {
  accuracy: 0.935,
  bytesPerNode: 2 * 1024 * 1024,
  datagram: 1232,
  byzantinePp: 2,
  rssMb: 128,
};

interface Options {
  seeds: number[];
  nodes: number;
  duration: number;
  split: string;
  loss: number;
  attack: string;
  roundMs: number;
  skipSim: boolean;
  json: boolean;
  /** The agents' `logging.level` (debug shows every peer update not used, and why). */
  logLevel: string;
  /** Keep every run's state directories (agent logs, checkpoints, status snapshots). */
  keep: boolean;
}

/** One node's result in one run. */
export interface NodeResult {
  name: string;
  byzantine: boolean;
  accuracy: number | null;
  rounds: number;
  datagramsOut: number;
  bytesOut: number;
  datagramsIn: number;
  largestDatagram: number;
  /** Median RSS over the second half of the run, MB. */
  steadyRssMb: number | null;
  /**
   * Median over the second half of the run of the agent's private resident memory (RssAnon in
   * /proc/PID/status), MB: RSS minus the pages mapped from files, mostly the Deno executable, which
   * every agent on a board shares.
   */
  steadyPrivateMb: number | null;
  wire: { seen: number; dropped: number; oversize: number };
  /** [seconds, accuracy, bytes sent so far] samples. */
  timeline: [number, number | null, number][];
  /**
   * Accuracy of the node's final served model (its last checkpoint) on the test digits of the classes
   * the honest nodes of the Byzantine run hold: with 2 classes per node the attacker is the only holder
   * of its 2 classes, which no defence can learn, so the Byzantine comparison is made on the others.
   */
  honestClassAccuracy: number | null;
  /** The node's view of its peers at the end (score, how much of their model it holds, merged or not). */
  peers: {
    name: string;
    score: number | null;
    coverage: number | null;
    merged: boolean;
    rejects: Record<string, number>;
  }[];
}

export interface RunResult {
  label: string;
  seed: number;
  seconds: number;
  nodes: NodeResult[];
  /** Honest peers some agent ignored (alive, score below the threshold) in any snapshot. */
  falsePositives: string[];
}

function options(): Options {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seeds: { type: "string" },
      nodes: { type: "string" },
      duration: { type: "string" },
      split: { type: "string" },
      loss: { type: "string" },
      attack: { type: "string" },
      "round-ms": { type: "string" },
      "skip-sim": { type: "boolean" },
      "log-level": { type: "string" },
      keep: { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  const attack = values.attack ?? "signflip";
  if (attack !== "none" && !(ATTACKS as readonly string[]).includes(attack)) {
    throw new Error(`--attack ${JSON.stringify(attack)} is not one of ${ATTACKS.join(", ")}, none`);
  }
  return {
    seeds: parseSeeds(values.seeds ?? "1"),
    nodes: Number(values.nodes ?? 5),
    duration: Number(values.duration ?? 300),
    split: values.split ?? "classes:2",
    loss: Number(values.loss ?? 10),
    attack,
    roundMs: Number(values["round-ms"] ?? 500),
    skipSim: values["skip-sim"] ?? false,
    json: values.json ?? false,
    logLevel: logLevel(values["log-level"]),
    keep: values.keep ?? false,
  };
}

/** The agents' log level from `--log-level` (the config's levels). */
export function logLevel(text: string | undefined): string {
  const levels = ["debug", "info", "warn", "error"];
  if (text === undefined) return "info";
  if (!levels.includes(text)) {
    throw new Error(`--log-level ${JSON.stringify(text)} is not one of ${levels.join(", ")}`);
  }
  return text;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** RssAnon of a process in bytes (null if it cannot be read). */
async function privateMemory(pid: number): Promise<number | null> {
  try {
    const m = /^RssAnon:\s+(\d+) kB$/m.exec(await Deno.readTextFile(`/proc/${pid}/status`));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

async function snapshot(state: string): Promise<StatusReport | undefined> {
  try {
    return await readCheckedJson(join(state, "status.json"), STATUS_FORMAT) as StatusReport | undefined;
  } catch {
    return undefined; // being replaced right now: read it next time
  }
}

let evalModel: TrainableModel | undefined;
let evalTest: Awaited<ReturnType<typeof loadMnist>>["test"] | undefined;

/**
 * Accuracy of the weights in a node's last checkpoint (written when it stopped: the swarm model it
 * served) on the first 1,000 test digits (the agents' shared test set) of `classes`.
 */
async function finalAccuracy(state: string, classes: Set<number>): Promise<number | null> {
  if (!evalModel) {
    await initBackend("wasm");
    evalModel = await createModel("mnist-mlp");
  }
  const { checkpoint } = await loadCheckpoint(stateLayout(state).checkpoints, evalModel);
  if (!checkpoint) return null;
  const test = evalTest ??= (await loadMnist(1)).test;
  const rows = Array.from({ length: Math.min(1000, test.count) }, (_, i) => i).filter((i) =>
    classes.has(test.y[i])
  );
  const data = subset(test, rows);
  evalModel.setWeights(checkpoint.weights);
  return (await evalModel.evaluate(data.x, data.y, data.count)).accuracy;
}

async function runSwarm(
  o: Options,
  label: string,
  seed: number,
  byzantine: number | undefined,
  log: (s: string) => void,
): Promise<RunResult> {
  const root = await Deno.makeTempDir({ prefix: "agent-bench-" });
  let net: Network | undefined;
  const agents: AgentProcess[] = [];
  try {
    net = await createNetwork({ hosts: o.nodes, udpPort: GOSSIP_PORT, lossPercent: o.loss });
    const n = net;
    const nodes = await prepareSwarm({
      root,
      nodes: o.nodes,
      split: o.split,
      seed,
      config: (i, paths) => ({
        node: { name: `node-${i + 1}` },
        data: { source: paths.shard, test: paths.test },
        gossip: { port: GOSSIP_PORT, broadcast: n.broadcast, bind: "0.0.0.0", intervalMs: 1000 },
        learning: { roundMs: o.roundMs, checkpointMs: 30_000 },
        api: { listen: "127.0.0.1:7070" },
        logging: { level: o.logLevel, format: "json" },
      }),
    });
    const started = Date.now();
    for (const [i, node] of nodes.entries()) {
      agents.push(
        new AgentProcess({
          name: node.name,
          state: node.state,
          api: "127.0.0.1:7070",
          prefix: [...n.exec(i), Deno.execPath()],
          env: i === byzantine ? { AGENT_DEV_ATTACK: o.attack } : {},
        }),
      );
    }
    log(`${label}: ${o.nodes} agents started in namespaces ${n.hosts.map((h) => h.ns).join(", ")}`);
    const timelines: [number, number | null, number][][] = nodes.map(() => []);
    const rss: number[][] = nodes.map(() => []);
    const priv: number[][] = nodes.map(() => []);
    const last: (StatusReport | undefined)[] = nodes.map(() => undefined);
    const falsePositives = new Set<string>();
    const byzantineName = byzantine === undefined ? undefined : nodes[byzantine].name;
    while ((Date.now() - started) / 1000 < o.duration) {
      await new Promise((r) => setTimeout(r, 5000));
      const t = Math.round((Date.now() - started) / 1000);
      for (const [i, node] of nodes.entries()) {
        const s = await snapshot(node.state);
        if (!s) continue;
        last[i] = s;
        for (const p of s.peers) {
          if (p.name === byzantineName || !p.alive || p.score === null) continue;
          if (p.score < DEFAULT_LEARNER_OPTIONS.scoreThreshold) falsePositives.add(p.name);
        }
        timelines[i].push([t, s.accuracy, s.gossip.bytesOut]);
        if (t > o.duration / 2) {
          rss[i].push(s.rss);
          const anon = await privateMemory(s.pid);
          if (anon !== null) priv[i].push(anon);
        }
      }
      for (const a of agents) {
        const dead = await Promise.race([a.exited.then(() => true), Promise.resolve(false)]);
        if (dead) throw new Error(`${a.name} exited:\n${(await a.log()).split("\n").slice(-8).join("\n")}`);
      }
      log(
        `${label} ${String(t).padStart(4)} s  ` +
          last.map((s, i) =>
            `${nodes[i].name}${i === byzantine ? "*" : ""} ${
              s?.accuracy == null ? "  -  " : (s.accuracy * 100).toFixed(1) + "%"
            } r${s?.rounds ?? 0} m${s?.peers.filter((p) => p.merged).length ?? 0}`
          ).join("  "),
      );
    }
    await Promise.all(agents.map((a) => a.stop()));
    // The classes every node but the last (the Byzantine run's attacker) holds.
    const honestClasses = new Set(nodes.slice(0, -1).flatMap((n) => n.classes));
    const results: NodeResult[] = [];
    for (const [i, node] of nodes.entries()) {
      const s = (await snapshot(node.state)) ?? last[i];
      results.push({
        name: node.name,
        byzantine: i === byzantine,
        accuracy: s?.accuracy ?? null,
        rounds: s?.rounds ?? 0,
        datagramsOut: s?.gossip.datagramsOut ?? 0,
        bytesOut: s?.gossip.bytesOut ?? 0,
        datagramsIn: s?.gossip.datagramsIn ?? 0,
        largestDatagram: s?.gossip.largestDatagram ?? 0,
        steadyRssMb: rss[i].length ? Math.round(median(rss[i])! / 1024 / 1024 * 10) / 10 : null,
        steadyPrivateMb: priv[i].length ? Math.round(median(priv[i])! / 1024 / 1024 * 10) / 10 : null,
        wire: await n.counters(i),
        timeline: timelines[i],
        honestClassAccuracy: await finalAccuracy(node.state, honestClasses),
        peers: (s?.peers ?? []).map((p) => ({
          name: p.name,
          score: p.score,
          coverage: p.coverage,
          merged: p.merged,
          rejects: p.rejects,
        })),
      });
    }
    return {
      label,
      seed,
      seconds: Math.round((Date.now() - started) / 1000),
      nodes: results,
      falsePositives: [...falsePositives],
    };
  } finally {
    await Promise.all(agents.map((a) => a.stop(5000)));
    await net?.destroy();
    if (o.keep) log(`${label}: state directories kept in ${root}`);
    else await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

async function runSim(o: Options, seed: number, rounds: number, byzantine: boolean): Promise<unknown> {
  const sim = fileURLToPath(new URL("./sim.ts", import.meta.url));
  const args = [
    "run",
    "--quiet",
    "-A",
    sim,
    "--nodes",
    String(o.nodes),
    "--split",
    o.split,
    "--loss",
    String(o.loss),
    "--rounds",
    String(rounds),
    "--no-centralized",
    "--seed",
    String(seed),
    "--json",
    ...(byzantine ? ["--byzantine", `1:${o.attack}`] : []),
  ];
  const out = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "null" }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(text);
  } catch {
    return { error: `sim exited ${out.code}`, output: text.slice(0, 500) };
  }
}

/**
 * The first sample from which every honest node stays at or above `target` to the end of the run, with
 * the most bytes any of them had sent by then; null if that never happens.
 */
export function sustained(run: RunResult, target: number): { seconds: number; bytes: number } | null {
  const nodes = run.nodes.filter((n) => !n.byzantine);
  const n = Math.min(...nodes.map((x) => x.timeline.length));
  let from: number | null = null;
  for (let k = n - 1; k >= 0; k--) {
    if (nodes.some((x) => (x.timeline[k][1] ?? 0) < target)) break;
    from = k;
  }
  if (from === null) return null;
  return {
    seconds: nodes[0].timeline[from][0],
    bytes: Math.max(...nodes.map((x) => x.timeline[from][2])),
  };
}

function table(run: RunResult): string {
  const head = [
    "NODE",
    "ACCURACY",
    "HONEST CLASSES",
    "ROUNDS",
    "SENT",
    "DATAGRAMS OUT",
    "LARGEST",
    "WIRE >1232 B",
    "WIRE LOSS",
    "RSS MB",
    "PRIVATE MB",
  ];
  const rows = run.nodes.map((n) => [
    n.name + (n.byzantine ? " (byzantine)" : ""),
    n.accuracy === null ? "-" : `${(n.accuracy * 100).toFixed(1)}%`,
    n.honestClassAccuracy === null ? "-" : `${(n.honestClassAccuracy * 100).toFixed(1)}%`,
    String(n.rounds),
    `${(n.bytesOut / 1024 / 1024).toFixed(2)} MB`,
    String(n.datagramsOut),
    `${n.largestDatagram} B`,
    String(n.wire.oversize),
    `${n.wire.seen ? ((100 * n.wire.dropped) / n.wire.seen).toFixed(1) : "-"}%`,
    n.steadyRssMb === null ? "-" : String(n.steadyRssMb),
    n.steadyPrivateMb === null ? "-" : String(n.steadyPrivateMb),
  ]);
  const w = head.map((_, c) => Math.max(head[c].length, ...rows.map((r) => r[c].length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(w[i])).join("  ")).join("\n");
}

/** The per-seed figures of a run, as the simulation reports them. */
export function seedSummary(run: RunResult, target: number): SeedSummary {
  const honest = run.nodes.filter((n) => !n.byzantine);
  const accs = honest.map((n) => n.accuracy ?? 0);
  const reached = sustained(run, target);
  return {
    seed: run.seed,
    minHonest: Math.min(...accs),
    meanHonest: accs.reduce((a, b) => a + b, 0) / accs.length,
    mbPerNode: Math.max(...run.nodes.map((n) => n.bytesOut)) / 1e6,
    falsePositives: run.falsePositives,
    reached: reached && { round: reached.seconds, mb: reached.bytes / 1e6 },
  };
}

function seedsReport(label: string, runs: RunResult[], minOf: (r: RunResult) => number): string {
  const s = summarizeSeeds(runs.map((r) => ({ ...seedSummary(r, TARGETS.accuracy), minHonest: minOf(r) })));
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  return `${label}: seeds ${s.seeds.join(",")}; worst node ${pct(s.worst)}; median of per-seed minima ${
    pct(s.medianMin)
  } (spread ${pct(s.spread[0])}..${pct(s.spread[1])}); ${s.mbPerNode.toFixed(2)} MB/node; ` +
    `every node ≥ ${TARGETS.accuracy * 100}% for good from ${
      s.reachedMb === null ? "- (not in every seed)" : `${s.reachedMb.toFixed(2)} MB`
    }; false positives ${s.falsePositives} (in ${s.seedsWithFalsePositives} seeds)`;
}

if (import.meta.main) {
  let o: Options;
  try {
    o = options();
  } catch (e) {
    console.error(`bench:swarm: error: ${(e as Error).message}`);
    if (e instanceof UsageError && e.hint) console.error(`  hint: ${e.hint}`);
    Deno.exit(2);
  }
  if (Deno.uid() !== 0) {
    console.error("bench:swarm: error: needs root (network namespaces, nftables)");
    Deno.exit(2);
  }
  const log = (s: string) => (o.json ? console.error(s) : console.log(s));
  const honestRuns: RunResult[] = [];
  const byzRuns: RunResult[] = [];
  const sims: { seed: number; honest: unknown; byzantine: unknown }[] = [];
  const withAttack = o.attack !== "none";
  for (const seed of o.seeds) {
    const honest = await runSwarm(o, `honest seed ${seed}`, seed, undefined, log);
    honestRuns.push(honest);
    if (withAttack) {
      byzRuns.push(await runSwarm(o, `byzantine(${o.attack}) seed ${seed}`, seed, o.nodes - 1, log));
    }
    if (!o.skipSim) {
      const rounds = Math.max(...honest.nodes.map((n) => n.rounds));
      log(`simulation: ${o.nodes} nodes, ${o.split}, ${o.loss}% loss, ${rounds} rounds, seed ${seed}`);
      sims.push({
        seed,
        honest: await runSim(o, seed, rounds, false),
        byzantine: withAttack ? await runSim(o, seed, rounds, true) : undefined,
      });
    }
  }
  const reached = honestRuns.map((r) => sustained(r, TARGETS.accuracy));
  // Byzantine damage is measured on the classes the honest nodes hold (see NodeResult), same nodes.
  const minHonestClasses = (r: RunResult) =>
    Math.min(...r.nodes.slice(0, -1).map((n) => n.honestClassAccuracy ?? 0));
  const minAccuracy = (r: RunResult) =>
    Math.min(...r.nodes.filter((n) => !n.byzantine).map((n) => n.accuracy ?? 0));
  const summary = {
    settings: o,
    reached,
    honest: honestRuns,
    byzantine: byzRuns,
    simulation: o.skipSim ? undefined : sims,
    targets: TARGETS,
    seeds: {
      honest: summarizeSeeds(honestRuns.map((r) => seedSummary(r, TARGETS.accuracy))),
      byzantineHonestClasses: withAttack
        ? summarizeSeeds(
          byzRuns.map((r) => ({ ...seedSummary(r, TARGETS.accuracy), minHonest: minHonestClasses(r) })),
        )
        : undefined,
    },
    checks: {
      everyNodeAccuracy: reached.every((r) => r !== null),
      // Bytes each node had sent when every node reached the target for good (a run may go on longer).
      bytesPerNode: reached.every((r) => r !== null && r.bytes <= TARGETS.bytesPerNode),
      datagramSize: [...honestRuns, ...byzRuns].every((run) =>
        run.nodes.every((n) => n.largestDatagram <= TARGETS.datagram && n.wire.oversize === 0)
      ),
      byzantineWithin2pp: withAttack
        ? honestRuns.every((h, k) =>
          minHonestClasses(h) - minHonestClasses(byzRuns[k]) <= TARGETS.byzantinePp / 100
        )
        : undefined,
      noFalsePositives: [...honestRuns, ...byzRuns].every((r) => r.falsePositives.length === 0),
      rss: honestRuns.every((r) =>
        r.nodes.every((n) => n.steadyRssMb !== null && n.steadyRssMb <= TARGETS.rssMb)
      ),
    },
  };
  if (o.json) {
    console.log(JSON.stringify(summary));
  } else {
    for (const r of [...honestRuns, ...byzRuns]) {
      console.log(`\n${r.label} (${r.seconds} s)\n${table(r)}`);
      if (r.falsePositives.length) {
        console.log(`honest peers ignored at some point: ${r.falsePositives.join(", ")}`);
      }
    }
    if (!o.skipSim) {
      console.log(
        "\nsimulation (same settings):",
        JSON.stringify(sims, (k, v) => (k === "rows" ? undefined : v)),
      );
    }
    const command = `sudo deno task bench:swarm ${Deno.args.join(" ")}`.trim();
    console.log(`\n${command}`);
    console.log(seedsReport("honest", honestRuns, minAccuracy));
    if (withAttack) {
      console.log(seedsReport(`byzantine(${o.attack}), honest classes`, byzRuns, minHonestClasses));
    }
    console.log("\nchecks:", JSON.stringify(summary.checks));
    await Deno.mkdir(".bench", { recursive: true });
    await Deno.writeTextFile(".bench/bench-swarm.json", JSON.stringify(summary, null, 1));
    console.log("full results: .bench/bench-swarm.json");
  }
}
