/**
 * Model specs: `models/<id>.yaml` → a validated {@linkcode ModelSpec}. Errors name the key path, the
 * value and the line, like the config loader: `vit.heads: 3 does not divide vit.dim 32 (mnist-vit.yaml
 * line 14)`.
 *
 * A spec file has the common keys `id`, `version`, `description`, `seed`, `input`, `classes` and
 * exactly one architecture section, `mlp:` or `vit:` (see the files in `models/`).
 *
 * @module
 */
import { isMap, isScalar, isSeq, LineCounter, type Node as YamlNode, type Pair, parseDocument } from "yaml";
import { closest } from "../config/load.ts";
import { UsageError } from "../errors.ts";
import { MODELS_DIR } from "../resources.ts";

/** Model ids: lower-case letters, digits and dashes (they name files in `models/`). */
export const MODEL_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** Activations a spec may name (all are supported by every backend's fused matMul). */
export const ACTIVATIONS = ["relu", "sigmoid", "linear"] as const;
/** One of {@linkcode ACTIVATIONS}. */
export type Activation = typeof ACTIVATIONS[number];

/** Keys every spec has. */
export interface SpecCommon {
  id: string;
  /** Bumped whenever the architecture changes; part of the model hash. */
  version: number;
  description: string;
  /** Seed of the initial weights (via `SeededRandom`). */
  seed: number;
  /** Input features per sample. */
  input: number;
  /** Output classes. */
  classes: number;
}

/** A multilayer perceptron: `input → hidden[0] → … → classes`. */
export interface MlpSpec extends SpecCommon {
  kind: "mlp";
  mlp: { hidden: number[]; activation: Activation };
}

/** A tiny vision transformer over square single-channel images. */
export interface VitSpec extends SpecCommon {
  kind: "vit";
  vit: {
    /** Side of the square image; `imageSize² = input`. */
    imageSize: number;
    /** Side of a square patch; divides `imageSize`. */
    patchSize: number;
    /** Embedding width; divisible by `heads`. */
    dim: number;
    /** Number of pre-norm transformer blocks. */
    depth: number;
    heads: number;
    /** Hidden width of each block's MLP. */
    mlpDim: number;
  };
}

/** A validated model spec. */
export type ModelSpec = MlpSpec | VitSpec;

type Check = { kind: "int"; min: number; max: number } | { kind: "string"; max: number; pattern?: RegExp } | {
  kind: "enum";
  values: readonly string[];
} | { kind: "intList"; min: number; max: number; maxItems: number };

const COMMON_KEYS: Record<string, Check> = {
  id: { kind: "string", max: 64, pattern: MODEL_ID_PATTERN },
  version: { kind: "int", min: 1, max: 65535 },
  description: { kind: "string", max: 200 },
  seed: { kind: "int", min: 0, max: 0xffffffff },
  input: { kind: "int", min: 1, max: 1 << 20 },
  classes: { kind: "int", min: 2, max: 4096 },
};

const SECTION_KEYS: Record<"mlp" | "vit", Record<string, Check>> = {
  mlp: {
    hidden: { kind: "intList", min: 1, max: 4096, maxItems: 8 },
    activation: { kind: "enum", values: ACTIVATIONS },
  },
  vit: {
    imageSize: { kind: "int", min: 2, max: 1024 },
    patchSize: { kind: "int", min: 1, max: 1024 },
    dim: { kind: "int", min: 2, max: 1024 },
    depth: { kind: "int", min: 1, max: 12 },
    heads: { kind: "int", min: 1, max: 64 },
    mlpDim: { kind: "int", min: 1, max: 4096 },
  },
};

/** Directory of the shipped specs (`models/` at the repository root, or beside the bundle of a release). */
export { MODELS_DIR };

/**
 * Loads and validates `models/<id>.yaml`. An unknown id or a bad file is a {@linkcode UsageError}
 * naming the file, key and line; `dir` overrides the models directory (tests).
 */
export async function loadModelSpec(id: string, dir: URL = MODELS_DIR): Promise<ModelSpec> {
  if (!MODEL_ID_PATTERN.test(id)) {
    throw new UsageError(
      `Model id ${JSON.stringify(id)} is not valid: lower-case letters, digits and '-'`,
      `Known models: ${(await listModelIds(dir)).join(", ") || "none"}`,
    );
  }
  const url = new URL(`${id}.yaml`, dir);
  let text: string;
  try {
    text = await Deno.readTextFile(url);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new UsageError(
      `Unknown model ${JSON.stringify(id)}: no file ${id}.yaml in ${decodeURIComponent(dir.pathname)}`,
      `Known models: ${(await listModelIds(dir)).join(", ") || "none"}`,
    );
  }
  const spec = parseModelSpec(text, `${id}.yaml`);
  if (spec.id !== id) {
    throw new UsageError(
      `id: ${JSON.stringify(spec.id)} does not match the file name ${id}.yaml`,
      `Rename the file or fix its id`,
    );
  }
  return spec;
}

/** Ids of the specs in `dir`, sorted. */
export async function listModelIds(dir: URL = MODELS_DIR): Promise<string[]> {
  const ids: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".yaml")) ids.push(e.name.slice(0, -5));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return ids.sort();
}

/** Parses and validates spec YAML; `file` names the source in error messages. Pure. */
export function parseModelSpec(text: string, file: string): ModelSpec {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const hint = `Fix ${file}; see models/mnist-mlp.yaml for a working example`;
  const where = (line?: number) => ` (${file}${line ? ` line ${line}` : ""})`;
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new UsageError(
      `Model spec is not valid YAML: ${e.message.split("\n")[0]}${where(e.linePos?.[0]?.line)}`,
      hint,
    );
  }
  const lineOf = (node: YamlNode | null | undefined) =>
    node?.range ? lines.linePos(node.range[0]).line : undefined;
  const root = doc.contents;
  if (!isMap(root)) {
    throw new UsageError(`Model spec must be a mapping of keys (id, version, …)${where(lineOf(root))}`, hint);
  }
  const out: Record<string, unknown> = {};
  let rootLine: number | undefined;
  const sections: Record<string, Record<string, unknown>> = {};
  const sectionLines: Record<string, number | undefined> = {};
  const keyLines: Record<string, number | undefined> = {};
  for (const pair of root.items as Pair<YamlNode, YamlNode>[]) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const line = lineOf(pair.key);
    rootLine ??= line;
    if (key in SECTION_KEYS) {
      const table = SECTION_KEYS[key as "mlp" | "vit"];
      if (!isMap(pair.value)) {
        throw new UsageError(`${key}: must be a mapping of keys${where(lineOf(pair.value) ?? line)}`, hint);
      }
      const section: Record<string, unknown> = {};
      for (const item of pair.value.items as Pair<YamlNode, YamlNode>[]) {
        const k = isScalar(item.key) ? String(item.key.value) : String(item.key);
        const check = table[k];
        if (!check) throw unknownKey(`${key}.${k}`, k, Object.keys(table), where(lineOf(item.key)), key);
        keyLines[`${key}.${k}`] = lineOf(item.key);
        section[k] = checkValue(
          `${key}.${k}`,
          check,
          item.value,
          where(lineOf(item.value) ?? lineOf(item.key)),
        );
      }
      for (const k of Object.keys(table)) {
        if (!(k in section)) throw new UsageError(`${key}.${k} is missing${where(line)}`, hint);
      }
      sections[key] = section;
      sectionLines[key] = line;
      continue;
    }
    const check = COMMON_KEYS[key];
    if (!check) {
      throw unknownKey(key, key, [...Object.keys(COMMON_KEYS), ...Object.keys(SECTION_KEYS)], where(line));
    }
    out[key] = checkValue(key, check, pair.value, where(lineOf(pair.value) ?? line));
  }
  for (const k of Object.keys(COMMON_KEYS)) {
    if (!(k in out)) throw new UsageError(`${k} is missing${where(rootLine)}`, hint);
  }
  const kinds = Object.keys(sections);
  if (kinds.length !== 1) {
    throw new UsageError(
      kinds.length === 0
        ? `Model spec needs an architecture section, mlp: or vit:${where(rootLine)}`
        : `Model spec has both mlp: and vit: sections; keep one${where(sectionLines[kinds[1]])}`,
      hint,
    );
  }
  const kind = kinds[0] as "mlp" | "vit";
  const spec = { ...out, kind, [kind]: sections[kind] } as unknown as ModelSpec;
  const at = (path: string) => where(keyLines[path] ?? sectionLines[kind]);
  if (spec.kind === "vit") {
    const v = spec.vit;
    if (v.imageSize * v.imageSize !== spec.input) {
      throw new UsageError(
        `vit.imageSize: ${v.imageSize}² = ${v.imageSize * v.imageSize} does not match input ${spec.input}${
          at("vit.imageSize")
        }`,
        hint,
      );
    }
    if (v.imageSize % v.patchSize !== 0) {
      throw new UsageError(
        `vit.patchSize: ${v.patchSize} does not divide vit.imageSize ${v.imageSize}${at("vit.patchSize")}`,
        hint,
      );
    }
    if (v.dim % v.heads !== 0) {
      throw new UsageError(`vit.heads: ${v.heads} does not divide vit.dim ${v.dim}${at("vit.heads")}`, hint);
    }
  }
  return spec;
}

function unknownKey(path: string, key: string, known: string[], where: string, section?: string): UsageError {
  const near = closest(key, known);
  return new UsageError(
    `Unknown model spec key ${path}${where}`,
    near ? `Did you mean ${section ? section + "." : ""}${near}?` : `Known keys: ${known.join(", ")}`,
  );
}

function checkValue(path: string, check: Check, node: YamlNode | null, where: string): unknown {
  const value = node === null ? null : isScalar(node) ? node.value : node.toJSON();
  const show = (v: unknown) => JSON.stringify(v) ?? String(v);
  const fail = (what: string) => new UsageError(`${path}: ${show(value)} ${what}${where}`);
  const int = (v: unknown, min: number, max: number) => {
    if (typeof v !== "number" || !Number.isInteger(v)) throw fail("is not an integer");
    if (v < min || v > max) throw fail(`is out of range ${min}..${max}`);
    return v;
  };
  switch (check.kind) {
    case "int":
      return int(value, check.min, check.max);
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
  }
}
