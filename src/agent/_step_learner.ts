/**
 * Start step: the learner, resumed from the checkpoint when there is one (its learner state, or its weights
 * only when that state cannot be read), given the local data, and its link to the gossip daemon: accepted
 * datagrams go to the learner, heartbeats carry its progress.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { DecodeError } from "../errors.ts";
import { type AcceptedMessage, learnerPeerTimeoutMs } from "../gossip/mod.ts";
import { SwarmLearner, tuningFromConfig } from "../learn/mod.ts";
import type { Logger } from "../log.ts";
import { type Clock, cryptoRandom, SeededRandom } from "../time.ts";
import { ACCURACY_UNKNOWN, deflateBody, type HelloProgress, MessageType } from "../wire/mod.ts";
import type { Evaluator, LargestDatagram } from "./_observed.ts";
import type { LoadedModel } from "./_step_model.ts";
import type { LocalDataSet } from "./_step_data.ts";
import type { DaemonListeners } from "./daemon.ts";

/** Creates the learner on `loaded.model`, restores the checkpoint, and sets the serving weights. */
export function createLearner(
  loaded: Pick<LoadedModel, "model" | "serving" | "checkpoint">,
  o: { config: Config; data: LocalDataSet; selfKey: Uint8Array; clock: Clock; logger: Logger },
): SwarmLearner {
  const { config, clock, logger } = o;
  const { model, checkpoint } = loaded;
  const learner = new SwarmLearner({
    model,
    data: { x: new Float32Array(0), y: new Uint8Array(0), count: 0 },
    features: model.inputSize,
    rng: new SeededRandom(cryptoRandom.nextU32()),
    selfKey: o.selfKey,
    deflate: deflateBody,
    ...tuningFromConfig(config.learning),
    // A node without a checkpoint catches up from its peers' snapshots before publishing.
    joining: !checkpoint,
    peerTimeoutMs: learnerPeerTimeoutMs(config.gossip.peerTimeoutMs, config.learning.roundMs),
  });
  if (checkpoint) {
    try {
      // How long ago the checkpoint was written (wall clock): after a long power cut the learner catches
      // up from its peers instead of pushing a stale model.
      const ageMs = checkpoint.savedAt === undefined ? 0 : Math.max(0, Date.now() - checkpoint.savedAt);
      learner.restore(checkpoint.extra, clock.now(), ageMs);
      logger.info("Resumed from checkpoint", {
        path: checkpoint.path,
        rounds: learner.stats(clock.now()).rounds,
        ageSeconds: Math.round(ageMs / 1000),
        ...(learner.joining ? { catchingUp: "older than the peer timeout: catching up from peers" } : {}),
      });
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      model.setWeights(checkpoint.weights);
      logger.warn("Checkpoint had no usable learner state; resumed the weights only", {
        path: checkpoint.path,
        reason: e.message,
      });
    }
  }
  loaded.serving.setWeights(learner.inferenceWeights());
  learner.setData(o.data.training());
  learner.setValidation(o.data.current.heldOut);
  return learner;
}

/** What the gossip daemon calls: accepted datagrams into the learner, its progress into heartbeats. */
export function learnerListeners(
  learner: SwarmLearner,
  o: { data: LocalDataSet; evaluator: Evaluator; largest: LargestDatagram; clock: Clock; logger: Logger },
): Required<DaemonListeners> {
  return {
    onMessage: (m: AcceptedMessage) => {
      o.largest.note(m.header.bodyLength);
      if (m.type === MessageType.Hello) return;
      const outcome = learner.onMessage(m.senderKey, m.type, m.body, o.clock.now());
      if (!outcome.accepted && outcome.reason !== "stale") {
        o.logger.debug("Peer update not used", { reason: outcome.reason, detail: outcome.detail });
      }
    },
    progress: (): Omit<HelloProgress, "uptime"> => {
      const stats = learner.stats(o.clock.now());
      const accuracy = o.evaluator.accuracy;
      return {
        round: stats.rounds,
        samples: Math.min(o.data.current.train.count, 0xffffffff),
        merged: stats.accepted,
        accuracy: accuracy === null ? ACCURACY_UNKNOWN : Math.round(accuracy * 10000),
      };
    },
  };
}
