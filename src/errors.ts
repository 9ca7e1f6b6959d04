/**
 * Error kinds shared by every floor of the house.
 *
 * - {@linkcode UsageError}: a bad command line, config file or request from the person running
 *   `agent`. Carries a hint saying what to do; the CLI prints it and exits with code 2.
 * - {@linkcode DecodeError}: hostile or corrupt bytes (datagrams, state files, QR payloads). Carries a
 *   numeric `code` from {@linkcode DecodeErrorCode} and the byte offset where decoding stopped. Callers
 *   count and drop; they never crash on it.
 * - plain `Error`: a bug.
 *
 * @module
 */

/** A mistake in what the user asked for; exit code 2 with `message` and `hint`. */
export class UsageError extends Error {
  override name = "UsageError";
  /** What to do about it, e.g. "Run 'agent init --help' for the options". */
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.hint = hint;
  }
}

/** Numeric reasons for {@linkcode DecodeError}, stable across versions (they appear in metrics). */
export const DecodeErrorCode = {
  Truncated: 1,
  BadMagic: 2,
  BadVersion: 3,
  BadType: 4,
  BadLength: 5,
  TooLarge: 6,
  BadChecksum: 7,
  BadValue: 8,
  InflateFailed: 9,
  TrailingBytes: 10,
  BadSignature: 11,
} as const;

/** One of the values of {@linkcode DecodeErrorCode}. */
export type DecodeErrorCode = typeof DecodeErrorCode[keyof typeof DecodeErrorCode];

/** Bytes that are not what they claim to be. Never thrown for a bug; always safe to count and drop. */
export class DecodeError extends Error {
  override name = "DecodeError";
  readonly code: DecodeErrorCode;
  /** Byte offset at which decoding gave up (or -1 when not applicable). */
  readonly offset: number;
  constructor(code: DecodeErrorCode, message: string, offset = -1) {
    super(message);
    this.code = code;
    this.offset = offset;
  }
}

/** A state file that exists but cannot be trusted (bad checksum, truncated, wrong format). */
export class CorruptStateError extends Error {
  override name = "CorruptStateError";
  readonly path: string;
  constructor(path: string, detail: string) {
    super(`State file ${JSON.stringify(path)} is corrupt: ${detail}`);
    this.path = path;
  }
}
