/**
 * The app as a bundle: `deno bundle --platform deno --minify --code-splitting` of `src/main.ts`, every
 * module and npm package of the agent in ≈ 2.7 MB of JavaScript: `main.js` and the chunks it imports
 * when a command needs them (about 40 files). Built from a source tree once per content: the bundle is
 * cached under `<cacheDir>/bundles/<key>/`, where the key covers every file under `src/`, `deno.json`,
 * `deno.lock` and the Deno version that bundles.
 *
 * Code splitting because one single file made every start parse and set up the whole app: measured
 * here, `agent --version` took about twice as long (≈ 0.45 s against ≈ 0.2 s) and 68 MB instead of
 * 47 MB resident. Minified because it is smaller on the wire and on the SD card, and V8 keeps the source
 * text of a script in memory (unminified it is 5.9 MB, not pure ASCII, so held as a two-byte string).
 *
 * @module
 */
import { join } from "node:path";
import { BUNDLE_ENTRY } from "../resources.ts";
import { CloneError, CloneFailure } from "./errors.ts";
import { sha256File } from "./runtime.ts";
import { toHex } from "../bytes.ts";

/** The `deno bundle` arguments for `root` (run with the root as working directory). */
export function bundleArgs(root: string, out: string): string[] {
  return [
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    "--minify",
    "--frozen",
    "--config",
    join(root, "deno.json"),
    "--code-splitting",
    "--outdir",
    out,
    join(root, "src", "main.ts"),
  ];
}

async function filesUnder(root: string, rel: string, out: string[]): Promise<void> {
  const names: { name: string; dir: boolean }[] = [];
  for await (const e of Deno.readDir(join(root, rel))) names.push({ name: e.name, dir: e.isDirectory });
  names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const n of names) {
    const p = `${rel}/${n.name}`;
    if (n.dir) await filesUnder(root, p, out);
    else out.push(p);
  }
}

/** Content key of the bundle of `root`: sha256 over the inputs (paths and contents) and the Deno version. */
export async function bundleKey(root: string): Promise<string> {
  const files: string[] = [];
  await filesUnder(root, "src", files);
  const lines = [`deno ${Deno.version.deno}`];
  for (const f of ["deno.json", "deno.lock", ...files]) {
    try {
      lines.push(`${await sha256File(join(root, f))}  ${f}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(lines.join("\n")));
  return toHex(d).slice(0, 32);
}

/**
 * Bundles the source tree `root` (or finds its bundle in the cache) and returns the directory holding
 * `main.js` and its chunks.
 * Needs the Deno CLI (this process's own binary when it runs from source) and, the first time on a
 * machine, the npm registry for esbuild.
 */
export async function bundleApp(
  root: string,
  cacheDir: string,
  onNote?: (note: string) => void,
): Promise<string> {
  const key = await bundleKey(root);
  const out = join(cacheDir, "bundles", key);
  try {
    await Deno.stat(join(out, BUNDLE_ENTRY));
    return out;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  onNote?.(`bundling ${root}/src/main.ts`);
  await Deno.mkdir(join(cacheDir, "bundles"), { recursive: true });
  const tmp = join(cacheDir, "bundles", `.tmp-${Deno.pid}-${key}`);
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  let r: Deno.CommandOutput;
  try {
    r = await new Deno.Command(Deno.execPath(), {
      args: bundleArgs(root, tmp),
      cwd: root,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    throw new CloneError(
      CloneFailure.MissingRuntime,
      `Could not run 'deno bundle' to build the release: ${(e as Error).message}`,
      "Run the clone from a checkout with the Deno CLI (deno task agent clone …)",
    );
  }
  if (!r.success) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    const err = new TextDecoder().decode(r.stderr).trim().split("\n").slice(-3).join(" ");
    throw new CloneError(
      CloneFailure.MissingRuntime,
      `deno bundle of ${root}/src/main.ts failed (exit ${r.code}): ${err}`,
      "Run 'deno install' in the checkout (the first bundle also fetches esbuild from the npm registry), then try again",
    );
  }
  await Deno.rename(tmp, out).catch(async (e) => {
    // Another process bundled the same content meanwhile: keep its copy.
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    if (!(await Deno.stat(join(out, BUNDLE_ENTRY)).then(() => true, () => false))) throw e;
  });
  return out;
}

/** The `.js` files of a bundle directory, sorted. */
export async function bundleFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile && e.name.endsWith(".js")) out.push(e.name);
  return out.sort();
}
