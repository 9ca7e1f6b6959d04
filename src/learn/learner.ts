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
 *    Clipping bounds what a peer whose pseudo-model drifts away can do; the message checks (5.) exclude
 *    senders of impossible values and slow down fast movers. `clipFactor` is 3: at 1 (or with trimmed mean / median) an honest node whose data
 *    differs (label skew) is clipped, its contribution is under-weighted, so its gradient never shrinks
 *    and C_i grows without bound (integrator wind-up) — measured: collapse after ≈ 300 rounds.
 * 5. Checks, which exclude a peer only on evidence no honest learner produces, and otherwise bound
 *    its influence (`_peers.ts`, `_change_guard.ts`, `_validation.ts`):
 *    - a message with a non-finite value or a |value| beyond max(`valueBound`, `valueFactor` × our own
 *      largest |value|) is rejected (a fixed 100 rejected honest peers under label skew at learning rate
 *      0.5: their contributions legitimately pass 100). Each peer has a
 *      score in [0, 1]: −`scorePenalty` per such rejection, +`scoreReward` per accepted message; below
 *      `scoreThreshold` the peer is left out of the merge (`stats().peers[].ignored`) until it
 *      recovers. Stale messages (duplicates, replays) change nothing and cost no score.
 *    - the change-size guard: a message whose change to our copy (90th percentile of |change| per
 *      round since we last set that coordinate; the shared init of a genesis copy dates from round 0)
 *      exceeds `normFactor` × the median of recent changes (our own publications included) is
 *      APPLIED AT THAT BOUNDED RATE (its changes scaled down), and costs no score; one beyond 4 × the
 *      bound (`MIN_SHARE`) is not applied (measured on 160-round runs: honest messages reached 3.7 ×
 *      the reference under 2 classes per node, a ×5 model-replacement attacker 2.5–30 ×). Each peer's
 *      PACE (moving average of the squared share applied, 0 for a message not applied) scales its
 *      clip radius in the merge, and below `PACE_MIN` the peer is left out and reported ignored until
 *      it slows down: an honest peer is at most occasionally slowed (pace ≈ 1), a peer that keeps
 *      pushing faster than the swarm is held by the clipping and then left out.
 *    - validation: every `validateEvery` rounds each in-sync peer's copy is evaluated on our local
 *      held-out rows (`validation`); a peer whose model's loss exceeds the swarm model's by more than
 *      `harmMin` and more than `harmFactor` × the lower median of the peers' is SUSPECT: reported
 *      (`stats().peers[].suspect`, `harm`) and merged with the clip radius `suspectClip` (default: the
 *      same as everyone's) until it passes. Under label skew an honest peer's model IS worse on our
 *      digits, so this check cannot tell "different data" from "malicious": it never excludes (it used
 *      to, and ignoring the only holder of two digits cost them for good: seed 3 fell from 94% to
 *      88.7%), and by default it does not even clip tighter (0.5 × the radius for suspects cost seed 3
 *      0.65 pp). A labelflip attacker is held by the centered clipping of the merge like anyone else.
 *    - the local training guard (`_local_training.ts`): our own rows cannot make our messages jump. Rows
 *      with a non-finite value or an L2 norm beyond `rowOutlier` × the recent rows' median are skipped,
 *      a non-finite round is dropped, and a round's update larger
 *      than `updateClip` × the median of the recent rounds' is scaled down to it (a row of raw 0–255
 *      pixels, a row of 1e30, a burst of mislabelled rows).
 * 6. Catch-up: a SnapshotRequest names peers by key prefix (or nobody = everyone); each named peer then
 *    pushes its whole pseudo-model as SnapshotChunks, `chunksPerRound` per round. A node created with
 *    `joining: true` publishes nothing, asks everyone for snapshots, and once its copies of the peers it
 *    hears are in sync it ADOPTS their robust centre as its pseudo-model (P_i = m: adding it leaves the
 *    swarm model unchanged), then contributes like everyone else. A node that hears a peer whose history
 *    it missed (unknown epoch, or genesis epoch first heard at a late stamp) asks that peer.
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
 * Measurements, the variants that did not help and the defences' trade-offs: docs/learning.md.
 * Files: `_tuning.ts` (tunables, schedule), `_publish.ts` (contribution, residual, Delta/Chunk),
 * `_peers.ts` (copies, applying values), `_change_guard.ts`, `_validation.ts`, `_local_training.ts`
 * (batches, local guard),
 * `_state.ts` (checkpoint bytes); this file coordinates them.
 *
 * @module
 */
import { DecodeError } from "../errors.ts";
import type { Random } from "../time.ts";
import { toHex } from "../bytes.ts";
import {
  decodeChunk,
  decodeDelta,
  decodeSnapshotRequest,
  encodeSnapshotRequest,
  FINGERPRINT_SIZE,
  MAX_TARGETS,
  MODEL_HASH_SIZE,
  type ValuesBody,
} from "./codec.ts";
import { aggregate, centeredClip } from "./robust.ts";
import { ChangeGuard, changeSize } from "./_change_guard.ts";
import { LocalTrainer } from "./_local_training.ts";
import {
  applyValues,
  badValue,
  inSync,
  MIN_SHARE,
  newCopy,
  PACE_RATE,
  type PeerCopy,
  peerStatus,
  penalise,
  trusted,
} from "./_peers.ts";
import { Publication, type PublishContext } from "./_publish.ts";
import { decodeState, encodeState, resumedStamp } from "./_state.ts";
import { type LearnerOptions, type LearnerTuning, resolveTuning, scheduledRate } from "./_tuning.ts";
import {
  type LearnerModel,
  type LearnerStats,
  LearnMessage,
  type MessageOutcome,
  type OutgoingMessage,
  type RejectReason,
  type Samples,
} from "./_types.ts";
import { validateCopies } from "./_validation.ts";

export {
  type LearnerModel,
  type LearnerStats,
  LearnMessage,
  type MessageOutcome,
  type OutgoingMessage,
  type PeerStatus,
  type RejectReason,
  type Samples,
} from "./_types.ts";
export {
  DEFAULT_LEARNER_OPTIONS,
  type LearnerOptions,
  type LearnerTuning,
  type RateSchedule,
  scheduledRate,
} from "./_tuning.ts";

const hexOf = toHex;

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
  #learningRate = 0;
  #epoch = 0;
  #joining: boolean;
  #joinRounds = 0;
  #requestAll = false;
  #peers = new Map<string, PeerCopy>();
  #changes = new ChangeGuard();
  #scale = 0;
  #scaleKey = "";
  #trainer: LocalTrainer;
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
    this.tuning = resolveTuning(options);
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
    this.#deflate = options.deflate;
    this.#x = options.model.getWeights().slice();
    if (this.#x.length !== this.paramCount) {
      throw new Error("Bug: getWeights() length differs from paramCount");
    }
    this.#out = new Publication(this.#x);
    this.#joining = options.joining ?? false;
    if (this.#joining) this.#requestAll = true;
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
    if (live) this.#x = this.#currentCentre();
    const every = this.tuning.validateEvery;
    if (every > 0 && this.#stats.rounds % every === 0 && live) await this.#validatePeers();
    const start = this.#x;
    const round = await this.#trainer.run(this.model, this.#data, this.#features, start, steps, this.tuning);
    if (!round) return NaN;
    this.#stats.steps += round.steps;
    const delta = round.delta;
    const r = this.#out.resid;
    const mu = this.tuning.momentum;
    if (mu > 0) {
      const u = this.#out.velocity;
      for (let i = 0; i < r.length; i++) {
        u[i] = mu * u[i] + delta[i];
        r[i] += u[i];
      }
    } else {
      for (let i = 0; i < r.length; i++) r[i] += delta[i];
    }
    // Consensus pull (point 10): our pseudo-model moves towards the swarm model we trained from.
    const pull = this.tuning.pull;
    if (pull > 0 && live) {
      const p = this.#out.pub;
      for (let i = 0; i < r.length; i++) r[i] -= pull * (p[i] - start[i]);
    }
    this.#stats.lastLoss = round.loss;
    return round.loss;
  }

  /** The validation check (point 5) of every in-sync peer: suspects are merged with a tighter clip. */
  async #validatePeers(): Promise<void> {
    // Every in-sync peer, merged or not: a suspect peer can pass again.
    const peers = [...this.#peers.values()].filter((p) => inSync(p, this.tuning));
    const { validationRows, harmMin, harmFactor } = this.tuning;
    const verdicts = await validateCopies(
      this.model,
      this.#validation,
      this.#features,
      validationRows,
      this.#currentCentre(),
      peers.map((p) => p.values),
      harmMin,
      harmFactor,
    );
    if (!verdicts) return;
    peers.forEach((p, i) => {
      const { harm, suspect } = verdicts[i];
      p.harm = harm;
      if (suspect !== p.suspect) this.#centre = undefined;
      p.suspect = suspect;
      if (suspect) this.#count(p, "validation");
    });
  }

  // ------------------------------------------------------------ mixing

  #mergeable(now: number): PeerCopy[] {
    return [...this.#peers.values()].filter((p) =>
      trusted(p, this.tuning) && now - p.lastHeard <= this.tuning.peerTimeoutMs && inSync(p, this.tuning)
    );
  }

  /** Robust centre of our pseudo-model and the merged peers' copies (cached until a copy changes). */
  #currentCentre(): Float32Array {
    if (this.#centre) return this.#centre;
    const copies = [this.#out.pub];
    const scales = [1];
    for (const p of this.#merged) {
      // Still the same copy (no new epoch since mix), still trusted and in sync.
      if (this.#peers.get(p.hex) !== p || !trusted(p, this.tuning) || !inSync(p, this.tuning)) {
        continue;
      }
      copies.push(p.values);
      scales.push(Math.min(p.pace, p.suspect ? this.tuning.suspectClip / this.tuning.clipFactor : 1));
    }
    this.#centre = this.#aggregate(copies, scales);
    return this.#centre;
  }

  #aggregate(copies: Float32Array[], scales?: number[]): Float32Array {
    const out = new Float32Array(this.paramCount);
    const rule = this.tuning.rule;
    if (rule !== "clip" || copies.length < 3) return aggregate(copies, rule, out);
    aggregate(copies, "median", out);
    centeredClip(copies, out, 0, this.tuning.clipFactor, scales);
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
    if (this.#joining) return this.#join(now, peers);
    this.#merged = peers;
    this.#centre = undefined;
    this.#average();
    return peers.length;
  }

  #join(now: number, peers: PeerCopy[]): number {
    this.#joinRounds++;
    const heard = [...this.#peers.values()].filter((p) =>
      now - p.lastHeard <= this.tuning.peerTimeoutMs && p.score >= this.tuning.scoreThreshold
    );
    if (heard.length === 0 && this.#joinRounds >= this.tuning.joinTimeoutRounds) {
      // Nobody is publishing (a whole swarm starting fresh): start as a genesis node instead.
      this.#joining = false;
      this.#out.resid.fill(0);
      this.#out.sentRound.fill(this.#stats.rounds);
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
    this.#out.sentRound.fill(this.#stats.rounds);
    this.#x = centre;
    this.model.setWeights(centre);
    this.#out.setContrib(centre.map((v, i) => v - this.#out.genesis[i]));
    // Progress made before joining was relative to another model: drop it.
    this.#out.resid.fill(0);
    this.#newEpoch();
    this.#joining = false;
    this.#merged = peers;
    this.#centre = undefined;
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

  #newEpoch(): void {
    let e = 0;
    while (e === 0) e = this.#rng.nextU32();
    this.#epoch = e;
    // Peers forget their copy of us on a new epoch: push the whole pseudo-model.
    this.#out.pushAll();
  }

  // ------------------------------------------------------------ publication

  /** Bodies to broadcast this round, each DEFLATEd to at most `budget` bytes. */
  outgoing(now: number, budget: number): OutgoingMessage[] {
    void now;
    if (budget < 64) throw new Error(`Bug: body budget ${budget} is too small`);
    const out: OutgoingMessage[] = [];
    const req = this.#snapshotRequest();
    if (req) {
      const body = this.#deflate(req);
      out.push({ type: LearnMessage.SnapshotRequest, body, rawSize: req.length, coordinates: 0 });
    }
    if (!this.#joining) {
      const ctx: PublishContext = {
        modelHash: this.model.modelHash,
        epoch: this.#epoch,
        encoding: this.tuning.encoding,
        round: this.#stats.rounds,
        deflate: this.#deflate,
      };
      for (let c = 0; c < this.tuning.chunksPerRound && this.#out.pushRemaining > 0; c++) {
        out.push(this.#out.chunk(budget, ctx));
        this.#centre = undefined;
      }
      for (let m = 0; m < this.tuning.messagesPerRound; m++) {
        const d = this.#out.delta(budget, ctx, this.tuning.refreshFraction);
        if (!d) break;
        this.#centre = undefined;
        this.#changes.note(changeSize(d.changes, d.changes.length));
        out.push(d.message);
      }
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
    const targets: Uint8Array[] = [];
    if (!this.#requestAll) {
      for (const p of this.#peers.values()) {
        if (inSync(p, this.tuning) || p.score < this.tuning.scoreThreshold) continue;
        if (this.#stats.rounds - p.requestedAt < this.tuning.requestEveryRounds) continue;
        p.requestedAt = this.#stats.rounds;
        if (targets.length < MAX_TARGETS) targets.push(p.key.slice(0, FINGERPRINT_SIZE));
      }
      if (targets.length === 0) return undefined;
    }
    this.#requestAll = false;
    return encodeSnapshotRequest({ modelHash: this.model.modelHash, targets });
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
        if (forUs && !this.#joining && this.#out.pushRemaining === 0) this.#out.pushAll();
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

  /** Counts `reason` (globally and against `peer`, whose score it may cost). */
  #count(peer: PeerCopy | undefined, reason: RejectReason): void {
    this.#stats.rejected[reason] = (this.#stats.rejected[reason] ?? 0) + 1;
    if (peer) penalise(peer, reason, this.tuning);
  }

  #reject(peer: PeerCopy | undefined, reason: RejectReason, detail: string): MessageOutcome {
    this.#count(peer, reason);
    return { accepted: false, reason, detail };
  }

  #apply(sender: Uint8Array, hex: string, msg: ValuesBody, now: number): MessageOutcome {
    let peer = this.#peers.get(hex);
    if (
      !sameBytes(msg.modelHash, this.model.modelHash, MODEL_HASH_SIZE) || msg.paramCount !== this.paramCount
    ) {
      return this.#reject(peer, "model-mismatch", "values for another model");
    }
    const bad = badValue(msg, Math.max(this.tuning.valueBound, this.tuning.valueFactor * this.#ownScale()));
    if (!peer || (!bad && peer.epoch !== msg.epoch)) {
      const genesis = msg.epoch === 0 && msg.stamp <= this.tuning.genesisGraceStamps;
      peer = newCopy(sender, hex, msg.epoch, genesis, genesis ? this.#out.genesis : this.#out.pub, peer);
      this.#peers.set(hex, peer);
    }
    peer.lastHeard = now;
    if (bad) return this.#reject(peer, bad.reason, bad.detail);
    const { applied, size, share } = applyValues(
      peer,
      msg,
      this.#out.genesis,
      this.#stats.rounds,
      this.#changes,
      this.tuning.normFactor,
    );
    if (size > 0) {
      peer.pace = (1 - PACE_RATE) * peer.pace + PACE_RATE * (share < MIN_SHARE ? 0 : share * share);
    }
    if (share < MIN_SHARE) {
      return this.#reject(
        peer,
        "norm-bound",
        `change ${(1 / share).toFixed(1)}× the bound: far beyond any honest rate`,
      );
    }
    if (applied === 0) return this.#reject(peer, "stale", `stamp ${msg.stamp} is not newer`);
    this.#centre = undefined;
    // Only sizes within the bound are remembered: a peer slowed by the guard cannot raise the reference
    // (our own publications keep it at the honest rate).
    if (size > 0 && share === 1 && inSync(peer, this.tuning)) this.#changes.note(size);
    if (share < 1) this.#count(peer, "norm-bound");
    peer.lastStamp = Math.max(peer.lastStamp, msg.stamp);
    peer.accepted++;
    peer.score = Math.min(1, peer.score + this.tuning.scoreReward);
    this.#stats.accepted++;
    return share < 1 ? { accepted: true, applied, limited: true } : { accepted: true, applied };
  }

  /** Largest |value| of our own contribution (cached per stamp): the honest scale of values. */
  #ownScale(): number {
    const key = `${this.#out.stamp}/${this.#epoch}`;
    if (this.#scaleKey !== key) {
      let m = 0;
      for (const v of this.#out.contrib) m = Math.max(m, Math.abs(v));
      this.#scale = m;
      this.#scaleKey = key;
    }
    return this.#scale;
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
    const { skippedRows, clippedRounds, droppedRounds } = this.#trainer.guard;
    return {
      ...this.#stats,
      rejected: { ...this.#stats.rejected },
      epoch: this.#epoch,
      stamp: this.#out.stamp,
      joining: this.#joining,
      residualRms: Math.sqrt(sq / this.paramCount),
      learningRate: this.#learningRate,
      localGuard: { skippedRows, clippedRounds, droppedRounds },
      peers: [...this.#peers.values()].map((p) => peerStatus(p, now, this.tuning)),
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
    return this.#out.resid.slice();
  }

  /** Our pseudo-model P = x₀ + C as published (what peers should hold of us). */
  publicCopy(): Float32Array {
    return this.#out.pub.slice();
  }

  /** A peer's copy as we hold it (undefined if unknown). */
  peerCopy(key: Uint8Array): Float32Array | undefined {
    return this.#peers.get(hexOf(key))?.values.slice();
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
      peers: [...this.#peers.values()],
    });
  }

  /**
   * Resumes from {@linkcode checkpoint} bytes: working model, pseudo-model, residual and peers' copies.
   * Our pseudo-model keeps its epoch and its stamps jump past anything sent since the checkpoint
   * ({@linkcode resumedStamp}); it is pushed again in snapshot chunks (peers may hold newer values than
   * the checkpoint), and we ask every peer for a snapshot to refresh our copies of them.
   * Throws {@linkcode DecodeError} if the bytes are not a checkpoint of this model.
   */
  restore(bytes: Uint8Array, now: number): void {
    const s = decodeState(bytes, this.model.modelHash, this.paramCount, now);
    const out = new Publication(s.genesis);
    out.setContrib(s.contrib);
    out.resid = s.resid;
    out.stamp = resumedStamp(s.stamp);
    out.cursor = s.cursor % this.paramCount;
    out.sentRound.fill(s.rounds);
    this.#out = out;
    this.#x = s.x;
    this.#centre = undefined;
    this.#mixed = false;
    this.#avg = undefined;
    this.#stats.rounds = s.rounds;
    this.#stats.steps = s.steps;
    this.#peers = new Map(s.peers.map((p) => [p.hex, p]));
    // Serve the swarm model of the checkpoint until the next mix (our pseudo-model alone is only our
    // share of it: near chance among peers).
    this.#merged = this.#mergeable(now);
    this.#joining = false;
    this.model.setWeights(s.x);
    this.#epoch = s.epoch;
    out.pushAll();
    this.#requestAll = true;
  }
}
