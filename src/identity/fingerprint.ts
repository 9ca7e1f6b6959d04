/**
 * Fingerprints: the short, human-comparable name of a public key, in the spirit of Syncthing device
 * IDs. Two people compare it by eye (on two screens, or read aloud) before pairing, and every place
 * that names a peer shows it.
 *
 * Form: `XXXXXXC-XXXXXXC-XXXXXXC-XXXXXXC` — 4 groups of 6 data characters + 1 check character, in the
 * RFC 4648 base32 alphabet (`A-Z2-7`, no `0`/`1`/`8`/`9`, so no O/0 or I/1 confusion).
 *
 * | part        | what                                                                         |
 * |-------------|------------------------------------------------------------------------------|
 * | data (24 ch)| base32 of the first 15 bytes (120 bits) of SHA-256(public key)               |
 * | check i     | Luhn mod 32 over data characters 0 … 6·(i+1)−1 (all groups up to this one)   |
 *
 * 120 bits make a second key with the same fingerprint infeasible to find (2^120 work). Luhn mod N
 * catches every single-character typo and every swap of two adjacent characters within what it
 * covers; because each check covers all groups before it too, swapping two groups is caught as well.
 *
 * {@linkcode parseFingerprint} reads what a person types: any case, with or without dashes or spaces,
 * and the look-alikes `0`, `1`, `8` read as `O`, `I`, `B`.
 *
 * @module
 */
import { base32nopad } from "@scure/base";
import { sha256 } from "@noble/hashes/sha2.js";
import { DecodeError, DecodeErrorCode } from "../errors.ts";
import { PUBLIC_KEY_SIZE } from "./ed25519.ts";

/** Bytes of SHA-256(public key) that the fingerprint shows. */
export const FINGERPRINT_HASH_BYTES = 15;
/** Data characters per group. */
export const FINGERPRINT_GROUP_DATA = 6;
/** Number of groups. */
export const FINGERPRINT_GROUPS = 4;
/** Length of a canonical fingerprint with its dashes (4 × 7 + 3). */
export const FINGERPRINT_LENGTH = FINGERPRINT_GROUPS * (FINGERPRINT_GROUP_DATA + 1) + FINGERPRINT_GROUPS - 1;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const N = ALPHABET.length;

/** Luhn mod 32 check character of `chars` (all from {@linkcode ALPHABET}). */
function luhn32(chars: string): string {
  let factor = 2;
  let sum = 0;
  for (let i = chars.length - 1; i >= 0; i--) {
    let addend = factor * ALPHABET.indexOf(chars[i]);
    factor = factor === 2 ? 1 : 2;
    addend = Math.floor(addend / N) + (addend % N);
    sum += addend;
  }
  return ALPHABET[(N - (sum % N)) % N];
}

function withChecks(data: string): string {
  const groups: string[] = [];
  for (let g = 0; g < FINGERPRINT_GROUPS; g++) {
    const end = (g + 1) * FINGERPRINT_GROUP_DATA;
    groups.push(data.slice(g * FINGERPRINT_GROUP_DATA, end) + luhn32(data.slice(0, end)));
  }
  return groups.join("-");
}

/** The fingerprint of a 32-byte Ed25519 public key, e.g. `MFRGGZA-…`. */
export function fingerprint(publicKey: Uint8Array): string {
  if (publicKey.length !== PUBLIC_KEY_SIZE) {
    throw new Error(`Bug: fingerprint() needs a ${PUBLIC_KEY_SIZE}-byte public key, got ${publicKey.length}`);
  }
  const data = base32nopad.encode(sha256(publicKey).subarray(0, FINGERPRINT_HASH_BYTES));
  return withChecks(data);
}

/** True when `text` looks like an attempt at a fingerprint (right length once separators are dropped). */
export function looksLikeFingerprint(text: string): boolean {
  return /^[A-Z2-7018]{28}$/i.test(text.replace(/[\s-]/g, ""));
}

/**
 * Reads a fingerprint as a person types it and returns the canonical form. Throws
 * {@linkcode DecodeError} naming the first bad character or the group whose check character is wrong.
 */
export function parseFingerprint(text: string): string {
  const compact = text.replace(/[\s-]/g, "").toUpperCase().replace(/0/g, "O").replace(/1/g, "I").replace(
    /8/g,
    "B",
  );
  const want = FINGERPRINT_GROUPS * (FINGERPRINT_GROUP_DATA + 1);
  for (let i = 0; i < compact.length; i++) {
    if (!ALPHABET.includes(compact[i])) {
      throw new DecodeError(
        DecodeErrorCode.BadValue,
        `Fingerprint ${JSON.stringify(text)} has a character outside A-Z and 2-7: ${
          JSON.stringify(compact[i])
        }`,
        i,
      );
    }
  }
  if (compact.length !== want) {
    throw new DecodeError(
      compact.length < want ? DecodeErrorCode.Truncated : DecodeErrorCode.BadLength,
      `Fingerprint ${JSON.stringify(text)} has ${compact.length} characters, expected ${want}`,
      Math.min(compact.length, want),
    );
  }
  let data = "";
  for (let g = 0; g < FINGERPRINT_GROUPS; g++) {
    data += compact.slice(
      g * (FINGERPRINT_GROUP_DATA + 1),
      g * (FINGERPRINT_GROUP_DATA + 1) + FINGERPRINT_GROUP_DATA,
    );
  }
  const canonical = withChecks(data);
  const canonicalCompact = canonical.replace(/-/g, "");
  for (let g = 0; g < FINGERPRINT_GROUPS; g++) {
    const at = g * (FINGERPRINT_GROUP_DATA + 1) + FINGERPRINT_GROUP_DATA;
    if (compact[at] !== canonicalCompact[at]) {
      throw new DecodeError(
        DecodeErrorCode.BadChecksum,
        `Fingerprint ${JSON.stringify(text)} has a typo in group ${g + 1} (check character does not match)`,
        at,
      );
    }
  }
  return canonical;
}
