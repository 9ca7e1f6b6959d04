/**
 * Checksummed state files, so a corrupt or truncated file is detected and reported instead of being
 * silently replaced.
 *
 * Binary layout (checkpoints, replay windows):
 *
 * | offset | size | type     | field    | notes                                   |
 * |-------:|-----:|----------|----------|-----------------------------------------|
 * | 0      | 4    | bytes    | magic    | `AGST`                                  |
 * | 4      | 1    | u8       | version  | 1                                       |
 * | 5      | 3    | -        | reserved | zero                                    |
 * | 8      | 4    | u32 LE   | length   | payload length in bytes                 |
 * | 12     | 32   | bytes    | sha256   | SHA-256 of the payload                  |
 * | 44     | n    | bytes    | payload  |                                         |
 *
 * JSON layout (trust store, metadata): `{"format": NAME, "sha256": HEX, "data": VALUE}` where the
 * hash covers `JSON.stringify(data)`. Humans can read it; editing it by hand is detected.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { CorruptStateError } from "../errors.ts";
import { type AtomicWriteOptions, writeFileAtomic } from "./atomic.ts";
import { toHex } from "../bytes.ts";

const MAGIC = [0x41, 0x47, 0x53, 0x54]; // "AGST"
const VERSION = 1;
/** Size of the binary header before the payload. */
export const CHECKED_HEADER_SIZE = 44;

/** SHA-256 of the concatenation of `parts`, hashed part by part (one implementation for every check). */
function sha256(parts: readonly Uint8Array[]): Uint8Array {
  const hash = createHash("sha256");
  for (const p of parts) hash.update(p);
  return new Uint8Array(hash.digest());
}

const hex = toHex;

/** The envelope's header for a payload of `length` bytes with SHA-256 `digest`. */
function envelopeHeader(length: number, digest: Uint8Array): Uint8Array {
  if (length > 0xffff_ffff) throw new Error(`Bug: a ${length}-byte payload does not fit the length field`);
  const out = new Uint8Array(CHECKED_HEADER_SIZE);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  new DataView(out.buffer).setUint32(8, length, true);
  out.set(digest, 12);
  return out;
}

/**
 * Checks an envelope's header (its first {@linkcode CHECKED_HEADER_SIZE} bytes, fewer if the file is
 * shorter) against the file's `size`; returns the payload length.
 */
function checkHeader(path: string, header: Uint8Array, size: number): number {
  if (size < CHECKED_HEADER_SIZE) {
    throw new CorruptStateError(path, `${size} bytes is shorter than the ${CHECKED_HEADER_SIZE}-byte header`);
  }
  if (MAGIC.some((m, i) => header[i] !== m)) {
    throw new CorruptStateError(path, "bad magic (not an agent state file)");
  }
  if (header[4] !== VERSION) throw new CorruptStateError(path, `unsupported version ${header[4]}`);
  const length = new DataView(header.buffer, header.byteOffset, CHECKED_HEADER_SIZE).getUint32(8, true);
  if (size !== CHECKED_HEADER_SIZE + length) {
    throw new CorruptStateError(
      path,
      `length field says ${length} payload bytes but the file has ${size - CHECKED_HEADER_SIZE} (truncated?)`,
    );
  }
  return length;
}

/** Compares the header's stored SHA-256 with the payload's `digest`. */
function checkDigest(path: string, header: Uint8Array, digest: Uint8Array): void {
  const want = hex(header.subarray(12, 44));
  const got = hex(digest);
  if (want !== got) {
    throw new CorruptStateError(
      path,
      `checksum mismatch (stored ${want.slice(0, 12)}…, computed ${got.slice(0, 12)}…)`,
    );
  }
}

/** Checks and unwraps the binary envelope; throws {@linkcode CorruptStateError} naming `path`. */
export function openChecked(path: string, file: Uint8Array): Uint8Array {
  checkHeader(path, file, file.length);
  const payload = file.subarray(CHECKED_HEADER_SIZE);
  checkDigest(path, file, sha256([payload]));
  return payload;
}

/** Bytes read at a time by {@linkcode verifyChecked}. */
const VERIFY_CHUNK = 64 * 1024;

/**
 * Checks a checksummed binary file as a stream, without holding it whole: `undefined` if it does not
 * exist, else its payload's length and first `keep` bytes; throws {@linkcode CorruptStateError} as
 * {@linkcode readChecked} does.
 */
export async function verifyChecked(
  path: string,
  keep: number,
): Promise<{ length: number; head: Uint8Array } | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  try {
    const size = (await file.stat()).size;
    const header = new Uint8Array(Math.min(size, CHECKED_HEADER_SIZE));
    await readFull(file, header, path);
    const length = checkHeader(path, header, size);
    const head = new Uint8Array(Math.min(keep, length));
    const hash = createHash("sha256");
    const chunk = new Uint8Array(VERIFY_CHUNK);
    for (let at = 0; at < length;) {
      const part = chunk.subarray(0, Math.min(VERIFY_CHUNK, length - at));
      await readFull(file, part, path);
      hash.update(part);
      if (at < head.length) head.set(part.subarray(0, head.length - at), at);
      at += part.length;
    }
    checkDigest(path, header, new Uint8Array(hash.digest()));
    return { length, head };
  } finally {
    file.close();
  }
}

/** Fills `into` from `file`; a file that ends first was truncated while we read it. */
async function readFull(file: Deno.FsFile, into: Uint8Array, path: string): Promise<void> {
  for (let off = 0; off < into.length;) {
    const n = await file.read(into.subarray(off));
    if (n === null) throw new CorruptStateError(path, "the file ended while it was read (truncated?)");
    off += n;
  }
}

/**
 * Writes `payload` atomically in the checksummed binary envelope. Given as parts, the payload is their
 * concatenation, hashed and written part by part (a checkpoint holding many peers' models is never copied
 * whole).
 */
export async function writeChecked(
  path: string,
  payload: Uint8Array | readonly Uint8Array[],
  options?: AtomicWriteOptions,
): Promise<void> {
  const parts = payload instanceof Uint8Array ? [payload] : payload;
  const length = parts.reduce((n, p) => n + p.length, 0);
  const header = envelopeHeader(length, sha256(parts));
  await writeFileAtomic(path, [header, ...parts], options);
}

/** Reads a checksummed binary file; `undefined` if it does not exist; throws if corrupt. */
export async function readChecked(path: string): Promise<Uint8Array | undefined> {
  let file: Uint8Array;
  try {
    file = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  return openChecked(path, file);
}

/** Writes `data` atomically as a checksummed JSON document of the given `format` name. */
export async function writeCheckedJson(
  path: string,
  format: string,
  data: unknown,
  options?: AtomicWriteOptions,
): Promise<void> {
  const body = JSON.stringify(data);
  const digest = hex(sha256([new TextEncoder().encode(body)]));
  const doc = `{"format":${JSON.stringify(format)},"sha256":"${digest}","data":${body}}\n`;
  await writeFileAtomic(path, doc, options);
}

/** Reads a checksummed JSON document; `undefined` if missing; throws if corrupt or of another format. */
export async function readCheckedJson(path: string, format: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new CorruptStateError(path, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new CorruptStateError(path, "not a JSON object");
  }
  const d = doc as Record<string, unknown>;
  if (d.format !== format) {
    throw new CorruptStateError(
      path,
      `format is ${JSON.stringify(d.format)}, expected ${JSON.stringify(format)}`,
    );
  }
  if (typeof d.sha256 !== "string" || !("data" in d)) {
    throw new CorruptStateError(path, "missing sha256 or data");
  }
  const got = hex(sha256([new TextEncoder().encode(JSON.stringify(d.data))]));
  if (got !== d.sha256) {
    throw new CorruptStateError(path, "checksum mismatch (was the file edited or truncated?)");
  }
  return d.data;
}
