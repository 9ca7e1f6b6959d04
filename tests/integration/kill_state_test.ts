/**
 * Power-cut safety of the state files: a writer that saves checkpoints, status snapshots and samples
 * the way the agent does is killed with SIGKILL at 20 random points; after every kill the state must
 * load without any corruption and the next writer must carry on from it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SampleStore } from "../../src/agent/samples.ts";
import { listCheckpoints, loadCheckpoint } from "../../src/model/checkpoint.ts";
import { readCheckedJson, removeStaleTempFiles } from "../../src/state/mod.ts";
import { nullLogger } from "../../src/log.ts";
import { SeededRandom } from "../../src/time.ts";
import { BATCH, FEATURES, PARAMS } from "./fixtures/state_writer.ts";

const WRITER = fileURLToPath(new URL("./fixtures/state_writer.ts", import.meta.url));

Deno.test("state survives 20 SIGKILLs at random points of checkpoint, status and sample writes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-kill-test-" });
  const rng = new SeededRandom(Number(Deno.env.get("KILL_SEED") ?? Date.now() % 100000));
  const model = {
    spec: { id: "mnist-mlp" },
    modelHash: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
    paramCount: PARAMS,
  };
  let lastStep = 0;
  try {
    for (let kill = 0; kill < 20; kill++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", WRITER, dir],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stdout.getReader();
      const first = await reader.read();
      assert.equal(new TextDecoder().decode(first.value).trim(), "ready");
      reader.releaseLock();
      // Somewhere in the middle of the next writes (a round takes a few milliseconds).
      await new Promise((r) => setTimeout(r, Math.floor(rng.next() * 60)));
      child.kill("SIGKILL");
      const [exit] = await Promise.all([child.status, child.stdout.cancel(), child.stderr.cancel()]);
      assert.equal(exit.signal, "SIGKILL");

      // What the agent does at start: remove temp files, then load each state file.
      for (const d of [dir, join(dir, "checkpoints"), join(dir, "samples")]) await removeStaleTempFiles(d);
      const loaded = await loadCheckpoint(join(dir, "checkpoints"), model);
      assert.deepEqual(loaded.skipped, [], `kill ${kill}: skipped ${JSON.stringify(loaded.skipped)}`);
      const ck = loaded.checkpoint!;
      assert.ok(ck.step > lastStep, `kill ${kill}: step ${ck.step} did not advance past ${lastStep}`);
      assert.ok(ck.weights.every((w) => w === ck.step), `kill ${kill}: weights of another step`);
      assert.ok(ck.extra.length === 200_000 && ck.extra.every((b) => b === (ck.step & 0xff)));
      lastStep = ck.step;
      assert.ok((await listCheckpoints(join(dir, "checkpoints"), "mnist-mlp")).length <= 3);
      const snapshot = await readCheckedJson(join(dir, "status.json"), "agent-status/1") as { step: number };
      assert.ok(snapshot.step >= ck.step - 1, `kill ${kill}: status step ${snapshot.step}`);
      const store = await SampleStore.open(join(dir, "samples"), { features: FEATURES, classes: 10 }, {
        maxSamples: 300,
        logger: nullLogger,
      });
      assert.equal(store.count % BATCH, 0, `kill ${kill}: ${store.count} samples is not whole requests`);
      assert.ok(store.count <= 300 + BATCH);
      const leftovers = [...Deno.readDirSync(join(dir, "checkpoints"))].filter((e) =>
        e.name.includes(".tmp-")
      );
      assert.deepEqual(leftovers, []);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
