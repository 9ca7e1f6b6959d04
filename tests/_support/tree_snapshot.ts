/**
 * A snapshot of a directory tree, to prove that a failed or interrupted command changed nothing: every
 * file, directory and link with its type, mode, size, mtime, inode and content hash, so a new empty
 * directory, a file rewritten with the same bytes, or a file replaced by a rename all count as changes.
 *
 * @module
 */
import { join } from "node:path";
import { toHex } from "../../src/bytes.ts";

/** Path relative to the root → what the entry is. */
export type TreeSnapshot = Map<string, string>;

/**
 * Every entry under `root` (an absent root is an empty tree). `skip` leaves out entries by their path
 * relative to `root` (a skipped directory's entries are still looked at, each on its own).
 */
export async function snapshotTree(
  root: string,
  options: { skip?: (rel: string) => boolean } = {},
): Promise<TreeSnapshot> {
  const out: TreeSnapshot = new Map();
  const skip = options.skip ?? (() => false);
  async function walk(dir: string, rel: string) {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (e) {
      if (rel === "" && e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      const st = await Deno.lstat(path);
      if (skip(r)) {
        if (st.isDirectory) await walk(path, r);
        continue;
      }
      const stamp = `mode ${(st.mode ?? 0) & 0o7777} mtime ${st.mtime?.getTime()}`;
      if (st.isSymlink) {
        out.set(r, `link ${await Deno.readLink(path)}`);
      } else if (st.isDirectory) {
        out.set(r, `dir ${stamp}`);
        await walk(path, r);
      } else {
        const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
        out.set(r, `file ${stamp} size ${st.size} ino ${st.ino} sha256 ${toHex(digest)}`);
      }
    }
  }
  await walk(root, "");
  return out;
}

/** The paths whose entry differs between two snapshots (added, removed or changed), sorted. */
export function changedPaths(before: TreeSnapshot, after: TreeSnapshot): string[] {
  return [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k))
    .sort();
}
