/**
 * Datagram format v1: every gossip datagram is one signed frame. The layout lives here and only here;
 * `PROTOCOL.md` next to this file explains the rules around it (sequence numbers, replay windows,
 * ingress order). All integers are big-endian (network order).
 *
 * | offset  | size | type   | field       | notes                                                         |
 * |--------:|-----:|--------|-------------|---------------------------------------------------------------|
 * | 0       | 3    | bytes  | magic       | `AGT` (0x41 0x47 0x54)                                        |
 * | 3       | 1    | u8     | version     | 1 ({@linkcode WIRE_VERSION})                                  |
 * | 4       | 1    | u8     | type        | {@linkcode MessageType}; unknown values are rejected          |
 * | 5       | 1    | u8     | flags       | must be 0 in v1 (reserved)                                    |
 * | 6       | 2    | u16    | bodyLength  | n = compressed body length; must equal datagram − 120, ≥ 1    |
 * | 8       | 32   | bytes  | senderKey   | sender's raw Ed25519 public key (RFC 8032)                    |
 * | 40      | 8    | bytes  | modelHash   | {@linkcode MODEL_HASH_SIZE} bytes naming the model            |
 * | 48      | 4    | u32    | bootEpoch   | sender's boot epoch: persisted, +1 at every start             |
 * | 52      | 4    | u32    | counter     | per-boot counter, +1 for every frame sent                     |
 * | 56      | n    | bytes  | body        | raw DEFLATE (RFC 1951) of the message body                    |
 * | 56 + n  | 64   | bytes  | signature   | Ed25519 over bytes [0, 56 + n): everything before it          |
 *
 * (bootEpoch, counter) compared lexicographically is the sender's sequence number: it never repeats
 * and never goes backwards for one key, without any wall clock. The inflated body is capped at
 * {@linkcode DecodeLimits.maxInflated} bytes.
 *
 * This module is pure: no I/O, no clock. Signing uses an injected {@linkcode Signer}; verification is
 * the gossip layer's job (it must happen before {@linkcode inflateBody}, see PROTOCOL.md).
 *
 * @module
 */
import { deflateSync, inflateSync } from "fflate";
import { DecodeError, DecodeErrorCode } from "../errors.ts";
import { PUBLIC_KEY_SIZE, SIGNATURE_SIZE, type Signer } from "../identity/mod.ts";

export * from "./hello.ts";
/** The signer type {@linkcode encodeFrame} takes (from the identity layer). */
export type { Signer } from "../identity/mod.ts";

/** Frame magic, `AGT`. */
export const WIRE_MAGIC: readonly number[] = [0x41, 0x47, 0x54];
/** Wire format version carried in byte 3. */
export const WIRE_VERSION = 1;
/** Size of the model id hash in the header (must equal the model layer's MODEL_HASH_SIZE). */
export const MODEL_HASH_SIZE = 8;
/** Size of the sender key field (raw Ed25519 public key). */
export const SENDER_KEY_SIZE: number = PUBLIC_KEY_SIZE;
/** Size of the trailing signature. */
export const FRAME_SIGNATURE_SIZE: number = SIGNATURE_SIZE;

/** Field offsets, from the table above. */
export const Offset = {
  magic: 0,
  version: 3,
  type: 4,
  flags: 5,
  bodyLength: 6,
  senderKey: 8,
  modelHash: 40,
  bootEpoch: 48,
  counter: 52,
  body: 56,
} as const;

/** Bytes before the body. */
export const HEADER_SIZE: number = Offset.body;
/** Bytes a frame adds to its compressed body (header + signature) = 120. */
export const FRAME_OVERHEAD: number = HEADER_SIZE + FRAME_SIGNATURE_SIZE;
/** Smallest configurable datagram cap. */
export const MIN_DATAGRAM = 512;
/** Hard cap on any datagram, sent or received, whatever the config says. */
export const MAX_DATAGRAM = 4096;
/** Default datagram cap (fits a 1280-byte IPv6 minimum MTU with IP+UDP headers: never fragmented). */
export const DEFAULT_MAX_DATAGRAM = 1232;
/** Default cap on an inflated body. */
export const DEFAULT_MAX_INFLATED = 65536;
/** Largest allowed value of {@linkcode DecodeLimits.maxInflated}. */
export const MAX_INFLATED_LIMIT = 1 << 20;
/** Largest value of the u32 sequence fields. */
export const MAX_U32 = 0xffff_ffff;
/** Fixed DEFLATE level used by {@linkcode deflateBody} (same input → same bytes on every board). */
export const DEFLATE_LEVEL = 6;

/** Message types (byte 4). Stable: values are never reused. */
export const MessageType = {
  /** Liveness: name and progress counters ({@linkcode HelloBody}); every gossip.intervalMs (or stretched). */
  Hello: 1,
  /** Sparse model update; body owned by the learning layer. */
  Delta: 2,
  /** One piece of a model snapshot for catch-up; body owned by the learning layer. */
  SnapshotChunk: 3,
  /** Asks peers for snapshot chunks; body owned by the learning layer. */
  SnapshotRequest: 4,
} as const;

/** One of the values of {@linkcode MessageType}. */
export type MessageType = typeof MessageType[keyof typeof MessageType];

const TYPE_NAMES = new Map<number, string>(Object.entries(MessageType).map(([k, v]) => [v, k]));

/** True if `value` is a known {@linkcode MessageType}. */
export function isMessageType(value: number): value is MessageType {
  return TYPE_NAMES.has(value);
}

/** Name of a message type for logs and metrics (`"Hello"`, …, or `"type-N"`). */
export function messageTypeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `type-${type}`;
}

/** What the decoder accepts. */
export interface DecodeLimits {
  /** The configured datagram cap (gossip.maxDatagram); never more than {@linkcode MAX_DATAGRAM} applies. */
  maxDatagram: number;
  /** Cap on the inflated body (default {@linkcode DEFAULT_MAX_INFLATED}). */
  maxInflated?: number;
}

/** The parsed fixed header of a frame. Byte fields are views into the datagram (copy to keep them). */
export interface FrameHeader {
  version: number;
  type: MessageType;
  flags: number;
  senderKey: Uint8Array;
  modelHash: Uint8Array;
  bootEpoch: number;
  counter: number;
  /** Compressed body length. */
  bodyLength: number;
}

/** A fully decoded frame: header, inflated body and the signature (not verified here). */
export interface DecodedFrame {
  header: FrameHeader;
  body: Uint8Array;
  signature: Uint8Array;
}

/** Fields of a frame to encode; the sender key comes from the {@linkcode Signer}. */
export interface FrameFields {
  type: MessageType;
  modelHash: Uint8Array;
  bootEpoch: number;
  counter: number;
  /** Already compressed with {@linkcode deflateBody}. */
  body: Uint8Array;
}

/** The largest compressed body that fits a datagram of `maxDatagram` bytes. */
export function bodyBudget(maxDatagram: number): number {
  checkMaxDatagram(maxDatagram);
  return maxDatagram - FRAME_OVERHEAD;
}

function checkMaxDatagram(maxDatagram: number): void {
  if (!Number.isInteger(maxDatagram) || maxDatagram < MIN_DATAGRAM || maxDatagram > MAX_DATAGRAM) {
    throw new Error(`Bug: maxDatagram ${maxDatagram} is outside ${MIN_DATAGRAM}..${MAX_DATAGRAM}`);
  }
}

/** Raw DEFLATE (RFC 1951) at the fixed {@linkcode DEFLATE_LEVEL}; what every frame body is made of. */
export function deflateBody(raw: Uint8Array): Uint8Array {
  return deflateSync(raw, { level: DEFLATE_LEVEL });
}

/**
 * Builds and signs a frame. Throws a plain `Error` (a bug in the caller) if the result would exceed
 * `maxDatagram`, or if a field is out of range; it never emits an oversized datagram.
 */
export async function encodeFrame(
  fields: FrameFields,
  signer: Signer,
  maxDatagram: number,
): Promise<Uint8Array> {
  const frame = encodeUnsigned(fields, signer.publicKey, maxDatagram);
  frame.set(
    await signer.sign(frame.subarray(0, frame.length - FRAME_SIGNATURE_SIZE)),
    frame.length - FRAME_SIGNATURE_SIZE,
  );
  return frame;
}

/**
 * The frame with its signature field zeroed (sign `frame[0, length − 64)` and write the signature at the
 * end). {@linkcode encodeFrame} is this plus signing.
 */
export function encodeUnsigned(fields: FrameFields, senderKey: Uint8Array, maxDatagram: number): Uint8Array {
  checkMaxDatagram(maxDatagram);
  const { type, modelHash, bootEpoch, counter, body } = fields;
  if (!isMessageType(type)) throw new Error(`Bug: unknown message type ${type}`);
  if (senderKey.length !== SENDER_KEY_SIZE) {
    throw new Error(`Bug: sender key must be ${SENDER_KEY_SIZE} bytes`);
  }
  if (modelHash.length !== MODEL_HASH_SIZE) {
    throw new Error(`Bug: model hash must be ${MODEL_HASH_SIZE} bytes`);
  }
  for (const [name, v] of [["bootEpoch", bootEpoch], ["counter", counter]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > MAX_U32) throw new Error(`Bug: ${name} ${v} is not a u32`);
  }
  if (body.length === 0) throw new Error("Bug: a frame body cannot be empty (deflate it first)");
  const size = FRAME_OVERHEAD + body.length;
  if (size > maxDatagram) {
    throw new Error(
      `Bug: frame of ${size} bytes exceeds maxDatagram ${maxDatagram} (body ${body.length} > budget ${
        maxDatagram - FRAME_OVERHEAD
      })`,
    );
  }
  const frame = new Uint8Array(size);
  const view = new DataView(frame.buffer);
  frame.set(WIRE_MAGIC, Offset.magic);
  frame[Offset.version] = WIRE_VERSION;
  frame[Offset.type] = type;
  frame[Offset.flags] = 0;
  view.setUint16(Offset.bodyLength, body.length);
  frame.set(senderKey, Offset.senderKey);
  frame.set(modelHash, Offset.modelHash);
  view.setUint32(Offset.bootEpoch, bootEpoch);
  view.setUint32(Offset.counter, counter);
  frame.set(body, Offset.body);
  return frame;
}

/** The effective size cap for `limits` (the config cap, never above {@linkcode MAX_DATAGRAM}). */
export function datagramCap(limits: DecodeLimits): number {
  return Math.min(limits.maxDatagram, MAX_DATAGRAM);
}

/**
 * A cheap first look (no allocation, no exception): true if `bytes` starts with the magic and version
 * of a v1 frame. Junk that fails it is not worth a {@linkcode decodeHeader} call; anything that passes
 * still goes through it.
 */
export function looksLikeFrame(bytes: Uint8Array): boolean {
  return bytes.length > FRAME_OVERHEAD && bytes[0] === WIRE_MAGIC[0] && bytes[1] === WIRE_MAGIC[1] &&
    bytes[2] === WIRE_MAGIC[2] && bytes[Offset.version] === WIRE_VERSION;
}

/**
 * Checks the frame structure and parses the fixed header, without crypto or inflating. Cheap: the
 * gossip layer calls it first to learn the sender. Throws {@linkcode DecodeError} on anything bad.
 */
export function decodeHeader(bytes: Uint8Array, limits: DecodeLimits): FrameHeader {
  const cap = datagramCap(limits);
  if (bytes.length > cap) {
    throw new DecodeError(
      DecodeErrorCode.TooLarge,
      `Cannot decode frame: datagram of ${bytes.length} bytes exceeds the ${cap}-byte cap`,
      cap,
    );
  }
  if (bytes.length < FRAME_OVERHEAD + 1) {
    throw new DecodeError(
      DecodeErrorCode.Truncated,
      `Cannot decode frame: ${bytes.length} bytes is shorter than the smallest frame (${FRAME_OVERHEAD + 1})`,
      bytes.length,
    );
  }
  for (let i = 0; i < WIRE_MAGIC.length; i++) {
    if (bytes[i] !== WIRE_MAGIC[i]) {
      throw new DecodeError(
        DecodeErrorCode.BadMagic,
        "Cannot decode frame: bad magic (not an agent datagram)",
        i,
      );
    }
  }
  const version = bytes[Offset.version];
  if (version !== WIRE_VERSION) {
    throw new DecodeError(
      DecodeErrorCode.BadVersion,
      `Cannot decode frame: unsupported version ${version} (this agent speaks ${WIRE_VERSION})`,
      Offset.version,
    );
  }
  const type = bytes[Offset.type];
  if (!isMessageType(type)) {
    throw new DecodeError(
      DecodeErrorCode.BadType,
      `Cannot decode frame: unknown message type ${type}`,
      Offset.type,
    );
  }
  const flags = bytes[Offset.flags];
  if (flags !== 0) {
    throw new DecodeError(
      DecodeErrorCode.BadValue,
      `Cannot decode frame: reserved flags ${flags} are not 0`,
      Offset.flags,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bodyLength = view.getUint16(Offset.bodyLength);
  if (bodyLength !== bytes.length - FRAME_OVERHEAD) {
    throw new DecodeError(
      DecodeErrorCode.BadLength,
      `Cannot decode frame: body length field says ${bodyLength} but the datagram holds ${
        bytes.length - FRAME_OVERHEAD
      }`,
      Offset.bodyLength,
    );
  }
  return {
    version,
    type,
    flags,
    senderKey: bytes.subarray(Offset.senderKey, Offset.senderKey + SENDER_KEY_SIZE),
    modelHash: bytes.subarray(Offset.modelHash, Offset.modelHash + MODEL_HASH_SIZE),
    bootEpoch: view.getUint32(Offset.bootEpoch),
    counter: view.getUint32(Offset.counter),
    bodyLength,
  };
}

/** The bytes the signature covers (everything before the last 64). Call after {@linkcode decodeHeader}. */
export function signedPart(frame: Uint8Array): Uint8Array {
  return frame.subarray(0, frame.length - FRAME_SIGNATURE_SIZE);
}

/** The trailing 64-byte signature. Call after {@linkcode decodeHeader}. */
export function signatureOf(frame: Uint8Array): Uint8Array {
  return frame.subarray(frame.length - FRAME_SIGNATURE_SIZE);
}

// One reusable scratch buffer: fflate writes into a caller's buffer without growing it, so the output
// length tells whether the body inflated to more than the cap (the +1 byte). Decoding is synchronous,
// so sharing it is safe.
let scratch = new Uint8Array(0);

/**
 * Inflates `compressed` with a hard cap of `maxInflated` bytes: more output, a broken DEFLATE stream or an
 * empty input is a {@linkcode DecodeError}. `offset` is the body's offset in the frame (for the error).
 */
export function inflateBody(
  compressed: Uint8Array,
  maxInflated = DEFAULT_MAX_INFLATED,
  offset = Offset.body,
): Uint8Array {
  if (!Number.isInteger(maxInflated) || maxInflated < 0 || maxInflated > MAX_INFLATED_LIMIT) {
    throw new Error(`Bug: maxInflated ${maxInflated} is outside 0..${MAX_INFLATED_LIMIT}`);
  }
  if (compressed.length === 0) {
    throw new DecodeError(DecodeErrorCode.Truncated, "Cannot inflate body: it is empty", offset);
  }
  if (scratch.length < maxInflated + 1) scratch = new Uint8Array(maxInflated + 1);
  const out = scratch.subarray(0, maxInflated + 1);
  let result: Uint8Array;
  try {
    result = inflateSync(compressed, { out });
  } catch (e) {
    throw new DecodeError(
      DecodeErrorCode.InflateFailed,
      `Cannot inflate body: ${(e as Error).message}`,
      offset,
    );
  }
  if (result.length > maxInflated) {
    throw new DecodeError(
      DecodeErrorCode.TooLarge,
      `Cannot inflate body: it inflates to more than the ${maxInflated}-byte cap`,
      offset,
    );
  }
  return result.slice();
}

/** Header check plus bounded inflate. Does NOT verify the signature (see PROTOCOL.md for the order). */
export function decodeFrame(bytes: Uint8Array, limits: DecodeLimits): DecodedFrame {
  const header = decodeHeader(bytes, limits);
  const body = inflateBody(bytes.subarray(Offset.body, Offset.body + header.bodyLength), limits.maxInflated);
  return { header, body, signature: signatureOf(bytes) };
}
