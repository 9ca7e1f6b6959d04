/**
 * Writes labelled rows as a JSONL data file in the format `data.source` reads (`src/learn/data.ts`),
 * with pixel values rounded to 4 decimals to keep the files small.
 *
 * @module
 */
import { sampleToJsonl } from "../../src/learn/data.ts";
import type { Samples } from "../../src/learn/learner.ts";
import { writeFileAtomic } from "../../src/state/mod.ts";

/** Writes `data` (rows of `features` values) to `path` as JSONL. */
export async function writeShardFile(path: string, data: Samples, features = 784): Promise<void> {
  const lines: string[] = [];
  const row = new Array<number>(features);
  for (let i = 0; i < data.count; i++) {
    for (let j = 0; j < features; j++) row[j] = Math.round(data.x[i * features + j] * 1e4) / 1e4;
    lines.push(sampleToJsonl(row, data.y[i]));
  }
  await writeFileAtomic(path, lines.join(""));
}
