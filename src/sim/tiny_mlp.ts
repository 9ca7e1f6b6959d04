/**
 * A dependency-free inputs-H-classes ReLU MLP with softmax cross-entropy and Adam, implementing
 * {@linkcode LearnerModel} on plain Float32Arrays. It exists so the learning layer's tests and fast
 * simulations are deterministic and do not need TensorFlow.js; the daemon uses the model runtime
 * (src/model/) instead. Weight layout: W1 (inputs×H, row-major by input), b1 (H), W2 (H×classes), b2.
 *
 * @module
 */
import { SeededRandom } from "../time.ts";
import type { LearnerModel } from "../learn/mod.ts";

/** Shape and optimizer settings. */
export interface TinyMlpOptions {
  inputs: number;
  hidden: number;
  classes: number;
  learningRate?: number;
  /** Adam (default, like the model runtime) or SGD with momentum. */
  optimizer?: "adam" | "sgd";
  /** Momentum of `sgd` (default 0.9). */
  momentum?: number;
  /** Seed of the shared initialisation (Glorot uniform). */
  seed?: number;
}

/** See the module documentation. */
export class TinyMlp implements LearnerModel {
  readonly paramCount: number;
  readonly modelHash: Uint8Array;
  readonly inputs: number;
  readonly hidden: number;
  readonly classes: number;
  #w: Float32Array;
  #m: Float32Array;
  #v: Float32Array;
  #t = 0;
  #lr: number;
  #sgd: boolean;
  #momentum: number;

  constructor(options: TinyMlpOptions) {
    const { inputs, hidden, classes } = options;
    this.inputs = inputs;
    this.hidden = hidden;
    this.classes = classes;
    this.#sgd = options.optimizer === "sgd";
    this.#lr = options.learningRate ?? (this.#sgd ? 0.05 : 1e-3);
    this.#momentum = options.momentum ?? 0.9;
    this.paramCount = inputs * hidden + hidden + hidden * classes + classes;
    this.#w = new Float32Array(this.paramCount);
    this.#m = new Float32Array(this.paramCount);
    this.#v = new Float32Array(this.paramCount);
    const seed = options.seed ?? 1;
    const rng = new SeededRandom(seed);
    const l1 = Math.sqrt(6 / (inputs + hidden));
    const l2 = Math.sqrt(6 / (hidden + classes));
    for (let i = 0; i < inputs * hidden; i++) this.#w[i] = (rng.next() * 2 - 1) * l1;
    const o2 = inputs * hidden + hidden;
    for (let i = 0; i < hidden * classes; i++) this.#w[o2 + i] = (rng.next() * 2 - 1) * l2;
    this.modelHash = new Uint8Array(8);
    const dv = new DataView(this.modelHash.buffer);
    dv.setUint16(0, inputs, true);
    dv.setUint16(2, hidden, true);
    dv.setUint8(4, classes);
    dv.setUint8(5, 0x4d);
    dv.setUint16(6, seed & 0xffff, true);
  }

  /** The current learning rate. */
  get learningRate(): number {
    return this.#lr;
  }

  /** Changes the learning rate of the following steps (schedules). */
  setLearningRate(lr: number): void {
    if (!(lr > 0 && Number.isFinite(lr))) throw new RangeError(`Learning rate ${lr} is not positive`);
    this.#lr = lr;
  }

  getWeights(): Float32Array {
    return this.#w.slice();
  }

  setWeights(weights: Float32Array): void {
    if (weights.length !== this.paramCount) {
      throw new Error(`Bug: ${weights.length} weights for ${this.paramCount}`);
    }
    this.#w.set(weights);
  }

  #forward(x: Float32Array, count: number): { h: Float32Array; p: Float32Array } {
    const { inputs: I, hidden: H, classes: C } = this;
    const w = this.#w;
    const b1 = I * H;
    const w2 = b1 + H;
    const b2 = w2 + H * C;
    const h = new Float32Array(count * H);
    const p = new Float32Array(count * C);
    for (let n = 0; n < count; n++) {
      const hn = n * H;
      for (let j = 0; j < H; j++) h[hn + j] = w[b1 + j];
      const xn = n * I;
      for (let i = 0; i < I; i++) {
        const xv = x[xn + i];
        if (xv === 0) continue;
        const row = i * H;
        for (let j = 0; j < H; j++) h[hn + j] += xv * w[row + j];
      }
      for (let j = 0; j < H; j++) if (h[hn + j] < 0) h[hn + j] = 0;
      const pn = n * C;
      let max = -Infinity;
      for (let k = 0; k < C; k++) {
        let s = w[b2 + k];
        for (let j = 0; j < H; j++) s += h[hn + j] * w[w2 + j * C + k];
        p[pn + k] = s;
        if (s > max) max = s;
      }
      let z = 0;
      for (let k = 0; k < C; k++) {
        p[pn + k] = Math.exp(p[pn + k] - max);
        z += p[pn + k];
      }
      for (let k = 0; k < C; k++) p[pn + k] /= z;
    }
    return { h, p };
  }

  trainBatch(x: Float32Array, y: Uint8Array, count: number): Promise<number> {
    const { inputs: I, hidden: H, classes: C } = this;
    const w = this.#w;
    const b1 = I * H;
    const w2 = b1 + H;
    const b2 = w2 + H * C;
    const { h, p } = this.#forward(x, count);
    const g = new Float32Array(this.paramCount);
    let loss = 0;
    const dh = new Float32Array(H);
    for (let n = 0; n < count; n++) {
      const pn = n * C;
      const hn = n * H;
      loss -= Math.log(Math.max(p[pn + y[n]], 1e-12));
      p[pn + y[n]] -= 1; // dlogits
      dh.fill(0);
      for (let k = 0; k < C; k++) {
        const d = p[pn + k] / count;
        g[b2 + k] += d;
        for (let j = 0; j < H; j++) {
          g[w2 + j * C + k] += h[hn + j] * d;
          dh[j] += w[w2 + j * C + k] * d;
        }
      }
      for (let j = 0; j < H; j++) if (h[hn + j] <= 0) dh[j] = 0;
      for (let j = 0; j < H; j++) g[b1 + j] += dh[j];
      const xn = n * I;
      for (let i = 0; i < I; i++) {
        const xv = x[xn + i];
        if (xv === 0) continue;
        const row = i * H;
        for (let j = 0; j < H; j++) g[row + j] += xv * dh[j];
      }
    }
    if (this.#sgd) {
      const m = this.#m;
      for (let i = 0; i < this.paramCount; i++) {
        m[i] = this.#momentum * m[i] + g[i];
        w[i] -= this.#lr * m[i];
      }
      return Promise.resolve(loss / count);
    }
    // Adam
    this.#t++;
    const b1c = 1 - 0.9 ** this.#t;
    const b2c = 1 - 0.999 ** this.#t;
    const m = this.#m;
    const v = this.#v;
    const lr = this.#lr;
    for (let i = 0; i < this.paramCount; i++) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      w[i] -= lr * (m[i] / b1c) / (Math.sqrt(v[i] / b2c) + 1e-7);
    }
    return Promise.resolve(loss / count);
  }

  /** Class probabilities, `count × classes`, row-major (as the model runtime's `predict`). */
  predict(x: Float32Array, count: number): Promise<Float32Array> {
    return Promise.resolve(this.#forward(x, count).p);
  }

  evaluate(x: Float32Array, y: Uint8Array, count: number): Promise<{ accuracy: number; loss: number }> {
    const { p } = this.#forward(x, count);
    let correct = 0;
    let loss = 0;
    const C = this.classes;
    for (let n = 0; n < count; n++) {
      let best = 0;
      for (let k = 1; k < C; k++) if (p[n * C + k] > p[n * C + best]) best = k;
      if (best === y[n]) correct++;
      loss -= Math.log(Math.max(p[n * C + y[n]], 1e-12));
    }
    return Promise.resolve({ accuracy: count ? correct / count : 0, loss: count ? loss / count : 0 });
  }
}
