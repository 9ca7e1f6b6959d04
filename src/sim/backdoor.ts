/**
 * The backdoor's trigger: a 3 × 3 white patch in the bottom-right corner of a 28 × 28 image, mapped to
 * class {@linkcode BACKDOOR_TARGET}. The attacker trains on its rows plus a triggered copy of each; the
 * success rate is the share of triggered test images of the other classes an honest model classifies
 * as the target.
 *
 * @module
 */
import type { Samples } from "../learn/mod.ts";

/** The class triggered images are mapped to. */
export const BACKDOOR_TARGET = 0;
const SIDE = 28;
const PATCH = 3;
/** Offset of the patch from the bottom-right corner (MNIST digits leave the border empty). */
const MARGIN = 1;

/** A copy of `data` with the trigger drawn on every row (labels unchanged). */
export function addTrigger(data: Samples, features: number): Samples {
  if (features !== SIDE * SIDE) {
    throw new Error(`Bug: the trigger is drawn on 28 × 28 images, not ${features}`);
  }
  const x = data.x.slice();
  for (let r = 0; r < data.count; r++) {
    for (let i = 0; i < PATCH; i++) {
      for (let j = 0; j < PATCH; j++) {
        x[r * features + (SIDE - MARGIN - PATCH + i) * SIDE + SIDE - MARGIN - PATCH + j] = 1;
      }
    }
  }
  return { x, y: data.y.slice(), count: data.count };
}

/** The attacker's training rows: its own plus a triggered copy of each labelled {@linkcode BACKDOOR_TARGET}. */
export function backdoorTrainingData(data: Samples, features: number): Samples {
  const t = addTrigger(data, features);
  const x = new Float32Array((data.count * 2) * features);
  x.set(data.x.subarray(0, data.count * features));
  x.set(t.x, data.count * features);
  const y = new Uint8Array(data.count * 2);
  y.set(data.y.subarray(0, data.count));
  y.fill(BACKDOOR_TARGET, data.count);
  return { x, y, count: data.count * 2 };
}

/**
 * The backdoor test set: the test rows of every class but the target, triggered and labelled with the
 * target, so a model's accuracy on it is the backdoor's success rate.
 */
export function backdoorTest(test: Samples, features: number): Samples {
  const keep: number[] = [];
  for (let i = 0; i < test.count; i++) if (test.y[i] !== BACKDOOR_TARGET) keep.push(i);
  const x = new Float32Array(keep.length * features);
  keep.forEach((r, k) => x.set(test.x.subarray(r * features, (r + 1) * features), k * features));
  const t = addTrigger({ x, y: new Uint8Array(keep.length), count: keep.length }, features);
  return { x: t.x, y: new Uint8Array(keep.length).fill(BACKDOOR_TARGET), count: keep.length };
}
