/**
 * Trainable models built from ops on `tf.Variable`s (no tfjs layers): an MLP, a tiny vision
 * transformer, a tiny sequence transformer and a 1-D CNN (the last two always run on tfjs). One optimizer per model (Adam by default, or SGD with momentum); several models can live in one process (they share the
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
import * as tf from "@tensorflow/tfjs-core";
import { type BackendName, currentBackend, initBackend } from "./backend.ts";
import { MlpForward } from "./_fast_mlp.ts";
import { VitForward } from "./_fast_vit.ts";
import { cnn1dForward, sequenceForward, vitForward } from "./_forward.ts";
import { dense } from "./_layers.ts";
import { initialWeights, modelHash, type ParamEntry, paramLayout } from "./params.ts";
import { loadModelSpec, type MlpSpec, type ModelSpec, type VitSpec } from "./spec.ts";

export { denseOptions } from "./_layers.ts";

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
  /**
   * All weights as one 1-D variable in the documented flat order. The forward pass splits it into the
   * parameter tensors (one SplitV; its gradient is one Concat), so Adam updates one tensor instead of
   * one per parameter: ~10 kernels per step instead of ~10 × 26 for the ViT.
   */
  readonly #weights: tf.Variable;
  readonly #optimizer: tf.AdamOptimizer | tf.MomentumOptimizer;
  #learningRate: number;
  readonly #sgd: boolean;
  readonly #jsFastPath: boolean;
  /** CPU copy of the weights; undefined when the variable changed since it was taken. */
  #mirror: Float32Array | undefined;
  /** Parameter tensors split off the variable for inference; undefined when the weights changed. */
  #inferenceParams: tf.Tensor[] | undefined;
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
    this.#weights = tf.tidy(() => tf.variable(tf.tensor1d(w, "float32"), true));
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
      this.#mirror = (this.#weights.dataSync() as Float32Array).slice();
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
    tf.tidy(() => this.#weights.assign(tf.tensor1d(w, "float32")));
    this.#changed();
    this.#mirror = w.slice();
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
    await loadGradients();
    const cost = this.#optimizer.minimize(
      () => {
        const xs = tf.tensor2d(x.subarray(0, count * this.inputSize), [count, this.inputSize]);
        const oneHot = tf.oneHot(tf.tensor1d(labels, "int32"), this.classes);
        // Mean cross-entropy; tf.losses.softmaxCrossEntropy computes the same with ~20 more kernels.
        const logProbs = tf.logSoftmax(this.#forward(this.#split(), xs, true));
        return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logProbs), 1))) as tf.Scalar;
      },
      true,
      [this.#weights],
    );
    this.#changed();
    const loss = (await cost!.data())[0];
    cost!.dispose();
    if (tf.getBackend() === "webgpu") this.#mirror = (await this.#weights.data() as Float32Array).slice();
    return loss;
  }

  async predict(x: Float32Array, count: number): Promise<Float32Array> {
    this.#alive();
    this.#checkInput(x, count, "predict");
    const out = new Float32Array(count * this.classes);
    const kind = this.spec.kind;
    if (this.#jsFastPath && count <= JS_FAST_PATH_MAX_BATCH && (kind === "mlp" || kind === "vit")) {
      if (!this.#fast) {
        this.#mirror ??= tf.getBackend() === "webgpu"
          ? (await this.#weights.data() as Float32Array).slice()
          : (this.#weights.dataSync() as Float32Array).slice();
        this.#fast = this.spec.kind === "mlp"
          ? new MlpForward(this.spec, this.#mirror)
          : new VitForward(this.spec as VitSpec, this.#mirror);
      }
      this.#fast.run(x, count, out);
      return out;
    }
    const params = this.#inferenceParams ??= tf.tidy(() => this.#split().map((t) => tf.keep(t)));
    for (let start = 0; start < count; start += PREDICT_CHUNK) {
      const n = Math.min(PREDICT_CHUNK, count - start);
      const probs = tf.tidy(() => {
        const rows = x.subarray(start * this.inputSize, (start + n) * this.inputSize);
        return tf.softmax(this.#forward(params, tf.tensor2d(rows, [n, this.inputSize])));
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
    this.#changed();
    this.#optimizer.dispose();
    // MomentumOptimizer.dispose() forgets the learning-rate scalar of its SGD base class.
    if (this.#sgd) (this.#optimizer as unknown as { c?: tf.Scalar }).c?.dispose();
    this.#weights.dispose();
  }

  /** The parameter tensors in layout order, split off the flat variable (call inside a tidy). */
  #split(): tf.Tensor[] {
    return tf.split(this.#weights, this.#layout.map((p) => p.size)).map((t, i) =>
      tf.reshape(t, this.#layout[i].shape)
    );
  }

  #forward(params: tf.Tensor[], x: tf.Tensor2D, train = false): tf.Tensor2D {
    if (this.spec.kind === "mlp") return mlpForward(this.spec, params, x, train);
    const named = new Map(this.#layout.map((p, i) => [p.name, params[i]]));
    switch (this.spec.kind) {
      case "vit":
        return vitForward(this.spec, named, x, train);
      case "transformer":
        return sequenceForward(this.spec, named, x, train);
      case "cnn1d":
        return cnn1dForward(this.spec, named, x, train);
    }
  }

  /** Forgets everything derived from the weights. */
  #changed(): void {
    this.#mirror = undefined;
    this.#fast = undefined;
    this.#inferenceParams?.forEach((t) => t.dispose());
    this.#inferenceParams = undefined;
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
function mlpForward(spec: MlpSpec, vars: tf.Tensor[], x: tf.Tensor2D, train: boolean): tf.Tensor2D {
  let h: tf.Tensor2D = x;
  const layers = vars.length / 2;
  for (let l = 0; l < layers; l++) {
    const activation = l === layers - 1 ? "linear" : spec.mlp.activation;
    // The first layer's input is the data: no gradient needed for it.
    h = dense(h, vars[2 * l], vars[2 * l + 1], activation, train ? (l === 0 ? "params" : "all") : "none");
  }
  return h;
}

let gradients: Promise<unknown> | undefined;

/**
 * tfjs-core alone has no gradient functions; `_gradients.js` (tfjs-core's `register_all_gradients`,
 * bundled by `deno task gen:gradients`) registers them in the registry every tfjs copy shares. Loaded
 * on the first training step only. It replaced importing the whole `@tensorflow/tfjs` bundle for them:
 * ≈ 15 MiB less resident memory and ≈ 5 ms instead of ≈ 45 ms to load here (≈ 1 s on a Pi).
 */
function loadGradients(): Promise<unknown> {
  // @ts-ignore: generated JavaScript without types; importing it only registers the gradients.
  return gradients ??= import("./_gradients.js");
}
