/**
 * `deno task sim`: a swarm-learning simulation (src/sim/): N nodes in one process over the in-memory
 * network, each with its own MNIST shard, optional attackers, poisoned local rows, churn or a late
 * joiner, plus a centralized baseline of the same model on the union of the shards. Prints per-node
 * accuracy over rounds and traffic, writes a CSV and an SVG plot (accuracy vs bytes sent) into --out.
 * With `--seeds A..B` it runs every seed in a subprocess (two at a time) and reports the setting's
 * figures over all of them (src/sim/seeds.ts).
 *
 *   deno task sim --nodes 5 --split classes:2 --loss 10 --max-datagram 1232 --rounds 300 --seeds 1..10
 *
 * @module
 */
import { defaultConfig } from "../src/config/mod.ts";
import { UsageError } from "../src/errors.ts";
import { dealRows, type LearnerModel, parseSplit } from "../src/learn/mod.ts";
import {
  loadMnist,
  MNIST_PIXELS,
  runSwarmSim,
  type SettingSummary,
  subset,
  summarizeRun,
  summarizeSeeds,
  type SwarmSimOptions,
  type SwarmSimResult,
  TinyMlp,
} from "../src/sim/mod.ts";
import { deflateBody } from "../src/wire/mod.ts";
import { parseSimArgs, type SimArgs, USAGE } from "./lib/sim_args.ts";
import { loadSimData } from "./lib/sim_data.ts";
import { toCsv, toSvg } from "./lib/sim_plot.ts";
import { perSeedArgs, runSeeds } from "./lib/seed_runs.ts";

/**
 * One node's view of a model instance shared by all nodes: its own weights and learning rate, loaded
 * into the shared instance for each step or evaluation. Only for a stateless optimizer (plain SGD
 * without momentum), so 1,000 nodes need 1,000 weight vectors, not 1,000 models with optimizer state.
 */
function sharedModelView(shared: TinyMlp, init: Float32Array): LearnerModel {
  let lr = shared.learningRate;
  let own: Float32Array = init.slice();
  return {
    paramCount: shared.paramCount,
    modelHash: shared.modelHash,
    getWeights: () => own.slice(),
    setWeights: (w) => {
      if (w.length !== own.length) throw new Error(`Bug: ${w.length} weights for ${own.length}`);
      own = w.slice();
    },
    setLearningRate: (rate) => {
      lr = rate;
    },
    trainBatch: async (x, y, count) => {
      shared.setWeights(own);
      shared.setLearningRate(lr);
      const loss = await shared.trainBatch(x, y, count);
      own = shared.getWeights();
      return loss;
    },
    evaluate: (x, y, count) => {
      shared.setWeights(own);
      return shared.evaluate(x, y, count);
    },
    predict: (x, count) => {
      shared.setWeights(own);
      return shared.predict(x, count);
    },
  };
}

/** Builds the model factory for `name`. */
function modelFactory(args: SimArgs): (node: number) => Promise<LearnerModel> | LearnerModel {
  const name = args.model;
  if (name === "mlp") {
    const make = () =>
      new TinyMlp({
        inputs: MNIST_PIXELS,
        hidden: 32,
        classes: 10,
        seed: 1,
        optimizer: args.optimizer,
        learningRate: args.lr,
        momentum: args.momentum,
      });
    // Plain SGD without momentum keeps no optimizer state between steps: every node can run on one
    // instance (the learner sets its weights before each use), so 1,000 nodes do not need 1,000 models.
    if (args.optimizer === "sgd" && args.momentum === 0) {
      const shared = make();
      const init = shared.getWeights();
      return () => sharedModelView(shared, init);
    }
    return make;
  }
  return async () => {
    const { createModel, initBackend, currentBackend } = await import("../src/model/mod.ts");
    if (!currentBackend()) await initBackend("wasm");
    return await createModel(name, {
      learningRate: args.lr,
      optimizer: args.optimizer,
      momentum: args.momentum,
    });
  };
}

/** Runs one simulation from parsed args (`hooks`: per-round and per-evaluation callbacks for scripts). */
export async function simulate(
  args: SimArgs,
  log: (line: string) => void,
  hooks: Pick<SwarmSimOptions, "onRound"> = {},
): Promise<SwarmSimResult> {
  const other = args.dataset !== undefined && args.dataset !== "mnist";
  const { train, test, features } = other
    ? await loadSimData(args.dataset!, args.model, args.seed)
    : { ...await loadMnist(args.seed), features: MNIST_PIXELS };
  const shards = dealRows(train.y, args.nodes, parseSplit(args.split), args.seed, args.dataRepeat).map((ix) =>
    subset(train, ix, features)
  );
  const byzantine = args.byzantine
    ? Array.from({ length: args.byzantine.count }, (_, i) => ({ node: i, attack: args.byzantine!.attack }))
    : [];
  return await runSwarmSim({
    createModel: modelFactory(args),
    shards,
    features,
    test,
    rounds: args.rounds,
    localSteps: args.localSteps,
    loss: args.loss,
    duplicate: args.duplicate,
    capacity: args.capacity,
    roundMs: args.roundMs,
    wallClock: () => performance.now(),
    maxDatagram: args.maxDatagram,
    deflate: deflateBody,
    byzantine,
    poison: args.poison ? { node: args.nodes - 1, kind: args.poison } : undefined,
    churn: args.churn,
    lateJoin: args.lateJoin ? { node: args.nodes - 1, round: Math.floor(args.rounds / 2) } : undefined,
    freshStart: args.freshStart === undefined ? undefined : { stagger: args.freshStart },
    speedSpread: args.speedSpread,
    clockSkew: args.clockSkew,
    evalEvery: args.evalEvery,
    seed: args.seed,
    sign: args.sign,
    centralized: args.centralized,
    evaluate: args.evaluate,
    tuning: {
      rule: args.rule,
      encoding: args.encoding,
      messagesPerRound: args.messages,
      learningRate: args.lr,
      rateFinal: args.rateFinal,
      rateDecayRounds: args.decayAt,
      rateSchedule: args.schedule,
      // The agent's default (learning.fanIn) unless given: a committee of 32 above 32 boards.
      fanIn: args.fanIn ?? defaultConfig().learning.fanIn,
      ...args.tune,
    },
    ...hooks,
    onEval: (r) =>
      log(
        `round ${String(r.round).padStart(4)} ${r.node.padEnd(11)} acc ${(r.accuracy * 100).toFixed(2)}%` +
          (r.node === "centralized"
            ? ""
            : `  sent ${(r.bytesSent / 1e3).toFixed(1)} kB in ${r.datagramsSent} datagrams`),
      ),
  });
}

/** The file name stem of a run (without the seed). */
function stem(args: SimArgs): string {
  return args.name ??
    `sim-${args.model}-n${args.nodes}-${args.split.replace(":", "")}-d${args.maxDatagram}` +
      (args.byzantine ? `-byz${args.byzantine.count}${args.byzantine.attack}` : "") +
      (args.poison ? `-poison${args.poison}` : "") + (args.churn ? "-churn" : "") +
      (args.lateJoin ? "-late" : "") + (args.freshStart !== undefined ? `-fresh${args.freshStart}` : "") +
      (args.speedSpread ? `-async${args.speedSpread}` : "") +
      (args.clockSkew ? "-skew" : "") +
      (args.dataRepeat > 1 ? `-rep${args.dataRepeat}` : "");
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** One line per figure of a setting over its seeds. */
export function formatSetting(s: SettingSummary, target: number): string[] {
  return [
    `seeds ${s.seeds[0]}..${s.seeds[s.seeds.length - 1]} (${s.seeds.length})`,
    `worst honest node over all seeds: ${pct(s.worst)}`,
    `median over seeds of the per-seed minimum: ${pct(s.medianMin)} (spread ${pct(s.spread[0])}..${
      pct(s.spread[1])
    })`,
    `MB sent per node (most): ${s.mbPerNode.toFixed(2)}`,
    `every honest node ≥ ${(target * 100).toFixed(1)}% for good from: ${
      s.reachedMb === null ? "not reached in every seed" : `${s.reachedMb.toFixed(2)} MB/node (worst seed)`
    }`,
    `false positives (honest peers ignored by anyone at any time): ${s.falsePositives} in ${s.seedsWithFalsePositives} of ${s.seeds.length} seeds`,
    `honest peers damped (merged with almost no pull for their pace) by anyone at any time: ${s.damped} in ${s.seedsWithDamped} of ${s.seeds.length} seeds`,
    ...(s.backdoor !== undefined ? [`backdoor success on honest nodes (worst): ${pct(s.backdoor)}`] : []),
    ...(s.centralized ? [`centralized baseline: ${pct(s.centralized[0])}..${pct(s.centralized[1])}`] : []),
  ];
}

async function manySeeds(args: SimArgs, seeds: number[]): Promise<number> {
  const log = args.json ? (l: string) => console.error(l) : (l: string) => console.log(l);
  const runs = await runSeeds({
    args: perSeedArgs(Deno.args),
    seeds,
    parallel: args.parallel,
    name: stem(args),
    onDone: (seed, r) =>
      log(
        `seed ${seed}: min ${pct(r.summary.minHonest)}, mean ${pct(r.summary.meanHonest)}, ` +
          `${r.summary.mbPerNode.toFixed(2)} MB/node, false positives ${r.summary.falsePositives.length}` +
          (r.summary.falsePositives.length ? ` (${r.summary.falsePositives.join(", ")})` : "") +
          `, damped ${r.summary.damped?.length ?? 0}` +
          (r.summary.backdoor !== undefined ? `, backdoor ${pct(r.summary.backdoor)}` : "") +
          ` (${r.seconds.toFixed(0)} s)`,
      ),
  });
  const summary = summarizeSeeds(runs.map((r) => r.summary));
  for (const line of formatSetting(summary, args.target)) log(line);
  if (args.json) console.log(JSON.stringify({ setting: summary, runs: runs.map((r) => r.summary) }));
  return 0;
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseSimArgs(Deno.args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`sim: error: ${e.message}`);
      if (e.hint) console.error(`  hint: ${e.hint}`);
      return 2;
    }
    throw e;
  }
  if (args === "help") {
    console.log(USAGE);
    return 0;
  }
  if (args.seeds) return await manySeeds(args, args.seeds);
  const log = args.json ? (l: string) => console.error(l) : (l: string) => console.log(l);
  const started = performance.now();
  const result = await simulate(args, log);
  const name = stem(args);
  await Deno.mkdir(args.out, { recursive: true });
  await Deno.writeTextFile(`${args.out}/${name}.csv`, toCsv(result));
  await Deno.writeTextFile(`${args.out}/${name}.svg`, toSvg(result, name));
  log(`centralized baseline: ${result.centralized === undefined ? "-" : pct(result.centralized)}`);
  for (const n of result.nodes) {
    log(
      `${n.id}${n.byzantine ? ` [${n.byzantine}]` : ""}${n.poisoned ? ` [poisoned: ${n.poisoned}]` : ""}: ` +
        `acc ${pct(n.accuracy)}, ${(n.bytesSent / 1e6).toFixed(3)} MB in ${n.datagramsSent} datagrams, ` +
        `ignored by ${n.ignoredBy}, damped by ${n.dampedBy} at the end` +
        (n.backdoor !== undefined ? `, backdoor success ${pct(n.backdoor)}` : "") +
        (n.caughtUpRound !== undefined ? `, caught up at round ${n.caughtUpRound}` : ""),
    );
  }
  const fp = result.falsePositives;
  log(
    `false positives (honest peers ignored by anyone at any time): ${fp.length}` +
      (fp.length ? ` — ${fp.map((f) => `${f.peer} by ${f.by} at round ${f.round}`).join(", ")}` : ""),
  );
  const dp = result.damped;
  log(
    `honest peers damped (merged with almost no pull for their pace) by anyone at any time: ${dp.length}` +
      (dp.length ? ` — ${dp.map((f) => `${f.peer} by ${f.by} at round ${f.round}`).join(", ")}` : ""),
  );
  const ch = result.channel;
  log(
    `round interval ${(result.roundMs / 1000).toFixed(1)} s simulated` +
      (result.wallMsPerRound !== undefined
        ? `, ${(result.wallMsPerRound / 1000).toFixed(2)} s wall per round`
        : "") +
      `; channel: offered ${(ch.offered / 1e3).toFixed(1)} kB/s` +
      (ch.capacity ? ` of ${(ch.capacity / 1e3).toFixed(0)} kB/s` : "") +
      `, loss ${(ch.meanLoss * 100).toFixed(1)}% (worst round ${(ch.maxLoss * 100).toFixed(1)}%), ` +
      `bytes ${pct(ch.share.delta)} Deltas / ${pct(ch.share.chunk)} snapshot chunks / ` +
      `${pct(ch.share.request)} requests; ` +
      `RSS ${(Deno.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
  );
  log(
    `largest datagram ${result.largestDatagram} B (limit ${result.maxDatagram}); ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s; wrote ${args.out}/${name}.{csv,svg}`,
  );
  if (args.json) {
    console.log(JSON.stringify({
      summary: summarizeRun(args.seed, result, args.target),
      centralized: result.centralized,
      nodes: result.nodes.map((n) => ({
        id: n.id,
        accuracy: n.accuracy,
        bytesSent: n.bytesSent,
        datagramsSent: n.datagramsSent,
        ...(n.byzantine ? { byzantine: n.byzantine, ignoredBy: n.ignoredBy, dampedBy: n.dampedBy } : {}),
        ...(n.backdoor !== undefined ? { backdoor: n.backdoor } : {}),
        ...(n.caughtUpRound !== undefined || (args.lateJoin && n.id === `n${args.nodes - 1}`)
          ? { lateJoinRound: Math.floor(args.rounds / 2), caughtUpRound: n.caughtUpRound ?? null }
          : {}),
      })),
      falsePositives: result.falsePositives,
      damped: result.damped,
      roundMs: result.roundMs,
      wallMsPerRound: result.wallMsPerRound,
      channel: result.channel,
      rssBytes: Deno.memoryUsage().rss,
      maxDatagram: result.largestDatagram,
      rounds: result.rounds,
      csv: `${args.out}/${name}.csv`,
      svg: `${args.out}/${name}.svg`,
    }));
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
