/**
 * Runs `scripts/sim.ts` once per seed in subprocesses, `parallel` at a time (one per core), and collects
 * each run's per-seed summary (its `--json` result). Used by `deno task sim --seeds` and
 * `deno task bench:swarm-sim`.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import type { SeedSummary } from "../../src/sim/mod.ts";

/** Path of `scripts/sim.ts`. */
export const SIM = fileURLToPath(new URL("../sim.ts", import.meta.url));

/** One seed's run as `scripts/sim.ts --json` prints it (the fields the reports use). */
export interface SeedRun {
  summary: SeedSummary;
  seconds: number;
  csv: string;
}

/** Runs `task(item)` for every item, at most `parallel` at once; results in input order. */
export async function pool<T, R>(items: T[], parallel: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await task(items[k]);
    }
  }));
  return out;
}

/** `argv` without the options that choose seeds, naming and output format (set per run instead). */
export function perSeedArgs(argv: string[]): string[] {
  const drop = new Set(["--seeds", "--parallel", "--seed", "--name"]);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag] = argv[i].split("=", 1);
    if (argv[i] === "--json") continue;
    if (drop.has(flag)) {
      if (!argv[i].includes("=")) i++;
      continue;
    }
    out.push(argv[i]);
  }
  return out;
}

/** Runs `sim.ts args --seed S --json`; throws with the child's last lines when it fails. */
export async function runSeed(args: string[], seed: number, name: string): Promise<SeedRun> {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", SIM, ...args, "--seed", String(seed), "--name", name, "--json"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(`sim seed ${seed} exited with ${out.code}:\n${err}`);
  }
  const json = JSON.parse(text) as { summary: SeedSummary; csv: string };
  return { summary: json.summary, csv: json.csv, seconds: (performance.now() - started) / 1000 };
}

/** Runs `sim.ts args --seed S` for every seed, `parallel` at a time. */
export async function runSeeds(o: {
  args: string[];
  seeds: number[];
  parallel: number;
  /** File name stem; each run writes `${name}-s${seed}.{csv,svg}`. */
  name: string;
  onDone?: (seed: number, run: SeedRun) => void;
}): Promise<SeedRun[]> {
  return await pool(o.seeds, o.parallel, async (seed) => {
    const run = await runSeed(o.args, seed, `${o.name}-s${seed}`);
    o.onDone?.(seed, run);
    return run;
  });
}
