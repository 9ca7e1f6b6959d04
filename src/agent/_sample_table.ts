/**
 * The node's rows in memory, held once: normalised as the model spec says, each row put on the
 * training or the held-out side as it arrives (by its content hash, as `splitHeldOut` does, so a row
 * keeps its side whatever else arrives), in two buffers grown in place. The learner and the evaluator
 * read views of them; the rows of `data.source` come first and stay, the posted rows follow in the
 * order they were stored, and when the store drops its oldest rows they are cut out in place.
 *
 * Before it, the posted rows were held twice (the store's copy and the split's) and every post
 * re-split all of them: ≈ 10 KB per 784-value row of resident memory on a board, against 3 KB now.
 *
 * @module
 */
import type { Samples } from "../learn/mod.ts";
import { rowHash } from "./data.ts";
import type { SampleSink } from "./samples.ts";

/** One side (training or held-out): rows in a buffer with room to grow. */
class Rows {
  readonly features: number;
  x: Float32Array;
  y: Uint8Array;
  count = 0;

  constructor(features: number) {
    this.features = features;
    this.x = new Float32Array(0);
    this.y = new Uint8Array(0);
  }

  /** Makes room for `more` rows (by half again the size, at least 64 rows, at most `limit` rows if given). */
  reserve(more: number, limit: number): void {
    const need = this.count + more;
    if (need <= this.y.length) return;
    const cap = Math.max(need, Math.min(Math.max(64, Math.ceil(this.y.length * 1.5)), Math.max(limit, need)));
    const x = new Float32Array(cap * this.features);
    x.set(this.x.subarray(0, this.count * this.features));
    const y = new Uint8Array(cap);
    y.set(this.y.subarray(0, this.count));
    this.x = x;
    this.y = y;
  }

  /** Appends one row (room reserved). */
  push(row: Float32Array, label: number): void {
    this.x.set(row, this.count * this.features);
    this.y[this.count++] = label;
  }

  /** Removes `n` rows starting at row `start`, moving the later ones down. */
  cut(start: number, n: number): void {
    const F = this.features;
    this.x.copyWithin(start * F, (start + n) * F, this.count * F);
    this.y.copyWithin(start, start + n, this.count);
    this.count -= n;
  }

  view(): Samples {
    return {
      x: this.x.subarray(0, this.count * this.features),
      y: this.y.subarray(0, this.count),
      count: this.count,
    };
  }
}

/** How many rows of one stored batch went to each side. */
interface Batch {
  train: number;
  held: number;
}

/** The rows a node trains on and judges with; also the sink of the posted-samples store. */
export class SampleTable implements SampleSink {
  readonly features: number;
  #train: Rows;
  #held: Rows;
  #fraction: number;
  #normalise: (x: Float32Array, count: number) => Float32Array;
  #limit: number;
  /** Rows of `data.source` on each side (first, never dropped). */
  #fixed: Batch = { train: 0, held: 0 };
  #batches: Batch[] = [];
  #pendingDrop = 0;
  #version = 0;

  /**
   * @param o.heldOutFraction share of rows held out (0: every row trains, e.g. when `data.test` is set)
   * @param o.normalise the spec's normalisation of stored (raw) rows; identity when it has none
   * @param o.expectedRows rows expected at most (source + the store's bound), so growth stops there
   */
  constructor(o: {
    features: number;
    heldOutFraction: number;
    normalise: (x: Float32Array, count: number) => Float32Array;
    expectedRows: number;
  }) {
    this.features = o.features;
    this.#train = new Rows(o.features);
    this.#held = new Rows(o.features);
    this.#fraction = o.heldOutFraction;
    this.#normalise = o.normalise;
    this.#limit = o.expectedRows;
  }

  /** Increases on every change. */
  get version(): number {
    return this.#version;
  }

  get train(): Samples {
    return this.#train.view();
  }

  get heldOut(): Samples {
    return this.#held.view();
  }

  /** Adds the rows of `data.source` (already normalised); before any stored row. */
  addSource(s: Samples): void {
    if (this.#batches.length > 0) throw new Error("Bug: source rows after stored rows");
    const b = this.#add(s.x, s.y, s.count);
    this.#fixed = { train: this.#fixed.train + b.train, held: this.#fixed.held + b.held };
  }

  /** {@linkcode SampleSink}: stored rows (raw; normalised here) after every earlier one. */
  added(x: Float32Array, y: Uint8Array, count: number): void {
    this.#batches.push(this.#add(this.#normalise(x, count), y, count));
  }

  /** {@linkcode SampleSink}: the oldest `count` stored rows are gone. */
  dropped(count: number): void {
    this.#pendingDrop += count;
    let train = 0;
    let held = 0;
    while (this.#batches.length > 0) {
      const b = this.#batches[0];
      if (b.train + b.held > this.#pendingDrop) break;
      this.#pendingDrop -= b.train + b.held;
      train += b.train;
      held += b.held;
      this.#batches.shift();
    }
    if (train > 0) this.#train.cut(this.#fixed.train, train);
    if (held > 0) this.#held.cut(this.#fixed.held, held);
    this.#version++;
  }

  #add(x: Float32Array, y: Uint8Array, count: number): Batch {
    const F = this.features;
    const sides = new Uint8Array(count);
    let held = 0;
    for (let i = 0; i < count; i++) {
      if (this.#fraction > 0 && rowHash(x.subarray(i * F, (i + 1) * F), y[i]) < this.#fraction) {
        sides[i] = 1;
        held++;
      }
    }
    const total = this.#train.count + this.#held.count;
    const room = Math.max(0, this.#limit - total);
    this.#train.reserve(count - held, this.#train.count + Math.ceil(room * (1 - this.#fraction)));
    this.#held.reserve(held, this.#held.count + Math.ceil(room * this.#fraction));
    for (let i = 0; i < count; i++) {
      (sides[i] ? this.#held : this.#train).push(x.subarray(i * F, (i + 1) * F), y[i]);
    }
    this.#version++;
    return { train: count - held, held };
  }
}
