/**
 * Names shared by the probe, the runtime and the release, in one file so none of them imports another
 * for them: the architectures a release exists for, and the `COMPONENTS` text a release carries (the
 * content key of each reusable part, read back from the target by the probe).
 *
 * @module
 */

/** Architectures a release exists for (Deno's glibc builds). */
export const ARCHES = ["x86_64", "aarch64"] as const;
/** One of {@linkcode ARCHES}. */
export type Arch = typeof ARCHES[number];

/** Reads a `COMPONENTS` text ("name key" lines, or "name:key" words) into a map (pure). */
export function parseComponents(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/\b(app|deps|runtime)[ :]+([0-9a-f]{16,64})\b/g)) out[m[1]] = m[2];
  return out;
}
