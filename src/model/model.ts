/**
 * Trainable models built from ops on `tf.Variable`s (no tfjs layers): an MLP and a tiny vision
 * transformer. One optimizer per model (Adam by default, or SGD with momentum); several models can live in one process (they share the
 * process-wide backend chosen by {@linkcode initBackend}).
 *
 * Inference path: `tf.tidy` + `tf.fused.matMul` (matMul + bias + activation in one kernel), chunks of
 * {@linkcode PREDICT_CHUNK} rows, asynchronous readback (WebGPU cannot read synchronously). For
 * batches of at most {@linkcode JS_FAST_PATH_MAX_BATCH} rows a plain-JavaScript forward pass
 * ({@linkcode MlpForward}, {@linkcode VitForward}) is used instead: at batch 1 it is faster than any
 * tfjs backend (kernel dispatch costs more than the arithmetic of these tiny models).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendName, currentBackend, initBackend } from "./backend.ts";
import { MlpForward } from "./fast_mlp.ts";
import { VitForward } from "./fast_vit.ts";
import { initialWeights, modelHash, type ParamEntry, paramLayout } from "./params.ts";
import { loadModelSpec, type MlpSpec, type ModelSpec, type VitSpec } from "./spec.ts";

/** Rows per tfjs forward call in `predict`/`evaluate` (bounds memory for large inputs). */
export const PREDICT_CHUNK = 1024;
/** Batches up to this size use the JavaScript forward pass (measured fastest for batch 1). */
export const JS_FAST_PATH_MAX_BATCH = 2;

/** A model that can be trained one batch at a time and whose weights are one flat vector. */
export interface TrainableModel {
  readonly spec: ModelSpec;
  readonly paramCount: number;
  /** {@linkcode MODEL_HASH_SIZE} bytes identifying the architecture (see `modelHash`). */
  readonly modelHash: Uint8Array;
  readonly classes: number;
  /** Features per sample. */
  readonly inputSize: number;
  /** The backend the model's variables were created on. */
  readonly backend: BackendName;
  /** A copy of all weights in the documented flat order (see `params.ts`). */
  getWeights(): Float32Array;
  /** Replaces all weights; throws on a wrong length or non-finite values. Keeps the optimizer state. */
  setWeights(w: Float32Array): void;
  /** One optimizer step on `count` rows; returns the mean cross-entropy loss before the step. */
  trainBatch(x: Float32Array, y: Uint8Array, count: number): Promise<number>;
  /** Class probabilities, `count × classes`, row-major. */
  predict(x: Float32Array, count: number): Promise<Float32Array>;
  /** Accuracy and mean cross-entropy on `count` labelled rows. */
  evaluate(x: Float32Array, y: Uint8Array, count: number): Promise<{ accuracy: number; loss: number }>;
  /** The optimizer's current learning rate. */
  readonly learningRate: number;
  /** Changes the learning rate for the following steps (schedules); keeps the optimizer state. */
  setLearningRate(lr: number): void;
  /** Frees the variables and optimizer state. The model is unusable afterwards. */
  dispose(): void;
}

/** Optimizers a model can train with. */
export type OptimizerName = "adam" | "sgd";

/** Options of {@linkcode createModel}. */
export interface CreateModelOptions {
  /** `adam` (default) or `sgd` (SGD with momentum: v ← μ·v + g, w ← w − lr·v). */
  optimizer?: OptimizerName;
  /** Learning rate (default 0.001 for Adam, 0.05 for SGD). */
  learningRate?: number;
  /** Momentum μ of `sgd` (default 0.9; 0 = plain SGD). Ignored by Adam. */
  momentum?: number;
  /** Use the JavaScript MLP forward pass for tiny batches (default true; tests turn it off). */
  jsFastPath?: boolean;
}

/**
 * Builds a model from a spec (or spec id in `models/`) with its seeded initial weights, on the current
 * backend (initialising `auto` first if none was chosen).
 */
export async function createModel(
  specOrId: ModelSpec | string,
  options: CreateModelOptions = {},
): Promise<TrainableModel> {
  const spec = typeof specOrId === "string" ? await loadModelSpec(specOrId) : specOrId;
  const info = currentBackend() ?? await initBackend("auto");
  return new TfModel(spec, info.name, options);
}

class TfModel implements TrainableModel {
  readonly spec: ModelSpec;
  readonly paramCount: number;
  readonly modelHash: Uint8Array;
  readonly classes: number;
  readonly inputSize: number;
  readonly backend: BackendName;
  readonly #layout: ParamEntry[];
  readonly #vars: tf.Variable[];
  readonly #byName: Map<string, tf.Variable>;
  readonly #optimizer: tf.AdamOptimizer | tf.MomentumOptimizer;
  #learningRate: number;
  readonly #sgd: boolean;
  readonly #jsFastPath: boolean;
  /** CPU copy of the weights; undefined when the variables changed since it was taken. */
  #mirror: Float32Array | undefined;
  #fast: MlpForward | VitForward | undefined;
  #disposed = false;

  constructor(spec: ModelSpec, backend: BackendName, options: CreateModelOptions) {
    this.spec = spec;
    this.backend = backend;
    this.#layout = paramLayout(spec);
    const last = this.#layout[this.#layout.length - 1];
    this.paramCount = last.offset + last.size;
    this.modelHash = modelHash(spec);
    this.classes = spec.classes;
    this.inputSize = spec.input;
    this.#jsFastPath = options.jsFastPath ?? true;
    const w = initialWeights(spec);
    this.#vars = this.#layout.map((p) =>
      tf.tidy(() => tf.variable(tf.tensor(w.subarray(p.offset, p.offset + p.size), p.shape, "float32"), true))
    );
    this.#byName = new Map(this.#layout.map((p, i) => [p.name, this.#vars[i]]));
    this.#mirror = w;
    const optimizer = options.optimizer ?? "adam";
    if (optimizer !== "adam" && optimizer !== "sgd") {
      throw new RangeError(`Cannot create ${spec.id}: unknown optimizer "${optimizer}" (use adam or sgd)`);
    }
    const lr = options.learningRate ?? (optimizer === "sgd" ? 0.05 : 0.001);
    checkRate(lr);
    const momentum = options.momentum ?? 0.9;
    if (!(momentum >= 0 && momentum < 1)) {
      throw new RangeError(`Cannot create ${spec.id}: momentum ${momentum} is not in [0, 1)`);
    }
    this.#learningRate = lr;
    this.#sgd = optimizer === "sgd";
    this.#optimizer = optimizer === "sgd" ? tf.train.momentum(lr, momentum) : tf.train.adam(lr);
  }

  get learningRate(): number {
    return this.#learningRate;
  }

  setLearningRate(lr: number): void {
    this.#alive();
    checkRate(lr);
    if (lr === this.#learningRate) return;
    this.#learningRate = lr;
    // (`instanceof` cannot tell tfjs optimizers apart: Optimizer overrides Symbol.hasInstance.)
    if (this.#sgd) (this.#optimizer as tf.MomentumOptimizer).setLearningRate(lr);
    // Adam reads its (protected) learningRate field at every step.
    else (this.#optimizer as unknown as { learningRate: number }).learningRate = lr;
  }

  getWeights(): Float32Array {
    this.#alive();
    if (!this.#mirror) {
      if (tf.getBackend() === "webgpu") {
        throw new Error("Bug: weights on webgpu must be read back asynchronously before getWeights()");
      }
      this.#mirror = this.#readSync();
    }
    return this.#mirror.slice();
  }

  setWeights(w: Float32Array): void {
    this.#alive();
    if (!(w instanceof Float32Array) || w.length !== this.paramCount) {
      throw new RangeError(
        `Cannot set weights of ${this.spec.id}: got ${w?.length} floats, expected ${this.paramCount}`,
      );
    }
    for (let i = 0; i < w.length; i++) {
      if (!Number.isFinite(w[i])) {
        throw new RangeError(
          `Cannot set weights of ${this.spec.id}: value ${w[i]} at index ${i} is not finite`,
        );
      }
    }
    tf.tidy(() => {
      this.#layout.forEach((p, i) =>
        this.#vars[i].assign(tf.tensor(w.subarray(p.offset, p.offset + p.size), p.shape))
      );
    });
    this.#mirror = w.slice();
    this.#fast = undefined;
  }

  async trainBatch(x: Float32Array, y: Uint8Array, count: number): Promise<number> {
    this.#alive();
    this.#checkInput(x, count, "trainBatch");
    if (y.length < count) throw new RangeError(`trainBatch: ${y.length} labels for ${count} rows`);
    const labels = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      if (y[i] >= this.classes) {
        throw new RangeError(`trainBatch: label ${y[i]} at row ${i} is not below ${this.classes}`);
      }
      labels[i] = y[i];
    }
    const cost = this.#optimizer.minimize(
      () => {
        const xs = tf.tensor2d(x.subarray(0, count * this.inputSize), [count, this.inputSize]);
        const oneHot = tf.oneHot(tf.tensor1d(labels, "int32"), this.classes);
        return tf.losses.softmaxCrossEntropy(oneHot, this.#forward(xs)) as tf.Scalar;
      },
      true,
      this.#vars,
    );
    this.#mirror = undefined;
    this.#fast = undefined;
    const loss = (await cost!.data())[0];
    cost!.dispose();
    if (tf.getBackend() === "webgpu") this.#mirror = await this.#readAsync();
    return loss;
  }

  async predict(x: Float32Array, count: number): Promise<Float32Array> {
    this.#alive();
    this.#checkInput(x, count, "predict");
    const out = new Float32Array(count * this.classes);
    if (this.#jsFastPath && count <= JS_FAST_PATH_MAX_BATCH) {
      if (!this.#fast) {
        this.#mirror ??= tf.getBackend() === "webgpu" ? await this.#readAsync() : this.#readSync();
        this.#fast = this.spec.kind === "mlp"
          ? new MlpForward(this.spec, this.#mirror)
          : new VitForward(this.spec, this.#mirror);
      }
      this.#fast.run(x, count, out);
      return out;
    }
    for (let start = 0; start < count; start += PREDICT_CHUNK) {
      const n = Math.min(PREDICT_CHUNK, count - start);
      const probs = tf.tidy(() => {
        const xs = tf.tensor2d(x.subarray(start * this.inputSize, (start + n) * this.inputSize), [
          n,
          this.inputSize,
        ]);
        return tf.softmax(this.#forward(xs));
      });
      try {
        out.set(await probs.data() as Float32Array, start * this.classes);
      } finally {
        probs.dispose();
      }
    }
    return out;
  }

  async evaluate(x: Float32Array, y: Uint8Array, count: number): Promise<{ accuracy: number; loss: number }> {
    if (y.length < count) throw new RangeError(`evaluate: ${y.length} labels for ${count} rows`);
    if (count === 0) return { accuracy: 0, loss: 0 };
    const probs = await this.predict(x, count);
    let correct = 0, loss = 0;
    for (let r = 0; r < count; r++) {
      const row = probs.subarray(r * this.classes, (r + 1) * this.classes);
      let best = 0;
      for (let c = 1; c < this.classes; c++) if (row[c] > row[best]) best = c;
      if (best === y[r]) correct++;
      loss -= Math.log(Math.max(row[y[r]] ?? 0, 1e-7));
    }
    return { accuracy: correct / count, loss: loss / count };
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#optimizer.dispose();
    // MomentumOptimizer.dispose() forgets the learning-rate scalar of its SGD base class.
    if (this.#sgd) (this.#optimizer as unknown as { c?: tf.Scalar }).c?.dispose();
    for (const v of this.#vars) v.dispose();
  }

  #forward(x: tf.Tensor2D): tf.Tensor2D {
    return this.spec.kind === "mlp"
      ? mlpForward(this.spec, this.#vars, x)
      : vitForward(this.spec, this.#byName, x);
  }

  #readSync(): Float32Array {
    const out = new Float32Array(this.paramCount);
    this.#layout.forEach((p, i) => out.set(this.#vars[i].dataSync() as Float32Array, p.offset));
    return out;
  }

  async #readAsync(): Promise<Float32Array> {
    const out = new Float32Array(this.paramCount);
    const parts = await Promise.all(this.#vars.map((v) => v.data()));
    this.#layout.forEach((p, i) => out.set(parts[i] as Float32Array, p.offset));
    return out;
  }

  #checkInput(x: Float32Array, count: number, what: string): void {
    if (!Number.isInteger(count) || count < 0 || x.length < count * this.inputSize) {
      throw new RangeError(
        `${what}: ${x.length} floats cannot hold ${count} rows of ${this.inputSize} (${this.spec.id})`,
      );
    }
  }

  #alive(): void {
    if (this.#disposed) throw new Error(`Bug: model ${this.spec.id} used after dispose()`);
  }
}

function checkRate(lr: number): void {
  if (!(Number.isFinite(lr) && lr > 0)) {
    throw new RangeError(`Learning rate ${lr} is not a positive finite number`);
  }
}

/** Logits of an MLP: fused matMul + bias + activation per layer. */
function mlpForward(spec: MlpSpec, vars: tf.Variable[], x: tf.Tensor2D): tf.Tensor2D {
  let h: tf.Tensor2D = x;
  const layers = vars.length / 2;
  for (let l = 0; l < layers; l++) {
    h = tf.fused.matMul({
      a: h,
      b: vars[2 * l] as tf.Tensor2D,
      bias: vars[2 * l + 1],
      activation: l === layers - 1 ? "linear" : spec.mlp.activation,
    }) as tf.Tensor2D;
  }
  return h;
}

function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).mul(tf.rsqrt(variance.add(1e-5))).mul(gamma).add(beta);
}

/**
 * Logits of the vision transformer: patches → linear embedding + position embedding → `depth`
 * pre-norm blocks (multi-head self-attention, MLP, residuals) → layer norm → mean over patches → head.
 */
function vitForward(spec: VitSpec, p: Map<string, tf.Variable>, x: tf.Tensor2D): tf.Tensor2D {
  const v = spec.vit;
  const batch = x.shape[0];
  const grid = v.imageSize / v.patchSize;
  const patches = grid * grid;
  const d = v.dim, heads = v.heads, dh = d / heads;
  const get = (name: string) => p.get(name)! as tf.Tensor;
  const tokens = x.reshape([batch, grid, v.patchSize, grid, v.patchSize]).transpose([0, 1, 3, 2, 4])
    .reshape([batch * patches, v.patchSize * v.patchSize]) as tf.Tensor2D;
  let h = tf.fused.matMul({ a: tokens, b: get("patch/kernel") as tf.Tensor2D, bias: get("patch/bias") })
    .reshape([batch, patches, d]).add(get("pos")).reshape([batch * patches, d]) as tf.Tensor2D;
  const scale = 1 / Math.sqrt(dh);
  for (let b = 0; b < v.depth; b++) {
    const n = `block${b}`;
    const n1 = layerNorm(h, get(`${n}/ln1/gamma`), get(`${n}/ln1/beta`));
    // Heads are column slices of [q | k | v]; slicing + reshaping needs no transposes (slow on wasm).
    const qkv = tf.fused.matMul({
      a: n1,
      b: get(`${n}/attn/qkv/kernel`) as tf.Tensor2D,
      bias: get(`${n}/attn/qkv/bias`),
    });
    const column = (start: number) =>
      qkv.slice([0, start], [batch * patches, dh]).reshape([batch, patches, dh]) as tf.Tensor3D;
    const contexts: tf.Tensor3D[] = [];
    for (let head = 0; head < heads; head++) {
      const q = column(head * dh).mul(scale) as tf.Tensor3D;
      const k = column(d + head * dh);
      const val = column(2 * d + head * dh);
      contexts.push(tf.matMul(tf.softmax(tf.matMul(q, k, false, true)), val));
    }
    const ctx = (heads === 1 ? contexts[0] : tf.concat(contexts, 2)).reshape([
      batch * patches,
      d,
    ]) as tf.Tensor2D;
    h = h.add(
      tf.fused.matMul({
        a: ctx,
        b: get(`${n}/attn/out/kernel`) as tf.Tensor2D,
        bias: get(`${n}/attn/out/bias`),
      }),
    );
    const n2 = layerNorm(h, get(`${n}/ln2/gamma`), get(`${n}/ln2/beta`));
    const hidden = tf.fused.matMul({
      a: n2,
      b: get(`${n}/mlp/fc1/kernel`) as tf.Tensor2D,
      bias: get(`${n}/mlp/fc1/bias`),
      activation: "relu",
    });
    h = h.add(
      tf.fused.matMul({
        a: hidden,
        b: get(`${n}/mlp/fc2/kernel`) as tf.Tensor2D,
        bias: get(`${n}/mlp/fc2/bias`),
      }),
    );
  }
  const pooled = layerNorm(h, get("final/ln/gamma"), get("final/ln/beta")).reshape([batch, patches, d]).mean(
    1,
  ) as tf.Tensor2D;
  return tf.fused.matMul({
    a: pooled,
    b: get("head/kernel") as tf.Tensor2D,
    bias: get("head/bias"),
  }) as tf.Tensor2D;
}
