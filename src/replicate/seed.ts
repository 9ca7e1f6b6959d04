/**
 * Seeding a new board's state on first contact: the local config (with the child's own node name) and
 * model checkpoints travel as one gzip'd tar on the stdin of {@linkcode seedScript}, which moves each
 * into the state directory only where the target has none yet. The private key is never part of it.
 *
 * @module
 */
import { join } from "node:path";
import { CloneError, CloneFailure } from "./errors.ts";
import { type RemotePaths } from "./remote.ts";
import { shQuote } from "./ssh.ts";

/** The remote side (pure): unpacks stdin and prints `seeded=config` / `seeded=checkpoints` for what it took. */
export function seedScript(paths: RemotePaths): string {
  return [
    "set -eu",
    `state=${shQuote(paths.state)}`,
    `umask 077`,
    `mkdir -p "$state"`,
    `tmp="$state/.seed-$$"`,
    `rm -rf "$tmp"; mkdir "$tmp"`,
    `tar -xzf - -C "$tmp" --no-same-owner`,
    `if [ -f "$tmp/agent.yaml" ] && [ ! -e "$state/agent.yaml" ]; then mv "$tmp/agent.yaml" "$state/agent.yaml"; echo seeded=config; fi`,
    `if [ -d "$tmp/checkpoints" ] && { [ ! -d "$state/checkpoints" ] || [ -z "$(ls -A "$state/checkpoints")" ]; }; then rm -rf "$state/checkpoints"; mv "$tmp/checkpoints" "$state/checkpoints"; echo seeded=checkpoints; fi`,
    // The board's own model specs: the child keeps any spec file it already has.
    `if [ -d "$tmp/models" ]; then mkdir -p "$state/models"; for f in "$tmp"/models/*.yaml; do [ -e "$state/models/$(basename "$f")" ] || mv "$f" "$state/models/"; done; echo seeded=models; fi`,
    `rm -rf "$tmp"`,
  ].join("\n") + "\n";
}

/** What {@linkcode seedScript} printed it took (pure). */
export function parseSeeded(stdout: string): string[] {
  return [...stdout.matchAll(/^seeded=(\w+)/gm)].map((m) => m[1]);
}

/** Where the local state to seed lives. */
export interface SeedSource {
  configPath: string;
  checkpointsDir: string;
  /** This board's own model specs, `<state>/models` (may not exist). */
  modelsDir?: string;
}

/** A gzip'd tar of the state to seed: the config (with `node.name` set to `name`) and the checkpoints. */
export async function stateBundle(
  local: SeedSource,
  what: { config: boolean; checkpoints: boolean; models?: boolean },
  name: string | undefined,
): Promise<Uint8Array> {
  const stage = await Deno.makeTempDir({ prefix: "agent-seed-" });
  try {
    const names: string[] = [];
    if (what.config) {
      const { parseDocument } = await import("yaml");
      const doc = parseDocument(await Deno.readTextFile(local.configPath));
      doc.setIn(["node", "name"], name ?? "");
      // model.spec is a path on this machine; the child runs the copy in its <state>/models by id.
      const specPath = doc.getIn(["model", "spec"]);
      if (typeof specPath === "string" && specPath !== "") {
        const { readSpecFile } = await import("../model/catalog.ts");
        const spec = await readSpecFile(specPath).then((r) => r.spec, () => undefined);
        if (spec) doc.setIn(["model", "id"], spec.id);
        doc.setIn(["model", "spec"], "");
      }
      await Deno.writeTextFile(join(stage, "agent.yaml"), doc.toString(), { mode: 0o600 });
      names.push("agent.yaml");
    }
    if (what.checkpoints) {
      await copyTree(local.checkpointsDir, join(stage, "checkpoints"));
      names.push("checkpoints");
    }
    if (what.models && local.modelsDir) {
      await copyTree(local.modelsDir, join(stage, "models"));
      names.push("models");
    }
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command("tar", {
        args: ["-czf", "-", "--owner=0", "--group=0", "--numeric-owner", "-C", stage, ...names],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (e) {
      throw new CloneError(
        CloneFailure.LocalFailure,
        `Could not run tar here to pack the state to copy: ${(e as Error).message}`,
        "Install tar and gzip on this machine (Debian: apt-get install tar gzip)",
      );
    }
    if (!out.success) {
      throw new CloneError(
        CloneFailure.LocalFailure,
        `Could not pack the state to copy (tar exit ${out.code}): ${
          new TextDecoder().decode(out.stderr).trim()
        }`,
        `Check that ${local.configPath} and ${local.checkpointsDir} are readable and the temp directory has space`,
      );
    }
    return out.stdout;
  } finally {
    await Deno.remove(stage, { recursive: true });
  }
}

/** Copies regular files and directories (symlinks and temp files of interrupted writes are skipped). */
async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true, mode: 0o700 });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyTree(join(from, e.name), join(to, e.name));
    else if (e.isFile && !/\.tmp-\d+-[0-9a-f]{8}$/.test(e.name)) {
      await Deno.copyFile(join(from, e.name), join(to, e.name));
    }
  }
}
