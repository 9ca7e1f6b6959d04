/**
 * One learning round: pick up newly posted samples, train `learning.localSteps` local steps, mix in the
 * peers' models, serve the new consensus, publish this round's messages (through the outgoing-message
 * hook, if any; each at most the gossip body budget), and write a checkpoint when one is due.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import type { GossipService } from "../gossip/mod.ts";
import type { LearnMessage, SwarmLearner } from "../learn/mod.ts";
import type { TrainableModel } from "../model/mod.ts";
import type { Clock } from "../time.ts";
import type { Checkpointer } from "./_checkpoints.ts";
import type { LargestDatagram } from "./_observed.ts";
import type { LocalDataSet } from "./_step_data.ts";
import type { AgentHooks } from "./options.ts";

/** What a round works on. */
export interface RoundParts {
  learner: SwarmLearner;
  serving: Pick<TrainableModel, "setWeights">;
  gossip: Pick<GossipService, "node" | "publish">;
  data: LocalDataSet;
  checkpoints: Pick<Checkpointer, "saveIfDue">;
  largest: LargestDatagram;
  clock: Clock;
  hooks?: AgentHooks;
  /** The running `learning` settings (replaced on a live reload). */
  learning(): Config["learning"];
  /** True once the agent is stopping: the round returns at the next message. */
  stopping(): boolean;
}

/** Runs one round (see the module comment). */
export async function runRound(r: RoundParts): Promise<void> {
  if (r.stopping()) return;
  const now = r.clock.now();
  const { learner } = r;
  if (r.data.refresh()) {
    learner.setData(r.data.training());
    learner.setValidation(r.data.current.heldOut);
  }
  const cfg = r.learning();
  await learner.train(cfg.localSteps);
  // The live trusted boards running our model (their Hellos): bounded fan-in draws its committee from them,
  // and a joining board continues the learning-rate schedule at the rounds they report.
  const live = r.gossip.node.peers(now).filter((p) => p.trusted && p.alive && !p.otherModel);
  learner.mix(
    now,
    live.map((p) => p.key),
    live.flatMap((p) => p.progress ? [p.progress.round] : []),
  );
  r.serving.setWeights(learner.inferenceWeights());
  const budget = r.gossip.node.bodyBudget;
  let out: { type: number; body: Uint8Array }[] = learner.outgoing(budget);
  if (r.hooks?.outgoing) out = r.hooks.outgoing(out, { learner, now, budget });
  for (const m of out) {
    if (r.stopping()) return;
    if (m.body.length > r.gossip.node.bodyBudget) continue;
    await r.gossip.publish(m.type as LearnMessage, m.body);
    r.largest.note(m.body.length);
  }
  await r.checkpoints.saveIfDue(now, cfg.checkpointMs);
}
