/**
 * Live reload: the daemon re-reads its trust store and config on SIGHUP and when either file changes
 * on disk (`agent trust` and editors replace files by rename, so the parent directories are watched).
 * Which config keys can change without a restart is one table, {@linkcode LIVE_KEYS}; the rest are
 * reported as needing a restart and keep their running value.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import type { Config } from "../config/mod.ts";
import type { Logger } from "../log.ts";

/** Config keys applied to a running daemon without a restart. */
export const LIVE_KEYS: readonly string[] = [
  "gossip.intervalMs",
  "gossip.peerTimeoutMs",
  "gossip.rateLimit",
  "gossip.swarmBytesPerSecond",
  "learning.rate",
  "learning.rateDecayRounds",
  "learning.rateFinal",
  "learning.rateSchedule",
  "learning.averaging",
  "learning.pull",
  "learning.validateEvery",
  "learning.batchSize",
  "learning.localSteps",
  "learning.roundMs",
  "learning.robustMerge",
  "learning.deltasPerRound",
  "learning.checkpointMs",
  "api.maxBodyBytes",
  "logging.level",
];

/** Which changed keys can be applied live and which need a restart. */
export interface ConfigChanges {
  live: string[];
  restart: string[];
}

/** Compares two configs key by key. */
export function configChanges(running: Config, next: Config): ConfigChanges {
  const out: ConfigChanges = { live: [], restart: [] };
  const a = running as unknown as Record<string, Record<string, unknown>>;
  const b = next as unknown as Record<string, Record<string, unknown>>;
  for (const section of Object.keys(b)) {
    for (const key of Object.keys(b[section])) {
      if (a[section]?.[key] === b[section][key]) continue;
      const path = `${section}.${key}`;
      (LIVE_KEYS.includes(path) ? out.live : out.restart).push(path);
    }
  }
  return out;
}

/** `running` with the live keys of `next` applied (restart-only keys keep their running value). */
export function applyLive(running: Config, next: Config): Config {
  const out = structuredClone(running) as unknown as Record<string, Record<string, unknown>>;
  const b = next as unknown as Record<string, Record<string, unknown>>;
  for (const path of LIVE_KEYS) {
    const [s, k] = path.split(".");
    if (b[s] && k in b[s]) out[s][k] = b[s][k];
  }
  return out as unknown as Config;
}

/** Why a reload happened. */
export type ReloadCause = { kind: "signal" } | { kind: "file"; paths: string[] };

/** Options for {@linkcode watchForReload}. */
export interface ReloadWatchOptions {
  /** Files whose change triggers a reload (they may not exist yet). */
  files: string[];
  /** Called once per burst of changes (debounced) or per SIGHUP; never concurrently. */
  onReload(cause: ReloadCause): Promise<void>;
  logger: Logger;
  /** Quiet time before a burst of file events counts as one change (default 200 ms). */
  debounceMs?: number;
  /** Listen for SIGHUP (default true). */
  signal?: boolean;
}

/** A running watcher; `close()` stops it and clears its timers. */
export interface ReloadWatcher {
  close(): Promise<void>;
}

/** Watches `files` and SIGHUP; calls `onReload`. */
export function watchForReload(options: ReloadWatchOptions): ReloadWatcher {
  const debounceMs = options.debounceMs ?? 200;
  const wanted = new Set(options.files.map((f) => resolve(f)));
  const dirs = [...new Set([...wanted].map((f) => dirname(f)))];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pending = new Set<string>();
  let running: Promise<void> = Promise.resolve();
  let closed = false;

  const run = (cause: ReloadCause) => {
    running = running.then(() => closed ? undefined : options.onReload(cause)).catch((e) =>
      options.logger.error("Reload failed; keeping the running configuration", { error: e })
    );
  };

  const watcher = Deno.watchFs(dirs, { recursive: false });
  const loop = (async () => {
    try {
      for await (const event of watcher) {
        const hits = event.paths.map((p) => resolve(p)).filter((p) => wanted.has(p));
        if (hits.length === 0) continue;
        for (const h of hits) pending.add(h);
        if (timer !== undefined) clearTimeout(timer);
        timer = setTimeout(() => {
          timer = undefined;
          const paths = [...pending];
          pending = new Set();
          run({ kind: "file", paths });
        }, debounceMs);
      }
    } catch (e) {
      if (!closed) options.logger.warn("File watching stopped; SIGHUP still reloads", { error: e });
    }
  })();

  const onSignal = () => run({ kind: "signal" });
  const useSignal = options.signal ?? true;
  if (useSignal) Deno.addSignalListener("SIGHUP", onSignal);

  return {
    async close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      if (useSignal) Deno.removeSignalListener("SIGHUP", onSignal);
      watcher.close();
      await loop;
      await running;
    },
  };
}
