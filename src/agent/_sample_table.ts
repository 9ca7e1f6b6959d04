/**
 * The node's rows in memory, held once: normalised as the model spec says, each row put on the
 * training or the held-out side as it arrives (by its content hash, as `splitHeldOut` does, so a row
 * keeps its side whatever else arrives), in two buffers grown in place. The learner and the evaluator
 * read views of them; the rows of `data.source` come first and stay, the posted rows follow in the
 * order they were stored, and when the store drops its oldest rows they are cut out in place. A view
 * handed out earlier keeps its length: after a cut it may see later rows moved down (the learner
 * takes new views at its next round).
 *
 * Before it, the posted rows were held twice (the store's copy and the split's) and every post
 * re-split all of them: ≈ 10 KB per 784-value row of resident memory on a board, against 3 KB now.
 *
 * @module
 */
import type { Samples } from "../learn/mod.ts";
import { rowHash } from "./data.ts";
import type { SampleSink } from "./samples.ts";

/** Most bytes reserved for one side's rows; beyond it the rows move to a larger reservation (a copy). */
const MAX_RESERVED = 2 ** 32;

/**
 * One side (training or held-out): rows in resizable ArrayBuffers. Each reserves address space for
 * the rows the node may hold and commits pages only as rows arrive (and gives them back when rows are
 * cut), so growing never copies and never leaves an old buffer for the garbage collector: with plain
 * buffers grown by half, the last growth held 2.5 × the rows until V8 next collected.
 */
class Rows {
  readonly features: number;
  x: Float32Array;
  y: Uint8Array;
  count = 0;
  #xb: ArrayBuffer;
  #yb: ArrayBuffer;

  constructor(features: number, maxRows: number) {
    this.features = features;
    const rows = Math.max(1, Math.min(maxRows, Math.floor(MAX_RESERVED / (features * 4))));
    this.#xb = new ArrayBuffer(0, { maxByteLength: rows * features * 4 });
    this.#yb = new ArrayBuffer(0, { maxByteLength: rows });
    this.x = new Float32Array(this.#xb);
    this.y = new Uint8Array(this.#yb);
  }

  /** Makes room for `more` rows: commits them, or moves to a reservation twice as large if it is full. */
  reserve(more: number): void {
    const need = this.count + more;
    const F = this.features;
    if (need * F * 4 > this.#xb.maxByteLength) {
      const xb = new ArrayBuffer(need * F * 4, { maxByteLength: 2 * need * F * 4 });
      const yb = new ArrayBuffer(need, { maxByteLength: 2 * need });
      new Float32Array(xb).set(this.x.subarray(0, this.count * F));
      new Uint8Array(yb).set(this.y.subarray(0, this.count));
      this.#xb = xb;
      this.#yb = yb;
      this.x = new Float32Array(xb);
      this.y = new Uint8Array(yb);
    }
    if (need * F * 4 > this.#xb.byteLength) {
      this.#xb.resize(need * F * 4);
      this.#yb.resize(need);
    }
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
    this.#xb.resize(this.count * F * 4);
    this.#yb.resize(this.count);
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
  /** Rows of `data.source` on each side (first, never dropped). */
  #fixed: Batch = { train: 0, held: 0 };
  #batches: Batch[] = [];
  #pendingDrop = 0;
  #version = 0;

  /**
   * @param o.heldOutFraction share of rows held out (0: every row trains, e.g. when `data.test` is set)
   * @param o.normalise the spec's normalisation of stored (raw) rows; identity when it has none
   * @param o.expectedRows rows expected at most (source + the store's bound): the address space reserved
   */
  constructor(o: {
    features: number;
    heldOutFraction: number;
    normalise: (x: Float32Array, count: number) => Float32Array;
    expectedRows: number;
  }) {
    this.features = o.features;
    this.#train = new Rows(o.features, o.expectedRows);
    this.#held = new Rows(o.features, o.expectedRows);
    this.#fraction = o.heldOutFraction;
    this.#normalise = o.normalise;
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
    this.#train.reserve(count - held);
    this.#held.reserve(held);
    for (let i = 0; i < count; i++) {
      (sides[i] ? this.#held : this.#train).push(x.subarray(i * F, (i + 1) * F), y[i]);
    }
    this.#version++;
    return { train: count - held, held };
  }
}
