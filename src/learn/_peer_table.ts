/**
 * The receiving side of the learner: every peer we hear, its copy and its standing, and what one
 * message does to them. A decoded Delta or SnapshotChunk goes through the checks (model, value bound,
 * change-size guard, staleness) before its values touch the copy; every refusal is counted globally and
 * against the peer (`penalise`), and the peer's score and pace follow (`_peers.ts`).
 *
 * @module
 */
import { DecodeError } from "../errors.ts";
import { toHex } from "../bytes.ts";
import {
  decodeChunk,
  decodeDelta,
  decodeSnapshotRequest,
  FINGERPRINT_SIZE,
  MAX_TARGETS,
  MODEL_HASH_SIZE,
  type ValuesBody,
} from "./codec.ts";
import { ChangeGuard } from "./_change_guard.ts";
import {
  applyValues,
  badValue,
  damped,
  ignoredNow,
  inSync,
  mergeable,
  MIN_SHARE,
  newCopy,
  PACE_RATE,
  type PeerCopy,
  peerStatus,
  penalise,
  trusted,
} from "./_peers.ts";
import { type PeerStanding, standingOf, standingStatus } from "./_standing.ts";
import type { LearnerTuning } from "./_tuning.ts";
import { validateCopies } from "./_validation.ts";
import {
  type LearnerModel,
  LearnMessage,
  type MessageOutcome,
  type PeerStatus,
  type RejectReason,
  type Samples,
} from "./_types.ts";

/** Most early copies held at once (`PeerTable.apply`): about one seat changes hands at a time. */
export const EARLY_MAX = 4;

/** True if the first `n` bytes of `a` and `b` are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Bodies already decoded, by identity: in the simulation every receiver of a broadcast gets the same
 * bytes object, which is then parsed once. The bytes are compared with the ones decoded (a caller may
 * reuse a buffer), so a hit is always the same message; the daemon hands each datagram in a fresh
 * buffer, so this never hits there.
 */
const decodedBodies = new WeakMap<Uint8Array, { type: number; bytes: Uint8Array; msg: ValuesBody }>();

function cachedDecode(type: number, body: Uint8Array): ValuesBody | undefined {
  const hit = decodedBodies.get(body);
  if (
    hit && hit.type === type && hit.bytes.length === body.length && sameBytes(hit.bytes, body, body.length)
  ) {
    return hit.msg;
  }
  return undefined;
}

/** What applying a message needs from the coordinator. */
export interface ApplyContext {
  modelHash: Uint8Array;
  paramCount: number;
  /** The shared init x₀ (the neutral values of a genesis copy). */
  genesis: Float32Array;
  /** Our pseudo-model P (the neutral values of a copy whose history we missed). */
  pub: Float32Array;
  /** Our round count. */
  round: number;
  /** Largest |value| an honest peer may send (see `valueBound`, `valueFactor`). */
  valueBound: number;
  /**
   * The most a message's int8 grid step may add to the change-size bound (see `quantizationStep`): our
   * own step for a snapshot chunk, 0 for a Delta.
   */
  stepCap: number;
  /**
   * Our own int8 grid step: a message's rounding, up to this, does not count as speed in its sender's
   * pace (`applyValues` `paceShare`), whatever the message type.
   */
  paceStep: number;
}

/** What receiving a message needs from the coordinator. */
export interface ReceiveContext extends Omit<ApplyContext, "valueBound" | "stepCap" | "paceStep"> {
  selfKey: Uint8Array;
  /** The value bound (computed only when a message carries values). */
  valueBound: () => number;
  /** Our own int8 grid step (computed only when a message carries values). */
  ownStep: () => number;
  /** A valid snapshot request for our model naming `targets` (empty = everyone). */
  onRequest: (targets: Uint8Array[]) => void;
}

/** See the module documentation. */
export class PeerTable {
  /** The learner's tuning (replaced, never changed in place, by `SwarmLearner.retune`). */
  tuning: LearnerTuning;
  /** The peers whose copies we keep (every peer heard, or the fan-in set), by lower-case hex key. */
  peers = new Map<string, PeerCopy>();
  /** Peers heard whose copies are not kept (bounded fan-in): their standing only (`_standing.ts`). */
  standby = new Map<string, PeerStanding>();
  /** Reference of honest change sizes (our own publications and in-bound peers' messages). */
  readonly changes = new ChangeGuard();
  received = 0;
  accepted = 0;
  /** The peers whose copies are kept (undefined: every peer). */
  #keep: ReadonlySet<string> | undefined;
  /** Committee handovers under way: incoming holder → outgoing holder (`_committee.ts`). */
  #heirs: ReadonlyMap<string, string> = new Map();
  /** Copies of boards heard entering the committee before we saw them enter, by hex: when first heard. */
  #early = new Map<string, number>();
  rejected: Partial<Record<RejectReason, number>> = {};

  constructor(tuning: LearnerTuning) {
    this.tuning = tuning;
  }

  /** The copy of the peer with key `hex`, if any. */
  get(hex: string): PeerCopy | undefined {
    return this.peers.get(hex);
  }

  /** Every copy. */
  all(): PeerCopy[] {
    return [...this.peers.values()];
  }

  /** Status of every peer heard: copies held, then standby peers. */
  statuses(now: number): PeerStatus[] {
    return [
      ...this.all().map((p) => peerStatus(p, now, this.tuning)),
      ...[...this.standby.values()].map((s) => standingStatus(s, this.tuning)),
    ];
  }

  /** Hex keys of the peers `statuses(now)` reports as ignored (without building every status). */
  ignored(now: number): string[] {
    const out: string[] = [];
    for (const p of this.peers.values()) if (ignoredNow(p, now, this.tuning)) out.push(p.hex);
    for (const s of this.standby.values()) if (!trusted(s, this.tuning)) out.push(s.hex);
    return out;
  }

  /** Hex keys of the held copies whose pace takes their pull now (`statuses(now)` `damped`). */
  damped(): string[] {
    return [...this.peers.values()].filter((p) => damped(p)).map((p) => p.hex);
  }

  /**
   * Keeps copies only of the peers in `keep` (bounded fan-in, `_committee.ts`); the others go to
   * standby (copy dropped, standing kept). Undefined keeps a copy of every peer heard. A new copy of an
   * incoming holder in `heirs` starts from our copy of the outgoing one. An early copy (a board heard
   * entering the committee before our clock reached its seat: {@linkcode PeerTable.apply}) is kept for
   * `peerTimeoutMs` after it was first heard, until the committee lists that board.
   */
  restrict(
    keep: ReadonlySet<string> | undefined,
    heirs: ReadonlyMap<string, string> = new Map(),
    now = -Infinity,
  ): void {
    this.#keep = keep;
    this.#heirs = heirs;
    if (!keep) {
      this.#early.clear();
      return;
    }
    for (const [hex, p] of this.peers) {
      const early = this.#early.get(hex);
      if (keep.has(hex)) {
        this.#early.delete(hex);
        continue;
      }
      if (early !== undefined && now - early <= this.tuning.peerTimeoutMs) continue;
      this.#early.delete(hex);
      this.standby.set(hex, standingOf(p));
      this.peers.delete(hex);
    }
  }

  /** True while our copy of `hex` is an early copy, not yet a committee holder's for us (see `restrict`). */
  isEarly(hex: string): boolean {
    return this.#early.has(hex);
  }

  /** Drops every copy, keeping each peer's standing (a restored board rebuilding its copies). */
  dropCopies(): void {
    for (const [hex, p] of this.peers) this.standby.set(hex, standingOf(p));
    this.peers.clear();
    this.#keep = undefined;
  }

  /** Replaces every copy and standby peer (restore from a checkpoint). */
  replace(copies: PeerCopy[], standby: PeerStanding[] = []): void {
    this.peers = new Map(copies.map((p) => [p.hex, p]));
    this.standby = new Map(standby.filter((s) => !this.peers.has(s.hex)).map((s) => [s.hex, s]));
  }

  /** Peers that may be merged now: trusted, heard within `peerTimeoutMs`, in sync or inherited (`mergeable`). */
  mergeable(now: number): PeerCopy[] {
    return this.all().filter((p) =>
      trusted(p, this.tuning) && now - p.lastHeard <= this.tuning.peerTimeoutMs && mergeable(p, this.tuning)
    );
  }

  /** Counts `reason` (globally and against `peer`, whose score it may cost). */
  count(peer: PeerCopy | PeerStanding | undefined, reason: RejectReason): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
    if (peer) penalise(peer, reason, this.tuning);
  }

  /** Counts and describes a refused message. */
  reject(peer: PeerCopy | PeerStanding | undefined, reason: RejectReason, detail: string): MessageOutcome {
    this.count(peer, reason);
    return { accepted: false, reason, detail };
  }

  /**
   * The validation check (point 5 of the algorithm) of every in-sync peer, merged or not (a suspect
   * can pass again): sets `harm` and `suspect`. True if any peer's suspect state changed.
   */
  async validate(
    input: { model: LearnerModel; data: Samples | undefined; features: number },
    centre: Float32Array,
  ): Promise<boolean> {
    const peers = this.all().filter((p) => inSync(p, this.tuning));
    const { validationRows, harmMin, harmFactor } = this.tuning;
    const verdicts = await validateCopies(
      input.model,
      input.data,
      input.features,
      validationRows,
      centre,
      peers.map((p) => p.values),
      harmMin,
      harmFactor,
    );
    if (!verdicts) return false;
    let changed = false;
    peers.forEach((p, i) => {
      const { harm, suspect } = verdicts[i];
      p.harm = harm;
      if (suspect !== p.suspect) changed = true;
      p.suspect = suspect;
      if (suspect) this.count(p, "validation");
    });
    return changed;
  }

  /**
   * Fingerprints of the peers whose copies are out of sync and not asked recently (marks them asked).
   * Requests are broadcast and answered by a broadcast push, so one board asking serves every board
   * missing the same copy ({@linkcode heardRequest} marks it asked for them too), and a peer whose chunks
   * are arriving is pushing already: asking would only start another push once this one ends.
   */
  snapshotTargets(round: number): Uint8Array[] {
    const targets: Uint8Array[] = [];
    const every = this.tuning.requestEveryRounds;
    for (const p of this.peers.values()) {
      if (inSync(p, this.tuning) || p.score < this.tuning.scoreThreshold) continue;
      if (round - p.requestedAt < every || round - p.pushedAt < every) continue;
      p.requestedAt = round;
      if (targets.length < MAX_TARGETS) targets.push(p.key.slice(0, FINGERPRINT_SIZE));
    }
    return targets;
  }

  /** Another board asked for snapshots of `targets` (empty = everyone): their pushes will reach us too. */
  heardRequest(targets: Uint8Array[], round: number): void {
    for (const p of this.peers.values()) {
      if (targets.length === 0 || targets.some((t) => sameBytes(t, p.key, FINGERPRINT_SIZE))) {
        p.requestedAt = Math.max(p.requestedAt, round);
      }
    }
  }

  /**
   * Handles one accepted, signature-checked message (body already inflated by the wire layer): decodes
   * it and applies its values, or hands a snapshot request to `ctx.onRequest`. Never throws for bad
   * bodies: the outcome says why it was rejected.
   */
  receive(
    sender: Uint8Array,
    type: number,
    body: Uint8Array,
    now: number,
    ctx: ReceiveContext,
  ): MessageOutcome {
    this.received++;
    if (sameBytes(sender, ctx.selfKey, Math.max(sender.length, ctx.selfKey.length))) {
      return this.reject(undefined, "self", "own message");
    }
    const hex = toHex(sender);
    const known = this.peers.get(hex) ?? this.standby.get(hex);
    try {
      if (type === LearnMessage.SnapshotRequest) {
        const req = decodeSnapshotRequest(body);
        if (!sameBytes(req.modelHash, ctx.modelHash, MODEL_HASH_SIZE)) {
          return this.reject(known, "model-mismatch", "snapshot request for another model");
        }
        ctx.onRequest(req.targets);
        this.accepted++;
        return { accepted: true, applied: 0 };
      }
      let msg = cachedDecode(type, body);
      if (!msg) {
        if (type === LearnMessage.Delta) msg = decodeDelta(body);
        else if (type === LearnMessage.SnapshotChunk) msg = decodeChunk(body);
        else return this.reject(known, "decode", `message type ${type} is not a learning message`);
        decodedBodies.set(body, { type, bytes: body.slice(), msg });
      }
      const outcome = this.apply(sender, hex, msg, now, {
        ...ctx,
        valueBound: ctx.valueBound(),
        // A snapshot chunk re-sends every coordinate of a run on one grid: its rounding is allowed for.
        // A Delta's is not (its top-k coordinates move by more than a step; a boosted attacker's Deltas
        // got through with it, 10 seeds, docs/learning.md).
        stepCap: type === LearnMessage.SnapshotChunk ? ctx.ownStep() : 0,
        paceStep: ctx.ownStep(),
      });
      const peer = this.peers.get(hex);
      if (type === LearnMessage.SnapshotChunk && outcome.accepted && peer) peer.pushedAt = ctx.round;
      return outcome;
    } catch (e) {
      if (e instanceof DecodeError) return this.reject(known, "decode", e.message);
      throw e;
    }
  }

  /** Applies a decoded Delta or SnapshotChunk from `sender` (checks first; see the module documentation). */
  apply(sender: Uint8Array, hex: string, msg: ValuesBody, now: number, ctx: ApplyContext): MessageOutcome {
    let peer = this.peers.get(hex);
    if (!sameBytes(msg.modelHash, ctx.modelHash, MODEL_HASH_SIZE) || msg.paramCount !== ctx.paramCount) {
      return this.reject(peer ?? this.standby.get(hex), "model-mismatch", "values for another model");
    }
    const bad = badValue(msg, ctx.valueBound);
    if (!peer && this.#keep && !this.#keep.has(hex)) {
      if (bad || !this.#entering(hex, msg)) return this.#standbyMessage(sender, hex, msg, now, bad);
      this.#early.set(hex, now);
    }
    if (!peer || (!bad && peer.epoch !== msg.epoch)) {
      const genesis = this.#fromStart(msg);
      const old = peer ?? this.standby.get(hex);
      const heir = this.#heirs.get(hex);
      const inherited = heir === undefined ? undefined : this.peers.get(heir)?.values;
      peer = newCopy(sender, hex, msg.epoch, genesis, genesis ? ctx.genesis : inherited ?? ctx.pub, old);
      peer.inherited = !genesis && inherited !== undefined;
      if (old && !this.peers.has(hex)) {
        peer.suspect = old.suspect;
        peer.harm = old.harm;
      }
      this.peers.set(hex, peer);
      this.standby.delete(hex);
    }
    peer.lastHeard = now;
    if (bad) return this.reject(peer, bad.reason, bad.detail);
    const { applied, size, share, paceShare } = applyValues(
      peer,
      msg,
      ctx.genesis,
      ctx.round,
      this.changes,
      this.tuning.normFactor,
      ctx.stepCap,
      ctx.paceStep,
    );
    if (size > 0) {
      peer.pace = (1 - PACE_RATE) * peer.pace +
        PACE_RATE * (paceShare < MIN_SHARE ? 0 : paceShare * paceShare);
    }
    if (paceShare < MIN_SHARE) {
      return this.reject(
        peer,
        "norm-bound",
        `change ${(1 / paceShare).toFixed(1)}× the bound beyond its grid step: far beyond any honest rate`,
      );
    }
    if (applied === 0) return this.reject(peer, "stale", `stamp ${msg.stamp} is not newer`);
    // Only sizes within the bound are remembered: a peer slowed by the guard cannot raise the reference
    // (our own publications keep it at the honest rate).
    if (size > 0 && share === 1 && inSync(peer, this.tuning)) this.changes.note(size);
    if (share < 1) this.count(peer, "norm-bound");
    peer.lastStamp = Math.max(peer.lastStamp, msg.stamp);
    peer.accepted++;
    peer.score = Math.min(1, peer.score + this.tuning.scoreReward);
    this.accepted++;
    return share < 1 ? { accepted: true, applied, limited: true } : { accepted: true, applied };
  }

  /**
   * A values message from a board outside our fan-in set under an epoch we have not heard from it: a board
   * entering the committee starts a new epoch and pushes its whole pseudo-model at once, and a board
   * whose round falls later than the entering board's sees the seat change hands up to a round later.
   * Dropping that push left the seat empty on the late boards until a snapshot was asked for and sent
   * (40 boards, rounds out of step, docs/learning.md "Seats seen a round late"). Boards off the committee
   * publish no values, so such messages are rare; at most `EARLY_MAX` early copies are held at a time.
   */
  #entering(hex: string, msg: ValuesBody): boolean {
    if (msg.epoch === 0 || this.#early.size >= EARLY_MAX) return false;
    const s = this.standby.get(hex);
    return s === undefined || s.epoch !== msg.epoch;
  }

  /** True for a message sent at the swarm's start: genesis epoch, within `genesisGraceStamps`. */
  #fromStart(msg: ValuesBody): boolean {
    return msg.epoch === 0 && msg.stamp <= this.tuning.genesisGraceStamps;
  }

  /**
   * A message from a peer outside the fan-in set: the cheap checks move its score, its values are not
   * applied (no copy is kept).
   */
  #standbyMessage(
    sender: Uint8Array,
    hex: string,
    msg: ValuesBody,
    now: number,
    bad: { reason: RejectReason; detail: string } | undefined,
  ): MessageOutcome {
    let s = this.standby.get(hex);
    if (!s) {
      s = standingOf(newCopy(sender, hex, msg.epoch, this.#fromStart(msg), new Float32Array(0)));
      this.standby.set(hex, s);
    }
    s.lastHeard = now;
    if (bad) return this.reject(s, bad.reason, bad.detail);
    if (s.epoch === msg.epoch && msg.stamp <= s.lastStamp) {
      return this.reject(s, "stale", `stamp ${msg.stamp} is not newer`);
    }
    s.epoch = msg.epoch;
    s.lastStamp = msg.stamp;
    s.accepted++;
    s.score = Math.min(1, s.score + this.tuning.scoreReward);
    this.accepted++;
    return { accepted: true, applied: 0 };
  }
}
