/**
 * The airtime budget in composed agents: three agents in one process over the in-memory network, with a
 * budget too small for their configured pace. Each must count the other two, stretch its rounds and Hellos
 * by the same factor, and really run its rounds that much further apart.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "yaml";
import { Agent } from "../../src/agent/agent.ts";
import { loadConfig } from "../../src/config/mod.ts";
import { HELLO_DATAGRAM_BYTES } from "../../src/gossip/airtime.ts";
import { MemoryNetwork } from "../../src/gossip/memory.ts";
import { decodePayload, encodePayload, ensureIdentity, TrustStore } from "../../src/identity/mod.ts";
import { loadMnist, subset } from "../../src/sim/mnist.ts";
import { nullLogger } from "../../src/log.ts";
import { stateLayout } from "../../src/state/mod.ts";
import { SeededRandom, systemClock } from "../../src/time.ts";
import { writeShardFile } from "../../scripts/lib/shards.ts";

async function until<T>(what: string, get: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("three agents over budget stretch their rounds and Hellos so the three together fit it", async () => {
  const root = await Deno.makeTempDir({ prefix: "airtime-agents-" });
  const net = new MemoryNetwork(new SeededRandom(5), { loss: 0 });
  const pump = setInterval(() => net.deliver(systemClock.now()), 5);
  const agents: Agent[] = [];
  const names = ["air-a", "air-b", "air-c"];
  const layouts = names.map((n) => stateLayout(join(root, n)));
  // Configured pace: a 1,232-byte update every 100 ms and a Hello every 200 ms, 13.2 kB/s per board;
  // three boards would send 39.6 kB/s into a budget of 8,000 B/s: a stretch of 4.94.
  const budget = 8000;
  const perBoard = 1232 * 10 + HELLO_DATAGRAM_BYTES * 5;
  const stretch = (3 * perBoard) / budget;
  try {
    const { train } = await loadMnist(3);
    const ids = [];
    for (const [i, layout] of layouts.entries()) {
      await Deno.mkdir(layout.root, { recursive: true });
      const shard = join(layout.root, "shard.jsonl");
      await writeShardFile(shard, subset(train, Array.from({ length: 300 }, (_, j) => 3 * j + i)));
      await Deno.writeTextFile(
        layout.config,
        stringify({
          node: { name: names[i] },
          data: { source: shard },
          learning: { roundMs: 100, checkpointMs: 60_000 },
          gossip: { intervalMs: 200, swarmBytesPerSecond: budget },
          api: { listen: "127.0.0.1:0" },
        }),
      );
      ids.push(await ensureIdentity(layout));
    }
    for (const [i, layout] of layouts.entries()) {
      const store = await TrustStore.open(layout, { self: ids[i].publicKey });
      for (const j of [0, 1, 2].filter((j) => j !== i)) {
        await store.add(decodePayload(encodePayload({ publicKey: ids[j].publicKey, name: names[j] })));
      }
    }
    for (const [i, layout] of layouts.entries()) {
      const config = loadConfig({ text: await Deno.readTextFile(layout.config) });
      agents.push(
        await Agent.start({
          config,
          state: layout,
          configPath: layout.config,
          loadConfig: () => Promise.resolve(config),
          logger: nullLogger,
          version: "test",
          transport: net.transport(names[i], systemClock),
        }),
      );
    }
    // Each hears the other two, and plans for three boards.
    await until("every agent to count three boards", () => {
      const s = agents.map((a) => a.status().airtime!);
      return s.every((a) => a.swarmSize === 3) ? s : undefined;
    });
    for (const a of agents.map((x) => x.status().airtime!)) {
      assert.ok(Math.abs(a.roundMs - 100 * stretch) <= 1, `round every ${a.roundMs} ms`);
      assert.ok(Math.abs(a.helloMs - 200 * stretch) <= 1, `Hello every ${a.helloMs} ms`);
      assert.ok(Math.abs(a.plannedBytesPerSecond - budget) <= 1, `planned ${a.plannedBytesPerSecond} B/s`);
      assert.equal(a.budgetBytesPerSecond, budget);
    }
    // The rounds really are that far apart: three more rounds take at least ~three stretched intervals
    // (a timer never fires early), where the configured pace would need 300 ms.
    const r0 = agents[0].status().rounds;
    const t0 = performance.now();
    await until("three more rounds", () => agents[0].status().rounds >= r0 + 3 ? true : undefined);
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 2 * 100 * stretch, `3 rounds in ${elapsed.toFixed(0)} ms`);
  } finally {
    for (const a of agents) await a.stop("test over");
    clearInterval(pump);
    await Deno.remove(root, { recursive: true });
  }
});
