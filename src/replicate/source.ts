/**
 * Where a clone's release comes from: a compiled binary given with `--binary`, this process's own
 * compiled binary, or the app tree this process runs from plus the pinned runtime for the target's
 * architecture. {@linkcode releaseSource} builds each architecture's release once per run, so a fleet
 * of boards shares one build; anything that fails here is a {@linkcode CloneError} with a hint.
 *
 * @module
 */
import type { Arch } from "./arch.ts";
import { CloneError, CloneFailure } from "./errors.ts";
import { appRoot, buildRelease, type Release } from "./release.ts";
import { hostArch, resolveRuntime } from "./runtime.ts";

/** Gives the release for an architecture (built once, then shared). */
export type ReleaseSource = (arch: Arch, note: (line: string) => void) => Promise<Release>;

/** Where releases are built from. */
export interface ReleaseSourceOptions {
  cacheDir: string;
  /** A Deno runtime binary for the target's architecture (instead of the cache / npm). */
  runtimeFile?: string;
  /** A compiled agent binary for the target's architecture (ship it instead of the source tree). */
  binary?: string;
}

/** A {@linkcode ReleaseSource} that builds each architecture's release at most once. */
export function releaseSource(opts: ReleaseSourceOptions): ReleaseSource {
  const built = new Map<Arch, Promise<Release>>();
  return (arch, note) => {
    let p = built.get(arch);
    if (!p) {
      p = prepare(opts, arch, note);
      built.set(arch, p);
    }
    return p;
  };
}

async function prepare(
  opts: ReleaseSourceOptions,
  arch: Arch,
  note: (line: string) => void,
): Promise<Release> {
  const onNote = (n: string) => note(`  ${n}`);
  try {
    if (opts.binary) {
      return await buildRelease({ arch, binary: opts.binary, cacheDir: opts.cacheDir, onNote });
    }
    if (!appRoot()) {
      // A compiled binary: ship itself when the architecture matches.
      if (hostArch() !== arch) {
        throw new CloneError(
          CloneFailure.UnsupportedTarget,
          `This agent is a compiled ${hostArch()} binary; the target is ${arch}`,
          `Pass --binary FILE with the ${arch} build (deno task compile), or clone from a source checkout`,
        );
      }
      return await buildRelease({ arch, binary: Deno.execPath(), cacheDir: opts.cacheDir, onNote });
    }
    const runtime = await resolveRuntime(arch, { cacheDir: opts.cacheDir, file: opts.runtimeFile, onNote });
    return await buildRelease({ arch, runtime, cacheDir: opts.cacheDir, onNote });
  } catch (e) {
    if (e instanceof CloneError) throw e;
    // Packaging runs tar and gzip and writes the cache: a failure there is this machine's, not a bug.
    throw new CloneError(
      CloneFailure.LocalFailure,
      `Could not build the ${arch} release here: ${
        (e as Error).message.trim().split("\n").slice(0, 3).join(" | ")
      }`,
      `Check free space and permissions of the cache ${opts.cacheDir} (or pass --cache DIR) and that tar and gzip are installed`,
    );
  }
}
