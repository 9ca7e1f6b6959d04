/**
 * The change-size guard: how fast a peer's copy may move. Every accepted message's change size (our
 * own publications included, so the reference exists even among few peers) goes into a short history;
 * a message that would move a copy faster than `normFactor` × the recent median is applied at that
 * bounded rate instead (its changes scaled down). It bounds influence, it excludes nobody: an honest
 * peer whose rate changed (another learning-rate phase, a burst after a pause, one bad local row)
 * still merges, while a peer that keeps pushing far is slowed to the swarm's pace and then held by the
 * centered clipping of the merge.
 *
 * @module
 */

const HISTORY = 64;
const WARMUP = 16;
/** The slow average takes each size up to this × the recent median. */
const SLOW_CAP = 2;

/**
 * Size of a message's changes: the 90th percentile over its coordinates of |change| divided by the
 * rounds (ours) since the coordinate was last set — a RATE, so a copy that went stale because messages
 * were lost does not make the sender's next honest message look large. Robust to the few coordinates an
 * honest error-feedback residual lets grow large (an RMS measure flagged honest messages), while a
 * message that moves most of its coordinates too far (sign flip × 10, noise) is still caught.
 * Sorts `changes[0..n)` in place.
 */
export function changeSize(changes: Float64Array, n: number): number {
  const a = changes.subarray(0, n).sort();
  return a[Math.min(n - 1, Math.floor(0.9 * n))];
}

/**
 * Most a message's grid step may add to the bound, in our own int8 steps: a sender can coarsen its grid
 * with one large value (up to the value bound, `valueFactor` × our scale), and the allowance must not
 * grow with it.
 */
export const STEP_CAP = 2;

/**
 * The grid step of a message's values: max |v| / 127 for int8 (its one scale; 0 for fp16 and f32,
 * whose rounding is negligible), at most {@linkcode STEP_CAP} × `ownStep`. A coordinate sent again on
 * another message's grid moves by up to one step with no progress at all (the new rounding plus the
 * old one, which error feedback carried in the residual). A snapshot chunk re-sends every coordinate
 * of a run on the grid of its largest value: under Dirichlet 0.1 skew the contributions grow to
 * |C| ≈ 3, that step (0.048) was 5 × the reference change per round (0.0095), and when a late joiner's request made
 * every board push its snapshot, every board's chunks looked like speeding: their pace fell, every board
 * was ignored by someone and the 20-board churn swarm collapsed (seeds 2 and 4 of dir01-20-churn:
 * 43.3% and 10.7%). So a chunk's bound allows one step more. A Delta's does not (`ownStep` 0): allowed
 * on Deltas too, the boosted model-replacement attacker stayed under the pace cut and was merged, and
 * the honest nodes fell from 74% to 63.5% (tests/sim/defences_test.ts, seed 5). (Subtracting the step
 * from each coordinate's change instead left most sizes near 0 and the median reference with them:
 * honest peers everywhere slowed by round 100.)
 */
export function quantizationStep(values: ArrayLike<number>, int8: boolean, ownStep: number): number {
  return cappedStep(gridStep(values, int8), ownStep);
}

/** One step of a message's int8 grid (max |value| / 127), uncapped; 0 for fp16 and f32. */
export function gridStep(values: ArrayLike<number>, int8: boolean): number {
  if (!int8) return 0;
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m / 127;
}

/** A grid step allowed at most `factor` × our own step (0 while we have none). */
export function cappedStep(grid: number, ownStep: number, factor = STEP_CAP): number {
  return ownStep > 0 ? Math.min(grid, factor * ownStep) : 0;
}

/** The recent change sizes and the bound they set. */
export class ChangeGuard {
  #sizes: number[] = [];
  #slow = 0;

  /** Records an accepted (or our own published) change size. */
  note(size: number): void {
    if (!(size > 0)) return;
    this.#sizes.push(size);
    if (this.#sizes.length > HISTORY) this.#sizes.shift();
    // Capped at SLOW_CAP × the median: uncapped, one sender in five noted at the bound (5 × the
    // reference) made the average, and with it the bound, grow without limit (measured: a backdoor
    // attacker slowed for 70 rounds, then let through at full speed).
    const median = this.#median();
    const s = Math.min(size, SLOW_CAP * median);
    this.#slow = this.#slow === 0 ? s : 0.99 * this.#slow + 0.01 * s;
  }

  #median(): number {
    const s = [...this.#sizes].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
  }

  /** The reference size (Infinity until a few sizes are known: the first ones are noisy). */
  reference(): number {
    if (this.#sizes.length < WARMUP) return Infinity;
    // A slow average keeps honest changes of a recent quieter phase (training paused, smaller
    // learning rate) from being slowed when the larger ones still in flight arrive.
    return Math.max(this.#median(), this.#slow);
  }

  /**
   * The share (0, 1] of a change of `size` to apply: 1 within `factor` × the reference + `slack` (the
   * message's grid step, see {@linkcode quantizationStep}), else the share that brings it down to that
   * bound.
   */
  share(size: number, factor: number, slack = 0): number {
    const bound = factor * this.reference() + slack;
    return size > bound ? bound / size : 1;
  }
}
