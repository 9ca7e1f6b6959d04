/**
 * The swarm learner: one node's local training, compressed publication of its contribution, and robust
 * merging of its peers' contributions. A pure object — clock readings, randomness and the model come in
 * as parameters; it never touches sockets or timers. The daemon (or the simulation) drives it:
 *
 * ```ts
 * await learner.train(localSteps);      // optimizer steps from the swarm model on local data only
 * learner.mix(now);                     // choose the peers to merge; swarm model = robust centre
 * for (const m of learner.outgoing(now, budget)) send(m.type, m.body);   // DEFLATEd bodies ≤ budget
 * learner.onMessage(senderKey, type, rawBody, now);                      // per received message
 * ```
 *
 * ## Algorithm: a robust sum of sparse cumulative deltas (FedAvg/DGC over lossy broadcast)
 *
 * All nodes start from the same seeded initialisation x₀ (the model hash covers it). Node i owns a
 * CUMULATIVE CONTRIBUTION C_i (0 at the start) and publishes its PSEUDO-MODEL P_i = x₀ + C_i. Every node
 * keeps a copy P̂_j of each peer's pseudo-model, built only from what it received. The swarm model is
 *
 *     m_i = R(P_i, P̂_j for trusted, in-sync, recently heard peers j)
 *
 * where R is a robust centre (with R = mean: m = x₀ + (1/N)·Σ_j C_j, i.e. every node's progress
 * averaged, as in FedAvg). Every node computes (almost) the same m, because the copies converge.
 *
 * 1. Local step (`train`): the node sets its model to m_i, runs `steps` optimizer steps on its own data
 *    (plain SGD by default: with a linear optimizer the average of the nodes' steps is one large-batch
 *    step on the union of their data) → w', and adds Δ = w' − m_i to its RESIDUAL r_i. The
 *    local progress is NOT kept in the node's model: it waits in r_i until it is published, so all
 *    nodes train from the same swarm model and label skew causes no drift beyond one round.
 * 2. Publication (`outgoing`): error feedback as in Deep Gradient Compression: each Delta message moves
 *    the top-k coordinates of |r_i| (plus a few round-robin "refresh" coordinates, so lost datagrams
 *    heal) into C_i, and sends the ABSOLUTE values C_i[c] (the wire carries C = P − x₀: small values
 *    quantize finely), int8-quantized with one scale per message,
 *    delta-coded sorted indices and one per-message stamp. The quantization error goes back into r_i.
 *    k is chosen so the DEFLATEd body fits one signed datagram (`bodyBudget(gossip.maxDatagram)`).
 * 3. Receiving (`onMessage`): a value is applied only if its stamp is newer than the stamp held for that
 *    coordinate. Absolute values + per-coordinate versions make copies idempotent and order-insensitive:
 *    a lost datagram only leaves some coordinates stale until top-k or the refresh sends them again;
 *    duplicates and reordering change nothing.
 * 4. Merging (`mix`): picks the peers whose copies are merged (trusted score, heard within
 *    `peerTimeoutMs`, in sync); the centre is recomputed whenever a copy or P_i changed. R is centered
 *    clipping by default (Karimireddy et al. 2021: start at the coordinate-wise median, move towards
 *    every copy by at most `clipFactor` × the median distance), or trimmed mean, median or plain mean.
 *    Clipping bounds what a peer whose pseudo-model drifts away can do; the message checks (5.) stop the
 *    fast attacks. `clipFactor` is 3: at 1 (or with trimmed mean / median) an honest node whose data
 *    differs (label skew) is clipped, its contribution is under-weighted, so its gradient never shrinks
 *    and C_i grows without bound (integrator wind-up) — measured: collapse after ≈ 300 rounds.
 * 5. Checks: a message whose values are non-finite or beyond `valueBound`, or whose change to our copy
 *    has a size (90th percentile of |change| per round since we last set that coordinate) above
 *    `normFactor` × the median size of recent honest changes (our own publications
 *    included, so the reference exists even among few peers), is rejected. Each peer has a score in
 *    [0, 1]: −`scorePenalty` per rejection, +`scoreReward` per accepted message; below
 *    `scoreThreshold` the peer is left out of the merge (and reported in `stats().peers[].ignored`) until
 *    it recovers. Stale messages (nothing newer than what we hold: duplicates, replays) change nothing
 *    and cost no score.
 *    Every `validateEvery` rounds the merged peers are also checked on our local held-out rows
 *    (`validation`): a peer whose inclusion raises the validation loss (leave-one-out: centre with
 *    everyone vs centre without it) by more than `harmMin` and more than `harmFactor` × the lower
 *    median of the peers' effects loses score like a rejected message ("validation"). The median
 *    makes it fair under label skew, where every honest peer raises our loss a little; it catches
 *    attackers whose messages look normal (e.g. training on flipped labels).
 * 6. Catch-up: a SnapshotRequest names peers by key prefix (or nobody = everyone); each named peer then
 *    pushes its whole pseudo-model as SnapshotChunks, `chunksPerRound` per round. A node created with
 *    `joining: true` publishes nothing, asks everyone for snapshots, and once its copies of the peers it
 *    hears are in sync it ADOPTS their robust centre as its pseudo-model (P_i = m: adding it leaves the
 *    swarm model unchanged), then contributes like everyone else. A node that hears a peer whose history
 *    it missed (unknown epoch, or genesis epoch first heard at a late stamp) asks that peer.
 * 7. Epochs: a node whose pseudo-model jumps (a joiner adopting the centre, a restart from a
 *    checkpoint) picks a new random epoch and pushes its whole pseudo-model; peers then forget their
 *    copy of it and rebuild it from the chunks, merging it only once `syncCoverage` of the coordinates
 *    are known. Checkpoints keep C_i (as P_i), r_i and the peers' copies.
 * 8. Learning-rate schedule (`learningRate`, `rateDecayRounds`, `rateFinal`, `rateSchedule`): a function
 *    of the node's round count — `step` keeps `learningRate` until `rateDecayRounds`, then `rateFinal`;
 *    `cosine` anneals from one to the other over `rateDecayRounds` rounds. Applied through the model's
 *    `setLearningRate` before each round (learningRate 0 = leave the model's rate alone).
 * 9. Served model (`inferenceWeights`, `averaging`): the swarm model, and from `rateDecayRounds` on an
 *    exponential moving average of it (decay `averaging` per round, as in SWA/Polyak averaging). In the
 *    final phase the swarm model still jitters by the last rounds' SGD noise and by which coordinates
 *    just arrived; the average removes most of it (measured: min over 5 nodes 92.55 → 93.1%, mean
 *    93.1 → 93.3%, 2 classes per node). Not persisted: a restart serves the swarm model until it has
 *    averaged again.
 * 10. Consensus pull (`pull`): each round the residual also gets −pull × (P_i − m), so our pseudo-model
 *    moves a share of the way towards the swarm model. With the mean as centre the pulls of all nodes
 *    sum to zero (Σ(P_i − m) = 0), so the swarm model does not move; what changes is the nodes'
 *    spread. Without it, under label skew every node's gradient at the swarm model keeps a component
 *    the others cancel (its own classes up, the rest down), so each C_i drifts away linearly for ever
 *    (measured: RMS of P_i − mean 0.44 at round 100, 1.99 at round 1,600, while the weights are ≈ 0.1),
 *    the int8 scale of the absolute values grows with it and quantization noise (≈ 0.02 per value)
 *    swamps the updates. With the pull the drift settles where the pull cancels it, and the residual
 *    then accumulates the nodes' COMMON direction only (a local control variate, as in SCAFFOLD):
 *    spread 0.006 at round 1,600, and every node 94.1% instead of 92.5–93.6% (0.1: 94.0%).
 *
 * Measured (scripts/sim_swarm.ts, README benchmark table; MNIST 784-32-10, 5 nodes, 2 classes per node,
 * 10% loss, 1,232-byte datagrams, one per node per round, 1,600 rounds): the earlier CHOCO-style
 * consensus on model copies with Adam stalled at ≈ 79%; this scheme with plain SGD (lr 0.5 → 0.05)
 * reached 92.6–93.6% on every node at 1.9 MB per node, with the served average (9.) a min over the
 * nodes of 93.0–93.2%, and with the consensus pull (10.) 93.9–94.1% on every node (centralized: 94.2%),
 * every node ≥ 93.5% from round 510 (0.61 MB) on. Real agents on a real network (netns, nftables loss)
 * reach the same: 93.9–94.1% (README, `deno task bench:swarm`).
 * Variants that did not help before the pull (min / mean at round 1,600): plain mean instead of
 * clipping 92.9 / 93.2%, rate decay at round 1,100 instead of 880 92.9 / 93.2%, averaging 0.995
 * 93.0 / 93.3%, half the refresh coordinates 93.2 / 93.5%. SGD with momentum 0.9 inside the optimizer collapsed after ≈ 700
 * rounds (momentum keeps pushing coordinates that wait in the residual; the learner-side DGC variant,
 * `momentum` with factor masking, was stable but ≈ 2 pp worse). Adam is much worse here (its per-node
 * normalization turns the average of the nodes' steps into a vote). The change-size check uses the
 * 90th percentile of |change|: an RMS check rejected honest messages whose residual had a few large
 * coordinates, and the lost updates destabilised training. Wire values are C = P − x₀ rather than P:
 * int8 with one scale per message then quantizes the small contributions finely. About 2 bytes per
 * coordinate after DEFLATE (index gap ≈ 1 B + value 1 B).
 *
 * @module
 */
import { DecodeError, DecodeErrorCode } from "../errors.ts";
import type { Random } from "../time.ts";
import {
  decodeChunk,
  decodeDelta,
  decodeSnapshotRequest,
  encodeChunk,
  encodeDelta,
  encodeSnapshotRequest,
  FINGERPRINT_SIZE,
  MAX_TARGETS,
  MODEL_HASH_SIZE,
  ValueEncoding,
  type ValuesBody,
} from "./codec.ts";
import { aggregate, centeredClip, type RobustRule, topK } from "./robust.ts";

/** The part of the model runtime the learner needs (a tiny fake implements it in unit tests). */
export interface LearnerModel {
  readonly paramCount: number;
  /** 8 bytes identifying architecture + seeded init; messages of other models are ignored. */
  readonly modelHash: Uint8Array;
  getWeights(): Float32Array;
  setWeights(weights: Float32Array): void;
  /** One optimizer step on `count` rows; resolves to the loss. */
  trainBatch(x: Float32Array, y: Uint8Array, count: number): Promise<number>;
  /** Changes the optimizer's learning rate (used by the schedule; optional). */
  setLearningRate?(lr: number): void;
  evaluate(x: Float32Array, y: Uint8Array, count: number): Promise<{ accuracy: number; loss: number }>;
}

/** Labelled rows (same shape as the MNIST `Dataset`). */
export interface Samples {
  x: Float32Array;
  y: Uint8Array;
  count: number;
}

/** Learning message types (values match the wire layer's `MessageType`). */
export const LearnMessage = { Delta: 2, SnapshotChunk: 3, SnapshotRequest: 4 } as const;
/** One of {@linkcode LearnMessage}. */
export type LearnMessage = typeof LearnMessage[keyof typeof LearnMessage];

/** A body to broadcast. */
export interface OutgoingMessage {
  type: LearnMessage;
  /** DEFLATEd body, at most the budget passed to `outgoing`. */
  body: Uint8Array;
  /** Size before DEFLATE. */
  rawSize: number;
  /** Coordinates carried (0 for requests). */
  coordinates: number;
}

/** Why a message was not (fully) used. */
export type RejectReason =
  | "decode"
  | "model-mismatch"
  | "non-finite"
  | "value-bound"
  | "norm-bound"
  | "stale"
  | "self"
  | "validation";

/** Outcome of `onMessage`. */
export type MessageOutcome =
  | { accepted: true; applied: number }
  | { accepted: false; reason: RejectReason; detail: string };

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
  /** Reject a message whose change size (90th percentile of |change|) exceeds this × the median of recent honest ones. */
  normFactor: number;
  /** Reject any |value| above this. */
  valueBound: number;
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
   * A peer is penalised when merging it raises our validation loss by more than `harmMin` and more than
   * `harmFactor` × the lower median of all merged peers' effects (see the module documentation).
   */
  harmFactor: number;
  harmMin: number;
}

/** Defaults chosen by the experiments in scripts/sim_swarm.ts. */
export const DEFAULT_LEARNER_OPTIONS: LearnerTuning = {
  batchSize: 32,
  rule: "clip",
  clipFactor: 3,
  encoding: ValueEncoding.Int8,
  messagesPerRound: 1,
  refreshFraction: 0.1,
  chunksPerRound: 16,
  normFactor: 5,
  valueBound: 100,
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
  validateEvery: 10,
  validationRows: 256,
  harmFactor: 4,
  harmMin: 0.02,
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

/** A peer's public model as we know it. */
interface PeerCopy {
  key: Uint8Array;
  hex: string;
  epoch: number;
  /** All coordinates valid from the start (genesis copy heard early). */
  genesis: boolean;
  values: Float32Array;
  /** Stamp of the value held per coordinate; 0 = never received. */
  versions: Uint32Array;
  /**
   * Our round count when each coordinate's value was last set from a live message; −1 = a baseline
   * we cannot date (the shared init of a genesis copy, a value restored from a checkpoint), whose
   * first update is not size-checked.
   */
  heard: Int32Array;
  known: number;
  score: number;
  lastHeard: number;
  lastStamp: number;
  accepted: number;
  rejected: Partial<Record<RejectReason, number>>;
  /** Round at which we last asked this peer for a snapshot (−∞ if never). */
  requestedAt: number;
  /** Last measured rise of our validation loss caused by merging this peer (null = not measured). */
  harm: number | null;
  /** Failed the last validation check: its accepted messages do not raise its score until it passes. */
  suspect: boolean;
}

/** Per-peer status for `agent status` and metrics. */
export interface PeerStatus {
  key: string;
  epoch: number;
  score: number;
  ignored: boolean;
  inSync: boolean;
  coverage: number;
  accepted: number;
  rejected: Partial<Record<RejectReason, number>>;
  lastStamp: number;
  /** Last measured rise of our local validation loss caused by merging this peer (null = not measured). */
  harm: number | null;
}

/** Counters for status and metrics. */
export interface LearnerStats {
  rounds: number;
  steps: number;
  lastLoss: number;
  epoch: number;
  stamp: number;
  joining: boolean;
  messagesSent: number;
  bytesSent: number;
  coordinatesSent: number;
  largestBody: number;
  received: number;
  accepted: number;
  rejected: Partial<Record<RejectReason, number>>;
  /** RMS of the residual r (local progress not yet published). */
  residualRms: number;
  /** Learning rate of the last round (0 = the model's own). */
  learningRate: number;
  peers: PeerStatus[];
}

const CHECKPOINT_MAGIC = 0x4e524c41; // "ALRN"
const CHECKPOINT_VERSION = 2;
const NORM_HISTORY = 64;
const NORM_WARMUP = 16;

/**
 * Size of a message's changes: the 90th percentile over its coordinates of |change| divided by the
 * rounds (ours) since the coordinate was last set — a RATE, so a copy that went stale because messages
 * were lost or rejected does not make the sender's next honest message look large. (Without this, one
 * rejection made the copy staler, the next change larger, and the peer was rejected for good: measured
 * on the real network, 3 of 5 agents ignored the 2 that started first.) Robust to the
 * few coordinates an honest error-feedback residual lets grow large (an RMS check rejected honest
 * messages, and each lost update destabilised training), while a message that moves most of its
 * coordinates too far (sign flip × 10, noise) is still caught.
 */
function changeSize(changes: Float64Array, n: number): number {
  const a = changes.subarray(0, n).sort();
  return a[Math.min(n - 1, Math.floor(0.9 * n))];
}

function hexOf(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** See the module documentation. */
export class SwarmLearner {
  readonly tuning: LearnerTuning;
  readonly model: LearnerModel;
  readonly paramCount: number;
  #data: Samples;
  #validation: Samples | undefined;
  #features: number;
  #rng: Random;
  #selfKey: Uint8Array;
  #selfFp: Uint8Array;
  #deflate: (raw: Uint8Array) => Uint8Array;
  /** Working model m: the centre the last round trained from (or adopted/restored). */
  #x: Float32Array;
  /** Our pseudo-model P_i = x₀ + C_i exactly as peers decode it. */
  #pub: Float32Array;
  /** Our contribution C_i = P_i − x₀ as sent on the wire (float32, exactly what peers decode). */
  #contrib: Float32Array;
  /** Error-feedback residual r_i: local progress (and quantization error) not yet published. */
  #resid: Float32Array;
  /** Velocity u of the learner-side momentum (all zero when `momentum` is 0). */
  #velocity: Float32Array;
  /** Our round count when each coordinate of C was last published. */
  #sentRound: Int32Array;
  /** Robust centre of the merged copies; undefined when a copy changed since it was computed. */
  #centre: Float32Array | undefined;
  /** Moving average of the swarm model served in the final phase (see `averaging`). */
  #avg: Float32Array | undefined;
  /** Peers chosen by the last `mix`. */
  #merged: PeerCopy[] = [];
  /** False after a restore until the next `mix`: the restored working model stands until then. */
  #mixed = true;
  #learningRate = 0;
  #genesis: Float32Array;
  #epoch = 0;
  #stamp = 0;
  #cursor = 0;
  #pushNext = 0;
  #pushRemaining = 0;
  #joining: boolean;
  #joinRounds = 0;
  #requestAll = false;
  #peers = new Map<string, PeerCopy>();
  #norms: number[] = [];
  #slowNorm = 0;
  #bytesPerCoord = 2;
  #bytesPerChunkValue = 1.1;
  #order: Uint32Array = new Uint32Array(0);
  #orderPos = 0;
  #stats = {
    rounds: 0,
    steps: 0,
    lastLoss: NaN,
    messagesSent: 0,
    bytesSent: 0,
    coordinatesSent: 0,
    largestBody: 0,
    received: 0,
    accepted: 0,
    rejected: {} as Partial<Record<RejectReason, number>>,
  };

  constructor(options: LearnerOptions) {
    const tuning = { ...DEFAULT_LEARNER_OPTIONS };
    for (const k of Object.keys(DEFAULT_LEARNER_OPTIONS) as (keyof LearnerTuning)[]) {
      if (options[k] !== undefined) (tuning as Record<string, unknown>)[k] = options[k];
    }
    this.tuning = tuning;
    this.model = options.model;
    this.paramCount = options.model.paramCount;
    if (options.model.modelHash.length !== MODEL_HASH_SIZE) {
      throw new Error("Bug: model hash must be 8 bytes");
    }
    this.#data = options.data;
    this.#validation = options.validation;
    this.#features = options.features;
    this.#rng = options.rng;
    this.#selfKey = options.selfKey.slice();
    this.#selfFp = options.selfKey.slice(0, FINGERPRINT_SIZE);
    this.#deflate = options.deflate;
    this.#x = options.model.getWeights().slice();
    if (this.#x.length !== this.paramCount) {
      throw new Error("Bug: getWeights() length differs from paramCount");
    }
    this.#genesis = this.#x.slice();
    this.#pub = this.#x.slice();
    this.#contrib = new Float32Array(this.paramCount);
    this.#resid = new Float32Array(this.paramCount);
    this.#velocity = new Float32Array(this.paramCount);
    this.#sentRound = new Int32Array(this.paramCount);
    this.#joining = options.joining ?? false;
    if (this.#joining) this.#requestAll = true;
  }

  /** Replaces the local training data (e.g. after samples were appended). */
  setData(data: Samples): void {
    this.#data = data;
    this.#orderPos = this.#order.length;
  }

  /** Replaces the local held-out rows used to check what each peer does to our model. */
  setValidation(data: Samples): void {
    this.#validation = data;
  }

  /** True while catching up from snapshots (no publication yet). */
  get joining(): boolean {
    return this.#joining;
  }

  /** Our current public-copy epoch. */
  get epoch(): number {
    return this.#epoch;
  }

  /** The working model m (a copy): the swarm model the last round trained from. */
  weights(): Float32Array {
    return this.#x.slice();
  }

  // ------------------------------------------------------------ local training

  /**
   * Sets the model to the current swarm model m, runs `steps` optimizer steps on local data only and
   * adds the change to the residual (published later by `outgoing`). Resolves to the mean loss (NaN
   * without data).
   */
  async train(steps: number): Promise<number> {
    this.#stats.rounds++;
    const lr = scheduledRate(this.tuning, this.#stats.rounds);
    if (lr > 0 && this.model.setLearningRate && lr !== this.#learningRate) this.model.setLearningRate(lr);
    this.#learningRate = lr;
    if (!this.#joining && this.#mixed) this.#x = this.#currentCentre();
    const every = this.tuning.validateEvery;
    if (every > 0 && this.#stats.rounds % every === 0 && !this.#joining && this.#mixed) {
      await this.#validatePeers();
    }
    const n = this.#data.count;
    if (n === 0 || steps <= 0) return NaN;
    const b = Math.min(this.tuning.batchSize, n);
    const f = this.#features;
    const bx = new Float32Array(b * f);
    const by = new Uint8Array(b);
    let sum = 0;
    const start = this.#x;
    this.model.setWeights(start);
    for (let s = 0; s < steps; s++) {
      for (let i = 0; i < b; i++) {
        const r = this.#nextRow();
        bx.set(this.#data.x.subarray(r * f, (r + 1) * f), i * f);
        by[i] = this.#data.y[r];
      }
      sum += await this.model.trainBatch(bx, by, b);
      this.#stats.steps++;
    }
    const w = this.model.getWeights();
    const r = this.#resid;
    const mu = this.tuning.momentum;
    if (mu > 0) {
      const u = this.#velocity;
      for (let i = 0; i < r.length; i++) {
        u[i] = mu * u[i] + (w[i] - start[i]);
        r[i] += u[i];
      }
    } else {
      for (let i = 0; i < r.length; i++) r[i] += w[i] - start[i];
    }
    // Consensus pull (point 10): our pseudo-model moves towards the swarm model we trained from.
    const pull = this.tuning.pull;
    if (pull > 0 && !this.#joining && this.#mixed) {
      const p = this.#pub;
      for (let i = 0; i < r.length; i++) r[i] -= pull * (p[i] - start[i]);
    }
    this.#stats.lastLoss = sum / steps;
    return this.#stats.lastLoss;
  }

  /**
   * Leave-one-out check of the merged peers on our local validation rows (point 5): the harm of peer j
   * is loss(centre of everyone) − loss(centre without j). Under label skew every honest peer "hurts"
   * a little (its classes are not ours), so a peer is penalised only when its harm exceeds both
   * `harmMin` and `harmFactor` × the lower median harm of all merged peers.
   */
  async #validatePeers(): Promise<void> {
    const v = this.#validation;
    if (!v || v.count === 0) return;
    // Every in-sync peer, merged or not: a peer left out for failing can pass again and recover.
    const peers = [...this.#peers.values()].filter((p) => this.#inSync(p));
    if (peers.length < 2) return; // nothing to compare a peer with
    const n = Math.min(v.count, this.tuning.validationRows);
    const f = this.#features;
    const lossOf = async (w: Float32Array) => {
      this.model.setWeights(w);
      return (await this.model.evaluate(v.x.subarray(0, n * f), v.y.subarray(0, n), n)).loss;
    };
    const all = await lossOf(this.#currentCentre());
    const harms: number[] = [];
    for (const p of peers) harms.push(await lossOf(p.values) - all);
    const sorted = [...harms].sort((a, b) => a - b);
    const median = sorted[Math.floor((sorted.length - 1) / 2)];
    const { harmMin, harmFactor } = this.tuning;
    peers.forEach((p, i) => {
      p.harm = harms[i];
      p.suspect = harms[i] > harmMin && harms[i] > harmFactor * Math.max(0, median);
      if (p.suspect) {
        this.#reject(
          p,
          "validation",
          `its model's local validation loss is ${harms[i].toFixed(3)} above the swarm model's (median peer ${
            median.toFixed(3)
          })`,
        );
      }
    });
  }

  #nextRow(): number {
    const n = this.#data.count;
    if (this.#order.length !== n || this.#orderPos >= n) {
      if (this.#order.length !== n) this.#order = Uint32Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = this.#rng.nextU32() % (i + 1);
        const t = this.#order[i];
        this.#order[i] = this.#order[j];
        this.#order[j] = t;
      }
      this.#orderPos = 0;
    }
    return this.#order[this.#orderPos++];
  }

  // ------------------------------------------------------------ mixing

  #mergeable(now: number): PeerCopy[] {
    const out: PeerCopy[] = [];
    for (const p of this.#peers.values()) {
      if (p.score < this.tuning.scoreThreshold) continue;
      if (now - p.lastHeard > this.tuning.peerTimeoutMs) continue;
      if (!this.#inSync(p)) continue;
      out.push(p);
    }
    return out;
  }

  #inSync(p: PeerCopy): boolean {
    return p.genesis || p.known >= this.tuning.syncCoverage * this.paramCount;
  }

  /** Robust centre of our pseudo-model and the merged peers' copies (cached until a copy changes). */
  #currentCentre(): Float32Array {
    if (this.#centre) return this.#centre;
    const copies = [this.#pub];
    for (const p of this.#merged) {
      // Still the same copy (no new epoch since mix), still trusted and in sync.
      if (this.#peers.get(p.hex) !== p || p.score < this.tuning.scoreThreshold || !this.#inSync(p)) continue;
      copies.push(p.values);
    }
    this.#centre = this.#aggregate(copies);
    return this.#centre;
  }

  #aggregate(copies: Float32Array[]): Float32Array {
    const out = new Float32Array(this.paramCount);
    const rule = this.tuning.rule;
    if (rule !== "clip" || copies.length < 3) return aggregate(copies, rule, out);
    aggregate(copies, "median", out);
    centeredClip(copies, out, 0, this.tuning.clipFactor);
    return out;
  }

  /**
   * Chooses the peers whose copies are merged (trusted, recently heard, in sync). A joining node instead
   * adopts the centre of its peers' copies as its pseudo-model once they are in sync. Returns how many
   * peers are merged.
   */
  mix(now: number): number {
    const peers = this.#mergeable(now);
    this.#mixed = true;
    if (this.#joining) {
      this.#joinRounds++;
      const heard = [...this.#peers.values()].filter((p) =>
        now - p.lastHeard <= this.tuning.peerTimeoutMs && p.score >= this.tuning.scoreThreshold
      );
      if (heard.length === 0 && this.#joinRounds >= this.tuning.joinTimeoutRounds) {
        // Nobody is publishing (a whole swarm starting fresh): start as a genesis node instead.
        this.#joining = false;
        this.#resid.fill(0);
        this.#sentRound.fill(this.#stats.rounds);
        this.#centre = undefined;
        return 0;
      }
      const ready = peers.length > 0 && (peers.length === heard.length || this.#joinRounds >= 20);
      if (!ready) {
        if (this.#joinRounds % this.tuning.requestEveryRounds === 0) this.#requestAll = true;
        return 0;
      }
      const centre = this.#aggregate(peers.map((p) => p.values));
      // Continue the learning-rate schedule where the swarm is: its round count, estimated from the
      // peers' message stamps (one stamp per message; snapshot chunks make this a slight overestimate).
      const stamps = peers.map((p) => p.lastStamp).sort((a, b) => a - b);
      const swarmRounds = Math.floor(stamps[Math.floor(stamps.length / 2)] / this.tuning.messagesPerRound);
      this.#stats.rounds = Math.max(this.#stats.rounds, swarmRounds);
      this.#sentRound.fill(this.#stats.rounds);
      this.#x = centre;
      this.model.setWeights(centre);
      this.#setContrib(centre.map((v, i) => v - this.#genesis[i]));
      // Progress made before joining was relative to another model: drop it.
      this.#resid.fill(0);
      this.#newEpoch();
      this.#joining = false;
      this.#merged = peers;
      this.#centre = undefined;
      return peers.length;
    }
    this.#merged = peers;
    this.#centre = undefined;
    this.#average();
    return peers.length;
  }

  /** Folds the swarm model into the served average (final learning-rate phase only). */
  #average(): void {
    const { averaging: beta, rateDecayRounds: T } = this.tuning;
    if (!(beta > 0) || !(T > 0) || this.#stats.rounds < T) {
      this.#avg = undefined;
      return;
    }
    const c = this.#currentCentre();
    if (!this.#avg) {
      this.#avg = c.slice();
      return;
    }
    const a = this.#avg;
    for (let i = 0; i < a.length; i++) a[i] = beta * a[i] + (1 - beta) * c[i];
  }

  /** Sets C (and P = x₀ + C, computed as receivers compute it). Call after `#genesis` is set. */
  #setContrib(c: Float32Array): void {
    this.#contrib = Float32Array.from(c);
    this.#pub = new Float32Array(this.paramCount);
    for (let i = 0; i < this.paramCount; i++) this.#pub[i] = this.#genesis[i] + this.#contrib[i];
  }

  #newEpoch(): void {
    let e = 0;
    while (e === 0) e = this.#rng.nextU32();
    this.#epoch = e;
    // Peers forget their copy of us on a new epoch: push the whole pseudo-model.
    this.#pushNext = 0;
    this.#pushRemaining = this.paramCount;
  }

  // ------------------------------------------------------------ publication

  /** Bodies to broadcast this round, each DEFLATEd to at most `budget` bytes. */
  outgoing(now: number, budget: number): OutgoingMessage[] {
    void now;
    if (budget < 64) throw new Error(`Bug: body budget ${budget} is too small`);
    const out: OutgoingMessage[] = [];
    const req = this.#snapshotRequest();
    if (req) out.push(this.#emit(LearnMessage.SnapshotRequest, req, 0));
    if (this.#joining) return out;
    for (let c = 0; c < this.tuning.chunksPerRound && this.#pushRemaining > 0; c++) {
      out.push(this.#chunk(budget));
    }
    for (let m = 0; m < this.tuning.messagesPerRound; m++) {
      const msg = this.#delta(budget);
      if (!msg) break;
      out.push(msg);
    }
    return out;
  }

  #emit(type: LearnMessage, raw: Uint8Array, coordinates: number): OutgoingMessage {
    const body = this.#deflate(raw);
    this.#stats.messagesSent++;
    this.#stats.bytesSent += body.length;
    this.#stats.coordinatesSent += coordinates;
    this.#stats.largestBody = Math.max(this.#stats.largestBody, body.length);
    return { type, body, rawSize: raw.length, coordinates };
  }

  #snapshotRequest(): Uint8Array | undefined {
    const targets: Uint8Array[] = [];
    if (!this.#requestAll) {
      for (const p of this.#peers.values()) {
        if (this.#inSync(p) || p.score < this.tuning.scoreThreshold) continue;
        if (this.#stats.rounds - p.requestedAt < this.tuning.requestEveryRounds) continue;
        p.requestedAt = this.#stats.rounds;
        if (targets.length < MAX_TARGETS) targets.push(p.key.slice(0, FINGERPRINT_SIZE));
      }
      if (targets.length === 0) return undefined;
    }
    this.#requestAll = false;
    return encodeSnapshotRequest({ modelHash: this.model.modelHash, targets });
  }

  #chunk(budget: number): OutgoingMessage {
    const start = this.#pushNext;
    let n = Math.max(16, Math.floor((budget - 48) / this.#bytesPerChunkValue));
    for (let attempt = 0;; attempt++) {
      n = Math.min(n, this.paramCount - start, 65535);
      const values = new Float32Array(n);
      const g = this.#genesis;
      for (let j = 0; j < n; j++) values[j] = this.#contrib[start + j] + this.#resid[start + j];
      const enc = encodeChunk({
        modelHash: this.model.modelHash,
        epoch: this.#epoch,
        stamp: this.#stamp + 1,
        paramCount: this.paramCount,
        encoding: this.tuning.encoding,
        start,
        values,
      });
      const body = this.#deflate(enc.body);
      if (body.length > budget && n > 1 && attempt < 8) {
        n = Math.max(1, Math.floor(n * budget / body.length * 0.97));
        continue;
      }
      if (body.length > budget) throw new Error("Bug: a one-coordinate chunk exceeds the budget");
      this.#bytesPerChunkValue = Math.max(0.2, body.length / n);
      this.#stamp++;
      for (let j = 0; j < n; j++) {
        this.#resid[start + j] = values[j] - enc.decoded[j];
        // Exactly what receivers compute (their decoded values are float32).
        this.#contrib[start + j] = enc.decoded[j];
        this.#pub[start + j] = g[start + j] + enc.decoded[j];
        this.#velocity[start + j] = 0;
        this.#sentRound[start + j] = this.#stats.rounds;
      }
      this.#centre = undefined;
      this.#pushNext = (start + n) % this.paramCount;
      this.#pushRemaining = Math.max(0, this.#pushRemaining - n);
      this.#stats.messagesSent++;
      this.#stats.bytesSent += body.length;
      this.#stats.coordinatesSent += n;
      this.#stats.largestBody = Math.max(this.#stats.largestBody, body.length);
      return { type: LearnMessage.SnapshotChunk, body, rawSize: enc.body.length, coordinates: n };
    }
  }

  #delta(budget: number): OutgoingMessage | undefined {
    const P = this.paramCount;
    const resid = this.#resid;
    const pub = this.#pub;
    const score = new Float32Array(P);
    let any = false;
    for (let i = 0; i < P; i++) {
      score[i] = Math.abs(resid[i]);
      if (score[i] > 0) any = true;
    }
    if (!any && this.tuning.refreshFraction === 0) return undefined;
    let n = Math.max(8, Math.floor((budget - 40) / this.#bytesPerCoord));
    for (let attempt = 0;; attempt++) {
      n = Math.min(n, P, 65535);
      const nRefresh = Math.min(P, Math.ceil(n * this.tuning.refreshFraction));
      const nTop = n - nRefresh;
      const take = new Uint8Array(P);
      const top = topK(score, nTop);
      for (const i of top) take[i] = 1;
      let added = 0;
      let c = this.#cursor;
      for (let scanned = 0; added < nRefresh && scanned < P; scanned++) {
        if (!take[c]) {
          take[c] = 1;
          added++;
        }
        c = (c + 1) % P;
      }
      const indices: number[] = [];
      for (let i = 0; i < P; i++) if (take[i]) indices.push(i);
      const genesis = this.#genesis;
      const contrib = this.#contrib;
      const values = indices.map((i) => contrib[i] + resid[i]);
      const enc = encodeDelta({
        modelHash: this.model.modelHash,
        epoch: this.#epoch,
        stamp: this.#stamp + 1,
        paramCount: P,
        encoding: this.tuning.encoding,
        indices,
        values,
      });
      const body = this.#deflate(enc.body);
      if (body.length > budget && n > 1 && attempt < 8) {
        n = Math.max(1, Math.floor(n * budget / body.length * 0.97));
        continue;
      }
      if (body.length > budget) throw new Error("Bug: a one-coordinate delta exceeds the budget");
      this.#bytesPerCoord = Math.max(0.3, body.length / indices.length);
      this.#cursor = c;
      this.#stamp++;
      const changes = new Float64Array(indices.length);
      const round = this.#stats.rounds;
      indices.forEach((idx, j) => {
        const now = genesis[idx] + enc.decoded[j];
        contrib[idx] = enc.decoded[j];
        // Change per round since this coordinate was last published (see changeSize).
        changes[j] = Math.abs(now - pub[idx]) / Math.max(1, round - this.#sentRound[idx]);
        this.#sentRound[idx] = round;
        resid[idx] = values[j] - enc.decoded[j];
        pub[idx] = now;
        this.#velocity[idx] = 0; // momentum factor masking (DGC)
      });
      this.#centre = undefined;
      this.#noteNorm(changeSize(changes, indices.length));
      this.#stats.messagesSent++;
      this.#stats.bytesSent += body.length;
      this.#stats.coordinatesSent += indices.length;
      this.#stats.largestBody = Math.max(this.#stats.largestBody, body.length);
      return { type: LearnMessage.Delta, body, rawSize: enc.body.length, coordinates: indices.length };
    }
  }

  #noteNorm(size: number): void {
    if (!(size > 0)) return;
    this.#norms.push(size);
    if (this.#norms.length > NORM_HISTORY) this.#norms.shift();
    this.#slowNorm = this.#slowNorm === 0 ? size : 0.99 * this.#slowNorm + 0.01 * size;
  }

  #normReference(): number {
    // No reference until a few rounds of sizes are known: the first ones are noisy.
    if (this.#norms.length < NORM_WARMUP) return Infinity;
    const s = [...this.#norms].sort((a, b) => a - b);
    // A slow average keeps honest changes of a recent quieter phase (training paused, smaller
    // learning rate) from rejecting the larger ones still in flight or healing a stale copy.
    return Math.max(s[Math.floor(s.length / 2)], this.#slowNorm);
  }

  // ------------------------------------------------------------ receiving

  /**
   * Handles one accepted, signature-checked message (body already inflated by the wire layer).
   * Never throws for bad bodies: the outcome says why it was rejected.
   */
  onMessage(sender: Uint8Array, type: number, body: Uint8Array, now: number): MessageOutcome {
    this.#stats.received++;
    if (sameBytes(sender, this.#selfKey, Math.max(sender.length, this.#selfKey.length))) {
      return this.#reject(undefined, "self", "own message");
    }
    const hex = hexOf(sender);
    const known = this.#peers.get(hex);
    try {
      if (type === LearnMessage.SnapshotRequest) {
        const req = decodeSnapshotRequest(body);
        if (!sameBytes(req.modelHash, this.model.modelHash, MODEL_HASH_SIZE)) {
          return this.#reject(known, "model-mismatch", "snapshot request for another model");
        }
        const forUs = req.targets.length === 0 ||
          req.targets.some((t) => sameBytes(t, this.#selfFp, FINGERPRINT_SIZE));
        if (forUs && !this.#joining && this.#pushRemaining === 0) {
          this.#pushRemaining = this.paramCount;
        }
        this.#stats.accepted++;
        return { accepted: true, applied: 0 };
      }
      let msg: ValuesBody;
      if (type === LearnMessage.Delta) msg = decodeDelta(body);
      else if (type === LearnMessage.SnapshotChunk) msg = decodeChunk(body);
      else return this.#reject(known, "decode", `message type ${type} is not a learning message`);
      return this.#apply(sender, hex, msg, now);
    } catch (e) {
      if (e instanceof DecodeError) return this.#reject(known, "decode", e.message);
      throw e;
    }
  }

  #reject(peer: PeerCopy | undefined, reason: RejectReason, detail: string): MessageOutcome {
    this.#stats.rejected[reason] = (this.#stats.rejected[reason] ?? 0) + 1;
    if (peer) {
      peer.rejected[reason] = (peer.rejected[reason] ?? 0) + 1;
      if (reason !== "stale" && reason !== "model-mismatch") {
        peer.score = Math.max(0, peer.score - this.tuning.scorePenalty);
      }
    }
    return { accepted: false, reason, detail };
  }

  #apply(sender: Uint8Array, hex: string, msg: ValuesBody, now: number): MessageOutcome {
    let peer = this.#peers.get(hex);
    if (
      !sameBytes(msg.modelHash, this.model.modelHash, MODEL_HASH_SIZE) || msg.paramCount !== this.paramCount
    ) {
      return this.#reject(peer, "model-mismatch", "values for another model");
    }
    const { values, indices } = msg;
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        return this.#ensurePeerReject(
          sender,
          hex,
          msg,
          now,
          "non-finite",
          `value at ${indices[i]} is ${values[i]}`,
        );
      }
      if (Math.abs(values[i]) > this.tuning.valueBound) {
        return this.#ensurePeerReject(
          sender,
          hex,
          msg,
          now,
          "value-bound",
          `|value| ${Math.abs(values[i])} at ${indices[i]} exceeds ${this.tuning.valueBound}`,
        );
      }
    }
    if (!peer || peer.epoch !== msg.epoch) {
      peer = this.#newCopy(sender, hex, msg, peer);
    }
    peer.lastHeard = now;
    // Size check over the coordinates this message would change (see changeSize): the change per
    // round of OURS since we last set the coordinate, so a copy left stale by lost (or rejected)
    // messages is not held against the sender, and a sender cannot inflate the gap with its stamps.
    const changes = new Float64Array(indices.length);
    const round = this.#stats.rounds;
    let m = 0;
    for (let i = 0; i < indices.length; i++) {
      const c = indices[i];
      if (msg.stamp <= peer.versions[c]) continue;
      if (peer.versions[c] === 0 && !peer.genesis) continue;
      if (peer.heard[c] < 0) continue;
      changes[m++] = Math.abs(this.#genesis[c] + values[i] - peer.values[c]) /
        Math.max(1, round - peer.heard[c]);
    }
    const size = m > 0 ? changeSize(changes, m) : 0;
    if (m > 0) {
      const ref = this.#normReference();
      if (size > this.tuning.normFactor * ref) {
        return this.#reject(
          peer,
          "norm-bound",
          `change size ${size.toExponential(2)} per round exceeds ${this.tuning.normFactor} × recent ${
            ref.toExponential(2)
          } (stamp ${msg.stamp}, epoch ${msg.epoch}, ${m} coordinates checked)`,
        );
      }
    }
    let applied = 0;
    for (let i = 0; i < indices.length; i++) {
      const c = indices[i];
      if (msg.stamp <= peer.versions[c]) continue;
      if (peer.versions[c] === 0 && !peer.genesis) peer.known++;
      peer.versions[c] = msg.stamp;
      peer.heard[c] = round;
      peer.values[c] = this.#genesis[c] + values[i];
      applied++;
    }
    if (applied === 0) return this.#reject(peer, "stale", `stamp ${msg.stamp} is not newer`);
    this.#centre = undefined;
    if (m > 0 && this.#inSync(peer)) this.#noteNorm(size);
    peer.lastStamp = Math.max(peer.lastStamp, msg.stamp);
    peer.accepted++;
    if (!peer.suspect) peer.score = Math.min(1, peer.score + this.tuning.scoreReward);
    this.#stats.accepted++;
    return { accepted: true, applied };
  }

  #ensurePeerReject(
    sender: Uint8Array,
    hex: string,
    msg: ValuesBody,
    now: number,
    reason: RejectReason,
    detail: string,
  ): MessageOutcome {
    let peer = this.#peers.get(hex);
    if (!peer) peer = this.#newCopy(sender, hex, msg, undefined);
    peer.lastHeard = now;
    return this.#reject(peer, reason, detail);
  }

  #newCopy(sender: Uint8Array, hex: string, msg: ValuesBody, old: PeerCopy | undefined): PeerCopy {
    const genesis = msg.epoch === 0 && msg.stamp <= this.tuning.genesisGraceStamps;
    const peer: PeerCopy = {
      key: sender.slice(),
      hex,
      epoch: msg.epoch,
      genesis,
      // Unknown coordinates hold a neutral value (our public copy) until they arrive.
      values: genesis ? this.#genesis.slice() : this.#pub.slice(),
      versions: new Uint32Array(this.paramCount),
      heard: new Int32Array(this.paramCount).fill(-1),
      known: genesis ? this.paramCount : 0,
      score: old?.score ?? 1,
      lastHeard: old?.lastHeard ?? -Infinity,
      lastStamp: 0,
      accepted: old?.accepted ?? 0,
      rejected: old?.rejected ?? {},
      requestedAt: -Infinity,
      harm: null,
      suspect: false,
    };
    this.#peers.set(hex, peer);
    return peer;
  }

  // ------------------------------------------------------------ evaluation, status

  /**
   * Accuracy and loss on `data` of the working model ("local": what the last round trained from) or of
   * the current robust centre ("consensus": what `inferenceWeights` serves).
   */
  async evaluate(
    data: Samples,
    which: "local" | "consensus" = "local",
  ): Promise<{ accuracy: number; loss: number }> {
    const w = which === "local" || this.#joining ? this.#x : this.#served();
    this.model.setWeights(w);
    return await this.model.evaluate(data.x, data.y, data.count);
  }

  /** Counters and per-peer state. */
  stats(now: number): LearnerStats {
    let sq = 0;
    for (let i = 0; i < this.paramCount; i++) sq += this.#resid[i] ** 2;
    return {
      ...this.#stats,
      rejected: { ...this.#stats.rejected },
      epoch: this.#epoch,
      stamp: this.#stamp,
      joining: this.#joining,
      residualRms: Math.sqrt(sq / this.paramCount),
      learningRate: this.#learningRate,
      peers: [...this.#peers.values()].map((p) => ({
        key: p.hex,
        epoch: p.epoch,
        score: p.score,
        ignored: p.score < this.tuning.scoreThreshold || now - p.lastHeard > this.tuning.peerTimeoutMs,
        inSync: this.#inSync(p),
        coverage: p.genesis ? 1 : p.known / this.paramCount,
        accepted: p.accepted,
        rejected: { ...p.rejected },
        lastStamp: p.lastStamp,
        harm: p.harm,
      })),
    };
  }

  /**
   * The weights to serve predictions with: the current swarm model (robust centre of the pseudo-models;
   * a joining node serves its working model until it has caught up).
   */
  inferenceWeights(): Float32Array {
    return (this.#joining ? this.#x : this.#served()).slice();
  }

  #served(): Float32Array {
    return this.#avg ?? this.#currentCentre();
  }

  /** The residual r (local progress not yet published; a copy). */
  residual(): Float32Array {
    return this.#resid.slice();
  }

  /** Our pseudo-model P = x₀ + C as published (what peers should hold of us). */
  publicCopy(): Float32Array {
    return this.#pub.slice();
  }

  /** A peer's copy as we hold it (undefined if unknown). */
  peerCopy(key: Uint8Array): Float32Array | undefined {
    return this.#peers.get(hexOf(key))?.values.slice();
  }

  // ------------------------------------------------------------ checkpoints

  /**
   * Working model, pseudo-model P = x₀ + C, residual and peers' copies as bytes, for the state helper's
   * checksummed writer.
   *
   * | field | type | notes |
   * |---|---|---|
   * | magic, version | u32, u32 | `ALRN`, 2 |
   * | modelHash | 8 bytes | |
   * | paramCount, epoch, stamp, cursor, rounds, steps | u32 ×6 | |
   * | x, contrib, resid, genesis | f32 × paramCount ×4 | working model, contribution C, residual, shared init |
   * | peers | u32 | then per peer: key length u8, key, epoch u32, genesis u8, score f32, known u32, values f32×P, versions u32×P |
   */
  checkpoint(): Uint8Array {
    const P = this.paramCount;
    const peers = [...this.#peers.values()];
    let size = 8 + 8 + 24 + 16 * P + 4;
    for (const p of peers) size += 1 + p.key.length + 4 + 1 + 4 + 4 + 8 * P;
    const out = new Uint8Array(size);
    const v = new DataView(out.buffer);
    let o = 0;
    const u32 = (n: number) => {
      v.setUint32(o, n >>> 0, true);
      o += 4;
    };
    const f32s = (a: Float32Array) => {
      out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), o);
      o += a.byteLength;
    };
    u32(CHECKPOINT_MAGIC);
    u32(CHECKPOINT_VERSION);
    out.set(this.model.modelHash, o);
    o += 8;
    [P, this.#epoch, this.#stamp, this.#cursor, this.#stats.rounds, this.#stats.steps].forEach(u32);
    f32s(this.#x);
    f32s(this.#contrib);
    f32s(this.#resid);
    f32s(this.#genesis);
    u32(peers.length);
    for (const p of peers) {
      out[o++] = p.key.length;
      out.set(p.key, o);
      o += p.key.length;
      u32(p.epoch);
      out[o++] = p.genesis ? 1 : 0;
      v.setFloat32(o, p.score, true);
      o += 4;
      u32(p.known);
      f32s(p.values);
      out.set(new Uint8Array(p.versions.buffer, p.versions.byteOffset, p.versions.byteLength), o);
      o += 4 * P;
    }
    return out;
  }

  /**
   * Resumes from {@linkcode checkpoint} bytes: working model, pseudo-model, residual and peers' copies.
   * Our pseudo-model gets a new epoch (peers may hold newer values than the checkpoint), so it is pushed again in
   * snapshot chunks, and we ask every peer for a snapshot to refresh our copies of them.
   * Throws {@linkcode DecodeError} if the bytes are not a checkpoint of this model.
   */
  restore(bytes: Uint8Array, now: number): void {
    const P = this.paramCount;
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let o = 0;
    const need = (n: number) => {
      if (o + n > bytes.length) {
        throw new DecodeError(
          DecodeErrorCode.Truncated,
          `Cannot restore checkpoint: cut off at byte ${o}`,
          o,
        );
      }
    };
    const u32 = () => {
      need(4);
      const r = v.getUint32(o, true);
      o += 4;
      return r;
    };
    const f32s = () => {
      need(4 * P);
      const a = new Float32Array(P);
      new Uint8Array(a.buffer).set(bytes.subarray(o, o + 4 * P));
      o += 4 * P;
      return a;
    };
    if (u32() !== CHECKPOINT_MAGIC) {
      throw new DecodeError(DecodeErrorCode.BadMagic, "Cannot restore checkpoint: bad magic", 0);
    }
    const version = u32();
    if (version !== CHECKPOINT_VERSION) {
      throw new DecodeError(
        DecodeErrorCode.BadVersion,
        `Cannot restore checkpoint: unknown version ${version}`,
        4,
      );
    }
    need(8);
    if (!sameBytes(bytes.subarray(8, 16), this.model.modelHash, 8)) {
      throw new DecodeError(
        DecodeErrorCode.BadValue,
        "Cannot restore checkpoint: it belongs to another model",
        8,
      );
    }
    o = 16;
    const count = u32();
    if (count !== P) {
      throw new DecodeError(
        DecodeErrorCode.BadValue,
        `Cannot restore checkpoint: ${count} parameters, model has ${P}`,
        16,
      );
    }
    u32(); // old epoch: replaced below
    const stamp = u32();
    const cursor = u32();
    const rounds = u32();
    const steps = u32();
    const x = f32s();
    const pub = f32s(); // the contribution C; P = x₀ + C is derived
    const resid = f32s();
    const genesis = f32s();
    const nPeers = u32();
    const peers = new Map<string, PeerCopy>();
    for (let i = 0; i < nPeers; i++) {
      need(1);
      const kl = bytes[o++];
      need(kl);
      const key = bytes.slice(o, o + kl);
      o += kl;
      const epoch = u32();
      need(1);
      const isGenesis = bytes[o++] === 1;
      need(4);
      const score = v.getFloat32(o, true);
      o += 4;
      const known = u32();
      const values = f32s();
      need(4 * P);
      const versions = new Uint32Array(P);
      new Uint8Array(versions.buffer).set(bytes.subarray(o, o + 4 * P));
      o += 4 * P;
      const hex = hexOf(key);
      peers.set(hex, {
        key,
        hex,
        epoch,
        genesis: isGenesis,
        values,
        versions,
        // Values from the checkpoint may be far behind the peer by now: their first update is not checked.
        heard: new Int32Array(P).fill(-1),
        known: Math.min(known, P),
        score: Number.isFinite(score) ? Math.max(0, Math.min(1, score)) : 0,
        lastHeard: now,
        lastStamp: 0,
        accepted: 0,
        rejected: {},
        requestedAt: -Infinity,
        harm: null,
        suspect: false,
      });
    }
    if (o !== bytes.length) {
      throw new DecodeError(
        DecodeErrorCode.TrailingBytes,
        `Cannot restore checkpoint: ${bytes.length - o} extra bytes`,
        o,
      );
    }
    this.#x = x;
    this.#genesis = genesis;
    this.#setContrib(pub);
    this.#resid = resid;
    this.#centre = undefined;
    this.#merged = [];
    this.#mixed = false;
    this.#avg = undefined;
    this.#stamp = stamp;
    this.#cursor = cursor % P;
    this.#stats.rounds = rounds;
    this.#stats.steps = steps;
    this.#sentRound.fill(rounds);
    this.#peers = peers;
    this.#joining = false;
    this.model.setWeights(x);
    this.#newEpoch();
    this.#requestAll = true;
  }
}
