/**
 * Builds the daemon's {@linkcode StatusReport} from the gossip core's peer table and counters, the
 * learner's statistics and the trust store (trusted peers never heard from are listed too). Pure:
 * the wall clock and the monotonic clock are passed in, so tests drive it with numbers.
 *
 * @module
 */
import type { GossipCounters, PeerSnapshot } from "../gossip/mod.ts";
import type { LearnerStats } from "../learn/mod.ts";
import type { AirtimeReport, PeerStatus, StatusReport } from "../api/mod.ts";
import type { SaveHealth } from "../state/mod.ts";
import type { TransportInfo } from "./transport.ts";

/** A trusted key as the trust store lists it. */
export interface TrustedPeer {
  /** Hex of the public key (the gossip core's peer id). */
  key: string;
  fingerprint: string;
  name: string;
}

/** Everything the report is made from. */
export interface StatusInputs {
  node: { name: string; fingerprint: string };
  version: string;
  pid: number;
  /** Wall-clock ms at start. */
  startedAtMs: number;
  /** Wall-clock ms now. */
  wallNowMs: number;
  backend: string;
  backendReason?: string;
  model: { id: string; hash: string; parameters: number };
  accuracy: number | null;
  heldOut: number;
  samples: number;
  learner: Pick<LearnerStats, "rounds" | "lastLoss" | "peers"> & Partial<Pick<LearnerStats, "committee">>;
  gossip: GossipCounters;
  /** Largest datagram sent or received. */
  largestDatagram: number;
  /** Gossip peer table at the same moment. */
  peers: PeerSnapshot[];
  trusted: TrustedPeer[];
  transport: TransportInfo;
  /** The airtime budget and its use (omitted by callers that have none). */
  airtime?: AirtimeReport;
  api: string;
  rss: number;
  storage?: SaveHealth;
}

function addCounts(into: Record<string, number>, from: Partial<Record<string, number>>): void {
  for (const [k, n] of Object.entries(from)) if (n) into[k] = (into[k] ?? 0) + n;
}

/** Rejections that are about the peer's messages (not our own datagrams or mere duplicates). */
const HARMLESS = new Set(["stale", "replay", "own", "self"]);

/**
 * Why a trusted peer is not in our swarm model, for a person: another model, never heard, silent,
 * left out of the merge by the learner's checks (with the reasons counted), or still catching up.
 * Null when it is merged.
 */
export function unusableReason(
  g: PeerSnapshot | undefined,
  l: LearnerStats["peers"][number] | undefined,
  rejects: Record<string, number>,
  ourModel: string,
  committee: readonly string[] | null = null,
): string | null {
  if (g?.otherModel) {
    return `runs another model (hash ${g.otherModel.slice(0, 16)}, ours ${
      ourModel.slice(0, 16)
    }): its updates are dropped; give both boards the same model spec`;
  }
  if (l && l.inSync && !l.ignored && !l.damped) return null;
  if (!g || g.lastSeen === null) {
    return "never heard from: is it running on this network, and does it trust this board ('agent trust')?";
  }
  if (!g.alive) return "not heard from recently (down, or out of reach)";
  if (committee && !committee.includes(g.key) && !(l && l.inSync)) {
    return `off the publishing committee for now (${committee.length} boards publish at a time, ` +
      "learning.fanIn; seats change hands over time)";
  }
  if (!l) return "no model values received yet";
  if (l.damped && !l.ignored && l.inSync) {
    return "merged with almost no weight for now: its model moves faster than the swarm's (changes beyond " +
      "the change-size bound) and lies far from the others; full weight again once it slows down";
  }
  if (l.ignored && l.ignoredBecause === "silent") {
    return "left out of the merge for now: no model values from it lately (catching up, or its updates are lost)";
  }
  if (l.ignored) {
    const why = Object.entries(rejects).filter(([k, n]) => n > 0 && !HARMLESS.has(k))
      .sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ");
    return `left out of the merge: its updates failed our checks${why ? ` (${why})` : ""}`;
  }
  return `catching up: ${Math.floor(l.coverage * 100)}% of its model known`;
}

/** Every trusted peer (heard or not, from the trust store and the gossip table), as the status shows it. */
function peerStatuses(i: StatusInputs): PeerStatus[] {
  const learnerPeers = new Map(i.learner.peers.map((p) => [p.key, p]));
  const gossipPeers = new Map(i.peers.map((p) => [p.key, p]));
  const keys = [
    ...new Set([...i.trusted.map((t) => t.key), ...i.peers.filter((p) => p.trusted).map((p) => p.key)]),
  ];
  return keys.map((key) => {
    const g = gossipPeers.get(key);
    const l = learnerPeers.get(key);
    const t = i.trusted.find((x) => x.key === key);
    const rejects: Record<string, number> = {};
    if (g) addCounts(rejects, g.rejects);
    if (l) addCounts(rejects, l.rejected);
    const merged = l ? l.inSync && !l.ignored : false;
    return {
      fingerprint: g?.fingerprint ?? t?.fingerprint ?? key.slice(0, 16),
      name: g?.name ?? t?.name ?? "",
      address: g?.address ?? null,
      lastSeen: g?.ageMs === null || g?.ageMs === undefined
        ? null
        : new Date(i.wallNowMs - g.ageMs).toISOString(),
      alive: g?.alive ?? false,
      score: l ? l.score : g && g.lastSeen !== null ? g.score : null,
      coverage: l ? l.coverage : null,
      merged,
      datagramsIn: g?.datagramsIn ?? 0,
      rejects,
      unusable: merged && !l?.damped
        ? null
        : unusableReason(g, l, rejects, i.model.hash, i.learner.committee ?? null),
      transport: g?.transport ?? null,
    };
  });
}

/** The status report. */
export function buildStatus(i: StatusInputs): StatusReport {
  const peers = peerStatuses(i);
  const rejected: Record<string, number> = {};
  addCounts(rejected, i.gossip.rejected);
  return {
    node: i.node,
    version: i.version,
    pid: i.pid,
    startedAt: new Date(i.startedAtMs).toISOString(),
    updatedAt: new Date(i.wallNowMs).toISOString(),
    backend: i.backend,
    ...(i.backendReason ? { backendReason: i.backendReason } : {}),
    model: i.model,
    accuracy: i.accuracy,
    heldOut: i.heldOut,
    samples: i.samples,
    rounds: i.learner.rounds,
    loss: Number.isFinite(i.learner.lastLoss) ? i.learner.lastLoss : null,
    gossip: {
      datagramsIn: i.gossip.received,
      accepted: i.gossip.accepted,
      datagramsOut: i.gossip.sent,
      bytesIn: i.gossip.receivedBytes,
      bytesOut: i.gossip.sentBytes,
      rejected,
      largestDatagram: i.largestDatagram,
    },
    transport: {
      mode: i.transport.mode,
      broker: i.transport.broker && {
        url: i.transport.broker.url,
        topic: i.transport.broker.topic,
        clientId: i.transport.broker.clientId,
        state: i.transport.broker.state,
        forSeconds: Math.round(i.transport.broker.forMs / 100) / 10,
        connects: i.transport.broker.connects,
        failures: i.transport.broker.failures,
        messagesIn: i.transport.broker.messagesIn,
        messagesOut: i.transport.broker.messagesOut,
        bytesIn: i.transport.broker.bytesIn,
        bytesOut: i.transport.broker.bytesOut,
        dropped: { ...i.transport.broker.dropped },
        lastError: i.transport.broker.lastError,
      },
      forwarded: i.transport.forwarded && { ...i.transport.forwarded },
    },
    ...(i.airtime ? { airtime: { ...i.airtime } } : {}),
    api: i.api,
    rss: i.rss,
    ...(i.storage ? { storage: i.storage } : {}),
    peers,
  };
}
