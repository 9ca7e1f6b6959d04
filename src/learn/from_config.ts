/**
 * Maps the `learning.*` config keys onto the learner's tunables, so the daemon builds its
 * {@linkcode SwarmLearner} in one line: `new SwarmLearner({...tuningFromConfig(config.learning), ...})`.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import type { LearnerTuning } from "./learner.ts";

/**
 * The learner tunables set by config (the rest keep their measured defaults). `learning.optimizer` and
 * `learning.momentum` are model options: pass {@linkcode modelOptionsFromConfig} to `createModel`.
 */
export function tuningFromConfig(learning: Config["learning"]): Partial<LearnerTuning> {
  return {
    batchSize: learning.batchSize,
    rule: learning.robustMerge,
    messagesPerRound: learning.deltasPerRound,
    learningRate: learning.rate,
    rateDecayRounds: learning.rateDecayRounds,
    rateFinal: learning.rateFinal,
    rateSchedule: learning.rateSchedule,
    averaging: learning.averaging,
    pull: learning.pull,
    validateEvery: learning.validateEvery,
    suspectClip: learning.suspectClip,
    updateClip: learning.updateClip,
    rowOutlier: learning.rowOutlier,
    fanIn: learning.fanIn,
    fanInPeriodMs: learning.fanInPeriodMs,
  };
}

/** The `createModel` options set by config: optimizer, momentum and the initial learning rate. */
export function modelOptionsFromConfig(
  learning: Config["learning"],
): { optimizer: "adam" | "sgd"; momentum: number; learningRate: number } {
  return { optimizer: learning.optimizer, momentum: learning.momentum, learningRate: learning.rate };
}
