/**
 * One cleanup pool for a start made of steps (as tailscale's `tsnet` does with its `closeOnErrorPool`, or
 * Go's `defer`): each step that takes a resource (lock, socket, model, server) adds how to undo it; when a
 * later step fails, {@linkcode withCleanup} undoes everything added so far, newest first, and rethrows the
 * step's error. On success the pool is dropped: the running agent's `stop()` owns the orderly shutdown.
 *
 * @module
 */

/** Undo actions, run newest first. */
export class CleanupPool {
  #undo: { what: string; run: () => unknown }[] = [];

  /** Registers how to undo what a step just took (`what` names it in an error report). */
  add(what: string, run: () => unknown): void {
    this.#undo.push({ what, run });
  }

  /** Names of the registered actions, oldest first (for tests and logs). */
  get pending(): string[] {
    return this.#undo.map((u) => u.what);
  }

  /**
   * Runs every action, newest first, each awaited; an action that fails is reported to `onError` and the
   * rest still run. The pool is empty afterwards.
   */
  async closeAll(onError: (what: string, error: unknown) => void = () => {}): Promise<void> {
    const undo = this.#undo.reverse();
    this.#undo = [];
    for (const u of undo) {
      try {
        await u.run();
      } catch (e) {
        onError(u.what, e);
      }
    }
  }
}

/**
 * Runs `build` with a fresh pool; if it throws, undoes what the pool holds (newest first) and rethrows
 * the original error.
 */
export async function withCleanup<T>(
  build: (pool: CleanupPool) => Promise<T>,
  onError?: (what: string, error: unknown) => void,
): Promise<T> {
  const pool = new CleanupPool();
  try {
    return await build(pool);
  } catch (e) {
    await pool.closeAll(onError);
    throw e;
  }
}
