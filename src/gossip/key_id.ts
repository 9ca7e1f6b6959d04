/**
 * String ids of public keys for maps (lowercase hex), computed with a lookup table because the ingress
 * path does it for every datagram.
 *
 * @module
 */

import { bytesEqual, fromHex, toHex } from "../bytes.ts";

/** Lowercase hex of `bytes`: the gossip core's id of a key. */
export function keyId(bytes: Uint8Array): string {
  return toHex(bytes);
}

export { bytesEqual, fromHex };
