/**
 * Which specs a board knows and which one it runs. Built-in specs ship in `models/`; a user's own spec
 * can live anywhere (`model.spec: /path/spec.yaml`, or `agent init --model PATH`) and is copied into
 * `<state>/models/<id>.yaml`, so an installed board (which has no repository) is self-contained and
 * `agent clone` can ship it. Lookup by id tries the state's copies first, then the built-ins.
 *
 * @module
 */
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { writeFileAtomic } from "../state/mod.ts";
import { listModelIds, loadModelSpec, MODELS_DIR, type ModelSpec, parseModelSpec } from "./spec.ts";

/** Where a spec came from. */
export type SpecOrigin = "built-in" | "local";

/** A spec with its origin and file. */
export interface KnownSpec {
  spec: ModelSpec;
  origin: SpecOrigin;
  path: string;
}

function dirUrl(dir: string): URL {
  return pathToFileURL(resolve(dir) + "/");
}

/** The spec directories of a board: its own (`<state>/models`) first, then the built-ins. */
export function specDirs(localModels: string): URL[] {
  return [dirUrl(localModels), MODELS_DIR];
}

/** True when `value` names a spec file rather than an id (it has a `/` or ends in `.yaml`/`.yml`). */
export function isSpecPath(value: string): boolean {
  return value.includes("/") || /\.ya?ml$/i.test(value);
}

/**
 * Reads the spec file at `path` (anywhere) and copies it to `<localModels>/<id>.yaml` unless the same
 * text is there. Refuses a spec that reuses a built-in id with different content (peers would think
 * they run the same model).
 */
export async function installSpecFile(path: string, localModels: string): Promise<KnownSpec> {
  const { spec, text } = await readSpecFile(path);
  const target = `${localModels}/${spec.id}.yaml`;
  let current: string | undefined;
  try {
    current = await Deno.readTextFile(target);
  } catch { /* not installed yet */ }
  if (current !== text) {
    await Deno.mkdir(localModels, { recursive: true, mode: 0o700 });
    await writeFileAtomic(target, text);
  }
  return { spec, origin: "local", path: target };
}

/** Reads and validates the spec file at `path` without installing it (see {@linkcode installSpecFile}). */
export async function readSpecFile(path: string): Promise<{ spec: ModelSpec; text: string }> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "does not exist"
      : e instanceof Deno.errors.IsADirectory || (e as Error).message.includes("directory")
      ? "is a directory"
      : `cannot be read (${(e as Error).message})`;
    throw new UsageError(
      `Model spec file ${JSON.stringify(path)} ${why}`,
      "Give the path of a spec .yaml file",
    );
  }
  const spec = parseModelSpec(text, path);
  let builtIn: string | undefined;
  try {
    builtIn = await Deno.readTextFile(new URL(`${spec.id}.yaml`, MODELS_DIR));
  } catch { /* not a built-in id */ }
  if (builtIn !== undefined && builtIn !== text) {
    throw new UsageError(
      `Model spec ${JSON.stringify(path)} uses the id ${JSON.stringify(spec.id)} of a built-in model`,
      "Give your spec its own id (and file name)",
    );
  }
  return { spec, text };
}

/**
 * The spec a board runs: `model.spec` when set (installed into the state, and used from there when the
 * file is gone, e.g. on a cloned board), else `model.id` from the state's specs or the built-ins.
 */
export async function resolveModelSpec(
  model: { id: string; spec?: string },
  localModels: string,
): Promise<KnownSpec> {
  if (model.spec) {
    try {
      await Deno.stat(model.spec);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      const copy = await findSpec(model.id, localModels).catch(() => undefined);
      if (copy?.origin === "local") return copy;
    }
    return await installSpecFile(model.spec, localModels);
  }
  return await findSpec(model.id, localModels);
}

async function findSpec(id: string, localModels: string): Promise<KnownSpec> {
  const spec = await loadModelSpec(id, specDirs(localModels));
  const local = `${localModels}/${id}.yaml`;
  const isLocal = await Deno.stat(local).then((s) => s.isFile, () => false);
  return isLocal
    ? { spec, origin: "local", path: local }
    : { spec, origin: "built-in", path: decodeURIComponent(new URL(`${id}.yaml`, MODELS_DIR).pathname) };
}

/** Every spec the board knows: built-ins, then its own (a bad local file is a UsageError naming it). */
export async function listKnownSpecs(localModels: string): Promise<KnownSpec[]> {
  const out: KnownSpec[] = [];
  for (const id of await listModelIds(MODELS_DIR)) {
    const spec = await loadModelSpec(id, MODELS_DIR);
    out.push({
      spec,
      origin: "built-in",
      path: decodeURIComponent(new URL(`${id}.yaml`, MODELS_DIR).pathname),
    });
  }
  const builtIn = new Set(out.map((k) => k.spec.id));
  for (const id of await listModelIds(dirUrl(localModels))) {
    if (builtIn.has(id)) continue;
    const spec = await loadModelSpec(id, dirUrl(localModels));
    out.push({ spec, origin: "local", path: `${localModels}/${id}.yaml` });
  }
  return out;
}
