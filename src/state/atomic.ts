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

/**
 * Atomically replaces `path` with `data`. When any step fails (a full disk: ENOSPC on write, fsync or
 * rename), the temp file is removed before the error is rethrown, so failed writes never eat the space a
 * later one needs; the target keeps its previous content.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string | readonly Uint8Array[],
  options: AtomicWriteOptions = {},
): Promise<void> {
  // Parts are written one after another: a large file need not be concatenated in memory first.
  const parts = typeof data === "string"
    ? [new TextEncoder().encode(data)]
    : data instanceof Uint8Array
    ? [data]
    : data;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`);
  const mode = options.mode ?? 0o644;
  // A throw from the test hook stands for a crash: then, as after a real crash, the temp file stays.
  let crashed = false;
  const step = (s: "written" | "synced" | "renamed") => {
    try {
      options.onStep?.(s);
    } catch (e) {
      crashed = true;
      throw e;
    }
  };
  const file = await Deno.open(tmp, { write: true, createNew: true, mode });
  let renamed = false;
  try {
    try {
      for (const bytes of parts) {
        let off = 0;
        while (off < bytes.length) off += await file.write(bytes.subarray(off));
      }
      step("written");
      await file.sync();
      step("synced");
    } finally {
      file.close();
    }
    // The mode given to open() is filtered by the umask; set it exactly before the file becomes visible.
    await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
    renamed = true;
  } catch (e) {
    if (!crashed && !renamed) await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  step("renamed");
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
