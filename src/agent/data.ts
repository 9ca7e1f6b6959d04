/**
 * The daemon's local data: the samples of `data.source` plus those posted to the API, split into a
 * training part and a held-out part that is never trained on. The split is by content (a hash of the
 * row), so a sample stays on the same side across restarts, appends and evictions. With `data.test`
 * set, that file is the held-out set instead and every local sample is trained on.
 *
 * @module
 */
import {
  type BadRow,
  loadSamples,
  type ParsedSamples,
  parseJsonl,
  SampleBuffer,
  type SampleShape,
} from "../learn/mod.ts";
import type { Samples } from "../learn/mod.ts";

/** Training and held-out rows. */
export interface LocalData {
  train: Samples;
  heldOut: Samples;
}

/** FNV-1a over the row's bytes and label, mapped to [0, 1): a row is held out when this is below the fraction. */
export function rowHash(x: Float32Array, y: number): number {
  const bytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  let h = 0x811c9dc5 ^ y;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  // final avalanche (murmur3 fmix32) so similar rows spread evenly
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

export { concatSamples } from "../learn/mod.ts";

/** Lines parsed per batch when streaming a JSONL file. */
const STREAM_BATCH_LINES = 256;

/**
 * Loads `data.source` / `data.test`. A single JSONL file is streamed in batches of lines (the file is
 * never held as one string: a 10 MB shard otherwise costs ~60 MB of resident memory that the
 * runtime does not give back); CSV files and directories go through `loadSamples` as they are.
 */
export async function loadLocalSamples(path: string, shape: SampleShape): Promise<ParsedSamples> {
  if (!/\.(jsonl|ndjson)$/i.test(path)) return await loadSamples(path, shape);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch {
    return await loadSamples(path, shape); // its error names the path and what to do
  }
  const all = new SampleBuffer(shape);
  const bad: BadRow[] = [];
  let pending = "";
  let lines: string[] = [];
  let firstLine = 1;
  const flush = () => {
    if (lines.length === 0) return;
    const parsed = parseJsonl(lines.join("\n"), path, shape);
    all.extend(parsed.samples);
    for (const b of parsed.bad) bad.push({ ...b, line: b.line + firstLine - 1 });
    firstLine += lines.length;
    lines = [];
  };
  for await (const chunk of file.readable.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      lines.push(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      if (lines.length >= STREAM_BATCH_LINES) flush();
    }
  }
  if (pending !== "") lines.push(pending);
  flush();
  return { samples: all, bad };
}
