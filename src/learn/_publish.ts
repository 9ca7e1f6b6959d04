/**
 * Publication: our contribution C_i, the residual r_i that waits to be published, and how both go on
 * the wire. Each Delta moves the top-k coordinates of |r| (plus a share of round-robin refresh
 * coordinates, so lost datagrams heal) into C and sends the ABSOLUTE values C[c], int8-quantized with
 * one scale per message; the quantization error goes back into r (error feedback, as in Deep Gradient
 * Compression). Snapshot chunks send a contiguous run of C + r. Both fit their DEFLATEd body into the
 * datagram budget with the same loop ({@linkcode fitToBudget}).
 *
 * @module
 */
import { encodeChunk, encodeDelta, ValueEncoding } from "./codec.ts";
import { topK } from "./robust.ts";
import { changeSize } from "./_change_guard.ts";
import { LearnMessage, type OutgoingMessage } from "./_types.ts";

/**
 * A large n whose body fits, found by shrinking a first guess by the measured bytes per coordinate. The
 * shrinking stalls when the body's cost is a few scattered coordinates and the rest are cheap ties
 * (a diagnostic simulation: 2,204 coordinates still over 1,112 bytes after eight steps); the error that
 * ended the loop there ended the daemon's round, publication and checkpoint included, every round.
 * After eight steps n halves, so the loop ends within log₂ n more: only one coordinate that cannot fit
 * is a bug.
 */
export function fitToBudget<T extends { raw: Uint8Array }>(
  guess: number,
  budget: number,
  deflate: (raw: Uint8Array) => Uint8Array,
  build: (n: number) => T,
): { n: number; body: Uint8Array; built: T } {
  let n = guess;
  for (let attempt = 0;; attempt++) {
    const built = build(n);
    const body = deflate(built.raw);
    if (body.length <= budget) return { n, body, built };
    if (n <= 1) throw new Error(`Bug: ${n} coordinate(s) exceed the body budget ${budget}`);
    n = attempt < 8 ? Math.max(1, Math.floor(n * budget / body.length * 0.97)) : Math.floor(n / 2);
  }
}

/** What a publication needs from the coordinator. */
export interface PublishContext {
  modelHash: Uint8Array;
  epoch: number;
  encoding: ValueEncoding;
  round: number;
  deflate: (raw: Uint8Array) => Uint8Array;
}

/** Our contribution and residual, and their publication. */
export class Publication {
  readonly paramCount: number;
  /** The shared init x₀. */
  genesis: Float32Array;
  /** C = P − x₀ as sent on the wire (float32, exactly what peers decode). */
  contrib: Float32Array;
  /** Our pseudo-model P = x₀ + C exactly as peers compute it. */
  pub: Float32Array;
  /** Error-feedback residual r: local progress (and quantization error) not yet published. */
  resid: Float32Array;
  /** Velocity u of the learner-side momentum (all zero when `momentum` is 0). */
  velocity: Float32Array;
  /** Our round count when each coordinate of C was last published. */
  sentRound: Int32Array;
  stamp = 0;
  cursor = 0;
  pushNext = 0;
  pushRemaining = 0;
  #bytesPerCoord = 2;
  #bytesPerChunkValue = 1.1;
  /** Snapshot chunks sent since the last whole pass's worth: their body bytes, values and count. */
  #chunksSent = { bodyBytes: 0, values: 0, count: 0 };
  /** The same for the last whole pass's worth of chunks (undefined until one went out). */
  #lastPass: { bodyBytes: number; values: number; count: number } | undefined;
  #scale = 0;
  #scaleStamp = -1;

  constructor(genesis: Float32Array) {
    this.paramCount = genesis.length;
    this.genesis = genesis.slice();
    this.pub = genesis.slice();
    this.contrib = new Float32Array(this.paramCount);
    this.resid = new Float32Array(this.paramCount);
    this.velocity = new Float32Array(this.paramCount);
    this.sentRound = new Int32Array(this.paramCount);
  }

  /** Sets C (and P = x₀ + C, computed as receivers compute it). */
  setContrib(c: Float32Array): void {
    this.#scaleStamp = -1;
    this.contrib = Float32Array.from(c);
    this.pub = new Float32Array(this.paramCount);
    for (let i = 0; i < this.paramCount; i++) this.pub[i] = this.genesis[i] + this.contrib[i];
  }

  /** A publication resumed from checkpoint fields (see `_state.ts`). */
  static restored(s: {
    genesis: Float32Array;
    contrib: Float32Array;
    resid: Float32Array;
    stamp: number;
    cursor: number;
    rounds: number;
  }): Publication {
    const out = new Publication(s.genesis);
    out.setContrib(s.contrib);
    out.resid = s.resid;
    out.stamp = s.stamp;
    out.cursor = s.cursor % out.paramCount;
    out.sentRound.fill(s.rounds);
    return out;
  }

  /**
   * Adds a round's local change `delta` to the residual (through the learner-side momentum `mu` when
   * above 0), and the consensus pull −`pull` × (P − `start`) towards the swarm model trained from.
   */
  addRound(delta: Float32Array, mu: number, pull: number, start: Float32Array): void {
    const r = this.resid;
    if (mu > 0) {
      const u = this.velocity;
      for (let i = 0; i < r.length; i++) {
        u[i] = mu * u[i] + delta[i];
        r[i] += u[i];
      }
    } else {
      for (let i = 0; i < r.length; i++) r[i] += delta[i];
    }
    if (pull > 0) {
      const p = this.pub;
      for (let i = 0; i < r.length; i++) r[i] -= pull * (p[i] - start[i]);
    }
  }

  /**
   * Starts pushing the whole pseudo-model in snapshot chunks (after a new epoch or a request), `passes`
   * times over (each pass sends the values of its time).
   */
  pushAll(passes = 1): void {
    this.pushNext = 0;
    this.pushRemaining = passes * this.paramCount;
  }

  /**
   * Bytes on the air of one whole pass of chunks (frames of `frameOverhead` bytes each) as last measured:
   * the last whole pass's worth of chunks sent, or the chunks sent so far before there is one; undefined
   * before any. Recent chunks only: the first pushes of a board that has not trained yet carry an all-zero
   * contribution that DEFLATE shrinks to almost nothing.
   */
  measuredPassBytes(frameOverhead: number): number | undefined {
    const sent = this.#lastPass ?? this.#chunksSent;
    if (sent.values === 0) return undefined;
    return (this.paramCount / sent.values) * (sent.bodyBytes + sent.count * frameOverhead);
  }

  /** The next snapshot chunk of C + r (a contiguous run from `pushNext`). */
  chunk(budget: number, ctx: PublishContext): OutgoingMessage {
    const P = this.paramCount;
    const start = this.pushNext;
    const guess = Math.min(
      P - start,
      65535,
      Math.max(16, Math.floor((budget - 48) / this.#bytesPerChunkValue)),
    );
    const { n, body, built: enc } = fitToBudget(guess, budget, ctx.deflate, (n) => {
      n = Math.min(n, P - start, 65535);
      const values = new Float32Array(n);
      for (let j = 0; j < n; j++) values[j] = this.contrib[start + j] + this.resid[start + j];
      const enc = encodeChunk({
        modelHash: ctx.modelHash,
        epoch: ctx.epoch,
        stamp: this.stamp + 1,
        paramCount: P,
        encoding: ctx.encoding,
        start,
        values,
      });
      return { raw: enc.body, decoded: enc.decoded, values };
    });
    this.#bytesPerChunkValue = Math.max(0.2, body.length / n);
    const sent = this.#chunksSent;
    sent.bodyBytes += body.length;
    sent.values += n;
    sent.count++;
    if (sent.values >= P) {
      this.#lastPass = { ...sent };
      this.#chunksSent = { bodyBytes: 0, values: 0, count: 0 };
    }
    this.stamp++;
    for (let j = 0; j < n; j++) this.#commit(start + j, enc.values[j], enc.decoded[j], ctx.round);
    this.pushNext = (start + n) % P;
    this.pushRemaining = Math.max(0, this.pushRemaining - n);
    return { type: LearnMessage.SnapshotChunk, body, rawSize: enc.raw.length, coordinates: n };
  }

  /**
   * The next Delta: top-k of |r| plus refresh coordinates. Returns the message and its change size per
   * round (the 90th percentile measure of the change-size guard) computed on `changes`; undefined when
   * there is nothing to send.
   */
  delta(
    budget: number,
    ctx: PublishContext,
    refreshFraction: number,
  ): { message: OutgoingMessage; changes: Float64Array } | undefined {
    const P = this.paramCount;
    const resid = this.resid;
    const score = new Float32Array(P);
    let any = false;
    for (let i = 0; i < P; i++) {
      score[i] = Math.abs(resid[i]);
      if (score[i] > 0) any = true;
    }
    if (!any && refreshFraction === 0) return undefined;
    const guess = Math.min(P, 65535, Math.max(8, Math.floor((budget - 40) / this.#bytesPerCoord)));
    const { body, built } = fitToBudget(guess, budget, ctx.deflate, (n) => {
      const nRefresh = Math.min(P, Math.ceil(n * refreshFraction));
      const take = new Uint8Array(P);
      for (const i of topK(score, n - nRefresh)) take[i] = 1;
      let added = 0;
      let c = this.cursor;
      for (let scanned = 0; added < nRefresh && scanned < P; scanned++) {
        if (!take[c]) {
          take[c] = 1;
          added++;
        }
        c = (c + 1) % P;
      }
      const indices: number[] = [];
      for (let i = 0; i < P; i++) if (take[i]) indices.push(i);
      const values = indices.map((i) => this.contrib[i] + resid[i]);
      const enc = encodeDelta({
        modelHash: ctx.modelHash,
        epoch: ctx.epoch,
        stamp: this.stamp + 1,
        paramCount: P,
        encoding: ctx.encoding,
        indices,
        values,
      });
      return { raw: enc.body, decoded: enc.decoded, indices, values, cursor: c };
    });
    const { indices, values, decoded } = built;
    this.#bytesPerCoord = Math.max(0.3, body.length / indices.length);
    this.cursor = built.cursor;
    this.stamp++;
    const changes = new Float64Array(indices.length);
    indices.forEach((idx, j) => {
      // Change per round since this coordinate was last published (the change-size guard's measure).
      const now = this.genesis[idx] + decoded[j];
      changes[j] = Math.abs(now - this.pub[idx]) / Math.max(1, ctx.round - this.sentRound[idx]);
      this.#commit(idx, values[j], decoded[j], ctx.round);
    });
    return {
      message: { type: LearnMessage.Delta, body, rawSize: built.raw.length, coordinates: indices.length },
      changes,
    };
  }

  /**
   * This round's messages: up to `chunksPerRound` snapshot chunks while a push is under way, then up to
   * `messagesPerRound` Deltas, whose change sizes go to `noteChange` (the change-size guard's reference).
   */
  messages(
    budget: number,
    ctx: PublishContext,
    tuning: { chunksPerRound: number; messagesPerRound: number; refreshFraction: number },
    noteChange: (size: number) => void,
  ): OutgoingMessage[] {
    const out: OutgoingMessage[] = [];
    for (let c = 0; c < tuning.chunksPerRound && this.pushRemaining > 0; c++) {
      out.push(this.chunk(budget, ctx));
    }
    for (let m = 0; m < tuning.messagesPerRound; m++) {
      const d = this.delta(budget, ctx, tuning.refreshFraction);
      if (!d) break;
      noteChange(changeSize(d.changes, d.changes.length));
      out.push(d.message);
    }
    return out;
  }

  /** Largest |value| of our contribution C (cached per stamp): the honest scale of values. */
  ownScale(): number {
    if (this.#scaleStamp !== this.stamp) {
      let m = 0;
      for (const v of this.contrib) m = Math.max(m, Math.abs(v));
      this.#scale = m;
      this.#scaleStamp = this.stamp;
    }
    return this.#scale;
  }

  /** Coordinate `i` now holds `decoded` on the wire: C, P, r and momentum follow. */
  #commit(i: number, wanted: number, decoded: number, round: number): void {
    this.contrib[i] = decoded;
    this.pub[i] = this.genesis[i] + decoded;
    this.resid[i] = wanted - decoded;
    this.velocity[i] = 0; // momentum factor masking (DGC)
    this.sentRound[i] = round;
  }
}
