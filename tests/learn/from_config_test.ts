import assert from "node:assert/strict";
import { loadConfig } from "../../src/config/mod.ts";
import { UsageError } from "../../src/errors.ts";
import { modelOptionsFromConfig, tuningFromConfig } from "../../src/learn/from_config.ts";

Deno.test("tuningFromConfig() maps learning.* keys onto the learner, with measured defaults", () => {
  assert.deepEqual(tuningFromConfig(loadConfig().learning), {
    batchSize: 32,
    rule: "clip",
    messagesPerRound: 1,
    learningRate: 0.5,
    rateDecayRounds: 880,
    rateFinal: 0.05,
    rateSchedule: "step",
    averaging: 0.99,
    pull: 0.02,
    validateEvery: 50,
    suspectClip: 3,
    updateClip: 3,
    rowOutlier: 10,
    fanIn: 32,
    fanInPeriodMs: 120_000,
  });
  assert.deepEqual(modelOptionsFromConfig(loadConfig().learning), {
    optimizer: "sgd",
    momentum: 0,
    learningRate: 0.5,
  });
  const text = "learning:\n  deltasPerRound: 2\n  robustMerge: median\n  optimizer: adam\n  rate: 0.001\n" +
    "  rateDecayRounds: 0\n  rateSchedule: cosine\n";
  const learning = loadConfig({ file: "agent.yaml", text }).learning;
  assert.deepEqual(tuningFromConfig(learning), {
    batchSize: 32,
    rule: "median",
    messagesPerRound: 2,
    learningRate: 0.001,
    rateDecayRounds: 0,
    rateFinal: 0.05,
    rateSchedule: "cosine",
    averaging: 0.99,
    pull: 0.02,
    validateEvery: 50,
    suspectClip: 3,
    updateClip: 3,
    rowOutlier: 10,
    fanIn: 32,
    fanInPeriodMs: 120_000,
  });
  assert.equal(modelOptionsFromConfig(learning).optimizer, "adam");
  for (
    const bad of [
      "optimizer: rmsprop",
      "momentum: 1",
      "rateFinal: 0",
      "rateSchedule: linear",
      "suspectClip: -1",
      "updateClip: 1001",
      "rowOutlier: -0.5",
    ]
  ) {
    assert.throws(
      () => loadConfig({ file: "agent.yaml", text: `learning:\n  ${bad}\n` }),
      (e: unknown) => e instanceof UsageError && e.message.includes(`learning.${bad.split(":")[0]}`),
      bad,
    );
  }
});
