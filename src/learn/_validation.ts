/**
 * The validation check: what each peer's model does to our local held-out rows. The harm of peer j is
 * loss(P̂_j) − loss(m), our validation loss with its copy instead of the swarm model. Under label skew
 * every honest peer "hurts" (its classes are not ours), so a peer is suspect only when its harm exceeds
 * both `harmMin` and `harmFactor` × the lower median harm of all peers. Suspicion cannot tell "different
 * data" from "malicious" (measured: honest peers flagged under 2 classes per node), so it never excludes a
 * peer: a suspect is reported and merged with the `suspectClip` radius (by default everyone's).
 *
 * @module
 */
import type { LearnerModel, Samples } from "./_types.ts";

/** Per-peer harm and suspicion. */
export interface Verdict {
  harm: number;
  suspect: boolean;
  /** Median harm over the peers checked. */
  median: number;
}

/**
 * Measures each copy's harm on `rows` (at most `maxRows`) against `centre`; `undefined` when there is
 * nothing to compare (no rows, fewer than 2 copies).
 */
export async function validateCopies(
  model: LearnerModel,
  rows: Samples | undefined,
  features: number,
  maxRows: number,
  centre: Float32Array,
  copies: Float32Array[],
  harmMin: number,
  harmFactor: number,
): Promise<Verdict[] | undefined> {
  if (!rows || rows.count === 0 || copies.length < 2) return undefined;
  const n = Math.min(rows.count, maxRows);
  const lossOf = async (w: Float32Array) => {
    model.setWeights(w);
    return (await model.evaluate(rows.x.subarray(0, n * features), rows.y.subarray(0, n), n)).loss;
  };
  const all = await lossOf(centre);
  const harms: number[] = [];
  for (const c of copies) harms.push(await lossOf(c) - all);
  const sorted = [...harms].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  return harms.map((harm) => ({
    harm,
    median,
    suspect: harm > harmMin && harm > harmFactor * Math.max(0, median),
  }));
}
