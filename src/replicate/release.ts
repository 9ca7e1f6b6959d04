/**
 * A release: what `agent clone` installs on a target. It runs with no Deno installed and no internet:
 *
 * ```
 * <release>/agent        launcher (sh): runs ./deno offline on app/main.js with the agent's permissions
 * <release>/deno         Deno runtime for the target's architecture (see runtime.ts)
 * <release>/app/*.js     the whole app, bundled: main.js and the chunks it loads on demand (_bundle.ts)
 * <release>/app/wasm/    the three tfjs .wasm binaries
 * <release>/app/models/  the model specs
 * <release>/COMPONENTS   content key of the runtime ("runtime <key>")
 * <release>/MANIFEST     "sha256  path" for every file but itself (`sha256sum -c` format)
 * ```
 *
 * The release id is `<version>-<first 16 hex of sha256(MANIFEST)>`: equal content, equal id, so a second
 * clone of an unchanged tree finds the target up to date. It travels as two gzip'd tarballs, the app
 * (small, changes often) and the runtime (large, reused from the target's current release when equal).
 *
 * It is built from a source checkout (bundled with `deno bundle`) or, by an agent that itself runs from
 * a release, from that release's own files: a board can clone itself onward, and the result has the same
 * id. When this process is a `deno compile`d binary, the release is the binary itself (`agent` + MANIFEST).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { APP_DIR, BUNDLE_DIR, BUNDLE_ENTRY, FROM_SOURCE } from "../resources.ts";
import { VERSION } from "../version.ts";
import { WASM_FILES } from "../model/mod.ts";
import { bundleApp, bundleFiles } from "./_bundle.ts";
import { CloneError, CloneFailure } from "./errors.ts";
import { launcherScript } from "./launcher.ts";
import type { Arch } from "./arch.ts";
import { type Runtime, sha256File } from "./runtime.ts";
import { toHex } from "../bytes.ts";
import { exists } from "./_fs.ts";

export { AGENT_PERMISSIONS, launcherScript, RUN_FLAGS, RUN_PROGRAMS, V8_FLAGS } from "./launcher.ts";

/** The parts a release travels in; each is content-addressed and can be reused from the target's current release. */
export const PART_NAMES = ["app", "runtime"] as const;
/** One of {@linkcode PART_NAMES}. */
export type PartName = typeof PART_NAMES[number];

/** One gzip'd tarball of a release. */
export interface ReleasePart {
  /** "app" (launcher, bundle, wasm, models, MANIFEST) or "runtime" (deno). */
  name: PartName;
  /** Content id: equal ids mean equal unpacked files (the target reuses the part instead of uploading). */
  key: string;
  tarball: string;
  sha256: string;
  bytes: number;
  /** File name on the target while uploading. */
  uploadName: string;
}

/** A release ready to upload. */
export interface Release {
  id: string;
  arch: Arch;
  /** "source" (bundle + runtime + launcher) or "binary" (a compiled agent). */
  kind: "source" | "binary";
  /** The MANIFEST text. */
  manifest: string;
  /** The `COMPONENTS` text: one "name key" line per reusable part. */
  components: string;
  parts: ReleasePart[];
  /** Sum of the sizes of all files once unpacked. */
  unpackedBytes: number;
  fileCount: number;
}

/** What kind of app tree `root` is: a source checkout, an unpacked release, or neither. */
export function appKind(root: string): "source" | "release" | undefined {
  const isFile = (p: string) => {
    try {
      return Deno.statSync(join(root, p)).isFile;
    } catch {
      return false;
    }
  };
  if (isFile("deno.json") && isFile("src/main.ts")) return "source";
  if (isFile(`${BUNDLE_DIR}/${BUNDLE_ENTRY}`) && isFile(`${BUNDLE_DIR}/wasm/${WASM_FILES[0]}`)) {
    return "release";
  }
  return undefined;
}

/**
 * The app this process can package: its source checkout, or the release it runs from (the directory
 * holding `app/main.js`); undefined for a compiled binary.
 */
export function appRoot(): string | undefined {
  if (Deno.build.standalone || APP_DIR.protocol !== "file:") return undefined;
  const root = fileURLToPath(FROM_SOURCE ? APP_DIR : new URL("../", APP_DIR)).replace(/\/$/, "");
  return appKind(root) ? root : undefined;
}

/** One file of the app part: where it is in the release and where it comes from. */
interface AppFile {
  path: string;
  from: string;
}

/** The app files of `root` (bundling a source tree first). */
async function appFiles(root: string, cacheDir: string, onNote?: (n: string) => void): Promise<AppFile[]> {
  const kind = appKind(root);
  if (!kind) {
    throw new CloneError(
      CloneFailure.MissingRuntime,
      `${root} is neither a source checkout (deno.json, src/main.ts) nor a release (${BUNDLE_DIR}/${BUNDLE_ENTRY})`,
      "Clone from a source checkout (deno task agent clone …) or from an installed release",
    );
  }
  const app = join(root, BUNDLE_DIR);
  const wasmDir = kind === "source"
    ? join(root, "node_modules/@tensorflow/tfjs-backend-wasm/dist")
    : join(app, "wasm");
  for (const f of WASM_FILES) {
    try {
      await Deno.stat(join(wasmDir, f));
    } catch {
      throw new CloneError(
        CloneFailure.MissingRuntime,
        `The app tree ${root} has no ${join(wasmDir, f)}, so the release could not run its model on WASM`,
        kind === "source" ? `Run 'deno install' in ${root} first` : "Reinstall this release",
      );
    }
  }
  const bundle = kind === "source" ? await bundleApp(root, cacheDir, onNote) : app;
  const files: AppFile[] = [
    ...(await bundleFiles(bundle)).map((f) => ({ path: `${BUNDLE_DIR}/${f}`, from: join(bundle, f) })),
    ...WASM_FILES.map((f) => ({ path: `${BUNDLE_DIR}/wasm/${f}`, from: join(wasmDir, f) })),
  ];
  const modelsDir = kind === "source" ? join(root, "models") : join(app, "models");
  const models: string[] = [];
  try {
    for await (const e of Deno.readDir(modelsDir)) {
      if (e.isFile && /\.ya?ml$/.test(e.name)) models.push(e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  for (const m of models.sort()) files.push({ path: `${BUNDLE_DIR}/models/${m}`, from: join(modelsDir, m) });
  return files;
}

/** Runs a packing tool on this machine; a missing tool or a failure is a clone error with a hint. */
async function sh(cmd: string, args: string[], cwd?: string): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, cwd, stdin: "null", stdout: "null", stderr: "piped" }).output();
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new CloneError(
      CloneFailure.LocalFailure,
      `Cannot pack the release: "${cmd}" is not installed on this machine`,
      `Install it (Debian: apt-get install ${cmd}) and run the command again`,
    );
  }
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-1)[0] || `exit ${out.code}`;
    throw new CloneError(
      CloneFailure.LocalFailure,
      `Cannot pack the release: ${cmd} failed: ${why}`,
      "Check the free space and permissions of the cache directory (AGENT_CACHE_DIR, else $XDG_CACHE_HOME/agent or ~/.cache/agent)",
    );
  }
}

/** Owned by root, readable by everyone (the service user must read the release), writable by no one else. */
const TAR_OWNER = ["--owner=0", "--group=0", "--numeric-owner", "--format=gnu", "--mode=u+rwX,go+rX,go-w"];

async function gzipTar(
  dir: string,
  tarPath: string,
  parts: { cwd: string; listFile: string }[],
): Promise<void> {
  let first = true;
  for (const p of parts) {
    await sh("tar", [
      first ? "-cf" : "-rf",
      tarPath,
      ...TAR_OWNER,
      "--no-recursion",
      "-C",
      p.cwd,
      "-T",
      p.listFile,
    ], dir);
    first = false;
  }
  await sh("gzip", ["-n", "-6", "-f", tarPath], dir);
}

/**
 * Writes the app files of `root` (bundle, `wasm/`, `models/`) into `dir`, as a release lays them out:
 * what `deno task compile` embeds. Returns their paths relative to `dir`.
 */
export async function stageApp(
  root: string,
  dir: string,
  opts: { cacheDir: string; onNote?: (note: string) => void },
): Promise<string[]> {
  const files = await appFiles(root, opts.cacheDir, opts.onNote);
  for (const f of files) {
    await Deno.mkdir(join(dir, f.path, ".."), { recursive: true });
    await Deno.copyFile(f.from, join(dir, f.path));
  }
  return files.map((f) => f.path);
}

/** Options for {@linkcode buildRelease}. */
export interface BuildOptions {
  arch: Arch;
  /** Runtime for `arch` (source releases). */
  runtime?: Runtime;
  /** A compiled agent binary for `arch` to ship instead of the source tree. */
  binary?: string;
  /** Cache directory (bundles under `<cacheDir>/bundles/`, tarballs under `<cacheDir>/releases/`). */
  cacheDir: string;
  /** App tree: a source checkout or an unpacked release (default: the one this process runs from). */
  root?: string;
  onNote?: (note: string) => void;
}

const byPath = (a: string, b: string) => {
  const pa = a.slice(66), pb = b.slice(66);
  return pa < pb ? -1 : pa > pb ? 1 : 0;
};

/** Builds (or finds in the cache) the release for `opts.arch`. */
export async function buildRelease(opts: BuildOptions): Promise<Release> {
  if (opts.binary) return await buildBinaryRelease(opts.binary, opts);
  const root = opts.root ?? appRoot();
  if (!root) {
    throw new CloneError(
      CloneFailure.MissingRuntime,
      "This agent is a compiled binary for another architecture and has no app tree to package",
      "Clone from a source checkout (deno task agent clone …) or pass --binary FILE with a compiled agent for the target",
    );
  }
  if (!opts.runtime) throw new Error("Bug: buildRelease() of a source release needs a runtime");
  const runtime = opts.runtime;
  const files = await appFiles(root, opts.cacheDir, opts.onNote);
  const launcher = launcherScript();
  const runtimeKey = runtime.sha256.slice(0, 32);
  const components = `runtime ${runtimeKey}\n`;
  const lines = [
    ...(await Promise.all(files.map(async (f) => `${await sha256File(f.from)}  ${f.path}`))),
    `${await sha256Text(launcher)}  agent`,
    `${await sha256Text(components)}  COMPONENTS`,
    `${runtime.sha256}  deno`,
  ].sort(byPath);
  const manifest = lines.join("\n") + "\n";
  const id = `${VERSION}-${(await sha256Text(manifest)).slice(0, 16)}`;
  const enc = new TextEncoder();
  let unpacked = (await Deno.stat(runtime.path)).size + enc.encode(launcher).length +
    enc.encode(manifest).length + enc.encode(components).length;
  for (const f of files) unpacked += (await Deno.stat(f.from)).size;

  const releases = join(opts.cacheDir, "releases");
  await Deno.mkdir(releases, { recursive: true });
  const appTarball = join(releases, `app-${id}.tar.gz`);
  const runtimeTarball = join(releases, `runtime-${runtimeKey}.tar.gz`);
  const build = async (tarball: string, note: string, fill: (stage: string) => Promise<string[]>) => {
    if (await exists(tarball)) return;
    opts.onNote?.(note);
    const stage = await Deno.makeTempDir({ dir: releases, prefix: ".stage-" });
    try {
      const tree = join(stage, "tree");
      await Deno.mkdir(tree);
      const names = await fill(tree);
      await Deno.writeTextFile(join(stage, "list"), names.join("\n") + "\n");
      const tar = join(stage, "part.tar");
      await gzipTar(stage, tar, [{ cwd: tree, listFile: join(stage, "list") }]);
      await Deno.rename(`${tar}.gz`, tarball);
    } finally {
      await Deno.remove(stage, { recursive: true }).catch(() => {});
    }
  };
  await build(appTarball, `packaging release ${id} (${files.length + 3} files)`, async (tree) => {
    for (const d of ["", "/wasm", "/models"]) await Deno.mkdir(join(tree, `${BUNDLE_DIR}${d}`));
    for (const f of files) await Deno.copyFile(f.from, join(tree, f.path));
    await Deno.writeTextFile(join(tree, "agent"), launcher);
    await Deno.writeTextFile(join(tree, "COMPONENTS"), components);
    await Deno.writeTextFile(join(tree, "MANIFEST"), manifest);
    for (const f of ["agent", ...files.map((f) => f.path), "COMPONENTS", "MANIFEST"]) {
      await Deno.chmod(join(tree, f), f === "agent" ? 0o755 : 0o644);
    }
    const dirs = [BUNDLE_DIR, `${BUNDLE_DIR}/wasm`, `${BUNDLE_DIR}/models`].filter((d) =>
      files.some((f) => f.path.startsWith(`${d}/`))
    );
    return ["agent", ...dirs, ...files.map((f) => f.path), "COMPONENTS", "MANIFEST"];
  });
  await build(runtimeTarball, `packaging the Deno runtime for ${opts.arch}`, async (tree) => {
    await Deno.copyFile(runtime.path, join(tree, "deno"));
    await Deno.chmod(join(tree, "deno"), 0o755);
    return ["deno"];
  });
  const part = async (name: PartName, key: string, tarball: string): Promise<ReleasePart> => ({
    name,
    key,
    tarball,
    sha256: await cachedSha(tarball),
    bytes: (await Deno.stat(tarball)).size,
    uploadName: `${name}-${key.slice(0, 16)}.tar.gz`,
  });
  return {
    id,
    arch: opts.arch,
    kind: "source",
    manifest,
    components,
    parts: [
      await part("app", (await sha256Text(manifest)).slice(0, 32), appTarball),
      await part("runtime", runtimeKey, runtimeTarball),
    ],
    unpackedBytes: unpacked,
    fileCount: files.length + 4,
  };
}

async function buildBinaryRelease(binary: string, opts: BuildOptions): Promise<Release> {
  const sha = await sha256File(binary);
  const manifest = `${sha}  agent\n`;
  const key = (await sha256Text(manifest)).slice(0, 32);
  const id = `${VERSION}-${key.slice(0, 16)}`;
  const releases = join(opts.cacheDir, "releases");
  await Deno.mkdir(releases, { recursive: true });
  const tarball = join(releases, `app-${id}.tar.gz`);
  if (!(await exists(tarball))) {
    const stage = await Deno.makeTempDir({ dir: releases, prefix: ".stage-" });
    try {
      await Deno.copyFile(binary, join(stage, "agent"));
      await Deno.chmod(join(stage, "agent"), 0o755);
      await Deno.writeTextFile(join(stage, "MANIFEST"), manifest);
      await Deno.writeTextFile(join(stage, "list"), "agent\nMANIFEST\n");
      const tar = join(stage, "app.tar");
      await gzipTar(stage, tar, [{ cwd: stage, listFile: join(stage, "list") }]);
      await Deno.rename(`${tar}.gz`, tarball);
    } finally {
      await Deno.remove(stage, { recursive: true }).catch(() => {});
    }
  }
  const size = (await Deno.stat(binary)).size;
  return {
    id,
    arch: opts.arch,
    kind: "binary",
    manifest,
    components: "",
    parts: [{
      name: "app",
      key,
      tarball,
      sha256: await cachedSha(tarball),
      bytes: (await Deno.stat(tarball)).size,
      uploadName: `app-${key.slice(0, 16)}.tar.gz`,
    }],
    unpackedBytes: size + manifest.length,
    fileCount: 2,
  };
}

/** sha256 of a cached tarball, remembered in `<file>.sha256` next to it. */
async function cachedSha(path: string): Promise<string> {
  const side = `${path}.sha256`;
  try {
    const [text, st, sideSt] = [await Deno.readTextFile(side), await Deno.stat(path), await Deno.stat(side)];
    if (/^[0-9a-f]{64}$/.test(text.trim()) && (sideSt.mtime?.getTime() ?? 0) >= (st.mtime?.getTime() ?? 0)) {
      return text.trim();
    }
  } catch { /* compute */ }
  const sha = await sha256File(path);
  await Deno.writeTextFile(side, sha + "\n");
  return sha;
}

async function sha256Text(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return toHex(d);
}

/** Default cache directory for runtimes and release tarballs. */
export function defaultCacheDir(env: Record<string, string | undefined>): string {
  if (env.AGENT_CACHE_DIR) return env.AGENT_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "agent");
  if (env.HOME) return join(env.HOME, ".cache", "agent");
  return join(Deno.cwd(), ".agent-cache");
}
