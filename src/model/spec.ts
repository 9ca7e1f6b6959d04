/**
 * Model specs: a YAML file → a validated {@linkcode ModelSpec}. Errors name the key path, the value and
 * the line, like the config loader: `vit.heads: 3 does not divide vit.dim 32 (mnist-vit.yaml line 14)`.
 *
 * A spec file has the common keys `id`, `version`, `description`, `seed`, `classes` (a count or a list
 * of names), the input shape (`features: N`, `sequence: {steps, channels}` or
 * `image: {height, width, channels}`; the older `input: N` means N features), optionally the input's
 * `range: [lo, hi]`, `scale` and per-feature `mean`/`std` (see `input.ts`), and exactly one
 * architecture section: `mlp:`, `vit:`, `transformer:` or `cnn1d:` (see the files in `models/`).
 *
 * @module
 */
import { isMap, isScalar, LineCounter, type Node as YamlNode, type Pair, parseDocument } from "yaml";
import { type Check, checkMap, checkValue, unknownKey } from "./_spec_values.ts";
import { UsageError } from "../errors.ts";
import { MODELS_DIR } from "../resources.ts";
import { describeShape, type InputNorm, type InputShape, shapeChannels, shapeSize } from "./input.ts";

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
  /** Input values per sample (the size of {@linkcode SpecCommon.shape}). */
  input: number;
  /** Output classes. */
  classes: number;
  /** Names of the classes (`classes: [idle, walk, run]`), used in predictions, status and hints. */
  classNames?: string[];
  /** What one input row is (`features:`, `sequence:` or `image:`; default `input` features). */
  shape: InputShape;
  /** Expected range and normalisation of raw input values (`range`, `scale`, `mean`, `std`). */
  norm: InputNorm;
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

/** Pooling of a sequence transformer's tokens: their mean, or a learned class token. */
export const POOLINGS = ["mean", "cls"] as const;

/** A tiny transformer over a sequence (`sequence: {steps, channels}`): 1-D patches of time steps. */
export interface TransformerSpec extends SpecCommon {
  kind: "transformer";
  transformer: {
    /** Time steps per token; divides `sequence.steps`. */
    patch: number;
    dim: number;
    depth: number;
    heads: number;
    mlpDim: number;
    pooling: typeof POOLINGS[number];
  };
}

/** A tiny 1-D convolutional network over a sequence: conv (same padding) + ReLU + max-pool per layer. */
export interface Cnn1dSpec extends SpecCommon {
  kind: "cnn1d";
  cnn1d: {
    /** Output channels of each convolution layer. */
    filters: number[];
    /** Kernel width (odd) of every convolution. */
    kernel: number;
    /** Max-pool width after each convolution (1 = none); `pool^layers` divides `sequence.steps`. */
    pool: number;
    /** How the head sees the last feature map: its mean over time, or all of it (`flatten`). */
    pooling: "mean" | "flatten";
  };
}

/** A validated model spec. */
export type ModelSpec = MlpSpec | VitSpec | TransformerSpec | Cnn1dSpec;

/** The architecture families a spec may name (one section each). */
export const MODEL_KINDS = ["mlp", "vit", "transformer", "cnn1d"] as const;
type Kind = typeof MODEL_KINDS[number];

const DIM = { kind: "int", min: 1, max: 1 << 20 } as const;

const COMMON_KEYS: Record<string, Check> = {
  id: { kind: "string", max: 64, pattern: MODEL_ID_PATTERN },
  version: { kind: "int", min: 1, max: 65535 },
  description: { kind: "string", max: 200 },
  seed: { kind: "int", min: 0, max: 0xffffffff },
  input: { kind: "int", min: 1, max: 1 << 20 },
  classes: { kind: "classes" },
  features: DIM,
  sequence: { kind: "map", keys: { steps: DIM, channels: { kind: "int", min: 1, max: 4096 } } },
  image: {
    kind: "map",
    keys: { height: DIM, width: DIM, channels: { kind: "int", min: 1, max: 4 } },
  },
  range: { kind: "range" },
  scale: { kind: "ratio" },
  mean: { kind: "numList", maxItems: 1 << 20 },
  std: { kind: "numList", maxItems: 1 << 20, positive: true },
};

/** Common keys a spec must have (the shape keys and `input` are alternatives; see the parser). */
const REQUIRED = ["id", "version", "description", "seed", "classes"];
const SHAPE_KEYS = ["features", "sequence", "image"] as const;

const BLOCKS = {
  dim: { kind: "int", min: 2, max: 1024 },
  depth: { kind: "int", min: 1, max: 12 },
  heads: { kind: "int", min: 1, max: 64 },
  mlpDim: { kind: "int", min: 1, max: 4096 },
} as const;

const SECTION_KEYS: Record<Kind, Record<string, Check>> = {
  mlp: {
    hidden: { kind: "intList", min: 1, max: 4096, maxItems: 8 },
    activation: { kind: "enum", values: ACTIVATIONS },
  },
  vit: {
    imageSize: { kind: "int", min: 2, max: 1024 },
    patchSize: { kind: "int", min: 1, max: 1024 },
    ...BLOCKS,
  },
  transformer: {
    patch: { kind: "int", min: 1, max: 4096 },
    ...BLOCKS,
    pooling: { kind: "enum", values: POOLINGS },
  },
  cnn1d: {
    filters: { kind: "intList", min: 1, max: 1024, maxItems: 6 },
    kernel: { kind: "int", min: 1, max: 63 },
    pool: { kind: "int", min: 1, max: 16 },
    pooling: { kind: "enum", values: ["mean", "flatten"] },
  },
};

/** Directory of the shipped specs (`models/` at the repository root, or beside the bundle of a release). */
export { MODELS_DIR };

/** Where the specs of one board are looked up: the state's own copies first, then the built-ins. */
export type SpecDirs = URL | URL[];

function dirList(dirs: SpecDirs): URL[] {
  return Array.isArray(dirs) ? dirs : [dirs];
}

/**
 * Loads and validates the spec `<id>.yaml` from the first of `dirs` that has it (default: the built-in
 * `models/`). An unknown id or a bad file is a {@linkcode UsageError} naming the file, key and line and
 * listing the known ids.
 */
export async function loadModelSpec(id: string, dirs: SpecDirs = MODELS_DIR): Promise<ModelSpec> {
  const list = dirList(dirs);
  const known = async () => `Known models: ${(await listModelIds(list)).join(", ") || "none"}`;
  if (!MODEL_ID_PATTERN.test(id)) {
    throw new UsageError(
      `Model id ${JSON.stringify(id)} is not valid: lower-case letters, digits and '-'`,
      await known(),
    );
  }
  for (const dir of list) {
    const url = new URL(`${id}.yaml`, dir);
    let text: string;
    try {
      text = await Deno.readTextFile(url);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw new UsageError(
        `Cannot read model spec ${JSON.stringify(decodeURIComponent(url.pathname))}: ${(e as Error).message}`,
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
  throw new UsageError(
    `Unknown model ${JSON.stringify(id)}: no file ${id}.yaml in ${
      list.map((d) => decodeURIComponent(d.pathname)).join(" or ")
    }`,
    `${await known()}; or give the path of a spec file (e.g. --model ./my-sensor.yaml)`,
  );
}

/** Ids of the specs in `dirs`, sorted and without duplicates. */
export async function listModelIds(dirs: SpecDirs = MODELS_DIR): Promise<string[]> {
  const ids = new Set<string>();
  for (const dir of dirList(dirs)) {
    try {
      for await (const e of Deno.readDir(dir)) {
        if (e.isFile && e.name.endsWith(".yaml")) ids.add(e.name.slice(0, -5));
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return [...ids].sort();
}

/** The class name of `index` (`"walk"`), or the index as text when the spec names none. */
export function className(spec: ModelSpec, index: number): string {
  return spec.classNames?.[index] ?? String(index);
}

/** `784 features`, `28 steps × 28 channels`: the input of `spec` in words. */
export function describeInput(spec: ModelSpec): string {
  return describeShape(spec.shape);
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
    keyLines[key] = line;
    if (key in SECTION_KEYS) {
      sections[key] = checkMap(key, SECTION_KEYS[key as Kind], pair.value, line, where, lineOf, keyLines);
      sectionLines[key] = line;
      continue;
    }
    const check = COMMON_KEYS[key];
    if (!check) {
      throw unknownKey(key, key, [...Object.keys(COMMON_KEYS), ...Object.keys(SECTION_KEYS)], where(line));
    }
    out[key] = check.kind === "map"
      ? checkMap(key, check.keys, pair.value, line, where, lineOf, keyLines)
      : checkValue(key, check, pair.value, where(lineOf(pair.value) ?? line));
  }
  for (const k of REQUIRED) {
    if (!(k in out)) throw new UsageError(`${k} is missing${where(rootLine)}`, hint);
  }
  const kinds = Object.keys(sections);
  if (kinds.length !== 1) {
    throw new UsageError(
      kinds.length === 0
        ? `Model spec needs an architecture section, one of ${MODEL_KINDS.join(", ")}${where(rootLine)}`
        : `Model spec has both ${kinds[0]}: and ${kinds[1]}: sections; keep one${
          where(sectionLines[kinds[1]])
        }`,
      hint,
    );
  }
  const kind = kinds[0] as Kind;
  const at = (path: string) => where(keyLines[path] ?? sectionLines[kind]);
  const fail = (path: string, message: string) => new UsageError(`${message}${at(path)}`, hint);
  const shape = inputShape(out, kind, at, hint);
  const input = shapeSize(shape);
  if (out.input !== undefined && out.input !== input) {
    throw fail("input", `input: ${out.input} does not match the ${describeShape(shape)} (${input} values)`);
  }
  const norm = inputNorm(out, shape, input, fail);
  const classes = out.classes as number | string[];
  const common = {
    id: out.id,
    version: out.version,
    description: out.description,
    seed: out.seed,
    input,
    classes: typeof classes === "number" ? classes : classes.length,
    ...(Array.isArray(classes) ? { classNames: classes } : {}),
    shape,
    norm,
  };
  const spec = { ...common, kind, [kind]: sections[kind] } as unknown as ModelSpec;
  checkArchitecture(spec, fail);
  return spec;
}

function inputShape(
  out: Record<string, unknown>,
  kind: Kind,
  at: (path: string) => string,
  hint: string,
): InputShape {
  const given = SHAPE_KEYS.filter((k) => k in out);
  if (given.length > 1) {
    throw new UsageError(
      `Model spec states both ${given[0]}: and ${given[1]}:; keep one${at(given[1])}`,
      hint,
    );
  }
  if (given[0] === "features") return { kind: "features", features: out.features as number };
  if (given[0] === "sequence") {
    return { kind: "sequence", ...(out.sequence as { steps: number; channels: number }) };
  }
  if (given[0] === "image") {
    return { kind: "image", ...(out.image as { height: number; width: number; channels: number }) };
  }
  if (out.input === undefined) {
    throw new UsageError(
      `Model spec needs its input shape: features: N, sequence: {steps, channels} or image: {height, width, channels}${
        at("id")
      }`,
      hint,
    );
  }
  if (kind === "transformer" || kind === "cnn1d") {
    throw new UsageError(`${kind}: needs sequence: {steps, channels}${at(kind)}`, hint);
  }
  return { kind: "features", features: out.input as number };
}

function inputNorm(
  out: Record<string, unknown>,
  shape: InputShape,
  input: number,
  fail: (path: string, message: string) => UsageError,
): InputNorm {
  const norm: InputNorm = {};
  if (out.range !== undefined) norm.range = out.range as [number, number];
  if (out.scale !== undefined) norm.scale = out.scale as number;
  const channels = shapeChannels(shape);
  for (const k of ["mean", "std"] as const) {
    const list = out[k] as number[] | undefined;
    if (list === undefined) continue;
    if (list.length !== input && list.length !== channels) {
      throw fail(
        k,
        `${k}: has ${list.length} values, expected ${input} (one per feature)` +
          (channels > 1 ? ` or ${channels} (one per channel)` : ""),
      );
    }
    norm[k] = list;
  }
  if ((norm.mean === undefined) !== (norm.std === undefined)) {
    throw fail(
      norm.mean ? "mean" : "std",
      `${norm.mean ? "mean" : "std"}: needs ${norm.mean ? "std" : "mean"}: too`,
    );
  }
  return norm;
}

function checkArchitecture(spec: ModelSpec, fail: (path: string, message: string) => UsageError): void {
  const heads = (dim: number, h: number, path: string) => {
    if (dim % h !== 0) throw fail(`${path}.heads`, `${path}.heads: ${h} does not divide ${path}.dim ${dim}`);
  };
  if (spec.kind === "vit") {
    const v = spec.vit;
    if (v.imageSize * v.imageSize !== spec.input) {
      throw fail(
        "vit.imageSize",
        `vit.imageSize: ${v.imageSize}² = ${v.imageSize * v.imageSize} does not match input ${spec.input}`,
      );
    }
    const s = spec.shape;
    if (s.kind === "image" && (s.channels !== 1 || s.height !== v.imageSize || s.width !== v.imageSize)) {
      throw fail(
        "image",
        `image: ${describeShape(s)} is not the ${v.imageSize}×${v.imageSize}×1 image vit: takes`,
      );
    }
    if (s.kind === "sequence") throw fail("sequence", "vit: takes an image; use transformer: for a sequence");
    if (v.imageSize % v.patchSize !== 0) {
      throw fail(
        "vit.patchSize",
        `vit.patchSize: ${v.patchSize} does not divide vit.imageSize ${v.imageSize}`,
      );
    }
    heads(v.dim, v.heads, "vit");
  }
  if (spec.kind === "transformer" || spec.kind === "cnn1d") {
    const s = spec.shape;
    if (s.kind !== "sequence") {
      throw fail(spec.kind, `${spec.kind}: needs sequence: {steps, channels}, not ${describeShape(s)}`);
    }
    if (spec.kind === "transformer") {
      const t = spec.transformer;
      if (s.steps % t.patch !== 0) {
        throw fail(
          "transformer.patch",
          `transformer.patch: ${t.patch} does not divide sequence.steps ${s.steps}`,
        );
      }
      heads(t.dim, t.heads, "transformer");
    } else {
      const c = spec.cnn1d;
      if (c.kernel % 2 === 0) throw fail("cnn1d.kernel", `cnn1d.kernel: ${c.kernel} is not odd`);
      const total = c.pool ** c.filters.length;
      if (s.steps % total !== 0) {
        throw fail(
          "cnn1d.pool",
          `cnn1d.pool: ${c.pool}^${c.filters.length} layers = ${total} does not divide sequence.steps ${s.steps}`,
        );
      }
    }
  }
}
