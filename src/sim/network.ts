/**
 * The simulated network: the in-memory broadcast medium ({@linkcode MemoryNetwork}: loss, duplication,
 * reordering) carrying real wire frames. Every message becomes a signed (or same-size unsigned) frame of
 * at most `maxDatagram` bytes, is decoded again on delivery (once per frame, whatever the number of
 * receivers), and is counted per sender.
 *
 * Broadcast is a shared medium: every board on a Wi-Fi channel sends in the same airtime, at the lowest
 * basic rate and without retries. With a `capacity` of C bytes per simulated second and an offered load
 * of L bytes per simulated second in a round (every frame posted that round, over the round's duration),
 * a receiver loses each datagram with probability
 *
 *     p = 1 − (1 − base) · min(1, C / L)
 *
 * i.e. the base loss (fading, interference), and above capacity only the share C / L of the frames gets
 * through (the rest collide or are never sent: the medium carries at most C). Below capacity p = base.
 *
 * @module
 */
import { MemoryNetwork } from "../gossip/mod.ts";
import { createSigner, type Signer } from "../identity/mod.ts";
import { decodeFrame, encodeFrame, encodeUnsigned, type MessageType } from "../wire/mod.ts";
import { SeededRandom } from "../time.ts";
import type { WireMessage } from "./attacks.ts";
import { toHex } from "../bytes.ts";

/** A delivered, decoded message. */
export interface Delivery {
  to: number;
  sender: Uint8Array;
  type: number;
  body: Uint8Array;
}

/** See the module documentation. */
export class SimNetwork {
  readonly keys: Uint8Array[];
  readonly bytes: number[];
  readonly datagrams: number[];
  largest = 0;
  #net: MemoryNetwork;
  #signers: Signer[];
  #counters: number[];
  #maxDatagram: number;
  #sign: boolean;
  #known: Set<string>;
  #baseLoss: number;
  #capacity: number;
  #pending: { from: number; frame: Uint8Array; now: number }[] = [];
  #decoded = new WeakMap<
    Uint8Array,
    { header: ReturnType<typeof decodeFrame>["header"]; body: Uint8Array }
  >();
  /** Per flushed round: offered load (bytes per simulated second) and the loss it caused. */
  readonly load: { offered: number; loss: number }[] = [];
  /** Bytes sent over the run per message type (the learner's Delta, SnapshotChunk, SnapshotRequest). */
  readonly bytesByType = new Map<number, number>();

  private constructor(
    net: MemoryNetwork,
    signers: Signer[],
    maxDatagram: number,
    sign: boolean,
    capacity: number,
  ) {
    this.#net = net;
    this.#signers = signers;
    this.keys = signers.map((s) => s.publicKey);
    this.#known = new Set(this.keys.map(hex));
    this.bytes = signers.map(() => 0);
    this.datagrams = signers.map(() => 0);
    this.#counters = signers.map(() => 0);
    this.#maxDatagram = maxDatagram;
    this.#sign = sign;
    this.#baseLoss = net.options.loss;
    this.#capacity = capacity;
  }

  /** `nodes` nodes with keys drawn from `seed`. */
  static async create(o: {
    nodes: number;
    seed: number;
    loss: number;
    duplicate: number;
    maxDatagram: number;
    sign: boolean;
    /** Shared-medium capacity in bytes per simulated second (0 = unlimited). */
    capacity?: number;
  }): Promise<SimNetwork> {
    const net = new MemoryNetwork(new SeededRandom(o.seed + 1), {
      loss: o.loss,
      duplicate: o.duplicate,
      delayMs: 1,
      jitterMs: 400,
    });
    const signers: Signer[] = [];
    for (let i = 0; i < o.nodes; i++) {
      const seedRng = new SeededRandom(o.seed * 1009 + i);
      signers.push(await createSigner(Uint8Array.from({ length: 32 }, () => seedRng.nextU32() & 0xff)));
    }
    return new SimNetwork(net, signers, o.maxDatagram, o.sign, o.capacity ?? 0);
  }

  /** Node `i` comes online (receives from now on). */
  join(i: number): void {
    this.#net.join(id(i));
  }

  /** Node `i` goes offline (stops receiving). */
  leave(i: number): void {
    this.#net.leave(id(i));
  }

  /** Frames node `i`'s messages at `now`; they go on the medium at the next {@linkcode flush}. */
  async send(i: number, messages: WireMessage[], modelHash: Uint8Array, now: number): Promise<void> {
    for (const m of messages) {
      // Unsigned frames carry a zero signature of the same 64 bytes, so sizes are exact either way;
      // encoding throws if the datagram would exceed maxDatagram.
      const fields = {
        type: m.type as MessageType,
        modelHash,
        bootEpoch: 1,
        counter: ++this.#counters[i],
        body: m.body,
      };
      const frame = this.#sign
        ? await encodeFrame(fields, this.#signers[i], this.#maxDatagram)
        : encodeUnsigned(fields, this.keys[i], this.#maxDatagram);
      this.largest = Math.max(this.largest, frame.length);
      this.bytes[i] += frame.length;
      this.datagrams[i]++;
      this.bytesByType.set(m.type, (this.bytesByType.get(m.type) ?? 0) + frame.length);
      this.#pending.push({ from: i, frame, now });
    }
  }

  /**
   * Puts the round's frames on the medium: their load over `roundMs`, with `otherBytes` sent meanwhile
   * that are not simulated as messages (the boards' Hellos), sets this round's loss (see the module
   * documentation), then each is broadcast.
   */
  flush(roundMs: number, otherBytes = 0): void {
    const bytes = otherBytes + this.#pending.reduce((s, p) => s + p.frame.length, 0);
    const offered = bytes / (roundMs / 1000);
    const through = this.#capacity > 0 && offered > this.#capacity ? this.#capacity / offered : 1;
    const loss = 1 - (1 - this.#baseLoss) * through;
    this.#net.options.loss = loss;
    this.load.push({ offered, loss });
    for (const p of this.#pending) this.#net.post(id(p.from), p.frame, p.now);
    this.#pending = [];
  }

  /** Everything due by `until`, decoded (signatures are the gossip layer's job, tested there). */
  *deliver(until: number): Generator<Delivery> {
    for (const d of this.#net.deliver(until)) {
      // Every receiver of a broadcast gets the same bytes: decode them once.
      let decoded = this.#decoded.get(d.bytes);
      if (!decoded) {
        decoded = decodeFrame(d.bytes, { maxDatagram: this.#maxDatagram });
        this.#decoded.set(d.bytes, decoded);
      }
      const { header, body } = decoded;
      if (!this.#known.has(hex(header.senderKey))) throw new Error("Bug: unknown sender in the simulation");
      yield { to: Number(d.to.slice(1)), sender: header.senderKey, type: header.type, body };
    }
  }
}

function id(i: number): string {
  return `n${i}`;
}

/** Lower-case hex of `bytes` (the learner's peer key format). */
export const hex: (bytes: Uint8Array) => string = toHex;
