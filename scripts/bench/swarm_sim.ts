/**
 * `deno task bench:swarm-sim`: the swarm-learning targets (issue 12) in simulation, every setting over
 * several seeds. Each (setting, seed) is one `scripts/sim.ts` subprocess, `--parallel` at a time (one
 * per core). Per setting: the worst honest node over all seeds, the median and spread of the per-seed
 * minima, the change of the worst node against the matching clean setting (attack and poison rows),
 * MB sent per node, the MB from which every honest node stayed ≥ 93.5% (worst seed), the false
 * positives (honest peers ignored by anyone at any time), the backdoor success rate on honest nodes and
 * how many honest nodes ignore the attacker at the end. Writes a markdown table to
 * `.bench/swarm-sim.md` (and each setting's figures to `.bench/swarm-sim-NAME.json`, so rows not rerun
 * with `--only` come from the last run with the same rounds and model).
 *
 *   deno task bench:swarm-sim [--seeds 1..10] [--rounds 1600] [--model mlp] [--only NAME,NAME]
 *                             [--parallel 2] [--out .bench] [--list] [--tune NAME=V,NAME=V]
 *
 * `--tune` passes learner tunables to every run (`deno task sim --tune`), to judge a change on every
 * setting; rows saved with other tunables are not mixed into the table.
 *
 * @module
 */
import { type BenchCommand, benchUsage, parseBenchArgs, pickNamed } from "../lib/bench_args.ts";
import { ATTACKS, type SeedSummary, type SettingSummary, summarizeSeeds } from "../../src/sim/mod.ts";
import { pool, runSeed } from "../lib/seed_runs.ts";
import { tuneEntry } from "../lib/sim_args.ts";

const TARGET = 0.935;

/** One benchmark setting. */
export interface Setting {
  name: string;
  what: string;
  args: string[];
  /** The clean setting this one is compared with (attack and poison rows). */
  cleanOf?: string;
}

/** Every setting for `rounds` rounds. */
export function settings(rounds: number): Setting[] {
  const r = ["--rounds", String(rounds), "--max-datagram", "1232", "--loss", "10"];
  const c2 = ["--nodes", "5", "--split", "classes:2", ...r];
  // Attack rows use IID shards: with label skew, ignoring the attacker also removes the only holder of
  // its classes, so no defence could stay within 2 pp of a clean run that learned them.
  const iid5 = ["--nodes", "5", "--split", "iid", ...r];
  const iid10 = ["--nodes", "10", "--split", "iid", ...r];
  const wide = [
    "--nodes",
    "20",
    "--rounds",
    String(rounds),
    "--max-datagram",
    "1232",
    "--loss",
    "30",
    "--churn",
  ];
  return [
    { name: "c2-5", what: "5 nodes, 2 classes/node, 10% loss", args: c2 },
    {
      name: "c1-10",
      what: "10 nodes, 1 class/node, 10% loss",
      args: ["--nodes", "10", "--split", "classes:1", ...r, "--no-centralized"],
    },
    {
      name: "dir01-20-churn",
      what: "20 nodes, Dirichlet 0.1, 30% loss, churn",
      args: [...wide, "--split", "dirichlet:0.1", "--no-centralized"],
    },
    {
      name: "dir03-20-churn",
      what: "20 nodes, Dirichlet 0.3, 30% loss, churn",
      args: [...wide, "--split", "dirichlet:0.3", "--no-centralized"],
    },
    ...(["scale", "mislabel", "huge"] as const).map((p) => ({
      name: `c2-5-poison-${p}`,
      what: `as c2-5, node n4's own data has ${
        p === "scale" ? "one raw 0–255 row" : p === "mislabel" ? "1,000 mislabelled rows" : "a 1e30 row"
      }`,
      // The mislabelled rows are data the board believes: the centralized baseline learns from them
      // too and shows what that data allows.
      args: [...c2, "--poison", p, ...(p === "mislabel" ? [] : ["--no-centralized"])],
      cleanOf: "c2-5",
    })),
    {
      name: "iid-5",
      what: "5 nodes, IID, 10% loss (clean, for the attack rows)",
      args: [...iid5, "--no-centralized"],
    },
    {
      name: "iid-10",
      what: "10 nodes, IID, 10% loss (clean, for the attack rows)",
      args: [...iid10, "--no-centralized"],
    },
    ...ATTACKS.flatMap((a) => [
      {
        name: `iid-5-byz1-${a}`,
        what: `5 nodes, IID, 1 attacker: ${a}`,
        args: [...iid5, "--byzantine", `1:${a}`, "--no-centralized"],
        cleanOf: "iid-5",
      },
      {
        name: `iid-10-byz2-${a}`,
        what: `10 nodes, IID, 2 attackers: ${a}`,
        args: [...iid10, "--byzantine", `2:${a}`, "--no-centralized"],
        cleanOf: "iid-10",
      },
    ]),
    {
      name: "c2-5-late",
      what: "as c2-5, n4 joins at half the run",
      args: [...c2, "--late-join", "--no-centralized"],
    },
    {
      name: "c2-5-fresh-async",
      what: "as c2-5, started like real agents (all joining, 2 rounds apart), speeds 100–90%",
      args: [...c2, "--fresh-start", "2", "--async", "0.1", "--no-centralized"],
    },
  ];
}

interface Saved {
  rounds: number;
  model: string;
  /** `--tune` as given ("" = defaults). */
  tune?: string;
  setting: SettingSummary;
  runs: SeedSummary[];
  seconds: number;
}

const CMD: BenchCommand = {
  task: "bench:swarm-sim",
  hint:
    "run 'deno task bench:swarm-sim --list' for the settings; see the header of scripts/bench/swarm_sim.ts",
  defaults: { rounds: 1600, seeds: "1..10", parallel: 2 },
  minRounds: 10,
  extra: ["model", "tune"],
};

async function main(): Promise<void> {
  const a = parseBenchArgs(CMD, Deno.args);
  const { rounds, parallel, out, seeds, command } = a;
  const model = a.extra.model ?? "mlp";
  const tune = a.extra.tune ?? "";
  const tunes = tune === "" ? [] : tune.split(",").map((t) => t.trim());
  const badTune = tunes.find((t) => !tuneEntry(t));
  if (badTune !== undefined) {
    benchUsage(
      CMD,
      `Invalid --tune ${JSON.stringify(badTune)}: use NAME=NUMBER[,NAME=NUMBER…], e.g. farPower=2`,
    );
  }
  const tuneArgs = tunes.flatMap((t) => ["--tune", t]);
  if (!["mlp", "mnist-mlp", "mnist-vit"].includes(model)) {
    benchUsage(CMD, `Unknown --model ${JSON.stringify(model)}: use mlp, mnist-mlp or mnist-vit`);
  }
  const all = settings(rounds);
  if (a.list) {
    for (const s of all) console.log(`${s.name.padEnd(24)} ${s.what}`);
    return;
  }
  const todo = pickNamed(CMD, all, a.only, "setting");
  console.error(`${command}: ${todo.length} settings × ${seeds.length} seeds, ${parallel} at a time`);
  await Deno.mkdir(out, { recursive: true });
  const results = new Map<string, Saved>();
  for (const s of all) {
    if (todo.includes(s)) continue;
    try {
      const saved = JSON.parse(await Deno.readTextFile(`${out}/swarm-sim-${s.name}.json`)) as Saved;
      if (saved.rounds === rounds && saved.model === model && (saved.tune ?? "") === tune) {
        results.set(s.name, saved);
      }
    } catch {
      // not run yet
    }
  }
  const tasks = todo.flatMap((s) => seeds.map((seed) => ({ s, seed })));
  const started = new Map<string, number>();
  const perSetting = new Map<string, SeedSummary[]>();
  await pool(tasks, parallel, async ({ s, seed }) => {
    if (!started.has(s.name)) started.set(s.name, performance.now());
    const run = await runSeed(
      ["--model", model, ...s.args, ...tuneArgs, "--eval-every", "10", "--out", out],
      seed,
      `${s.name}-s${seed}`,
    );
    const list = perSetting.get(s.name) ?? [];
    list.push(run.summary);
    perSetting.set(s.name, list);
    console.error(
      `${s.name} seed ${seed}: min ${
        pct(run.summary.minHonest)
      }, false positives ${run.summary.falsePositives.length}, damped ${run.summary.damped?.length ?? 0}` +
        `${run.summary.backdoor !== undefined ? `, backdoor ${pct(run.summary.backdoor)}` : ""} (${
          run.seconds.toFixed(0)
        } s)`,
    );
    if (list.length === seeds.length) {
      const saved: Saved = {
        rounds,
        model,
        tune,
        setting: summarizeSeeds(list.sort((a, b) => a.seed - b.seed)),
        runs: list,
        seconds: (performance.now() - started.get(s.name)!) / 1000,
      };
      results.set(s.name, saved);
      await Deno.writeTextFile(`${out}/swarm-sim-${s.name}.json`, JSON.stringify(saved));
    }
  });
  const md = table(all, results, rounds, command);
  await Deno.writeTextFile(`${out}/swarm-sim.md`, md);
  console.log(md);
  console.log(`wrote ${out}/swarm-sim.md`);
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/**
 * The largest drop of a seed's worst honest node against the clean setting's same seed (seeds without a
 * clean run are compared with the clean setting's worst seed).
 */
export function pairedDrop(runs: SeedSummary[], clean: SeedSummary[]): number {
  const worstClean = Math.min(...clean.map((c) => c.minHonest));
  return Math.min(
    ...runs.map((r) => r.minHonest - (clean.find((c) => c.seed === r.seed)?.minHonest ?? worstClean)),
  );
}

/** The markdown report. */
export function table(all: Setting[], results: Map<string, Saved>, rounds: number, command: string): string {
  const lines = [
    `\`${command}\` — ${rounds} rounds, 1,232-byte datagrams, MLP 784-32-10; per setting over its seeds:`,
    "worst honest node, median of the per-seed minima (spread), the largest drop of a seed's worst node against",
    `the clean setting's same seed, MB sent per node, MB from which every honest node stayed ≥ ${
      TARGET * 100
    }% (worst seed),`,
    "honest peers ignored by anyone at any time (false positives, total and seeds with any), honest peers damped",
    "(merged with almost no pull for their pace) by anyone at any time, backdoor success on honest nodes (worst),",
    "honest nodes still ignoring / damping an attacker at the end (fewest over seeds and attackers).",
    "",
    "| setting | what | model | seeds | worst node | median of minima (spread) | drop vs clean (same seed) | MB/node | all ≥ 93.5% from | false positives | damped | backdoor | attacker ignored / damped by |",
    "|---|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const s of all) {
    const r = results.get(s.name);
    if (!r) {
      lines.push(`| ${s.name} | ${s.what} | | not run | | | | | | | | | |`);
      continue;
    }
    const g = r.setting;
    const clean = s.cleanOf ? results.get(s.cleanOf) : undefined;
    const delta = clean ? `${(pairedDrop(r.runs, clean.runs) * 100).toFixed(2)} pp` : "";
    const ignored = r.runs.map((x) => x.attackerIgnoredBy).filter((x): x is number => x !== undefined);
    const dampedBy = r.runs.map((x) => x.attackerDampedBy ?? 0);
    const seedText = g.seeds.length > 1
      ? `${g.seeds[0]}..${g.seeds[g.seeds.length - 1]}`
      : String(g.seeds[0]);
    lines.push(
      `| ${s.name} | ${s.what} | ${r.model} | ${seedText} | ${pct(g.worst)} | ${pct(g.medianMin)} (${
        pct(g.spread[0])
      }..${pct(g.spread[1])}) | ${delta} | ${g.mbPerNode.toFixed(2)} | ${
        g.reachedMb === null ? "not in every seed" : `${g.reachedMb.toFixed(2)} MB`
      } | ${g.falsePositives} (${g.seedsWithFalsePositives}) | ${g.damped} (${g.seedsWithDamped}) | ${
        g.backdoor === undefined ? "" : pct(g.backdoor)
      } | ${ignored.length ? `${Math.min(...ignored)} / ${Math.min(...dampedBy)}` : ""} |`,
    );
  }
  return lines.join("\n") + "\n";
}

if (import.meta.main) await main();
