/**
 * The app as one JavaScript file: `deno bundle --platform deno --minify` of `src/main.ts` (every module
 * and npm package of the agent, ≈ 2.7 MB). Built from a source tree once per content: the bundle is
 * cached under `<cacheDir>/bundles/<key>/agent.js`, where the key covers every file under `src/`,
 * `deno.json`, `deno.lock` and the Deno version that bundles.
 *
 * Minified because it is smaller on the wire and on the SD card, and V8 keeps the whole source text of a
 * script in memory: the unminified bundle is 5.9 MB and not pure ASCII (so held as a two-byte string).
 *
 * @module
 */
import { join } from "node:path";
import { BUNDLE_NAME } from "../resources.ts";
import { CloneError, CloneFailure } from "./errors.ts";
import { sha256File } from "./runtime.ts";

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
    "-o",
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
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("").slice(0, 32);
}

/**
 * Bundles the source tree `root` (or finds its bundle in the cache) and returns the path of `agent.js`.
 * Needs the Deno CLI (this process's own binary when it runs from source) and, the first time on a
 * machine, the npm registry for esbuild.
 */
export async function bundleApp(
  root: string,
  cacheDir: string,
  onNote?: (note: string) => void,
): Promise<string> {
  const key = await bundleKey(root);
  const dir = join(cacheDir, "bundles", key);
  const out = join(dir, BUNDLE_NAME);
  try {
    await Deno.stat(out);
    return out;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  onNote?.(`bundling ${root}/src/main.ts into ${BUNDLE_NAME}`);
  await Deno.mkdir(dir, { recursive: true });
  // The name must end in .js: deno bundle decides from it how to emit `require` of node: modules.
  const tmp = join(dir, `.tmp-${Deno.pid}-${BUNDLE_NAME}`);
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
    await Deno.remove(tmp).catch(() => {});
    const err = new TextDecoder().decode(r.stderr).trim().split("\n").slice(-3).join(" ");
    throw new CloneError(
      CloneFailure.MissingRuntime,
      `deno bundle of ${root}/src/main.ts failed (exit ${r.code}): ${err}`,
      "Run 'deno install' in the checkout (the first bundle also fetches esbuild from the npm registry), then try again",
    );
  }
  await Deno.rename(tmp, out);
  return out;
}
