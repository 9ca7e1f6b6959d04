/**
 * The daemon's Prometheus metrics, exposed by `GET /metrics`. The exposition format comes from
 * `prom-client` (a registry per daemon, no global state). Datagram counters and gauges are read at scrape
 * time from an injected {@linkcode GaugeSource}, so they are never stale; API requests and inference
 * latency are recorded as they happen.
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { SaveHealth } from "../state/mod.ts";
import type { AirtimeReport } from "./status.ts";

/** Datagram counters since the daemon started (the gossip core keeps them). */
export interface DatagramCounters {
  /** Every datagram that arrived, accepted or not. */
  received: number;
  receivedBytes: number;
  /** Datagrams that passed every check. */
  accepted: number;
  sent: number;
  sentBytes: number;
  /** Dropped datagrams by reason. */
  rejected: Record<string, number>;
  /** Largest datagram sent or received. */
  largest: number;
}

/** Values read at scrape time. */
export interface GaugeSource {
  datagrams(): DatagramCounters;
  /** Trusted peers, and how many of them were heard from recently. */
  peers(): { trusted: number; alive: number };
  /** Learning rounds completed (including those restored from the checkpoint). */
  rounds(): number;
  /** Mean loss of the last training round, or null before the first. */
  loss(): number | null;
  /** Held-out accuracy in [0, 1], or null when there is no held-out data. */
  accuracy(): number | null;
  /** Local training samples. */
  samples(): number;
  /** Resident set size of the process in bytes. */
  rss(): number;
  /** Whether state can be saved, and the free space of its filesystem. */
  storage?(): SaveHealth;
  /** How the trusted peers are heard now (alive ones), and the broker connection; absent = UDP only. */
  transport?(): TransportGauges;
  /** The airtime budget and its use, or null while the agent is starting; absent = not reported. */
  airtime?(): AirtimeReport | null;
}

/** Transport figures read at scrape time. */
export interface TransportGauges {
  /** Alive trusted peers by how they are heard: lan, broker, both. */
  peers: Record<"lan" | "broker" | "both", number>;
  /** Broker connection, or null without a broker. */
  broker: {
    connected: boolean;
    connects: number;
    failures: number;
    messagesIn: number;
    messagesOut: number;
    dropped: Record<string, number>;
  } | null;
  /** Frames a bridge forwarded, or null when this board is no bridge. */
  forwarded: { toBroker: number; toLan: number } | null;
}

/** Inference latency buckets in seconds (a batch-1 MLP forward pass is ~0.1 ms on wasm). */
export const INFERENCE_BUCKETS = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  1,
];

/** Counters and gauges of one daemon. */
export class AgentMetrics {
  /** The registry (one per daemon; tests create their own). */
  readonly registry: Registry;
  readonly #inference: Histogram<string>;
  readonly #requests: Counter<"route" | "code">;
  /** Datagram counters read once per scrape, so all datagram metrics of one scrape agree. */
  #datagrams: DatagramCounters | undefined;

  constructor(source: GaugeSource) {
    const registry = new Registry();
    this.registry = registry;
    const registers = [registry];
    // Counters mirrored from the gossip core's own tallies at scrape time, so /metrics and
    // /v1/status never disagree.
    const take = () => this.#datagrams ??= source.datagrams();
    const mirrored = (name: string, help: string, pick: (c: DatagramCounters) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(pick(take()));
        },
      });
    mirrored("agent_datagrams_received_total", "Datagrams that arrived, accepted or not", (c) => c.received);
    mirrored(
      "agent_datagrams_accepted_total",
      "Datagrams from trusted peers that passed every check",
      (c) => c.accepted,
    );
    mirrored("agent_datagrams_sent_total", "Datagrams sent", (c) => c.sent);
    mirrored("agent_received_bytes_total", "Bytes of datagrams that arrived", (c) => c.receivedBytes);
    mirrored("agent_sent_bytes_total", "Bytes of datagrams sent", (c) => c.sentBytes);
    new Counter({
      name: "agent_datagrams_rejected_total",
      help: "Datagrams dropped, by reason",
      labelNames: ["reason"],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(take().rejected)) this.inc({ reason }, n);
      },
    });
    new Gauge({
      name: "agent_largest_datagram_bytes",
      help: "Largest datagram sent or received so far",
      registers,
      collect() {
        this.set(take().largest);
      },
    });
    this.#inference = new Histogram({
      name: "agent_inference_duration_seconds",
      help: "Time to answer one /v1/predict request (model forward pass included)",
      buckets: INFERENCE_BUCKETS,
      registers,
    });
    this.#requests = new Counter({
      name: "agent_api_requests_total",
      help: "HTTP API requests by route and status code",
      labelNames: ["route", "code"],
      registers,
    });
    new Gauge({
      name: "agent_peers",
      help: "Trusted peers (state=trusted) and those heard from recently (state=alive)",
      labelNames: ["state"],
      registers,
      collect() {
        const p = source.peers();
        this.set({ state: "trusted" }, p.trusted);
        this.set({ state: "alive" }, p.alive);
      },
    });
    new Gauge({
      name: "agent_learning_rounds",
      help: "Learning rounds completed by this node's model (survives restarts)",
      registers,
      collect() {
        this.set(source.rounds());
      },
    });
    new Gauge({
      name: "agent_training_loss",
      help: "Mean training loss of the last round (NaN before the first)",
      registers,
      collect() {
        this.set(source.loss() ?? NaN);
      },
    });
    new Gauge({
      name: "agent_heldout_accuracy",
      help: "Accuracy on the local held-out samples, 0..1 (NaN when there are none)",
      registers,
      collect() {
        this.set(source.accuracy() ?? NaN);
      },
    });
    new Gauge({
      name: "agent_local_samples",
      help: "Local training samples",
      registers,
      collect() {
        this.set(source.samples());
      },
    });
    const storage = source.storage?.bind(source);
    if (storage) {
      new Gauge({
        name: "agent_state_save_ok",
        help:
          "1 when the last write of every kind of state (checkpoint, status) succeeded, 0 while saving fails",
        registers,
        collect() {
          this.set(storage().ok ? 1 : 0);
        },
      });
      new Counter({
        name: "agent_state_save_failures_total",
        help: "State writes that failed (e.g. no space left on the device)",
        registers,
        collect() {
          this.reset();
          this.inc(storage().failures);
        },
      });
      new Gauge({
        name: "agent_state_free_bytes",
        help: "Free bytes on the filesystem of the state directory (NaN if unknown)",
        registers,
        collect() {
          this.set(storage().freeBytes ?? NaN);
        },
      });
    }
    this.#transportMetrics(source, registers);
    if (source.airtime) this.#airtimeMetrics(source.airtime, registers);
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes",
      registers,
      collect() {
        this.set(source.rss());
      },
    });
  }

  #transportMetrics(source: GaugeSource, registers: Registry[]): void {
    let cached: TransportGauges | null | undefined;
    const take = () => cached ??= source.transport?.() ?? null;
    new Gauge({
      name: "agent_peers_by_transport",
      help: "Alive trusted peers by how they are heard: lan (UDP broadcast), broker (MQTT) or both",
      labelNames: ["transport"],
      registers,
      collect() {
        cached = undefined;
        const t = take();
        for (const k of ["lan", "broker", "both"] as const) {
          this.set({ transport: k }, t ? t.peers[k] : 0);
        }
      },
    });
    new Gauge({
      name: "agent_broker_connected",
      help: "1 while connected to the MQTT broker, 0 while not (or when gossip.transport is udp)",
      registers,
      collect() {
        this.set(take()?.broker?.connected ? 1 : 0);
      },
    });
    const brokerCounter = (
      name: string,
      help: string,
      pick: (b: NonNullable<TransportGauges["broker"]>) => number,
    ) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          const b = take()?.broker;
          if (b) this.inc(pick(b));
        },
      });
    brokerCounter(
      "agent_broker_connects_total",
      "Successful connections to the MQTT broker",
      (b) => b.connects,
    );
    brokerCounter(
      "agent_broker_failures_total",
      "Failed connection attempts and lost connections to the MQTT broker",
      (b) => b.failures,
    );
    new Counter({
      name: "agent_broker_messages_total",
      help: "Frames received from (direction=in) and published to (direction=out) the MQTT broker",
      labelNames: ["direction"],
      registers,
      collect() {
        this.reset();
        const b = take()?.broker;
        this.inc({ direction: "in" }, b?.messagesIn ?? 0);
        this.inc({ direction: "out" }, b?.messagesOut ?? 0);
      },
    });
    new Counter({
      name: "agent_broker_dropped_total",
      help: "Frames not published or not checked, by reason (notConnected, queueFull, publishFailed)",
      labelNames: ["reason"],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(take()?.broker?.dropped ?? {})) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: "agent_bridge_forwarded_total",
      help: "Accepted frames a bridging board forwarded to the broker (to=broker) or to its LAN (to=lan)",
      labelNames: ["to"],
      registers,
      collect() {
        this.reset();
        const f = take()?.forwarded;
        this.inc({ to: "broker" }, f?.toBroker ?? 0);
        this.inc({ to: "lan" }, f?.toLan ?? 0);
      },
    });
  }

  #airtimeMetrics(airtime: () => AirtimeReport | null, registers: Registry[]): void {
    let cached: AirtimeReport | null | undefined;
    const gauge = (name: string, help: string, pick: (a: AirtimeReport) => number, first = false) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          if (first) cached = airtime(); // one reading per scrape, so the gauges agree
          const a = cached;
          this.set(a ? pick(a) : NaN);
        },
      });
    gauge(
      "agent_swarm_size_estimate",
      "Boards this one hears: trusted peers heard within the peer timeout, plus itself",
      (a) => a.swarmSize,
      true,
    );
    gauge(
      "agent_round_interval_seconds",
      "Seconds between learning rounds now (learning.roundMs, stretched by the airtime budget)",
      (a) => a.roundMs / 1000,
    );
    gauge(
      "agent_hello_interval_seconds",
      "Seconds between Hellos now (gossip.intervalMs, stretched by the airtime budget)",
      (a) => a.helloMs / 1000,
    );
    gauge(
      "agent_airtime_budget_bytes_per_second",
      "gossip.swarmBytesPerSecond: airtime the whole swarm may use",
      (a) => a.budgetBytesPerSecond,
    );
    new Gauge({
      name: "agent_airtime_bytes_per_second",
      help:
        "Airtime in bytes/s: scope=own (this board sends, measured), swarm (heard plus own, measured), planned (swarm size x one board's planned rate)",
      labelNames: ["scope"],
      registers,
      collect() {
        const a = cached;
        this.set({ scope: "own" }, a ? a.ownBytesPerSecond : NaN);
        this.set({ scope: "swarm" }, a ? a.swarmBytesPerSecond : NaN);
        this.set({ scope: "planned" }, a ? a.plannedBytesPerSecond : NaN);
      },
    });
  }

  /** A prediction request took `seconds`. */
  inference(seconds: number): void {
    this.#inference.observe(seconds);
  }

  /** An API request to `route` was answered with `code`. */
  request(route: string, code: number): void {
    this.#requests.inc({ route, code: String(code) });
  }

  /** The exposition text. */
  async text(): Promise<string> {
    this.#datagrams = undefined;
    try {
      return await this.registry.metrics();
    } finally {
      this.#datagrams = undefined;
    }
  }

  /** Content type of {@linkcode text}. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
