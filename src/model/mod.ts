/**
 * The model runtime: backend choice (WebGPU → WASM-SIMD → CPU), model specs (YAML files, built-in or
 * the user's own), input shapes, ranges and normalisation,
 * seeded bit-identical initial weights, one flat weight vector per model, training steps, fast
 * inference and checkpoints that carry the model hash.
 *
 * Import this module lazily from CLI commands (`await import("../model/mod.ts")`): it loads tfjs.
 *
 * @module
 */
export {
  type BackendInfo,
  type BackendName,
  type BackendProbe,
  BACKENDS,
  currentBackend,
  initBackend,
  WASM_FILES,
} from "./backend.ts";
export {
  initialWeights,
  MODEL_HASH_SIZE,
  modelHash,
  paramCount,
  type ParamEntry,
  paramLayout,
  toHex,
} from "./params.ts";
export {
  className,
  type Cnn1dSpec,
  describeInput,
  listModelIds,
  loadModelSpec,
  type MlpSpec,
  MODEL_KINDS,
  MODELS_DIR,
  type ModelSpec,
  parseModelSpec,
  type SpecDirs,
  type TransformerSpec,
  type VitSpec,
} from "./spec.ts";
export {
  installSpecFile,
  isSpecPath,
  type KnownSpec,
  listKnownSpecs,
  readSpecFile,
  resolveModelSpec,
  specDirs,
  type SpecOrigin,
} from "./catalog.ts";
export {
  describeNorm,
  describeShape,
  InputCheck,
  type InputNorm,
  type InputProblem,
  type InputShape,
  shapeSize,
} from "./input.ts";
export {
  createModel,
  type CreateModelOptions,
  JS_FAST_PATH_MAX_BATCH,
  type OptimizerName,
  PREDICT_CHUNK,
  type TrainableModel,
} from "./model.ts";
export {
  CHECKPOINT_HEADER_SIZE,
  type CheckpointData,
  type CheckpointModel,
  checkpointParts,
  CHECKPOINTS_KEPT,
  decodeCheckpoint,
  encodeCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  type LoadedCheckpoints,
  saveCheckpoint,
  type SkippedCheckpoint,
} from "./checkpoint.ts";
