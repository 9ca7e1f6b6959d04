import assert from "node:assert/strict";
import { CleanupPool } from "../../src/agent/_cleanup.ts";
import { loadSpec } from "../../src/agent/_step_identity.ts";
import { loadModel } from "../../src/agent/_step_model.ts";
import { UsageError } from "../../src/errors.ts";
import { nullLogger } from "../../src/log.ts";
import { saveCheckpoint } from "../../src/model/mod.ts";
import { keptLogger, makeBoard, SPEC } from "../_support/small_board.ts";

Deno.test("loadModel() creates the training and serving models, pooled for undo, and resumes the newest checkpoint", async () => {
  await using board = await makeBoard();
  const config = board.config();
  const spec = await loadSpec(config, board.state, nullLogger);
  const pool = new CleanupPool();
  const first = await loadModel(spec, { config, state: board.state, logger: nullLogger, pool });
  try {
    assert.equal(first.checkpoint, undefined);
    assert.deepEqual(pool.pending, ["the training model", "the serving model"]);
    assert.equal(first.model.inputSize, 3);
    assert.notEqual(first.model, first.serving);
    assert.ok(first.backend.name.length > 0);
    const weights = first.model.getWeights().map((_, i) => i / 1000);
    await saveCheckpoint(board.state.checkpoints, first.model, { step: 7, weights });
  } finally {
    await pool.closeAll();
  }
  const second = await loadModel(spec, { config, state: board.state, logger: nullLogger, pool });
  try {
    assert.equal(second.checkpoint?.step, 7);
    assert.equal(second.checkpoint?.weights[5], Math.fround(5 / 1000));
  } finally {
    await pool.closeAll();
  }
});

Deno.test("loadModel() refuses a checkpoint of another model with what to do, after pooling both models", async () => {
  await using board = await makeBoard();
  const config = board.config();
  const pool = new CleanupPool();
  const before = await loadModel(await loadSpec(config, board.state, nullLogger), {
    config,
    state: board.state,
    logger: nullLogger,
    pool,
  });
  await saveCheckpoint(board.state.checkpoints, before.model);
  await pool.closeAll();
  // The spec file changes shape under the same id: the checkpoint belongs to another model now.
  await Deno.writeTextFile(board.specPath, SPEC.replace("hidden: [8]", "hidden: [4]"));
  const { logger } = keptLogger();
  const spec = await loadSpec(config, board.state, logger);
  await assert.rejects(
    loadModel(spec, { config, state: board.state, logger, pool }),
    (e) => e instanceof UsageError && /different model/.test(e.message) && /aside/.test(e.hint ?? ""),
  );
  assert.deepEqual(pool.pending, ["the training model", "the serving model"]);
  await pool.closeAll();
});
