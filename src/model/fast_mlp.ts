/**
 * A plain-JavaScript forward pass of an MLP spec for very small batches. For batch 1 it beats every
 * tfjs backend (no tensor allocation, no dispatch; `deno task bench:model` measures both), and it needs
 * no GPU readback. Kernels are stored transposed (one contiguous row per output unit) so the inner
 * loop is a dot product over consecutive floats; sums are accumulated in doubles.
 *
 * @module
 */
import type { MlpSpec } from "./spec.ts";

/** Forward pass of an MLP with fixed weights (rebuild it after the weights change). */
export class MlpForward {
  readonly #widths: number[];
  readonly #kernelsT: Float32Array[];
  readonly #biases: Float32Array[];
  readonly #activation: MlpSpec["mlp"]["activation"];
  readonly #scratch: Float64Array[];

  /** `weights` in the flat order of `paramLayout` (dense{l}/kernel [in, out], dense{l}/bias [out]). */
  constructor(spec: MlpSpec, weights: Float32Array) {
    this.#widths = [spec.input, ...spec.mlp.hidden, spec.classes];
    this.#activation = spec.mlp.activation;
    this.#kernelsT = [];
    this.#biases = [];
    this.#scratch = [];
    let off = 0;
    for (let l = 0; l + 1 < this.#widths.length; l++) {
      const n = this.#widths[l], m = this.#widths[l + 1];
      const t = new Float32Array(n * m);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < m; j++) t[j * n + i] = weights[off + i * m + j];
      }
      off += n * m;
      this.#kernelsT.push(t);
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
    const layers = this.#kernelsT.length;
    const n0 = this.#widths[0];
    const classes = this.#widths[layers];
    for (let r = 0; r < count; r++) {
      let input: Float32Array | Float64Array = x.subarray(r * n0, (r + 1) * n0);
      for (let l = 0; l < layers; l++) {
        const n = this.#widths[l], m = this.#widths[l + 1];
        const kt = this.#kernelsT[l], bias = this.#biases[l], h = this.#scratch[l];
        const last = l === layers - 1;
        for (let j = 0; j < m; j++) {
          let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          const base = j * n;
          let i = 0;
          for (; i + 3 < n; i += 4) {
            s0 += input[i] * kt[base + i];
            s1 += input[i + 1] * kt[base + i + 1];
            s2 += input[i + 2] * kt[base + i + 2];
            s3 += input[i + 3] * kt[base + i + 3];
          }
          for (; i < n; i++) s0 += input[i] * kt[base + i];
          const z = Math.fround(s0 + s1 + s2 + s3 + bias[j]);
          h[j] = last
            ? z
            : this.#activation === "relu"
            ? (z > 0 ? z : 0)
            : this.#activation === "sigmoid"
            ? 1 / (1 + Math.exp(-z))
            : z;
        }
        input = h;
      }
      // Softmax of the logits.
      let max = -Infinity;
      for (let j = 0; j < classes; j++) if (input[j] > max) max = input[j];
      let sum = 0;
      const o = r * classes;
      for (let j = 0; j < classes; j++) {
        const e = Math.exp(input[j] - max);
        out[o + j] = e;
        sum += e;
      }
      for (let j = 0; j < classes; j++) out[o + j] /= sum;
    }
  }
}
