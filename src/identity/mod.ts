/**
 * Who this node is and whom it trusts: Ed25519 keys ({@linkcode ensureIdentity}, {@linkcode loadIdentity}),
 * fingerprints people compare ({@linkcode fingerprint}), the QR pairing payload
 * ({@linkcode encodePayload} / {@linkcode decodePayload}) and the trust store ({@linkcode TrustStore}).
 * Everything except `keyfile.ts` and the store's file I/O is pure.
 *
 * @module
 */
export * from "./ed25519.ts";
export * from "./fingerprint.ts";
export * from "./keyfile.ts";
export * from "./name.ts";
export * from "./payload.ts";
export * from "./trust.ts";
