/**
 * `agent init`: creates the state directory, a commented default config and this node's Ed25519 key
 * pair. Idempotent: a second run changes nothing and says so; `--force` rewrites the config (never
 * the key: a new key would mean pairing every peer again).
 *
 * @module
 */
import { checkValue, KEYS, loadConfig, renderDefaultConfig } from "../config/mod.ts";
import { resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { ensureIdentity } from "../identity/mod.ts";
import { writeFileAtomic } from "../state/mod.ts";
import type { Command, CommandContext } from "./command.ts";

/** The `init` command. */
export const initCommand: Command = {
  name: "init",
  summary: "Create the state directory, a default config file and this node's key pair",
  usage: ["init [--name NAME] [--model ID|PATH] [--force]"],
  description:
    "Safe to run twice: an existing setup is left as it is unless --force is given (which rewrites the\nconfig, never the key pair).",
  options: {
    name: { type: "string", arg: "NAME", help: "Node name shown to peers (default: host name)" },
    model: {
      type: "string",
      arg: "ID|PATH",
      help: "Model id (see 'agent models'; default mnist-mlp) or the path of your own spec file",
    },
    force: { type: "boolean", help: "Overwrite an existing config file" },
  },
  positionals: [0, 0],
  examples: [
    "agent init --name kitchen-cam",
    "agent init --state /tmp/a --model mnist-vit",
    "agent init --model ./my-sensor.yaml",
  ],
  run: runInit,
};

async function runInit(ctx: CommandContext): Promise<number> {
  const values: Record<string, string> = {};
  const model = ctx.values.model;
  let specFile: string | undefined;
  if (typeof model === "string" && (await import("../model/catalog.ts")).isSpecPath(model)) {
    // A spec file anywhere: validated now, copied into <state>/models once the rest is known to be fine.
    const { readSpecFile } = await import("../model/catalog.ts");
    specFile = resolve(model);
    const { spec } = await readSpecFile(specFile);
    values["model.id"] = spec.id;
    values["model.spec"] = specFile;
  }
  for (const [flag, path] of [["name", "node.name"], ["model", "model.id"]] as const) {
    if (specFile && flag === "model") continue;
    const v = ctx.values[flag];
    if (typeof v === "string") {
      const spec = KEYS.find((k) => k.path === path)!;
      try {
        values[path] = checkValue(spec, v, "") as string;
      } catch (e) {
        const reason = (e as Error).message.replace(/^[^:]+: "[^"]*" /, "");
        throw new UsageError(`Option --${flag} ${JSON.stringify(v)} ${reason}`, "Run 'agent init --help'");
      }
    }
  }
  if (typeof model === "string" && !specFile) {
    // Refuse an unknown id now, not when 'agent run' first needs the model.
    const { loadModelSpec } = await import("../model/spec.ts");
    const { specDirs } = await import("../model/catalog.ts");
    await loadModelSpec(model, specDirs(ctx.state.models));
  }
  const force = ctx.values.force === true;
  const root = ctx.state.root;
  const created: string[] = [];

  await Deno.mkdir(root, { recursive: true, mode: 0o700 });

  let existing: string | undefined;
  try {
    existing = await Deno.readTextFile(ctx.configPath);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const text = renderDefaultConfig(values);
  let configNote: string;
  if (existing !== undefined && !force) {
    // Make sure what is there is usable, and that the request does not silently disagree with it.
    const current = loadConfig({ file: ctx.configPath, text: existing, env: {} });
    const conflicts = Object.entries(values).filter(([path, v]) => {
      const [s, k] = path.split(".");
      return (current as unknown as Record<string, Record<string, unknown>>)[s][k] !== v;
    });
    if (conflicts.length > 0) {
      const [path, v] = conflicts[0];
      throw new UsageError(
        `Config ${JSON.stringify(ctx.configPath)} already exists with a different ${path} than ${
          JSON.stringify(v)
        }`,
        "Edit the file, or run again with --force to overwrite it with a fresh default",
      );
    }
    configNote = "kept";
  } else {
    await writeFileAtomic(ctx.configPath, text);
    created.push(ctx.configPath);
    configNote = existing !== undefined ? "overwritten (--force)" : "created";
  }

  if (specFile) {
    const { installSpecFile } = await import("../model/catalog.ts");
    const installed = await installSpecFile(specFile, ctx.state.models);
    created.push(installed.path);
  }
  const identity = await ensureIdentity(ctx.state);
  if (identity.created) created.push(ctx.state.privateKey, ctx.state.publicKey);
  const keyNote = `${identity.created ? "created" : "kept"}, fingerprint ${identity.fingerprint}`;

  if (ctx.global.json) {
    ctx.print("", {
      state: root,
      config: ctx.configPath,
      fingerprint: identity.fingerprint,
      created,
      changed: created.length > 0,
    });
  } else if (created.length === 0) {
    ctx.io.stdout(
      `Already initialised in ${root}; nothing changed.\n  config: ${ctx.configPath} (kept)\n  key:    ${ctx.state.privateKey} (${keyNote})\n`,
    );
  } else {
    ctx.io.stdout(
      `Initialised ${root}\n  config: ${ctx.configPath} (${configNote})\n  key:    ${ctx.state.privateKey} (${keyNote})\nNext: 'agent id' shows the QR code to pair this board with others.\n`,
    );
  }
  return 0;
}
