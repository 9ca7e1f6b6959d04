/**
 * The swarm learner: one node's local training, compressed publication of its contribution, and robust
 * merging of its peers' contributions. A pure object — clock readings, randomness and the model come in
 * as parameters; it never touches sockets or timers. The daemon (or the simulation) drives it:
 *
 * ```ts
 * await learner.train(localSteps);      // optimizer steps from the swarm model on local data only
 * learner.mix(now);                     // choose the peers to merge; swarm model = robust centre
 * for (const m of learner.outgoing(budget)) send(m.type, m.body);   // DEFLATEd bodies ≤ budget
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
 *    every copy by at most `clipFactor` × the median distance; a copy beyond that radius t, at distance
 *    d, by t × (t/d)^`farPower`: redescending), or trimmed mean, median or plain mean.
 *    Clipping bounds what a peer whose pseudo-model drifts away can do; the message checks (5.) exclude
 *    senders of impossible values and slow down fast movers. `clipFactor` is 3: tighter, an honest
 *    node whose data differs is under-weighted and its C_i winds up. With `fanIn` > 0 and more live boards
 *    than that (the roster `mix` is given), only a committee of `fanIn` boards, the same for everyone and
 *    handed over one slot at a time, trains and publishes, and only its copies are kept and merged
 *    (`_committee.ts`).
 * 5. Checks, which exclude a peer only on evidence no honest learner produces, and otherwise bound
 *    its influence (`_peers.ts`, `_change_guard.ts`, `_validation.ts`):
 *    - a message with a non-finite value or a |value| beyond max(`valueBound`, `valueFactor` × our own
 *      largest |value|) is rejected. Each peer has a score in [0, 1]: −`scorePenalty` per such rejection, +`scoreReward` per accepted message; below
 *      `scoreThreshold` the peer is left out of the merge (`stats().peers[].ignored`) until it
 *      recovers. Stale messages (duplicates, replays) change nothing and cost no score.
 *    - the change-size guard: a message whose change to our copy (90th percentile of |change| per
 *      round since we last set that coordinate; the shared init of a genesis copy dates from round 0)
 *      exceeds `normFactor` × the median of recent changes (our own publications included) — for a
 *      snapshot chunk, plus its int8 grid step (re-sent on another grid, a value moves by up to a step;
 *      at most 2 × our own step) — is
 *      APPLIED AT THAT BOUNDED RATE (its changes scaled down), and costs no score; one beyond 4 × the
 *      bound (`MIN_SHARE`) is not applied. Each peer's PACE (moving average of the squared share
 *      of its change beyond its int8 grid step — each coordinate's move less up to one of our own
 *      steps, so rounding is not speed, for Deltas too; 0 for a message not applied; that share also
 *      decides `MIN_SHARE`) to the power `pacePower` scales its clip radius in the
 *      merge WHILE ITS COPY LIES BEYOND THE RADIUS (below `PACE_MIN`, < 7e-12 of it: reported
 *      `damped`), and wherever it lies while it is below `PACE_MIN`, was first heard at the swarm's
 *      start and we accepted fewer than `TENURE` (100) messages from it. The pace NEVER LEAVES A PEER
 *      OUT: it stays in the merge and gets its pull back as soon as its copy comes within the radius or
 *      it slows down. An honest peer's copy lies within the radius (under one class per node too, where
 *      the only holder of a digit is slowed on a third of its messages for hundreds of rounds) and keeps
 *      its pull (under Dirichlet 0.1 skew whole swarms of honest peers fell below `PACE_MIN` while their
 *      coarse int8 grids read as speed, before the rounding was discounted); a peer that keeps pushing
 *      faster than the swarm, far from the others (a boosted model replacement), loses its pull, and so
 *      does a slow peer new to us at the swarm's start (the same attacker in its first rounds, when every
 *      copy is still far from the others and its copy can lie within the radius). Until 2026-12-01
 *      (eighth session) such peers were left out (ignored); under Dirichlet 0.1 with churn that ignored
 *      1–6 honest boards per seed for a while.
 *    - validation: every `validateEvery` rounds each in-sync peer's copy is evaluated on our local
 *      held-out rows (`validation`); a peer whose model's loss exceeds the swarm model's by more than
 *      `harmMin` and more than `harmFactor` × the lower median of the peers' is SUSPECT: reported
 *      (`stats().peers[].suspect`, `harm`) and merged with the clip radius `suspectClip` (default: the
 *      same as everyone's) until it passes. Under label skew an honest peer's model IS worse on our
 *      digits, so this check cannot tell "different data" from "malicious": it never excludes, and by
 *      default it does not even clip tighter. A labelflip attacker is held by the centered clipping.
 *    - the local training guard (`_local_training.ts`): our own rows cannot make our messages jump. Rows
 *      with a non-finite value or an L2 norm beyond `rowOutlier` × the recent rows' median are skipped,
 *      a non-finite round is dropped, and a round's update larger than `updateClip` × the median of the
 *      recent rounds' is scaled down to it.
 * 6. Catch-up: a SnapshotRequest names peers by key prefix (or nobody = everyone); each named peer then
 *    pushes its whole pseudo-model as SnapshotChunks, `chunksPerRound` per round. A node created with
 *    `joining: true` publishes nothing, asks everyone for snapshots, and once its copies of the peers it
 *    hears are in sync it ADOPTS their robust centre as its pseudo-model (P_i = m: adding it leaves the
 *    swarm model unchanged) and continues the rate schedule at the round its live peers report in their
 *    Hellos (without reports: at their stamps), then contributes like everyone else. A node that hears a
 *    peer whose history it missed (unknown epoch, or genesis epoch first heard at a late stamp) asks that
 *    peer — not while that peer's chunks are arriving (it is pushing already), nor within
 *    `requestEveryRounds` of anyone's request for it (requests and pushes are broadcast: one serves
 *    everyone). A new epoch is pushed twice over, so at 10% loss almost nobody has to ask (one pass leaves
 *    4 boards in 10 under `syncCoverage`).
 * 7. Epochs: a joiner adopting the centre (its pseudo-model jumps) picks a new random epoch and pushes
 *    its whole pseudo-model; peers then forget their copy of it and rebuild it from the chunks, merging
 *    it only once `syncCoverage` of the coordinates are known. A node restarted from a checkpoint keeps
 *    its epoch (its peers keep merging their copy of it), continues its stamps past the checkpoint's
 *    (`resumedStamp`) and pushes its whole pseudo-model. Checkpoints keep C_i (as P_i), r_i and the
 *    peers' copies.
 * 8. Learning-rate schedule (`learningRate`, `rateDecayRounds`, `rateFinal`, `rateSchedule`): a function
 *    of the node's round count — `step` keeps `learningRate` until `rateDecayRounds`, then `rateFinal`;
 *    `cosine` anneals from one to the other over `rateDecayRounds` rounds. Applied through the model's
 *    `setLearningRate` before each round (learningRate 0 = leave the model's rate alone).
 * 9. Served model (`inferenceWeights`, `averaging`): the swarm model, and from `rateDecayRounds` on an
 *    exponential moving average of it (decay `averaging` per round, as in SWA/Polyak averaging). In the
 *    final phase the swarm model still jitters by the last rounds' SGD noise and by which coordinates
 *    just arrived; the average removes most of it. Not persisted.
 * 10. Consensus pull (`pull`): each round the residual also gets −pull × (P_i − m), so our pseudo-model
 *    moves a share of the way towards the swarm model. With the mean as centre the pulls of all nodes
 *    sum to zero (Σ(P_i − m) = 0), so the swarm model does not move; what changes is the nodes'
 *    spread. Without it, under label skew every node's gradient at the swarm model keeps a component
 *    the others cancel (its own classes up, the rest down), so each C_i drifts away linearly for ever,
 *    the int8 scale of the absolute values grows with it and quantization noise swamps the updates.
 *    With the pull the drift settles where the pull cancels it, and the residual then accumulates the
 *    nodes' COMMON direction only (a local control variate, as in SCAFFOLD).
 *
 * Measurements, the variants that did not help and the defences' trade-offs: docs/learning.md.
 * Files: `_tuning.ts` (tunables, schedule), `_publish.ts` (contribution, residual, Delta/Chunk),
 * `_peers.ts` (a copy, applying values), `_peer_table.ts` (receiving: every peer, checks, counters),
 * `_merge.ts` (robust centre, served average), `_join.ts` (catch-up), `_change_guard.ts`,
 * `_validation.ts`, `_local_training.ts` (batches, local guard), `_state.ts` (checkpoint bytes); this
 * file coordinates them.
 *
 * One idea needs this length: the algorithm above is documented where it runs (≈ 110 lines of this
 * comment); the coordinator's code itself is ≈ 420 lines, one method per step of the round.
 *
 * @module
 */
import type { Random } from "../time.ts";
import { toHex } from "../bytes.ts";
import { encodeSnapshotRequest, FINGERPRINT_SIZE, MODEL_HASH_SIZE, snapshotBytes } from "./codec.ts";
import { FRAME_OVERHEAD } from "../wire/mod.ts";
import { LocalTrainer } from "./_local_training.ts";
import { clipScale, mergeableNow, paceScale, robustCentre, servedAverage } from "./_merge.ts";
import { Committee, slotOwners } from "./_committee.ts";
import { joinStep } from "./_join.ts";
import { damped, inSync, mergeable, type PeerCopy, trusted } from "./_peers.ts";
import { PeerTable, sameBytes } from "./_peer_table.ts";
import { Publication, type PublishContext } from "./_publish.ts";
import { decodeState, encodeState, resumedStamp } from "./_state.ts";
import { type LearnerOptions, type LearnerTuning, resolveTuning, scheduledRate } from "./_tuning.ts";
import {
  type LearnerModel,
  type LearnerStats,
  LearnMessage,
  type MessageOutcome,
  type OutgoingMessage,
  type Samples,
} from "./_types.ts";

/**
 * Passes of the push a new epoch starts: with a loss rate p a peer misses p of one pass (10%: under the
 * sync coverage for 4 boards in 10, and one request starts a whole pass again, after a wait); of two it
 * misses p², and nobody needs to ask (100 boards: requests 3% → 0.1% of the bytes, chunks unchanged).
 */
const NEW_EPOCH_PASSES = 2;

export {
  type IgnoreReason,
  type LearnerModel,
  type LearnerStats,
  LearnMessage,
  type MessageOutcome,
  type OutgoingMessage,
  type PeerStatus,
  type RejectReason,
  type Samples,
} from "./_types.ts";
export { slotOwners } from "./_committee.ts";
export { robustCentre } from "./_merge.ts";
export {
  DEFAULT_LEARNER_OPTIONS,
  type LearnerOptions,
  type LearnerTuning,
  type RateSchedule,
  scheduledRate,
} from "./_tuning.ts";

/**
 * Least share of the uncompressed bound a measured pass is counted at. DEFLATE shrinks a trained model's
 * int8 chunks to about half the bound (mnist-mlp after 200–600 rounds: 0.52); what a board that has not
 * trained yet pushes (its all-zero contribution) shrinks to a few percent, and its next handover will not.
 */
const MIN_MEASURED_PASS = 0.5;

/**
 * Bytes on the air of a new epoch's push ({@linkcode NEW_EPOCH_PASSES} passes): each pass at `measuredPass`
 * bytes when known, never above the uncompressed {@linkcode snapshotBytes} nor below
 * {@linkcode MIN_MEASURED_PASS} of it.
 */
export function handoverBound(
  paramCount: number,
  encoding: LearnerTuning["encoding"],
  maxDatagram: number,
  measuredPass?: number,
): number {
  const bound = snapshotBytes(paramCount, encoding, maxDatagram);
  const pass = Math.min(bound, Math.max(MIN_MEASURED_PASS * bound, measuredPass ?? bound));
  return NEW_EPOCH_PASSES * Math.ceil(pass);
}

/** See the module documentation. */
export class SwarmLearner {
  #tuning: LearnerTuning;
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
  /** Our contribution, residual and their publication. */
  #out: Publication;
  /** Robust centre of the merged copies; undefined when a copy changed since it was computed. */
  #centre: Float32Array | undefined;
  /** Moving average of the swarm model served in the final phase (see `averaging`). */
  #avg: Float32Array | undefined;
  /** Peers chosen by the last `mix`. */
  #merged: PeerCopy[] = [];
  /** False after a restore until the next `mix`: the restored working model stands until then. */
  #mixed = true;
  /** Rounds trained from a live swarm model since this learner started or was restored (`trimWarmupRounds`). */
  #liveRounds = 0;
  #learningRate = 0;
  #epoch = 0;
  #joining: boolean;
  #joinRounds = 0;
  #requestAll = false;
  #peers: PeerTable;
  /** Our hex key (the committee's draw). */
  #self: string;
  #committee = new Committee();
  #trainer: LocalTrainer;
  #stats = {
    rounds: 0,
    steps: 0,
    lastLoss: NaN,
    messagesSent: 0,
    bytesSent: 0,
    coordinatesSent: 0,
    largestBody: 0,
  };

  constructor(options: LearnerOptions) {
    this.#tuning = Object.freeze(resolveTuning(options));
    this.model = options.model;
    this.paramCount = options.model.paramCount;
    if (options.model.modelHash.length !== MODEL_HASH_SIZE) {
      throw new Error("Bug: model hash must be 8 bytes");
    }
    this.#data = options.data;
    this.#validation = options.validation;
    this.#features = options.features;
    this.#rng = options.rng;
    this.#trainer = new LocalTrainer(options.rng);
    this.#selfKey = options.selfKey.slice();
    this.#selfFp = options.selfKey.slice(0, FINGERPRINT_SIZE);
    this.#self = toHex(options.selfKey);
    this.#deflate = options.deflate;
    this.#x = options.model.getWeights().slice();
    if (this.#x.length !== this.paramCount) {
      throw new Error("Bug: getWeights() length differs from paramCount");
    }
    this.#out = new Publication(this.#x);
    this.#peers = new PeerTable(this.tuning);
    this.#joining = options.joining ?? false;
    if (this.#joining) this.#requestAll = true;
  }

  /** The tuning in force: frozen; {@linkcode retune} replaces it. */
  get tuning(): LearnerTuning {
    return this.#tuning;
  }

  /** Replaces the tuning by a copy with `changes` applied (a live config reload, the airtime plan). */
  retune(changes: Partial<LearnerTuning>): void {
    this.#tuning = Object.freeze({ ...this.#tuning, ...changes });
    this.#peers.tuning = this.#tuning;
  }

  /** Replaces the local training data (e.g. after samples were appended). */
  setData(data: Samples): void {
    this.#data = data;
    this.#trainer.reshuffle();
  }

  /** Replaces the local held-out rows used to check what each peer does to our model. */
  setValidation(data: Samples): void {
    this.#validation = data;
  }

  /** True while catching up from snapshots (no publication yet). */
  get joining(): boolean {
    return this.#joining;
  }

  /** Holds a committee seat: trains and publishes (always true without bounded fan-in). */
  get member(): boolean {
    return this.#committee.member;
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
   * adds the (guarded) change to the residual, published later by `outgoing`. Resolves to the mean loss
   * (NaN without data).
   */
  async train(steps: number): Promise<number> {
    this.#stats.rounds++;
    const lr = scheduledRate(this.tuning, this.#stats.rounds);
    if (lr > 0 && this.model.setLearningRate && lr !== this.#learningRate) this.model.setLearningRate(lr);
    this.#learningRate = lr;
    const live = !this.#joining && this.#mixed;
    if (live) {
      this.#x = this.#currentCentre();
      this.#liveRounds++;
    }
    const every = this.tuning.validateEvery;
    if (every > 0 && this.#stats.rounds % every === 0 && live) await this.#validatePeers();
    // Off the committee (bounded fan-in): serve the committee's model, train nothing.
    if (live && !this.#committee.member) return NaN;
    const start = this.#x;
    const warmingUp = this.tuning.lossTrim > 0 && this.#liveRounds <= this.tuning.trimWarmupRounds;
    const opts = warmingUp ? { ...this.tuning, lossTrim: 0 } : this.tuning;
    const round = await this.#trainer.run(this.model, this.#data, this.#features, start, steps, opts);
    if (!round) return NaN;
    this.#stats.steps += round.steps;
    // Consensus pull (point 10): our pseudo-model moves towards the swarm model we trained from.
    this.#out.addRound(round.delta, this.tuning.momentum, live ? this.tuning.pull : 0, start);
    this.#stats.lastLoss = round.loss;
    return round.loss;
  }

  /** The validation check (point 5) of every in-sync peer: suspects are merged with a tighter clip. */
  async #validatePeers(): Promise<void> {
    const input = { model: this.model, data: this.#validation, features: this.#features };
    if (await this.#peers.validate(input, this.#currentCentre())) this.#centre = undefined;
  }

  // ------------------------------------------------------------ mixing

  /** Robust centre of our pseudo-model and the merged peers' copies (cached until a copy changes). */
  #currentCentre(): Float32Array {
    if (this.#centre) return this.#centre;
    // Our own pseudo-model counts while we hold a committee seat or stand in for our successor (always
    // without bounded fan-in).
    const own = this.#committee.own || this.#merged.length === 0 ? 1 : 0;
    const copies = own ? [this.#out.pub] : [];
    const scales = own ? [1] : [];
    const paceScales = own ? [1] : [];
    // The copies the last mix chose, as held now (a new epoch's copy once in sync), trusted and in sync.
    let merged = this.#merged.flatMap((p) =>
      mergeableNow(this.#peers.get(p.hex), this.tuning, mergeable) ?? []
    );
    // A rule that cannot bound one copy's pull (mean, median, trimmed mean; centered clipping of fewer
    // than 3 copies is the mean) gives a damped peer none.
    if (this.tuning.rule !== "clip" || own + merged.length < 3) merged = merged.filter((p) => !damped(p));
    for (const p of merged) {
      copies.push(p.values);
      scales.push(clipScale(p, this.tuning));
      paceScales.push(paceScale(p, this.tuning));
    }
    const beyond: boolean[] = [];
    this.#centre = robustCentre(copies, this.paramCount, this.tuning, scales, paceScales, beyond);
    // Which copies lay beyond the clip radius: only those lose their pull for their pace.
    merged.forEach((p, j) => p.far = beyond[j + own] ?? false);
    return this.#centre;
  }

  /**
   * Chooses the peers whose copies are merged (trusted, recently heard, in sync). A joining node instead
   * adopts the centre of its peers' copies as its pseudo-model once they are in sync. `roster` lists the
   * hex keys of the live trusted boards (this one need not be listed): with `fanIn` > 0 and more boards
   * than that, only the committee's copies are kept and merged (`_committee.ts`); without a roster every
   * peer is. Returns how many peers are merged.
   */
  mix(now: number, roster?: readonly string[], reportedRounds?: readonly number[]): number {
    const peers = this.#peers.mergeable(now);
    this.#mixed = true;
    if (this.#joining) return this.#join(now, peers, reportedRounds);
    this.#merged = this.#committeeStep(now, roster, peers);
    this.#centre = undefined;
    this.#avg = servedAverage(this.#avg, () => this.#currentCentre(), this.#stats.rounds, this.tuning);
    return peers.length;
  }

  /** This round's committee (bounded fan-in): the copies to merge; takes a slot over when one is won. */
  #committeeStep(now: number, roster: readonly string[] | undefined, peers: PeerCopy[]): PeerCopy[] {
    const k = this.tuning.fanIn;
    // Every live board, this one included (a simulation's roster lists it; the daemon's does not).
    const boards = roster && k > 0
      ? (roster.includes(this.#self) ? roster : [...roster, this.#self])
      : undefined;
    const owners = boards && boards.length > k
      ? slotOwners(boards, k, this.tuning.fanInPeriodMs, now)
      : undefined;
    const ready = new Map(peers.map((p) => [p.hex, p]));
    // An outgoing holder stopped publishing when it left: its copy stands in without the timeout.
    const standIn = (hex: string) => {
      const p = this.#peers.get(hex);
      return p !== undefined && trusted(p, this.tuning) && inSync(p, this.tuning);
    };
    const entry = {
      // An early copy (heard entering before we saw it enter) is already the new epoch's, not one held before.
      epochOf: (hex: string) => this.#peers.isEarly(hex) ? undefined : this.#peers.get(hex)?.epoch,
      now,
      graceMs: this.tuning.fanInPeriodMs / k,
    };
    const step = this.#committee.step(owners, this.#self, (hex) => ready.has(hex), standIn, entry);
    if (step.adopt !== undefined) {
      // The seat's share of the swarm model moves over: the outgoing holder's pseudo-model (or the swarm
      // model), ours from now on, pushed whole under a new epoch.
      const v = step.adopt === null ? this.#currentCentre() : this.#peers.get(step.adopt)!.values;
      this.#out.setContrib(v.map((x, i) => x - this.#out.genesis[i]));
      this.#out.resid.fill(0);
      this.#newEpoch();
    }
    this.#peers.restrict(owners && step.keep, step.heirs, now);
    if (!step.member) this.#out.resid.fill(0);
    return owners ? step.merge.map((hex) => ready.get(hex) ?? this.#peers.get(hex)!) : peers;
  }

  #join(now: number, peers: PeerCopy[], reportedRounds?: readonly number[]): number {
    this.#joinRounds++;
    const heard = this.#peers.all().filter((p) =>
      now - p.lastHeard <= this.tuning.peerTimeoutMs && p.score >= this.tuning.scoreThreshold
    );
    const step = joinStep(peers, heard, this.#joinRounds, this.paramCount, this.tuning, reportedRounds);
    if (step.kind === "wait") {
      if (step.askAgain) this.#requestAll = true;
      return 0;
    }
    this.#joining = false;
    this.#centre = undefined;
    if (step.kind === "genesis") {
      this.#out.resid.fill(0);
      this.#out.sentRound.fill(this.#stats.rounds);
      return 0;
    }
    this.#stats.rounds = Math.max(this.#stats.rounds, step.swarmRounds);
    this.#out.sentRound.fill(this.#stats.rounds);
    this.#x = step.centre;
    this.model.setWeights(step.centre);
    this.#out.setContrib(step.centre.map((v, i) => v - this.#out.genesis[i]));
    // Progress made before joining was relative to another model: drop it.
    this.#out.resid.fill(0);
    this.#newEpoch();
    this.#merged = peers;
    return peers.length;
  }

  #newEpoch(): void {
    let e = 0;
    while (e === 0) e = this.#rng.nextU32();
    this.#epoch = e;
    // Peers forget their copy of us on a new epoch: push the whole pseudo-model, twice over. With a loss
    // rate p a peer misses p of one pass (10%: under the sync coverage for 4 boards in 10, and one request
    // starts a whole pass again, after a wait); of two passes it misses p², and nobody needs to ask.
    this.#out.pushAll(NEW_EPOCH_PASSES);
  }

  // ------------------------------------------------------------ publication

  /** Bodies to broadcast this round, each DEFLATEd to at most `budget` bytes. */
  outgoing(budget: number): OutgoingMessage[] {
    if (budget < 64) throw new Error(`Bug: body budget ${budget} is too small`);
    const out: OutgoingMessage[] = [];
    const req = this.#snapshotRequest();
    if (req) {
      const body = this.#deflate(req);
      out.push({ type: LearnMessage.SnapshotRequest, body, rawSize: req.length, coordinates: 0 });
    }
    if (!this.#joining && this.#committee.member) {
      const ctx: PublishContext = {
        modelHash: this.model.modelHash,
        epoch: this.#epoch,
        encoding: this.tuning.encoding,
        round: this.#stats.rounds,
        deflate: this.#deflate,
      };
      const sent = this.#out.messages(budget, ctx, this.tuning, (size) => this.#peers.changes.note(size));
      if (sent.length > 0) this.#centre = undefined;
      out.push(...sent);
    }
    for (const m of out) {
      this.#stats.messagesSent++;
      this.#stats.bytesSent += m.body.length;
      this.#stats.coordinatesSent += m.coordinates;
      this.#stats.largestBody = Math.max(this.#stats.largestBody, m.body.length);
    }
    return out;
  }

  #snapshotRequest(): Uint8Array | undefined {
    const targets = this.#requestAll ? [] : this.#peers.snapshotTargets(this.#stats.rounds);
    if (!this.#requestAll && targets.length === 0) return undefined;
    this.#requestAll = false;
    return encodeSnapshotRequest({ modelHash: this.model.modelHash, targets });
  }

  // ------------------------------------------------------------ receiving

  /**
   * Handles one accepted, signature-checked message (body already inflated by the wire layer).
   * Never throws for bad bodies: the outcome says why it was rejected.
   */
  onMessage(sender: Uint8Array, type: number, body: Uint8Array, now: number): MessageOutcome {
    const outcome = this.#peers.receive(sender, type, body, now, {
      selfKey: this.#selfKey,
      modelHash: this.model.modelHash,
      paramCount: this.paramCount,
      genesis: this.#out.genesis,
      pub: this.#out.pub,
      round: this.#stats.rounds,
      valueBound: () => Math.max(this.tuning.valueBound, this.tuning.valueFactor * this.#out.ownScale()),
      ownStep: () => this.#out.ownScale() / 127,
      onRequest: (targets) => {
        this.#peers.heardRequest(targets, this.#stats.rounds);
        const forUs = targets.length === 0 ||
          targets.some((t) => sameBytes(t, this.#selfFp, FINGERPRINT_SIZE));
        if (forUs && !this.#joining && this.#committee.member && this.#out.pushRemaining === 0) {
          this.#out.pushAll();
        }
      },
    });
    if (outcome.accepted && outcome.applied > 0) this.#centre = undefined;
    return outcome;
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
    for (const v of this.#out.resid) sq += v * v;
    const { skippedRows, trimmedRows, clippedRounds, droppedRounds } = this.#trainer.guard;
    const t = this.#peers;
    return {
      ...this.#stats,
      received: t.received,
      accepted: t.accepted,
      rejected: { ...t.rejected },
      epoch: this.#epoch,
      stamp: this.#out.stamp,
      joining: this.#joining,
      member: this.#committee.member,
      committee: this.#committee.holders,
      residualRms: Math.sqrt(sq / this.paramCount),
      learningRate: this.#learningRate,
      localGuard: { skippedRows, trimmedRows, clippedRounds, droppedRounds },
      peers: t.statuses(now),
    };
  }

  /** Hex keys of the peers left out of the merge now (`stats(now).peers[].ignored`, cheaper). */
  ignoredPeers(now: number): string[] {
    return this.#peers.ignored(now);
  }

  /** Hex keys of the merged peers whose pace takes their pull now (`stats(now).peers[].damped`). */
  dampedPeers(): string[] {
    return this.#peers.damped();
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
    return this.#out.resid.slice();
  }

  /** Our pseudo-model P = x₀ + C as published (what peers should hold of us). */
  publicCopy(): Float32Array {
    return this.#out.pub.slice();
  }

  /** A peer's copy as we hold it (undefined if unknown). */
  peerCopy(key: Uint8Array): Float32Array | undefined {
    return this.#peers.get(toHex(key))?.values.slice();
  }

  /**
   * Bytes on the air of the push a new epoch starts (a committee seat taken: {@linkcode snapshotBytes}
   * per pass, twice over), in datagrams of `maxDatagram` bytes: measured from the last pass's worth of
   * chunks sent once there is one (DEFLATE halves a trained model's int8 values), the
   * uncompressed bound before; see {@linkcode handoverBound}.
   */
  handoverBytes(maxDatagram: number): number {
    const measured = this.#out.measuredPassBytes(FRAME_OVERHEAD);
    return handoverBound(this.paramCount, this.tuning.encoding, maxDatagram, measured);
  }

  // ------------------------------------------------------------ checkpoints

  /** Working model, pseudo-model, residual and peers' copies as bytes (format in `_state.ts`). */
  checkpoint(): Uint8Array {
    return encodeState({
      modelHash: this.model.modelHash,
      epoch: this.#epoch,
      stamp: this.#out.stamp,
      cursor: this.#out.cursor,
      rounds: this.#stats.rounds,
      steps: this.#stats.steps,
      x: this.#x,
      contrib: this.#out.contrib,
      resid: this.#out.resid,
      genesis: this.#out.genesis,
      peers: this.#peers.all(),
      standby: [...this.#peers.standby.values()],
    });
  }

  /**
   * Resumes from {@linkcode checkpoint} bytes: working model, pseudo-model, residual and peers' copies.
   * Our pseudo-model keeps its epoch and its stamps jump past anything sent since the checkpoint
   * ({@linkcode resumedStamp}); it is pushed again in snapshot chunks (peers may hold newer values than
   * the checkpoint), and we ask every peer for a snapshot to refresh our copies of them. A checkpoint
   * older than `peerTimeoutMs` (`ageMs`: how long ago it was written) is only a starting point: the node
   * catches up as a joiner (copies rebuilt from snapshots, the swarm's centre adopted under a new epoch).
   * Throws {@linkcode DecodeError} if the bytes are not a checkpoint of this model.
   */
  restore(bytes: Uint8Array, now: number, ageMs = 0): void {
    const s = decodeState(bytes, this.model.modelHash, this.paramCount, now);
    this.#out = Publication.restored({ ...s, stamp: resumedStamp(s.stamp) });
    this.#x = s.x;
    this.#centre = undefined;
    this.#mixed = false;
    this.#liveRounds = 0;
    this.#avg = undefined;
    this.#stats.rounds = s.rounds;
    this.#stats.steps = s.steps;
    this.#peers.replace(s.peers, s.standby);
    // Serve the swarm model of the checkpoint until the next mix (our pseudo-model alone is only our
    // share of it: near chance among peers).
    this.#merged = this.#peers.mergeable(now);
    this.#joining = false;
    this.model.setWeights(s.x);
    this.#epoch = s.epoch;
    this.#requestAll = true;
    if (ageMs > this.tuning.peerTimeoutMs) {
      // Away longer than the peer timeout: the swarm stopped merging us and moved on. Our pseudo-model
      // and our copies are stale; pushing them would pull every board back towards the past (the whole
      // swarm dipped at each return, and the catch-up's fast changes got honest boards left out for
      // pace). Catch up as a joiner instead: keep the peers' standing, drop the copies, ask for
      // snapshots, adopt the swarm's centre under a new epoch; serve the checkpoint's model meanwhile.
      this.#peers.dropCopies();
      this.#merged = [];
      this.#joining = true;
      this.#joinRounds = 0;
      return;
    }
    this.#out.pushAll();
  }
}
