/**
 * Local file checks the clone and the release share (private to `replicate/`).
 *
 * @module
 */

/** True if `path` exists; false if it does not; other errors (e.g. permission) are thrown. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
