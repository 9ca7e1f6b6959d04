import assert from "node:assert/strict";
import { CleanupPool } from "../../src/agent/_cleanup.ts";
import { Evaluator, LargestDatagram } from "../../src/agent/_observed.ts";
import { loadLocalData } from "../../src/agent/_step_data.ts";
import { loadSpec } from "../../src/agent/_step_identity.ts";
import { createLearner, learnerListeners } from "../../src/agent/_step_learner.ts";
import { loadModel } from "../../src/agent/_step_model.ts";
import type { AcceptedMessage } from "../../src/gossip/mod.ts";
import { nullLogger } from "../../src/log.ts";
import { saveCheckpoint } from "../../src/model/mod.ts";
import { systemClock } from "../../src/time.ts";
import { ACCURACY_UNKNOWN, FRAME_OVERHEAD, MessageType } from "../../src/wire/mod.ts";
import { type Board, keptLogger, makeBoard } from "../_support/small_board.ts";

async function parts(board: Board, pool: CleanupPool) {
  const config = board.config();
  const o = { config, state: board.state, logger: nullLogger };
  const loaded = await loadModel(await loadSpec(config, board.state, nullLogger), { ...o, pool });
  const data = await loadLocalData(loaded.model, o);
  return { config, loaded, data };
}

Deno.test("createLearner() starts a board without a checkpoint as joining, on its local rows", async () => {
  await using board = await makeBoard(90);
  const pool = new CleanupPool();
  try {
    const { config, loaded, data } = await parts(board, pool);
    const learner = createLearner(loaded, {
      config,
      data,
      selfKey: new Uint8Array(32).fill(1),
      clock: systemClock,
      logger: nullLogger,
    });
    const stats = learner.stats(systemClock.now());
    assert.equal(stats.rounds, 0);
    await learner.train(2);
    assert.ok(Number.isFinite(learner.stats(systemClock.now()).lastLoss), "it trains on the local rows");
  } finally {
    await pool.closeAll();
  }
});

Deno.test("createLearner() resumes the learner's rounds from a checkpoint, or its weights alone when the state is unreadable", async () => {
  await using board = await makeBoard(90);
  const pool = new CleanupPool();
  try {
    const { config, loaded, data } = await parts(board, pool);
    const o = { config, data, selfKey: new Uint8Array(32).fill(1), clock: systemClock, logger: nullLogger };
    const first = createLearner(loaded, o);
    await first.train(1);
    first.mix(systemClock.now());
    assert.ok(first.stats(systemClock.now()).rounds > 0);
    await saveCheckpoint(board.state.checkpoints, loaded.model, { step: 1, extra: first.checkpoint() });
    await pool.closeAll();

    const again = await parts(board, pool);
    const resumed = createLearner(again.loaded, o);
    assert.equal(resumed.stats(systemClock.now()).rounds, first.stats(systemClock.now()).rounds);
    const weights = again.loaded.model.getWeights().map(() => 0.01);
    await saveCheckpoint(board.state.checkpoints, again.loaded.model, {
      step: 2,
      weights,
      extra: new Uint8Array([9]),
    });
    await pool.closeAll();
    const third = await parts(board, pool);
    const { logger, lines } = keptLogger();
    createLearner(third.loaded, { ...o, logger });
    assert.ok(lines.some((l) => /weights only/.test(String(l.msg))), JSON.stringify(lines));
    assert.ok(Math.abs(third.loaded.model.getWeights()[0] - 0.01) < 1e-6);
  } finally {
    await pool.closeAll();
  }
});

Deno.test("learnerListeners() notes datagram sizes, keeps Hellos from the learner, and reports progress", async () => {
  await using board = await makeBoard(90);
  const pool = new CleanupPool();
  try {
    const { config, loaded, data } = await parts(board, pool);
    const learner = createLearner(loaded, {
      config,
      data,
      selfKey: new Uint8Array(32).fill(1),
      clock: systemClock,
      logger: nullLogger,
    });
    const evaluator = new Evaluator(loaded.serving, () => data.current.heldOut, nullLogger);
    const largest = new LargestDatagram();
    const listeners = learnerListeners(learner, {
      data,
      evaluator,
      largest,
      clock: systemClock,
      logger: nullLogger,
    });
    assert.deepEqual(listeners.progress(), {
      round: 0,
      samples: data.current.train.count,
      merged: 0,
      accuracy: ACCURACY_UNKNOWN,
    });
    const hello = { type: MessageType.Hello, header: { bodyLength: 40 }, body: new Uint8Array(40) };
    await listeners.onMessage(hello as unknown as AcceptedMessage);
    assert.equal(largest.bytes, 40 + FRAME_OVERHEAD);
    assert.equal(learner.stats(systemClock.now()).received, 0, "a Hello is not a learner message");
    await evaluator.run();
    const accuracy = evaluator.accuracy;
    assert.ok(accuracy !== null && accuracy >= 0 && accuracy <= 1);
    assert.equal(listeners.progress().accuracy, Math.round(accuracy * 10000));
  } finally {
    await pool.closeAll();
  }
});
