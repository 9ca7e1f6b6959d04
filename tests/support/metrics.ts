/** Test helper: an `AgentMetrics` whose every source reads zero (for API tests that do not look at metrics). */
import { AgentMetrics } from "../../src/api/mod.ts";

/** Metrics of an agent that has done nothing yet. */
export function idleMetrics(): AgentMetrics {
  return new AgentMetrics({
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
  });
}
