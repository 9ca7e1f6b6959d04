/**
 * `agent infer`: classifies rows (JSON arrays / JSON Lines from a file or stdin) with the latest good
 * checkpoint in the state directory, or with the seeded initial weights when there is none (and says
 * so). Bad rows exit with code 2 naming the row and column.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { type Command, type CommandContext, intOpt, stringOpt } from "./command.ts";
import { parseInferInput } from "./infer_input.ts";

/** The `infer` command. */
export const inferCommand: Command = {
  name: "infer",
  summary: "Classify input rows with the current model",
  usage: ["infer [--model ID] [--input FILE|-] [--backend B] [--top N]"],
  description: "Input: one JSON array of numbers per line (JSON Lines), or a JSON array of such rows. " +
    "Uses the newest good checkpoint in <state>/checkpoints, else the seeded initial weights.",
  options: {
    model: { type: "string", arg: "ID", help: "Model id (default: model.id from the config)" },
    input: { type: "string", arg: "FILE", help: "Read rows from FILE, or '-' for stdin (default: stdin)" },
    backend: { type: "string", arg: "B", help: "auto, webgpu, wasm or cpu (default: model.backend)" },
    top: { type: "string", arg: "N", help: "Show the N most likely classes per row (default 3)" },
  },
  positionals: [0, 0],
  examples: [
    "agent infer --input digits.jsonl",
    "agent infer --model mnist-vit --backend cpu --json < digits.jsonl",
  ],
  run: runInfer,
};

async function runInfer(ctx: CommandContext): Promise<number> {
  const config = await ctx.config();
  const top = intOpt(ctx, "top", 1, 4096, "infer") ?? 3;
  const backendChoice = stringOpt(ctx, "backend") ?? config.model.backend;
  const modelId = stringOpt(ctx, "model") ?? config.model.id;
  const input = stringOpt(ctx, "input");
  if (input === undefined && ctx.io.stdinIsTerminal) {
    throw new UsageError(
      "No input rows: stdin is a terminal",
      "Pass --input FILE, or pipe rows into 'agent infer'",
    );
  }
  if (!["auto", "webgpu", "wasm", "cpu"].includes(backendChoice)) {
    throw new UsageError(
      `Option --backend ${JSON.stringify(backendChoice)} is not one of auto, webgpu, wasm, cpu`,
      "Run 'agent infer --help'",
    );
  }
  const m = await import("../model/mod.ts");
  const spec = await m.loadModelSpec(modelId);

  let text: string;
  try {
    text = input === undefined || input === "-"
      ? new TextDecoder().decode(await ctx.io.readStdin())
      : await Deno.readTextFile(input);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(`Input file ${JSON.stringify(input)} does not exist`, "Check the --input path");
    }
    if (e instanceof Deno.errors.IsADirectory) {
      throw new UsageError(
        `Input ${JSON.stringify(input)} is a directory`,
        "Give --input a file of rows, or '-'",
      );
    }
    throw e;
  }
  const { x, count } = parseInferInput(text, spec.input);

  const backend = await m.initBackend(backendChoice as "auto");
  const model = await m.createModel(spec);
  try {
    const loaded = await m.loadCheckpoint(ctx.state.checkpoints, model);
    const log = ctx.logger(config);
    for (const s of loaded.skipped) log.warn("Skipped checkpoint", { path: s.path, reason: s.reason });
    let weights: { source: "checkpoint" | "initial"; path?: string; step?: number };
    if (loaded.checkpoint) {
      model.setWeights(loaded.checkpoint.weights);
      weights = { source: "checkpoint", path: loaded.checkpoint.path, step: loaded.checkpoint.step };
    } else {
      weights = { source: "initial" };
    }
    const probs = await model.predict(x, count);
    const rows = [];
    for (let r = 0; r < count; r++) {
      const p = Array.from(probs.subarray(r * model.classes, (r + 1) * model.classes));
      const ranked = p.map((prob, cls) => ({ cls, prob })).sort((a, b) => b.prob - a.prob).slice(0, top);
      rows.push({ row: r + 1, class: ranked[0].cls, top: ranked, probabilities: p });
    }
    const header = `model ${spec.id} (${m.toHex(model.modelHash)}), backend ${backend.name}, ` +
      (weights.source === "checkpoint"
        ? `weights from ${weights.path} (step ${weights.step})`
        : `seeded initial weights (no checkpoint in ${ctx.state.checkpoints}): predictions are untrained`);
    const lines = rows.map((r) =>
      `row ${r.row}: ${r.class}  (${r.top.map((t) => `${t.cls}: ${t.prob.toFixed(3)}`).join(", ")})`
    );
    ctx.print([header, ...lines].join("\n"), {
      model: spec.id,
      modelHash: m.toHex(model.modelHash),
      backend: backend.name,
      weights,
      predictions: rows.map((r) => ({
        row: r.row,
        class: r.class,
        top: r.top.map((t) => ({ class: t.cls, probability: t.prob })),
        probabilities: r.probabilities,
      })),
    });
    return 0;
  } finally {
    model.dispose();
  }
}
