/**
 * Logging: levels, human-readable lines on a TTY, JSON lines otherwise (journald and `jq` friendly).
 * Everything that logs receives a {@linkcode Logger}; tests pass {@linkcode nullLogger} or a collector.
 *
 * @module
 */

/** Log levels, least to most severe. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** What every component logs through. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. `{component: "gossip"}`). */
  child(fields: LogFields): Logger;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  level: LogLevel;
  /** "text" for people, "json" for machines; "auto" = text on a TTY. */
  format?: "text" | "json" | "auto";
  /** Where lines go (default stderr). */
  write?: (line: string) => void;
  /** Wall clock for timestamps (default `Date.now`). */
  now?: () => number;
  isTerminal?: boolean;
}

/** Builds a logger writing to stderr (or `options.write`). */
export function createLogger(options: LoggerOptions, base: LogFields = {}): Logger {
  const min = LOG_LEVELS.indexOf(options.level);
  const isTty = options.isTerminal ?? Deno.stderr.isTerminal();
  const format = options.format === "auto" || options.format === undefined
    ? (isTty ? "text" : "json")
    : options.format;
  const write = options.write ??
    ((line: string) => Deno.stderr.writeSync(new TextEncoder().encode(line + "\n")));
  const now = options.now ?? Date.now;
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    const all = { ...base, ...fields };
    if (format === "json") {
      write(JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...all }, jsonSafe));
    } else {
      const extra = Object.entries(all).map(([k, v]) =>
        `${k}=${typeof v === "string" ? v : JSON.stringify(v, jsonSafe)}`
      );
      const time = new Date(now()).toISOString().slice(11, 19);
      write(`${time} ${level.toUpperCase().padEnd(5)} ${msg}${extra.length ? "  " + extra.join(" ") : ""}`);
    }
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(options, { ...base, ...fields }),
  };
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return value.message;
  return value;
}

/** A logger that drops everything. */
export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => nullLogger,
};
