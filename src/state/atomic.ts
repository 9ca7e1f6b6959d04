/**
 * The one helper that writes state files: temp file in the same directory → write → fsync → rename
 * over the target → fsync the directory. A crash at any point leaves either the old or the new content,
 * never a mix. Nothing else in the codebase writes into the state directory.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/** Options for {@linkcode writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o644; private keys use 0o600). */
  mode?: number;
  /**
   * Test hook called between the steps ("written", "synced", "renamed"); throwing from it simulates a
   * crash at that point (the temp file is left behind, as a real crash would leave it).
   */
  onStep?: (step: "written" | "synced" | "renamed") => void;
}

/** Atomically replaces `path` with `data`. */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`);
  const mode = options.mode ?? 0o644;
  const file = await Deno.open(tmp, { write: true, createNew: true, mode });
  try {
    let off = 0;
    while (off < bytes.length) off += await file.write(bytes.subarray(off));
    options.onStep?.("written");
    await file.sync();
    options.onStep?.("synced");
  } finally {
    file.close();
  }
  // The mode given to open() is filtered by the umask; set it exactly before the file becomes visible.
  await Deno.chmod(tmp, mode);
  await Deno.rename(tmp, path);
  options.onStep?.("renamed");
  await syncDir(dir);
}

/** Removes `path` if present and makes the removal durable. */
export async function removeFileDurable(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    return;
  }
  await syncDir(dirname(path));
}

async function syncDir(dir: string): Promise<void> {
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

/** Deletes temp files a crash left behind in `dir` (called at daemon start). Returns how many. */
export async function removeStaleTempFiles(dir: string): Promise<number> {
  let n = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && /^\..+\.tmp-\d+-[0-9a-f]{8}$/.test(entry.name)) {
      await Deno.remove(join(dir, entry.name));
      n++;
    }
  }
  return n;
}
