/**
 * Gossip nodes for tests: one with test defaults, and a stranger whose key nobody trusts (for floods).
 *
 * @module
 */
import { createSigner, randomSeed, type Signer, Verifier } from "../../src/identity/ed25519.ts";
import { GossipNode, type GossipNodeOptions, type TrustPolicy } from "../../src/gossip/mod.ts";

/** The model hash used in tests. */
export const MODEL_HASH = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);

/** A fixed source address. */
export const FROM = { hostname: "10.0.0.9", port: 41234 };

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

/** A node with a fresh random key that trusts nobody and whom nobody trusts: it signs real frames. */
export async function strangerNode(): Promise<GossipNode> {
  return new GossipNode({
    signer: await createSigner(randomSeed()),
    verifier: { verify: () => Promise.resolve(false) },
    trust: { isTrusted: () => false },
    modelHash: new Uint8Array(8),
    bootEpoch: 1,
    name: "stranger",
    maxDatagram: 1232,
    rateLimit: 1,
    intervalMs: 1000,
    peerTimeoutMs: 1000,
  });
}
