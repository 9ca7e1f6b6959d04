/**
 * The I/O shell around {@linkcode GossipNode}: a receive loop feeding datagrams from a
 * {@linkcode Transport} into the node, a timer calling `tick` and broadcasting heartbeats, periodic and
 * final saves of the replay windows, and a boot epoch bump before the sequence counter runs out. The
 * loop never dies on a bad datagram; it logs and counts.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { Clock } from "../time.ts";
import type { MessageType } from "../wire/mod.ts";
import type { AcceptedMessage, GossipEvent, GossipNode } from "./node.ts";
import type { Address, Transport } from "./transport.ts";

/** Options of {@linkcode GossipService}. */
export interface GossipServiceOptions {
  node: GossipNode;
  transport: Transport;
  clock: Clock;
  logger: Logger;
  /** Called for every accepted datagram (the learning layer); errors are logged, never fatal. */
  onMessage?: (message: AcceptedMessage) => void | Promise<void>;
  /**
   * Datagrams processed at once (default 4): Ed25519 verification runs off the main thread, so the
   * next datagram's checks and the previous one's inflate overlap with it.
   */
  concurrency?: number;
  /** Called for every event (tests, metrics). */
  onEvent?: (event: GossipEvent) => void;
  /** How often `tick` runs, ms (default: a quarter of the heartbeat interval, at most 250). */
  tickMs?: number;
  /** Intended heartbeat interval (only to derive the default tickMs). */
  intervalMs?: number;
  /** Saves the replay windows (called when dirty every `saveMs`, and at stop). */
  saveReplay?: () => Promise<void>;
  /** Period of replay saves, ms (default 5000). */
  saveMs?: number;
  /** Persists and returns the next boot epoch (used before the counter runs out). */
  nextEpoch?: () => Promise<number>;
}

/** Counters below this many left trigger a boot epoch bump. */
const EPOCH_BUMP_MARGIN = 1 << 20;

/** Runs a {@linkcode GossipNode} over a {@linkcode Transport}. */
export class GossipService {
  readonly node: GossipNode;
  #o: GossipServiceOptions;
  #tickTimer: ReturnType<typeof setInterval> | undefined;
  #saveTimer: ReturnType<typeof setInterval> | undefined;
  #loop: Promise<void> | undefined;
  #ticking = false;
  #bumping: Promise<void> | undefined;
  #stopped = false;
  /** Datagrams the transport failed to send. */
  sendFailures = 0;

  constructor(options: GossipServiceOptions) {
    this.node = options.node;
    this.#o = options;
  }

  /** Starts receiving, heartbeats and replay saves. */
  start(): void {
    if (this.#loop) throw new Error("Bug: GossipService started twice");
    this.#loop = this.#receiveLoop();
    const tickMs = this.#o.tickMs ??
      Math.max(10, Math.min(250, Math.floor((this.#o.intervalMs ?? 1000) / 4)));
    this.#tickTimer = setInterval(() => void this.#tick(), tickMs);
    void this.#tick();
    if (this.#o.saveReplay) {
      this.#saveTimer = setInterval(() => void this.#save(), this.#o.saveMs ?? 5000);
    }
  }

  /** Frames, signs and broadcasts an already deflated body; false if the transport dropped it. */
  async publish(type: MessageType, deflatedBody: Uint8Array): Promise<boolean> {
    const frame = await this.node.send(type, deflatedBody);
    this.#maybeBumpEpoch();
    return await this.#broadcast(frame);
  }

  /** Stops timers and the receive loop, closes the transport and saves the replay windows. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#tickTimer);
    clearInterval(this.#saveTimer);
    this.#o.transport.close();
    await this.#loop;
    await this.#bumping;
    if (this.#o.saveReplay) await this.#save(true);
  }

  async #broadcast(frame: Uint8Array): Promise<boolean> {
    const ok = await this.#o.transport.broadcast(frame);
    if (!ok) this.sendFailures++;
    return ok;
  }

  async #tick(): Promise<void> {
    if (this.#ticking || this.#stopped) return;
    this.#ticking = true;
    try {
      for (const frame of await this.node.tick(this.#o.clock.now())) {
        if (this.#stopped) break;
        await this.#broadcast(frame);
      }
      this.#maybeBumpEpoch();
    } catch (e) {
      this.#o.logger.error("Heartbeat failed", { error: e });
    } finally {
      this.#ticking = false;
    }
  }

  #maybeBumpEpoch(): void {
    if (this.#bumping || !this.#o.nextEpoch || this.node.sequenceRemaining > EPOCH_BUMP_MARGIN) return;
    this.#bumping = this.#o.nextEpoch()
      .then((epoch) => {
        this.node.advanceEpoch(epoch);
        this.#o.logger.info("Started a new boot epoch (sequence counter nearly used up)", { epoch });
      })
      .catch((e) => this.#o.logger.error("Cannot persist a new boot epoch", { error: e }))
      .finally(() => (this.#bumping = undefined));
  }

  async #save(final = false): Promise<void> {
    if (!this.#o.saveReplay || (!final && !this.node.replay.dirty)) return;
    try {
      await this.#o.saveReplay();
    } catch (e) {
      this.#o.logger.error("Cannot save the replay windows", { error: e });
    }
  }

  async #receiveLoop(): Promise<void> {
    const limit = Math.max(1, this.#o.concurrency ?? 4);
    const inflight = new Set<Promise<void>>();
    for await (const { bytes, from } of this.#o.transport.receive()) {
      const p: Promise<void> = this.#handle(bytes, from).finally(() => inflight.delete(p));
      inflight.add(p);
      if (inflight.size >= limit) await Promise.race(inflight);
    }
    await Promise.all(inflight);
  }

  /** One datagram through the node and, if accepted, to `onMessage`. Never rejects. */
  async #handle(bytes: Uint8Array, from: Address): Promise<void> {
    const log = this.#o.logger;
    let event: GossipEvent;
    try {
      event = await this.node.onDatagram(bytes, from, this.#o.clock.now());
    } catch (e) {
      // A bug, not hostile input (that is a counted rejection): log it and keep serving.
      log.error("Datagram handling failed", { error: e, from: `${from.hostname}:${from.port}` });
      return;
    }
    try {
      this.#o.onEvent?.(event);
    } catch (e) {
      log.error("Event handler failed", { error: e });
    }
    if (event.kind === "rejected") {
      if (event.reason !== "own") {
        log.debug("Dropped datagram", { reason: event.reason, from: `${from.hostname}:${from.port}` });
      }
      return;
    }
    if (this.#o.transport.relay) {
      // A bridge forwards what passed every check (each frame once: the replay window saw to that).
      try {
        await this.#o.transport.relay(bytes, from);
      } catch (e) {
        log.error("Forwarding a datagram failed", { error: e });
      }
    }
    if (this.#o.onMessage) {
      try {
        await this.#o.onMessage(event.message);
      } catch (e) {
        log.error("Message handler failed", { error: e, type: event.message.type });
      }
    }
  }
}
