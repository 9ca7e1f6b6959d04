/**
 * A plain-JavaScript forward pass of an MLP spec for very small batches. For batch 1 it beats every
 * tfjs backend (no tensor allocation, no kernel dispatch, no GPU readback; `deno task bench:model`
 * measures both). Each layer is computed as a sum of kernel rows scaled by the non-zero inputs, so
 * the blank background of a digit (~80% of MNIST pixels are 0) costs nothing. Sums are accumulated in
 * doubles and rounded to float32 per unit, like the tfjs kernels.
 *
 * @module
 */
import type { MlpSpec } from "./spec.ts";

/** Forward pass of an MLP with fixed weights (rebuild it after the weights change). */
export class MlpForward {
  readonly #widths: number[];
  readonly #kernels: Float32Array[];
  readonly #biases: Float32Array[];
  readonly #activation: MlpSpec["mlp"]["activation"];
  readonly #scratch: Float64Array[];

  /** `weights` in the flat order of `paramLayout` (dense{l}/kernel [in, out], dense{l}/bias [out]). */
  constructor(spec: MlpSpec, weights: Float32Array) {
    this.#widths = [spec.input, ...spec.mlp.hidden, spec.classes];
    this.#activation = spec.mlp.activation;
    this.#kernels = [];
    this.#biases = [];
    this.#scratch = [];
    let off = 0;
    for (let l = 0; l + 1 < this.#widths.length; l++) {
      const n = this.#widths[l], m = this.#widths[l + 1];
      this.#kernels.push(weights.slice(off, off + n * m));
      off += n * m;
      this.#biases.push(weights.slice(off, off + m));
      off += m;
      this.#scratch.push(new Float64Array(m));
    }
    if (off !== weights.length) {
      throw new Error(`Bug: MLP weights have ${weights.length} floats, expected ${off}`);
    }
  }

  /** Class probabilities of `count` rows of `x` into `out` (`count × classes`). */
  run(x: Float32Array, count: number, out: Float32Array): void {
    const layers = this.#kernels.length;
    const n0 = this.#widths[0];
    const classes = this.#widths[layers];
    for (let r = 0; r < count; r++) {
      let input: Float32Array | Float64Array = x.subarray(r * n0, (r + 1) * n0);
      for (let l = 0; l < layers; l++) {
        const n = this.#widths[l], m = this.#widths[l + 1];
        const kernel = this.#kernels[l], bias = this.#biases[l], h = this.#scratch[l];
        h.fill(0);
        for (let i = 0; i < n; i++) {
          const a = input[i];
          if (a === 0) continue;
          const row = i * m;
          for (let j = 0; j < m; j++) h[j] += a * kernel[row + j];
        }
        const last = l === layers - 1;
        for (let j = 0; j < m; j++) {
          const z = Math.fround(h[j] + bias[j]);
          h[j] = last || this.#activation === "linear"
            ? z
            : this.#activation === "relu"
            ? (z > 0 ? z : 0)
            : Math.fround(1 / (1 + Math.exp(-z)));
        }
        input = h;
      }
      // Softmax of the logits.
      let max = -Infinity;
      for (let j = 0; j < classes; j++) if (input[j] > max) max = input[j];
      let sum = 0;
      const o = r * classes;
      for (let j = 0; j < classes; j++) sum += out[o + j] = Math.exp(input[j] - max);
      for (let j = 0; j < classes; j++) out[o + j] /= sum;
    }
  }
}
