/**
 * Cloning to many boards: at most `parallel` clones at once, each independent (one failure never stops
 * the others), then every new board is made to trust every other new board of the run. The clone of one
 * board is passed in, so the scheduling and the summary are tested without SSH.
 *
 * @module
 */
import type { CloneReport } from "./clone.ts";
import { CloneError, CloneFailure } from "./errors.ts";
import type { AgentIdentity } from "./trust.ts";
import { UsageError } from "../errors.ts";

/** How one board ended. */
export type HostStatus = "installed" | "up-to-date" | "rolled-back" | "failed" | "dry-run";

/** One board's line of the summary. */
export interface HostResult {
  target: string;
  status: HostStatus;
  /** Why it failed (or what changed when up to date). */
  reason?: string;
  hint?: string;
  /** The {@linkcode CloneFailure} kind of a failure. */
  kind?: string;
  report?: CloneReport;
  /** Fingerprints of the other boards of the run this one was made to trust. */
  siblingsTrusted: string[];
  ms: number;
}

/**
 * Runs `fn` over `items` with at most `limit` running at once; results in input order. Stops starting
 * new items once `stop()` says so (those get `skipped(item)`).
 */
export async function runBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  skip?: { stop: () => boolean; skipped: (item: T, index: number) => R },
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = skip?.stop() ? skip.skipped(items[i], i) : await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** The summary status of a finished clone (pure). */
export function statusOf(report: CloneReport): HostStatus {
  return report.action === "dry-run"
    ? "dry-run"
    : report.action === "up-to-date"
    ? "up-to-date"
    : "installed";
}

/** A failed clone's summary line (pure). */
export function failureOf(target: string, e: unknown, ms: number): HostResult {
  if (e instanceof CloneError) {
    return {
      target,
      status: e.kind === CloneFailure.RolledBack ? "rolled-back" : "failed",
      reason: e.message,
      hint: e.hint,
      kind: e.kind,
      siblingsTrusted: [],
      ms,
    };
  }
  if (e instanceof UsageError) {
    return {
      target,
      status: "failed",
      reason: e.message,
      hint: e.hint,
      kind: "usage",
      siblingsTrusted: [],
      ms,
    };
  }
  throw e; // a bug: let it surface
}

/** What a fleet run needs. */
export interface FleetOptions<H> {
  parallel: number;
  /** Clones one board. */
  clone: (host: H, index: number) => Promise<CloneReport>;
  /** Makes one new board trust the given other new boards; returns the fingerprints added. */
  trustSiblings: (host: H, report: CloneReport, siblings: AgentIdentity[]) => Promise<string[]>;
  /** Names a host for the summary before its clone has a report. */
  describe: (host: H) => string;
  /** Called as each board finishes (for live displays). */
  onResult?: (index: number, result: HostResult) => void;
  signal?: AbortSignal;
  /** Milliseconds clock (default Date.now). */
  now?: () => number;
}

/** Clones every host (bounded), then pairs the new boards with each other; never throws for a board. */
export async function cloneFleet<H>(hosts: readonly H[], opts: FleetOptions<H>): Promise<HostResult[]> {
  const now = opts.now ?? Date.now;
  const results = await runBounded(hosts, opts.parallel, async (host, i) => {
    const started = now();
    let r: HostResult;
    try {
      const report = await opts.clone(host, i);
      r = {
        target: report.target,
        status: statusOf(report),
        reason: report.action === "up-to-date" && report.changed
          ? "release up to date; state and trust updated"
          : undefined,
        report,
        siblingsTrusted: [],
        ms: now() - started,
      };
    } catch (e) {
      r = failureOf(opts.describe(host), e, now() - started);
    }
    opts.onResult?.(i, r);
    return r;
  }, {
    stop: () => opts.signal?.aborted === true,
    skipped: (host) => ({
      target: opts.describe(host),
      status: "failed" as const,
      reason: "Not started: the run was interrupted",
      kind: CloneFailure.Interrupted,
      siblingsTrusted: [],
      ms: 0,
    }),
  });

  // Every new board trusts every other new board of the run.
  const paired = results.map((r, i) => ({ r, i })).filter(({ r }) =>
    r.report?.child && r.status !== "dry-run"
  );
  if (paired.length > 1) {
    await runBounded(paired, opts.parallel, async ({ r, i }) => {
      const siblings = paired.filter((o) => o.i !== i).map((o) => o.r.report!.child!);
      const started = now();
      try {
        r.siblingsTrusted = await opts.trustSiblings(hosts[i], r.report!, siblings);
      } catch (e) {
        const f = failureOf(r.target, e, 0);
        r.status = "failed";
        r.reason = `Installed, but pairing with the other boards failed: ${f.reason}`;
        r.hint = f.hint;
        r.kind = f.kind;
      }
      r.ms += now() - started;
    });
  }
  return results;
}
