/**
 * The simulated network: the in-memory broadcast medium ({@linkcode MemoryNetwork}: loss, duplication,
 * reordering) carrying real wire frames. Every message becomes a signed (or same-size unsigned) frame of
 * at most `maxDatagram` bytes, is decoded again on delivery, and is counted per sender.
 *
 * @module
 */
import { MemoryNetwork } from "../gossip/memory.ts";
import { createSigner, type Signer } from "../identity/ed25519.ts";
import { decodeFrame, encodeFrame, encodeUnsigned, type MessageType } from "../wire/mod.ts";
import { SeededRandom } from "../time.ts";
import type { WireMessage } from "./attacks.ts";

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

  private constructor(net: MemoryNetwork, signers: Signer[], maxDatagram: number, sign: boolean) {
    this.#net = net;
    this.#signers = signers;
    this.keys = signers.map((s) => s.publicKey);
    this.#known = new Set(this.keys.map(hex));
    this.bytes = signers.map(() => 0);
    this.datagrams = signers.map(() => 0);
    this.#counters = signers.map(() => 0);
    this.#maxDatagram = maxDatagram;
    this.#sign = sign;
  }

  /** `nodes` nodes with keys drawn from `seed`. */
  static async create(o: {
    nodes: number;
    seed: number;
    loss: number;
    duplicate: number;
    maxDatagram: number;
    sign: boolean;
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
    return new SimNetwork(net, signers, o.maxDatagram, o.sign);
  }

  /** Node `i` comes online (receives from now on). */
  join(i: number): void {
    this.#net.join(id(i));
  }

  /** Node `i` goes offline (stops receiving). */
  leave(i: number): void {
    this.#net.leave(id(i));
  }

  /** Frames and broadcasts node `i`'s messages at `now`. */
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
      this.#net.post(id(i), frame, now);
    }
  }

  /** Everything due by `until`, decoded (signatures are the gossip layer's job, tested there). */
  *deliver(until: number): Generator<Delivery> {
    for (const d of this.#net.deliver(until)) {
      const { header, body } = decodeFrame(d.bytes, { maxDatagram: this.#maxDatagram });
      if (!this.#known.has(hex(header.senderKey))) throw new Error("Bug: unknown sender in the simulation");
      yield { to: Number(d.to.slice(1)), sender: header.senderKey.slice(), type: header.type, body };
    }
  }
}

function id(i: number): string {
  return `n${i}`;
}

/** Lower-case hex of `bytes` (the learner's peer key format). */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
