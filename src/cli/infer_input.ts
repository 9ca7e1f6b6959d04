/**
 * Parsing `agent infer` input: one JSON array of numbers (one row), a JSON array of such arrays, or
 * JSON Lines with one array per line. Every problem is a {@linkcode UsageError} naming the row and
 * column (1-based), e.g. `Row 3, column 17: "NaN" is not a finite number`. Pure.
 *
 * @module
 */
import { UsageError } from "../errors.ts";

const HINT = "Give one JSON array of numbers per row (JSON Lines) or a JSON array of rows; " +
  "MNIST rows have 784 pixel values in [0, 1]";

/** Parses the input text into `count` rows of `width` floats. */
export function parseInferInput(text: string, width: number): { x: Float32Array; count: number } {
  const trimmed = text.trim();
  if (trimmed === "") throw new UsageError("The input has no rows", HINT);
  let rows: { value: unknown; raw: string }[];
  let whole: unknown;
  let wholeOk = false;
  try {
    whole = JSON.parse(trimmed);
    wholeOk = true;
  } catch { /* JSON Lines, or a broken row: parse line by line below */ }
  if (wholeOk && Array.isArray(whole) && whole.some((r) => Array.isArray(r))) {
    rows = whole.map((value) => ({ value, raw: "" }));
  } else if (wholeOk && Array.isArray(whole)) {
    rows = [{ value: whole, raw: trimmed }];
  } else if (wholeOk && !Array.isArray(whole)) {
    throw new UsageError(`Row 1 is ${describe(whole)}, not an array of numbers`, HINT);
  } else {
    rows = [];
    for (const line of trimmed.split("\n")) {
      if (line.trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        value = undefined;
      }
      rows.push({ value, raw: line });
    }
  }
  const x = new Float32Array(rows.length * width);
  rows.forEach(({ value, raw }, r) => {
    const row = r + 1;
    if (value === undefined) value = salvage(raw, row);
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
    x.set(value as number[], r * width);
  });
  return { x, count: rows.length };
}

/**
 * A line that is not valid JSON: if it looks like `[a, b, …]`, find the first element that is not a
 * JSON number (e.g. `NaN`, `1.2.3`, `abc`) so the message can name its column.
 */
function salvage(raw: string, row: number): never {
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
