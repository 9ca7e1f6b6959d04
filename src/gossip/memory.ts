/**
 * An in-memory broadcast network for deterministic many-node tests and the swarm simulation: loss,
 * duplication, reordering (random extra delay) and partitions, all driven by an injected
 * {@linkcode Random} and an explicit `deliver(now)` step (no timers, no sockets).
 *
 * Two ways to use it: synchronous (`post` / `deliver` returning what arrives where), or through
 * {@linkcode MemoryTransport}, which implements {@linkcode Transport} over the same network.
 *
 * @module
 */
import type { Random } from "../time.ts";
import type { Address, Received, Transport } from "./transport.ts";

/** Network impairments. */
export interface MemoryNetworkOptions {
  /** Probability that one copy to one receiver is dropped, 0..1. */
  loss?: number;
  /** Probability that a delivered copy is delivered twice. */
  duplicate?: number;
  /** Base one-way delay in ms. */
  delayMs?: number;
  /** Extra uniform random delay in ms (reorders datagrams). */
  jitterMs?: number;
}

/** A datagram in flight. */
export interface InFlight {
  at: number;
  seq: number;
  from: string;
  to: string;
  bytes: Uint8Array;
}

/** Counters of what the network did. */
export interface MemoryNetworkStats {
  posted: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  bytesPosted: number;
}

/** The shared medium. Node ids are strings; address = `{hostname: id, port: 0}`. */
export class MemoryNetwork {
  readonly options: Required<MemoryNetworkOptions>;
  readonly stats: MemoryNetworkStats = { posted: 0, delivered: 0, dropped: 0, duplicated: 0, bytesPosted: 0 };
  #rng: Random;
  #nodes = new Set<string>();
  #cut = new Set<string>();
  #queue: InFlight[] = [];
  #seq = 0;
  #inboxes = new Map<string, (r: Received) => void>();

  constructor(rng: Random, options: MemoryNetworkOptions = {}) {
    this.#rng = rng;
    this.options = { loss: 0, duplicate: 0, delayMs: 1, jitterMs: 0, ...options };
  }

  /** Adds a node to the segment. */
  join(id: string): void {
    this.#nodes.add(id);
  }
  /** Removes a node (it stops receiving; in-flight datagrams to it are dropped on delivery). */
  leave(id: string): void {
    this.#nodes.delete(id);
    this.#inboxes.delete(id);
  }
  /** Cuts a node off (partition) or heals it. */
  setCut(id: string, cut: boolean): void {
    if (cut) this.#cut.add(id);
    else this.#cut.delete(id);
  }
  get nodes(): string[] {
    return [...this.#nodes];
  }

  /** Broadcasts (`to` undefined) or unicasts `bytes` from `from` at time `now`. */
  post(from: string, bytes: Uint8Array, now: number, to?: string): void {
    this.stats.posted++;
    this.stats.bytesPosted += bytes.length;
    if (this.#cut.has(from)) return;
    const targets = to === undefined ? [...this.#nodes].filter((n) => n !== from) : [to];
    const copy = bytes.slice();
    for (const target of targets) {
      if (this.#cut.has(target) || !this.#nodes.has(target)) continue;
      if (this.#rng.next() < this.options.loss) {
        this.stats.dropped++;
        continue;
      }
      const copies = this.#rng.next() < this.options.duplicate ? 2 : 1;
      if (copies === 2) this.stats.duplicated++;
      for (let c = 0; c < copies; c++) {
        const at = now + this.options.delayMs + this.#rng.next() * this.options.jitterMs;
        this.#queue.push({ at, seq: this.#seq++, from, to: target, bytes: copy });
      }
    }
  }

  /** Removes and returns every datagram due by `now`, in arrival order. Also feeds attached transports. */
  deliver(now: number): InFlight[] {
    const due: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const d of this.#queue) (d.at <= now ? due : rest).push(d);
    this.#queue = rest;
    due.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const out = due.filter((d) => this.#nodes.has(d.to));
    this.stats.delivered += out.length;
    for (const d of out) this.#inboxes.get(d.to)?.({ bytes: d.bytes, from: { hostname: d.from, port: 0 } });
    return out;
  }

  /** Datagrams still in flight. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Attaches a {@linkcode Transport} for node `id` (datagrams arrive when `deliver` is called). */
  transport(id: string, clock: { now(): number }): MemoryTransport {
    this.join(id);
    return new MemoryTransport(this, id, clock, (fn) => this.#inboxes.set(id, fn));
  }
}

/** {@linkcode Transport} over a {@linkcode MemoryNetwork}. */
export class MemoryTransport implements Transport {
  readonly localAddress: Address;
  #net: MemoryNetwork;
  #clock: { now(): number };
  #buffer: Received[] = [];
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(
    net: MemoryNetwork,
    id: string,
    clock: { now(): number },
    attach: (fn: (r: Received) => void) => void,
  ) {
    this.#net = net;
    this.#clock = clock;
    this.localAddress = { hostname: id, port: 0 };
    attach((r) => {
      this.#buffer.push(r);
      this.#wake?.();
    });
  }
  broadcast(bytes: Uint8Array): Promise<boolean> {
    if (!this.#closed) this.#net.post(this.localAddress.hostname, bytes, this.#clock.now());
    return Promise.resolve(!this.#closed);
  }
  send(bytes: Uint8Array, to: Address): Promise<boolean> {
    if (!this.#closed) this.#net.post(this.localAddress.hostname, bytes, this.#clock.now(), to.hostname);
    return Promise.resolve(!this.#closed);
  }
  /** Takes what has arrived so far without waiting (for synchronous test loops). */
  drain(): Received[] {
    const out = this.#buffer;
    this.#buffer = [];
    return out;
  }
  async *receive(): AsyncIterable<Received> {
    while (!this.#closed) {
      if (this.#buffer.length === 0) await new Promise<void>((r) => (this.#wake = r));
      this.#wake = undefined;
      while (this.#buffer.length > 0) yield this.#buffer.shift()!;
    }
  }
  close(): void {
    this.#closed = true;
    this.#net.leave(this.localAddress.hostname);
    this.#wake?.();
  }
}
