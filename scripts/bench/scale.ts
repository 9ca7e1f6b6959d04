/**
 * `deno task bench:scale`: the swarm at scale in simulation (issue 15): 100 and 1,000 nodes against the
 * 5-node swarm of the same split and rounds, over a shared broadcast medium of `--capacity` bytes per simulated
 * second (loss grows with the offered load above it, src/sim/network.ts) with the round interval the
 * agent's airtime plan gives under its default budget (`--round-ms auto`: the learners' clocks, committee
 * seats included, run on it), 10% base loss, MLP 784-32-10
 * on the dependency-free path (one shared model instance, shards of one MNIST copy; the `-rep` rows deal
 * every digit to several nodes, since 8,000 training digits leave 8 per node at 1,000). One command per
 * row (`--only NAME`); per row over its seeds: worst honest node, its gap to the 5-node row's worst,
 * MB and bytes per second per node, the round and simulated time from which every node stayed ≥
 * `--target`, wall-clock seconds per round and the process RSS. Writes `.bench/scale.md`.
 *
 *   deno task bench:scale --list
 *   deno task bench:scale --only n100-c2 [--seeds 1..2] [--rounds 100] [--target 80]
 *
 * @module
 */
import { type BenchCommand, benchUsage, parseBenchArgs, pickNamed } from "../lib/bench_args.ts";
import type { SeedSummary } from "../../src/sim/mod.ts";
import { pool, SIM } from "../lib/seed_runs.ts";

/** Shared-medium capacity: 2.4 GHz Wi-Fi broadcast at its 1 Mb/s basic rate. */
const CAPACITY = 125_000;

/** The 5-node row each split's large rows are compared with. */
const REFERENCE: Record<string, string> = { "classes:2": "n5-c2", "dirichlet:0.3": "n5-dir03" };

/** One row. */
export interface ScaleSetting {
  name: string;
  what: string;
  nodes: number;
  args: string[];
  /** The 5-node row of the same split that this row's worst node is compared with (none for those). */
  reference?: string;
}

/** Every row. */
export function scaleSettings(): ScaleSetting[] {
  const net = [
    "--loss",
    "10",
    "--max-datagram",
    "1232",
    "--capacity",
    String(CAPACITY),
    "--round-ms",
    "auto",
  ];
  const row = (
    name: string,
    nodes: number,
    split: string,
    fanIn: number,
    what: string,
    repeat = 1,
    extra: string[] = [],
  ): ScaleSetting => ({
    name,
    what,
    nodes,
    args: [
      "--nodes",
      String(nodes),
      "--split",
      split,
      "--fan-in",
      String(fanIn),
      ...(repeat > 1 ? ["--data-repeat", String(repeat)] : []),
      ...extra,
      ...net,
    ],
    reference: nodes === 5 ? undefined : REFERENCE[split],
  });
  // A committee twice as large holds the kinds of board more evenly (docs/learning.md); each seat is held
  // twice as long, so seats change hands as often as with 32 (the handovers' airtime).
  const seats240 = ["--tune", "fanInPeriodMs=240000"];
  return [
    row("n5-c2", 5, "classes:2", 0, "5 nodes, 2 classes/node (the reference)"),
    row("n5-dir03", 5, "dirichlet:0.3", 0, "5 nodes, Dirichlet 0.3 (the reference)"),
    row("n100-c2", 100, "classes:2", 32, "100 nodes, 2 classes/node, fan-in 32"),
    row("n100-dir03", 100, "dirichlet:0.3", 32, "100 nodes, Dirichlet 0.3, fan-in 32"),
    row("n100-c2-full", 100, "classes:2", 0, "100 nodes, 2 classes/node, every peer merged"),
    row(
      "n100-c2-k64",
      100,
      "classes:2",
      64,
      "100 nodes, 2 classes/node, fan-in 64, seats held 240 s",
      1,
      seats240,
    ),
    row(
      "n100-dir03-k64",
      100,
      "dirichlet:0.3",
      64,
      "100 nodes, Dirichlet 0.3, fan-in 64, seats held 240 s",
      1,
      seats240,
    ),
    row("n300-c2", 300, "classes:2", 32, "300 nodes, 2 classes/node, fan-in 32"),
    row("n1000-c2", 1000, "classes:2", 32, "1,000 nodes, 2 classes/node, fan-in 32"),
    row("n1000-dir03", 1000, "dirichlet:0.3", 32, "1,000 nodes, Dirichlet 0.3, fan-in 32"),
    // The 8,000 training digits leave 8 per node at 1,000 nodes and 27 at 300 (80 at 100): with every digit
    // dealt to 10 (3) of them they hold about 80 each, so N is compared at the 100-node rows' data per node.
    row("n300-c2-rep3", 300, "classes:2", 32, "300 nodes, 2 classes/node, each digit on 3 nodes", 3),
    row(
      "n300-c2-rep3-k64",
      300,
      "classes:2",
      64,
      "300 nodes, 2 classes/node, each digit on 3 nodes, fan-in 64, seats held 240 s",
      3,
      seats240,
    ),
    row("n1000-c2-rep10", 1000, "classes:2", 32, "1,000 nodes, 2 classes/node, each digit on 10 nodes", 10),
    row(
      "n1000-dir03-rep10",
      1000,
      "dirichlet:0.3",
      32,
      "1,000 nodes, Dirichlet 0.3, each digit on 10 nodes",
      10,
    ),
  ];
}

/** What one seed run reports (scripts/sim.ts --json). */
export interface ScaleRun {
  seed: number;
  summary: SeedSummary;
  roundMs: number;
  wallMsPerRound: number;
  channel: { capacity: number; offered: number; meanLoss: number; maxLoss: number };
  rssBytes: number;
  rounds: number;
}

const CMD: BenchCommand = {
  task: "bench:scale",
  hint: "run 'deno task bench:scale --list' for the rows",
  defaults: { rounds: 100, seeds: "1..2", parallel: 1 },
  minRounds: 2,
  extra: ["target"],
};

async function runOne(args: string[], seed: number, name: string): Promise<ScaleRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "-A",
      "--v8-flags=--max-old-space-size=8192",
      SIM,
      ...args,
      "--seed",
      String(seed),
      "--name",
      name,
      "--json",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(`sim seed ${seed} exited with ${out.code}:\n${err}`);
  }
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
  return { seed, ...JSON.parse(text) } as ScaleRun;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** The markdown row of a setting over its runs (`reference`: the 5-node row's worst node). */
export function scaleRow(s: ScaleSetting, runs: ScaleRun[], reference: number | undefined): string {
  const worst = Math.min(...runs.map((r) => r.summary.minHonest));
  const rounds = runs[0].rounds;
  const roundS = runs[0].roundMs / 1000;
  const mb = Math.max(...runs.map((r) => r.summary.mbPerNode));
  const reached = runs.every((r) => r.summary.reached)
    ? Math.max(...runs.map((r) => r.summary.reached!.round))
    : undefined;
  const wall = runs.reduce((a, r) => a + r.wallMsPerRound, 0) / runs.length / 1000;
  const rss = Math.max(...runs.map((r) => r.rssBytes)) / 2 ** 20;
  const loss = runs.reduce((a, r) => a + r.channel.meanLoss, 0) / runs.length;
  return `| ${s.name} | ${s.what} | ${runs.map((r) => r.seed).join(", ")} | ${rounds} | ${pct(worst)} | ${
    reference === undefined ? "" : `${((worst - reference) * 100).toFixed(1)} pp`
  } | ${mb.toFixed(2)} | ${(mb * 1e6 / (rounds * roundS)).toFixed(0)} | ${roundS.toFixed(1)} s | ${
    pct(loss)
  } | ${reached === undefined ? "not reached" : `${reached} (${(reached * roundS / 60).toFixed(0)} min)`} | ${
    wall.toFixed(2)
  } | ${rss.toFixed(0)} |`;
}

async function main(): Promise<void> {
  const a = parseBenchArgs(CMD, Deno.args);
  const all = scaleSettings();
  if (a.list) {
    const width = Math.max(...all.map((s) => s.name.length)) + 1;
    for (const s of all) console.log(`${s.name.padEnd(width)} ${s.what}`);
    return;
  }
  const { rounds, parallel, out, seeds, command } = a;
  const target = Number(a.extra.target ?? 80);
  if (!(target > 0 && target <= 100)) {
    benchUsage(CMD, `Invalid --target ${JSON.stringify(a.extra.target)}: use a percentage`);
  }
  const todo = pickNamed(CMD, all, a.only, "row");
  await Deno.mkdir(out, { recursive: true });
  const lines = [
    `\`${command}\` — ${rounds} rounds, target ${target}%, capacity ${CAPACITY / 1000} kB/s, ${
      new Date().toISOString().slice(0, 10)
    }`,
    "",
    "| row | what | seeds | rounds | worst node | vs 5 nodes | MB/node | B/s/node | round | loss | all ≥ target from round | wall s/round | RSS MiB |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  // The worst node of each 5-node row run here, or saved by an earlier run with the same rounds.
  const worstOf = new Map<string, number>();
  const reference = async (name: string): Promise<number | undefined> => {
    if (worstOf.has(name)) return worstOf.get(name);
    try {
      const saved = JSON.parse(await Deno.readTextFile(`${out}/scale-${name}.json`)) as ScaleRun[];
      if (saved[0]?.rounds === rounds) return Math.min(...saved.map((r) => r.summary.minHonest));
    } catch {
      // that 5-node row has not run with these rounds
    }
    return undefined;
  };
  for (const s of todo) {
    // Evaluating 1,000 nodes on the 2,000 test digits costs more than a round: twice per run there.
    const evalEvery = String(Math.max(1, Math.floor(rounds / (s.nodes >= 1000 ? 2 : 10))));
    const args = [
      "--model",
      "mlp",
      ...s.args,
      "--rounds",
      String(rounds),
      "--eval-every",
      evalEvery,
      "--target",
      String(target),
      "--no-centralized",
      "--out",
      out,
    ];
    const runs = await pool(seeds, parallel, async (seed) => {
      const r = await runOne(args, seed, `scale-${s.name}-s${seed}`);
      console.error(
        `${s.name} seed ${seed}: worst ${pct(r.summary.minHonest)}, ${
          (r.wallMsPerRound / 1000).toFixed(2)
        } s/round, RSS ${(r.rssBytes / 2 ** 20).toFixed(0)} MiB`,
      );
      return r;
    });
    await Deno.writeTextFile(`${out}/scale-${s.name}.json`, JSON.stringify(runs));
    worstOf.set(s.name, Math.min(...runs.map((r) => r.summary.minHonest)));
    lines.push(scaleRow(s, runs, s.reference ? await reference(s.reference) : undefined));
  }
  const md = lines.join("\n") + "\n";
  await Deno.writeTextFile(`${out}/scale.md`, md);
  console.log(md);
}

if (import.meta.main) await main();
