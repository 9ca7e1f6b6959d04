/**
 * Swarm learning simulation: N nodes in one process over the in-memory network, each with its own
 * MNIST shard, optional Byzantine nodes and a late joiner, plus a centralized baseline of the same model
 * on the union of the shards. Prints per-node accuracy over rounds and traffic, writes a CSV and an SVG
 * plot (accuracy vs bytes sent) into --out.
 *
 *   deno task sim --nodes 5 --split classes:2 --loss 10 --max-datagram 1232 --rounds 300
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "../src/errors.ts";
import { loadMnist, MNIST_PIXELS, subset } from "../src/learn/mnist.ts";
import { parseSplit, splitIndices } from "../src/learn/split.ts";
import { type Attack, ATTACKS, runSwarmSim, type SwarmSimResult } from "../src/learn/swarm_sim.ts";
import { TinyMlp } from "../src/learn/tiny_mlp.ts";
import { ValueEncoding } from "../src/learn/codec.ts";
import { DEFAULT_LEARNER_OPTIONS, type LearnerModel } from "../src/learn/learner.ts";
import type { RobustRule } from "../src/learn/robust.ts";
import { deflateBody } from "../src/wire/mod.ts";

const USAGE = `Usage: deno task sim [options]

Options:
  --model NAME           mnist-mlp | mnist-vit (model runtime, tfjs wasm) |
                         mlp (dependency-free JS 784-32-10, for quick runs)   [mnist-mlp]
  --nodes N              number of nodes (2..64)                                [5]
  --split SPEC           iid | classes:K | dirichlet:ALPHA                      [iid]
  --loss PERCENT         datagram loss per receiver, 0..90                     [10]
  --duplicate PERCENT    duplicated datagrams, 0..50                            [0]
  --max-datagram BYTES   largest signed datagram, 512..4096                  [1232]
  --rounds N             rounds (each: local steps, mix, publish)             [300]
  --local-steps N        local optimizer steps per round                        [1]
  --byzantine N:ATTACK   N attacking nodes; ATTACK = signflip|huge|nan|replay|labelflip
  --late-join            the last node joins after half the run
  --fresh-start STAGGER  start like agents without a checkpoint: every node joining,
                         node i at round 1 + i × STAGGER (0 = all at once)
  --churn EVERY:DOWN     every EVERY rounds one node goes offline for DOWN rounds, then
                         comes back from its checkpoint (e.g. 100:50)
  --async SPREAD         node i runs 1 − SPREAD × i/(N−1) rounds per round, 0..0.9  [0]
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

function parseChurn(text: string): { every: number; down: number } {
  const m = /^(\d+):(\d+)$/.exec(text);
  const every = Number(m?.[1]);
  const down = Number(m?.[2]);
  if (!m || every < 1 || down < 1 || every > 100000 || down > 100000) {
    throw new UsageError(`Invalid --churn ${JSON.stringify(text)}`, "Use EVERY:DOWN in rounds, e.g. 100:50");
  }
  return { every, down };
}

/** Parsed command line. */
export interface SimArgs {
  model: string;
  nodes: number;
  split: string;
  loss: number;
  duplicate: number;
  maxDatagram: number;
  rounds: number;
  localSteps: number;
  byzantine?: { count: number; attack: Attack };
  lateJoin: boolean;
  freshStart: number | undefined;
  churn?: { every: number; down: number };
  speedSpread: number;
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
        "max-datagram": { type: "string" },
        rounds: { type: "string" },
        "local-steps": { type: "string" },
        byzantine: { type: "string" },
        "late-join": { type: "boolean" },
        "fresh-start": { type: "string" },
        async: { type: "string" },
        churn: { type: "string" },
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
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message, "Run 'deno task sim --help' for the options");
  }
  const v = parsed.values;
  if (v.help) return "help";
  const model = v.model ?? "mnist-mlp";
  if (!["mlp", "mnist-mlp", "mnist-vit"].includes(model)) {
    throw new UsageError(`Unknown --model ${JSON.stringify(model)}`, "Use mlp, mnist-mlp or mnist-vit");
  }
  const nodes = intArg("nodes", v.nodes, 5, 2, 64);
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
    const m = /^(\w+)=(-?[\d.e-]+)$/.exec(t);
    if (!m || !(m[1] in DEFAULT_LEARNER_OPTIONS) || !Number.isFinite(Number(m[2]))) {
      throw new UsageError(
        `Invalid --tune ${JSON.stringify(t)}`,
        `Use NAME=NUMBER with NAME one of ${Object.keys(DEFAULT_LEARNER_OPTIONS).join(", ")}`,
      );
    }
    tune[m[1]] = Number(m[2]);
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
    nodes,
    split,
    loss: numArg("loss", v.loss, 10, 0, 90) / 100,
    duplicate: numArg("duplicate", v.duplicate, 0, 0, 50) / 100,
    maxDatagram: intArg("max-datagram", v["max-datagram"], 1232, 512, 4096),
    rounds,
    localSteps: intArg("local-steps", v["local-steps"], 1, 1, 10000),
    byzantine,
    lateJoin: v["late-join"] ?? false,
    freshStart: v["fresh-start"] === undefined
      ? undefined
      : intArg("fresh-start", v["fresh-start"], 0, 0, 1000),
    speedSpread: numArg("async", v.async, 0, 0, 0.9),
    ...(v.churn === undefined ? {} : { churn: parseChurn(v.churn) }),
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

/** Builds the model factory for `name`. */
function modelFactory(args: SimArgs): (node: number) => Promise<LearnerModel> | LearnerModel {
  const name = args.model;
  if (name === "mlp") {
    return () =>
      new TinyMlp({
        inputs: MNIST_PIXELS,
        hidden: 32,
        classes: 10,
        seed: 1,
        optimizer: args.optimizer,
        learningRate: args.lr,
        momentum: args.momentum,
      });
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

/** Runs one simulation from parsed args. */
export async function simulate(args: SimArgs, log: (line: string) => void): Promise<SwarmSimResult> {
  const { train, test } = await loadMnist(args.seed);
  const shards = splitIndices(train.y, args.nodes, parseSplit(args.split), args.seed).map((ix) =>
    subset(train, ix)
  );
  const byzantine = args.byzantine
    ? Array.from({ length: args.byzantine.count }, (_, i) => ({ node: i, attack: args.byzantine!.attack }))
    : [];
  return await runSwarmSim({
    createModel: modelFactory(args),
    shards,
    features: MNIST_PIXELS,
    test,
    rounds: args.rounds,
    localSteps: args.localSteps,
    loss: args.loss,
    duplicate: args.duplicate,
    maxDatagram: args.maxDatagram,
    deflate: deflateBody,
    byzantine,
    lateJoin: args.lateJoin ? { node: args.nodes - 1, round: Math.floor(args.rounds / 2) } : undefined,
    freshStart: args.freshStart === undefined ? undefined : { stagger: args.freshStart },
    churn: args.churn,
    speedSpread: args.speedSpread,
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
      ...args.tune,
    },
    onEval: (r) =>
      log(
        `round ${String(r.round).padStart(4)} ${r.node.padEnd(11)} acc ${(r.accuracy * 100).toFixed(2)}%` +
          (r.node === "centralized"
            ? ""
            : `  sent ${(r.bytesSent / 1e3).toFixed(1)} kB in ${r.datagramsSent} datagrams`),
      ),
  });
}

/** CSV of the evaluation rows. */
export function toCsv(result: SwarmSimResult): string {
  return "round,node,accuracy,loss,bytes_sent,datagrams_sent\n" +
    result.rows.map((r) => `${r.round},${r.node},${r.accuracy},${r.loss},${r.bytesSent},${r.datagramsSent}`)
      .join("\n") +
    "\n";
}

/** An SVG line plot of accuracy vs bytes sent per node, with the centralized accuracy as a dashed line. */
export function toSvg(result: SwarmSimResult, title: string): string {
  const W = 720, H = 440, L = 60, R = 150, T = 40, B = 50;
  const nodes = [...new Set(result.rows.filter((r) => r.node !== "centralized").map((r) => r.node))];
  const maxBytes = Math.max(1, ...result.rows.map((r) => r.bytesSent));
  const accs = result.rows.map((r) => r.accuracy);
  const minAcc = Math.max(0, Math.floor(Math.min(...accs, result.centralized ?? 1) * 10) / 10 - 0.05);
  const sx = (b: number) => L + (b / maxBytes) * (W - L - R);
  const sy = (a: number) => T + (1 - (a - minAcc) / (1 - minAcc)) * (H - T - B);
  const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">bytes sent per node (kB)</text>`,
    `<text x="16" y="${(T + H - B) / 2}" transform="rotate(-90 16 ${
      (T + H - B) / 2
    })" text-anchor="middle">test accuracy</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const b = (maxBytes * i) / 5;
    const a = minAcc + ((1 - minAcc) * i) / 5;
    parts.push(
      `<text x="${sx(b)}" y="${H - B + 16}" text-anchor="middle">${(b / 1e3).toFixed(0)}</text>`,
      `<text x="${L - 6}" y="${sy(a) + 4}" text-anchor="end">${(a * 100).toFixed(0)}%</text>`,
      `<line x1="${L}" y1="${sy(a)}" x2="${W - R}" y2="${sy(a)}" stroke="#eee"/>`,
    );
  }
  if (result.centralized !== undefined) {
    const y = sy(result.centralized);
    parts.push(
      `<line x1="${L}" y1="${y}" x2="${W - R}" y2="${y}" stroke="black" stroke-dasharray="5,4"/>`,
      `<text x="${W - R + 6}" y="${y + 4}">centralized ${(result.centralized * 100).toFixed(1)}%</text>`,
    );
  }
  nodes.forEach((node, k) => {
    const pts = result.rows.filter((r) => r.node === node).map((r) =>
      `${sx(r.bytesSent).toFixed(1)},${sy(r.accuracy).toFixed(1)}`
    );
    const info = result.nodes.find((n) => n.id === node);
    const label = node + (info?.byzantine ? ` (${info.byzantine})` : "");
    parts.push(
      `<polyline fill="none" stroke="${colors[k % colors.length]}" stroke-width="1.5" points="${
        pts.join(" ")
      }"/>`,
      `<text x="${W - R + 6}" y="${T + 16 * (k + 2)}" fill="${colors[k % colors.length]}">${
        esc(label)
      }</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseSimArgs(Deno.args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`sim_swarm: error: ${e.message}`);
      if (e.hint) console.error(`  hint: ${e.hint}`);
      return 2;
    }
    throw e;
  }
  if (args === "help") {
    console.log(USAGE);
    return 0;
  }
  const log = args.json ? (l: string) => console.error(l) : (l: string) => console.log(l);
  const started = performance.now();
  const result = await simulate(args, log);
  const name = args.name ??
    `sim-${args.model}-n${args.nodes}-${args.split.replace(":", "")}-d${args.maxDatagram}` +
      (args.byzantine ? `-byz${args.byzantine.attack}` : "") + (args.lateJoin ? "-late" : "") +
      (args.freshStart !== undefined ? `-fresh${args.freshStart}` : "") +
      (args.speedSpread ? `-async${args.speedSpread}` : "") +
      (args.churn ? `-churn${args.churn.every}x${args.churn.down}` : "");
  await Deno.mkdir(args.out, { recursive: true });
  await Deno.writeTextFile(`${args.out}/${name}.csv`, toCsv(result));
  await Deno.writeTextFile(`${args.out}/${name}.svg`, toSvg(result, name));
  log(
    `centralized baseline: ${
      result.centralized === undefined ? "-" : (result.centralized * 100).toFixed(2) + "%"
    }`,
  );
  for (const n of result.nodes) {
    log(
      `${n.id}${n.byzantine ? ` [${n.byzantine}]` : ""}: acc ${(n.accuracy * 100).toFixed(2)}%, ` +
        `${(n.bytesSent / 1e6).toFixed(3)} MB in ${n.datagramsSent} datagrams, ignored by ${n.ignoredBy}` +
        (n.caughtUpRound !== undefined ? `, caught up at round ${n.caughtUpRound}` : ""),
    );
  }
  log(
    `largest datagram ${result.largestDatagram} B (limit ${result.maxDatagram}); ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s; wrote ${args.out}/${name}.{csv,svg}`,
  );
  if (args.json) {
    console.log(JSON.stringify({
      centralized: result.centralized,
      nodes: result.nodes.map((n) => ({
        id: n.id,
        accuracy: n.accuracy,
        bytesSent: n.bytesSent,
        datagramsSent: n.datagramsSent,
        ...(n.byzantine ? { byzantine: n.byzantine, ignoredBy: n.ignoredBy } : {}),
        everIgnoredBy: n.everIgnoredBy,
        ...(n.caughtUpRound !== undefined || (args.lateJoin && n.id === `n${args.nodes - 1}`)
          ? { lateJoinRound: Math.floor(args.rounds / 2), caughtUpRound: n.caughtUpRound ?? null }
          : {}),
      })),
      maxDatagram: result.largestDatagram,
      rounds: result.rounds,
      csv: `${args.out}/${name}.csv`,
      svg: `${args.out}/${name}.svg`,
    }));
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
