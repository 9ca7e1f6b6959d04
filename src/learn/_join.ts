/**
 * Catch-up of a joining node (point 6 of the algorithm): wait until the copies of the peers it hears
 * are in sync, then adopt their robust centre and continue the learning-rate schedule where the swarm
 * is; with nobody to hear after `joinTimeoutRounds`, start as a genesis node.
 *
 * @module
 */
import type { PeerCopy } from "./_peers.ts";
import { robustCentre } from "./_merge.ts";
import type { LearnerTuning } from "./_tuning.ts";

/** What a joining node does this round. */
export type JoinStep =
  | { kind: "wait"; askAgain: boolean }
  | { kind: "genesis" }
  | { kind: "adopt"; centre: Float32Array; swarmRounds: number };

/**
 * The join decision after `joinRounds` rounds of trying: `mergeable` are the in-sync trusted copies,
 * `heard` every trusted peer heard recently, `reportedRounds` the round counts the live peers report in
 * their Hellos (empty where there are none, as in the simulation).
 */
export function joinStep(
  mergeable: PeerCopy[],
  heard: PeerCopy[],
  joinRounds: number,
  paramCount: number,
  tuning: LearnerTuning,
  reportedRounds: readonly number[] = [],
): JoinStep {
  // Nobody is publishing (a whole swarm starting fresh): start as a genesis node instead.
  if (heard.length === 0 && joinRounds >= tuning.joinTimeoutRounds) return { kind: "genesis" };
  const ready = mergeable.length > 0 && (mergeable.length === heard.length || joinRounds >= 20);
  if (!ready) return { kind: "wait", askAgain: joinRounds % tuning.requestEveryRounds === 0 };
  const centre = robustCentre(mergeable.map((p) => p.values), paramCount, tuning);
  return { kind: "adopt", centre, swarmRounds: swarmRounds(mergeable, reportedRounds, tuning) };
}

/**
 * Where the swarm's learning-rate schedule is, to continue it: the lower median of the rounds the peers
 * report, or without reports, of their message stamps (one stamp per message; snapshot chunks make it a
 * slight overestimate). Stamps are only a fallback: a board restored from a checkpoint continues its
 * stamps 65,536 further on (`RESTORE_STAMP_GAP`), so after one restart among the peers a joiner read
 * 66,034 rounds in a swarm at round 500 and started in the schedule's final phase (board test). Of the
 * reports the lower median: one high report among two does not move it.
 */
export function swarmRounds(
  mergeable: PeerCopy[],
  reportedRounds: readonly number[],
  tuning: LearnerTuning,
): number {
  const reports = [...reportedRounds].sort((a, b) => a - b);
  if (reports.length > 0) return reports[Math.floor((reports.length - 1) / 2)];
  const stamps = mergeable.map((p) => p.lastStamp).sort((a, b) => a - b);
  return Math.floor(stamps[Math.floor(stamps.length / 2)] / tuning.messagesPerRound);
}
