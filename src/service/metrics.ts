/**
 * The daemon's Prometheus metrics, exposed by `GET /metrics`. The exposition format comes from
 * `prom-client` (a registry per daemon, no global state). Counters are bumped by the daemon as things
 * happen; gauges are read at scrape time from an injected {@linkcode GaugeSource}, so they are never stale.
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Values read at scrape time. */
export interface GaugeSource {
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
  readonly #datagramsIn: Counter<string>;
  readonly #datagramsOut: Counter<string>;
  readonly #bytesIn: Counter<string>;
  readonly #bytesOut: Counter<string>;
  readonly #rejected: Counter<"reason">;
  readonly #inference: Histogram<string>;
  readonly #requests: Counter<"route" | "code">;
  #largest = 0;

  constructor(source: GaugeSource) {
    const registry = new Registry();
    this.registry = registry;
    const registers = [registry];
    this.#datagramsIn = new Counter({
      name: "agent_datagrams_received_total",
      help: "Datagrams accepted from trusted peers (signature, replay and decode checks passed)",
      registers,
    });
    this.#datagramsOut = new Counter({
      name: "agent_datagrams_sent_total",
      help: "Datagrams sent",
      registers,
    });
    this.#bytesIn = new Counter({
      name: "agent_received_bytes_total",
      help: "Bytes of accepted datagrams",
      registers,
    });
    this.#bytesOut = new Counter({
      name: "agent_sent_bytes_total",
      help: "Bytes of datagrams sent",
      registers,
    });
    this.#rejected = new Counter({
      name: "agent_datagrams_rejected_total",
      help: "Datagrams dropped, by reason",
      labelNames: ["reason"],
      registers,
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
    const largest = () => this.#largest;
    new Gauge({
      name: "agent_largest_datagram_bytes",
      help: "Largest datagram sent or received so far",
      registers,
      collect() {
        this.set(largest());
      },
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
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes",
      registers,
      collect() {
        this.set(source.rss());
      },
    });
  }

  /** An accepted datagram of `bytes` bytes. */
  datagramIn(bytes: number): void {
    this.#datagramsIn.inc();
    this.#bytesIn.inc(bytes);
    if (bytes > this.#largest) this.#largest = bytes;
  }

  /** A datagram of `bytes` bytes was sent. */
  datagramOut(bytes: number): void {
    this.#datagramsOut.inc();
    this.#bytesOut.inc(bytes);
    if (bytes > this.#largest) this.#largest = bytes;
  }

  /** A datagram was dropped for `reason` (e.g. `untrusted`, `bad_signature`, `replay`). */
  rejected(reason: string, bytes = 0): void {
    this.#rejected.inc({ reason });
    if (bytes > this.#largest) this.#largest = bytes;
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
    return await this.registry.metrics();
  }

  /** Content type of {@linkcode text}. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
