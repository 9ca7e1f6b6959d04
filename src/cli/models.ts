/**
 * `agent models`: the model specs this board knows — the built-in ones and its own (copied into
 * `<state>/models` from `model.spec` or `agent init --model PATH`) — with what a peer must match
 * (id, version, hash) and what a user must feed them (input shape, range, classes).
 *
 * @module
 */
import type { Command, CommandContext } from "./command.ts";

/** The `models` command. */
export const modelsCommand: Command = {
  name: "models",
  summary: "List the model specs this board knows (built-in and its own)",
  usage: ["models"],
  description: "Built-in specs ship with agent; your own specs are copied into <state>/models by\n" +
    "'agent init --model PATH' or the model.spec config key. Peers must run the same id, version and hash.",
  options: {},
  positionals: [0, 0],
  examples: ["agent models", "agent models --json"],
  run: runModels,
};

async function runModels(ctx: CommandContext): Promise<number> {
  const m = await import("../model/mod.ts");
  const known = await m.listKnownSpecs(ctx.state.models);
  const rows = known.map(({ spec, origin, path }) => ({
    id: spec.id,
    version: spec.version,
    kind: spec.kind,
    origin,
    path,
    description: spec.description,
    parameters: m.paramCount(spec),
    input: { ...spec.shape, values: spec.input, ...spec.norm },
    inputText: `${m.describeShape(spec.shape)}, ${m.describeNorm(spec.norm)}`,
    classes: spec.classNames ?? spec.classes,
    hash: m.toHex(m.modelHash(spec)),
  }));
  const head = ["ID", "VERSION", "KIND", "PARAMS", "INPUT", "CLASSES", "HASH", "ORIGIN"];
  const body = rows.map((r) => [
    r.id,
    String(r.version),
    r.kind,
    r.parameters.toLocaleString("en-US"),
    r.inputText,
    Array.isArray(r.classes) ? r.classes.join(" ") : String(r.classes),
    r.hash,
    r.origin,
  ]);
  const widths = head.map((_, c) => Math.max(head[c].length, ...body.map((b) => b[c].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  ctx.print(
    [line(head), ...body.map(line)].join("\n"),
    rows.map(({ inputText: _, ...r }) => r),
  );
  return 0;
}
