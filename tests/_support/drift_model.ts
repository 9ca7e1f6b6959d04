/**
 * A learner model whose "training step" adds seeded heavy-tailed noise (plus an optional constant
 * bias): enough to drive the learner's publication and peer logic without a real network.
 *
 * @module
 */
import type { LearnerModel } from "../../src/learn/mod.ts";
import { SeededRandom } from "../../src/time.ts";

/** A model whose "training step" adds a seeded random vector: enough to drive publication logic. */
export class DriftModel implements LearnerModel {
  readonly paramCount: number;
  readonly modelHash = Uint8Array.from([9, 9, 9, 9, 1, 2, 3, 4]);
  w: Float32Array;
  /** Size of the drift (early training moves much faster than later). */
  scale = 1;
  /** A constant step added every round (a node's persistent pull under label skew). */
  bias = 0;
  #rng: SeededRandom;
  constructor(paramCount: number, seed: number) {
    this.paramCount = paramCount;
    const init = new SeededRandom(1);
    this.w = Float32Array.from({ length: paramCount }, () => init.nextGaussian() * 0.1);
    this.#rng = new SeededRandom(seed);
  }
  getWeights() {
    return this.w.slice();
  }
  setWeights(w: Float32Array) {
    this.w.set(w);
  }
  trainBatch() {
    // sparse-ish heavy-tailed drift, like gradients
    for (let i = 0; i < this.paramCount; i++) {
      const g = this.#rng.nextGaussian();
      this.w[i] += 0.001 * this.scale * g * g * g + this.bias;
    }
    return Promise.resolve(1);
  }
  evaluate() {
    return Promise.resolve({ accuracy: 0, loss: 0 });
  }
}
