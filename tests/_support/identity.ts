/**
 * Test identities: deterministic keys, a trust set that can change while nodes run, and a verifier that
 * counts its calls.
 *
 * @module
 */
import { createSigner, type Signer, Verifier } from "../../src/identity/ed25519.ts";
import { keyId, type TrustPolicy } from "../../src/gossip/mod.ts";
import { SeededRandom } from "../../src/time.ts";

/** A signer from a deterministic seed. */
export async function testSigner(seed: number): Promise<Signer> {
  const rng = new SeededRandom(seed);
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = rng.nextU32() & 0xff;
  return await createSigner(bytes);
}

/** A trust store that can be changed while nodes run. */
export class TrustSet implements TrustPolicy {
  #keys = new Set<string>();
  constructor(keys: Uint8Array[] = []) {
    for (const k of keys) this.add(k);
  }
  add(key: Uint8Array): void {
    this.#keys.add(keyId(key));
  }
  revoke(key: Uint8Array): void {
    this.#keys.delete(keyId(key));
  }
  isTrusted(publicKey: Uint8Array): boolean {
    return this.#keys.has(keyId(publicKey));
  }
}

/** A verifier that counts calls (to prove no crypto was spent on a datagram). */
export class CountingVerifier {
  calls = 0;
  #inner = new Verifier();
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    this.calls++;
    return this.#inner.verify(publicKey, message, signature);
  }
}
