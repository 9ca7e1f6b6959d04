/**
 * Body of a {@linkcode MessageType.Hello} frame (before DEFLATE): the heartbeat that keeps a peer alive
 * in everyone's peer table and tells them how far its learning has got. Big-endian; exact length, no
 * trailing bytes.
 *
 * | offset | size | type | field      | notes                                                   |
 * |-------:|-----:|------|------------|---------------------------------------------------------|
 * | 0      | 1    | u8   | nameLength | n = 1..32                                               |
 * | 1      | n    | utf8 | name       | node.name: letters, digits, `.`, `_`, `-`; first alnum  |
 * | 1 + n  | 4    | u32  | round      | learning rounds completed since the model was created  |
 * | 5 + n  | 4    | u32  | samples    | local samples trained on                                |
 * | 9 + n  | 4    | u32  | merged     | peer updates merged                                     |
 * | 13 + n | 2    | u16  | accuracy   | held-out accuracy in basis points 0..10000; 65535 = n/a |
 * | 15 + n | 4    | u32  | uptime     | seconds since this agent started                        |
 *
 * @module
 */
import { DecodeError, DecodeErrorCode } from "../errors.ts";
import { NODE_NAME_MAX, NODE_NAME_PATTERN } from "../identity/mod.ts";

/** Longest node name in bytes (the identity layer's rule). */
export const HELLO_NAME_MAX: number = NODE_NAME_MAX;
/** {@linkcode HelloBody.accuracy} value meaning "not measured yet". */
export const ACCURACY_UNKNOWN = 0xffff;
/** Fixed part of a Hello body after the name. */
const HELLO_FIXED = 4 + 4 + 4 + 2 + 4;

/** Progress counters a node reports in its heartbeat. */
export interface HelloProgress {
  round: number;
  samples: number;
  merged: number;
  /** Basis points (0..10000), or {@linkcode ACCURACY_UNKNOWN}. */
  accuracy: number;
  uptime: number;
}

/** A decoded Hello body. */
export interface HelloBody extends HelloProgress {
  name: string;
}

/** Zero progress (a node that has just started). */
export const NO_PROGRESS: HelloProgress = {
  round: 0,
  samples: 0,
  merged: 0,
  accuracy: ACCURACY_UNKNOWN,
  uptime: 0,
};

/** Encodes a Hello body; throws a plain `Error` (a bug) on an invalid name or counter. */
export function encodeHello(hello: HelloBody): Uint8Array {
  if (!NODE_NAME_PATTERN.test(hello.name)) {
    throw new Error(`Bug: node name ${JSON.stringify(hello.name)} is invalid`);
  }
  const name = new TextEncoder().encode(hello.name);
  const out = new Uint8Array(1 + name.length + HELLO_FIXED);
  const view = new DataView(out.buffer);
  out[0] = name.length;
  out.set(name, 1);
  let o = 1 + name.length;
  for (const k of ["round", "samples", "merged"] as const) {
    view.setUint32(o, clampU32(hello[k]));
    o += 4;
  }
  const acc = hello.accuracy;
  view.setUint16(o, Number.isInteger(acc) && acc >= 0 && acc <= 10000 ? acc : ACCURACY_UNKNOWN);
  o += 2;
  view.setUint32(o, clampU32(hello.uptime));
  return out;
}

function clampU32(v: number): number {
  if (!Number.isFinite(v) || v < 0) return 0;
  return Math.min(Math.floor(v), 0xffff_ffff);
}

/** Decodes a Hello body; {@linkcode DecodeError} on a bad length, name or accuracy. */
export function decodeHello(body: Uint8Array): HelloBody {
  if (body.length < 1) throw new DecodeError(DecodeErrorCode.Truncated, "Cannot decode Hello: empty body", 0);
  const n = body[0];
  if (n < 1 || n > HELLO_NAME_MAX) {
    throw new DecodeError(
      DecodeErrorCode.BadLength,
      `Cannot decode Hello: name length ${n} is outside 1..32`,
      0,
    );
  }
  const want = 1 + n + HELLO_FIXED;
  if (body.length < want) {
    throw new DecodeError(
      DecodeErrorCode.Truncated,
      `Cannot decode Hello: ${body.length} bytes, expected ${want}`,
      body.length,
    );
  }
  if (body.length > want) {
    throw new DecodeError(
      DecodeErrorCode.TrailingBytes,
      `Cannot decode Hello: ${body.length - want} trailing bytes`,
      want,
    );
  }
  let name = "";
  for (let i = 1; i <= n; i++) name += String.fromCharCode(body[i]);
  if (!NODE_NAME_PATTERN.test(name)) {
    throw new DecodeError(
      DecodeErrorCode.BadValue,
      `Cannot decode Hello: name ${JSON.stringify(name)} is invalid`,
      1,
    );
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let o = 1 + n;
  const round = view.getUint32(o);
  const samples = view.getUint32(o + 4);
  const merged = view.getUint32(o + 8);
  const accuracy = view.getUint16(o + 12);
  if (accuracy > 10000 && accuracy !== ACCURACY_UNKNOWN) {
    throw new DecodeError(
      DecodeErrorCode.BadValue,
      `Cannot decode Hello: accuracy ${accuracy} is above 10000`,
      o + 12,
    );
  }
  o += 14;
  const uptime = view.getUint32(o);
  return { name, round, samples, merged, accuracy, uptime };
}
