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
 * `heard` every trusted peer heard recently.
 */
export function joinStep(
  mergeable: PeerCopy[],
  heard: PeerCopy[],
  joinRounds: number,
  paramCount: number,
  tuning: LearnerTuning,
): JoinStep {
  // Nobody is publishing (a whole swarm starting fresh): start as a genesis node instead.
  if (heard.length === 0 && joinRounds >= tuning.joinTimeoutRounds) return { kind: "genesis" };
  const ready = mergeable.length > 0 && (mergeable.length === heard.length || joinRounds >= 20);
  if (!ready) return { kind: "wait", askAgain: joinRounds % tuning.requestEveryRounds === 0 };
  const centre = robustCentre(mergeable.map((p) => p.values), paramCount, tuning);
  // Continue the learning-rate schedule where the swarm is: its round count, estimated from the
  // peers' message stamps (one stamp per message; snapshot chunks make this a slight overestimate).
  const stamps = mergeable.map((p) => p.lastStamp).sort((a, b) => a - b);
  const swarmRounds = Math.floor(stamps[Math.floor(stamps.length / 2)] / tuning.messagesPerRound);
  return { kind: "adopt", centre, swarmRounds };
}
