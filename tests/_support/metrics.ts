/** Test helpers: the metrics sources of an agent that has done nothing yet, and its `AgentMetrics`. */
import { AgentMetrics, type GaugeSource } from "../../src/api/mod.ts";

/** Every source reads zero (tests override the ones they look at). */
export function idleSource(): GaugeSource {
  return {
    datagrams: () => ({
      received: 0,
      receivedBytes: 0,
      accepted: 0,
      sent: 0,
      sentBytes: 0,
      rejected: {},
      largest: 0,
    }),
    peers: () => ({ trusted: 0, alive: 0 }),
    rounds: () => 0,
    loss: () => null,
    accuracy: () => null,
    samples: () => 0,
    rss: () => 0,
  };
}

/** Metrics of an agent that has done nothing yet (for API tests that do not look at metrics). */
export function idleMetrics(): AgentMetrics {
  return new AgentMetrics(idleSource());
}
