/**
 * Forward passes (logits) of the token and sequence models on tfjs: the vision transformer, the
 * sequence transformer (sharing the ViT's pre-norm blocks) and the 1-D CNN. `train` selects which
 * gradients the dense layers produce.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { dense, type DenseGrads, layerNorm } from "./_layers.ts";
import type { Cnn1dSpec, TransformerSpec, VitSpec } from "./spec.ts";

/**
 * Logits of the vision transformer: patches → linear embedding + position embedding → `depth`
 * pre-norm blocks (multi-head self-attention, MLP, residuals) → layer norm → mean over patches → head.
 * Only functional ops (no chained tensor methods), so inference needs nothing beyond tfjs-core.
 */
export function vitForward(
  spec: VitSpec,
  p: Map<string, tf.Tensor>,
  x: tf.Tensor2D,
  train: boolean,
): tf.Tensor2D {
  const v = spec.vit;
  const batch = x.shape[0];
  const grid = v.imageSize / v.patchSize;
  const patches = grid * grid;
  const tokens = tf.reshape(
    tf.transpose(tf.reshape(x, [batch, grid, v.patchSize, grid, v.patchSize]), [0, 1, 3, 2, 4]),
    [batch * patches, v.patchSize * v.patchSize],
  ) as tf.Tensor2D;
  const get = (name: string) => p.get(name)! as tf.Tensor;
  const embedded = tf.add(
    tf.reshape(dense(tokens, get("patch/kernel"), get("patch/bias"), "linear", train ? "params" : "none"), [
      batch,
      patches,
      v.dim,
    ]),
    get("pos"),
  );
  const h = encoderBlocks(p, tf.reshape(embedded, [batch * patches, v.dim]), batch, patches, v, train);
  const pooled = tf.mean(tf.reshape(h, [batch, patches, v.dim]), 1) as tf.Tensor2D;
  return dense(pooled, get("head/kernel"), get("head/bias"), "linear", train ? "all" : "none");
}

/**
 * Logits of the sequence transformer: the time-major row `[steps × channels]` is cut into tokens of
 * `patch` consecutive steps (a plain reshape) → linear embedding (+ a learned class token with
 * `pooling: cls`) + position embedding → the ViT's pre-norm blocks → layer norm → mean over tokens or
 * the class token → head.
 */
export function sequenceForward(
  spec: TransformerSpec,
  p: Map<string, tf.Tensor>,
  x: tf.Tensor2D,
  train: boolean,
): tf.Tensor2D {
  const t = spec.transformer;
  const { steps, channels } = spec.shape as { steps: number; channels: number };
  const batch = x.shape[0];
  const count = steps / t.patch;
  const get = (name: string) => p.get(name)! as tf.Tensor;
  const tokens = tf.reshape(x, [batch * count, t.patch * channels]) as tf.Tensor2D;
  let embedded: tf.Tensor = tf.reshape(
    dense(tokens, get("patch/kernel"), get("patch/bias"), "linear", train ? "params" : "none"),
    [batch, count, t.dim],
  );
  const cls = t.pooling === "cls";
  if (cls) embedded = tf.concat([tf.tile(tf.reshape(get("cls"), [1, 1, t.dim]), [batch, 1, 1]), embedded], 1);
  const n = count + (cls ? 1 : 0);
  embedded = tf.add(embedded, get("pos"));
  const h = tf.reshape(encoderBlocks(p, tf.reshape(embedded, [batch * n, t.dim]), batch, n, t, train), [
    batch,
    n,
    t.dim,
  ]);
  const pooled = cls ? tf.reshape(tf.slice(h, [0, 0, 0], [batch, 1, t.dim]), [batch, t.dim]) : tf.mean(h, 1);
  return dense(pooled as tf.Tensor2D, get("head/kernel"), get("head/bias"), "linear", train ? "all" : "none");
}

/** `depth` pre-norm blocks and the final layer norm over `batch × tokens` rows of width `dim`. */
function encoderBlocks(
  p: Map<string, tf.Tensor>,
  input: tf.Tensor,
  batch: number,
  tokens: number,
  v: { dim: number; depth: number; heads: number },
  train: boolean,
): tf.Tensor2D {
  const g: DenseGrads = train ? "all" : "none";
  const d = v.dim, heads = v.heads, dh = d / heads;
  const get = (name: string) => p.get(name)! as tf.Tensor;
  let h = input as tf.Tensor2D;
  const scale = 1 / Math.sqrt(dh);
  for (let b = 0; b < v.depth; b++) {
    const n = `block${b}`;
    const n1 = layerNorm(h, get(`${n}/ln1/gamma`), get(`${n}/ln1/beta`));
    // Heads are column slices of [q | k | v]; slicing + reshaping needs no transposes (slow on wasm).
    const qkv = dense(n1, get(`${n}/attn/qkv/kernel`), get(`${n}/attn/qkv/bias`), "linear", g);
    const column = (start: number) =>
      tf.reshape(tf.slice(qkv, [0, start], [batch * tokens, dh]), [batch, tokens, dh]) as tf.Tensor3D;
    const contexts: tf.Tensor3D[] = [];
    for (let head = 0; head < heads; head++) {
      const q = tf.mul(column(head * dh), scale) as tf.Tensor3D;
      const k = column(d + head * dh);
      const val = column(2 * d + head * dh);
      contexts.push(tf.matMul(tf.softmax(tf.matMul(q, k, false, true)), val));
    }
    const ctx = tf.reshape(heads === 1 ? contexts[0] : tf.concat(contexts, 2), [
      batch * tokens,
      d,
    ]) as tf.Tensor2D;
    h = tf.add(h, dense(ctx, get(`${n}/attn/out/kernel`), get(`${n}/attn/out/bias`), "linear", g));
    const n2 = layerNorm(h, get(`${n}/ln2/gamma`), get(`${n}/ln2/beta`));
    const hidden = dense(n2, get(`${n}/mlp/fc1/kernel`), get(`${n}/mlp/fc1/bias`), "relu", g);
    h = tf.add(h, dense(hidden, get(`${n}/mlp/fc2/kernel`), get(`${n}/mlp/fc2/bias`), "linear", g));
  }
  return layerNorm(h, get("final/ln/gamma"), get("final/ln/beta"));
}

/**
 * Logits of the 1-D CNN: per layer a `kernel`-wide convolution with same (zero) padding, written as
 * im2col (`kernel` shifted slices side by side) + one fused matMul with ReLU, so it trains on every
 * backend with the same kernels as the MLP; then a max-pool of width `pool`; finally the mean over
 * time (or the whole map, `pooling: flatten`) and a linear head.
 */
export function cnn1dForward(
  spec: Cnn1dSpec,
  p: Map<string, tf.Tensor>,
  x: tf.Tensor2D,
  train: boolean,
): tf.Tensor2D {
  const c = spec.cnn1d;
  const { steps, channels } = spec.shape as { steps: number; channels: number };
  const batch = x.shape[0];
  const pad = (c.kernel - 1) / 2;
  let h: tf.Tensor = tf.reshape(x, [batch, steps, channels]);
  let width = steps, cin = channels;
  c.filters.forEach((f, l) => {
    const padded = pad > 0 ? tf.pad(h, [[0, 0], [pad, pad], [0, 0]]) : h;
    const taps = Array.from({ length: c.kernel }, (_, k) => tf.slice(padded, [0, k, 0], [batch, width, cin]));
    const columns = tf.reshape(taps.length === 1 ? taps[0] : tf.concat(taps, 2), [
      batch * width,
      c.kernel * cin,
    ]);
    const z = dense(
      columns as tf.Tensor2D,
      p.get(`conv${l}/kernel`)!,
      p.get(`conv${l}/bias`)!,
      "relu",
      train ? (l === 0 ? "params" : "all") : "none",
    );
    h = c.pool > 1
      ? tf.max(tf.reshape(z, [batch, width / c.pool, c.pool, f]), 2)
      : tf.reshape(z, [batch, width, f]);
    width /= c.pool;
    cin = f;
  });
  const pooled =
    (c.pooling === "flatten" ? tf.reshape(h, [batch, width * cin]) : tf.mean(h, 1)) as tf.Tensor2D;
  return dense(pooled, p.get("head/kernel")!, p.get("head/bias")!, "linear", train ? "all" : "none");
}
