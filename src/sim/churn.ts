/**
 * Churn: nodes that join late and nodes that leave and come back, drawn from the seed.
 *
 * - Late joiners: ⌈N/10⌉ nodes (the last ones) start fresh (joining: they catch up from snapshots) at a
 *   round drawn in [10%, 30%] of the run.
 * - Leavers: ⌈N/5⌉ of the other nodes (never an attacker) each go offline once, at a round drawn in
 *   [20%, 60%] of the run, for 5–10% of the run. Offline they neither train, send nor receive (a board switched off); they come back
 *   restarted from the checkpoint taken when they left, as a board does after a power cut.
 *
 * Every node is back by 70% of the run, so the final accuracy says whether the swarm healed.
 *
 * @module
 */
import { SeededRandom } from "../time.ts";

/** When each node is online. */
export interface ChurnPlan {
  /** Round at which a late joiner first appears (fresh, joining). */
  joinAt: Map<number, number>;
  /** Offline period [from, to) of a leaver: gone from `from`, restarted from its checkpoint at `to`. */
  away: Map<number, { from: number; to: number }>;
}

/** The churn plan for `nodes` nodes over `rounds` rounds; `protect` nodes (attackers) never churn. */
export function planChurn(
  nodes: number,
  rounds: number,
  seed: number,
  protect: ReadonlySet<number>,
): ChurnPlan {
  const rng = new SeededRandom(seed * 4099 + 17);
  const at = (lo: number, hi: number) => Math.max(2, Math.round(rounds * (lo + (hi - lo) * rng.next())));
  const joinAt = new Map<number, number>();
  const candidates = Array.from({ length: nodes }, (_, i) => i).filter((i) => !protect.has(i));
  const late = candidates.slice(-Math.ceil(nodes / 10));
  for (const i of late) joinAt.set(i, at(0.1, 0.3));
  const rest = candidates.filter((i) => !joinAt.has(i));
  for (let i = rest.length - 1; i > 0; i--) {
    const j = rng.nextU32() % (i + 1);
    [rest[i], rest[j]] = [rest[j], rest[i]];
  }
  const away = new Map<number, { from: number; to: number }>();
  for (const i of rest.slice(0, Math.ceil(nodes / 5))) {
    const from = at(0.2, 0.6);
    away.set(i, { from, to: Math.min(Math.round(rounds * 0.7), from + at(0.05, 0.1)) });
  }
  return { joinAt, away };
}

/** Whether node `i` is online at `round` under `plan`. */
export function online(plan: ChurnPlan | undefined, i: number, round: number): boolean {
  if (!plan) return true;
  const j = plan.joinAt.get(i);
  if (j !== undefined && round < j) return false;
  const a = plan.away.get(i);
  return !(a && round >= a.from && round < a.to);
}
