/**
 * What a board keeps of a peer whose copy it does not hold (bounded fan-in, `_committee.ts`): its
 * STANDING — key, epoch, score, pace, suspect, counters, last heard — a few dozen bytes, so no check's
 * memory is lost when a copy is dropped. Its messages still pass the cheap checks (model, non-finite,
 * value bound) and move its score; their values are not applied. Nothing resets when a copy is built
 * again: score, pace (the change-size guard's verdict) and the validation verdict come back with the peer.
 *
 * @module
 */
import { type PeerCopy, trusted } from "./_peers.ts";
import type { LearnerTuning } from "./_tuning.ts";
import type { PeerStatus } from "./_types.ts";

/** What is kept of a peer off the fan-in set: its standing, no copy. */
const STANDING = [
  "key",
  "hex",
  "epoch",
  "score",
  "pace",
  "far",
  "early",
  "suspect",
  "harm",
  "lastHeard",
  "lastStamp",
  "accepted",
  "rejected",
] as const;
export type PeerStanding = Pick<PeerCopy, typeof STANDING[number]>;

/** The standing of a peer whose copy is dropped. */
export function standingOf(p: PeerCopy): PeerStanding {
  return Object.fromEntries(STANDING.map((k) => [k, p[k]])) as PeerStanding;
}

/**
 * Status of a standby peer for `stats()`: no copy, so neither in sync nor covered; ignored only for
 * its score (a board off the committee is silent by design, not timed out).
 */
export function standingStatus(s: PeerStanding, tuning: LearnerTuning): PeerStatus {
  return {
    key: s.hex,
    epoch: s.epoch,
    score: s.score,
    ignored: !trusted(s, tuning),
    inSync: false,
    coverage: 0,
    accepted: s.accepted,
    rejected: { ...s.rejected },
    lastStamp: s.lastStamp,
    harm: s.harm,
    suspect: s.suspect,
  };
}
