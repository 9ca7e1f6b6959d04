/**
 * The parameters of a model as data: their names, shapes and order in the flat weight vector, the
 * seeded initialisation and the model hash. Pure (no tfjs): the same spec and seed give bit-identical
 * initial weights on every device and backend because they are computed here, in JavaScript doubles
 * rounded once to float32, from `SeededRandom` (only `+ - * /` and `Math.sqrt`, which IEEE 754 defines
 * exactly).
 *
 * Flat weight order (the order of {@linkcode paramLayout}; each tensor row-major):
 *
 * - mlp: `dense0/kernel [input, h0]`, `dense0/bias [h0]`, … , `denseN/kernel [hN-1, classes]`,
 *   `denseN/bias [classes]`.
 * - vit (P = (imageSize/patchSize)² patches, S = patchSize², D = dim, M = mlpDim):
 *   `patch/kernel [S, D]`, `patch/bias [D]`, `pos [P, D]`, then per block b:
 *   `block{b}/ln1/gamma [D]`, `block{b}/ln1/beta [D]`, `block{b}/attn/qkv/kernel [D, 3D]`,
 *   `block{b}/attn/qkv/bias [3D]`, `block{b}/attn/out/kernel [D, D]`, `block{b}/attn/out/bias [D]`,
 *   `block{b}/ln2/gamma [D]`, `block{b}/ln2/beta [D]`, `block{b}/mlp/fc1/kernel [D, M]`,
 *   `block{b}/mlp/fc1/bias [M]`, `block{b}/mlp/fc2/kernel [M, D]`, `block{b}/mlp/fc2/bias [D]`;
 *   then `final/ln/gamma [D]`, `final/ln/beta [D]`, `head/kernel [D, classes]`, `head/bias [classes]`.
 *
 * The qkv kernel's columns are `[q | k | v]`, each split into heads of `D / heads` consecutive columns.
 *
 * @module
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { SeededRandom } from "../time.ts";
import type { ModelSpec } from "./spec.ts";

/** Bytes of the model hash: truncated SHA-256 of (id, version, parameter names and shapes). */
export const MODEL_HASH_SIZE = 8;

/** How one parameter tensor starts out. */
export type ParamInit =
  | { kind: "glorot" } // uniform ±sqrt(6 / (fanIn + fanOut)) with fanIn, fanOut = shape[0], shape[1]
  | { kind: "uniform"; limit: number }
  | { kind: "zeros" }
  | { kind: "ones" };

/** One parameter tensor and where it lives in the flat vector. */
export interface ParamEntry {
  name: string;
  shape: number[];
  size: number;
  /** Offset in the flat vector, in floats. */
  offset: number;
  init: ParamInit;
}

/** The parameter list of `spec`, in flat-vector order. */
export function paramLayout(spec: ModelSpec): ParamEntry[] {
  const out: ParamEntry[] = [];
  let offset = 0;
  const add = (name: string, shape: number[], init: ParamInit) => {
    const size = shape.reduce((a, b) => a * b, 1);
    out.push({ name, shape, size, offset, init });
    offset += size;
  };
  if (spec.kind === "mlp") {
    const widths = [spec.input, ...spec.mlp.hidden, spec.classes];
    for (let l = 0; l + 1 < widths.length; l++) {
      add(`dense${l}/kernel`, [widths[l], widths[l + 1]], { kind: "glorot" });
      add(`dense${l}/bias`, [widths[l + 1]], { kind: "zeros" });
    }
    return out;
  }
  const v = spec.vit;
  const d = v.dim;
  const patches = (v.imageSize / v.patchSize) ** 2;
  add("patch/kernel", [v.patchSize * v.patchSize, d], { kind: "glorot" });
  add("patch/bias", [d], { kind: "zeros" });
  add("pos", [patches, d], { kind: "uniform", limit: 0.05 });
  for (let b = 0; b < v.depth; b++) {
    const p = `block${b}`;
    add(`${p}/ln1/gamma`, [d], { kind: "ones" });
    add(`${p}/ln1/beta`, [d], { kind: "zeros" });
    add(`${p}/attn/qkv/kernel`, [d, 3 * d], { kind: "glorot" });
    add(`${p}/attn/qkv/bias`, [3 * d], { kind: "zeros" });
    add(`${p}/attn/out/kernel`, [d, d], { kind: "glorot" });
    add(`${p}/attn/out/bias`, [d], { kind: "zeros" });
    add(`${p}/ln2/gamma`, [d], { kind: "ones" });
    add(`${p}/ln2/beta`, [d], { kind: "zeros" });
    add(`${p}/mlp/fc1/kernel`, [d, v.mlpDim], { kind: "glorot" });
    add(`${p}/mlp/fc1/bias`, [v.mlpDim], { kind: "zeros" });
    add(`${p}/mlp/fc2/kernel`, [v.mlpDim, d], { kind: "glorot" });
    add(`${p}/mlp/fc2/bias`, [d], { kind: "zeros" });
  }
  add("final/ln/gamma", [d], { kind: "ones" });
  add("final/ln/beta", [d], { kind: "zeros" });
  add("head/kernel", [d, spec.classes], { kind: "glorot" });
  add("head/bias", [spec.classes], { kind: "zeros" });
  return out;
}

/** Total parameter count of `spec`. */
export function paramCount(spec: ModelSpec): number {
  const layout = paramLayout(spec);
  const last = layout[layout.length - 1];
  return last.offset + last.size;
}

/**
 * The seeded initial weights of `spec` as one flat vector. Tensors are filled in layout order from one
 * `SeededRandom(spec.seed)`; zeros and ones draw nothing.
 */
export function initialWeights(spec: ModelSpec): Float32Array {
  const layout = paramLayout(spec);
  const out = new Float32Array(paramCount(spec));
  const rng = new SeededRandom(spec.seed);
  for (const p of layout) {
    const slice = out.subarray(p.offset, p.offset + p.size);
    switch (p.init.kind) {
      case "zeros":
        break;
      case "ones":
        slice.fill(1);
        break;
      case "glorot":
      case "uniform": {
        const limit = p.init.kind === "uniform" ? p.init.limit : Math.sqrt(6 / (p.shape[0] + p.shape[1]));
        for (let i = 0; i < slice.length; i++) slice[i] = (2 * rng.next() - 1) * limit;
        break;
      }
    }
  }
  return out;
}

/**
 * The model hash: first {@linkcode MODEL_HASH_SIZE} bytes of SHA-256 over
 * `"agent-model\n" + id + "\n" + version + "\n"` and one `name:shape` line per parameter (e.g.
 * `dense0/kernel:784x32`). It travels in every datagram and checkpoint, so weights of a different
 * model are rejected. The seed is not part of it: it only matters for the start.
 */
export function modelHash(spec: ModelSpec): Uint8Array {
  const text = `agent-model\n${spec.id}\n${spec.version}\n` +
    paramLayout(spec).map((p) => `${p.name}:${p.shape.join("x")}\n`).join("");
  return sha256(new TextEncoder().encode(text)).slice(0, MODEL_HASH_SIZE);
}

/** Lower-case hex of bytes (for messages and logs). */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
