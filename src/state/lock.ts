/**
 * One daemon per state directory: an exclusive `flock` on `<state>/agent.lock`, which the kernel
 * releases when the process dies (even by SIGKILL), so a crash never leaves a stale lock. The holder's
 * PID is written into the file so the second daemon can name it.
 *
 * @module
 */
import { UsageError } from "../errors.ts";

/** A held state-directory lock; `release()` is idempotent. */
export interface StateLock {
  readonly path: string;
  release(): void;
}

/** Takes the lock or throws a {@linkcode UsageError} naming the PID that holds it. */
export async function acquireStateLock(path: string): Promise<StateLock> {
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o644 });
  let ok = false;
  try {
    ok = await file.tryLock(true);
    if (!ok) {
      const holder = (await Deno.readTextFile(path).catch(() => "")).trim();
      throw new UsageError(
        `State directory is in use: ${JSON.stringify(path)} is locked by PID ${holder || "(unknown)"}`,
        "Stop the other agent first, or give this one its own --state DIR",
      );
    }
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  } finally {
    if (!ok) file.close();
  }
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      try {
        file.unlockSync();
      } finally {
        file.close();
      }
    },
  };
}
