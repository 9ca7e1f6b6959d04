/**
 * `deno task bench:datasets`: centralized vs swarm accuracy of the example datasets' models over many
 * seeds, with the simulation of `deno task sim` (same learner, lossy in-memory network, the model
 * spec's input normalisation). For each (dataset, model) it reports the centralized baseline and the
 * worst node of the swarm, as min / mean / max over the seeds. Every figure comes from this run.
 *
 *   deno task bench:datasets [--seeds 10] [--only weather-mlp,...] [-- extra sim options]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parseSimArgs } from "./lib/sim_args.ts";
import { simulate } from "./sim.ts";

/** The configurations measured (the sim options besides --seed). */
export const CONFIGS: { name: string; args: string[] }[] = [
  { name: "weather-mlp", args: ["--dataset", "weather", "--model", "weather-mlp", "--rounds", "200"] },
  { name: "weather-cnn", args: ["--dataset", "weather-seq", "--model", "weather-cnn", "--rounds", "200"] },
  {
    name: "weather-transformer",
    args: ["--dataset", "weather-seq", "--model", "weather-transformer", "--rounds", "200"],
  },
  {
    name: "seq-mnist-transformer",
    args: ["--dataset", "seq-mnist", "--model", "seq-mnist-transformer", "--rounds", "300"],
  },
  { name: "seq-mnist-cnn", args: ["--dataset", "seq-mnist", "--model", "seq-mnist-cnn", "--rounds", "300"] },
];

function stats(v: number[]): string {
  const pct = (x: number) => (x * 100).toFixed(1);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return `${pct(Math.min(...v))} / ${pct(mean)} / ${pct(Math.max(...v))}`;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { seeds: { type: "string" }, only: { type: "string" } },
    allowPositionals: true,
  });
  const seeds = Number(values.seeds ?? 10);
  const only = values.only?.split(",");
  const lines = [
    `| model | seeds | centralized % (min / mean / max) | swarm worst node % (min / mean / max) |`,
    `|---|---|---|---|`,
  ];
  for (const c of CONFIGS.filter((c) => !only || only.includes(c.name))) {
    const central: number[] = [], worst: number[] = [];
    for (let seed = 1; seed <= seeds; seed++) {
      const args = parseSimArgs([...c.args, ...positionals, "--seed", String(seed), "--out", ".bench"]);
      if (args === "help") throw new Error("Bug: help requested");
      const r = await simulate(args, () => {});
      central.push(r.centralized ?? NaN);
      worst.push(Math.min(...r.nodes.map((n) => n.accuracy)));
      console.error(`${c.name} seed ${seed}: centralized ${r.centralized}, worst node ${worst.at(-1)}`);
    }
    lines.push(`| ${c.name} | ${seeds} | ${stats(central)} | ${stats(worst)} |`);
  }
  console.log(lines.join("\n"));
}
