/**
 * The centralized baseline: the same model and learning-rate schedule trained on the union of the
 * shards, one batch of batchSize × nodes rows per local step — what the swarm would do with free,
 * lossless communication (its effective batch, densely).
 *
 * @module
 */
import {
  concatSamples,
  DEFAULT_LEARNER_OPTIONS,
  type LearnerModel,
  type LearnerTuning,
  type Samples,
  scheduledRate,
} from "../learn/mod.ts";
import { SeededRandom } from "../time.ts";

/** What the baseline needs. */
export interface CentralizedOptions {
  model: LearnerModel;
  shards: Samples[];
  features: number;
  test: Samples;
  rounds: number;
  localSteps: number;
  evalEvery: number;
  seed: number;
  tuning?: Partial<LearnerTuning>;
  onEval?: (round: number, accuracy: number, loss: number) => void;
}

/** Trains the baseline; resolves to its last test accuracy. */
export async function trainCentralized(o: CentralizedOptions): Promise<number | undefined> {
  const { model, features } = o;
  const all = concatSamples(o.shards, features);
  const tuning = { ...DEFAULT_LEARNER_OPTIONS, ...o.tuning };
  const batch = Math.min(all.count, tuning.batchSize * o.shards.length);
  const rng = new SeededRandom(o.seed * 31);
  const bx = new Float32Array(batch * features);
  const by = new Uint8Array(batch);
  let accuracy: number | undefined;
  for (let round = 1; round <= o.rounds; round++) {
    const lr = scheduledRate(tuning, round);
    if (lr > 0) model.setLearningRate?.(lr);
    for (let s = 0; s < o.localSteps; s++) {
      for (let i = 0; i < batch; i++) {
        const r = rng.nextU32() % all.count;
        bx.set(all.x.subarray(r * features, (r + 1) * features), i * features);
        by[i] = all.y[r];
      }
      await model.trainBatch(bx, by, batch);
    }
    if (round % o.evalEvery === 0 || round === o.rounds) {
      const e = await model.evaluate(o.test.x, o.test.y, o.test.count);
      accuracy = e.accuracy;
      o.onEval?.(round, e.accuracy, e.loss);
    }
  }
  return accuracy;
}
