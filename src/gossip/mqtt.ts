/**
 * MQTT {@linkcode Transport}: the same signed frames as UDP, published unchanged (QoS 0, not retained) to one
 * topic on an MQTT 3.1.1/5 broker and received from it by subscribing to that topic. The broker is untrusted:
 * it only ever sees signed bytes, and every frame it delivers goes through the gossip core's receive pipeline
 * exactly like a UDP datagram (size cap, trust, model, rate limit, signature, replay window).
 *
 * The client is `npm:mqtt`. Reconnection is ours, not the library's fixed period: after a lost connection or a
 * failed attempt the next one waits `reconnectMinMs`, doubling up to `reconnectMaxMs` (±20% jitter), and the
 * log gets one line per change of state (connected, lost, back), never one per frame or per attempt.
 *
 * Hostile input from the broker is bounded twice: with MQTT 5 the connection announces a 64 KiB maximum
 * packet size, so the broker drops larger messages instead of sending them; whatever arrives above the
 * 4,096-byte hard cap is cut to 4,097 bytes (rejected as oversize, like UDP), and at most `queueLimit` frames
 * wait to be checked (more are dropped and counted, like a full socket buffer).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { Logger } from "../log.ts";
import { MAX_DATAGRAM } from "../wire/mod.ts";
import type { Address, Received, Transport } from "./transport.ts";

/** Largest MQTT packet a version 5 connection accepts from the broker. */
export const MQTT_MAX_PACKET = 65536;

/** Where the connection to the broker stands. */
export type BrokerState = "connecting" | "connected" | "down" | "closed";

/** What {@linkcode MqttTransport} connects with (secrets already read from their files). */
export interface MqttTransportOptions {
  /** mqtt://HOST[:PORT] or mqtts://HOST[:PORT], without credentials. */
  url: string;
  topic: string;
  clientId: string;
  username?: string;
  /** Never logged, never in status. */
  password?: string;
  protocol: "5" | "3.1.1";
  /** PEM texts for mqtts://. */
  ca?: string;
  cert?: string;
  key?: string;
  keepaliveSeconds: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  logger: Logger;
  /** Monotonic ms (for how long the broker was down). */
  now?: () => number;
  /** Uniform [0, 1) for the backoff jitter. */
  random?: () => number;
  /** Most received frames waiting to be checked (default 1024). */
  queueLimit?: number;
  /** Time allowed for one connection attempt, ms (default 10 s). */
  connectTimeoutMs?: number;
}

/** The broker connection for status and metrics. Holds no secret. */
export interface BrokerStatus {
  url: string;
  topic: string;
  clientId: string;
  state: BrokerState;
  /** ms the connection has been in `state`. */
  forMs: number;
  /** Successful connections since start. */
  connects: number;
  /** Failed attempts and lost connections since start. */
  failures: number;
  /** Frames published and received. */
  messagesOut: number;
  messagesIn: number;
  bytesOut: number;
  bytesIn: number;
  /** Frames not sent or not checked, by reason. */
  dropped: { notConnected: number; queueFull: number; publishFailed: number };
  /** Last connection error (no secrets), or null. */
  lastError: string | null;
}

/** The broker's address as a peer address: `via` "broker". */
function brokerAddress(url: string): Address {
  const u = new URL(url.replace(/^mqtt/, "http"));
  const tls = url.startsWith("mqtts://");
  return {
    hostname: u.hostname.replace(/^\[|\]$/g, ""),
    port: u.port ? Number(u.port) : tls ? 8883 : 1883,
    via: "broker",
  };
}

/** Message of a connection error, without anything that could carry a secret. */
export function describeMqttError(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown };
  const code = err?.code;
  if (code === 4 || code === 134) return "the broker refused the user name or password";
  if (code === 5 || code === 135) {
    return "the broker says this client is not authorized (check mqtt.username and mqtt.passwordFile)";
  }
  if (code === 2 || code === 133) return "the broker refused the client id";
  if (code === 3 || code === 136) return "the broker is unavailable";
  const msg = typeof err?.message === "string" ? err.message : String(e);
  return msg.split("\n")[0].slice(0, 200);
}

/** Publishes and receives frames through an MQTT broker. */
export class MqttTransport implements Transport {
  readonly localAddress: Address;
  #o: MqttTransportOptions;
  #client: MqttClient;
  #from: Address;
  #now: () => number;
  #random: () => number;
  #queue: Received[] = [];
  #wake: (() => void) | undefined;
  #state: BrokerState = "connecting";
  #since: number;
  #failuresInRow = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #loggedError = "";
  #stats = {
    connects: 0,
    failures: 0,
    messagesOut: 0,
    messagesIn: 0,
    bytesOut: 0,
    bytesIn: 0,
    dropped: { notConnected: 0, queueFull: 0, publishFailed: 0 },
    lastError: null as string | null,
  };

  constructor(options: MqttTransportOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
    this.#random = options.random ?? Math.random;
    this.#since = this.#now();
    this.#from = brokerAddress(options.url);
    this.localAddress = { hostname: options.clientId, port: 0, via: "broker" };
    const v5 = options.protocol === "5";
    const clientOptions: IClientOptions = {
      clientId: options.clientId,
      protocolVersion: v5 ? 5 : 4,
      keepalive: options.keepaliveSeconds,
      // Reconnection with backoff is done here (the library only knows a fixed period).
      reconnectPeriod: 0,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      clean: true,
      resubscribe: false,
      ...(options.username ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.cert ? { cert: options.cert } : {}),
      ...(options.key ? { key: options.key } : {}),
      rejectUnauthorized: true,
      ...(v5 ? { properties: { maximumPacketSize: MQTT_MAX_PACKET } } : {}),
    };
    this.#client = mqtt.connect(options.url, clientOptions);
    this.#client.on("connect", () => this.#onConnect());
    this.#client.on("message", (_topic, payload) => this.#onMessage(payload));
    this.#client.on("error", (e) => this.#onError(e));
    this.#client.on("close", () => this.#onClose());
  }

  /** The connection as plain data. */
  status(): BrokerStatus {
    const s = this.#stats;
    return {
      url: this.#o.url,
      topic: this.#o.topic,
      clientId: this.#o.clientId,
      state: this.#state,
      forMs: Math.max(0, this.#now() - this.#since),
      connects: s.connects,
      failures: s.failures,
      messagesOut: s.messagesOut,
      messagesIn: s.messagesIn,
      bytesOut: s.bytesOut,
      bytesIn: s.bytesIn,
      dropped: { ...s.dropped },
      lastError: s.lastError,
    };
  }

  get state(): BrokerState {
    return this.#state;
  }

  /** Publishes one frame to the topic; false (counted) while the broker is not connected. */
  broadcast(bytes: Uint8Array): Promise<boolean> {
    if (bytes.length > MAX_DATAGRAM) {
      throw new Error(`Bug: refusing to send ${bytes.length} bytes (> ${MAX_DATAGRAM})`);
    }
    if (this.#state !== "connected") {
      if (this.#state !== "closed") this.#stats.dropped.notConnected++;
      return Promise.resolve(false);
    }
    this.#stats.messagesOut++;
    this.#stats.bytesOut += bytes.length;
    const payload = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // QoS 0 is fire and forget, like a datagram: not awaited, because the library may never call back for
    // a message caught in a connection that drops (a learning round or the receive loop would hang).
    this.#client.publish(this.#o.topic, payload, { qos: 0, retain: false }, (e) => {
      if (e) this.#stats.dropped.publishFailed++;
    });
    return Promise.resolve(true);
  }

  /** The broker has no unicast: a frame for one peer goes to the topic like every other. */
  send(bytes: Uint8Array, _to: Address): Promise<boolean> {
    return this.broadcast(bytes);
  }

  async *receive(): AsyncIterable<Received> {
    while (this.#state !== "closed" || this.#queue.length > 0) {
      if (this.#queue.length === 0) {
        await new Promise<void>((r) => (this.#wake = r));
        this.#wake = undefined;
        continue;
      }
      yield this.#queue.shift()!;
    }
  }

  close(): void {
    if (this.#state === "closed") return;
    this.#setState("closed");
    clearTimeout(this.#retry);
    this.#client.removeAllListeners("close");
    this.#client.on("error", () => {});
    this.#client.end(true);
    this.#queue = [];
    this.#wake?.();
  }

  #setState(state: BrokerState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#since = this.#now();
  }

  #onConnect(): void {
    if (this.#state === "closed") return;
    const log = this.#o.logger;
    const wasDown = this.#stats.connects > 0;
    const downMs = this.#now() - this.#since;
    this.#stats.connects++;
    this.#failuresInRow = 0;
    this.#loggedError = "";
    this.#setState("connected");
    const v5 = this.#o.protocol === "5";
    this.#client.subscribe(this.#o.topic, { qos: 0, ...(v5 ? { nl: true } : {}) }, (e, granted) => {
      const refused = granted?.some((g) => g.qos >= 128);
      if (e || refused) {
        log.error("The MQTT broker refused the subscription; frames from other sites will not arrive", {
          topic: this.#o.topic,
          error: e ? describeMqttError(e) : "refused by the broker (check its access control list)",
        });
      }
    });
    const fields = { url: this.#o.url, topic: this.#o.topic, clientId: this.#o.clientId };
    if (wasDown) {
      log.info("Reconnected to the MQTT broker", { ...fields, downSeconds: Math.round(downMs / 100) / 10 });
    } else log.info("Connected to the MQTT broker", fields);
  }

  #onMessage(payload: Uint8Array): void {
    if (this.#state === "closed") return;
    this.#stats.messagesIn++;
    this.#stats.bytesIn += payload.length;
    if (this.#queue.length >= (this.#o.queueLimit ?? 1024)) {
      this.#stats.dropped.queueFull++;
      return;
    }
    // Anything over the hard cap is kept as cap + 1 bytes: rejected as oversize without holding the rest.
    const bytes = new Uint8Array(payload.subarray(0, MAX_DATAGRAM + 1));
    this.#queue.push({ bytes, from: this.#from });
    this.#wake?.();
  }

  #onError(e: unknown): void {
    if (this.#state === "closed") return;
    const reason = describeMqttError(e);
    this.#stats.lastError = reason;
    // One line per distinct problem, not one per attempt.
    if (reason !== this.#loggedError) {
      this.#loggedError = reason;
      this.#o.logger.warn("MQTT broker connection problem", { url: this.#o.url, error: reason });
    }
  }

  #onClose(): void {
    if (this.#state === "closed") return;
    const wasConnected = this.#state === "connected";
    this.#stats.failures++;
    this.#failuresInRow++;
    const base = Math.min(
      this.#o.reconnectMaxMs,
      this.#o.reconnectMinMs * 2 ** Math.min(30, this.#failuresInRow - 1),
    );
    const delay = Math.round(Math.min(this.#o.reconnectMaxMs, base * (0.8 + 0.4 * this.#random())));
    if (wasConnected) {
      this.#setState("down");
      this.#o.logger.warn("Lost the MQTT broker; learning goes on with the LAN, reconnecting", {
        url: this.#o.url,
        retryInMs: delay,
      });
    } else if (this.#state === "connecting" && this.#stats.connects === 0 && this.#failuresInRow === 1) {
      this.#setState("down");
      this.#o.logger.warn("Cannot reach the MQTT broker yet; learning goes on with the LAN, retrying", {
        url: this.#o.url,
        error: this.#stats.lastError ?? "connection closed",
      });
    } else this.#setState("down");
    this.#o.logger.debug("MQTT reconnect scheduled", { inMs: delay, attempt: this.#failuresInRow });
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      if (this.#state === "closed") return;
      this.#client.reconnect();
    }, delay);
  }
}
