import assert from "node:assert/strict";
import { pairedDrop, settings, table } from "../../scripts/bench/swarm_sim.ts";
import { type SeedSummary, summarizeSeeds } from "../../src/sim/mod.ts";

const run = (seed: number, minHonest: number, extra: Partial<SeedSummary> = {}): SeedSummary => ({
  seed,
  minHonest,
  meanHonest: minHonest,
  mbPerNode: 1.9,
  falsePositives: [],
  reached: null,
  ...extra,
});

Deno.test("pairedDrop() compares each seed with the clean run of the same seed", () => {
  const clean = [run(1, 0.94), run(2, 0.9)];
  assert.ok(Math.abs(pairedDrop([run(1, 0.93), run(2, 0.9)], clean) - -0.01) < 1e-9);
  // A seed without a clean run is compared with the clean setting's worst seed.
  assert.ok(Math.abs(pairedDrop([run(3, 0.85)], clean) - -0.05) < 1e-9);
});

Deno.test("the benchmark table has one row per setting, with the false positives, damped peers and backdoor success", () => {
  const all = settings(1600);
  assert.ok(
    all.some((s) => s.name === "iid-10-byz2-backdoor") && all.some((s) => s.name === "c2-5-poison-huge"),
  );
  const saved = (runs: SeedSummary[]) => ({
    rounds: 1600,
    model: "mlp",
    setting: summarizeSeeds(runs),
    runs,
    seconds: 1,
  });
  const results = new Map([
    ["iid-5", saved([run(1, 0.94), run(2, 0.95)])],
    [
      "iid-5-byz1-backdoor",
      saved([
        run(1, 0.93, {
          backdoor: 0.02,
          falsePositives: ["n2"],
          damped: ["n3", "n4"],
          attackerIgnoredBy: 1,
          attackerDampedBy: 3,
        }),
        run(2, 0.95, { attackerIgnoredBy: 4, attackerDampedBy: 0 }),
      ]),
    ],
  ]);
  const md = table(all, results, 1600, "deno task bench:swarm-sim");
  const rows = md.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| setting"));
  assert.equal(rows.length, all.length);
  const bd = rows.find((l) => l.startsWith("| iid-5-byz1-backdoor "))!;
  assert.match(bd, /\| 93\.0% \|/);
  assert.match(bd, /-1\.00 pp/);
  assert.match(bd, /\| 1 \(1\) \| 2 \(1\) \| 2\.0% \| 1 \/ 0 \|/);
  assert.match(rows.find((l) => l.startsWith("| c1-10 "))!, /not run/);
});
