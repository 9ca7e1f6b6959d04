/**
 * A release: what `agent clone` installs on a target. It runs with no Deno installed and no internet:
 *
 * ```
 * <release>/agent        launcher (sh): runs ./deno offline with the agent's permissions
 * <release>/deno         Deno runtime for the target's architecture (see runtime.ts)
 * <release>/deno.json, deno.lock, src/, models/, node_modules/   the app (no *.map, no *.d.ts)
 * <release>/LINKS        the symlinks of node_modules ("path -> target"), so they are hashed too
 * <release>/MANIFEST     "sha256  path" for every file but itself (`sha256sum -c` format)
 * ```
 *
 * The release id is `<version>-<first 16 hex of sha256(MANIFEST)>`: equal content, equal id, so a second
 * clone of an unchanged tree finds the target up to date. It travels as two gzip'd tarballs, the app
 * (small, changes often) and the runtime (large, reused from the target's current release when equal).
 *
 * When this process is a `deno compile`d binary, the release is the binary itself (`agent` + MANIFEST).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { VERSION } from "../version.ts";
import { CloneError, CloneFailure } from "./errors.ts";
import type { Arch } from "./arch.ts";
import { type Runtime, sha256File } from "./runtime.ts";

/** Top-level entries of the app tree that a release carries (those that exist). */
export const APP_ENTRIES = ["deno.json", "deno.lock", "src", "models", "node_modules"];

/** Files a release leaves out: source maps and type declarations are not needed to run. */
export function excludedFromRelease(path: string): boolean {
  return /\.(map|d\.ts|d\.mts|d\.cts|tsbuildinfo)$/.test(path) || /(^|\/)\.DS_Store$/.test(path);
}

/**
 * V8 flags every agent process runs with (release launcher, `deno task agent`, `deno compile`, the demo
 * and test clusters). A 1 MB young generation: the daemon allocates many short-lived buffers (weights,
 * batches, datagrams) and V8's default semi-spaces grow to 16 MB each, which alone took a training loop
 * (SGD steps and evaluations of the MLP) from ≈ 110 to ≈ 150–190 MB resident, with no difference in time
 * per round.
 */
export const V8_FLAGS = ["--v8-flags=--max-semi-space-size=1"];

/**
 * Permissions and V8 flags `deno task agent`, `deno compile` and the demo/test clusters run the agent with.
 * (The released launcher, {@linkcode RUN_FLAGS}, names the programs it may run instead of `--allow-run`.)
 */
export const AGENT_PERMISSIONS = [
  "--unstable-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
  "--allow-net",
  "--allow-run",
  ...V8_FLAGS,
];

/** Deno permissions and flags of the released agent, in one place (the launcher uses them). */
export const RUN_FLAGS = [
  "--quiet",
  "--cached-only",
  "--frozen",
  "--no-prompt",
  "--node-modules-dir=manual",
  // The agent's permissions, with the programs it may run named.
  ...AGENT_PERMISSIONS.map((f) =>
    f === "--allow-run" ? "--allow-run=ssh,tar,gzip,npm,systemctl,systemd-analyze,useradd,chown" : f
  ),
];

/** The launcher script (pure). */
export function launcherScript(): string {
  return `#!/bin/sh
# agent launcher: runs the agent with the Deno runtime shipped next to it, offline (--cached-only),
# with the permissions the agent needs and no others (no FFI, no remote imports).
set -e
self=$(readlink -f "$0")
here=$(dirname "$self")
if [ -z "\${DENO_DIR:-}" ]; then
  if [ -n "\${CACHE_DIRECTORY:-}" ]; then DENO_DIR="\${CACHE_DIRECTORY%%:*}/deno"
  elif [ -n "\${XDG_CACHE_HOME:-}" ]; then DENO_DIR="$XDG_CACHE_HOME/agent/deno"
  elif [ -n "\${HOME:-}" ] && [ "$HOME" != / ]; then DENO_DIR="$HOME/.cache/agent/deno"
  else DENO_DIR="\${TMPDIR:-/tmp}/agent-deno-$(id -u)"
  fi
fi
export DENO_DIR DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 AGENT_RELEASE_DIR="$here"
exec "$here/deno" run ${RUN_FLAGS.join(" ")} --config "$here/deno.json" "$here/src/main.ts" "$@"
`;
}

/** The parts a release travels in; each is content-addressed and can be reused from the target's current release. */
export const PART_NAMES = ["app", "deps", "runtime"] as const;
/** One of {@linkcode PART_NAMES}. */
export type PartName = typeof PART_NAMES[number];

/** One gzip'd tarball of a release. */
export interface ReleasePart {
  /** "app" (launcher, src, config, MANIFEST), "deps" (node_modules), "runtime" (deno). */
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
  /** "source" (app tree + runtime) or "binary" (a compiled agent). */
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

/** The app tree this process runs from (the directory holding deno.json), or undefined when compiled. */
export function appRoot(): string | undefined {
  const url = new URL("../../", import.meta.url);
  if (url.protocol !== "file:") return undefined;
  const root = fileURLToPath(url).replace(/\/$/, "");
  try {
    Deno.statSync(join(root, "deno.json"));
    Deno.statSync(join(root, "src", "main.ts"));
    return root;
  } catch {
    return undefined;
  }
}

interface Entry {
  path: string;
  kind: "file" | "symlink" | "dir";
  target?: string;
  size: number;
  /** Modification time (ms), for the hash cache. */
  mtime?: number;
  ino?: number;
}

async function walk(root: string): Promise<Entry[]> {
  const out: Entry[] = [];
  async function visit(rel: string) {
    const abs = join(root, rel);
    const st = await Deno.lstat(abs);
    if (st.isSymlink) {
      out.push({ path: rel, kind: "symlink", target: await Deno.readLink(abs), size: 0 });
    } else if (st.isDirectory) {
      out.push({ path: rel, kind: "dir", size: 0 });
      const names: string[] = [];
      for await (const e of Deno.readDir(abs)) names.push(e.name);
      for (const n of names.sort()) await visit(`${rel}/${n}`);
    } else if (st.isFile) {
      if (!excludedFromRelease(rel)) {
        out.push({ path: rel, kind: "file", size: st.size, mtime: st.mtime?.getTime(), ino: st.ino ?? 0 });
      }
    }
  }
  for (const top of APP_ENTRIES) {
    try {
      await Deno.lstat(join(root, top));
    } catch {
      continue;
    }
    await visit(top);
  }
  for (const e of out) {
    if (/[\n\\]/.test(e.path)) {
      throw new Error(`Cannot package a file name with a newline or backslash: ${e.path}`);
    }
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * `sha256  path` lines for `files`, reusing digests from a cache file keyed by path, size, mtime and
 * inode (what `make` and `rsync` trust), so an unchanged tree is not re-read on every clone.
 */
async function hashFiles(root: string, files: Entry[], cachePath: string): Promise<string[]> {
  let cache: Record<string, string> = {};
  try {
    cache = JSON.parse(await Deno.readTextFile(cachePath));
  } catch { /* none yet or unreadable: start afresh */ }
  const key = (e: Entry) => `${root}/${e.path}\0${e.size}\0${e.mtime}\0${e.ino}`;
  const next: Record<string, string> = {};
  const lines: string[] = [];
  for (let i = 0; i < files.length; i += 32) {
    const batch = files.slice(i, i + 32);
    const shas = await Promise.all(batch.map((e) => cache[key(e)] ?? sha256File(join(root, e.path))));
    batch.forEach((e, j) => {
      next[key(e)] = shas[j];
      lines.push(`${shas[j]}  ${e.path}`);
    });
  }
  await Deno.mkdir(dirname(cachePath), { recursive: true });
  const tmp = `${cachePath}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, JSON.stringify(next));
  await Deno.rename(tmp, cachePath);
  return lines;
}

async function sh(cmd: string, args: string[], cwd?: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stdin: "null", stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.slice(0, 6).join(" ")} … failed: ${new TextDecoder().decode(out.stderr)}`);
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

/** Options for {@linkcode buildRelease}. */
export interface BuildOptions {
  arch: Arch;
  /** Runtime for `arch` (source releases). */
  runtime?: Runtime;
  /** A compiled agent binary for `arch` to ship instead of the source tree. */
  binary?: string;
  /** Cache directory (tarballs are kept under `<cacheDir>/releases/<id>/`). */
  cacheDir: string;
  /** App tree (default: the one this process runs from). */
  root?: string;
  onNote?: (note: string) => void;
}

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
  try {
    await Deno.stat(join(root, "node_modules"));
  } catch {
    throw new CloneError(
      CloneFailure.MissingRuntime,
      `The app tree ${root} has no node_modules directory, so the release would need the internet to start`,
      `Run 'deno install' in ${root} first`,
    );
  }
  if (!opts.runtime) throw new Error("buildRelease: a source release needs a runtime");
  const runtime = opts.runtime;
  const entries = await walk(root);
  const launcher = launcherScript();
  const isDeps = (p: string) => p === "node_modules" || p.startsWith("node_modules/");
  const links = entries.filter((e) => e.kind === "symlink").map((e) => `${e.path} -> ${e.target}\n`).join("");
  const files = entries.filter((e) => e.kind === "file");
  const unpackedFiles = files.reduce((a, e) => a + e.size, 0);
  const fileLines = await hashFiles(root, files, join(opts.cacheDir, "releases", "file-hashes.json"));
  const byPath = (a: string, b: string) => {
    const pa = a.slice(66), pb = b.slice(66);
    return pa < pb ? -1 : pa > pb ? 1 : 0;
  };
  // The deps part's key covers its files and its symlinks.
  const depsLines = fileLines.filter((l) => isDeps(l.slice(66))).sort(byPath);
  const depsLinks = entries.filter((e) => e.kind === "symlink" && isDeps(e.path))
    .map((e) => `${e.path} -> ${e.target}\n`).join("");
  const depsKey = (await sha256Text(depsLines.join("\n") + "\n" + depsLinks)).slice(0, 32);
  const runtimeKey = runtime.sha256.slice(0, 32);
  const components = `runtime ${runtimeKey}\ndeps ${depsKey}\n`;
  const lines = [
    ...fileLines,
    `${await sha256Text(launcher)}  agent`,
    `${await sha256Text(links)}  LINKS`,
    `${await sha256Text(components)}  COMPONENTS`,
    `${runtime.sha256}  deno`,
  ].sort(byPath);
  const manifest = lines.join("\n") + "\n";
  const id = `${VERSION}-${(await sha256Text(manifest)).slice(0, 16)}`;
  const enc = new TextEncoder();
  const unpacked = unpackedFiles + (await Deno.stat(runtime.path)).size + enc.encode(launcher).length +
    enc.encode(links).length + enc.encode(manifest).length + enc.encode(components).length;

  const releases = join(opts.cacheDir, "releases");
  await Deno.mkdir(releases, { recursive: true });
  const appTarball = join(releases, `app-${id}.tar.gz`);
  const depsTarball = join(releases, `deps-${depsKey}.tar.gz`);
  const runtimeTarball = join(releases, `runtime-${runtimeKey}.tar.gz`);
  const build = async (
    tarball: string,
    note: string,
    fill: (stage: string) => Promise<{ cwd: string; listFile: string }[]>,
  ) => {
    if (await exists(tarball)) return;
    opts.onNote?.(note);
    const stage = await Deno.makeTempDir({ dir: releases, prefix: ".stage-" });
    try {
      const tar = join(stage, "part.tar");
      await gzipTar(stage, tar, await fill(stage));
      await Deno.rename(`${tar}.gz`, tarball);
    } finally {
      await Deno.remove(stage, { recursive: true }).catch(() => {});
    }
  };
  await build(appTarball, `packaging release ${id} (${files.length + 5} files)`, async (stage) => {
    await Deno.writeTextFile(join(stage, "agent"), launcher, { mode: 0o755 });
    await Deno.chmod(join(stage, "agent"), 0o755);
    await Deno.writeTextFile(join(stage, "LINKS"), links);
    await Deno.writeTextFile(join(stage, "COMPONENTS"), components);
    await Deno.writeTextFile(join(stage, "MANIFEST"), manifest);
    await Deno.writeTextFile(
      join(stage, "app.list"),
      entries.filter((e) => !isDeps(e.path)).map((e) => e.path).join("\n") + "\n",
    );
    await Deno.writeTextFile(join(stage, "meta.list"), "agent\nLINKS\nCOMPONENTS\nMANIFEST\n");
    return [{ cwd: root, listFile: join(stage, "app.list") }, {
      cwd: stage,
      listFile: join(stage, "meta.list"),
    }];
  });
  await build(depsTarball, `packaging node_modules (${depsLines.length} files)`, async (stage) => {
    await Deno.writeTextFile(
      join(stage, "deps.list"),
      entries.filter((e) => isDeps(e.path)).map((e) => e.path).join("\n") + "\n",
    );
    return [{ cwd: root, listFile: join(stage, "deps.list") }];
  });
  await build(runtimeTarball, `packaging the Deno runtime for ${opts.arch}`, async (stage) => {
    await Deno.copyFile(runtime.path, join(stage, "deno"));
    await Deno.chmod(join(stage, "deno"), 0o755);
    await Deno.writeTextFile(join(stage, "rt.list"), "deno\n");
    return [{ cwd: stage, listFile: join(stage, "rt.list") }];
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
      await part("deps", depsKey, depsTarball),
      await part("runtime", runtimeKey, runtimeTarball),
    ],
    unpackedBytes: unpacked,
    fileCount: files.length + 5,
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

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
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
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Default cache directory for runtimes and release tarballs. */
export function defaultCacheDir(env: Record<string, string | undefined>): string {
  if (env.AGENT_CACHE_DIR) return env.AGENT_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "agent");
  if (env.HOME) return join(env.HOME, ".cache", "agent");
  return join(Deno.cwd(), ".agent-cache");
}
