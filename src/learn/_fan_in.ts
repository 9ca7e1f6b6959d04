/**
 * Bounded fan-in: with more peers than `fanIn` (K), a board keeps and merges the copies of at most K of
 * them, a random set rotated over time as in Epidemic Learning (de Vos et al. 2023: each round a node
 * mixes the models of a few random peers, and random sets mix as fast as a fixed dense graph). Memory and
 * merge time are O(K) whatever the swarm size N; with N ≤ K every peer is a member and nothing changes.
 *
 * - Members hold a full copy (`_peers.ts`). Every other peer heard keeps only its STANDING: key, epoch,
 *   score, pace, suspect, counters, last heard — a few dozen bytes, so no check's memory is lost by
 *   rotating out. Its messages still pass the cheap checks (model, non-finite, value bound) and move its
 *   score; their values are not applied.
 * - Every `fanInRotateRounds` rounds the longest-serving member is replaced by a random eligible
 *   standby peer (heard within `peerTimeoutMs`, score ≥ `scoreThreshold`); a member not heard within the
 *   timeout is replaced first. Over N/K × K × `fanInRotateRounds` rounds everyone has been a member.
 * - A peer rotating in gets an ESTIMATED copy: each coordinate it has not sent since it rotated in votes
 *   for our own swarm model (it is refreshed to the working model before each merge), each value it
 *   sends replaces that vote. No snapshot is needed (a snapshot per rotation would cost every peer its
 *   whole model in datagrams), and an estimated copy is in sync at once.
 * - Nothing resets on rotation: score, pace (the change-size guard's verdict) and the validation
 *   verdict come back with the peer. A peer ignored for its pace rotates in on probation: its copy is
 *   built and its pace measured, but it is merged only once its pace is back above `PACE_MIN`, exactly
 *   as without fan-in. A peer below the score threshold is not eligible at all until its messages have
 *   earned the score back.
 *
 * @module
 */
import type { Random } from "../time.ts";
import { type PeerCopy, trusted } from "./_peers.ts";
import type { LearnerTuning } from "./_tuning.ts";
import type { PeerStatus } from "./_types.ts";

/** What is kept of a peer outside the fan-in set: its standing, no copy. */
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

/** The standing of a member rotating out (its copy is dropped). */
export function standingOf(p: PeerCopy): PeerStanding {
  return Object.fromEntries(STANDING.map((k) => [k, p[k]])) as PeerStanding;
}

/** Status of a standby peer for `stats()`: no copy, so neither in sync nor covered. */
export function standingStatus(s: PeerStanding, now: number, tuning: LearnerTuning): PeerStatus {
  return {
    key: s.hex,
    epoch: s.epoch,
    score: s.score,
    ignored: !trusted(s, tuning) || now - s.lastHeard > tuning.peerTimeoutMs,
    inSync: false,
    coverage: 0,
    accepted: s.accepted,
    rejected: { ...s.rejected },
    lastStamp: s.lastStamp,
    harm: s.harm,
    suspect: s.suspect,
  };
}

/** One rotation decision: members to drop (to standby), standby peers to take in. */
export interface Rotation {
  out: string[];
  in: string[];
}

/**
 * Which members leave and which standby peers join this round. `since` is the round each member joined
 * the set; `round` our round count. Pure: the random choice comes from `rng`.
 */
export function rotate(
  members: readonly { hex: string; lastHeard: number; since: number }[],
  standby: readonly PeerStanding[],
  now: number,
  round: number,
  tuning: LearnerTuning,
  rng: Random,
): Rotation {
  const k = tuning.fanIn;
  const fresh = (lastHeard: number) => now - lastHeard <= tuning.peerTimeoutMs;
  const pool = standby.filter((s) => fresh(s.lastHeard) && s.score >= tuning.scoreThreshold).map((s) =>
    s.hex
  );
  const take = (): string => {
    const i = rng.nextU32() % pool.length;
    const [hex] = pool.splice(i, 1);
    return hex;
  };
  const result: Rotation = { out: [], in: [] };
  let free = Math.max(0, k - members.length);
  // Silent members make room first, then the longest-serving one at each rotation.
  const order = [...members].sort((a, b) => a.since - b.since || (a.hex < b.hex ? -1 : 1));
  for (const m of order) {
    if (pool.length <= free) break;
    if (!fresh(m.lastHeard)) {
      result.out.push(m.hex);
      free++;
    }
  }
  const every = tuning.fanInRotateRounds;
  if (every > 0 && round % every === 0 && pool.length > free) {
    const oldest = order.find((m) => !result.out.includes(m.hex));
    if (oldest) {
      result.out.push(oldest.hex);
      free++;
    }
  }
  while (free > 0 && pool.length > 0) {
    result.in.push(take());
    free--;
  }
  return result;
}
