/**
 * The merge: the robust centre of our pseudo-model and the merged peers' copies (centered clipping by
 * default: start at the coordinate-wise median, move towards every copy by at most `clipFactor` × the
 * median distance, scaled per copy by the peer's pace), and the served moving average of it.
 *
 * @module
 */
import { aggregate, centeredClip } from "./robust.ts";
import { type PeerCopy, trusted } from "./_peers.ts";
import type { LearnerTuning } from "./_tuning.ts";

/** Robust centre of `copies` under `tuning.rule`; `scales` shrink each copy's clip radius. */
export function robustCentre(
  copies: Float32Array[],
  paramCount: number,
  tuning: LearnerTuning,
  scales?: number[],
): Float32Array {
  const out = new Float32Array(paramCount);
  if (tuning.rule !== "clip" || copies.length < 3) return aggregate(copies, tuning.rule, out);
  aggregate(copies, "median", out);
  centeredClip(copies, out, 0, tuning.clipFactor, scales);
  return out;
}

/**
 * Clip-radius scale of a merged copy: its pace to the power `pacePower` (an honest peer, slowed at most
 * now and then, keeps ≈ 1; one slowed by the change-size guard on most messages almost none) and,
 * for a suspect of the validation check, `suspectClip` / `clipFactor`.
 */
export function clipScale(p: PeerCopy, tuning: LearnerTuning): number {
  return Math.min(p.pace ** tuning.pacePower, p.suspect ? tuning.suspectClip / tuning.clipFactor : 1);
}

/** True while a copy chosen by the last mix may still be merged (same copy, trusted, in sync). */
export function stillMergeable(
  p: PeerCopy,
  current: PeerCopy | undefined,
  tuning: LearnerTuning,
  inSync: (p: PeerCopy, t: LearnerTuning) => boolean,
): boolean {
  return current === p && trusted(p, tuning) && inSync(p, tuning);
}

/**
 * The coordinates of an estimated copy (`_fan_in.ts`) its peer has not sent since it rotated in vote
 * for our working model `x`: "no change" from the swarm model we trained from.
 */
export function voteForUs(p: PeerCopy, x: Float32Array): void {
  if (p.known >= p.values.length) return;
  const { values, versions } = p;
  for (let c = 0; c < values.length; c++) if (versions[c] === 0) values[c] = x[c];
}

/**
 * Folds `centre` into the served moving average `avg` (decay `averaging` per round) from
 * `rateDecayRounds` on; undefined before (the swarm model itself is served).
 */
export function servedAverage(
  avg: Float32Array | undefined,
  centre: () => Float32Array,
  round: number,
  tuning: LearnerTuning,
): Float32Array | undefined {
  const { averaging: beta, rateDecayRounds: T } = tuning;
  if (!(beta > 0) || !(T > 0) || round < T) return undefined;
  const c = centre();
  if (!avg) return c.slice();
  for (let i = 0; i < avg.length; i++) avg[i] = beta * avg[i] + (1 - beta) * c[i];
  return avg;
}
