/**
 * Saving and resuming the learner's state (working model, contribution C, residual, peers' copies) through the
 * state helper's checksummed atomic writer. The file lives at `<state>/checkpoints/learner.bin`.
 *
 * @module
 */
import { join } from "node:path";
import { CorruptStateError, DecodeError } from "../errors.ts";
import { readChecked, writeChecked } from "../state/mod.ts";
import type { SwarmLearner } from "./learner.ts";

/** File name of the learner state inside the checkpoints directory. */
export const LEARNER_STATE_FILE = "learner.bin";

/** Path of the learner state for a checkpoints directory. */
export function learnerStatePath(checkpointsDir: string): string {
  return join(checkpointsDir, LEARNER_STATE_FILE);
}

/** Writes the learner's checkpoint atomically (temp file, fsync, rename) with a SHA-256 envelope. */
export async function saveLearnerState(path: string, learner: SwarmLearner): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await writeChecked(path, learner.checkpoint());
}

/**
 * Restores the learner from `path`. Returns false if there is no saved state; throws
 * {@linkcode CorruptStateError} naming the file if it is corrupt or belongs to another model.
 */
export async function loadLearnerState(path: string, learner: SwarmLearner, now: number): Promise<boolean> {
  const bytes = await readChecked(path);
  if (!bytes) return false;
  try {
    learner.restore(bytes, now);
  } catch (e) {
    if (e instanceof DecodeError) throw new CorruptStateError(path, e.message);
    throw e;
  }
  return true;
}
