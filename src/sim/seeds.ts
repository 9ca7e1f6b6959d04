/**
 * No claim from one seed: a seed range on the command line, one summary per seed run, and the figures
 * a setting is judged by over all its seeds — the worst node, the median and spread of the per-seed
 * minima, the traffic, and how many honest peers were ever ignored (false positives).
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { SwarmSimResult } from "./swarm.ts";

/** Seeds from `A..B` (inclusive) or `N` (= 1..N). */
export function parseSeeds(text: string): number[] {
  const range = /^(\d+)\.\.(\d+)$/.exec(text);
  const [a, b] = range
    ? [Number(range[1]), Number(range[2])]
    : /^\d+$/.test(text)
    ? [1, Number(text)]
    : [1, 0];
  if (a > b || b - a >= 1000 || b > 2 ** 31) {
    throw new UsageError(
      `Invalid --seeds ${JSON.stringify(text)}`,
      "Use A..B with A ≤ B (e.g. 1..10, at most 1,000 seeds) or a count N ≥ 1 for 1..N",
    );
  }
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/** One seed's figures. */
export interface SeedSummary {
  seed: number;
  /** Lowest final accuracy among the honest nodes. */
  minHonest: number;
  meanHonest: number;
  /** Most bytes any node sent, MB (10⁶ B). */
  mbPerNode: number;
  /** Honest peers ignored by anyone at any time while online. */
  falsePositives: string[];
  /** Honest peers merged with almost no pull (damped for their pace) by anyone at any time while online. */
  damped?: string[];
  /** First evaluation from which every honest node stayed ≥ target to the end, with the MB sent by then. */
  reached: { round: number; mb: number } | null;
  /** Highest backdoor success rate on an honest node (when a backdoor attacker ran). */
  backdoor?: number;
  centralized?: number;
  /** Honest nodes still ignoring an attacker at the end, out of the honest nodes (when attackers ran). */
  attackerIgnoredBy?: number;
  /** Honest nodes merging an attacker with almost no pull at the end (when attackers ran). */
  attackerDampedBy?: number;
}

/** The figures of one run. */
export function summarizeRun(seed: number, r: SwarmSimResult, target: number): SeedSummary {
  const honest = r.nodes.filter((n) => !n.byzantine);
  const accs = honest.map((n) => n.accuracy);
  const ids = new Set(honest.map((n) => n.id));
  const byRound = new Map<number, { acc: number[]; bytes: number[] }>();
  for (const row of r.rows) {
    if (!ids.has(row.node)) continue;
    const e = byRound.get(row.round) ?? { acc: [], bytes: [] };
    e.acc.push(row.accuracy);
    e.bytes.push(row.bytesSent);
    byRound.set(row.round, e);
  }
  let reached: SeedSummary["reached"] = null;
  for (const [round, e] of [...byRound].sort((a, b) => b[0] - a[0])) {
    if (e.acc.length < honest.length || Math.min(...e.acc) < target) break;
    reached = { round, mb: Math.max(...e.bytes) / 1e6 };
  }
  const evil = r.nodes.filter((n) => n.byzantine);
  const backdoors = honest.map((n) => n.backdoor).filter((b): b is number => b !== undefined);
  return {
    seed,
    minHonest: Math.min(...accs),
    meanHonest: accs.reduce((a, b) => a + b, 0) / accs.length,
    mbPerNode: Math.max(...r.nodes.map((n) => n.bytesSent)) / 1e6,
    falsePositives: r.falsePositives.map((f) => f.peer),
    damped: (r.damped ?? []).map((f) => f.peer),
    reached,
    ...(backdoors.length ? { backdoor: Math.max(...backdoors) } : {}),
    ...(r.centralized !== undefined ? { centralized: r.centralized } : {}),
    ...(evil.length
      ? {
        attackerIgnoredBy: Math.min(...evil.map((n) => n.ignoredBy)),
        attackerDampedBy: Math.min(...evil.map((n) => n.dampedBy ?? 0)),
      }
      : {}),
  };
}

/** A setting's figures over its seeds. */
export interface SettingSummary {
  seeds: number[];
  /** Worst honest node over all seeds. */
  worst: number;
  /** Median over seeds of the per-seed minimum. */
  medianMin: number;
  /** Lowest and highest per-seed minimum. */
  spread: [number, number];
  /** Most MB any node sent in any seed. */
  mbPerNode: number;
  /** Honest peers ever ignored, summed over seeds, and how many seeds had any. */
  falsePositives: number;
  seedsWithFalsePositives: number;
  /** Honest peers ever damped, summed over seeds, and how many seeds had any. */
  damped: number;
  seedsWithDamped: number;
  /** Most MB by which every honest node was ≥ target for good, over the seeds (null if a seed never got there). */
  reachedMb: number | null;
  backdoor?: number;
  centralized?: [number, number];
}

/** Aggregates per-seed summaries. */
export function summarizeSeeds(runs: SeedSummary[]): SettingSummary {
  if (runs.length === 0) throw new Error("Bug: no runs to summarize");
  const mins = runs.map((r) => r.minHonest).sort((a, b) => a - b);
  const mid = mins.length >> 1;
  const cents = runs.map((r) => r.centralized).filter((c): c is number => c !== undefined);
  const backdoors = runs.map((r) => r.backdoor).filter((b): b is number => b !== undefined);
  return {
    seeds: runs.map((r) => r.seed),
    worst: mins[0],
    medianMin: mins.length % 2 ? mins[mid] : (mins[mid - 1] + mins[mid]) / 2,
    spread: [mins[0], mins[mins.length - 1]],
    mbPerNode: Math.max(...runs.map((r) => r.mbPerNode)),
    falsePositives: runs.reduce((s, r) => s + r.falsePositives.length, 0),
    seedsWithFalsePositives: runs.filter((r) => r.falsePositives.length > 0).length,
    damped: runs.reduce((s, r) => s + (r.damped?.length ?? 0), 0),
    seedsWithDamped: runs.filter((r) => (r.damped?.length ?? 0) > 0).length,
    reachedMb: runs.every((r) => r.reached) ? Math.max(...runs.map((r) => r.reached!.mb)) : null,
    ...(backdoors.length ? { backdoor: Math.max(...backdoors) } : {}),
    ...(cents.length ? { centralized: [Math.min(...cents), Math.max(...cents)] as [number, number] } : {}),
  };
}
