/**
 * The agent's checkpoints: written every `learning.checkpointMs` (and at shutdown) through the state
 * layer's {@linkcode SaveGuard}, which backs off while saving fails (a full disk) and tries again when the
 * back-off allows. Writes are serialised. The checkpoint's weights are the swarm consensus (what
 * `agent infer` and a clone's seed use); the learner's own state travels in its `extra` bytes.
 *
 * @module
 */
import type { SwarmLearner } from "../learn/mod.ts";
import type { Logger } from "../log.ts";
import { saveCheckpoint, type TrainableModel } from "../model/mod.ts";
import type { SaveGuard } from "../state/mod.ts";
import type { Clock } from "../time.ts";

/** Logs a failed save: the first failure in a row is an error, repeats (backing off) are warnings. */
export function reportSaveFailure(
  logger: Logger,
  saving: SaveGuard,
  what: string,
  e: unknown,
  inARow: number,
) {
  const freeBytes = saving.health().freeBytes;
  (inARow === 1 ? logger.error : logger.warn).call(
    logger,
    `Cannot save the ${what}; retrying with back-off`,
    { error: e, failingInARow: inARow, freeBytes },
  );
}

/** What {@linkcode Checkpointer} writes with. */
export interface CheckpointerOptions {
  /** The checkpoint directory. */
  dir: string;
  learner: SwarmLearner;
  model: TrainableModel;
  saving: SaveGuard;
  clock: Clock;
  logger: Logger;
}

/** Writes the learner's checkpoints when due. */
export class Checkpointer {
  #o: CheckpointerOptions;
  #last: number;
  /** A checkpoint failed or was deferred: try again on the next round the back-off allows. */
  #retry = false;
  #queue: Promise<void> = Promise.resolve();

  constructor(o: CheckpointerOptions) {
    this.#o = o;
    this.#last = o.clock.now();
  }

  /** Writes a checkpoint if `everyMs` have passed since the last one at `now`, or the last one did not save. */
  async saveIfDue(now: number, everyMs: number): Promise<void> {
    if (now - this.#last < everyMs && !this.#retry) return;
    this.#last = now;
    await this.save();
  }

  /** Writes a checkpoint now, after any write in progress, unless saving backs off (`final` tries anyway). */
  save(final = false): Promise<void> {
    const { learner, saving, logger } = this.#o;
    const run = this.#queue.then(async () => {
      const write = async () => {
        const extra = learner.checkpoint();
        const step = learner.stats(this.#o.clock.now()).rounds;
        await saveCheckpoint(this.#o.dir, this.#o.model, {
          step,
          extra,
          weights: learner.inferenceWeights(),
        });
      };
      const outcome = await saving.run(
        "checkpoint",
        write,
        (e, n) => reportSaveFailure(logger, saving, "checkpoint", e, n),
        final,
      );
      if (outcome === "saved" && this.#retry) {
        logger.info("Saving works again", { free: saving.health().freeBytes });
      }
      this.#retry = outcome !== "saved";
    });
    this.#queue = run.catch((e) => logger.error("Checkpoint failed", { error: e }));
    return this.#queue;
  }
}
