/**
 * A small board for the agent's start-step tests: a state directory with an identity, a tiny model spec
 * (3 readings, 3 classes, an 8-unit MLP: cheap to create) and a CSV of readings, plus a logger that keeps
 * its lines so a test can check what was said.
 */
import { join } from "node:path";
import { type Config, loadConfig } from "../../src/config/mod.ts";
import { ensureIdentity } from "../../src/identity/mod.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { type StateLayout, stateLayout } from "../../src/state/mod.ts";
import { SeededRandom } from "../../src/time.ts";
import { freeUdpPort } from "../../scripts/lib/cluster.ts";

export const SPEC = `id: agentsplit-sensor
version: 1
description: "3 readings, 3 activities"
seed: 5
features: 3
range: [-20, 20]
mean: [0, 0, 9.8]
std: [2, 2, 2]
classes: [idle, walk, run]
mlp: {hidden: [8], activation: relu}
`;

/** A board's files, removed by `[Symbol.asyncDispose]`. */
export interface Board extends AsyncDisposable {
  dir: string;
  state: StateLayout;
  specPath: string;
  csvPath: string;
  /** The config for this board with `extra` YAML-path overrides (e.g. `{"api.listen": "127.0.0.1:0"}`). */
  config(extra?: Record<string, string | number | boolean>): Config;
}

/** Makes a board with `rows` labelled readings (and `bad` out-of-range ones appended). */
export async function makeBoard(rows = 90, bad: string[] = []): Promise<Board> {
  const dir = await Deno.makeTempDir({ prefix: "agentsplit-" });
  const state = stateLayout(join(dir, "state"));
  await ensureIdentity(state);
  const specPath = join(dir, "sensor.yaml");
  await Deno.writeTextFile(specPath, SPEC);
  const rng = new SeededRandom(3);
  const lines = ["activity,ax,ay,az"];
  for (let i = 0; i < rows; i++) {
    const y = i % 3;
    lines.push(
      [y, y * 3 + rng.next(), -y * 2 + rng.next(), 9.8 + rng.next()].map((v) => +v.toFixed(3)).join(","),
    );
  }
  lines.push(...bad);
  const csvPath = join(dir, "readings.csv");
  await Deno.writeTextFile(csvPath, lines.join("\n") + "\n");
  return {
    dir,
    state,
    specPath,
    csvPath,
    config: (extra = {}) =>
      loadConfig({
        overrides: {
          "model.spec": specPath,
          "data.source": csvPath,
          "gossip.port": freeUdpPort(),
          "gossip.broadcast": "127.255.255.255",
          "api.listen": "127.0.0.1:0",
          ...extra,
        },
      }),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

/** A logger that keeps every line as parsed JSON. */
export function keptLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: "debug", format: "json", write: (l) => lines.push(JSON.parse(l)) });
  return { logger, lines };
}
