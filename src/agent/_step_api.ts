/**
 * Start step: the local HTTP API on `api.listen` (refused with what to do when the port is taken), and the
 * figures its `/metrics` reads at scrape time from the running parts.
 *
 * @module
 */
import {
  AgentMetrics,
  type AirtimeReport,
  type ApiServer,
  createApi,
  type HistoryReport,
  type Pairing,
  serveApi,
  type StatusReport,
} from "../api/mod.ts";
import type { Config } from "../config/mod.ts";
import type { GossipNode } from "../gossip/mod.ts";
import type { SwarmLearner } from "../learn/mod.ts";
import type { Logger } from "../log.ts";
import type { TrainableModel } from "../model/mod.ts";
import type { SaveGuard } from "../state/mod.ts";
import type { Clock } from "../time.ts";
import type { Evaluator, LargestDatagram } from "./_observed.ts";
import type { LocalDataSet } from "./_step_data.ts";
import type { TransportInfo } from "./transport.ts";

/** The running agent's reports the API answers with. */
export interface AgentReports {
  status(): StatusReport;
  /** Samples newer than `sinceMs` (wall-clock ms) and the values right now. */
  history(sinceMs: number): HistoryReport;
  pairing(): Promise<Pairing>;
}

/** The parts `/metrics` reads. */
export interface MetricsParts {
  node: Pick<GossipNode, "counters" | "peers">;
  transport(): TransportInfo;
  trusted(): number;
  learner: Pick<SwarmLearner, "stats">;
  evaluator: Pick<Evaluator, "accuracy">;
  data: Pick<LocalDataSet, "current">;
  largest: Pick<LargestDatagram, "bytes">;
  saving: Pick<SaveGuard, "health">;
  clock: Clock;
  /** The airtime budget and its use (absent: not reported). */
  airtime?(): AirtimeReport | null;
}

/** The Prometheus metrics of the running agent, read from its parts at scrape time. */
export function agentMetrics(p: MetricsParts): AgentMetrics {
  const { node, clock } = p;
  return new AgentMetrics({
    datagrams: () => {
      const c = node.counters();
      const { received, receivedBytes, accepted, sent, sentBytes, rejected } = c;
      return { received, receivedBytes, accepted, sent, sentBytes, rejected, largest: p.largest.bytes };
    },
    peers: () => {
      const peers = node.peers(clock.now()).filter((q) => q.trusted);
      return { trusted: p.trusted(), alive: peers.filter((q) => q.alive).length };
    },
    rounds: () => p.learner.stats(clock.now()).rounds,
    loss: () => {
      const l = p.learner.stats(clock.now()).lastLoss;
      return Number.isFinite(l) ? l : null;
    },
    accuracy: () => p.evaluator.accuracy,
    samples: () => p.data.current.train.count,
    rss: () => Deno.memoryUsage().rss,
    storage: () => p.saving.health(),
    ...(p.airtime ? { airtime: p.airtime } : {}),
    transport: () => {
      const t = p.transport();
      const peers = { lan: 0, broker: 0, both: 0 };
      for (const q of node.peers(clock.now())) {
        if (q.trusted && q.alive && q.transport) peers[q.transport]++;
      }
      const b = t.broker;
      return {
        peers,
        broker: b && {
          connected: b.state === "connected",
          connects: b.connects,
          failures: b.failures,
          messagesIn: b.messagesIn,
          messagesOut: b.messagesOut,
          dropped: b.dropped,
        },
        forwarded: t.forwarded,
      };
    },
  });
}

/** What {@linkcode serveAgentApi} serves. */
export interface ApiParts {
  config: Config;
  model: Pick<TrainableModel, "inputSize" | "classes" | "spec">;
  serving: Pick<TrainableModel, "predict">;
  data: Pick<LocalDataSet, "input" | "store">;
  metrics: AgentMetrics;
  /** `api.maxBodyBytes` now (a live setting). */
  maxBodyBytes(): number;
  clock: Clock;
  logger: Logger;
}

/** Serves the API for `reports` on `api.listen`; throws a `UsageError` if the address is taken. */
export function serveAgentApi(reports: AgentReports, p: ApiParts): ApiServer {
  const handler = createApi({
    inputSize: p.model.inputSize,
    classes: p.model.classes,
    classNames: p.model.spec.classNames,
    input: p.data.input,
    predict: (x, count) => p.serving.predict(x, count),
    addSamples: async (x, y, count) => ({ stored: await p.data.store.append(x, y, count) }),
    status: () => reports.status(),
    metrics: p.metrics,
    get maxBodyBytes() {
      return p.maxBodyBytes();
    },
    clock: p.clock,
    logger: p.logger.child({ component: "api" }),
    dashboard: {
      status: () => reports.status(),
      history: (since) => reports.history(since),
      pairing: () => reports.pairing(),
    },
  });
  return serveApi(handler, {
    listen: p.config.api.listen,
    allowRemote: p.config.api.allowRemote,
    logger: p.logger,
  });
}
