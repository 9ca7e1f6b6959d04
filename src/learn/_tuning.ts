/**
 * The learner's tunables, their measured defaults and the learning-rate schedule.
 *
 * @module
 */
import type { Random } from "../time.ts";
import { ValueEncoding } from "./codec.ts";
import type { RobustRule } from "./robust.ts";
import type { LearnerModel, Samples } from "./_types.ts";

/** Learning-rate schedules (`learning.rateSchedule`). */
export type RateSchedule = "step" | "cosine";

/** Tunables (defaults in {@linkcode DEFAULT_LEARNER_OPTIONS}). */
export interface LearnerTuning {
  batchSize: number;
  rule: RobustRule;
  /** Centered clipping radius as a multiple of the median distance of the copies to their median. */
  clipFactor: number;
  encoding: ValueEncoding;
  /** Delta messages per round. */
  messagesPerRound: number;
  /** Share of each Delta's coordinates taken round-robin (self-healing refresh). */
  refreshFraction: number;
  /** Snapshot chunks sent per round while answering a request. */
  chunksPerRound: number;
  /**
   * A message whose change size (90th percentile of |change| per round) exceeds this × the median of
   * recent ones is applied at that bounded rate instead (its changes scaled down); one beyond 4 × the
   * bound is not applied, and a peer that keeps sending such messages loses its pull while its copy lies
   * far until it slows down (`_peers.ts`: pace, damped). 3: honest messages reached 3.7 × the reference under 2 classes per node, a
   * ×5 model-replacement attacker 2.5–30 ×.
   */
  normFactor: number;
  /**
   * While a peer's copy lies beyond the clip radius, the radius is scaled by its pace (`_peers.ts`) to
   * this power.
   */
  pacePower: number;
  /**
   * Redescending clip: a copy at distance d beyond the clip radius t pulls the centre by t × (t/d) to
   * this power instead of t (0 = plain centered clipping). A copy that keeps drifting away — IPM's
   * negated mean lies 10–18 × the median distance from the centre after a few hundred rounds, a
   * model-replacement backdoor 10–16 × — loses its pull, while honest copies, within 1.4 × (IID) and
   * 2.1 × (one class per node) of the median distance, are never beyond the 3 × radius.
   */
  farPower: number;
  /**
   * Nearest-neighbour mixing before the clip (1 = on, 0 = off): every merged copy is first replaced by the
   * mean of its n − f nearest copies (f = the trimmed-mean count for n copies), see `robust.ts`. Off: it
   * halves what two crafted attackers of ten cost under IID data but collapses label-skewed swarms to ≈ 75%
   * (the lone holder of a digit is nobody's neighbour; docs/learning.md).
   */
  mixNeighbours: number;
  /**
   * Near-identical copies count once (0 = off): copies closer to each other than this × the median
   * pairwise distance are merged as their mean, one copy (see `twinGroups` in `robust.ts`). Aimed at
   * several attackers crafting the same copy from the same observed honest models. Off: it halved what
   * two IPM attackers of ten cost until they knew it, then they were back at −2.2 pp (docs/learning.md).
   */
  twinRadius: number;
  /**
   * Reject any |value| above max(`valueBound`, `valueFactor` × our own largest |value|): our own
   * contribution is an honest sample of the scale (under label skew and a high learning rate honest
   * contributions legitimately pass 100, and rejecting them cost honest peers their score).
   */
  valueBound: number;
  valueFactor: number;
  scorePenalty: number;
  scoreReward: number;
  scoreThreshold: number;
  /** A peer not heard from for this long (ms) is left out of the merge. */
  peerTimeoutMs: number;
  /** Share of coordinates that must be known before a re-synced copy is merged. */
  syncCoverage: number;
  /** A genesis-epoch peer first heard with a stamp ≤ this is assumed to still match the shared init. */
  genesisGraceStamps: number;
  /** Rounds between repeated snapshot requests for the same peer. */
  requestEveryRounds: number;
  /** A joining node that hears no peer for this many rounds starts on its own (genesis epoch). */
  joinTimeoutRounds: number;
  /** Learning rate set on the model at round 1 (0 = leave the model's own rate, no schedule). */
  learningRate: number;
  /** Round at which the rate reaches `rateFinal` (0 = constant rate). */
  rateDecayRounds: number;
  /** Learning rate after `rateDecayRounds`. */
  rateFinal: number;
  rateSchedule: RateSchedule;
  /**
   * Momentum applied by the learner to the published updates (DGC momentum correction with factor
   * masking: u ← μ·u + Δ, r ← r + u, u[c] = 0 once c is published). Use it with a model whose
   * optimizer is plain SGD; 0 = off (the model's own optimizer momentum, if any, is used).
   */
  momentum: number;
  /**
   * Weight averaging of the served model in the final learning-rate phase (from `rateDecayRounds` on):
   * the served weights are an exponential moving average of the swarm model with this decay per round
   * (0 = off, serve the swarm model itself). Averages out the last rounds' SGD noise, as in SWA.
   */
  averaging: number;
  /**
   * Consensus pull: each round the residual also gets −pull × (P_i − m), moving our pseudo-model a
   * share of the way towards the swarm model (0 = off). See the module documentation, point 10.
   */
  pull: number;
  /** Rounds between checks of what each merged peer does to our local validation loss (0 = off). */
  validateEvery: number;
  /** At most this many validation rows per check. */
  validationRows: number;
  /**
   * A peer is suspect when its model raises our validation loss by more than `harmMin` and more than
   * `harmFactor` × the lower median of all merged peers' effects (see the module documentation).
   */
  harmFactor: number;
  harmMin: number;
  /**
   * Clip radius of a suspect peer's copy in the centre, as a multiple of the median distance (instead
   * of `clipFactor`): its influence is bounded, it is not excluded. The default (= `clipFactor`) only
   * reports: under label skew honest peers fail the check, and even a tighter clip of them (0.5) cost
   * up to 0.7 pp (docs/learning.md). Lower it only where the boards' data are alike.
   */
  suspectClip: number;
  /**
   * Local training guard: a round's update Δ larger (L2) than this × the median of the last rounds'
   * update sizes is scaled down to it (0 = off). One bad local row cannot make a node's message jump.
   */
  updateClip: number;
  /**
   * Local training guard: a row whose L2 norm exceeds this × the median of the recent rows' is skipped
   * (0 = off): a row on the wrong scale (raw 0–255 pixels, 1e30) is not trained on.
   */
  rowOutlier: number;
  /**
   * Local training guard (trimmed loss): in each batch, up to this share of the rows the model (the
   * swarm model the round starts from) confidently assigns to one of our own classes other than their
   * label are left out of the step, those with the lowest probability of their label first (0 = off;
   * 1 = no cap). A burst of mislabelled rows — our own digits with a wrong label — is not trained on once
   * the swarm knows better. 1,000 mislabelled rows on one of 5 nodes cost −2.60 pp without it (seeds
   * 1–3); see docs/learning.md for the figures with it. Only after `trimWarmupRounds`. Off by default:
   * on seeds 6 and 7 the same burst with the trim on (after its warm-up) dropped the swarm to 83.0 / 85.5%
   * (91.3 / 93.55% without it), and on IID shards it cost ≈ 1 pp at 400 rounds by leaving out hard rows.
   */
  lossTrim: number;
  /**
   * Rounds after this learner started (fresh or restored from a checkpoint) and merged its first peers
   * before `lossTrim` applies: a model still learning, or a restored model not yet brought up to date by
   * its peers, would leave out rows it should learn from (a restarted node that trimmed at once dipped
   * 8 pp for a round, tests/sim/swarm_test.ts).
   */
  trimWarmupRounds: number;
  /** Only rows whose predicted class has at least this probability are left out (`lossTrim`). */
  trimConfidence: number;
  /**
   * Only rows predicted as a class holding at least this share of our own rows are left out
   * (`lossTrim`; 0 = any class). Under label skew the swarm model often pulls our hard rows towards
   * classes we do not hold; leaving those out cost clean runs (trimConfidence 0.5 without this gate:
   * 87.0% against 88.55% in a centralized check), and they are not what a wrong label looks like.
   */
  trimOwnClass: number;
  /**
   * Bounded fan-in K: with more live boards than this, a committee of K boards (the same for everyone)
   * trains and publishes, and only its copies are kept and merged (`_committee.ts`); 0 = every board
   * publishes and every peer is merged.
   */
  fanIn: number;
  /** How long a board holds a committee slot (ms; the slots' phases are staggered by this / K). */
  fanInPeriodMs: number;
}

/** Defaults chosen by the experiments in scripts/sim.ts (docs/learning.md). */
export const DEFAULT_LEARNER_OPTIONS: LearnerTuning = {
  batchSize: 32,
  rule: "clip",
  clipFactor: 3,
  encoding: ValueEncoding.Int8,
  messagesPerRound: 1,
  refreshFraction: 0.1,
  chunksPerRound: 16,
  normFactor: 3,
  pacePower: 16,
  farPower: 2,
  mixNeighbours: 0,
  twinRadius: 0,
  valueBound: 100,
  valueFactor: 10,
  scorePenalty: 0.25,
  scoreReward: 0.05,
  scoreThreshold: 0.5,
  peerTimeoutMs: 60_000,
  syncCoverage: 0.9,
  genesisGraceStamps: 64,
  requestEveryRounds: 5,
  joinTimeoutRounds: 10,
  learningRate: 0,
  rateDecayRounds: 0,
  rateFinal: 0,
  rateSchedule: "step",
  momentum: 0,
  averaging: 0.99,
  pull: 0.02,
  validateEvery: 50,
  validationRows: 256,
  harmFactor: 4,
  harmMin: 0.02,
  suspectClip: 3,
  updateClip: 3,
  rowOutlier: 10,
  lossTrim: 0,
  trimWarmupRounds: 100,
  trimConfidence: 0.5,
  trimOwnClass: 0.05,
  fanIn: 0,
  fanInPeriodMs: 120_000,
};

/** The learning rate of round `round` (1-based) under `tuning`'s schedule; 0 = the model's own rate. */
export function scheduledRate(tuning: LearnerTuning, round: number): number {
  const { learningRate: lr0, rateDecayRounds: T, rateFinal: lr1 } = tuning;
  if (!(lr0 > 0)) return 0;
  if (!(T > 0) || !(lr1 > 0)) return lr0;
  if (round >= T) return lr1;
  if (tuning.rateSchedule === "step") return lr0;
  return lr1 + (lr0 - lr1) * 0.5 * (1 + Math.cos(Math.PI * Math.max(0, round - 1) / T));
}

/** `options`' tunables over the defaults. */
export function resolveTuning(options: Partial<LearnerTuning>): LearnerTuning {
  const tuning = { ...DEFAULT_LEARNER_OPTIONS };
  for (const k of Object.keys(DEFAULT_LEARNER_OPTIONS) as (keyof LearnerTuning)[]) {
    if (options[k] !== undefined) (tuning as Record<string, unknown>)[k] = options[k];
  }
  return tuning;
}

/** What the learner is built from. */
export interface LearnerOptions extends Partial<LearnerTuning> {
  model: LearnerModel;
  /** Local training data (may grow via the daemon's sample API). */
  data: Samples;
  /** Features per row (784 for MNIST). */
  features: number;
  rng: Random;
  /** Our Ed25519 public key (its first 8 bytes are our fingerprint in snapshot requests). */
  selfKey: Uint8Array;
  /** DEFLATE for outgoing bodies (the wire layer's `deflateBody`). */
  deflate: (raw: Uint8Array) => Uint8Array;
  /** True for a node that joins a running swarm from scratch: catch up from snapshots before publishing. */
  joining?: boolean;
  /** Local held-out rows the peers' effect is checked on (see `validateEvery`; may be set later). */
  validation?: Samples;
}
