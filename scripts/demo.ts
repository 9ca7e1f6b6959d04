/**
 * `deno task demo`: a swarm on this machine. Starts N real `agent run` processes that gossip over
 * loopback broadcast (127.255.255.255), each with its own temporary state directory and its own
 * non-IID shard of MNIST; pairs them with each other's QR payload text (`agent id --json` →
 * `agent trust <payload> --yes`); shows a live table and a progress bar toward the target accuracy;
 * stops at the target or the time limit and prints a summary. Ctrl-C stops every child cleanly; no
 * process is ever left behind (children also exit when their stdin, a pipe from this script, closes).
 *
 *   deno task demo [--dataset mnist] [--model ID] [--nodes 3] [--timeout 300] [--target A]
 *                  [--split dirichlet:0.5] [--json] [--keep]
 *
 * `--dataset` picks one of the example datasets (`src/data/datasets.ts`): MNIST (the default),
 * sequential MNIST, or the Seattle weather station readings; each node gets a shard of its raw rows
 * and the model spec's range/normalisation is applied by the agents themselves.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "../src/errors.ts";
import { exampleDataset } from "../src/data/datasets.ts";
import { parseSplit } from "../src/learn/split.ts";
import type { StatusReport } from "../src/api/status.ts";
import { AgentProcess, freeTcpPort, freeUdpPort } from "./lib/cluster.ts";
import { loopbackConfig, prepareSwarm } from "./lib/swarm.ts";

const USAGE = `Usage: deno task demo [options]

Starts a swarm of real agents on this machine and shows them learning together.

Options:
  --dataset NAME   mnist | seq-mnist | weather | weather-seq              [mnist]
  --model ID       a model spec made for the dataset          [the dataset's first]
  --nodes N        number of agents, 2..8                               [3]
  --timeout S      stop after S seconds even if the target is not reached [300]
  --target A       stop when every node's held-out accuracy reaches A
                   [0.9 for mnist, 0.85 seq-mnist, 0.75 weather, 0.72 weather-seq]
  --split SPEC     how rows are dealt: iid | classes:K | dirichlet:ALPHA [dirichlet:0.5]
  --json           print only one JSON summary line at the end
  --keep           keep the temporary state directories (printed at the end)
  -h, --help       this help`;

/** Default accuracy targets: a little under what the swarm reaches in `deno task bench:datasets`. */
const DEFAULT_TARGETS: Record<string, number> = {
  mnist: 0.9,
  "seq-mnist": 0.85,
  weather: 0.75,
  "weather-seq": 0.72,
};

/** One node's figures for the table and the summary. */
export interface NodeRow {
  name: string;
  accuracy: number | null;
  rounds: number;
  datagramsIn: number;
  datagramsOut: number;
  bytesIn: number;
  bytesOut: number;
  peersAlive: number;
  largestDatagram: number;
  up: boolean;
}

/** The final summary (the `--json` line). */
export interface DemoSummary {
  nodes: (NodeRow & { datagrams: number; bytes: number })[];
  target: number;
  reached: boolean;
  seconds: number;
  stoppedBy: "target" | "timeout" | "interrupt" | "failure";
  failure?: string;
  stateDirs?: string[];
}

interface DemoOptions {
  dataset: string;
  model: string;
  nodes: number;
  timeout: number;
  target: number;
  split: string;
  json: boolean;
  keep: boolean;
}

function parseOptions(args: string[]): DemoOptions | undefined {
  const { values } = parseArgs({
    args,
    options: {
      nodes: { type: "string" },
      timeout: { type: "string" },
      target: { type: "string" },
      split: { type: "string" },
      dataset: { type: "string" },
      model: { type: "string" },
      json: { type: "boolean" },
      keep: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const num = (
    name: string,
    raw: string | undefined,
    def: number,
    min: number,
    max: number,
    int: boolean,
  ) => {
    if (raw === undefined) return def;
    const v = Number(raw);
    if (!Number.isFinite(v) || (int && !Number.isInteger(v)) || v < min || v > max) {
      throw new UsageError(
        `Option --${name} ${JSON.stringify(raw)} is not ${
          int ? "a whole number" : "a number"
        } in ${min}..${max}`,
        "Run 'deno task demo --help'",
      );
    }
    return v;
  };
  const split = values.split ?? "dirichlet:0.5";
  parseSplit(split);
  const dataset = exampleDataset(values.dataset ?? "mnist");
  const model = values.model ?? dataset.specs[0];
  if (!dataset.specs.includes(model)) {
    throw new UsageError(
      `Model ${JSON.stringify(model)} is not made for the ${dataset.name} dataset`,
      `Use one of: ${dataset.specs.join(", ")}`,
    );
  }
  return {
    dataset: dataset.name,
    model,
    nodes: num("nodes", values.nodes, 3, 2, 8, true),
    timeout: num("timeout", values.timeout, 300, 10, 86400, true),
    target: num("target", values.target, DEFAULT_TARGETS[dataset.name] ?? 0.9, 0.1, 1, false),
    split,
    json: values.json === true,
    keep: values.keep === true,
  };
}

/** Turns a status report into a table row. */
function rowOf(name: string, s: StatusReport | undefined, last: NodeRow | undefined): NodeRow {
  if (!s) {
    return last ? { ...last, up: false } : {
      name,
      accuracy: null,
      rounds: 0,
      datagramsIn: 0,
      datagramsOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      peersAlive: 0,
      largestDatagram: 0,
      up: false,
    };
  }
  return {
    name,
    accuracy: s.accuracy,
    rounds: s.rounds,
    datagramsIn: s.gossip.datagramsIn,
    datagramsOut: s.gossip.datagramsOut,
    bytesIn: s.gossip.bytesIn,
    bytesOut: s.gossip.bytesOut,
    peersAlive: s.peers.filter((p) => p.alive).length,
    largestDatagram: s.gossip.largestDatagram,
    up: true,
  };
}

function kb(n: number): string {
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(0)} kB` : `${(n / 1024 / 1024).toFixed(2)} MB`;
}

/** The live table with a progress bar (the slowest node's accuracy toward the target). */
export function renderTable(rows: NodeRow[], target: number, elapsed: number, timeout: number): string {
  const head = ["NODE", "ACCURACY", "ROUNDS", "DGRAMS IN/OUT", "BYTES IN/OUT", "PEERS", "LARGEST"];
  const body = rows.map((r) => [
    r.name + (r.up ? "" : " (down)"),
    r.accuracy === null ? "-" : `${(r.accuracy * 100).toFixed(1)}%`,
    String(r.rounds),
    `${r.datagramsIn}/${r.datagramsOut}`,
    `${kb(r.bytesIn)}/${kb(r.bytesOut)}`,
    String(r.peersAlive),
    `${r.largestDatagram} B`,
  ]);
  const widths = head.map((_, c) => Math.max(head[c].length, ...body.map((b) => b[c].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  const worst = Math.min(...rows.map((r) => r.accuracy ?? 0));
  const width = 40;
  const filled = Math.max(0, Math.min(width, Math.round((worst / target) * width)));
  const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
  return [
    line(head),
    ...body.map(line),
    "",
    `${bar} slowest node ${(worst * 100).toFixed(1)}% of target ${(target * 100).toFixed(1)}%` +
    `   ${elapsed.toFixed(0)}/${timeout} s   (Ctrl-C stops)`,
  ].join("\n");
}

/** Runs the demo; returns the summary. `log` receives progress text (not used with --json). */
export async function runDemo(options: DemoOptions, log: (text: string, redraw: boolean) => void) {
  const started = Date.now();
  const root = await Deno.makeTempDir({ prefix: "agent-demo-" });
  const agents: AgentProcess[] = [];
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  let summary: DemoSummary | undefined;
  const rows: NodeRow[] = [];
  try {
    log(
      `Preparing ${options.nodes} agents in ${root} (${options.dataset} split ${options.split}, model ${options.model}) …`,
      false,
    );
    const gossipPort = freeUdpPort();
    const apiPorts = Array.from({ length: options.nodes }, () => freeTcpPort());
    // Every node measures accuracy on the same shared test digits, so the numbers are comparable
    // and show what a node learned about the classes it never saw in its own shard.
    const prepared = await prepareSwarm({
      root,
      nodes: options.nodes,
      split: options.split,
      config: (i, paths) => ({
        ...loopbackConfig(`node-${i + 1}`, paths, { gossip: gossipPort, api: apiPorts[i] }),
        model: { id: options.model },
      }),
      ...(options.dataset === "mnist" ? {} : { data: await loadDataset(options.dataset) }),
    });
    log("Paired every agent with every other through its QR payload text (agent id → agent trust).", false);
    const names = prepared.map((p) => p.name);
    const states = prepared.map((p) => p.state);
    const apis = apiPorts.map((p) => `127.0.0.1:${p}`);
    for (let i = 0; i < options.nodes; i++) {
      agents.push(new AgentProcess({ name: names[i], state: states[i], api: apis[i] }));
    }
    log(`Started ${options.nodes} agents (gossip on UDP ${gossipPort}); waiting for them to learn …`, false);
    let stoppedBy: DemoSummary["stoppedBy"] = "timeout";
    let failure: string | undefined;
    while (true) {
      const elapsed = (Date.now() - started) / 1000;
      const reports = await Promise.all(agents.map((a) => a.status()));
      reports.forEach((r, i) => rows[i] = rowOf(names[i], r, rows[i]));
      log(renderTable(rows, options.target, elapsed, options.timeout), true);
      if (rows.every((r) => r.accuracy !== null && r.accuracy >= options.target)) {
        stoppedBy = "target";
        break;
      }
      if (interrupted) {
        stoppedBy = "interrupt";
        break;
      }
      const dead = await Promise.all(
        agents.map((a) => Promise.race([a.exited.then(() => true), Promise.resolve(false)])),
      );
      const deadIndex = dead.indexOf(true);
      if (deadIndex >= 0) {
        stoppedBy = "failure";
        const tail = (await agents[deadIndex].log()).trim().split("\n").slice(-5).join("\n");
        failure = `${names[deadIndex]} exited unexpectedly:\n${tail}`;
        break;
      }
      if (elapsed >= options.timeout) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    summary = {
      nodes: rows.map((r) => ({
        ...r,
        datagrams: r.datagramsIn + r.datagramsOut,
        bytes: r.bytesIn + r.bytesOut,
      })),
      target: options.target,
      reached: stoppedBy === "target",
      seconds: Math.round((Date.now() - started) / 100) / 10,
      stoppedBy,
      ...(failure ? { failure } : {}),
      ...(options.keep ? { stateDirs: states } : {}),
    };
  } finally {
    log("Stopping the agents …", false);
    await Promise.all(agents.map((a) => a.stop()));
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    if (!options.keep) await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  return summary;
}

function formatSummary(s: DemoSummary): string {
  const lines = [
    "",
    s.reached
      ? `Target reached: every node is at ≥ ${(s.target * 100).toFixed(1)}% after ${s.seconds} s.`
      : s.stoppedBy === "interrupt"
      ? `Interrupted after ${s.seconds} s.`
      : s.stoppedBy === "failure"
      ? `Stopped: ${s.failure}`
      : `Time limit reached after ${s.seconds} s without every node at ${(s.target * 100).toFixed(1)}%.`,
    ...s.nodes.map((n) =>
      `  ${n.name}: accuracy ${n.accuracy === null ? "-" : (n.accuracy * 100).toFixed(1) + "%"}, ` +
      `${n.rounds} rounds, ${n.datagrams} datagrams, ${kb(n.bytes)}, largest datagram ${n.largestDatagram} B`
    ),
    ...(s.stateDirs ? ["State kept in:", ...s.stateDirs.map((d) => `  ${d}`)] : []),
  ];
  return lines.join("\n");
}

if (import.meta.main) {
  let options: DemoOptions | undefined;
  try {
    options = parseOptions(Deno.args);
  } catch (e) {
    const hint = e instanceof UsageError ? e.hint : "Run 'deno task demo --help'";
    console.error(`demo: error: ${(e as Error).message}${hint ? `\n  hint: ${hint}` : ""}`);
    Deno.exit(2);
  }
  if (!options) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const tty = Deno.stdout.isTerminal();
  let drawn = 0;
  let lastPrint = 0;
  const log = (text: string, redraw: boolean) => {
    if (options.json) return;
    // Not a terminal (a log file, CI): a table every 10 s instead of redrawing every second.
    if (redraw && !tty && Date.now() - lastPrint < 10_000) return;
    lastPrint = Date.now();
    if (redraw && tty && drawn > 0) Deno.stdout.writeSync(new TextEncoder().encode(`\x1b[${drawn}F\x1b[J`));
    console.log(text);
    drawn = redraw ? text.split("\n").length : 0;
  };
  const summary = await runDemo(options, log);
  if (!summary) Deno.exit(1);
  if (options.json) console.log(JSON.stringify(summary));
  else console.log(formatSummary(summary));
  Deno.exit(summary.reached ? 0 : summary.stoppedBy === "interrupt" ? 130 : 1);
}

/** Raw rows of an example dataset (the agents check and normalise them with their spec). */
async function loadDataset(name: string) {
  const d = exampleDataset(name);
  return { ...await d.load(1), features: d.features };
}
