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
 * - transformer (T = steps / patch tokens, C = channels): `patch/kernel [patch·C, D]`, `patch/bias [D]`,
 *   `cls [1, D]` (only with `pooling: cls`), `pos [T (+1 with cls), D]`, then the blocks, final norm and
 *   head exactly as the ViT.
 * - cnn1d: per layer l `conv{l}/kernel [kernel·Cin, Cout]` (row `k·Cin + c` = tap k of input channel c),
 *   `conv{l}/bias [Cout]`; then `head/kernel [Clast (× remaining steps with pooling: flatten), classes]`,
 *   `head/bias [classes]`.
 *
 * The qkv kernel's columns are `[q | k | v]`, each split into heads of `D / heads` consecutive columns.
 *
 * @module
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { SeededRandom } from "../time.ts";
import type { ModelSpec } from "./spec.ts";

/** Bytes of the model hash: truncated SHA-256 of (id, version, parameter names and shapes). */
export { MODEL_HASH_SIZE } from "../wire/mod.ts";
import { MODEL_HASH_SIZE } from "../wire/mod.ts";

/** How one parameter tensor starts out. */
export type ParamInit =
  // uniform ±sqrt(6 / (fanIn + fanOut)); fanIn, fanOut default to shape[0], shape[1]
  | { kind: "glorot"; fanIn?: number; fanOut?: number }
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
  switch (spec.kind) {
    case "mlp": {
      const widths = [spec.input, ...spec.mlp.hidden, spec.classes];
      for (let l = 0; l + 1 < widths.length; l++) {
        add(`dense${l}/kernel`, [widths[l], widths[l + 1]], { kind: "glorot" });
        add(`dense${l}/bias`, [widths[l + 1]], { kind: "zeros" });
      }
      return out;
    }
    case "cnn1d": {
      const c = spec.cnn1d;
      let cin = spec.shape.kind === "sequence" ? spec.shape.channels : 1;
      c.filters.forEach((f, l) => {
        add(`conv${l}/kernel`, [c.kernel * cin, f], {
          kind: "glorot",
          fanIn: c.kernel * cin,
          fanOut: c.kernel * f,
        });
        add(`conv${l}/bias`, [f], { kind: "zeros" });
        cin = f;
      });
      const width = (spec.shape.kind === "sequence" ? spec.shape.steps : 1) / c.pool ** c.filters.length;
      add("head/kernel", [c.pooling === "flatten" ? width * cin : cin, spec.classes], { kind: "glorot" });
      add("head/bias", [spec.classes], { kind: "zeros" });
      return out;
    }
    case "vit": {
      const v = spec.vit;
      add("patch/kernel", [v.patchSize * v.patchSize, v.dim], { kind: "glorot" });
      add("patch/bias", [v.dim], { kind: "zeros" });
      add("pos", [(v.imageSize / v.patchSize) ** 2, v.dim], { kind: "uniform", limit: 0.05 });
      addBlocks(add, v);
      add("head/kernel", [v.dim, spec.classes], { kind: "glorot" });
      add("head/bias", [spec.classes], { kind: "zeros" });
      return out;
    }
    case "transformer": {
      const t = spec.transformer;
      const s = spec.shape as { steps: number; channels: number };
      add("patch/kernel", [t.patch * s.channels, t.dim], { kind: "glorot" });
      add("patch/bias", [t.dim], { kind: "zeros" });
      const cls = t.pooling === "cls" ? 1 : 0;
      if (cls) add("cls", [1, t.dim], { kind: "uniform", limit: 0.05 });
      add("pos", [s.steps / t.patch + cls, t.dim], { kind: "uniform", limit: 0.05 });
      addBlocks(add, t);
      add("head/kernel", [t.dim, spec.classes], { kind: "glorot" });
      add("head/bias", [spec.classes], { kind: "zeros" });
      return out;
    }
  }
}

/** The pre-norm blocks and final layer norm shared by the ViT and the sequence transformer. */
function addBlocks(
  add: (name: string, shape: number[], init: ParamInit) => void,
  v: { dim: number; depth: number; mlpDim: number },
): void {
  const d = v.dim;
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
        const limit = p.init.kind === "uniform"
          ? p.init.limit
          : Math.sqrt(6 / ((p.init.fanIn ?? p.shape[0]) + (p.init.fanOut ?? p.shape[1])));
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
 * `dense0/kernel:784x32`), then — only where they exist, so the hashes of the older MLP and ViT specs
 * are unchanged — a line with the input shape and architecture of a `transformer:`/`cnn1d:` spec
 * (pooling, kernel and pool widths are not visible in the parameter shapes) and a line with the
 * input transform (`scale`, `mean`, `std`): weights trained on differently normalised inputs must not
 * mix. It travels in every datagram and checkpoint, so weights of a different model are rejected. The
 * seed, the range check and the class names are not part of it: they do not change what the weights mean.
 */
export function modelHash(spec: ModelSpec): Uint8Array {
  let text = `agent-model\n${spec.id}\n${spec.version}\n` +
    paramLayout(spec).map((p) => `${p.name}:${p.shape.join("x")}\n`).join("");
  if (spec.kind === "transformer" || spec.kind === "cnn1d") {
    text += `input:${JSON.stringify(spec.shape)}\narch:${
      JSON.stringify(spec.kind === "cnn1d" ? spec.cnn1d : spec.transformer)
    }\n`;
  }
  const n = spec.norm;
  if (n.scale !== undefined || n.mean !== undefined || n.std !== undefined) {
    text += `norm:${JSON.stringify({ scale: n.scale, mean: n.mean, std: n.std })}\n`;
  }
  return sha256(new TextEncoder().encode(text)).slice(0, MODEL_HASH_SIZE);
}

/** Lower-case hex of bytes (for messages and logs); from src/bytes.ts, exported here for the model's users. */
export { toHex } from "../bytes.ts";
