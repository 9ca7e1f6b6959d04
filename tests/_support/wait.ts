/**
 * Waiting for a condition with a deadline, the one way tests wait (never a blind sleep).
 *
 * @module
 */

/** How long {@linkcode waitFor} waits and how often it looks. */
export interface WaitOptions {
  /** Give up after this many milliseconds (default 10,000). */
  timeoutMs?: number;
  /** Look again after this many milliseconds (default 20). */
  everyMs?: number;
}

/** `T` without its falsy values: what {@linkcode waitFor} returns. */
export type Truthy<T> = Exclude<T, false | 0 | "" | null | undefined>;

/**
 * Polls `check` until it returns a truthy value, and returns that value. An error thrown by `check`
 * counts as "not yet" (a server still starting); at the deadline it throws naming `what`, the time
 * waited and the last error `check` threw.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<Truthy<T>> {
  const { timeoutMs = 10_000, everyMs = 20 } = options;
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (true) {
    try {
      const value = await check();
      if (value) return value as Truthy<T>;
    } catch (e) {
      last = e;
    }
    if (performance.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  const cause = last === undefined
    ? ""
    : `: last error: ${last instanceof Error ? last.message : String(last)}`;
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
}
