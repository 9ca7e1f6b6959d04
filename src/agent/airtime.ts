/**
 * The airtime budget in the running agent: before each round it estimates the swarm size from the gossip
 * core's peer table, plans the round and Hello intervals ({@linkcode planAirtime}), hands the Hello
 * interval and peer timeout to the gossip core, and measures what this board sends and hears for status
 * and metrics. Reads the live config on every plan, so `gossip.swarmBytesPerSecond`, `learning.roundMs`
 * and `gossip.intervalMs` apply on reload. Time is injected.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import {
  type AirtimePlan,
  type AirtimeSettings,
  configAirtime,
  estimateSwarmSize,
  type GossipCounters,
  type HeardPeer,
  learnerPeerTimeoutMs,
  planAirtime,
  RateMeter,
} from "../gossip/mod.ts";
import type { AirtimeReport } from "../api/mod.ts";
import type { Clock } from "../time.ts";

/** The parts of the gossip core the budget reads and sets. */
export interface AirtimeNode {
  peers(now: number): readonly HeardPeer[];
  counters(): Pick<GossipCounters, "sent" | "sentBytes" | "receivedBytes" | "rejected">;
  setIntervals(helloMs: number, peerTimeoutMs: number): void;
}

/**
 * The learner's setting the plan moves (its peer copies must outlive a stretched round), and what sizes a
 * handover's whole-model push.
 */
export interface AirtimeLearner {
  readonly tuning: { readonly peerTimeoutMs: number };
  /** Bytes on the air of the push a board taking a committee seat sends (`SwarmLearner.handoverBytes`). */
  handoverBytes(maxDatagram: number): number;
  retune(changes: { peerTimeoutMs: number }): void;
}

/** The budget's inputs from a config, with this board's measured handover push. */
export function airtimeSettings(config: Config, learner?: AirtimeLearner): AirtimeSettings {
  return configAirtime(config, learner ? learner.handoverBytes(config.gossip.maxDatagram) : 0);
}

/** Seconds over which own and heard bytes/s are measured. */
const RATE_WINDOW_MS = 10_000;

/** Plans intervals from what the board hears and measures its airtime. */
export class AirtimeControl {
  #node: AirtimeNode;
  #clock: Clock;
  #config: () => Config;
  #learner: AirtimeLearner | undefined;
  #own = new RateMeter(RATE_WINDOW_MS);
  #heard = new RateMeter(RATE_WINDOW_MS);
  #plan: AirtimePlan | undefined;

  constructor(
    options: { node: AirtimeNode; clock: Clock; config: () => Config; learner?: AirtimeLearner },
  ) {
    this.#node = options.node;
    this.#clock = options.clock;
    this.#config = options.config;
    this.#learner = options.learner;
  }

  /**
   * Plans the next round now: applies the Hello interval and peer timeout to the gossip core, and keeps
   * the learner's peer timeout at four round intervals or gossip.peerTimeoutMs, whichever is longer (as
   * the agent sets it at start), so peers are not dropped between their stretched rounds.
   */
  plan(): AirtimePlan {
    const now = this.#clock.now();
    this.#measure(now);
    const n = estimateSwarmSize(this.#node.peers(now));
    const plan = planAirtime(n, airtimeSettings(this.#config(), this.#learner));
    this.#node.setIntervals(plan.helloMs, plan.peerTimeoutMs);
    const peerTimeoutMs = learnerPeerTimeoutMs(this.#config().gossip.peerTimeoutMs, plan.roundMs);
    if (this.#learner && this.#learner.tuning.peerTimeoutMs !== peerTimeoutMs) {
      this.#learner.retune({ peerTimeoutMs });
    }
    this.#plan = plan;
    return plan;
  }

  /** The budget, the last plan and the measured rates (status and metrics). */
  report(): AirtimeReport {
    const now = this.#clock.now();
    this.#measure(now);
    const plan = this.#plan ?? this.plan();
    return {
      budgetBytesPerSecond: this.#config().gossip.swarmBytesPerSecond,
      swarmSize: plan.swarmSize,
      publishers: plan.publishers,
      roundMs: Math.round(plan.roundMs),
      helloMs: Math.round(plan.helloMs),
      peerTimeoutMs: Math.round(plan.peerTimeoutMs),
      ownBytesPerSecond: Math.round(this.#own.rate()),
      swarmBytesPerSecond: Math.round(this.#own.rate() + this.#heard.rate()),
      plannedBytesPerSecond: Math.round(plan.swarmBytesPerSecond),
    };
  }

  #measure(now: number): void {
    const c = this.#node.counters();
    // UDP broadcast hands a board its own frames back (counted as "own" rejects): those bytes are
    // estimated from the mean size of what it sent and left out of what it hears.
    const echoes = c.sent > 0 ? (c.rejected.own ?? 0) * (c.sentBytes / c.sent) : 0;
    this.#own.sample(now, c.sentBytes);
    this.#heard.sample(now, Math.max(0, c.receivedBytes - echoes));
  }
}
