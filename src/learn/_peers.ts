/**
 * Peers' copies: what we know of each peer's pseudo-model P̂_j, built only from what it sent, with a
 * per-coordinate stamp (absolute values + versions make copies idempotent and order-insensitive) and
 * the peer's score. Applying a message's values goes through the checks: non-finite values and
 * values beyond `valueBound` (evidence no honest learner produces) are rejected and cost score; a
 * change faster than the change-size guard allows is applied at the bounded rate (no score lost).
 *
 * @module
 */
import { ValueEncoding, type ValuesBody } from "./codec.ts";
import { cappedStep, type ChangeGuard, changeSize, gridStep } from "./_change_guard.ts";
import type { LearnerTuning } from "./_tuning.ts";
import type { IgnoreReason, PeerStatus, RejectReason } from "./_types.ts";

/** A peer's public model as we know it. */
export interface PeerCopy {
  key: Uint8Array;
  hex: string;
  epoch: number;
  /** All coordinates valid from the start (genesis copy heard early). */
  genesis: boolean;
  values: Float32Array;
  /** Stamp of the value held per coordinate; 0 = never received. */
  versions: Uint32Array;
  /**
   * Our round count when each coordinate's value was last set from a live message (0 for the shared
   * init of a genesis copy); −1 = a baseline we cannot date (a value restored from a checkpoint), whose
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
  /**
   * Our round count when a snapshot chunk from this peer was last applied (−∞ if never): while it pushes
   * its snapshot (a new epoch, or answering someone's request) we wait for the rest instead of asking.
   */
  pushedAt: number;
  /** Last measured rise of our validation loss caused by this peer's model (null = not measured). */
  harm: number | null;
  /** Failed the last validation check: merged with the `suspectClip` radius until it passes. */
  suspect: boolean;
  /**
   * Moving average of the share of its changes the change-size guard let through (1 = never slowed).
   * Scales the peer's clip radius in the merge: a peer that keeps pushing faster than the swarm (a
   * model-replacement update scaled ×N) pulls the centre proportionally less; below `PACE_MIN` it has
   * almost no pull when its copy is far, or it is new to us and was first heard at the swarm's start
   * ({@linkcode damped}).
   */
  pace: number;
  /**
   * The copy lay beyond the clip radius in the last merge that included it (false until merged). Only
   * such a copy loses its pull for its pace ({@linkcode damped}).
   */
  far: boolean;
  /**
   * First heard at the swarm's start (a genesis copy): merged while every copy still lay far from the
   * others, where the clip radius tells an attacker from an honest peer poorly. Kept when the copy is
   * rebuilt (new epoch, or held again after the fan-in dropped it).
   */
  early: boolean;
  /**
   * Started from our copy of the seat's outgoing holder (bounded fan-in: the value this board adopted
   * when it took the seat), so its unknown coordinates already hold that seat's model: merged before it
   * is in sync ({@linkcode mergeable}).
   */
  inherited: boolean;
}

/** A fresh copy; unknown coordinates hold `neutral` (the shared init for a genesis copy, else our P). */
export function newCopy(
  key: Uint8Array,
  hex: string,
  epoch: number,
  genesis: boolean,
  neutral: Float32Array,
  old?: Pick<PeerCopy, "score" | "lastHeard" | "accepted" | "rejected" | "pace" | "far" | "early">,
): PeerCopy {
  const P = neutral.length;
  return {
    key: key.slice(),
    hex,
    epoch,
    genesis,
    values: neutral.slice(),
    versions: new Uint32Array(P),
    // The shared init of a genesis copy holds since the start (our round 0): its first updates are
    // size-checked as the rate since then (undated, they were taken whole: a model-replacement attacker
    // got every coordinate's first value in at any size up to the value bound).
    heard: new Int32Array(P).fill(genesis ? 0 : -1),
    known: genesis ? P : 0,
    score: old?.score ?? 1,
    lastHeard: old?.lastHeard ?? -Infinity,
    lastStamp: 0,
    accepted: old?.accepted ?? 0,
    rejected: old?.rejected ?? {},
    requestedAt: -Infinity,
    pushedAt: -Infinity,
    harm: null,
    suspect: false,
    pace: old?.pace ?? 1,
    far: old?.far ?? false,
    early: old?.early ?? genesis,
    inherited: false,
  };
}

/** True once enough of the copy is known to merge it (snapshots are asked for copies out of sync). */
export function inSync(p: PeerCopy, tuning: LearnerTuning): boolean {
  return p.genesis || p.known >= tuning.syncCoverage * p.values.length;
}

/**
 * The copy may be merged: in sync, or inherited from the seat's outgoing holder while the new holder's
 * snapshot arrives. Leaving a seat's copy out until it was in sync moved a board's centre by that seat's
 * drift: 100 boards, 2 classes each, K = 32, one seat's copy at 89% coverage for six rounds (10% loss)
 * took that board from 86% to 66%, and it trained from there as a seat holder (seed 4).
 */
export function mergeable(p: PeerCopy, tuning: LearnerTuning): boolean {
  return p.inherited || inSync(p, tuning);
}

/** Counts a reason against a peer; every reason but `stale`, `model-mismatch`, `norm-bound` costs score. */
export function penalise(
  p: Pick<PeerCopy, "rejected" | "score">,
  reason: RejectReason,
  tuning: LearnerTuning,
): void {
  p.rejected[reason] = (p.rejected[reason] ?? 0) + 1;
  if (
    reason === "stale" || reason === "model-mismatch" || reason === "norm-bound" || reason === "validation"
  ) {
    return;
  }
  p.score = Math.max(0, p.score - tuning.scorePenalty);
}

/**
 * A message whose change size beyond its int8 grid step (`applyValues` `paceShare`) exceeds the guard's
 * bound by more than 1 / this (so 4 × `normFactor` × the reference) is not applied. Measured on
 * 160-round runs: honest messages reached 1.25 × the bound (3.7 × the reference, 2 classes per node), a
 * ×5 model-replacement attacker 0.8–10 × the bound.
 */
export const MIN_SHARE = 0.25;

/** Weight of the latest message in {@linkcode PeerCopy.pace}. */
export const PACE_RATE = 0.3;
/**
 * Below this pace a peer whose copy lies beyond the clip radius is damped (its pull < 7e-12 of the
 * radius; still merged, never ignored) until it slows down: most of its recent messages were far beyond any honest rate, and it
 * pushed its copy away from everyone's (a model-replacement attacker: every bit of its direction that got
 * in accumulated in the coordinates honest data never trains; its copy lies 10–16 × the median distance
 * from the centre). A slowed copy WITHIN the radius is an honest peer whose data differs (under
 * Dirichlet 0.1 skew whole swarms of them, slowed by their coarse int8 grids): it keeps its pull.
 */
export const PACE_MIN = 0.2;

/**
 * Messages we accepted from a peer first heard at the swarm's start (`early`) before its slow pace is
 * forgiven while its copy lies within the clip radius: a boosted model-replacement attacker in its first
 * rounds, when every copy is still far from the others and the attacker's can lie within the radius, is
 * damped for its pace wherever its copy lies. A peer first heard later (we or it joined a running
 * swarm) needs no tenure: the copies have converged and the radius tells. With the tenure applied to
 * every new peer, a late joiner damped almost every board for a while — its own quiet start made its
 * reference small and every Delta after a snapshot (one round apart, on another int8 grid) look fast:
 * 8–18 honest boards ignored per seed of dir01-20-churn, all by the two late joiners.
 */
export const TENURE = 100;

/**
 * True while the peer may be merged: its score is above the threshold (it sent nothing an honest
 * learner sends, {@linkcode penalise}). Its pace never leaves it out: it bounds its pull
 * ({@linkcode damped}).
 */
export function trusted(p: Pick<PeerCopy, "score">, tuning: LearnerTuning): boolean {
  return p.score >= tuning.scoreThreshold;
}

/**
 * True while the peer's pace takes (almost) all its pull: below `PACE_MIN` (its pace¹⁶ scales its clip
 * radius by < 7e-12) while its copy lay beyond the clip radius in the last merge, or wherever its copy
 * lies while it is new to us and was first heard at the swarm's start (`TENURE`). It is still merged:
 * its copy keeps its place in the merge and gets its pull back as soon as it lies within the radius or
 * slows down, and an honest peer whose data differs (under Dirichlet 0.1 skew, far and slowed by its
 * coarse int8 grid) is bounded, never excluded.
 */
export function damped(
  p: Pick<PeerCopy, "pace" | "far" | "accepted" | "early">,
): boolean {
  return p.pace < PACE_MIN && (p.far || untenured(p));
}

/** First heard at the swarm's start and fewer than `TENURE` messages accepted from it. */
export function untenured(p: Pick<PeerCopy, "accepted" | "early">): boolean {
  return p.early && p.accepted < TENURE;
}

/** The first value no honest learner sends (non-finite or beyond `valueBound`), if any. */
export function badValue(
  msg: ValuesBody,
  valueBound: number,
): { reason: RejectReason; detail: string } | undefined {
  const { values, indices } = msg;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      return { reason: "non-finite", detail: `value at ${indices[i]} is ${values[i]}` };
    }
    if (Math.abs(values[i]) > valueBound) {
      return {
        reason: "value-bound",
        detail: `|value| ${Math.abs(values[i])} at ${indices[i]} exceeds ${valueBound.toPrecision(3)}`,
      };
    }
  }
  return undefined;
}

/** What applying a message did. */
export interface Applied {
  applied: number;
  /** The message's change size (0 when no coordinate could be checked). */
  size: number;
  /** Share of the change applied (< 1: rate-limited by the change-size guard). */
  share: number;
  /** Share of the change beyond the message's grid step, at least `share`: what the pace follows. */
  paceShare: number;
}

/**
 * Applies a message's (checked) values to `peer`'s copy: coordinates whose stamp is newer than ours.
 * The change size is measured per round of OURS since we last set each coordinate (so a copy left stale
 * by lost messages is not held against the sender, and a sender cannot inflate the gap with its stamps);
 * a change beyond the guard's bound plus the message's grid step (at most `stepCap` × `STEP_CAP`: our
 * own step for a snapshot chunk, 0 for a Delta; see {@linkcode quantizationStep}) is applied at the
 * bounded rate.
 *
 * `paceShare` is the share the peer's pace and the far-beyond rejection (`MIN_SHARE`) go by: the
 * larger of `share` and the share of the change left when each coordinate's move is first reduced by
 * the message's grid step (at most `paceStep`, our own step, for any message type). Under
 * Dirichlet 0.1 skew an honest board's grid step reached 35 × the reference rate, and in three of four
 * messages that slowed an honest pace below 0.35 the whole 90th-percentile change lay within one step
 * (dir01-20-churn seeds 2 and 6, 10,489 messages): rounding read as speed and honest boards were damped
 * (docs/learning.md). A boosted update moves its coordinates by several steps and the step it may
 * discount is capped at one of ours (at `STEP_CAP` = 2 of ours the seed-5 model-replacement attacker of
 * tests/sim/defences_test.ts kept enough pace to take the honest nodes to 66.8% against 72.1% on their
 * own; at one of ours 73.3%); the applied share stays `share` (a Delta's rounding is not allowed for in
 * what is applied: see `quantizationStep`).
 */
export function applyValues(
  peer: PeerCopy,
  msg: ValuesBody,
  genesis: Float32Array,
  round: number,
  guard: ChangeGuard,
  normFactor: number,
  stepCap: number,
  paceStep = stepCap,
): Applied {
  const { values, indices } = msg;
  const int8 = msg.encoding === ValueEncoding.Int8;
  // One scan of the values for both allowances: the grid step, then each cap.
  const raw = gridStep(values, int8);
  const step = cappedStep(raw, stepCap);
  const grid = cappedStep(raw, paceStep, 1);
  const changes = new Float64Array(indices.length);
  const beyond = new Float64Array(indices.length);
  let m = 0;
  for (let i = 0; i < indices.length; i++) {
    const c = indices[i];
    if (msg.stamp <= peer.versions[c]) continue;
    if (peer.versions[c] === 0 && !peer.genesis) continue;
    if (peer.heard[c] < 0) continue;
    const move = Math.abs(genesis[c] + values[i] - peer.values[c]);
    const gap = Math.max(1, round - peer.heard[c]);
    changes[m] = move / gap;
    beyond[m++] = Math.max(0, move - grid) / gap;
  }
  const size = m > 0 ? changeSize(changes, m) : 0;
  const share = m > 0 ? guard.share(size, normFactor, step) : 1;
  const paceShare = m > 0 && grid > 0
    ? Math.max(share, guard.share(changeSize(beyond, m), normFactor))
    : share;
  // Far beyond any honest rate (a model-replacement update scaled ×N): not applied at all.
  if (paceShare < MIN_SHARE) return { applied: 0, size, share, paceShare };
  let applied = 0;
  for (let i = 0; i < indices.length; i++) {
    const c = indices[i];
    if (msg.stamp <= peer.versions[c]) continue;
    const target = genesis[c] + values[i];
    // Only a dated coordinate can be rate-limited: the first value of a new copy is taken as it is.
    const dated = peer.heard[c] >= 0 && (peer.versions[c] !== 0 || peer.genesis);
    if (peer.versions[c] === 0 && !peer.genesis) peer.known++;
    peer.versions[c] = msg.stamp;
    peer.heard[c] = round;
    peer.values[c] = dated && share < 1 ? peer.values[c] + share * (target - peer.values[c]) : target;
    applied++;
  }
  return { applied, size, share, paceShare };
}

/** Left out of the merge now: not trusted, or not heard within `peerTimeoutMs`. */
export function ignoredNow(p: PeerCopy, now: number, tuning: LearnerTuning): boolean {
  return ignoredBecause(p, now, tuning) !== undefined;
}

/**
 * Why the peer is left out of the merge now (undefined: it is not): its score fell below the threshold
 * ("score", {@linkcode trusted}), or no values came from it within `peerTimeoutMs` ("silent"). Its pace
 * never leaves it out ({@linkcode damped}).
 */
export function ignoredBecause(p: PeerCopy, now: number, tuning: LearnerTuning): IgnoreReason | undefined {
  if (!trusted(p, tuning)) return "score";
  if (now - p.lastHeard > tuning.peerTimeoutMs) return "silent";
  return undefined;
}

/** Status of one peer for `stats()`. */
export function peerStatus(p: PeerCopy, now: number, tuning: LearnerTuning): PeerStatus {
  const why = ignoredBecause(p, now, tuning);
  return {
    key: p.hex,
    epoch: p.epoch,
    score: p.score,
    ignored: why !== undefined,
    ...(why ? { ignoredBecause: why } : {}),
    ...(damped(p) ? { damped: true } : {}),
    inSync: inSync(p, tuning),
    coverage: p.genesis ? 1 : p.known / p.values.length,
    accepted: p.accepted,
    rejected: { ...p.rejected },
    lastStamp: p.lastStamp,
    harm: p.harm,
    suspect: p.suspect,
  };
}
