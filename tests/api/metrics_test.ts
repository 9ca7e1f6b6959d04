import assert from "node:assert/strict";
import { AgentMetrics, type GaugeSource } from "../../src/api/metrics.ts";
import { parsePrometheus, sampleValue } from "../_support/prometheus.ts";
import { idleSource } from "../_support/metrics.ts";

const base: GaugeSource = {
  ...idleSource(),
  peers: () => ({ trusted: 3, alive: 3 }),
  rounds: () => 1,
  rss: () => 1,
};

Deno.test("/metrics shows peers by transport, the broker connection and the bridge's forwarding", async () => {
  const m = new AgentMetrics({
    ...base,
    transport: () => ({
      peers: { lan: 1, broker: 2, both: 0 },
      broker: {
        connected: true,
        connects: 2,
        failures: 5,
        messagesIn: 40,
        messagesOut: 30,
        dropped: { notConnected: 7, queueFull: 1, publishFailed: 0 },
      },
      forwarded: { toBroker: 11, toLan: 22 },
    }),
  });
  const f = await parsePrometheus(await m.text());
  assert.equal(sampleValue(f, "agent_peers_by_transport", { transport: "lan" }), 1);
  assert.equal(sampleValue(f, "agent_peers_by_transport", { transport: "broker" }), 2);
  assert.equal(sampleValue(f, "agent_peers_by_transport", { transport: "both" }), 0);
  assert.equal(sampleValue(f, "agent_broker_connected"), 1);
  assert.equal(sampleValue(f, "agent_broker_connects_total"), 2);
  assert.equal(sampleValue(f, "agent_broker_failures_total"), 5);
  assert.equal(sampleValue(f, "agent_broker_messages_total", { direction: "in" }), 40);
  assert.equal(sampleValue(f, "agent_broker_messages_total", { direction: "out" }), 30);
  assert.equal(sampleValue(f, "agent_broker_dropped_total", { reason: "notConnected" }), 7);
  assert.equal(sampleValue(f, "agent_bridge_forwarded_total", { to: "broker" }), 11);
  assert.equal(sampleValue(f, "agent_bridge_forwarded_total", { to: "lan" }), 22);
});

Deno.test("/metrics of a UDP-only agent says the broker is not connected and every peer is zero by transport", async () => {
  const f = await parsePrometheus(await new AgentMetrics(base).text());
  assert.equal(sampleValue(f, "agent_broker_connected"), 0);
  assert.equal(sampleValue(f, "agent_peers_by_transport", { transport: "lan" }), 0);
  assert.equal(sampleValue(f, "agent_bridge_forwarded_total", { to: "broker" }), 0);
});

Deno.test("/metrics shows the estimated swarm size, the round interval and the airtime vs the budget", async () => {
  let reads = 0;
  const m = new AgentMetrics({
    ...base,
    airtime: () => {
      reads++;
      return {
        budgetBytesPerSecond: 32000,
        swarmSize: 101,
        roundMs: 4161,
        helloMs: 8322,
        peerTimeoutMs: 24966,
        ownBytesPerSecond: 316,
        swarmBytesPerSecond: 30500,
        plannedBytesPerSecond: 32000,
      };
    },
  });
  const f = await parsePrometheus(await m.text());
  assert.equal(sampleValue(f, "agent_swarm_size_estimate"), 101);
  assert.equal(sampleValue(f, "agent_round_interval_seconds"), 4.161);
  assert.equal(sampleValue(f, "agent_hello_interval_seconds"), 8.322);
  assert.equal(sampleValue(f, "agent_airtime_budget_bytes_per_second"), 32000);
  assert.equal(sampleValue(f, "agent_airtime_bytes_per_second", { scope: "own" }), 316);
  assert.equal(sampleValue(f, "agent_airtime_bytes_per_second", { scope: "swarm" }), 30500);
  assert.equal(sampleValue(f, "agent_airtime_bytes_per_second", { scope: "planned" }), 32000);
  assert.equal(reads, 1, "one reading per scrape, so the gauges agree");
});

Deno.test("/metrics of an agent still starting shows no airtime figures (NaN), not zeros", async () => {
  const f = await parsePrometheus(await new AgentMetrics({ ...base, airtime: () => null }).text());
  assert.ok(Number.isNaN(sampleValue(f, "agent_swarm_size_estimate")));
});
