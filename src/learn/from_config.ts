/**
 * Maps the `learning.*` config keys onto the learner's tunables, so the daemon builds its
 * {@linkcode SwarmLearner} in one line: `new SwarmLearner({...tuningFromConfig(config.learning), ...})`.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import type { LearnerTuning } from "./learner.ts";

/** The learner tunables set by config (the rest keep their measured defaults). */
export function tuningFromConfig(learning: Config["learning"]): Partial<LearnerTuning> {
  return {
    batchSize: learning.batchSize,
    gamma: learning.consensusStep,
    rule: learning.robustMerge,
    messagesPerRound: learning.deltasPerRound,
  };
}
