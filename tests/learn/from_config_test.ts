import assert from "node:assert/strict";
import { loadConfig } from "../../src/config/mod.ts";
import { UsageError } from "../../src/errors.ts";
import { tuningFromConfig } from "../../src/learn/from_config.ts";

Deno.test("tuningFromConfig() maps learning.* keys onto the learner, with measured defaults", () => {
  assert.deepEqual(tuningFromConfig(loadConfig().learning), {
    batchSize: 32,
    gamma: 0.5,
    rule: "clip",
    messagesPerRound: 4,
  });
  const text = "learning:\n  consensusStep: 0.3\n  deltasPerRound: 2\n  robustMerge: median\n";
  assert.deepEqual(tuningFromConfig(loadConfig({ file: "agent.yaml", text }).learning), {
    batchSize: 32,
    gamma: 0.3,
    rule: "median",
    messagesPerRound: 2,
  });
  assert.throws(
    () => loadConfig({ file: "agent.yaml", text: "learning:\n  consensusStep: 2\n" }),
    (e: unknown) => e instanceof UsageError && /learning\.consensusStep/.test(e.message),
  );
});
