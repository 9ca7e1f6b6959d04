/**
 * The Deno runtime binary a release ships for each architecture: Deno's own glibc builds from the npm
 * registry (`@deno/linux-x64-glibc`, `@deno/linux-arm64-glibc`), pinned to one version and checked
 * against pinned SHA-256 digests, fetched once with `npm pack` into a cache directory. When this process
 * already runs on that exact binary (same architecture and version), it is reused without any download.
 *
 * @module
 */
import { join } from "node:path";
import { CloneError, CloneFailure } from "./errors.ts";
import type { Arch } from "./arch.ts";
import { toHex } from "../bytes.ts";

/** Deno version every release ships (the newest one also published for arm64). */
export const RUNTIME_VERSION = "2.9.5";

/** The npm package and pinned digests of the runtime per architecture. */
export const RUNTIME_PACKAGES: Record<Arch, { name: string; integrity: string; sha256: string }> = {
  x86_64: {
    name: "@deno/linux-x64-glibc",
    integrity:
      "sha512-TDqcnoLe3jlgqYEQm7H7MK6q0JOth+o8iSZzknRODnVkJfPiNnjVn1M1Zc6vnp+ipkyb6Av1/CUlHgHtlq59Gw==",
    sha256: "dc480c462c8c3582524f3e75c160613d0a975e1f66b5465995d58bae236da7d3",
  },
  aarch64: {
    name: "@deno/linux-arm64-glibc",
    integrity:
      "sha512-IuYjsz9PGl7CJcNXMuN27KNDB8Q40brK3SG3l+TXMDVW61ZKwcn0fQHBHnXFiiygEwI8by/fKnASEluhZB1atw==",
    sha256: "e1a70c5eb03b0ebaf761077029ef86b9ba22d50e2b54ca45ce5437457f701b63",
  },
};

/** Where a runtime came from. */
export interface Runtime {
  arch: Arch;
  path: string;
  sha256: string;
  source: "self" | "cache" | "npm" | "file";
}

/** SHA-256 of a file, streamed (hex). */
export async function sha256File(path: string): Promise<string> {
  const st = await Deno.stat(path);
  if (st.size < 16 * 1024 * 1024) {
    const d = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
    return toHex(d);
  }
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  const file = await Deno.open(path, { read: true });
  try {
    for await (const chunk of file.readable) hash.update(chunk);
  } finally {
    try {
      file.close();
    } catch { /* closed by the stream */ }
  }
  return hash.digest("hex");
}

async function digestOf(path: string, algo: "sha512"): Promise<string> {
  const { createHash } = await import("node:crypto");
  const hash = createHash(algo);
  const file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return `${algo}-${hash.digest("base64")}`;
}

/** Architecture of this process, in release terms. */
export function hostArch(): Arch | undefined {
  return Deno.build.os !== "linux"
    ? undefined
    : Deno.build.arch === "x86_64"
    ? "x86_64"
    : Deno.build.arch === "aarch64"
    ? "aarch64"
    : undefined;
}

/**
 * Finds the runtime for `arch`: an explicit file, this very process's binary when it is the pinned build,
 * the cache, or `npm pack` (verified, then cached).
 */
export async function resolveRuntime(
  arch: Arch,
  opts: { cacheDir: string; file?: string; onNote?: (note: string) => void },
): Promise<Runtime> {
  const pkg = RUNTIME_PACKAGES[arch];
  if (opts.file) {
    const sha = await sha256File(opts.file);
    if (sha !== pkg.sha256) {
      opts.onNote?.(
        `--runtime ${opts.file} is not the pinned Deno ${RUNTIME_VERSION} ${arch} build (sha256 ${
          sha.slice(0, 12)
        }…); using it as given`,
      );
    }
    return { arch, path: opts.file, sha256: sha, source: "file" };
  }
  if (hostArch() === arch && Deno.version.deno === RUNTIME_VERSION) {
    const self = Deno.execPath();
    const sha = await sha256File(self);
    if (sha === pkg.sha256) return { arch, path: self, sha256: sha, source: "self" };
  }
  const dir = join(opts.cacheDir, "runtime", `deno-${RUNTIME_VERSION}-${arch}`);
  const cached = join(dir, "deno");
  try {
    const sha = await sha256File(cached);
    if (sha === pkg.sha256) return { arch, path: cached, sha256: sha, source: "cache" };
    await Deno.remove(cached);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await Deno.mkdir(dir, { recursive: true });
  const work = await Deno.makeTempDir({ dir, prefix: ".fetch-" });
  try {
    opts.onNote?.(`fetching the Deno ${RUNTIME_VERSION} runtime for ${arch} (${pkg.name}) with npm pack`);
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command("npm", {
        args: ["pack", `${pkg.name}@${RUNTIME_VERSION}`, "--silent", "--pack-destination", work],
        cwd: work,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (e) {
      throw missingRuntime(arch, `npm could not be run (${(e as Error).message})`);
    }
    if (!out.success) {
      throw missingRuntime(
        arch,
        `npm pack failed: ${new TextDecoder().decode(out.stderr).trim().slice(-300)}`,
      );
    }
    const tgz = join(work, new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
    const integrity = await digestOf(tgz, "sha512");
    if (integrity !== pkg.integrity) {
      throw missingRuntime(arch, `the downloaded ${pkg.name} package does not match its pinned integrity`);
    }
    const x = await new Deno.Command("tar", {
      args: ["-xzf", tgz, "-C", work, "package/deno"],
      stdin: "null",
      stderr: "piped",
    }).output();
    if (!x.success) throw missingRuntime(arch, new TextDecoder().decode(x.stderr).trim());
    const sha = await sha256File(join(work, "package", "deno"));
    if (sha !== pkg.sha256) {
      throw missingRuntime(arch, `the unpacked binary does not match its pinned sha256`);
    }
    await Deno.chmod(join(work, "package", "deno"), 0o755);
    await Deno.rename(join(work, "package", "deno"), cached);
    return { arch, path: cached, sha256: sha, source: "npm" };
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

function missingRuntime(arch: Arch, detail: string): CloneError {
  return new CloneError(
    CloneFailure.MissingRuntime,
    `No Deno ${RUNTIME_VERSION} runtime for ${arch}: ${detail}`,
    `Run 'deno task release --arch ${arch}' once on a machine that reaches the npm registry (it fills the cache), or pass --runtime FILE with the ${
      RUNTIME_PACKAGES[arch].name
    } binary`,
  );
}
