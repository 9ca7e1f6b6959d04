/**
 * What the gossip core ({@linkcode GossipNode} in `node.ts`) takes and gives: its options, the events a
 * datagram turns into, the reasons one is dropped, and the snapshots of peers and counters it reports.
 *
 * @module
 */
import type { Signer } from "../identity/mod.ts";
import type { FrameHeader, HelloBody, HelloProgress, MessageType } from "../wire/mod.ts";
import type { ReplayWindows } from "./replay.ts";
import type { Address } from "./transport.ts";
/** How a peer is heard: on the LAN, through the broker, or both (within the peer timeout). */
export type PeerTransport = "lan" | "broker" | "both";

/** Why a datagram was dropped. Values appear in metrics; never renamed. */
export const RejectReason = {
  /** Larger than gossip.maxDatagram or the 4096-byte hard cap. */
  Oversize: "oversize",
  /** Header does not parse: magic, version, type, flags, length. */
  Malformed: "malformed",
  /** Our own broadcast coming back (not an attack; counted to be visible). */
  Own: "own",
  /** Sender key not in the trust store (or revoked). No crypto was spent. */
  Untrusted: "untrusted",
  /** Frame for another model (model hash differs). */
  ModelMismatch: "model-mismatch",
  /** Sender over gossip.rateLimit. */
  RateLimited: "rate-limited",
  /** Ed25519 signature does not verify. */
  BadSignature: "bad-signature",
  /** Sequence already seen, or older than the replay window or the sender's current boot epoch. */
  Replay: "replay",
  /** Signed by a trusted peer, but the body does not inflate or decode (too big, corrupt). */
  BadBody: "bad-body",
} as const;

/** One of the values of {@linkcode RejectReason}. */
export type RejectReason = typeof RejectReason[keyof typeof RejectReason];

/** Every reason, in pipeline order. */
export const REJECT_REASONS: readonly RejectReason[] = Object.values(RejectReason);

/** What decides whether a key may talk to us; checked for every datagram (revocation is immediate). */
export interface TrustPolicy {
  isTrusted(publicKey: Uint8Array): boolean;
}

/** Signature verification (the identity layer's `Verifier` implements it). */
export interface SignatureVerifier {
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** A datagram that passed every check, for the learning layer. */
export interface AcceptedMessage {
  type: MessageType;
  /** Sender's public key (a copy). */
  senderKey: Uint8Array;
  /** Hex of the sender key (map key for peers). */
  senderId: string;
  /** Header with byte fields copied out of the datagram. */
  header: FrameHeader;
  /** Inflated body. */
  body: Uint8Array;
  from: Address;
  /** Decoded body when `type` is Hello. */
  hello?: HelloBody;
}

/** Result of one {@linkcode GossipNode.onDatagram}. */
export type GossipEvent =
  | { kind: "accepted"; message: AcceptedMessage }
  | { kind: "rejected"; reason: RejectReason; from: Address; senderId?: string; detail: string };

/** A peer as shown by status and metrics (plain data). */
export interface PeerSnapshot {
  /** Hex of the public key. */
  key: string;
  fingerprint: string;
  /** Name from its last Hello, or null before the first one. */
  name: string | null;
  /** `ip:port` it last sent from (accepted datagrams only). */
  address: string | null;
  /** Monotonic ms of the last accepted datagram, or null. */
  lastSeen: number | null;
  /** ms since lastSeen at snapshot time, or null. */
  ageMs: number | null;
  alive: boolean;
  /** Still in the trust store right now. */
  trusted: boolean;
  datagramsIn: number;
  /** Broadcasts sent while this peer was known (each reaches it, loss aside). */
  datagramsOut: number;
  rejects: Partial<Record<RejectReason, number>>;
  /** Share of this key's datagrams that passed every check, 0..1 (1 when none yet). */
  score: number;
  progress: HelloProgress | null;
  /** Highest sequence accepted: [bootEpoch, counter]. */
  sequence: [number, number] | null;
  /**
   * Model hash (hex) of this peer's last datagram when it was for ANOTHER model than ours (its frames
   * are then all dropped); null once a datagram for our model is accepted, or never mismatched.
   */
  otherModel: string | null;
  /**
   * Which transports delivered its accepted datagrams within the peer timeout (when none did: the last one
   * that did), or null before the first.
   */
  transport: PeerTransport | null;
}

/** Global counters (metrics). */
export interface GossipCounters {
  received: number;
  receivedBytes: number;
  accepted: number;
  acceptedByType: Record<string, number>;
  sent: number;
  sentBytes: number;
  rejected: Record<RejectReason, number>;
}

/** An untrusted key seen recently (bounded list, for "who is knocking?" in status). */
export interface UntrustedSender {
  key: string;
  address: string;
  count: number;
  lastSeen: number;
}

/** Options of {@linkcode GossipNode}. */
export interface GossipNodeOptions {
  signer: Signer;
  verifier: SignatureVerifier;
  trust: TrustPolicy;
  /** {@linkcode MODEL_HASH_SIZE} bytes naming the model this node learns. */
  modelHash: Uint8Array;
  /** This start's boot epoch (persisted and incremented by the shell before constructing the node). */
  bootEpoch: number;
  /** node.name sent in Hello. */
  name: string;
  /** gossip.maxDatagram. */
  maxDatagram: number;
  /** Cap on inflated bodies (default 65536). */
  maxInflated?: number;
  /** gossip.rateLimit: datagrams/s per sender. */
  rateLimit: number;
  /** gossip.intervalMs: heartbeat period. */
  intervalMs: number;
  /** gossip.peerTimeoutMs: a peer silent for longer is not alive. */
  peerTimeoutMs: number;
  /** Restored replay windows (from the state file); empty when absent. */
  replay?: ReplayWindows;
  /** Human fingerprint of a key (the identity layer's format); default: first 16 hex digits. */
  fingerprint?: (publicKey: Uint8Array) => string;
}
