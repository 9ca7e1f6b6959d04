/**
 * The bounded on-disk store of samples posted to `POST /v1/samples`, in `stateLayout().samples`.
 *
 * Every accepted request becomes one JSONL segment file written with `writeFileAtomic`, so a power
 * cut leaves either the whole request or nothing. Files (JSONL rows as in `src/learn/data.ts`):
 *
 * | name                         | content                                              |
 * |------------------------------|------------------------------------------------------|
 * | `<seq>.jsonl`                | the rows of one request (seq: 12 digits, increasing)  |
 * | `<first>-<last>.jsonl`       | segments first..last merged by compaction             |
 *
 * Bounds: at most `maxSamples` rows (whole oldest segments are dropped first) and at most
 * {@linkcode MAX_SEGMENTS} files (the oldest half is merged into one range file; a crash between
 * writing the range file and removing what it covers is repaired at the next open).
 *
 * The store keeps no rows in memory: what it loads at open and what is appended goes to its
 * {@linkcode SampleSink} (the node's one in-memory copy, `_sample_table.ts`), which also hears which
 * oldest rows were dropped; a merge concatenates the files on disk.
 *
 * @module
 */
import { join } from "node:path";
import { concatSamples, parseJsonl, type SampleShape, sampleToJsonl } from "../learn/mod.ts";
import type { Samples } from "../learn/mod.ts";
import type { Logger } from "../log.ts";
import { removeFileDurable, writeFileAtomic } from "../state/mod.ts";

/** Segment files before the oldest half is merged. */
export const MAX_SEGMENTS = 64;

interface Segment {
  first: number;
  last: number;
  count: number;
}

/** Where the store's rows go: every loaded or appended segment in order, and the oldest rows dropped. */
export interface SampleSink {
  /** Rows appended after all earlier ones (`x`, `y` may be views: copy what is kept). */
  added(x: Float32Array, y: Uint8Array, count: number): void;
  /** The oldest `count` rows are gone (always whole segments, in the order they were added). */
  dropped(count: number): void;
}

const NO_SINK: SampleSink = { added() {}, dropped() {} };

const NAME = /^(\d{12})(?:-(\d{12}))?\.jsonl$/;

function segName(first: number, last: number): string {
  const p = (n: number) => String(n).padStart(12, "0");
  return first === last ? `${p(first)}.jsonl` : `${p(first)}-${p(last)}.jsonl`;
}

/** The store; {@linkcode open} it, then {@linkcode append} and read {@linkcode samples}. */
export class SampleStore {
  readonly dir: string;
  readonly shape: SampleShape;
  readonly maxSamples: number;
  #segments: Segment[] = [];
  #total = 0;
  #version = 0;
  #logger: Logger;
  #sink: SampleSink;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, shape: SampleShape, maxSamples: number, logger: Logger, sink: SampleSink) {
    this.dir = dir;
    this.shape = shape;
    this.maxSamples = maxSamples;
    this.#logger = logger;
    this.#sink = sink;
  }

  /**
   * Opens (creating) the store in `dir`, passing what is there to `options.sink` and finishing an
   * interrupted compaction.
   */
  static async open(
    dir: string,
    shape: SampleShape,
    options: { maxSamples: number; logger: Logger; sink?: SampleSink },
  ): Promise<SampleStore> {
    const store = new SampleStore(dir, shape, options.maxSamples, options.logger, options.sink ?? NO_SINK);
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const found: { first: number; last: number; name: string }[] = [];
    for await (const e of Deno.readDir(dir)) {
      const m = e.isFile ? NAME.exec(e.name) : null;
      if (m) found.push({ first: Number(m[1]), last: Number(m[2] ?? m[1]), name: e.name });
    }
    found.sort((a, b) => a.first - b.first || b.last - a.last);
    let coveredTo = -1;
    for (const f of found) {
      if (f.last <= coveredTo) {
        // Left behind by a compaction that was cut short: its rows are in the range file.
        await removeFileDurable(join(dir, f.name));
        continue;
      }
      coveredTo = f.last;
      const path = join(dir, f.name);
      const parsed = parseJsonl(await Deno.readTextFile(path), path, shape);
      for (const b of parsed.bad.slice(0, 3)) {
        options.logger.warn("Skipped a bad stored sample", { file: b.file, line: b.line, reason: b.reason });
      }
      const v = parsed.samples.view();
      store.#segments.push({ first: f.first, last: f.last, count: v.count });
      store.#total += v.count;
      store.#sink.added(v.x, v.y, v.count);
    }
    await store.#enforceBounds();
    return store;
  }

  /** Stored rows. */
  get count(): number {
    return this.#total;
  }

  /** Increases on every change (so the learner knows when to pick up new data). */
  get version(): number {
    return this.#version;
  }

  /**
   * Appends `count` validated rows as one durable segment and drops the oldest segments beyond
   * `maxSamples`. Appends are serialised. Returns the number of stored rows afterwards.
   */
  append(x: Float32Array, y: Uint8Array, count: number): Promise<number> {
    const run = this.#queue.then(() => this.#append(x, y, count));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #append(x: Float32Array, y: Uint8Array, count: number): Promise<number> {
    const F = this.shape.features;
    const seq = (this.#segments.at(-1)?.last ?? 0) + 1;
    let text = "";
    for (let i = 0; i < count; i++) text += sampleToJsonl(x.subarray(i * F, (i + 1) * F), y[i]);
    await writeFileAtomic(join(this.dir, segName(seq, seq)), text, { mode: 0o600 });
    this.#segments.push({ first: seq, last: seq, count });
    this.#total += count;
    this.#sink.added(x.subarray(0, count * F), y.subarray(0, count), count);
    this.#version++;
    await this.#enforceBounds();
    return this.#total;
  }

  async #enforceBounds(): Promise<void> {
    while (this.#total > this.maxSamples && this.#segments.length > 1) {
      const old = this.#segments.shift()!;
      this.#total -= old.count;
      this.#version++;
      this.#sink.dropped(old.count);
      await removeFileDurable(join(this.dir, segName(old.first, old.last)));
    }
    if (this.#segments.length > MAX_SEGMENTS) await this.#compact(Math.floor(this.#segments.length / 2));
  }

  /** Merges the oldest `n` segments into one range file (their files concatenated). */
  async #compact(n: number): Promise<void> {
    const parts = this.#segments.slice(0, n);
    const first = parts[0].first;
    const last = parts[n - 1].last;
    let text = "";
    for (const p of parts) {
      const part = await Deno.readTextFile(join(this.dir, segName(p.first, p.last)));
      text += part.endsWith("\n") || part === "" ? part : `${part}\n`;
    }
    await writeFileAtomic(join(this.dir, segName(first, last)), text, { mode: 0o600 });
    for (const p of parts) await removeFileDurable(join(this.dir, segName(p.first, p.last)));
    const count = parts.reduce((a, p) => a + p.count, 0);
    this.#segments.splice(0, n, { first, last, count });
    this.#logger.debug("Compacted stored samples", { segments: n, rows: count });
  }

  /** All stored rows, oldest first, read back from disk (for tests and tools; the agent uses its sink). */
  async readAll(): Promise<Samples> {
    await this.#queue;
    const parts: Samples[] = [];
    for (const seg of this.#segments) {
      const path = join(this.dir, segName(seg.first, seg.last));
      parts.push(parseJsonl(await Deno.readTextFile(path), path, this.shape).samples.view());
    }
    return concatSamples(parts, this.shape.features);
  }
}
