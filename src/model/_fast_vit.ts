/**
 * A plain-JavaScript forward pass of a ViT spec for very small batches: at batch 1 the tfjs graph is
 * ~40 tiny kernels whose dispatch costs more than the arithmetic (~0.2 M multiply-adds for
 * mnist-vit), so computing it directly is several times faster (`deno task bench:model`). It mirrors
 * `vitForward` in `model.ts` op for op; the cross-backend test checks that both agree.
 *
 * @module
 */
import { paramLayout } from "./params.ts";
import type { VitSpec } from "./spec.ts";

type Vec = Float32Array | Float64Array;

/** Forward pass of a ViT with fixed weights (rebuild it after the weights change). */
export class VitForward {
  readonly #spec: VitSpec;
  readonly #w: Map<string, Float32Array>;
  readonly #tokens: Float64Array;
  readonly #h: Float64Array;
  readonly #n: Float64Array;
  readonly #qkv: Float64Array;
  readonly #ctx: Float64Array;
  readonly #tmp: Float64Array;
  readonly #hidden: Float64Array;
  readonly #scores: Float64Array;

  /** `weights` in the flat order of `paramLayout(spec)`. */
  constructor(spec: VitSpec, weights: Float32Array) {
    this.#spec = spec;
    this.#w = new Map(paramLayout(spec).map((p) => [p.name, weights.subarray(p.offset, p.offset + p.size)]));
    const v = spec.vit;
    const patches = (v.imageSize / v.patchSize) ** 2;
    this.#tokens = new Float64Array(patches * v.patchSize * v.patchSize);
    this.#h = new Float64Array(patches * v.dim);
    this.#n = new Float64Array(patches * v.dim);
    this.#qkv = new Float64Array(patches * 3 * v.dim);
    this.#ctx = new Float64Array(patches * v.dim);
    this.#tmp = new Float64Array(patches * v.dim);
    this.#hidden = new Float64Array(patches * v.mlpDim);
    this.#scores = new Float64Array(patches);
  }

  /** Class probabilities of `count` rows of `x` into `out` (`count × classes`). */
  run(x: Float32Array, count: number, out: Float32Array): void {
    const spec = this.#spec, v = spec.vit, w = (name: string) => this.#w.get(name)!;
    const ps = v.patchSize, grid = v.imageSize / ps, patches = grid * grid, s = ps * ps;
    const d = v.dim, dh = d / v.heads, scale = 1 / Math.sqrt(dh);
    const tokens = this.#tokens, h = this.#h, n = this.#n, qkv = this.#qkv, ctx = this.#ctx;
    for (let r = 0; r < count; r++) {
      const img = x.subarray(r * spec.input, (r + 1) * spec.input);
      // Token p = (gy, gx) holds its patch row by row (the transpose [0, 1, 3, 2, 4] of the tfjs path).
      for (let gy = 0; gy < grid; gy++) {
        for (let gx = 0; gx < grid; gx++) {
          const t = (gy * grid + gx) * s;
          for (let iy = 0; iy < ps; iy++) {
            for (let ix = 0; ix < ps; ix++) {
              tokens[t + iy * ps + ix] = img[(gy * ps + iy) * v.imageSize + gx * ps + ix];
            }
          }
        }
      }
      linear(tokens, patches, s, w("patch/kernel"), w("patch/bias"), d, h, false);
      const pos = w("pos");
      for (let i = 0; i < h.length; i++) h[i] = Math.fround(h[i] + pos[i]);
      for (let b = 0; b < v.depth; b++) {
        const p = `block${b}`;
        layerNorm(h, patches, d, w(`${p}/ln1/gamma`), w(`${p}/ln1/beta`), n);
        linear(n, patches, d, w(`${p}/attn/qkv/kernel`), w(`${p}/attn/qkv/bias`), 3 * d, qkv, false);
        const scores = this.#scores;
        for (let head = 0; head < v.heads; head++) {
          const qo = head * dh, ko = d + head * dh, vo = 2 * d + head * dh;
          for (let i = 0; i < patches; i++) {
            let max = -Infinity;
            for (let j = 0; j < patches; j++) {
              let dot = 0;
              for (let c = 0; c < dh; c++) {
                dot += Math.fround(qkv[i * 3 * d + qo + c] * scale) * qkv[j * 3 * d + ko + c];
              }
              scores[j] = dot;
              if (dot > max) max = dot;
            }
            let sum = 0;
            for (let j = 0; j < patches; j++) sum += scores[j] = Math.exp(scores[j] - max);
            for (let c = 0; c < dh; c++) ctx[i * d + qo + c] = 0;
            for (let j = 0; j < patches; j++) {
              const a = scores[j] / sum;
              for (let c = 0; c < dh; c++) ctx[i * d + qo + c] += a * qkv[j * 3 * d + vo + c];
            }
          }
        }
        linear(ctx, patches, d, w(`${p}/attn/out/kernel`), w(`${p}/attn/out/bias`), d, this.#tmp, false);
        for (let i = 0; i < h.length; i++) h[i] = Math.fround(h[i] + this.#tmp[i]);
        layerNorm(h, patches, d, w(`${p}/ln2/gamma`), w(`${p}/ln2/beta`), n);
        linear(n, patches, d, w(`${p}/mlp/fc1/kernel`), w(`${p}/mlp/fc1/bias`), v.mlpDim, this.#hidden, true);
        linear(
          this.#hidden,
          patches,
          v.mlpDim,
          w(`${p}/mlp/fc2/kernel`),
          w(`${p}/mlp/fc2/bias`),
          d,
          this.#tmp,
          false,
        );
        for (let i = 0; i < h.length; i++) h[i] = Math.fround(h[i] + this.#tmp[i]);
      }
      layerNorm(h, patches, d, w("final/ln/gamma"), w("final/ln/beta"), n);
      const pooled = this.#tmp.subarray(0, d);
      pooled.fill(0);
      for (let i = 0; i < patches; i++) for (let c = 0; c < d; c++) pooled[c] += n[i * d + c];
      for (let c = 0; c < d; c++) pooled[c] /= patches;
      const logits = this.#scores.length >= spec.classes ? this.#scores : new Float64Array(spec.classes);
      linear(pooled, 1, d, w("head/kernel"), w("head/bias"), spec.classes, logits, false);
      let max = -Infinity;
      for (let c = 0; c < spec.classes; c++) if (logits[c] > max) max = logits[c];
      let sum = 0;
      const o = r * spec.classes;
      for (let c = 0; c < spec.classes; c++) sum += out[o + c] = Math.exp(logits[c] - max);
      for (let c = 0; c < spec.classes; c++) out[o + c] /= sum;
    }
  }
}

/** `out[rows × m] = act(input[rows × n] · kernel[n × m] + bias)`, each result rounded to float32. */
function linear(
  input: Vec,
  rows: number,
  n: number,
  kernel: Float32Array,
  bias: Float32Array,
  m: number,
  out: Vec,
  relu: boolean,
) {
  for (let r = 0; r < rows; r++) {
    const o = r * m;
    for (let j = 0; j < m; j++) out[o + j] = 0;
    for (let i = 0; i < n; i++) {
      const a = input[r * n + i];
      if (a === 0) continue;
      const k = i * m;
      for (let j = 0; j < m; j++) out[o + j] += a * kernel[k + j];
    }
    for (let j = 0; j < m; j++) {
      const z = Math.fround(out[o + j] + bias[j]);
      out[o + j] = relu && z < 0 ? 0 : z;
    }
  }
}

/** Layer norm over the last axis (`rows × d`), epsilon 1e-5 as in the tfjs path. */
function layerNorm(x: Vec, rows: number, d: number, gamma: Float32Array, beta: Float32Array, out: Vec) {
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let mean = 0;
    for (let c = 0; c < d; c++) mean += x[o + c];
    mean /= d;
    let variance = 0;
    for (let c = 0; c < d; c++) variance += (x[o + c] - mean) ** 2;
    variance /= d;
    const inv = 1 / Math.sqrt(variance + 1e-5);
    for (let c = 0; c < d; c++) out[o + c] = Math.fround((x[o + c] - mean) * inv * gamma[c] + beta[c]);
  }
}
