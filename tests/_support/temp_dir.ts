/**
 * Temp directories that remove themselves: `await using dir = await tempDir()`, or
 * `withTempDir(async (dir) => …)`. A directory the test removed itself is fine; any other failure to
 * remove it fails the test.
 *
 * @module
 */

const DEFAULT_PREFIX = "agent-test-";

async function removeTree(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** A fresh temp dir, removed with everything in it when disposed. */
export async function tempDir(prefix = DEFAULT_PREFIX): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => removeTree(path) };
}

/** Runs `fn` with a fresh temp dir and removes the dir afterwards, whether `fn` failed or not. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>, prefix = DEFAULT_PREFIX): Promise<T> {
  const path = await Deno.makeTempDir({ prefix });
  try {
    return await fn(path);
  } finally {
    await removeTree(path);
  }
}
