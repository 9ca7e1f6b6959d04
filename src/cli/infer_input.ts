/**
 * Parsing `agent infer` input, in every format training reads plus bare rows:
 *
 * - JSON Lines of arrays (`[x0, …]`), one JSON array of numbers, or a JSON array of such rows;
 * - JSON Lines of samples `{"x": [x0, …], "y": LABEL}` (the `data.source` format; `y` optional);
 * - CSV (`--input FILE.csv`, or text whose first line is not JSON): `label,x0,…` rows as training
 *   reads them, or `x0,…` rows without a label; a first line that is not numeric is a header.
 *
 * Rows are checked against the spec's input (`range`, non-finite values) and normalised as it says.
 * Every problem is a {@linkcode UsageError} naming the row and column (1-based), e.g.
 * `Row 3, column 17: "NaN" is not a finite number`. Pure.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { InputCheck } from "../model/mod.ts";

/** Parsed rows: `x` normalised, `labels[r]` the row's label or null when it has none. */
export interface InferInput {
  x: Float32Array;
  count: number;
  labels: (number | null)[];
}

/** How to parse. */
export interface InferInputOptions {
  /** The spec's input check (range + normalisation); without it only finiteness is checked. */
  input?: InputCheck;
  /** Number of classes (labels must be 0..classes−1). */
  classes?: number;
  /** Force CSV (e.g. the file name ends in .csv). */
  csv?: boolean;
}

function hint(width: number, input?: InputCheck): string {
  return `${input ? input.hint() : `Give ${width} numbers per row`}; as JSON Lines of arrays or ` +
    '{"x": [...], "y": LABEL}, a JSON array of rows, or CSV';
}

type Row = { value: unknown; raw: string; label?: unknown };

/** Parses the input text into `count` rows of `width` floats. */
export function parseInferInput(text: string, width: number, options: InferInputOptions = {}): InferInput {
  const trimmed = text.trim();
  const HINT = hint(width, options.input);
  if (trimmed === "") throw new UsageError("The input has no rows", HINT);
  const firstLine = trimmed.split("\n", 1)[0].trim();
  const rows = options.csv || !/^[[{]/.test(firstLine) && !/^-?[\d.]+$/.test(firstLine)
    ? csvRows(trimmed, width)
    : jsonRows(trimmed, HINT);
  const x = new Float32Array(rows.length * width);
  const labels: (number | null)[] = [];
  rows.forEach(({ value, raw, label }, r) => {
    const row = r + 1;
    if (value === undefined) value = salvage(raw, row, HINT);
    if (!Array.isArray(value)) {
      throw new UsageError(`Row ${row} is ${describe(value)}, not an array of numbers`, HINT);
    }
    for (let c = 0; c < value.length; c++) {
      const v = value[c];
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new UsageError(`Row ${row}, column ${c + 1}: ${describe(v)} is not a finite number`, HINT);
      }
    }
    if (value.length !== width) {
      throw new UsageError(`Row ${row} has ${value.length} values, the model expects ${width}`, HINT);
    }
    if (options.input) {
      const problem = options.input.prepare(value, x, r * width);
      if (problem) throw new UsageError(`Row ${row}, ${options.input.explain(problem)}`, HINT);
    } else {
      x.set(value as number[], r * width);
    }
    labels.push(checkLabel(label, row, options.classes, HINT));
  });
  return { x, count: rows.length, labels };
}

function checkLabel(label: unknown, row: number, classes: number | undefined, hint: string): number | null {
  if (label === undefined || label === null) return null;
  const max = classes ?? Infinity;
  if (typeof label !== "number" || !Number.isInteger(label) || label < 0 || label >= max) {
    throw new UsageError(
      `Row ${row}: label ${describe(label)} is not a class number${classes ? ` 0..${classes - 1}` : ""}`,
      hint,
    );
  }
  return label;
}

function jsonRows(trimmed: string, HINT: string): Row[] {
  let whole: unknown;
  let wholeOk = false;
  try {
    whole = JSON.parse(trimmed);
    wholeOk = true;
  } catch { /* JSON Lines, or a broken row: parse line by line below */ }
  if (wholeOk && Array.isArray(whole) && whole.some((r) => Array.isArray(r))) {
    return whole.map((value) => ({ value, raw: "" }));
  }
  if (wholeOk && Array.isArray(whole)) return [{ value: whole, raw: trimmed }];
  if (wholeOk && !isSample(whole)) {
    throw new UsageError(`Row 1 is ${describe(whole)}, not an array of numbers`, HINT);
  }
  const rows: Row[] = [];
  for (const line of trimmed.split("\n")) {
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    if (isSample(value)) {
      rows.push({ value: value.x, raw: line, label: value.y });
    } else if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      throw new UsageError(
        `Row ${rows.length + 1} is an object without "x": give {"x": [numbers], "y": LABEL} or an array`,
        HINT,
      );
    } else {
      rows.push({ value, raw: line });
    }
  }
  return rows;
}

function isSample(v: unknown): v is { x: unknown; y?: unknown } {
  return typeof v === "object" && v !== null && !Array.isArray(v) && "x" in v;
}

/** CSV rows: `label,x0,…` (width + 1 fields) or `x0,…` (width fields); a non-numeric first line is a header. */
function csvRows(trimmed: string, width: number): Row[] {
  const rows: Row[] = [];
  let first = true;
  for (const line of trimmed.split("\n")) {
    if (line.trim() === "") continue;
    const fields = line.split(",").map((f) => f.trim());
    if (first) {
      first = false;
      if (fields[0] === "" || Number.isNaN(Number(fields[0]))) continue;
    }
    const nums: unknown[] = fields.map((f) => (f === "" || !Number.isFinite(Number(f)) ? f : Number(f)));
    if (nums.length === width + 1) rows.push({ value: nums.slice(1), raw: line, label: nums[0] });
    else rows.push({ value: nums, raw: line });
  }
  return rows;
}

/**
 * A line that is not valid JSON: if it looks like `[a, b, …]`, find the first element that is not a
 * JSON number (e.g. `NaN`, `1.2.3`, `abc`) so the message can name its column.
 */
function salvage(raw: string, row: number, HINT: string): never {
  const m = /^\s*\[(.*)\]\s*,?\s*$/s.exec(raw);
  if (m) {
    const parts = m[1].split(",");
    for (let c = 0; c < parts.length; c++) {
      const token = parts[c].trim();
      let ok = false;
      try {
        ok = typeof JSON.parse(token) === "number";
      } catch { /* not JSON */ }
      if (!ok) {
        throw new UsageError(
          `Row ${row}, column ${c + 1}: ${JSON.stringify(token.slice(0, 40))} is not a finite number`,
          HINT,
        );
      }
    }
  }
  throw new UsageError(`Row ${row} is not valid JSON: ${JSON.stringify(raw.trim().slice(0, 60))}`, HINT);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v.slice(0, 40));
  if (typeof v === "object") return "an object";
  return String(v);
}
