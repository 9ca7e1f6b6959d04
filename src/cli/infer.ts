/**
 * `agent infer`: classifies rows (JSON arrays, `{"x","y"}` JSON Lines or CSV, from a file or stdin)
 * with the latest good checkpoint in the state directory, or with the seeded initial weights when
 * there is none (and says so). Rows are checked against the spec's range and normalised as it says;
 * bad rows exit with code 2 naming the row and column. `--eval` measures accuracy and prints a
 * confusion matrix on the labelled rows.
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
  usage: ["infer [--model ID|PATH] [--input FILE|-] [--backend B] [--top N] [--eval]"],
  description: "Input: one JSON array of numbers per line (JSON Lines), a JSON array of such rows,\n" +
    '{"x": [...], "y": LABEL} lines or CSV (label,x0,... or x0,...) as training reads them.\n' +
    "Uses the newest good checkpoint in <state>/checkpoints, else the seeded initial weights.",
  options: {
    model: {
      type: "string",
      arg: "ID|PATH",
      help: "Model id or spec file (default: the config's model.spec / model.id)",
    },
    eval: { type: "boolean", help: "Report accuracy and a confusion matrix on the labelled rows" },
    input: { type: "string", arg: "FILE", help: "Read rows from FILE, or '-' for stdin (default: stdin)" },
    backend: { type: "string", arg: "B", help: "auto, webgpu, wasm or cpu (default: model.backend)" },
    top: { type: "string", arg: "N", help: "Show the N most likely classes per row (default 3)" },
  },
  positionals: [0, 0],
  examples: [
    "agent infer --input digits.jsonl",
    "agent infer --model mnist-vit --backend cpu --json < digits.jsonl",
    "agent infer --input test.csv --eval",
  ],
  run: runInfer,
};

async function runInfer(ctx: CommandContext): Promise<number> {
  const config = await ctx.config();
  const top = intOpt(ctx, "top", 1, 4096, "infer") ?? 3;
  const backendChoice = stringOpt(ctx, "backend") ?? config.model.backend;
  const modelArg = stringOpt(ctx, "model");
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
  const spec = modelArg === undefined
    ? (await m.resolveModelSpec(config.model, ctx.state.models)).spec
    : m.isSpecPath(modelArg)
    ? (await m.readSpecFile(modelArg)).spec
    : await m.loadModelSpec(modelArg, m.specDirs(ctx.state.models));
  const evaluate = ctx.values.eval === true;

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
  const { x, count, labels } = parseInferInput(text, spec.input, {
    input: new m.InputCheck(spec.shape, spec.norm),
    classes: spec.classes,
    csv: input !== undefined && /\.csv$/i.test(input),
  });
  const labelled = labels.filter((l) => l !== null).length;
  if (evaluate && labelled === 0) {
    throw new UsageError(
      "--eval needs labelled rows, and none of the input rows has a label",
      'Give {"x": [...], "y": LABEL} lines or CSV rows label,x0,...',
    );
  }

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
    const name = (c: number) => m.className(spec, c);
    const named = spec.classNames !== undefined;
    const header = `model ${spec.id} (${m.toHex(model.modelHash)}), backend ${backend.name}, ` +
      (weights.source === "checkpoint"
        ? `weights from ${weights.path} (step ${weights.step})`
        : `seeded initial weights (no checkpoint in ${ctx.state.checkpoints}): predictions are untrained`);
    const lines = rows.map((r) =>
      `row ${r.row}: ${name(r.class)}  (${
        r.top.map((t) => `${name(t.cls)}: ${t.prob.toFixed(3)}`).join(", ")
      })`
    );
    const report = evaluate ? confusion(rows.map((r) => r.class), labels, spec.classes) : undefined;
    if (report) lines.push("", ...renderEval(report, name));
    ctx.print([header, ...lines].join("\n"), {
      model: spec.id,
      modelHash: m.toHex(model.modelHash),
      backend: backend.name,
      weights,
      predictions: rows.map((r) => ({
        row: r.row,
        class: r.class,
        ...(named ? { label: name(r.class) } : {}),
        ...(labels[r.row - 1] !== null ? { expected: labels[r.row - 1] } : {}),
        top: r.top.map((t) => ({
          class: t.cls,
          ...(named ? { label: name(t.cls) } : {}),
          probability: t.prob,
        })),
        probabilities: r.probabilities,
      })),
      ...(report ? { eval: report } : {}),
    });
    return 0;
  } finally {
    model.dispose();
  }
}

/** Accuracy and confusion matrix (`matrix[expected][predicted]`) over the labelled rows. */
export interface EvalReport {
  rows: number;
  correct: number;
  accuracy: number;
  matrix: number[][];
}

/** Counts predictions against the labels of the labelled rows. */
export function confusion(predicted: number[], labels: (number | null)[], classes: number): EvalReport {
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let rows = 0, correct = 0;
  predicted.forEach((p, i) => {
    const y = labels[i];
    if (y === null) return;
    rows++;
    if (p === y) correct++;
    matrix[y][p]++;
  });
  return { rows, correct, accuracy: rows === 0 ? 0 : correct / rows, matrix };
}

/** The report as text: accuracy, then the matrix with expected classes as rows. */
export function renderEval(r: EvalReport, name: (c: number) => string): string[] {
  const n = r.matrix.length;
  const heads = Array.from({ length: n }, (_, c) => name(c));
  const w = Math.max(4, ...heads.map((h) => h.length), ...r.matrix.flat().map((v) => String(v).length));
  const first = Math.max("expected\\predicted".length, ...heads.map((h) => h.length));
  return [
    `accuracy ${(r.accuracy * 100).toFixed(1)}% (${r.correct} of ${r.rows} labelled rows)`,
    ["expected\\predicted".padEnd(first), ...heads.map((h) => h.padStart(w))].join("  "),
    ...r.matrix.map((row, y) =>
      [heads[y].padEnd(first), ...row.map((v) => String(v).padStart(w))].join("  ")
    ),
  ];
}
