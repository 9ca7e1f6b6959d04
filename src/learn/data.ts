/**
 * Local training data: labelled samples from files, and a growable buffer the daemon appends to for
 * `POST /v1/samples`.
 *
 * ## File formats
 *
 * - **JSONL** (`*.jsonl`, `*.ndjson`): one JSON object per line, `{"x": [F numbers], "y": LABEL}`,
 *   e.g. `{"x":[0,0,0.5,…],"y":3}` with F = 784 for MNIST-shaped models. Blank lines are skipped.
 * - **CSV** (`*.csv`): one sample per line, `label,p0,p1,…,p(F−1)`. A first line whose first field is
 *   not a number is a header and is skipped. Blank lines are skipped.
 * - A **directory**: every `*.jsonl`, `*.ndjson` and `*.csv` file in it (not recursive), by name.
 *
 * Labels are integers 0 … classes−1; features must be F finite numbers, inside the model spec's
 * `range` when it states one (then normalised as the spec says). A bad row never stops loading: it is
 * reported as `file:line: reason` (e.g. `column 3: 255 is outside the model's range [0, 1]`) and
 * skipped.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { InputCheck } from "../model/mod.ts";
import type { Samples } from "./learner.ts";

/** Shape the samples must have. */
export interface SampleShape {
  features: number;
  classes: number;
  /**
   * The model's input check (`range`, and `scale`/`mean`/`std` normalisation): rows outside the range
   * are refused as bad rows, accepted rows are stored normalised. Without it only finiteness is checked.
   */
  input?: InputCheck;
}

/** A skipped row. */
export interface BadRow {
  file: string;
  line: number;
  reason: string;
}

/** Parsed rows plus what was skipped. */
export interface ParsedSamples {
  samples: SampleBuffer;
  bad: BadRow[];
}

/** `file:line: reason`, the form bad rows are reported in. */
export function formatBadRow(b: BadRow): string {
  return `${b.file}:${b.line}: ${b.reason}`;
}

/** Why rows were skipped, by kind, with the count of each. */
export interface BadRowSummary {
  count: number;
  byReason: Record<string, number>;
  /** The first few, as `file:line: reason`. */
  first: string[];
}

/** The kind of a bad-row reason (`out of range`, `not a finite number`, …), for counting. */
export function badRowKind(reason: string): string {
  if (/outside the model's range/.test(reason)) return "out of range";
  if (/not a finite number/.test(reason)) return "not a finite number";
  if (/^not JSON|expected an object/.test(reason)) return "not JSON";
  if (/^label/.test(reason)) return "bad label";
  if (/values, expected|has \d+ values/.test(reason)) return "wrong number of values";
  if (/must be an array/.test(reason)) return "no values";
  return "other";
}

/** Counts `bad` by kind and keeps the first `n` in full. */
export function summariseBadRows(bad: BadRow[], n = 5): BadRowSummary {
  const byReason: Record<string, number> = {};
  for (const b of bad) {
    const kind = badRowKind(b.reason);
    byReason[kind] = (byReason[kind] ?? 0) + 1;
  }
  return { count: bad.length, byReason, first: bad.slice(0, n).map(formatBadRow) };
}

/** A growable set of samples (amortized O(1) append) exposing a {@linkcode Samples} view. */
export class SampleBuffer {
  readonly shape: SampleShape;
  #x: Float32Array;
  #y: Uint8Array;
  #count = 0;

  constructor(shape: SampleShape, capacity = 64) {
    this.shape = shape;
    this.#x = new Float32Array(capacity * shape.features);
    this.#y = new Uint8Array(capacity);
  }

  get count(): number {
    return this.#count;
  }

  /**
   * Checks one sample (`x` an array of `features` finite numbers, `y` an integer label) and appends it.
   * Returns the reason it is invalid instead of appending (the API turns it into a 400).
   */
  append(x: unknown, y: unknown, columnOffset = 0): string | undefined {
    const input = this.shape.input;
    if (!input || !Array.isArray(x) || x.length !== this.shape.features) {
      const reason = checkSample(x, y, this.shape);
      if (reason) return reason;
      if (!input) {
        this.#push(x as ArrayLike<number>, y as number);
        return undefined;
      }
    }
    const label = checkSample([], y, { ...this.shape, features: 0 });
    if (label) return label;
    this.#grow();
    const problem = input.prepare(x as unknown[], this.#x, this.#count * this.shape.features);
    if (problem) return input.explain(problem, columnOffset);
    this.#y[this.#count] = y as number;
    this.#count++;
    return undefined;
  }

  #push(x: ArrayLike<number>, y: number): void {
    this.#grow();
    this.#x.set(x, this.#count * this.shape.features);
    this.#y[this.#count] = y;
    this.#count++;
  }

  #grow(): void {
    const F = this.shape.features;
    if (this.#count === this.#y.length) {
      const cap = Math.max(64, this.#y.length * 2);
      const nx = new Float32Array(cap * F);
      nx.set(this.#x);
      const ny = new Uint8Array(cap);
      ny.set(this.#y);
      this.#x = nx;
      this.#y = ny;
    }
  }

  /** Appends every sample of `other` (already checked and normalised). */
  extend(other: SampleBuffer): void {
    const v = other.view();
    const F = this.shape.features;
    for (let i = 0; i < v.count; i++) this.#push(v.x.subarray(i * F, (i + 1) * F), v.y[i]);
  }

  /** The samples (views, valid until the next append). */
  view(): Samples {
    return {
      x: this.#x.subarray(0, this.#count * this.shape.features),
      y: this.#y.subarray(0, this.#count),
      count: this.#count,
    };
  }
}

/** Why `(x, y)` is not a valid sample of `shape`, or undefined when it is. */
export function checkSample(x: unknown, y: unknown, shape: SampleShape): string | undefined {
  if (typeof y !== "number" || !Number.isInteger(y) || y < 0 || y >= shape.classes) {
    return `label ${JSON.stringify(y)} is not an integer from 0 to ${shape.classes - 1}`;
  }
  if (!Array.isArray(x)) return `"x" must be an array of ${shape.features} numbers`;
  if (x.length !== shape.features) return `"x" has ${x.length} values, expected ${shape.features}`;
  for (let i = 0; i < x.length; i++) {
    if (typeof x[i] !== "number" || !Number.isFinite(x[i])) {
      return `"x"[${i}] is ${JSON.stringify(x[i])}, not a finite number`;
    }
  }
  return undefined;
}

/** Parses JSONL text (see the module documentation). */
export function parseJsonl(text: string, file: string, shape: SampleShape): ParsedSamples {
  const samples = new SampleBuffer(shape);
  const bad: BadRow[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      bad.push({ file, line: i + 1, reason: `not JSON (${(e as Error).message})` });
      return;
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      bad.push({ file, line: i + 1, reason: 'expected an object {"x": [...], "y": LABEL}' });
      return;
    }
    const { x, y } = obj as { x?: unknown; y?: unknown };
    const reason = samples.append(x, y);
    if (reason) bad.push({ file, line: i + 1, reason });
  });
  return { samples, bad };
}

/** Parses CSV text `label,p0,…` (see the module documentation). */
export function parseCsv(text: string, file: string, shape: SampleShape): ParsedSamples {
  const samples = new SampleBuffer(shape);
  const bad: BadRow[] = [];
  let first = true;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    const fields = line.split(",").map((f) => f.trim());
    if (first) {
      first = false;
      if (fields[0] === "" || Number.isNaN(Number(fields[0]))) return; // header
    }
    const nums = fields.map((f) => (f === "" ? NaN : Number(f)));
    const bi = nums.findIndex((v, j) => j > 0 && !Number.isFinite(v));
    if (bi > 0) {
      bad.push({
        file,
        line: i + 1,
        reason: `field ${bi + 1} ${JSON.stringify(fields[bi])} is not a finite number`,
      });
      return;
    }
    const reason = samples.append(nums.slice(1), fields[0] === "" ? undefined : nums[0], 1);
    if (reason) {
      bad.push({
        file,
        line: i + 1,
        reason: reason.replace('"x" has', "row has").replace(/"x"\[(\d+)\]/, "feature $1"),
      });
    }
  });
  return { samples, bad };
}

/** Data-file extensions and their parsers. */
const PARSERS: Record<string, typeof parseJsonl> = {
  ".jsonl": parseJsonl,
  ".ndjson": parseJsonl,
  ".csv": parseCsv,
};

function parserFor(path: string): typeof parseJsonl | undefined {
  const dot = path.lastIndexOf(".");
  return dot < 0 ? undefined : PARSERS[path.slice(dot).toLowerCase()];
}

/**
 * Loads a data file or directory. Throws {@linkcode UsageError} if the path is missing or has no data
 * files; bad rows are returned, not thrown.
 */
export async function loadSamples(path: string, shape: SampleShape): Promise<ParsedSamples> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch {
    throw new UsageError(
      `Data path ${JSON.stringify(path)} does not exist`,
      "Set data.source to a .jsonl/.csv file or a directory of them",
    );
  }
  const files: string[] = [];
  if (stat.isDirectory) {
    for await (const e of Deno.readDir(path)) {
      if (e.isFile && parserFor(e.name)) files.push(`${path}/${e.name}`);
    }
    files.sort();
    if (files.length === 0) {
      throw new UsageError(
        `Data directory ${JSON.stringify(path)} has no .jsonl, .ndjson or .csv files`,
        "Add labelled samples in one of these formats",
      );
    }
  } else {
    if (!parserFor(path)) {
      throw new UsageError(
        `Data file ${JSON.stringify(path)} is not .jsonl, .ndjson or .csv`,
        "Rename it or convert it to one of these formats",
      );
    }
    files.push(path);
  }
  const all = new SampleBuffer(shape);
  const bad: BadRow[] = [];
  for (const f of files) {
    const parsed = parserFor(f)!(await Deno.readTextFile(f), f, shape);
    all.extend(parsed.samples);
    bad.push(...parsed.bad);
  }
  return { samples: all, bad };
}

/** One sample as a JSONL line (what the daemon appends to its samples file). */
export function sampleToJsonl(x: ArrayLike<number>, y: number): string {
  return JSON.stringify({ x: Array.from(x), y }) + "\n";
}

/** Concatenates sample sets with `features` values per row into one. */
export function concatSamples(parts: Samples[], features: number): Samples {
  const count = parts.reduce((a, p) => a + p.count, 0);
  const x = new Float32Array(count * features);
  const y = new Uint8Array(count);
  let o = 0;
  for (const p of parts) {
    x.set(p.x.subarray(0, p.count * features), o * features);
    y.set(p.y.subarray(0, p.count), o);
    o += p.count;
  }
  return { x, y, count };
}
