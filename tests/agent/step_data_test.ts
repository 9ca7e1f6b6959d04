import assert from "node:assert/strict";
import { join } from "node:path";
import { loadLocalData, removeLeftoverTempFiles, storedSampleBound } from "../../src/agent/_step_data.ts";
import { UsageError } from "../../src/errors.ts";
import { nullLogger } from "../../src/log.ts";
import { type ModelSpec, parseModelSpec } from "../../src/model/mod.ts";
import { keptLogger, makeBoard, SPEC } from "../_support/small_board.ts";

const spec: ModelSpec = parseModelSpec(SPEC, "sensor.yaml");
const model = { spec, inputSize: 3, classes: 3 };

Deno.test("loadLocalData() reads data.source, skips and reports out-of-range rows, and splits off held-out rows", async () => {
  await using board = await makeBoard(300, ["1,3,-2,255", "0,40,0,9.8"]);
  const { logger, lines } = keptLogger();
  const data = await loadLocalData(model, { config: board.config(), state: board.state, logger });
  const { train, heldOut } = data.current;
  assert.equal(train.count + heldOut.count, 300);
  assert.ok(heldOut.count > 0 && heldOut.count < 100, `held out ${heldOut.count}`);
  const bad = lines.find((l) => l.msg === "Skipped bad rows in the data");
  assert.equal(bad?.count, 2, JSON.stringify(lines));
  assert.equal(data.training(), train);
});

Deno.test("loadLocalData() refuses an unreadable data.source with its path", async () => {
  await using board = await makeBoard();
  const missing = join(board.dir, "gone.csv");
  await assert.rejects(
    loadLocalData(model, {
      config: board.config({ "data.source": missing }),
      state: board.state,
      logger: nullLogger,
    }),
    (e) => e instanceof UsageError && e.message.includes(missing),
  );
});

Deno.test("LocalDataSet picks up posted samples on refresh() and passes training rows through the hook", async () => {
  await using board = await makeBoard(30);
  const { logger, lines } = keptLogger();
  const seen: number[] = [];
  const data = await loadLocalData(model, {
    config: board.config({ "data.source": "", "data.heldOut": 0 }),
    state: board.state,
    logger,
    trainingHook: (train) => {
      seen.push(train.count);
      return train;
    },
  });
  assert.ok(lines.some((l) => /no training samples/.test(String(l.msg))), JSON.stringify(lines));
  assert.equal(data.current.train.count, 0);
  assert.equal(data.refresh(), false);
  await data.store.append(new Float32Array([0, 0, 9.8, 3, -2, 9.8]), new Uint8Array([0, 1]), 2);
  assert.equal(data.refresh(), true);
  assert.equal(data.refresh(), false);
  assert.equal(data.current.train.count, 2);
  // stored raw, normalised for training: (x - mean) / std
  const row = [...data.current.train.x.subarray(3, 6)];
  [1.5, -1, 0].forEach((v, i) => assert.ok(Math.abs(row[i] - v) < 1e-6, `row ${row}`));
  data.training();
  assert.deepEqual(seen, [2]);
});

Deno.test("removeLeftoverTempFiles() removes what an interrupted write left in checkpoints and samples", async () => {
  await using board = await makeBoard();
  await Deno.mkdir(board.state.checkpoints, { recursive: true });
  await Deno.writeTextFile(join(board.state.checkpoints, ".agentsplit.ckpt.tmp-123-0badf00d"), "half");
  await Deno.writeTextFile(join(board.state.checkpoints, "keep.txt"), "not a temp file");
  const { logger, lines } = keptLogger();
  await removeLeftoverTempFiles(board.state, logger); // samples/ does not exist yet: fine
  const left = [...Deno.readDirSync(board.state.checkpoints)].map((e) => e.name);
  assert.deepEqual(left, ["keep.txt"]);
  assert.ok(
    lines.some((l) => l.count === 1 && /interrupted write/.test(String(l.msg))),
    JSON.stringify(lines),
  );
});

Deno.test("posted samples are bounded by data.maxSampleMiB when their rows are wide, by data.maxSamples otherwise", async () => {
  await using board = await makeBoard(0);
  const config = board.config({ "data.source": "", "data.maxSamples": 100_000, "data.maxSampleMiB": 1 });
  assert.equal(storedSampleBound(config, 784), 334, "1 MiB of 784 float32 values");
  assert.equal(storedSampleBound(config, 3), 87_381);
  assert.equal(storedSampleBound(board.config({ "data.maxSamples": 500 }), 3), 500);
  const tight = board.config({
    "data.source": "",
    "data.heldOut": 0,
    "data.maxSamples": 100,
    "data.maxSampleMiB": 1,
  });
  const { logger, lines } = keptLogger();
  const wide = { spec, inputSize: 3, classes: 3 };
  const data = await loadLocalData(wide, { config: tight, state: board.state, logger });
  assert.ok(
    !lines.some((l) => l.msg === "Posted samples are bounded by memory"),
    "100 narrow rows fit in 1 MiB",
  );
  for (let i = 0; i < 6; i++) {
    await data.store.append(new Float32Array(30 * 3).fill(1), new Uint8Array(30), 30);
  }
  assert.equal(data.store.count, 90, "whole oldest requests dropped beyond 100 rows");
  data.refresh();
  assert.equal(data.current.train.count, 90);
});
