/**
 * Pure Ed25519 (RFC 8032) signing and verification. WebCrypto (native, ~9× faster verify) on the hot
 * path; `@noble/ed25519` as the fallback where WebCrypto lacks Ed25519, and as an independent
 * cross-check in tests. Keys are 32-byte seeds and 32-byte public keys; signatures are 64 bytes.
 *
 * @module
 */
import * as noble from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { toHex } from "../bytes.ts";

noble.hashes.sha512 = sha512;

/** Public key size in bytes. */
export const PUBLIC_KEY_SIZE = 32;
/** Private seed size in bytes. */
export const SEED_SIZE = 32;
/** Signature size in bytes. */
export const SIGNATURE_SIZE = 64;

// PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410): SEQUENCE { INTEGER 0, AlgId ed25519, OCTET STRING { OCTET STRING seed } }.
export const PKCS8_PREFIX: Uint8Array = new Uint8Array([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
]);

/** Which implementation to use. */
export type Ed25519Impl = "webcrypto" | "noble";

let webCryptoOk: boolean | undefined;

/** True when this runtime's WebCrypto supports Ed25519 (checked once). */
export async function webCryptoHasEd25519(): Promise<boolean> {
  if (webCryptoOk !== undefined) return webCryptoOk;
  try {
    const key = await crypto.subtle.importKey("raw", new Uint8Array(32).fill(1), { name: "Ed25519" }, false, [
      "verify",
    ]);
    await crypto.subtle.verify({ name: "Ed25519" }, key, new Uint8Array(64), new Uint8Array(1));
    webCryptoOk = true;
  } catch {
    webCryptoOk = false;
  }
  return webCryptoOk;
}

/** Public key of a 32-byte seed. */
export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  if (seed.length !== SEED_SIZE) {
    throw new Error(`Bug: Ed25519 seed must be ${SEED_SIZE} bytes, got ${seed.length}`);
  }
  return noble.getPublicKey(seed);
}

/**
 * True when `publicKey` is 32 bytes encoding a point on the curve that is not of small order (a
 * small-order key would let anyone forge signatures that verify under it). Checked when a key is
 * first accepted (pairing), not per datagram.
 */
export function isValidPublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_SIZE) return false;
  try {
    return !noble.Point.fromBytes(publicKey).isSmallOrder();
  } catch {
    return false;
  }
}

/** A fresh random seed from the platform CSPRNG. */
export function randomSeed(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(SEED_SIZE));
}

/** Something that signs with one private key; the key itself is not reachable through it. */
export interface Signer {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** A signer for `seed`; uses WebCrypto when available unless `impl` says otherwise. */
export async function createSigner(seed: Uint8Array, impl?: Ed25519Impl): Promise<Signer> {
  const publicKey = publicKeyFromSeed(seed);
  const use = impl ?? ((await webCryptoHasEd25519()) ? "webcrypto" : "noble");
  if (use === "noble") {
    const s = seed.slice();
    return { publicKey, sign: (m) => Promise.resolve(noble.sign(m, s)) };
  }
  const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + SEED_SIZE);
  pkcs8.set(PKCS8_PREFIX);
  pkcs8.set(seed, PKCS8_PREFIX.length);
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
  pkcs8.fill(0);
  return {
    publicKey,
    sign: async (m) =>
      new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, m as Uint8Array<ArrayBuffer>)),
  };
}

/**
 * Verifies `signature` over `message` by `publicKey`. Returns false (never throws) on malformed input.
 * Imported WebCrypto keys are cached per public key (import costs about as much as a verify).
 */
export class Verifier {
  #impl: Ed25519Impl | undefined;
  #keys = new Map<string, CryptoKey>();
  #maxKeys: number;
  constructor(options: { impl?: Ed25519Impl; maxCachedKeys?: number } = {}) {
    this.#impl = options.impl;
    this.#maxKeys = options.maxCachedKeys ?? 1024;
  }
  async verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (publicKey.length !== PUBLIC_KEY_SIZE || signature.length !== SIGNATURE_SIZE) return false;
    this.#impl ??= (await webCryptoHasEd25519()) ? "webcrypto" : "noble";
    if (this.#impl === "noble") {
      try {
        return noble.verify(signature, message, publicKey);
      } catch {
        return false;
      }
    }
    try {
      const id = keyId(publicKey);
      let key = this.#keys.get(id);
      if (!key) {
        key = await crypto.subtle.importKey(
          "raw",
          publicKey as Uint8Array<ArrayBuffer>,
          { name: "Ed25519" },
          false,
          ["verify"],
        );
        if (this.#keys.size >= this.#maxKeys) this.#keys.delete(this.#keys.keys().next().value!);
        this.#keys.set(id, key);
      }
      return await crypto.subtle.verify(
        { name: "Ed25519" },
        key,
        signature as Uint8Array<ArrayBuffer>,
        message as Uint8Array<ArrayBuffer>,
      );
    } catch {
      return false;
    }
  }
}

function keyId(publicKey: Uint8Array): string {
  return toHex(publicKey);
}

/** One-shot verification (no key cache). */
export function verify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  impl?: Ed25519Impl,
): Promise<boolean> {
  return new Verifier({ impl }).verify(publicKey, message, signature);
}
