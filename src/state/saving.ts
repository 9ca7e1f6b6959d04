/**
 * Whether the daemon can save its state, and when to try again after it could not (a full SD card, a
 * read-only remount). Each kind of write (checkpoint, status snapshot) backs off on its own after a
 * failure: 1 s, 2 s, 4 s … up to a minute, so a full disk costs a few attempts a minute instead of one
 * per tick. While backing off, the free space of the state's filesystem is read (cheap, `statfs`) on every
 * tick, and a write is tried again at once when space came back, so saving resumes as soon as it can.
 *
 * Pure but for the injected clock and free-space probe.
 *
 * @module
 */
import { statfs } from "node:fs/promises";

/** Free and total bytes of a filesystem. */
export interface DiskSpace {
  freeBytes: number;
  totalBytes: number;
}

/** Reads the space of the filesystem holding `dir` (`statfs`; what an unprivileged process may use). */
export async function diskSpace(dir: string): Promise<DiskSpace> {
  const s = await statfs(dir);
  return { freeBytes: Number(s.bavail) * Number(s.bsize), totalBytes: Number(s.blocks) * Number(s.bsize) };
}

/** What `/v1/status`, `/metrics` and `agent doctor` report about saving. */
export interface SaveHealth {
  /** False while the last attempt of any kind of write failed. */
  ok: boolean;
  /** Failed writes since the daemon started. */
  failures: number;
  /** Failed writes in a row now (0 when saving works). */
  failingInARow: number;
  /** What failed and why, e.g. `checkpoint: No space left on device (os error 28)`; null when ok. */
  lastError: string | null;
  /** Wall-clock time saving started to fail (ISO 8601), null when ok. */
  failingSince: string | null;
  /** Free bytes on the state's filesystem when last read, null if unknown. */
  freeBytes: number | null;
  totalBytes: number | null;
}

interface KindState {
  failingInARow: number;
  nextAttemptMs: number;
  freeAtFailure: number | null;
  error: string;
}

/** Options of {@linkcode SaveGuard}. */
export interface SaveGuardOptions {
  /** Monotonic milliseconds. */
  now: () => number;
  /** Wall-clock milliseconds (for `failingSince`). */
  wallNow: () => number;
  /** Free space of the state's filesystem. */
  space: () => Promise<DiskSpace>;
  /** First back-off after a failure (default 1 s); doubles per failure in a row. */
  minBackoffMs?: number;
  /** Longest back-off (default 60 s). */
  maxBackoffMs?: number;
}

/** Outcome of {@linkcode SaveGuard.run}. */
export type SaveOutcome = "saved" | "failed" | "deferred";

/** Runs the daemon's state writes with back-off, and keeps the {@linkcode SaveHealth}. */
export class SaveGuard {
  readonly #o: Required<SaveGuardOptions>;
  readonly #kinds = new Map<string, KindState>();
  #failures = 0;
  #failingSinceMs: number | null = null;
  #space: DiskSpace | null = null;

  constructor(options: SaveGuardOptions) {
    this.#o = { minBackoffMs: 1000, maxBackoffMs: 60_000, ...options };
  }

  /**
   * Runs `save` for `kind` unless that kind is backing off (then "deferred", `save` not called; `force`
   * tries anyway, e.g. the last checkpoint at shutdown). A failure is recorded, not rethrown: the caller
   * logs it from `onError`.
   */
  async run(
    kind: string,
    save: () => Promise<void>,
    onError?: (e: unknown, failingInARow: number) => void,
    force = false,
  ): Promise<SaveOutcome> {
    const k = this.#kinds.get(kind);
    if (k && !force && this.#o.now() < k.nextAttemptMs && !(await this.#spaceCameBack(k))) {
      return "deferred";
    }
    try {
      await save();
    } catch (e) {
      const n = (k?.failingInARow ?? 0) + 1;
      const space = await this.#readSpace();
      this.#kinds.set(kind, {
        failingInARow: n,
        nextAttemptMs: this.#o.now() + Math.min(this.#o.maxBackoffMs, this.#o.minBackoffMs * 2 ** (n - 1)),
        freeAtFailure: space?.freeBytes ?? null,
        error: `${kind}: ${(e as Error)?.message ?? String(e)}`,
      });
      this.#failures++;
      this.#failingSinceMs ??= this.#o.wallNow();
      onError?.(e, n);
      return "failed";
    }
    if (k) {
      this.#kinds.delete(kind);
      if (this.#kinds.size === 0) this.#failingSinceMs = null;
      await this.#readSpace();
    }
    return "saved";
  }

  /** True when the filesystem has clearly more room than at the last failure of this kind. */
  async #spaceCameBack(k: KindState): Promise<boolean> {
    const space = await this.#readSpace();
    if (!space || k.freeAtFailure === null) return false;
    return space.freeBytes >= Math.max(2 * k.freeAtFailure, k.freeAtFailure + 64 * 1024);
  }

  /** Reads the free space again (the daemon calls it with each status snapshot). */
  refreshSpace(): Promise<DiskSpace | null> {
    return this.#readSpace();
  }

  async #readSpace(): Promise<DiskSpace | null> {
    try {
      this.#space = await this.#o.space();
    } catch {
      this.#space = null;
    }
    return this.#space;
  }

  /** The current health (free space as last read). */
  health(): SaveHealth {
    const failing = [...this.#kinds.values()];
    return {
      ok: failing.length === 0,
      failures: this.#failures,
      failingInARow: failing.reduce((a, k) => Math.max(a, k.failingInARow), 0),
      lastError: failing.length ? failing.map((k) => k.error).join("; ") : null,
      failingSince: this.#failingSinceMs === null ? null : new Date(this.#failingSinceMs).toISOString(),
      freeBytes: this.#space?.freeBytes ?? null,
      totalBytes: this.#space?.totalBytes ?? null,
    };
  }
}
