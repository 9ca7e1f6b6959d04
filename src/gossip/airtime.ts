/**
 * The airtime budget: how often a board may broadcast so that the whole swarm stays within
 * `gossip.swarmBytesPerSecond` of shared radio time. Pure: the swarm size, the settings and the clock
 * come in as numbers.
 *
 * Wi-Fi sends broadcast frames at the lowest basic rate (1–6 Mb/s on 2.4 GHz), without retries, and every
 * board hears every other board's frames: the medium carries the sum of what every board sends. With N
 * boards each sending H bytes per Hello, and M of them B bytes per round (M = N, or the committee's size
 * K = `learning.fanIn` when N > K: only its members publish model updates, `src/learn/_committee.ts`), the
 * rule is
 *
 *     M × B / round + N × H / hello + K × S / period ≤ budget
 *
 * where the last term is the committee's handovers: one seat changes hands every `learning.fanInPeriodMs`
 * / K, and the board entering pushes its whole model (S bytes in snapshot chunks) to everyone. It does not
 * shrink with longer rounds, so it is taken off the budget first.
 *
 * Below the budget nothing changes (`learning.roundMs` and `gossip.intervalMs` are floors). Above it the
 * round interval and the Hello interval stretch by the same factor (the swarm's round and Hello bytes/s) /
 * (budget − handovers), so the swarm lands on the budget; the time after which a silent peer counts as gone (`gossip.peerTimeoutMs`)
 * grows to three Hello intervals when that is longer, so a live peer is never shown as timed out. The stretch stops where the round
 * interval reaches {@linkcode MAX_ROUND_MS} (thousands of boards); the plan then says it is over budget.
 *
 * The swarm size N is estimated from the peers this board hears ({@linkcode estimateSwarmSize}): trusted
 * keys whose signed datagrams passed every check within the (stretched) peer timeout, plus this board. Senders
 * that are not trusted are dropped before any cryptography and never counted, so a flood of made-up keys
 * cannot stretch anyone's interval; at most N = 1 + the trust store's size.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { deflateBody, encodeHello, FRAME_OVERHEAD, HELLO_NAME_MAX } from "../wire/mod.ts";

/** Longest round interval the budget may ask for (the config's own ceiling on learning.roundMs). */
export const MAX_ROUND_MS = 3_600_000;

/**
 * Bytes of a Hello datagram with the longest name (no repeated letters, so DEFLATE cannot shrink it) and
 * large counters: header, signature, deflated body. The Hello term of the rule uses it.
 */
export const HELLO_DATAGRAM_BYTES: number = FRAME_OVERHEAD + deflateBody(encodeHello({
  name: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef".slice(0, HELLO_NAME_MAX),
  round: 0x7a3c91e5,
  samples: 0x5be21d47,
  merged: 0x3f8a6c29,
  accuracy: 9876,
  uptime: 0x1d4e7b93,
})).length;

/** What the plan is made from (config values, in their units). */
export interface AirtimeSettings {
  /** gossip.swarmBytesPerSecond: airtime the whole swarm may use. */
  budgetBytesPerSecond: number;
  /** learning.roundMs: the shortest round interval. */
  roundMs: number;
  /** gossip.intervalMs: the shortest Hello interval. */
  helloMs: number;
  /** gossip.peerTimeoutMs: stretched with the Hello interval, so live peers never time out. */
  peerTimeoutMs: number;
  /** Bytes one board broadcasts per round at most (learning.deltasPerRound × gossip.maxDatagram). */
  bytesPerRound: number;
  /** Bytes of one Hello (default {@linkcode HELLO_DATAGRAM_BYTES}). */
  helloBytes?: number;
  /** learning.fanIn: with more boards than this, only this many publish model updates (0 = every board). */
  fanIn?: number;
  /** learning.fanInPeriodMs: each seat changes hands once per period (default 120,000). */
  fanInPeriodMs?: number;
  /** Bytes of one whole-model push (a handover), e.g. {@linkcode snapshotBytes}; 0 = not counted. */
  handoverBytes?: number;
}

/** The budget's inputs from a config (`handoverBytes`: one whole-model push, 0 = not counted). */
export function configAirtime(config: Config, handoverBytes = 0): AirtimeSettings {
  return {
    budgetBytesPerSecond: config.gossip.swarmBytesPerSecond,
    roundMs: config.learning.roundMs,
    helloMs: config.gossip.intervalMs,
    peerTimeoutMs: config.gossip.peerTimeoutMs,
    bytesPerRound: config.learning.deltasPerRound * config.gossip.maxDatagram,
    fanIn: config.learning.fanIn,
    fanInPeriodMs: config.learning.fanInPeriodMs,
    handoverBytes,
  };
}

/** The intervals a board uses for an estimated swarm size. */
export interface AirtimePlan {
  /** Estimated boards in the swarm, this one included. */
  swarmSize: number;
  /** Milliseconds between learning rounds (≥ learning.roundMs). */
  roundMs: number;
  /** Milliseconds between Hellos (≥ gossip.intervalMs). */
  helloMs: number;
  /** How long a silent peer still counts as alive: gossip.peerTimeoutMs, or three Hello intervals if longer. */
  peerTimeoutMs: number;
  /** roundMs / learning.roundMs: 1 below the budget. */
  stretch: number;
  /** Boards that publish model updates: swarmSize, or the committee's size when the swarm is larger. */
  publishers: number;
  /** Bytes per second of the committee's handover pushes (0 while every board publishes). */
  handoverBytesPerSecond: number;
  /** Bytes per second one publishing board sends at these intervals. */
  boardBytesPerSecond: number;
  /** What the swarm sends if every board follows the same plan (publishers' updates, everyone's Hellos). */
  swarmBytesPerSecond: number;
  /** False only when even the longest round interval cannot fit the budget (thousands of boards). */
  withinBudget: boolean;
}

/**
 * The learner's peer timeout at a round interval: `peerTimeoutMs` (gossip.peerTimeoutMs), or four round
 * intervals when longer, so a peer publishing once per stretched round is not dropped between rounds.
 */
export function learnerPeerTimeoutMs(peerTimeoutMs: number, roundMs: number): number {
  return Math.max(peerTimeoutMs, 4 * roundMs);
}

/** Bytes per second of one board sending `bytesPerRound` every `roundMs` and a Hello every `helloMs`. */
function boardRate(roundMs: number, helloMs: number, bytesPerRound: number, helloBytes: number): number {
  return (bytesPerRound * 1000) / roundMs + (helloBytes * 1000) / helloMs;
}

/** The round and Hello intervals for `swarmSize` boards under the budget (see the module comment). */
export function planAirtime(swarmSize: number, s: AirtimeSettings): AirtimePlan {
  if (
    !(s.budgetBytesPerSecond > 0) || !(s.roundMs > 0) || !(s.helloMs > 0) || !(s.peerTimeoutMs > 0) ||
    !(s.bytesPerRound >= 0)
  ) {
    throw new Error(`Bug: invalid airtime settings ${JSON.stringify(s)}`);
  }
  const n = Math.max(1, Math.floor(swarmSize));
  const hello = s.helloBytes ?? HELLO_DATAGRAM_BYTES;
  const m = s.fanIn && s.fanIn > 0 ? Math.min(n, s.fanIn) : n;
  const handovers = m < n ? (m * (s.handoverBytes ?? 0) * 1000) / (s.fanInPeriodMs ?? 120_000) : 0;
  const swarmRate = (roundMs: number, helloMs: number) =>
    m * boardRate(roundMs, helloMs, s.bytesPerRound, 0) + n * boardRate(roundMs, helloMs, 0, hello);
  const left = s.budgetBytesPerSecond - handovers;
  const needed = left > 0 ? swarmRate(s.roundMs, s.helloMs) / left : Infinity;
  // Below the budget nothing changes; above it every interval stretches by the same factor.
  const stretch = Math.min(Math.max(1, needed), Math.max(1, MAX_ROUND_MS / s.roundMs));
  const roundMs = s.roundMs * stretch;
  const helloMs = s.helloMs * stretch;
  const board = boardRate(roundMs, helloMs, s.bytesPerRound, hello);
  const swarm = swarmRate(roundMs, helloMs) + handovers;
  return {
    swarmSize: n,
    publishers: m,
    stretch,
    roundMs,
    helloMs,
    // At least three Hellos per timeout once stretched; never shorter than configured.
    peerTimeoutMs: Math.max(s.peerTimeoutMs, Math.min(s.peerTimeoutMs * stretch, 3 * helloMs)),
    handoverBytesPerSecond: handovers,
    boardBytesPerSecond: board,
    swarmBytesPerSecond: swarm,
    // A rounding margin: a stretched plan lands exactly on the budget.
    withinBudget: swarm <= s.budgetBytesPerSecond * (1 + 1e-9),
  };
}

/** A peer as the gossip core lists it (only these two fields matter here). */
export interface HeardPeer {
  /** Still in the trust store. */
  trusted: boolean;
  /** A signed datagram from it passed every check within gossip.peerTimeoutMs. */
  alive: boolean;
}

/**
 * The swarm size as this board hears it: itself plus the trusted peers heard recently. Untrusted senders,
 * however many keys they make up, count for nothing (their datagrams are dropped before any cryptography).
 */
export function estimateSwarmSize(peers: readonly HeardPeer[]): number {
  let n = 1;
  for (const p of peers) if (p.trusted && p.alive) n++;
  return n;
}

/**
 * Bytes per second of a growing counter over a sliding window (this board's own sends, what it hears).
 * Samples closer than `windowMs / 40` to the previous one are merged, so memory stays fixed.
 */
export class RateMeter {
  #windowMs: number;
  #samples: { t: number; total: number }[] = [];

  constructor(windowMs = 10_000) {
    if (!(windowMs > 0)) throw new Error(`Bug: rate window ${windowMs} ms must be positive`);
    this.#windowMs = windowMs;
  }

  /** Records the counter's value `total` at monotonic time `now` (ms). */
  sample(now: number, total: number): void {
    const s = this.#samples;
    const n = s.length;
    if (n > 0 && now < s[n - 1].t) return; // a monotonic clock never goes back: a stale caller
    // The newest sample moves forward while it is within a fortieth of the window of the one before it.
    if (n >= 2 && now - s[n - 2].t < this.#windowMs / 40) s[n - 1] = { t: now, total };
    else s.push({ t: now, total });
    // Keep one sample at or before the window's start as the base of the rate.
    while (s.length > 2 && s[1].t <= now - this.#windowMs) s.shift();
  }

  /** Bytes per second over the window, or 0 before two samples a moment apart. */
  rate(): number {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    if (!first || !last || last.t - first.t <= 0) return 0;
    return Math.max(0, ((last.total - first.total) * 1000) / (last.t - first.t));
  }
}
