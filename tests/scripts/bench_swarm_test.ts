import assert from "node:assert/strict";
import { logLevel, type NodeResult, type RunResult, sustained } from "../../scripts/bench_swarm.ts";

function node(name: string, timeline: [number, number | null, number][], byzantine = false): NodeResult {
  return {
    name,
    byzantine,
    accuracy: timeline.at(-1)?.[1] ?? null,
    rounds: 0,
    datagramsOut: 0,
    bytesOut: timeline.at(-1)?.[2] ?? 0,
    datagramsIn: 0,
    largestDatagram: 0,
    steadyRssMb: null,
    steadyPrivateMb: null,
    wire: { seen: 0, dropped: 0, oversize: 0 },
    timeline,
    honestClassAccuracy: null,
    peers: [],
  };
}

Deno.test("sustained() finds when every honest node reached the target for good, and the bytes sent by then", () => {
  const run: RunResult = {
    label: "honest",
    seed: 1,
    seconds: 20,
    falsePositives: [],
    nodes: [
      node("a", [[5, 0.90, 100], [10, 0.94, 200], [15, 0.95, 300], [20, 0.96, 400]]),
      // Dips below after first reaching it: the target counts from 15 s.
      node("b", [[5, 0.94, 110], [10, 0.93, 220], [15, 0.94, 330], [20, 0.95, 440]]),
      node("evil", [[5, 0.1, 0], [10, 0.1, 0], [15, 0.1, 0], [20, 0.1, 0]], true),
    ],
  };
  assert.deepEqual(sustained(run, 0.935), { seconds: 15, bytes: 330 });
  assert.equal(sustained(run, 0.97), null);
  run.nodes[1].timeline[3][1] = 0.9; // below at the end: never sustained
  assert.equal(sustained(run, 0.935), null);
});

Deno.test("--log-level takes the config's levels and names them when it gets anything else", () => {
  assert.equal(logLevel(undefined), "info");
  assert.equal(logLevel("debug"), "debug");
  assert.throws(() => logLevel("verbose"), /--log-level "verbose" is not one of debug, info, warn, error/);
});
