/**
 * What the dashboard draws over time: a fixed-size ring of samples (by default the last 24 h at one
 * sample every 10 s) held in typed arrays, so its memory is set when it is made and never grows. Pure:
 * the caller passes each sample with its wall-clock time; nothing here reads a clock.
 *
 * Memory: 8 bytes a slot for the time and the two byte counters (Float64, exact to 2^53), 4 bytes a slot
 * for accuracy, loss, RSS and each reject reason (Float32). 8,640 slots with 8 reasons ≈ 0.6 MB.
 *
 * Counters (bytes, rejects) are stored as running totals; a reader takes differences for rates, so a
 * missed sample loses no count. Reject reasons get a column on first sight, up to `maxReasons`; any
 * later reason is added to the `other` column.
 *
 * @module
 */

/** One sample. Counters are running totals since the daemon started. */
export interface HistoryPoint {
  /** Wall-clock time in ms since the epoch. */
  t: number;
  /** Held-out accuracy in [0, 1], or null when unknown. */
  accuracy: number | null;
  /** Mean training loss of the last round, or null before the first. */
  loss: number | null;
  /** Gossip bytes received and sent so far. */
  bytesIn: number;
  bytesOut: number;
  /** Resident memory in bytes. */
  rss: number;
  /** Dropped datagrams so far, by reason. */
  rejects: Record<string, number>;
}

/** The samples in time order, one array per column (what uPlot draws). Unknown values are null. */
export interface HistorySeries {
  /** Sampling interval the ring was made for, in ms. */
  intervalMs: number;
  /** Slots in the ring (the most samples it holds). */
  capacity: number;
  /** Wall-clock ms of each sample. */
  t: number[];
  accuracy: (number | null)[];
  loss: (number | null)[];
  bytesIn: number[];
  bytesOut: number[];
  rss: number[];
  /** Running reject totals by reason (`other` collects reasons past the column limit). */
  rejects: Record<string, number[]>;
}

/** Options of {@linkcode MetricHistory}. */
export interface HistoryOptions {
  /** Slots (default 8,640 = 24 h at 10 s). */
  capacity?: number;
  /** Interval the caller samples at, in ms (reported to readers; default 10,000). */
  intervalMs?: number;
  /** Reject reasons with a column of their own (default 8; the rest go to `other`). */
  maxReasons?: number;
}

/** Default: 24 h at one sample every 10 s. */
export const HISTORY_INTERVAL_MS = 10_000;
export const HISTORY_CAPACITY = 8_640;
/** Column for reject reasons beyond `maxReasons`. */
export const OTHER_REASON = "other";

/** A bounded ring of {@linkcode HistoryPoint}s. */
export class MetricHistory {
  readonly capacity: number;
  readonly intervalMs: number;
  readonly maxReasons: number;
  readonly #t: Float64Array;
  readonly #bytesIn: Float64Array;
  readonly #bytesOut: Float64Array;
  readonly #accuracy: Float32Array;
  readonly #loss: Float32Array;
  readonly #rss: Float32Array;
  /** Reason → its column; columns are made on first sight, at most `maxReasons` + 1 (`other`). */
  readonly #reasons = new Map<string, Float32Array>();
  /** Index of the next slot to write. */
  #next = 0;
  #size = 0;

  constructor(options: HistoryOptions = {}) {
    this.capacity = options.capacity ?? HISTORY_CAPACITY;
    this.intervalMs = options.intervalMs ?? HISTORY_INTERVAL_MS;
    this.maxReasons = options.maxReasons ?? 8;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) {
      throw new Error(`Bug: history capacity must be a positive integer, got ${this.capacity}`);
    }
    if (!Number.isInteger(this.maxReasons) || this.maxReasons < 0) {
      throw new Error(`Bug: history maxReasons must be a non-negative integer, got ${this.maxReasons}`);
    }
    const n = this.capacity;
    this.#t = new Float64Array(n);
    this.#bytesIn = new Float64Array(n);
    this.#bytesOut = new Float64Array(n);
    this.#accuracy = new Float32Array(n);
    this.#loss = new Float32Array(n);
    this.#rss = new Float32Array(n);
  }

  /** Samples held (at most `capacity`). */
  get size(): number {
    return this.#size;
  }

  /** Bytes held by the ring's arrays (fixed once every reason column exists). */
  get byteLength(): number {
    let n = this.#t.byteLength + this.#bytesIn.byteLength + this.#bytesOut.byteLength +
      this.#accuracy.byteLength + this.#loss.byteLength + this.#rss.byteLength;
    for (const col of this.#reasons.values()) n += col.byteLength;
    return n;
  }

  /** Wall-clock ms of the newest sample, or undefined when empty. */
  get lastTime(): number | undefined {
    return this.#size === 0 ? undefined : this.#t[(this.#next - 1 + this.capacity) % this.capacity];
  }

  /** Adds a sample, overwriting the oldest when full. Samples must come in time order. */
  record(p: HistoryPoint): void {
    const last = this.lastTime;
    if (!Number.isFinite(p.t) || (last !== undefined && p.t < last)) {
      throw new Error(`Bug: history sample at ${p.t} is not after the newest one (${last})`);
    }
    const i = this.#next;
    this.#t[i] = p.t;
    this.#accuracy[i] = finiteOrNaN(p.accuracy);
    this.#loss[i] = finiteOrNaN(p.loss);
    this.#bytesIn[i] = p.bytesIn;
    this.#bytesOut[i] = p.bytesOut;
    this.#rss[i] = p.rss;
    const totals = new Map<Float32Array, number>();
    for (const [reason, n] of Object.entries(p.rejects)) {
      if (!(n > 0)) continue;
      const col = this.#column(reason);
      totals.set(col, (totals.get(col) ?? 0) + n);
    }
    // Every column gets a value in this slot (0 for reasons not seen in this sample).
    for (const col of this.#reasons.values()) col[i] = totals.get(col) ?? 0;
    this.#next = (i + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
  }

  /** The samples newer than `sinceMs` (all when omitted), oldest first. */
  series(sinceMs = -Infinity): HistorySeries {
    const out: HistorySeries = {
      intervalMs: this.intervalMs,
      capacity: this.capacity,
      t: [],
      accuracy: [],
      loss: [],
      bytesIn: [],
      bytesOut: [],
      rss: [],
      rejects: {},
    };
    const cols = [...this.#reasons.entries()];
    for (const [reason] of cols) out.rejects[reason] = [];
    const first = (this.#next - this.#size + this.capacity) % this.capacity;
    for (let k = 0; k < this.#size; k++) {
      const i = (first + k) % this.capacity;
      if (!(this.#t[i] > sinceMs)) continue;
      out.t.push(this.#t[i]);
      out.accuracy.push(nanToNull(round5(this.#accuracy[i])));
      out.loss.push(nanToNull(round5(this.#loss[i])));
      out.bytesIn.push(this.#bytesIn[i]);
      out.bytesOut.push(this.#bytesOut[i]);
      out.rss.push(Math.round(this.#rss[i]));
      for (const [reason, col] of cols) out.rejects[reason].push(col[i]);
    }
    return out;
  }

  #column(reason: string): Float32Array {
    let col = this.#reasons.get(reason);
    if (col) return col;
    const named = [...this.#reasons.keys()].filter((r) => r !== OTHER_REASON).length;
    if (named >= this.maxReasons) reason = OTHER_REASON;
    col = this.#reasons.get(reason);
    if (col) return col;
    // A new column: 0 in every older slot (the reason had not been seen then).
    col = new Float32Array(this.capacity);
    this.#reasons.set(reason, col);
    return col;
  }
}

/** Five decimals: drops the float32 noise (0.9123000264167786) that would double the JSON's size. */
function round5(v: number): number {
  return Math.round(v * 1e5) / 1e5;
}

function finiteOrNaN(v: number | null): number {
  return v !== null && Number.isFinite(v) ? v : NaN;
}

function nanToNull(v: number): number | null {
  return Number.isNaN(v) ? null : v;
}
