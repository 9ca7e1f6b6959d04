/**
 * Sets up a swarm of real agents: state directories with config, MNIST shards in the `data.source`
 * format, identities, and mutual pairing through each node's QR payload text
 * (`agent id --json` → `agent trust <payload> --yes`). Used by the demo, the benchmark and the tests.
 *
 * @module
 */
import { join } from "node:path";
import { stringify } from "yaml";
import { loadMnist, subset } from "../../src/sim/mnist.ts";
import { parseSplit, splitIndices } from "../../src/learn/split.ts";
import { writeFileAtomic } from "../../src/state/mod.ts";
import { agentOk } from "./cluster.ts";
import { writeShardFile } from "./shards.ts";

/** One prepared node. */
export interface PreparedNode {
  name: string;
  state: string;
  /** `agent id --json` output. */
  id: { name: string; fingerprint: string; payload: string };
  /** Digit classes present in the node's shard. */
  classes: number[];
}

/** Options of {@linkcode prepareSwarm}. */
export interface SwarmSetup {
  root: string;
  nodes: number;
  /** `iid`, `classes:K` or `dirichlet:ALPHA`. */
  split: string;
  /** Rows of the shared test set every node measures accuracy on (default 1000). */
  testRows?: number;
  /** Extra config per node (merged over the defaults), e.g. gossip and api sections. */
  config(i: number, paths: { shard: string; test: string }): Record<string, unknown>;
  /** Command prefix to run `agent` in (e.g. `ip netns exec NS`); default none. */
  prefix?: (i: number) => string[] | undefined;
  seed?: number;
}

/** Writes shards, configs and identities, and pairs every node with every other. */
export async function prepareSwarm(setup: SwarmSetup): Promise<PreparedNode[]> {
  const { train, test } = await loadMnist(setup.seed ?? 1);
  // Seed 1 (the default) keeps the shards of the earlier fixed split seed 7.
  const shards = splitIndices(train.y, setup.nodes, parseSplit(setup.split), 7 * (setup.seed ?? 1));
  const testPath = join(setup.root, "test.jsonl");
  const testRows = Math.min(setup.testRows ?? 1000, test.count);
  await Deno.mkdir(setup.root, { recursive: true });
  await writeShardFile(testPath, subset(test, Array.from({ length: testRows }, (_, i) => i)));
  const nodes = await Promise.all(Array.from({ length: setup.nodes }, async (_, i) => {
    const name = `node-${i + 1}`;
    const state = join(setup.root, name);
    await Deno.mkdir(state, { recursive: true, mode: 0o700 });
    const shard = join(state, "shard.jsonl");
    await writeShardFile(shard, subset(train, shards[i]));
    await writeFileAtomic(join(state, "agent.yaml"), stringify(setup.config(i, { shard, test: testPath })));
    const id = JSON.parse(await agentOk(["id", "--json", "--state", state])) as PreparedNode["id"];
    const classes = [...new Set(Array.from(shards[i], (r) => train.y[r]))].sort((a, b) => a - b);
    return { name, state, id, classes };
  }));
  await Promise.all(nodes.map(async (n, i) => {
    for (let j = 0; j < nodes.length; j++) {
      if (j !== i) await agentOk(["trust", nodes[j].id.payload, "--yes", "--state", n.state]);
    }
  }));
  return nodes;
}

/** Config of a node on a one-machine swarm: shared gossip port on loopback broadcast, own API port. */
export function loopbackConfig(
  name: string,
  paths: { shard: string; test: string },
  ports: { gossip: number; api: number },
  extra: { learning?: Record<string, unknown>; gossip?: Record<string, unknown> } = {},
): Record<string, unknown> {
  return {
    node: { name },
    data: { source: paths.shard, test: paths.test },
    gossip: {
      port: ports.gossip,
      broadcast: "127.255.255.255",
      sharePort: true,
      intervalMs: 500,
      peerTimeoutMs: 5000,
      ...extra.gossip,
    },
    learning: { roundMs: 200, checkpointMs: 10_000, ...extra.learning },
    api: { listen: `127.0.0.1:${ports.api}` },
    logging: { level: "info", format: "json" },
  };
}
