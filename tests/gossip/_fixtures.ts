/**
 * Shared test fixtures for wire and gossip tests: deterministic keys, a mutable trust set, a counting
 * verifier and a node factory.
 *
 * @module
 */
import { createSigner, type Signer, Verifier } from "../../src/identity/ed25519.ts";
import { GossipNode, type GossipNodeOptions, keyId, type TrustPolicy } from "../../src/gossip/mod.ts";
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

/** The model hash used in tests. */
export const MODEL_HASH = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);

/** A node with test defaults; `overrides` replace any option. */
export function testNode(
  signer: Signer,
  trust: TrustPolicy,
  overrides: Partial<GossipNodeOptions> = {},
): GossipNode {
  return new GossipNode({
    signer,
    verifier: new Verifier(),
    trust,
    modelHash: MODEL_HASH,
    bootEpoch: 1,
    name: "node",
    maxDatagram: 1232,
    rateLimit: 500,
    intervalMs: 1000,
    peerTimeoutMs: 5000,
    ...overrides,
  });
}

/** A fixed source address. */
export const FROM = { hostname: "10.0.0.9", port: 41234 };
