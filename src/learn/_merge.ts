/**
 * The merge: the robust centre of our pseudo-model and the merged peers' copies (centered clipping by
 * default: start at the coordinate-wise median, move towards every copy by at most `clipFactor` × the
 * median distance; a copy beyond that radius by at most the radius × its peer's pace¹⁶), and the served
 * moving average of it.
 *
 * @module
 */
import { aggregate, centeredClip, groupMean, nearestNeighbourMix, trimCount, twinGroups } from "./robust.ts";
import { PACE_MIN, type PeerCopy, trusted, untenured } from "./_peers.ts";
import type { LearnerTuning } from "./_tuning.ts";

/**
 * Robust centre of `copies` under `tuning.rule`; `scales` shrink each copy's clip radius, `paceScales`
 * only while the copy lies beyond the radius (see {@linkcode paceScale}); `beyond` receives which copies
 * lay beyond it (centered clipping only).
 */
export function robustCentre(
  copies: Float32Array[],
  paramCount: number,
  tuning: LearnerTuning,
  scales?: number[],
  paceScales?: number[],
  beyond?: boolean[],
): Float32Array {
  const out = new Float32Array(paramCount);
  if (tuning.rule !== "clip" || copies.length < 3) return aggregate(copies, tuning.rule, out);
  if (tuning.twinRadius > 0) {
    const groups = twinGroups(copies, tuning.twinRadius);
    if (groups.length < copies.length) {
      // Each group of twins as one copy: its mean, clipped as tightly as its most restricted member.
      const least = (v: number[] | undefined) => v && groups.map((g) => Math.min(...g.map((j) => v[j] ?? 1)));
      const groupBeyond = beyond && new Array<boolean>(groups.length).fill(false);
      const centre = robustCentre(
        groups.map((g) => groupMean(copies, g)),
        paramCount,
        { ...tuning, twinRadius: 0 },
        least(scales),
        least(paceScales),
        groupBeyond,
      );
      if (beyond && groupBeyond) groups.forEach((g, k) => g.forEach((j) => beyond[j] = groupBeyond[k]));
      return centre;
    }
  }
  if (tuning.mixNeighbours > 0) {
    copies = nearestNeighbourMix(copies, copies.length - trimCount(copies.length));
  }
  aggregate(copies, "median", out);
  centeredClip(copies, out, 0, tuning.clipFactor, scales, paceScales, tuning.farPower, beyond);
  return out;
}

/**
 * Clip-radius scale of a merged copy wherever it lies: `suspectClip` / `clipFactor` for a suspect (1 by
 * default: under label skew honest peers fail the check), times its pace¹⁶ while it is slowed below
 * `PACE_MIN`, new to us (fewer than `TENURE` messages accepted) and first heard at the swarm's start — a
 * boosted model-replacement attacker in its first rounds, when every copy still lies far from the others
 * and its copy can lie within the radius.
 */
export function clipScale(p: PeerCopy, tuning: LearnerTuning): number {
  const suspect = p.suspect ? Math.min(1, tuning.suspectClip / tuning.clipFactor) : 1;
  return p.pace < PACE_MIN && untenured(p) ? suspect * paceScale(p, tuning) : suspect;
}

/**
 * Clip-radius scale of a merged copy for its pace: the pace to the power `pacePower` (slowed by the
 * change-size guard on most messages: almost none), applied only while the copy lies beyond the clip
 * radius. A boosted model-replacement attacker's copy lies 10–16 × the median distance from the centre
 * (5 nodes, IID) and loses its pull; under one class per node every honest copy lies within 2.1 × the
 * median distance (the radius is 3 ×) even while the only holder of a digit is slowed on a third of its
 * messages for hundreds of rounds — cut by its pace there, it lost its pull, the centre lost its digit
 * and every node fell to 85% (docs/learning.md).
 */
export function paceScale(p: PeerCopy, tuning: LearnerTuning): number {
  return p.pace ** tuning.pacePower;
}

/**
 * The copy to merge now for a peer chosen by the last mix: the copy we hold of it (`current`) while it is
 * trusted and in sync — the same one, or the one that replaced it since under a new epoch (a seat taken
 * over, a board restarted), so a slot is not left out until the next mix. Leaving it out even for one
 * round moved the centre by 1/K of a copy's drift: with 100 boards, 2 classes each and K = 32, boards
 * served 53–69% for that round instead of 84–87% (seed 4, round 49), and seat holders trained from it.
 */
export function mergeableNow(
  current: PeerCopy | undefined,
  tuning: LearnerTuning,
  inSync: (p: PeerCopy, t: LearnerTuning) => boolean,
): PeerCopy | undefined {
  return current && trusted(current, tuning) && inSync(current, tuning) ? current : undefined;
}

/**
 * Folds `centre` into the served moving average `avg` from `rateDecayRounds` (T) on; undefined before (the
 * swarm model itself is served). The decay is `averaging` per round once the average spans 1 / (1 −
 * averaging) rounds, and (n − 1) / n at its n-th round before that: a plain mean of the centres since T, so
 * its first centre weighs 1 / n, not averaging^n. With the decay from the first round a board whose centre
 * dipped at round T (a seat's copy missing for that round: 100 boards, K = 32, seed 4) served that dip at
 * weight 0.99^45 = 64% for the rest of a 100-round run, at 67–68% while every other board was at 88%.
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
  const n = round - T + 1;
  const decay = Math.min(beta, (n - 1) / n);
  for (let i = 0; i < avg.length; i++) avg[i] = decay * avg[i] + (1 - decay) * c[i];
  return avg;
}
