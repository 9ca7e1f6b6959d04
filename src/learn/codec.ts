/**
 * Body formats of the learning messages (`Delta`, `SnapshotChunk`, `SnapshotRequest`). The wire layer
 * frames, DEFLATEs and signs them; this module owns what is inside. All integers little-endian.
 *
 * ## Values (Delta and SnapshotChunk)
 *
 * Both carry ABSOLUTE values of some coordinates of the sender's public model copy, stamped with a
 * per-coordinate version (`stamp`). Applying one is idempotent and order-insensitive: a receiver keeps a
 * value only if the message's stamp is at least the stamp it already holds for that coordinate, so loss,
 * duplication and reordering never make copies diverge for good.
 *
 * | offset | size | type    | field      | notes                                                       |
 * |-------:|-----:|---------|------------|-------------------------------------------------------------|
 * | 0      | 1    | u8      | format     | {@linkcode BODY_FORMAT} (1)                                 |
 * | 1      | 8    | bytes   | modelHash  | the model's 8-byte hash; other models' messages are ignored |
 * | 9      | 4    | u32     | epoch      | sender's public-copy epoch; 0 = genesis (the shared init)   |
 * | 13     | 4    | u32     | stamp      | per-coordinate version, increases with every message        |
 * | 17     | 4    | u32     | paramCount | must equal the model's parameter count                      |
 * | 21     | 1    | u8      | encoding   | {@linkcode ValueEncoding}: 1 int8×scale, 2 fp16, 3 f32      |
 * | 22     | 4    | f32     | scale      | int8 only: value = int8 × scale (finite, ≥ 0); else 0       |
 * | 26     | 2    | u16     | count      | n coordinates (≥ 1)                                         |
 * | 28     | …    |         | indices    | Delta: n LEB128 gaps (first = index, then index − prev − 1) |
 * |        |      |         |            | SnapshotChunk: u32 start (coordinates start … start+n−1)    |
 * | …      | n·w  |         | values     | n values of width w = 1 (int8), 2 (fp16) or 4 (f32)         |
 *
 * The body must end exactly after the values. Delta indices are strictly increasing and < paramCount.
 *
 * ## SnapshotRequest
 *
 * | offset | size | type  | field     | notes                                                           |
 * |-------:|-----:|-------|-----------|-----------------------------------------------------------------|
 * | 0      | 1    | u8    | format    | {@linkcode BODY_FORMAT}                                         |
 * | 1      | 8    | bytes | modelHash |                                                                 |
 * | 9      | 1    | u8    | n         | number of targets (0 = every peer that hears it)                |
 * | 10     | 8·n  | bytes | targets   | first 8 bytes of each target peer's Ed25519 public key          |
 *
 * @module
 */
import { DecodeError, DecodeErrorCode } from "../errors.ts";
import { bodyBudget, MODEL_HASH_SIZE } from "../wire/mod.ts";

/** Version byte at offset 0 of every learning body. */
export const BODY_FORMAT = 1;
/** Bytes of the model hash (the wire layer's constant: one definition). */
export { MODEL_HASH_SIZE };
/** Bytes of a peer fingerprint in a snapshot request (prefix of the public key). */
export const FINGERPRINT_SIZE = 8;
/** Header bytes of a Delta / SnapshotChunk body before the indices. */
export const VALUES_HEADER_SIZE = 28;
/** Most coordinates in one body (u16 count). */
export const MAX_COORDINATES = 65535;
/** Most targets in one snapshot request. */
export const MAX_TARGETS = 255;

/** How values are quantized. */
export const ValueEncoding = { Int8: 1, Fp16: 2, F32: 3 } as const;
/** One of {@linkcode ValueEncoding}. */
export type ValueEncoding = typeof ValueEncoding[keyof typeof ValueEncoding];

/** Value bytes per coordinate for each encoding. */
export function valueWidth(encoding: ValueEncoding): number {
  return encoding === ValueEncoding.Int8 ? 1 : encoding === ValueEncoding.Fp16 ? 2 : 4;
}

/**
 * At most the bytes on the air of one whole-model push: snapshot chunks of `paramCount` values in datagrams
 * of at most `maxDatagram` bytes, before DEFLATE (which shrinks a trained model's heavy-tailed int8 values
 * to about half). The airtime budget counts a committee handover's push with it.
 */
export function snapshotBytes(paramCount: number, encoding: ValueEncoding, maxDatagram: number): number {
  const perChunk = Math.floor((bodyBudget(maxDatagram) - VALUES_HEADER_SIZE - 4) / valueWidth(encoding));
  return Math.ceil(paramCount / perChunk) * maxDatagram;
}

/** A decoded Delta or SnapshotChunk: absolute values at `indices`. */
export interface ValuesBody {
  modelHash: Uint8Array;
  epoch: number;
  stamp: number;
  paramCount: number;
  encoding: ValueEncoding;
  /** Strictly increasing coordinate indices. */
  indices: Uint32Array;
  /** Dequantized values (what every receiver holds after applying the body). */
  values: Float32Array;
}

/** A decoded SnapshotRequest. */
export interface SnapshotRequestBody {
  modelHash: Uint8Array;
  /** Fingerprints of the peers asked to send snapshots; empty = everyone. */
  targets: Uint8Array[];
}

/** What to encode: the header fields and the exact float values to quantize. */
export interface ValuesInput {
  modelHash: Uint8Array;
  epoch: number;
  stamp: number;
  paramCount: number;
  encoding: ValueEncoding;
  indices: ArrayLike<number>;
  values: ArrayLike<number>;
}

/** An encoded body plus the values receivers will decode (so the sender can mirror them exactly). */
export interface EncodedValues {
  body: Uint8Array;
  /** Dequantized values in index order. */
  decoded: Float32Array;
}

// ---------------------------------------------------------------- fp16

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Float → IEEE 754 half (round to nearest even), as u16 bits. */
export function toFp16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  if ((half >>> 10) >= 0x1f) {
    e = 0x1f;
    return sign | 0x7c00;
  }
  return sign | half;
}

/** IEEE 754 half bits → float. */
export function fromFp16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// ---------------------------------------------------------------- quantization

/** The int8 scale for `values` (max |v| / 127; 0 when all are 0). */
export function int8Scale(values: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > max) max = a;
  }
  return Math.fround(max / 127);
}

/** What `value` becomes after a round trip through `encoding` (with `scale` for int8). */
export function quantize(value: number, encoding: ValueEncoding, scale: number): number {
  if (encoding === ValueEncoding.Int8) {
    if (scale === 0) return 0;
    const q = Math.max(-127, Math.min(127, Math.round(value / scale)));
    return Math.fround(q * scale);
  }
  if (encoding === ValueEncoding.Fp16) return Math.fround(fromFp16(toFp16(value)));
  return Math.fround(value);
}

// ---------------------------------------------------------------- encode

function writeHeader(view: DataView, out: Uint8Array, input: ValuesInput, scale: number): void {
  out[0] = BODY_FORMAT;
  out.set(input.modelHash.subarray(0, MODEL_HASH_SIZE), 1);
  view.setUint32(9, input.epoch >>> 0, true);
  view.setUint32(13, input.stamp >>> 0, true);
  view.setUint32(17, input.paramCount >>> 0, true);
  out[21] = input.encoding;
  view.setFloat32(22, scale, true);
  view.setUint16(26, input.values.length, true);
}

function checkInput(input: ValuesInput): void {
  const n = input.values.length;
  if (n < 1 || n > MAX_COORDINATES) throw new Error(`Bug: ${n} coordinates in one body`);
  if (input.indices.length !== n) throw new Error("Bug: indices and values differ in length");
  if (input.modelHash.length !== MODEL_HASH_SIZE) throw new Error("Bug: model hash must be 8 bytes");
}

function writeValues(
  out: Uint8Array,
  view: DataView,
  at: number,
  input: ValuesInput,
  scale: number,
  decoded: Float32Array,
): void {
  const n = input.values.length;
  for (let i = 0; i < n; i++) {
    const v = input.values[i];
    if (input.encoding === ValueEncoding.Int8) {
      const q = scale === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(v / scale))) | 0;
      view.setInt8(at + i, q);
      decoded[i] = Math.fround(q * scale);
    } else if (input.encoding === ValueEncoding.Fp16) {
      const h = toFp16(v);
      view.setUint16(at + 2 * i, h, true);
      decoded[i] = fromFp16(h);
    } else {
      view.setFloat32(at + 4 * i, v, true);
      decoded[i] = Math.fround(v);
    }
  }
  void out;
}

/** Encodes a Delta body (sparse, strictly increasing `indices`). */
export function encodeDelta(input: ValuesInput): EncodedValues {
  checkInput(input);
  const n = input.values.length;
  const scale = input.encoding === ValueEncoding.Int8 ? int8Scale(input.values) : 0;
  const gaps = new Uint8Array(n * 5);
  let g = 0;
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const idx = input.indices[i];
    if (!(idx > prev) || idx >= input.paramCount) throw new Error(`Bug: bad index ${idx} after ${prev}`);
    let gap = idx - prev - 1;
    prev = idx;
    while (gap >= 0x80) {
      gaps[g++] = (gap & 0x7f) | 0x80;
      gap >>>= 7;
    }
    gaps[g++] = gap;
  }
  const width = valueWidth(input.encoding);
  const out = new Uint8Array(VALUES_HEADER_SIZE + g + n * width);
  const view = new DataView(out.buffer);
  writeHeader(view, out, input, scale);
  out.set(gaps.subarray(0, g), VALUES_HEADER_SIZE);
  const decoded = new Float32Array(n);
  writeValues(out, view, VALUES_HEADER_SIZE + g, input, scale, decoded);
  return { body: out, decoded };
}

/** Encodes a SnapshotChunk body: coordinates `start … start + values.length − 1`. */
export function encodeChunk(input: Omit<ValuesInput, "indices"> & { start: number }): EncodedValues {
  const n = input.values.length;
  const indices = { length: n } as ArrayLike<number>;
  const full: ValuesInput = { ...input, indices };
  if (n < 1 || n > MAX_COORDINATES) throw new Error(`Bug: ${n} coordinates in one chunk`);
  if (input.start + n > input.paramCount) throw new Error("Bug: chunk past the end of the model");
  const scale = input.encoding === ValueEncoding.Int8 ? int8Scale(input.values) : 0;
  const width = valueWidth(input.encoding);
  const out = new Uint8Array(VALUES_HEADER_SIZE + 4 + n * width);
  const view = new DataView(out.buffer);
  writeHeader(view, out, full, scale);
  view.setUint32(VALUES_HEADER_SIZE, input.start, true);
  const decoded = new Float32Array(n);
  writeValues(out, view, VALUES_HEADER_SIZE + 4, full, scale, decoded);
  return { body: out, decoded };
}

/** Encodes a SnapshotRequest body. */
export function encodeSnapshotRequest(req: SnapshotRequestBody): Uint8Array {
  if (req.targets.length > MAX_TARGETS) throw new Error("Bug: too many snapshot targets");
  const out = new Uint8Array(10 + FINGERPRINT_SIZE * req.targets.length);
  out[0] = BODY_FORMAT;
  out.set(req.modelHash.subarray(0, MODEL_HASH_SIZE), 1);
  out[9] = req.targets.length;
  req.targets.forEach((t, i) => out.set(t.subarray(0, FINGERPRINT_SIZE), 10 + FINGERPRINT_SIZE * i));
  return out;
}

// ---------------------------------------------------------------- decode

function fail(code: DecodeErrorCode, message: string, offset: number): never {
  throw new DecodeError(code, message, offset);
}

function readHeader(body: Uint8Array, what: string) {
  if (body.length < VALUES_HEADER_SIZE) {
    fail(
      DecodeErrorCode.Truncated,
      `Cannot decode ${what}: ${body.length} bytes is shorter than the ${VALUES_HEADER_SIZE}-byte header`,
      body.length,
    );
  }
  if (body[0] !== BODY_FORMAT) {
    fail(DecodeErrorCode.BadVersion, `Cannot decode ${what}: unknown body format ${body[0]}`, 0);
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const encoding = body[21];
  if (encoding < 1 || encoding > 3) {
    fail(DecodeErrorCode.BadValue, `Cannot decode ${what}: unknown value encoding ${encoding}`, 21);
  }
  const scale = view.getFloat32(22, true);
  if (encoding === ValueEncoding.Int8 && !(Number.isFinite(scale) && scale >= 0)) {
    fail(
      DecodeErrorCode.BadValue,
      `Cannot decode ${what}: int8 scale ${scale} is not a finite number ≥ 0`,
      22,
    );
  }
  const count = view.getUint16(26, true);
  if (count === 0) fail(DecodeErrorCode.BadLength, `Cannot decode ${what}: zero coordinates`, 26);
  return {
    view,
    modelHash: body.slice(1, 1 + MODEL_HASH_SIZE),
    epoch: view.getUint32(9, true),
    stamp: view.getUint32(13, true),
    paramCount: view.getUint32(17, true),
    encoding: encoding as ValueEncoding,
    scale,
    count,
  };
}

function readValues(
  body: Uint8Array,
  view: DataView,
  at: number,
  count: number,
  encoding: ValueEncoding,
  scale: number,
  what: string,
): Float32Array {
  const width = valueWidth(encoding);
  const end = at + count * width;
  if (body.length < end) {
    fail(
      DecodeErrorCode.Truncated,
      `Cannot decode ${what}: values end at ${end} but body has ${body.length} bytes`,
      body.length,
    );
  }
  if (body.length > end) {
    fail(
      DecodeErrorCode.TrailingBytes,
      `Cannot decode ${what}: ${body.length - end} bytes after the values`,
      end,
    );
  }
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    values[i] = encoding === ValueEncoding.Int8
      ? view.getInt8(at + i) * scale
      : encoding === ValueEncoding.Fp16
      ? fromFp16(view.getUint16(at + 2 * i, true))
      : view.getFloat32(at + 4 * i, true);
  }
  return values;
}

/** Decodes a Delta body; throws {@linkcode DecodeError} on anything malformed. Values may be non-finite. */
export function decodeDelta(body: Uint8Array): ValuesBody {
  const what = "delta";
  const h = readHeader(body, what);
  const indices = new Uint32Array(h.count);
  let at = VALUES_HEADER_SIZE;
  let prev = -1;
  for (let i = 0; i < h.count; i++) {
    let gap = 0;
    let shift = 0;
    for (;;) {
      if (at >= body.length) {
        fail(DecodeErrorCode.Truncated, `Cannot decode ${what}: index ${i} is cut off`, at);
      }
      const b = body[at++];
      if (shift === 28 && b > 0x0f) {
        fail(DecodeErrorCode.BadValue, `Cannot decode ${what}: index ${i} overflows`, at - 1);
      }
      gap += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) break;
      shift += 7;
    }
    const idx = prev + 1 + gap;
    if (idx >= h.paramCount) {
      fail(
        DecodeErrorCode.BadValue,
        `Cannot decode ${what}: index ${idx} ≥ parameter count ${h.paramCount}`,
        at - 1,
      );
    }
    indices[i] = idx;
    prev = idx;
  }
  const values = readValues(body, h.view, at, h.count, h.encoding, h.scale, what);
  return { ...pick(h), indices, values };
}

/** Decodes a SnapshotChunk body; throws {@linkcode DecodeError} on anything malformed. */
export function decodeChunk(body: Uint8Array): ValuesBody {
  const what = "snapshot chunk";
  const h = readHeader(body, what);
  if (body.length < VALUES_HEADER_SIZE + 4) {
    fail(DecodeErrorCode.Truncated, `Cannot decode ${what}: start index is cut off`, body.length);
  }
  const start = h.view.getUint32(VALUES_HEADER_SIZE, true);
  if (start + h.count > h.paramCount) {
    fail(
      DecodeErrorCode.BadValue,
      `Cannot decode ${what}: coordinates ${start}…${
        start + h.count - 1
      } exceed parameter count ${h.paramCount}`,
      VALUES_HEADER_SIZE,
    );
  }
  const values = readValues(body, h.view, VALUES_HEADER_SIZE + 4, h.count, h.encoding, h.scale, what);
  const indices = new Uint32Array(h.count);
  for (let i = 0; i < h.count; i++) indices[i] = start + i;
  return { ...pick(h), indices, values };
}

/** Decodes a SnapshotRequest body. */
export function decodeSnapshotRequest(body: Uint8Array): SnapshotRequestBody {
  const what = "snapshot request";
  if (body.length < 10) {
    fail(
      DecodeErrorCode.Truncated,
      `Cannot decode ${what}: ${body.length} bytes is shorter than 10`,
      body.length,
    );
  }
  if (body[0] !== BODY_FORMAT) {
    fail(DecodeErrorCode.BadVersion, `Cannot decode ${what}: unknown body format ${body[0]}`, 0);
  }
  const n = body[9];
  const end = 10 + FINGERPRINT_SIZE * n;
  if (body.length < end) {
    fail(DecodeErrorCode.Truncated, `Cannot decode ${what}: ${n} targets need ${end} bytes`, body.length);
  }
  if (body.length > end) {
    fail(DecodeErrorCode.TrailingBytes, `Cannot decode ${what}: ${body.length - end} extra bytes`, end);
  }
  const targets: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    targets.push(body.slice(10 + FINGERPRINT_SIZE * i, 10 + FINGERPRINT_SIZE * (i + 1)));
  }
  return { modelHash: body.slice(1, 1 + MODEL_HASH_SIZE), targets };
}

function pick(h: ReturnType<typeof readHeader>) {
  return {
    modelHash: h.modelHash,
    epoch: h.epoch,
    stamp: h.stamp,
    paramCount: h.paramCount,
    encoding: h.encoding,
  };
}
