/**
 * Local training on private data: batches drawn from a reshuffled order of the rows, `steps` optimizer
 * steps from the swarm model, and the guard on what a node's own bad rows can do to its contribution. Rows with a
 * non-finite value, or whose L2 norm is more than `rowOutlier` × the median of the recent rows' (raw
 * 0–255 pixels among 0–1 ones, a row of 1e30), are skipped when batches are drawn; a round whose update Δ = w' − m is non-finite
 * is dropped; a round whose update is larger (L2) than `updateClip` × the median of the recent rounds'
 * updates is scaled down to that bound (update clipping, as in DP-SGD and robust local training). So a
 * row of raw 0–255 pixels, a row of 1e30 or a burst of mislabelled rows moves this node's published
 * contribution no faster than its usual pace, and its peers' change-size guard never sees a jump.
 * With `lossTrim` on and a model that reports class probabilities (`predict`), rows the model confidently assigns to one
 * of our own classes other than their label are left out of the step (`lossTrim`, a trimmed loss
 * restricted to "my own digit, labelled as another"): a burst of mislabelled rows is not trained on.
 * The input range of a model's rows is checked where data enters (model specs); this catches what
 * slips through.
 *
 * @module
 */

import type { Random } from "../time.ts";
import type { LearnerModel, Samples } from "./_types.ts";

const HISTORY = 32;
const WARMUP = 8;
const ROW_HISTORY = 256;
const ROW_WARMUP = 32;

/** What the guard did to one round's update. */
export type GuardOutcome = "kept" | "clipped" | "dropped";

/** Counters and the recent update sizes. */
export class LocalGuard {
  skippedRows = 0;
  /** Rows left out of a step because the model confidently contradicted their label (`lossTrim`). */
  trimmedRows = 0;
  clippedRounds = 0;
  droppedRounds = 0;
  #norms: number[] = [];
  #rowNorms = new Float64Array(ROW_HISTORY);
  #rowsSeen = 0;
  #rowMedian = Infinity;

  /** Learns the typical row norm from up to 256 evenly spaced rows (before the first batch). */
  prime(x: Float32Array, count: number, features: number): void {
    if (this.#rowsSeen >= ROW_WARMUP || count === 0) return;
    const n = Math.min(ROW_HISTORY, count);
    const norms: number[] = [];
    for (let k = 0; k < n; k++) {
      const r = Math.floor((k * count) / n);
      let sq = 0;
      for (let i = r * features; i < (r + 1) * features; i++) sq += x[i] * x[i];
      if (Number.isFinite(sq)) norms.push(Math.sqrt(sq));
    }
    if (norms.length === 0) return;
    norms.sort((a, b) => a - b);
    this.#rowMedian = norms[Math.floor(norms.length / 2)];
  }

  /**
   * True when row `r` of `x` (rows of `features` values) is finite and its L2 norm at most `factor` ×
   * the median of the recent usable rows' (`factor` 0 = no norm check; none until 32 rows were seen).
   */
  rowUsable(x: Float32Array, r: number, features: number, factor: number): boolean {
    let sq = 0;
    const end = (r + 1) * features;
    for (let i = r * features; i < end; i++) sq += x[i] * x[i];
    const norm = Math.sqrt(sq);
    if (!Number.isFinite(norm) || (factor > 0 && this.#rowMedian > 0 && norm > factor * this.#rowMedian)) {
      this.skippedRows++;
      return false;
    }
    this.#rowNorms[this.#rowsSeen++ % ROW_HISTORY] = norm;
    if (this.#rowsSeen >= ROW_WARMUP && this.#rowsSeen % ROW_WARMUP === 0) {
      const s = this.#rowNorms.slice(0, Math.min(this.#rowsSeen, ROW_HISTORY)).sort();
      this.#rowMedian = s[Math.floor(s.length / 2)];
    }
    return true;
  }

  /**
   * Checks the update `delta` (in place): dropped when non-finite (zeroed), scaled down when larger than
   * `factor` × the recent median (`factor` 0 = never scaled).
   */
  guard(delta: Float32Array, factor: number): GuardOutcome {
    let sq = 0;
    for (let i = 0; i < delta.length; i++) sq += delta[i] * delta[i];
    const norm = Math.sqrt(sq);
    if (!Number.isFinite(norm)) {
      delta.fill(0);
      this.droppedRounds++;
      return "dropped";
    }
    if (norm === 0) return "kept";
    let bound = Infinity;
    if (factor > 0 && this.#norms.length >= WARMUP) {
      const s = [...this.#norms].sort((a, b) => a - b);
      bound = factor * s[Math.floor(s.length / 2)];
    }
    // Remember the size as sent: a bad round cannot inflate the reference.
    this.#norms.push(Math.min(norm, bound));
    if (this.#norms.length > HISTORY) this.#norms.shift();
    if (norm <= bound) return "kept";
    const k = bound / norm;
    for (let i = 0; i < delta.length; i++) delta[i] *= k;
    this.clippedRounds++;
    return "clipped";
  }
}

/** One round of local training: the guarded update Δ = w' − start and the mean loss. */
export interface LocalRound {
  delta: Float32Array;
  loss: number;
  steps: number;
}

/** Draws batches in a reshuffled order of the rows and runs the optimizer steps of one round. */
export class LocalTrainer {
  readonly guard = new LocalGuard();
  #order: Uint32Array = new Uint32Array(0);
  #pos = 0;
  #rng: Random;
  #shares?: Float64Array;
  #sharesOf = -1;

  constructor(rng: Random) {
    this.#rng = rng;
  }

  /** Starts a new pass over the rows (e.g. after rows were appended). */
  reshuffle(): void {
    this.#pos = this.#order.length;
  }

  /**
   * Runs `steps` optimizer steps of `batchSize` usable rows from `start` and returns the guarded update
   * (undefined without rows).
   */
  async run(
    model: LearnerModel,
    data: Samples,
    features: number,
    start: Float32Array,
    steps: number,
    opts: {
      batchSize: number;
      rowOutlier: number;
      updateClip: number;
      lossTrim: number;
      trimConfidence: number;
      trimOwnClass: number;
    },
  ): Promise<LocalRound | undefined> {
    const n = data.count;
    if (n === 0 || steps <= 0) return undefined;
    const b = Math.min(opts.batchSize, n);
    const f = features;
    const bx = new Float32Array(b * f);
    const by = new Uint8Array(b);
    let sum = 0;
    let done = 0;
    model.setWeights(start);
    this.guard.prime(data.x, n, f);
    for (let s = 0; s < steps; s++) {
      let rows = 0;
      for (let tries = 0; rows < b && tries < 4 * n; tries++) {
        const r = this.#nextRow(n);
        if (!this.guard.rowUsable(data.x, r, f, opts.rowOutlier)) continue;
        bx.set(data.x.subarray(r * f, (r + 1) * f), rows * f);
        by[rows++] = data.y[r];
      }
      if (rows === 0) break;
      if (opts.lossTrim > 0 && model.predict) {
        const kept = trimContradicted(
          await model.predict(bx.subarray(0, rows * f), rows),
          bx,
          by,
          rows,
          f,
          opts.lossTrim,
          opts.trimConfidence,
          opts.trimOwnClass > 0 ? this.#classShares(data) : undefined,
          opts.trimOwnClass,
        );
        this.guard.trimmedRows += rows - kept;
        rows = kept;
      }
      sum += await model.trainBatch(bx.subarray(0, rows * f), by.subarray(0, rows), rows);
      done++;
    }
    const w = model.getWeights();
    const delta = new Float32Array(start.length);
    for (let i = 0; i < delta.length; i++) delta[i] = w[i] - start[i];
    this.guard.guard(delta, opts.updateClip);
    return { delta, loss: done > 0 ? sum / done : NaN, steps: done };
  }

  /** Share of our rows per label (recounted when rows were added). */
  #classShares(data: Samples): Float64Array {
    if (this.#shares && this.#sharesOf === data.count) return this.#shares;
    const counts = new Float64Array(256);
    for (let i = 0; i < data.count; i++) counts[data.y[i]]++;
    for (let c = 0; c < 256; c++) counts[c] /= data.count;
    this.#shares = counts;
    this.#sharesOf = data.count;
    return counts;
  }

  #nextRow(n: number): number {
    if (this.#order.length !== n || this.#pos >= n) {
      if (this.#order.length !== n) this.#order = Uint32Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = this.#rng.nextU32() % (i + 1);
        const t = this.#order[i];
        this.#order[i] = this.#order[j];
        this.#order[j] = t;
      }
      this.#pos = 0;
    }
    return this.#order[this.#pos++];
  }
}

/**
 * Leaves out of a batch (in place) the rows the model contradicts most: among the rows whose label is
 * not the model's most probable class, those with the lowest probability of their label, at most
 * `share` × `rows` of them (rounded). Returns the rows kept, compacted to the front of `x` and `y`.
 * Rows the model already classifies as labelled are never left out, so a clean batch on which the
 * model is right loses nothing, and before the model has learned anything few rows are contradicted.
 */
export function trimContradicted(
  probs: Float32Array,
  x: Float32Array,
  y: Uint8Array,
  rows: number,
  features: number,
  share: number,
  confidence = 0,
  shares?: Float64Array,
  ownClass = 0,
): number {
  const classes = Math.floor(probs.length / rows);
  const limit = Math.round(share * rows);
  if (limit <= 0 || classes < 2) return rows;
  const wrong: { row: number; p: number }[] = [];
  for (let r = 0; r < rows; r++) {
    const row = probs.subarray(r * classes, (r + 1) * classes);
    const own = row[y[r]] ?? 0;
    let best = 0;
    let top = 0;
    for (let c = 0; c < classes; c++) {
      if (row[c] > best) {
        best = row[c];
        top = c;
      }
    }
    if (own >= best || best < confidence) continue;
    if (shares && shares[top] < ownClass) continue;
    wrong.push({ row: r, p: own });
  }
  if (wrong.length === 0) return rows;
  wrong.sort((a, b) => a.p - b.p);
  const drop = new Set(wrong.slice(0, limit).map((w) => w.row));
  let kept = 0;
  for (let r = 0; r < rows; r++) {
    if (drop.has(r)) continue;
    if (kept !== r) {
      x.copyWithin(kept * features, r * features, (r + 1) * features);
      y[kept] = y[r];
    }
    kept++;
  }
  return kept;
}
