/**
 * The command line the simulation benchmarks share (`bench:swarm-sim`, `bench:scale`): `--rounds`,
 * `--seeds`, `--only`, `--out`, `--parallel`, `--list`, plus each benchmark's own options; a usage error
 * is one line with a hint and exit 2.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { UsageError } from "../../src/errors.ts";
import { parseSeeds } from "../../src/sim/seeds.ts";

/** What a benchmark names and how it defaults. */
export interface BenchCommand {
  /** `bench:scale`, … (the deno task). */
  task: string;
  /** Hint shown with every usage error. */
  hint: string;
  defaults: { rounds: number; seeds: string; parallel: number };
  /** Fewest rounds accepted. */
  minRounds: number;
  /** The benchmark's own string options (e.g. `model`, `target`). */
  extra?: string[];
}

/** The parsed common options; `extra` holds the benchmark's own, unchecked. */
export interface BenchArgs {
  rounds: number;
  seeds: number[];
  only: string[] | undefined;
  out: string;
  parallel: number;
  list: boolean;
  extra: Record<string, string | undefined>;
  /** `deno task <task> <args>`, for the report's header. */
  command: string;
}

/** Prints `error` with the command's hint and exits 2. */
export function benchUsage(cmd: BenchCommand, message: string, hint?: string): never {
  console.error(`${cmd.task}: error: ${message}`);
  console.error(`  hint: ${hint ?? cmd.hint}`);
  Deno.exit(2);
}

/** Parses and checks `args` (exits 2 with one line on a usage error). */
export function parseBenchArgs(cmd: BenchCommand, args: string[]): BenchArgs {
  const options: Record<string, { type: "string" | "boolean" }> = {
    rounds: { type: "string" },
    seeds: { type: "string" },
    only: { type: "string" },
    out: { type: "string" },
    parallel: { type: "string" },
    list: { type: "boolean" },
  };
  for (const name of cmd.extra ?? []) options[name] = { type: "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, strict: true, options }));
  } catch (e) {
    benchUsage(cmd, (e as Error).message);
  }
  const str = (k: string) => values[k] as string | undefined;
  const rounds = Number(str("rounds") ?? cmd.defaults.rounds);
  if (!Number.isInteger(rounds) || rounds < cmd.minRounds) {
    benchUsage(
      cmd,
      `Invalid --rounds ${JSON.stringify(str("rounds"))}: use a whole number ≥ ${cmd.minRounds}`,
    );
  }
  const parallel = Number(str("parallel") ?? cmd.defaults.parallel);
  if (!Number.isInteger(parallel) || parallel < 1) {
    benchUsage(cmd, `Invalid --parallel ${JSON.stringify(str("parallel"))}: use a whole number ≥ 1`);
  }
  let seeds: number[];
  try {
    seeds = parseSeeds(str("seeds") ?? cmd.defaults.seeds);
  } catch (e) {
    benchUsage(cmd, (e as Error).message, (e as UsageError).hint);
  }
  const extra: Record<string, string | undefined> = {};
  for (const name of cmd.extra ?? []) extra[name] = str(name);
  return {
    rounds,
    seeds,
    only: str("only")?.split(","),
    out: str("out") ?? ".bench",
    parallel,
    list: values.list === true,
    extra,
    command: `deno task ${cmd.task} ${args.join(" ")}`.trim(),
  };
}

/** The named entries `only` picks from `all` (all of them without `only`); an unknown name is a usage error. */
export function pickNamed<T extends { name: string }>(
  cmd: BenchCommand,
  all: T[],
  only: string[] | undefined,
  what: string,
): T[] {
  const unknown = only?.filter((n) => !all.some((s) => s.name === n));
  if (unknown?.length) benchUsage(cmd, `Unknown ${what} ${JSON.stringify(unknown[0])} in --only`);
  return all.filter((s) => !only || only.includes(s.name));
}
