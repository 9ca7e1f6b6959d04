import assert from "node:assert/strict";
import { join } from "node:path";
import {
  applyLive,
  configChanges,
  LIVE_KEYS,
  type ReloadCause,
  watchForReload,
} from "../../src/agent/reload.ts";
import { KEYS } from "../../src/config/schema.ts";
import { loadConfig } from "../../src/config/mod.ts";
import { writeFileAtomic } from "../../src/state/mod.ts";
import { nullLogger } from "../../src/log.ts";
import { waitFor } from "../_support/wait.ts";

Deno.test("every live key is a config key (no stale names after a key is removed)", () => {
  const paths = new Set(KEYS.map((k) => k.path));
  for (const key of LIVE_KEYS) assert.ok(paths.has(key), key);
});

Deno.test("configChanges() separates live keys from keys that need a restart", () => {
  const a = loadConfig({});
  const b = loadConfig({
    text: "learning:\n  roundMs: 250\ngossip:\n  port: 5000\nlogging:\n  level: debug\n",
  });
  assert.deepEqual(configChanges(a, b), {
    live: ["learning.roundMs", "logging.level"],
    restart: ["gossip.port"],
  });
  assert.deepEqual(configChanges(a, a), { live: [], restart: [] });
  const applied = applyLive(a, b);
  assert.equal(applied.learning.roundMs, 250);
  assert.equal(applied.gossip.port, a.gossip.port, "restart-only keys keep their running value");
  assert.equal(a.learning.roundMs, 500, "the running config is not mutated");
});

Deno.test("watchForReload() reloads once per burst of changes to a watched file", async () => {
  const dir = await Deno.makeTempDir();
  const causes: ReloadCause[] = [];
  const trust = join(dir, "trust.json");
  const w = watchForReload({
    files: [trust],
    onReload: (c) => {
      causes.push(c);
      return Promise.resolve();
    },
    logger: nullLogger,
    debounceMs: 50,
    signal: false,
  });
  try {
    await writeFileAtomic(join(dir, "other.json"), "{}");
    await writeFileAtomic(trust, "{}");
    await writeFileAtomic(trust, '{"a":1}');
    await waitFor("a reload", () => causes.length > 0);
    assert.deepEqual(causes[0], { kind: "file", paths: [trust] });
  } finally {
    await w.close();
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(causes.length, 1);
});

Deno.test("watchForReload() reloads on SIGHUP and survives a failing reload", async () => {
  const dir = await Deno.makeTempDir();
  const causes: ReloadCause[] = [];
  const w = watchForReload({
    files: [join(dir, "agent.yaml")],
    onReload: (c) => {
      causes.push(c);
      return causes.length === 1 ? Promise.reject(new Error("bad yaml")) : Promise.resolve();
    },
    logger: nullLogger,
  });
  try {
    Deno.kill(Deno.pid, "SIGHUP");
    await waitFor("the first reload", () => causes.length === 1);
    Deno.kill(Deno.pid, "SIGHUP");
    await waitFor("the second reload", () => causes.length === 2);
    assert.deepEqual(causes, [{ kind: "signal" }, { kind: "signal" }]);
  } finally {
    await w.close();
    await Deno.remove(dir, { recursive: true });
  }
});
