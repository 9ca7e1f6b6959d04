import assert from "node:assert/strict";
import { newCopy, PACE_MIN, TENURE, trusted } from "../../src/learn/_peers.ts";
import { DEFAULT_LEARNER_OPTIONS } from "../../src/learn/mod.ts";

const tuning = DEFAULT_LEARNER_OPTIONS;

Deno.test("trusted(): a slow peer is left out when its copy lies beyond the clip radius or it is new to us", () => {
  const p = newCopy(new Uint8Array(32), "aa", 1, false, new Float32Array(4));
  assert.ok(trusted(p, tuning), "a fresh peer is merged");
  p.pace = PACE_MIN / 2;
  assert.ok(!trusted(p, tuning), "slow and new: left out wherever its copy lies");
  p.accepted = TENURE;
  assert.ok(trusted(p, tuning), "slow, known, within the radius: merged (an honest peer whose data differs)");
  p.far = true;
  assert.ok(!trusted(p, tuning), "slow and beyond the radius: left out");
  p.pace = PACE_MIN;
  assert.ok(trusted(p, tuning), "back at pace: merged wherever its copy lies");
  p.score = 0;
  assert.ok(!trusted(p, tuning), "a score below the threshold leaves it out whatever its pace");
});
