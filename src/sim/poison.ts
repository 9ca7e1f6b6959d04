/**
 * Bad rows in an honest node's own data, as a careless sensor or a wrong upload would add them (issue
 * 12, "local data can't poison the swarm"). The node stays honest: it trains on what it has.
 *
 * - `scale`: one row of raw 0–255 pixels (a copy of its first row × 255);
 * - `mislabel`: 1,000 rows with the wrong label (copies of its rows, label moved to the next class);
 * - `huge`: one row of 1e30.
 *
 * @module
 */
import { concatSamples, type Samples } from "../learn/mod.ts";

/** Kinds of local poisoning. */
export type Poison = "scale" | "mislabel" | "huge";
/** All kinds. */
export const POISONS: readonly Poison[] = ["scale", "mislabel", "huge"];
/** Rows added by `mislabel`. */
export const MISLABELLED_ROWS = 1000;

/** `data` with the bad rows of `kind` appended. */
export function poisonRows(data: Samples, kind: Poison, features: number, classes = 10): Samples {
  let bad: Samples;
  switch (kind) {
    case "scale":
      bad = { x: data.x.slice(0, features).map((v) => v * 255), y: data.y.slice(0, 1), count: 1 };
      break;
    case "huge":
      bad = { x: new Float32Array(features).fill(1e30), y: data.y.slice(0, 1), count: 1 };
      break;
    case "mislabel": {
      const x = new Float32Array(MISLABELLED_ROWS * features);
      const y = new Uint8Array(MISLABELLED_ROWS);
      for (let i = 0; i < MISLABELLED_ROWS; i++) {
        const r = i % data.count;
        x.set(data.x.subarray(r * features, (r + 1) * features), i * features);
        y[i] = (data.y[r] + 1) % classes;
      }
      bad = { x, y, count: MISLABELLED_ROWS };
      break;
    }
  }
  return concatSamples([data, bad], features);
}
