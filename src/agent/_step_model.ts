/**
 * Start step: the compute backend, the model (twice: the learner trains one, the API and the evaluation
 * read the other, so training never waits for a prediction or the reverse) and the newest intact
 * checkpoint. A checkpoint made by another model is refused with what to do; a damaged one is skipped
 * with a warning (an older one is used).
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { modelOptionsFromConfig } from "../learn/mod.ts";
import {
  type BackendInfo,
  createModel,
  loadCheckpoint,
  type LoadedCheckpoints,
  type ModelSpec,
  toHex,
  type TrainableModel,
} from "../model/mod.ts";
import type { StateLayout } from "../state/mod.ts";
import type { CleanupPool } from "./_cleanup.ts";
import { chooseBackend } from "./backend_choice.ts";

/** The models and where they start from. */
export interface LoadedModel {
  /** The model the learner trains. */
  model: TrainableModel;
  /** The model predictions and the held-out accuracy come from (the swarm's consensus weights). */
  serving: TrainableModel;
  /** The newest intact checkpoint of this model, if any. */
  checkpoint: LoadedCheckpoints["checkpoint"];
  backend: BackendInfo;
}

/** Picks the backend, creates both models (disposed by `pool` if a later step fails), loads the checkpoint. */
export async function loadModel(
  spec: ModelSpec,
  o: { config: Config; state: StateLayout; logger: Logger; pool: CleanupPool },
): Promise<LoadedModel> {
  const { config, state, logger, pool } = o;
  const backend = await chooseBackend(config.model.backend);
  logger.info("Compute backend", { backend: backend.name, reason: backend.reason });
  const model = await createModel(spec, modelOptionsFromConfig(config.learning));
  pool.add("the training model", () => model.dispose());
  const serving = await createModel(spec);
  pool.add("the serving model", () => serving.dispose());
  const loaded = await loadCheckpoint(state.checkpoints, model);
  const foreign = loaded.skipped.find((s) => s.kind === "other-model");
  if (foreign) {
    throw new UsageError(
      `Checkpoint ${JSON.stringify(foreign.path)} was made by a different model than ${spec.id} ` +
        `(hash ${toHex(model.modelHash)}): ${foreign.reason}`,
      `Move ${JSON.stringify(state.checkpoints)} aside to start this model from scratch, ` +
        "or set model.id back to the model it was trained with",
    );
  }
  for (const s of loaded.skipped) {
    logger.warn("Skipped a damaged checkpoint; using an older one", { path: s.path, reason: s.reason });
  }
  return { model, serving, checkpoint: loaded.checkpoint, backend };
}
