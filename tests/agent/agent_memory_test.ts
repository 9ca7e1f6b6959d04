/**
 * The composed agent in memory: two agents in one process over the in-memory network (10% loss),
 * with the real learner, model, checkpoints, API and trust store, no UDP socket. It is the same
 * `Agent.start` that `agent run` calls, with a transport injected.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "yaml";
import { Agent } from "../../src/agent/agent.ts";
import { loadConfig } from "../../src/config/mod.ts";
import { MemoryNetwork } from "../../src/gossip/memory.ts";
import { decodePayload, encodePayload, ensureIdentity, TrustStore } from "../../src/identity/mod.ts";
import { loadMnist, subset } from "../../src/sim/mnist.ts";
import { nullLogger } from "../../src/log.ts";
import { stateLayout } from "../../src/state/mod.ts";
import { SeededRandom, systemClock } from "../../src/time.ts";
import { writeShardFile } from "../../scripts/lib/shards.ts";

Deno.test("two agents composed in memory learn together over a lossy in-memory network", async () => {
  const root = await Deno.makeTempDir({ prefix: "agent-mem-" });
  const net = new MemoryNetwork(new SeededRandom(3), { loss: 0.1 });
  const pump = setInterval(() => net.deliver(systemClock.now()), 5);
  const agents: Agent[] = [];
  const layouts = ["mem-a", "mem-b"].map((n) => stateLayout(join(root, n)));
  try {
    const { train, test } = await loadMnist(2);
    const testPath = join(root, "test.jsonl");
    await writeShardFile(testPath, subset(test, Array.from({ length: 500 }, (_, i) => i)));
    const names = ["mem-a", "mem-b"];
    const ids = [];
    for (const [i, layout] of layouts.entries()) {
      await Deno.mkdir(layout.root, { recursive: true });
      const shard = join(layout.root, "shard.jsonl");
      await writeShardFile(shard, subset(train, Array.from({ length: 1500 }, (_, j) => 2 * j + i)));
      const config = {
        node: { name: names[i] },
        data: { source: shard, test: testPath },
        learning: { roundMs: 100, checkpointMs: 2000 },
        api: { listen: "127.0.0.1:0" },
      };
      await Deno.writeTextFile(layout.config, stringify(config));
      ids.push(await ensureIdentity(layout));
    }
    for (const [i, layout] of layouts.entries()) {
      const store = await TrustStore.open(layout, { self: ids[i].publicKey });
      const other = 1 - i;
      await store.add(decodePayload(encodePayload({ publicKey: ids[other].publicKey, name: names[other] })));
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
    const deadline = Date.now() + 120_000;
    while (true) {
      const s = agents.map((a) => a.status());
      if (
        s.every((r) =>
          r.accuracy !== null && r.accuracy >= 0.8 && r.peers.filter((p) => p.alive).length === 1
        )
      ) {
        assert.ok(s.every((r) => r.gossip.datagramsIn > 0 && r.gossip.largestDatagram <= 1232));
        break;
      }
      if (Date.now() > deadline) {
        assert.fail(`not learning together: ${JSON.stringify(s.map((r) => r.accuracy))}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    // Samples posted to the API are stored durably and trained on from the next round.
    const row = Array.from(test.x.subarray(0, 784));
    const res = await fetch(`http://${agents[0].apiAddress}/v1/samples`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ rows: [row, row, row], labels: [test.y[0], test.y[0], test.y[0]] }),
    });
    assert.deepEqual(await res.json(), { accepted: 3, stored: 3 });
    const until = Date.now() + 10_000;
    while (agents[0].status().samples !== 1503) {
      if (Date.now() > until) assert.fail(`samples ${agents[0].status().samples}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal([...Deno.readDirSync(layouts[0].samples)].length, 1);
  } finally {
    for (const a of agents) await a.stop("test over");
    clearInterval(pump);
    await Deno.remove(root, { recursive: true });
  }
});
