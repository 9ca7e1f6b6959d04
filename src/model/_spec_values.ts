/**
 * Checking one value of a model spec against its rule, with the key path, value and line in the
 * message (`vit.dim: 0 is out of range 2..1024 (mnist-vit.yaml line 10)`). Used by `spec.ts`. Pure.
 *
 * @module
 */
import { isMap, isScalar, isSeq, type Node as YamlNode, type Pair } from "yaml";
import { closest } from "../config/mod.ts";
import { UsageError } from "../errors.ts";

/** The rule one spec key's value must follow. */
export type Check =
  | { kind: "int"; min: number; max: number }
  | { kind: "number"; min: number; max: number }
  | { kind: "ratio" }
  | { kind: "string"; max: number; pattern?: RegExp }
  | { kind: "enum"; values: readonly string[] }
  | { kind: "intList"; min: number; max: number; maxItems: number }
  | { kind: "numList"; maxItems: number; positive?: boolean }
  | { kind: "range" }
  | { kind: "classes" }
  | { kind: "map"; keys: Record<string, Check> };

export function checkMap(
  path: string,
  table: Record<string, Check>,
  node: YamlNode | null,
  line: number | undefined,
  where: (line?: number) => string,
  lineOf: (node: YamlNode | null | undefined) => number | undefined,
  keyLines: Record<string, number | undefined>,
): Record<string, unknown> {
  if (!isMap(node)) throw new UsageError(`${path}: must be a mapping of keys${where(lineOf(node) ?? line)}`);
  const section: Record<string, unknown> = {};
  for (const item of node.items as Pair<YamlNode, YamlNode>[]) {
    const k = isScalar(item.key) ? String(item.key.value) : String(item.key);
    const check = table[k];
    if (!check) throw unknownKey(`${path}.${k}`, k, Object.keys(table), where(lineOf(item.key)), path);
    keyLines[`${path}.${k}`] = lineOf(item.key);
    section[k] = checkValue(`${path}.${k}`, check, item.value, where(lineOf(item.value) ?? lineOf(item.key)));
  }
  for (const k of Object.keys(table)) {
    if (!(k in section)) throw new UsageError(`${path}.${k} is missing${where(line)}`);
  }
  return section;
}

export function unknownKey(
  path: string,
  key: string,
  known: string[],
  where: string,
  section?: string,
): UsageError {
  const near = closest(key, known);
  return new UsageError(
    `Unknown model spec key ${path}${where}`,
    near ? `Did you mean ${section ? section + "." : ""}${near}?` : `Known keys: ${known.join(", ")}`,
  );
}

export function checkValue(path: string, check: Check, node: YamlNode | null, where: string): unknown {
  const value = node === null ? null : isScalar(node) ? node.value : node.toJSON();
  const show = (v: unknown) => JSON.stringify(v) ?? String(v);
  const fail = (what: string) => new UsageError(`${path}: ${show(value)} ${what}${where}`);
  const int = (v: unknown, min: number, max: number) => {
    if (typeof v !== "number" || !Number.isInteger(v)) throw fail("is not an integer");
    if (v < min || v > max) throw fail(`is out of range ${min}..${max}`);
    return v;
  };
  const num = (v: unknown) => {
    if (typeof v !== "number" || !Number.isFinite(v)) throw fail("is not a finite number");
    return v;
  };
  switch (check.kind) {
    case "int":
      return int(value, check.min, check.max);
    case "number": {
      const v = num(value);
      if (v < check.min || v > check.max) throw fail(`is out of range ${check.min}..${check.max}`);
      return v;
    }
    case "ratio": {
      // `scale: 1/255` is a string to YAML; a plain number works too.
      const m = typeof value === "string" ? /^\s*([\d.e+-]+)\s*\/\s*([\d.e+-]+)\s*$/.exec(value) : null;
      const v = m ? Number(m[1]) / Number(m[2]) : value;
      if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
        throw fail("is not a positive number or fraction, e.g. 1/255");
      }
      return v;
    }
    case "string":
      if (typeof value !== "string") throw fail("is not a string (quote it)");
      if (value.length > check.max) throw fail(`is longer than ${check.max} characters`);
      if (check.pattern && !check.pattern.test(value)) throw fail(`does not match ${check.pattern}`);
      return value;
    case "enum":
      if (typeof value !== "string" || !check.values.includes(value)) {
        throw fail(`is not one of ${check.values.join(", ")}`);
      }
      return value;
    case "intList":
      if (!isSeq(node) || !Array.isArray(value)) throw fail("is not a list of integers, e.g. [32]");
      if (value.length === 0 || value.length > check.maxItems) {
        throw fail(`must have 1..${check.maxItems} entries`);
      }
      return value.map((v) => int(v, check.min, check.max));
    case "numList": {
      if (!isSeq(node) || !Array.isArray(value) || value.length === 0) {
        throw fail("is not a list of numbers, e.g. [0.5, 12]");
      }
      const list = value.map(num);
      if (check.positive && list.some((v) => v <= 0)) throw fail("must be positive numbers");
      return list;
    }
    case "range": {
      if (!isSeq(node) || !Array.isArray(value) || value.length !== 2) throw fail("is not [low, high]");
      const [lo, hi] = value.map(num);
      if (!(lo < hi)) throw fail("must have low < high");
      return [lo, hi];
    }
    case "classes": {
      if (typeof value === "number") return int(value, 2, 4096);
      if (!isSeq(node) || !Array.isArray(value)) {
        throw fail("is not a number of classes or a list of class names, e.g. [idle, walk, run]");
      }
      if (value.length < 2 || value.length > 4096) throw fail("must name 2..4096 classes");
      const names = value.map((v) => {
        if (typeof v !== "string" && typeof v !== "number") throw fail("must be a list of names");
        const name = String(v);
        if (!/^[\w .+-]{1,40}$/.test(name)) {
          throw fail(`has the class name ${show(name)}: use 1-40 letters, digits, ' ._+-'`);
        }
        return name;
      });
      if (new Set(names).size !== names.length) throw fail("names a class twice");
      return names;
    }
    case "map":
      throw new Error("Bug: maps are checked by checkMap");
  }
}
