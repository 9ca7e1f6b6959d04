/**
 * The pairing payload: the text inside the QR code that `agent id` shows and `agent trust` reads. It
 * carries the node's FULL public key (never the private key) and its name, and a checksum so that any
 * typo, truncation or substituted character is detected before anything is trusted.
 *
 * Text form: `AGENT1:` followed by the body in RFC 4648 base32 (upper case, no padding). Every
 * character is in the QR alphanumeric set, so the QR code uses alphanumeric mode (5.5 bits a
 * character): at most 118 characters, a version-5 QR (37×37 modules), small enough to scan off a
 * terminal.
 *
 * Body (bytes, before base32):
 *
 * | offset | size | type     | field      | notes                                                       |
 * |-------:|-----:|----------|------------|-------------------------------------------------------------|
 * | 0      | 32   | bytes    | publicKey  | Ed25519 public key, RFC 8032 encoding; must be a valid point |
 * | 32     | 1    | u8       | nameLength | n, 1..32                                                    |
 * | 33     | n    | ASCII    | name       | node name, `[A-Za-z0-9][A-Za-z0-9._-]*`                      |
 * | 33+n   | 4    | u32 BE   | crc32      | CRC-32 (IEEE) of the ASCII prefix `AGENT1:` + bytes 0..33+n |
 *
 * Why these checks catch every mistake a person or a camera makes:
 * - a changed character in the prefix → the prefix no longer reads `AGENT<version>:`;
 * - a changed body character alters at most 5 consecutive bits; CRC-32 detects every error burst up
 *   to 32 bits, so it is always caught (base32 decoding also rejects non-zero padding bits, so no
 *   character has a "don't care" variant);
 * - a truncated or extended body no longer matches the length implied by `nameLength`, or has a
 *   length base32 cannot produce;
 * - another version's prefix is named as such, so a newer peer's payload says "upgrade" instead of
 *   "corrupt".
 *
 * Decoding accepts lower case and ignores whitespace (a payload copied from a wrapped terminal line);
 * {@linkcode DecodedPayload.payload} is the canonical text.
 *
 * @module
 */
import { base32nopad } from "@scure/base";
import { crc32 } from "node:zlib";
import { DecodeError, DecodeErrorCode, UsageError } from "../errors.ts";
import { isValidPublicKey, PUBLIC_KEY_SIZE } from "./ed25519.ts";
import { fingerprint } from "./fingerprint.ts";
import { isNodeName, NODE_NAME_MAX, NODE_NAME_RULE } from "./name.ts";

/** The payload format version this build writes and reads. */
export const PAYLOAD_VERSION = 1;
/** Scheme prefix of the current version, e.g. `AGENT1:`. */
export const PAYLOAD_PREFIX = `AGENT${PAYLOAD_VERSION}:`;
/** Size of the CRC-32 trailer in bytes. */
export const PAYLOAD_CRC_SIZE = 4;
/** Smallest body: key + length byte + 1-character name + CRC. */
export const PAYLOAD_MIN_BODY = PUBLIC_KEY_SIZE + 1 + 1 + PAYLOAD_CRC_SIZE;
/** Largest body: key + length byte + 32-character name + CRC. */
export const PAYLOAD_MAX_BODY = PUBLIC_KEY_SIZE + 1 + NODE_NAME_MAX + PAYLOAD_CRC_SIZE;
/** Longest payload text. */
export const PAYLOAD_MAX_LENGTH = PAYLOAD_PREFIX.length + Math.ceil(PAYLOAD_MAX_BODY * 8 / 5);

const BASE32 = /^[A-Z2-7]*$/;
const ascii = new TextEncoder();

/** What a pairing payload says about a node. */
export interface PairingInfo {
  publicKey: Uint8Array;
  name: string;
}

/** A decoded, checked payload. */
export interface DecodedPayload extends PairingInfo {
  version: number;
  fingerprint: string;
  /** The canonical payload text (what `agent id` prints for this key and name). */
  payload: string;
}

function checksum(body: Uint8Array): number {
  const input = new Uint8Array(PAYLOAD_PREFIX.length + body.length);
  input.set(ascii.encode(PAYLOAD_PREFIX));
  input.set(body, PAYLOAD_PREFIX.length);
  return crc32(input) >>> 0;
}

/** The payload text for `info`. Throws {@linkcode UsageError} if the name breaks the node-name rule. */
export function encodePayload(info: PairingInfo): string {
  if (info.publicKey.length !== PUBLIC_KEY_SIZE) {
    throw new Error(`Bug: encodePayload() needs a ${PUBLIC_KEY_SIZE}-byte public key`);
  }
  if (!isNodeName(info.name)) {
    throw new UsageError(
      `Node name ${JSON.stringify(info.name)} cannot be used: it must be ${NODE_NAME_RULE}`,
      "Set node.name in the config (or 'agent init --name NAME --force')",
    );
  }
  const name = ascii.encode(info.name);
  const body = new Uint8Array(PUBLIC_KEY_SIZE + 1 + name.length + PAYLOAD_CRC_SIZE);
  body.set(info.publicKey, 0);
  body[PUBLIC_KEY_SIZE] = name.length;
  body.set(name, PUBLIC_KEY_SIZE + 1);
  const crcAt = PUBLIC_KEY_SIZE + 1 + name.length;
  new DataView(body.buffer).setUint32(crcAt, checksum(body.subarray(0, crcAt)), false);
  return PAYLOAD_PREFIX + base32nopad.encode(body);
}

/**
 * Reads and checks a payload. Throws {@linkcode DecodeError} saying what is wrong (its `offset` is a
 * character offset into the text with whitespace removed for text problems, a byte offset into the
 * body for body problems).
 */
export function decodePayload(text: string): DecodedPayload {
  const compact = text.replace(/\s+/g, "").toUpperCase();
  const { version, chars, body } = decodeText(compact);
  const { publicKey, name } = readBody(body, compact.length);
  return { version, publicKey, name, fingerprint: fingerprint(publicKey), payload: PAYLOAD_PREFIX + chars };
}

/** The text's checks (prefix, version, alphabet, length) and its base32 body; offsets are into `compact`. */
function decodeText(compact: string): { version: number; chars: string; body: Uint8Array } {
  if (compact === "") throw new DecodeError(DecodeErrorCode.Truncated, "Pairing payload is empty", 0);
  const head = /^AGENT(\d{1,6}):/.exec(compact);
  if (!head) {
    throw new DecodeError(
      DecodeErrorCode.BadMagic,
      `Not an agent pairing payload: it should start with ${JSON.stringify(PAYLOAD_PREFIX)}, got ${
        JSON.stringify(compact.slice(0, PAYLOAD_PREFIX.length))
      }`,
      0,
    );
  }
  const version = Number(head[1]);
  if (version !== PAYLOAD_VERSION) {
    throw new DecodeError(
      DecodeErrorCode.BadVersion,
      `Pairing payload version ${version} is not supported: this agent reads version ${PAYLOAD_VERSION}${
        version > PAYLOAD_VERSION ? " (the other board runs a newer agent; upgrade this one)" : ""
      }`,
      5,
    );
  }
  const chars = compact.slice(head[0].length);
  if (!BASE32.test(chars)) {
    const at = chars.search(/[^A-Z2-7]/);
    throw new DecodeError(
      DecodeErrorCode.BadValue,
      `Pairing payload has a character that cannot appear in it: ${JSON.stringify(chars[at])} at position ${
        head[0].length + at + 1
      } (only A-Z and 2-7 follow the prefix)`,
      head[0].length + at,
    );
  }
  const maxChars = Math.ceil(PAYLOAD_MAX_BODY * 8 / 5);
  if (chars.length > maxChars) {
    throw new DecodeError(
      DecodeErrorCode.TooLarge,
      `Pairing payload is too long: ${compact.length} characters, at most ${PAYLOAD_MAX_LENGTH}`,
      head[0].length + maxChars,
    );
  }
  let body: Uint8Array;
  try {
    body = base32nopad.decode(chars);
  } catch {
    // Only lengths a truncation or insertion produces, or padding bits a typo in the last character sets.
    throw new DecodeError(
      [1, 3, 6].includes(chars.length % 8) ? DecodeErrorCode.Truncated : DecodeErrorCode.BadChecksum,
      [1, 3, 6].includes(chars.length % 8)
        ? `Pairing payload has ${compact.length} characters, which no payload has: it was cut short or has an extra character`
        : "Pairing payload is damaged: its last character is wrong",
      compact.length,
    );
  }
  return { version, chars, body };
}

/** The body's checks (lengths, checksum, name, key); offsets are into the body. */
function readBody(body: Uint8Array, textLength: number): { publicKey: Uint8Array; name: string } {
  if (body.length < PAYLOAD_MIN_BODY) {
    throw new DecodeError(
      DecodeErrorCode.Truncated,
      `Pairing payload is cut short: ${textLength} characters is too few to hold a key and a name`,
      body.length,
    );
  }
  const nameLength = body[PUBLIC_KEY_SIZE];
  const want = PUBLIC_KEY_SIZE + 1 + nameLength + PAYLOAD_CRC_SIZE;
  if (nameLength < 1 || nameLength > NODE_NAME_MAX) {
    // A damaged length byte; the checksum would fail too, but this is the first thing that is wrong.
    throw new DecodeError(
      DecodeErrorCode.BadLength,
      `Pairing payload is damaged: its name length ${nameLength} is outside 1..${NODE_NAME_MAX}`,
      PUBLIC_KEY_SIZE,
    );
  }
  if (body.length !== want) {
    const short = body.length < want;
    throw new DecodeError(
      short ? DecodeErrorCode.Truncated : DecodeErrorCode.TrailingBytes,
      short
        ? `Pairing payload is cut short: ${body.length} of ${want} bytes (copy the whole line)`
        : `Pairing payload has ${body.length - want} extra byte(s) at the end (copy exactly one payload)`,
      short ? body.length : want,
    );
  }
  const crcAt = want - PAYLOAD_CRC_SIZE;
  const stored = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(crcAt, false);
  if (stored !== checksum(body.subarray(0, crcAt))) {
    throw new DecodeError(
      DecodeErrorCode.BadChecksum,
      "Pairing payload is damaged: checksum mismatch (a character was changed, added or lost)",
      crcAt,
    );
  }
  const publicKey = body.slice(0, PUBLIC_KEY_SIZE);
  let name = "";
  for (const b of body.subarray(PUBLIC_KEY_SIZE + 1, crcAt)) name += String.fromCharCode(b);
  if (!isNodeName(name)) {
    throw new DecodeError(
      DecodeErrorCode.BadValue,
      `Pairing payload carries an invalid node name ${JSON.stringify(name)} (must be ${NODE_NAME_RULE})`,
      PUBLIC_KEY_SIZE + 1,
    );
  }
  if (!isValidPublicKey(publicKey)) {
    throw new DecodeError(
      DecodeErrorCode.BadValue,
      "Pairing payload carries a public key that is not a valid Ed25519 key",
      0,
    );
  }
  return { publicKey, name };
}

/** True when `text` looks like it was meant as a payload (starts with `AGENT<digits>:`, any case). */
export function looksLikePayload(text: string): boolean {
  return /^\s*agent\d+:/i.test(text);
}
