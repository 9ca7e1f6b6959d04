/**
 * The status report: what `GET /v1/status` returns, what the daemon snapshots into
 * `stateLayout().status`, and what `agent status` prints. One shape for all three, with a checker so a
 * damaged snapshot or a foreign server answering on the API port gives a clear error instead of a crash.
 *
 * @module
 */

import type { SaveHealth } from "../state/mod.ts";

/** Format name of the status snapshot file (see `writeCheckedJson`). */
export const STATUS_FORMAT = "agent-status/1";

/** One peer as the daemon sees it. */
export interface PeerStatus {
  /** Fingerprint of the peer's public key (as shown by `agent id`). */
  fingerprint: string;
  /** Name the peer announces (or the name given when it was trusted). */
  name: string;
  /** Last address heard from (`ip:port`), or null if never heard. */
  address: string | null;
  /** Wall-clock time the peer was last heard from (ISO 8601), or null if never. */
  lastSeen: string | null;
  /** True when heard from within `gossip.peerTimeoutMs`. */
  alive: boolean;
  /** Trust/usefulness score kept by the learner (higher is better), or null if not scored yet. */
  score: number | null;
  /**
   * Share of the peer's model we hold (0..1; below the learner's sync threshold the peer is still
   * catching up and not merged), or null if it never sent model values.
   */
  coverage: number | null;
  /** True when the peer's model is part of our swarm model right now (trusted score, alive, in sync). */
  merged: boolean;
  /** Datagrams accepted from this peer. */
  datagramsIn: number;
  /** Datagrams from this peer that were dropped, by reason. */
  rejects: Record<string, number>;
  /**
   * Why this trusted peer does not help our model right now, in words (another model, never heard,
   * silent, left out of the merge and for what, damped for its pace, catching up), or null while it is
   * merged with its full weight.
   * Absent in snapshots written by older versions.
   */
  unusable?: string | null;
  /**
   * How it is heard within `gossip.peerTimeoutMs`: "lan" (UDP broadcast, also when a bridge on our LAN
   * relays it), "broker" (MQTT), "both"; when silent, the last one; null if never heard (or an older agent).
   */
  transport?: "lan" | "broker" | "both" | null;
}

/** The broker connection as status shows it (no secrets). */
export interface BrokerStatusReport {
  url: string;
  topic: string;
  clientId: string;
  /** connecting, connected, down (reconnecting with backoff) or closed. */
  state: string;
  /** Seconds in that state. */
  forSeconds: number;
  connects: number;
  failures: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  dropped: Record<string, number>;
  lastError: string | null;
}

/** How this board gossips. */
export interface TransportReport {
  /** gossip.transport: udp, mqtt or both. */
  mode: string;
  broker: BrokerStatusReport | null;
  /** With both: frames forwarded from the LAN to the broker and from the broker to the LAN. */
  forwarded: { toBroker: number; toLan: number; failed: number; echoes?: number } | null;
}

/** The airtime budget and what this board and the swarm use of it (`gossip.swarmBytesPerSecond`). */
export interface AirtimeReport {
  /** gossip.swarmBytesPerSecond: what the whole swarm may send. */
  budgetBytesPerSecond: number;
  /** Boards this one hears: trusted peers heard within the peer timeout, plus itself. */
  swarmSize: number;
  /**
   * Boards that publish model updates at a time: swarmSize, or learning.fanIn when the swarm is larger
   * (the publishing committee). Absent in older snapshots.
   */
  publishers?: number;
  /** Milliseconds between learning rounds now (learning.roundMs, stretched when the swarm is large). */
  roundMs: number;
  /** Milliseconds between Hellos now (gossip.intervalMs, stretched alike). */
  helloMs: number;
  /** Silence after which a peer counts as gone (gossip.peerTimeoutMs, or three Hellos if longer). */
  peerTimeoutMs: number;
  /** Measured over the last seconds: bytes/s this board sends. */
  ownBytesPerSecond: number;
  /** Measured: bytes/s this board hears from others (its own echo left out) plus what it sends. */
  swarmBytesPerSecond: number;
  /** The swarm's bytes/s at these intervals (what the rule keeps within the budget). */
  plannedBytesPerSecond: number;
}

/** Everything `agent status` shows. */
export interface StatusReport {
  node: { name: string; fingerprint: string };
  version: string;
  pid: number;
  /** Wall-clock start time (ISO 8601). */
  startedAt: string;
  /** Wall-clock time this report was made (ISO 8601). */
  updatedAt: string;
  /** Compute backend in use (webgpu, wasm or cpu). */
  backend: string;
  /** Why that backend (e.g. why WebGPU was skipped); absent in reports of older agents. */
  backendReason?: string;
  /** `classes`: the class names when the spec names them. */
  model: { id: string; hash: string; parameters: number; classes?: string[] };
  /** Accuracy on the local held-out samples in [0, 1], or null when there are none yet. */
  accuracy: number | null;
  /** Size of the local held-out set. */
  heldOut: number;
  /** Local training samples (excluding held-out ones). */
  samples: number;
  /** Learning rounds completed since the model was created (survives restarts). */
  rounds: number;
  /** Mean training loss of the last round, or null before the first. */
  loss: number | null;
  gossip: {
    /** Datagrams that arrived (accepted or not, our own broadcasts' echo included) and their bytes. */
    datagramsIn: number;
    /** Of those, datagrams from trusted peers that passed every check. */
    accepted: number;
    datagramsOut: number;
    bytesIn: number;
    bytesOut: number;
    /** Dropped datagrams by reason (all senders, trusted or not). */
    rejected: Record<string, number>;
    /** Largest datagram sent or received, in bytes. */
    largestDatagram: number;
  };
  /** Transport and broker connection (absent in snapshots of older agents). */
  transport?: TransportReport;
  /** Estimated swarm size, current intervals and airtime vs the budget (absent in older snapshots). */
  airtime?: AirtimeReport;
  /** API address the daemon serves on. */
  api: string;
  /** Resident memory of the daemon process in bytes. */
  rss: number;
  /** Whether the state can be saved (false e.g. on a full SD card) and the free space there. */
  storage?: SaveHealth;
  peers: PeerStatus[];
}

/** Checks that `value` looks like a {@linkcode StatusReport}; returns the problem or undefined. */
export function statusProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not a JSON object";
  const v = value as Record<string, unknown>;
  const obj = (k: string) => typeof v[k] === "object" && v[k] !== null && !Array.isArray(v[k]);
  if (!obj("node") || typeof (v.node as Record<string, unknown>).fingerprint !== "string") {
    return "missing node.fingerprint";
  }
  if (!obj("model") || typeof (v.model as Record<string, unknown>).id !== "string") return "missing model.id";
  if (!obj("gossip")) return "missing gossip counters";
  if (typeof v.rounds !== "number") return "missing rounds";
  if (typeof v.backend !== "string") return "missing backend";
  if (!Array.isArray(v.peers)) return "missing peers";
  for (const [i, p] of (v.peers as unknown[]).entries()) {
    if (typeof p !== "object" || p === null || typeof (p as PeerStatus).fingerprint !== "string") {
      return `peers[${i}] has no fingerprint`;
    }
  }
  return undefined;
}
