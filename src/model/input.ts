/**
 * What a model's input rows are and how they are checked: the shape a spec states (`features: 12`,
 * `sequence: {steps, channels}` or `image: {height, width, channels}`) and its expected range or
 * normalisation (`range: [lo, hi]`, `scale: 1/255`, per-feature `mean`/`std`). Pure.
 *
 * Every place data enters (the data loader, `POST /v1/samples`, `POST /v1/predict`, `agent infer`) runs
 * each row through {@linkcode InputCheck.prepare}:
 *
 * 1. every value must be a finite number (always);
 * 2. with `range`, every *raw* value must lie in `[lo, hi]`, else the row is refused with its column,
 *    value and the range;
 * 3. then `scale` multiplies and `mean`/`std` standardise: `x' = (x · scale − mean) / std`.
 *
 * So a row that reaches training or a prediction has been checked and is in the form the weights expect.
 * Rows are flat and, for sequences, time-major: value `t · channels + c` is channel `c` at step `t`;
 * images are row-major with channels last.
 *
 * @module
 */

/** The shape of one input row. */
export type InputShape =
  | { kind: "features"; features: number }
  | { kind: "sequence"; steps: number; channels: number }
  | { kind: "image"; height: number; width: number; channels: number };

/** Range check and normalisation of raw input values. */
export interface InputNorm {
  /** Inclusive range every raw value must lie in. */
  range?: [number, number];
  /** Factor applied to raw values (e.g. 1/255 for 0–255 pixels). */
  scale?: number;
  /** Per-feature (length = input) or per-channel (length = channels) mean subtracted after `scale`. */
  mean?: number[];
  /** Per-feature or per-channel standard deviation divided by after `mean`. */
  std?: number[];
}

/** Values per row of `shape`. */
export function shapeSize(shape: InputShape): number {
  switch (shape.kind) {
    case "features":
      return shape.features;
    case "sequence":
      return shape.steps * shape.channels;
    case "image":
      return shape.height * shape.width * shape.channels;
  }
}

/** Channels of `shape` (1 for plain features): what per-channel `mean`/`std` lists are indexed by. */
export function shapeChannels(shape: InputShape): number {
  return shape.kind === "features" ? 1 : shape.channels;
}

/** `12 features`, `128 steps × 6 channels`, `28×28×1 image`. */
export function describeShape(shape: InputShape): string {
  switch (shape.kind) {
    case "features":
      return `${shape.features} features`;
    case "sequence":
      return `${shape.steps} steps × ${shape.channels} channels`;
    case "image":
      return `${shape.height}×${shape.width}×${shape.channels} image`;
  }
}

/** `[0, 1]`, `mean/std`, `×0.00392 then [0, 1]`: the checks and transforms a spec asks for. */
export function describeNorm(norm: InputNorm): string {
  const parts: string[] = [];
  if (norm.range) parts.push(`range [${norm.range[0]}, ${norm.range[1]}]`);
  if (norm.scale !== undefined) parts.push(`scale ${norm.scale}`);
  if (norm.mean) parts.push("mean/std");
  return parts.length === 0 ? "any finite value" : parts.join(", ");
}

/** A refused value: 0-based column, the value and why. */
export interface InputProblem {
  column: number;
  value: unknown;
  reason: string;
}

/** Checks and normalises rows of one spec's input. */
export class InputCheck {
  readonly size: number;
  readonly shape: InputShape;
  readonly norm: InputNorm;
  readonly #mean: Float64Array | undefined;
  readonly #std: Float64Array | undefined;
  readonly #scale: number;

  constructor(shape: InputShape, norm: InputNorm = {}) {
    this.shape = shape;
    this.norm = norm;
    this.size = shapeSize(shape);
    this.#scale = norm.scale ?? 1;
    const channels = shapeChannels(shape);
    const expand = (list: number[] | undefined, fill: number) => {
      if (!list) return undefined;
      const out = new Float64Array(this.size).fill(fill);
      for (let i = 0; i < this.size; i++) out[i] = list.length === this.size ? list[i] : list[i % channels];
      return out;
    };
    this.#mean = expand(norm.mean, 0);
    this.#std = expand(norm.std, 1);
  }

  /** The same range check without the transform (for stored raw rows that are normalised later). */
  rangeOnly(): InputCheck {
    return new InputCheck(this.shape, this.norm.range ? { range: this.norm.range } : {});
  }

  /** Normalised copies of `count` rows that were already checked (e.g. raw rows kept on disk). */
  normalise(x: Float32Array, count: number): Float32Array {
    if (!this.transforms) return x;
    const out = new Float32Array(count * this.size);
    for (let r = 0; r < count; r++) {
      const p = this.prepare(x.subarray(r * this.size, (r + 1) * this.size), out, r * this.size);
      if (p) throw new Error(`Bug: a checked row ${r} fails its check: ${this.explain(p)}`);
    }
    return out;
  }

  /** Whether rows are changed on the way in (scale or mean/std), not only checked. */
  get transforms(): boolean {
    return this.#scale !== 1 || this.#mean !== undefined || this.#std !== undefined;
  }

  /**
   * Checks `row` (any array-like of `size` values) and writes the normalised values to `out` at
   * `offset`. Returns the first problem, or undefined when the row was written.
   */
  prepare(row: ArrayLike<unknown>, out: Float32Array, offset = 0): InputProblem | undefined {
    if (row.length !== this.size) {
      return { column: -1, value: row.length, reason: `has ${row.length} values, expected ${this.size}` };
    }
    const range = this.norm.range;
    for (let i = 0; i < this.size; i++) {
      const v = row[i];
      if (typeof v !== "number" || !Number.isFinite(v)) {
        return { column: i, value: v, reason: "is not a finite number" };
      }
      if (range && (v < range[0] || v > range[1])) {
        return { column: i, value: v, reason: `is outside the model's range [${range[0]}, ${range[1]}]` };
      }
    }
    if (!this.transforms) {
      for (let i = 0; i < this.size; i++) out[offset + i] = row[i] as number;
      return undefined;
    }
    for (let i = 0; i < this.size; i++) {
      let v = (row[i] as number) * this.#scale;
      if (this.#mean) v -= this.#mean[i];
      if (this.#std) v /= this.#std[i];
      out[offset + i] = v;
    }
    return undefined;
  }

  /**
   * `column 17 (step 2, channel 5): 300 is outside …` — a problem in words (1-based columns, shifted by
   * `columnOffset`, e.g. 1 for a CSV line whose first field is the label).
   */
  explain(p: InputProblem, columnOffset = 0): string {
    if (p.column < 0) return `row ${p.reason}`;
    return `column ${p.column + 1 + columnOffset}${this.#where(p.column)}: ${show(p.value)} ${p.reason}`;
  }

  /** What to do about out-of-range values (for hints). */
  hint(): string {
    const r = this.norm.range;
    const what = r ? `values in [${r[0]}, ${r[1]}]` : "finite numbers";
    return `Give ${this.size} ${what} per row (${describeShape(this.shape)}); ` +
      "if your data uses another scale, set range/scale/mean/std in the model spec";
  }

  #where(column: number): string {
    const s = this.shape;
    if (s.kind === "sequence") {
      return ` (step ${Math.floor(column / s.channels) + 1}, channel ${(column % s.channels) + 1})`;
    }
    if (s.kind === "image") {
      const pixel = Math.floor(column / s.channels);
      return ` (row ${Math.floor(pixel / s.width) + 1}, column ${(pixel % s.width) + 1}` +
        (s.channels > 1 ? `, channel ${(column % s.channels) + 1})` : ")");
    }
    return "";
  }
}

function show(v: unknown): string {
  return typeof v === "number" ? String(v) : JSON.stringify(v) ?? String(v);
}
