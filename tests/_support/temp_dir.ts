/** A temp directory that removes itself (`await using dir = await tempDir()`). */

/** A fresh temp dir, removed with everything in it when disposed. */
export async function tempDir(prefix = "agent-test-"): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}) };
}
