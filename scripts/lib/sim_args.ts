/**
 * Command line of `deno task sim` (`scripts/sim.ts`): the options, their defaults and checks.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "../../src/errors.ts";
import { parseSplit } from "../../src/learn/split.ts";
import { DEFAULT_LEARNER_OPTIONS, type RobustRule, ValueEncoding } from "../../src/learn/mod.ts";
import { type Attack, ATTACKS, parseSeeds, type Poison, POISONS } from "../../src/sim/mod.ts";
import { checkSimDataset, DATASET_MODELS } from "./sim_data.ts";

export const USAGE = `Usage: deno task sim [options]

Options:
  --model NAME           mnist-mlp | mnist-vit (model runtime, tfjs wasm) |
                         mlp (dependency-free JS 784-32-10, for quick runs)   [mnist-mlp]
  --nodes N              number of nodes (2..2000)                              [5]
  --dataset NAME         mnist | seq-mnist | weather | weather-seq (with --model a spec
                         made for it, e.g. weather-mlp; see src/data/datasets.ts) [mnist]
  --split SPEC           iid | classes:K | dirichlet:ALPHA                      [iid]
  --data-repeat R        deal every training row to R nodes' shards (shards R times
                         as large, rows shared): for more nodes than the data feeds  [1]
  --loss PERCENT         base datagram loss per receiver, 0..90                [10]
  --capacity BYTES/S     shared-medium capacity of the broadcast channel; above it
                         loss grows with the offered load (src/sim/network.ts);
                         0 = unlimited                                          [0]
  --round-ms MS|auto     simulated time per round: the nodes' clocks (committee
                         seats, timeouts), the channel load and the time to
                         target; auto = the agent's airtime plan under its
                         default budget (src/gossip/airtime.ts), every round  [1000]
  --fan-in K             bounded fan-in: a committee of K nodes publishes, every
                         node merges its copies (learning.fanIn; 0 = all)      [32]
  --duplicate PERCENT    duplicated datagrams, 0..50                            [0]
  --max-datagram BYTES   largest signed datagram, 512..4096                  [1232]
  --rounds N             rounds (each: local steps, mix, publish)             [300]
  --local-steps N        local optimizer steps per round                        [1]
  --byzantine N:ATTACK   nodes 0..N−1 attack; ATTACK = signflip | huge | nan | replay |
                         labelflip | alie | ipm | adaptive | backdoor (see src/sim/attacks.ts)
  --poison KIND          bad rows in the last node's own data (it stays honest):
                         scale (one row of raw 0–255 pixels) | mislabel (1,000 rows
                         with wrong labels) | huge (one row of 1e30)
  --churn                nodes leave and rejoin: the last ⌈N/10⌉ join late (at 10–30% of
                         the run, catching up from snapshots); ⌈N/5⌉ others (never an
                         attacker) go offline once at 20–60% of the run for 5–10% of it
                         and come back restarted from the checkpoint taken when they
                         left; all are back by 70%. Drawn from the seed
  --late-join            the last node joins after half the run
  --fresh-start STAGGER  start like agents without a checkpoint: every node joining,
                         node i at round 1 + i × STAGGER (0 = all at once)
  --async SPREAD         node i runs 1 − SPREAD × i/(N−1) rounds per round, 0..0.9  [0]
  --clock-skew           boards' rounds out of step as on a real network: each
                         board's clock runs a share of a round (drawn from the
                         seed) behind the round's start, so committee seats change
                         hands at different rounds on different boards
  --rule RULE            clip | trimmed-mean | median | mean                [clip]
  --encoding ENC         int8 | fp16 | f32                                    [int8]
  --messages N           delta messages per node per round                      [1]
  --optimizer NAME       sgd (with momentum) | adam                             [sgd]
  --momentum M           momentum of the model's sgd optimizer                  [0]
  --lr RATE              initial learning rate                    [sgd 0.5, adam 0.001]
  --rate-final RATE      learning rate after --decay-at               [sgd 0.05, adam lr]
  --decay-at ROUND       round where the rate reaches --rate-final     [55% of --rounds]
  --schedule NAME        step | cosine                                         [step]
  --eval-every N         rounds between evaluations                            [25]
  --seed N               seed of split, init and network                        [1]
  --seeds A..B | N       run every seed A..B (or 1..N), --parallel at a time, and report
                         the worst honest node over all seeds, the median and spread of
                         the per-seed minima, MB/node, and the false positives (honest
                         peers ignored by anyone at any time while online)
  --parallel N           seed runs at once (subprocesses), 1..16                 [2]
  --target PERCENT       accuracy every honest node must hold ("reached at")   [93.5]
  --evaluate WHICH       local (the node's model) | consensus (robust centre) [consensus]
  --tune NAME=VALUE      override a learner tunable (repeatable), e.g. refreshFraction=0.2
  --out DIR              where the CSV and SVG go                          [.bench]
  --name NAME            file name stem of the CSV and SVG        [from the options]
  --no-centralized       skip the centralized baseline
  --sign                 Ed25519-sign every frame (sizes are exact without; slower)
  --json                 end with one JSON result object
  -h, --help             this help`;

function intArg(name: string, text: string | undefined, def: number, min: number, max: number): number {
  if (text === undefined) return def;
  const v = Number(text);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new UsageError(
      `Invalid --${name} ${JSON.stringify(text)}`,
      `Use a whole number from ${min} to ${max}`,
    );
  }
  return v;
}

function numArg(name: string, text: string | undefined, def: number, min: number, max: number): number {
  if (text === undefined) return def;
  const v = Number(text.replace(/%$/, ""));
  if (!Number.isFinite(v) || v < min || v > max) {
    throw new UsageError(`Invalid --${name} ${JSON.stringify(text)}`, `Use a number from ${min} to ${max}`);
  }
  return v;
}

/** One `--tune NAME=NUMBER` as [name, value], or undefined unless NAME is a learner tunable. */
export function tuneEntry(text: string): [string, number] | undefined {
  const m = /^(\w+)=(-?[\d.e-]+)$/.exec(text);
  if (!m || !(m[1] in DEFAULT_LEARNER_OPTIONS) || !Number.isFinite(Number(m[2]))) return undefined;
  return [m[1], Number(m[2])];
}

/** Parsed command line. */
export interface SimArgs {
  model: string;
  /** Example dataset (default mnist). */
  dataset?: string;
  nodes: number;
  split: string;
  loss: number;
  duplicate: number;
  /** Shared-medium capacity in bytes per simulated second (0 = unlimited). */
  capacity: number;
  /** Simulated ms per round, or "auto" (the agent's airtime plan, every round: src/sim/swarm.ts). */
  roundMs: number | "auto";
  fanIn: number | undefined;
  maxDatagram: number;
  rounds: number;
  localSteps: number;
  byzantine?: { count: number; attack: Attack };
  poison?: Poison;
  churn: boolean;
  /** Several seeds (subprocess runs) instead of `seed`. */
  seeds?: number[];
  parallel: number;
  target: number;
  lateJoin: boolean;
  /** Every training row is dealt to this many shards (`dealRows`). */
  dataRepeat: number;
  freshStart: number | undefined;
  speedSpread: number;
  clockSkew: boolean;
  rule: RobustRule;
  encoding: ValueEncoding;
  messages: number;
  evalEvery: number;
  seed: number;
  out: string;
  centralized: boolean;
  sign: boolean;
  name: string | undefined;
  json: boolean;
  evaluate: "local" | "consensus";
  optimizer: "adam" | "sgd";
  lr: number;
  rateFinal: number;
  momentum: number;
  decayAt: number;
  schedule: "step" | "cosine";
  tune: Record<string, number>;
}

/** Parses argv (throws UsageError). */
export function parseSimArgs(argv: string[]): SimArgs | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: "string" },
        nodes: { type: "string" },
        split: { type: "string" },
        loss: { type: "string" },
        duplicate: { type: "string" },
        capacity: { type: "string" },
        "round-ms": { type: "string" },
        "fan-in": { type: "string" },
        "max-datagram": { type: "string" },
        rounds: { type: "string" },
        "local-steps": { type: "string" },
        byzantine: { type: "string" },
        poison: { type: "string" },
        churn: { type: "boolean" },
        seeds: { type: "string" },
        parallel: { type: "string" },
        target: { type: "string" },
        "late-join": { type: "boolean" },
        "data-repeat": { type: "string" },
        "fresh-start": { type: "string" },
        async: { type: "string" },
        "clock-skew": { type: "boolean" },
        rule: { type: "string" },
        encoding: { type: "string" },
        "rate-final": { type: "string" },
        momentum: { type: "string" },
        "decay-at": { type: "string" },
        schedule: { type: "string" },
        messages: { type: "string" },
        "eval-every": { type: "string" },
        seed: { type: "string" },
        evaluate: { type: "string" },
        tune: { type: "string", multiple: true },
        optimizer: { type: "string" },
        lr: { type: "string" },
        out: { type: "string" },
        "no-centralized": { type: "boolean" },
        sign: { type: "boolean" },
        name: { type: "string" },
        json: { type: "boolean" },
        dataset: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message, "Run 'deno task sim --help' for the options");
  }
  const v = parsed.values;
  if (v.help) return "help";
  const model = v.model ?? "mnist-mlp";
  if (!["mlp", "mnist-mlp", "mnist-vit", ...DATASET_MODELS].includes(model)) {
    throw new UsageError(
      `Unknown --model ${JSON.stringify(model)}`,
      `Use mlp, mnist-mlp, mnist-vit or a dataset's model (${DATASET_MODELS.join(", ")})`,
    );
  }
  checkSimDataset(v.dataset, model);
  const nodes = intArg("nodes", v.nodes, 5, 2, 2000);
  const capacity = intArg("capacity", v.capacity, 0, 0, 1e9);
  const roundMs = v["round-ms"] === "auto"
    ? "auto" as const
    : intArg("round-ms", v["round-ms"], 1000, 1, 3_600_000);
  const split = v.split ?? "iid";
  parseSplit(split);
  let byzantine: SimArgs["byzantine"];
  if (v.byzantine !== undefined) {
    const m = /^(\d+):(\w+)$/.exec(v.byzantine);
    const count = Number(m?.[1]);
    if (!m || !ATTACKS.includes(m[2] as Attack) || count < 1 || count >= nodes) {
      throw new UsageError(
        `Invalid --byzantine ${JSON.stringify(v.byzantine)}`,
        `Use N:ATTACK with 1 ≤ N < nodes and ATTACK one of ${ATTACKS.join(", ")}, e.g. 1:signflip`,
      );
    }
    byzantine = { count, attack: m[2] as Attack };
  }
  const poison = v.poison as Poison | undefined;
  if (poison !== undefined && !POISONS.includes(poison)) {
    throw new UsageError(`Unknown --poison ${JSON.stringify(v.poison)}`, `Use one of ${POISONS.join(", ")}`);
  }
  const rule = (v.rule ?? "clip") as RobustRule;
  if (!["trimmed-mean", "median", "clip", "mean"].includes(rule)) {
    throw new UsageError(
      `Unknown --rule ${JSON.stringify(v.rule)}`,
      "Use trimmed-mean, median, clip or mean",
    );
  }
  const encodings: Record<string, ValueEncoding> = {
    int8: ValueEncoding.Int8,
    fp16: ValueEncoding.Fp16,
    f32: ValueEncoding.F32,
  };
  const encoding = encodings[v.encoding ?? "int8"];
  if (!encoding) {
    throw new UsageError(`Unknown --encoding ${JSON.stringify(v.encoding)}`, "Use int8, fp16 or f32");
  }
  const evaluate = v.evaluate ?? "consensus";
  if (evaluate !== "local" && evaluate !== "consensus") {
    throw new UsageError(`Unknown --evaluate ${JSON.stringify(evaluate)}`, "Use local or consensus");
  }
  const tune: Record<string, number> = {};
  for (const t of v.tune ?? []) {
    const entry = tuneEntry(t);
    if (!entry) {
      throw new UsageError(
        `Invalid --tune ${JSON.stringify(t)}`,
        `Use NAME=NUMBER with NAME one of ${Object.keys(DEFAULT_LEARNER_OPTIONS).join(", ")}`,
      );
    }
    tune[entry[0]] = entry[1];
  }
  if (v.name !== undefined && !/^[\w.-]+$/.test(v.name)) {
    throw new UsageError(
      `Invalid --name ${JSON.stringify(v.name)}`,
      "Use letters, digits, '.', '_' and '-' only",
    );
  }
  const optimizer = v.optimizer ?? "sgd";
  if (optimizer !== "adam" && optimizer !== "sgd") {
    throw new UsageError(
      `Unknown --optimizer ${JSON.stringify(optimizer)}`,
      "Use adam or sgd",
    );
  }
  const schedule = v.schedule ?? "step";
  if (schedule !== "step" && schedule !== "cosine") {
    throw new UsageError(`Unknown --schedule ${JSON.stringify(schedule)}`, "Use step or cosine");
  }
  const rounds = intArg("rounds", v.rounds, 300, 1, 100000);
  const lr = numArg("lr", v.lr, optimizer === "sgd" ? 0.5 : 0.001, 1e-6, 1);
  return {
    optimizer,
    lr,
    momentum: numArg("momentum", v.momentum, 0, 0, 0.999),
    rateFinal: numArg("rate-final", v["rate-final"], optimizer === "sgd" ? 0.05 : lr, 1e-6, 1),
    decayAt: intArg("decay-at", v["decay-at"], Math.round(rounds * 0.55), 0, 100000),
    schedule,
    evaluate,
    tune,
    model,
    ...(v.dataset !== undefined ? { dataset: v.dataset } : {}),
    nodes,
    split,
    loss: numArg("loss", v.loss, 10, 0, 90) / 100,
    duplicate: numArg("duplicate", v.duplicate, 0, 0, 50) / 100,
    capacity,
    roundMs,
    fanIn: v["fan-in"] === undefined ? undefined : intArg("fan-in", v["fan-in"], 16, 0, 2000),
    maxDatagram: intArg("max-datagram", v["max-datagram"], 1232, 512, 4096),
    rounds,
    localSteps: intArg("local-steps", v["local-steps"], 1, 1, 10000),
    byzantine,
    poison,
    churn: v.churn ?? false,
    seeds: v.seeds === undefined ? undefined : parseSeeds(v.seeds),
    parallel: intArg("parallel", v.parallel, 2, 1, 16),
    target: numArg("target", v.target, 93.5, 0, 100) / 100,
    lateJoin: v["late-join"] ?? false,
    dataRepeat: intArg("data-repeat", v["data-repeat"], 1, 1, 100),
    freshStart: v["fresh-start"] === undefined
      ? undefined
      : intArg("fresh-start", v["fresh-start"], 0, 0, 1000),
    speedSpread: numArg("async", v.async, 0, 0, 0.9),
    clockSkew: v["clock-skew"] ?? false,
    rule,
    encoding,
    messages: intArg("messages", v.messages, 1, 1, 100),
    evalEvery: intArg("eval-every", v["eval-every"], 25, 1, 100000),
    seed: intArg("seed", v.seed, 1, 0, 2 ** 31),
    out: v.out ?? ".bench",
    centralized: !v["no-centralized"],
    sign: v.sign ?? false,
    name: v.name,
    json: v.json ?? false,
  };
}
