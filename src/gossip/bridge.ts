/**
 * `gossip.transport: both`: one board joins its LAN (UDP broadcast) to an MQTT broker. Its own frames go to
 * both; frames from either side come in through the same receive pipeline; and every frame the node
 * **accepted** from one side is forwarded, unchanged, to the other (`relay`, called by the gossip shell).
 *
 * Why forwarding happens after the checks: a frame is accepted at most once — the replay window remembers
 * each (sender key, boot epoch, counter) — so each frame is forwarded at most once, and a copy that comes
 * back (the broker echoing it under MQTT 3.1.1, a second bridge on the same site) is a counted replay, never
 * forwarded again: no loops. A frame we forwarded to the LAN also reaches our own socket (a broadcast reaches
 * its sender); that echo is recognised by its signature among the last 512 forwarded and dropped before any
 * check, so it costs no verification and does not show up as replays of the remote peer. Junk, untrusted keys, bad signatures, replays and over-rate senders are
 * dropped here and never reach the other side, so a bridge does not amplify an attack from one site to all.
 * The cost: a bridge carries only frames of peers it trusts itself (pair it with every board of the swarm).
 *
 * @module
 */
import type { Address, Received, Transport } from "./transport.ts";

const BRIDGE_QUEUE = 256;

/** Frames forwarded by a bridge, per direction. */
export interface BridgeCounters {
  toBroker: number;
  toLan: number;
  /** Forwarding attempts the target transport dropped (e.g. broker down). */
  failed: number;
  /** Our own forwarded frames heard back on the LAN (a broadcast reaches its sender too): dropped unchecked. */
  echoes: number;
}

/** Frames forwarded to the LAN remembered to recognise their echo. */
const ECHO_MEMORY = 512;

/** The signature (last 64 bytes) of a frame as a map key. */
function echoKey(bytes: Uint8Array): string {
  return String.fromCharCode.apply(
    null,
    bytes.subarray(Math.max(0, bytes.length - 64)) as unknown as number[],
  );
}

/** A LAN transport and a broker transport as one. */
export class BridgeTransport implements Transport {
  readonly localAddress: Address;
  readonly lan: Transport;
  readonly broker: Transport;
  readonly counters: BridgeCounters = { toBroker: 0, toLan: 0, failed: 0, echoes: 0 };
  #closed = false;
  #room: (() => void)[] = [];
  #echo = new Set<string>();

  constructor(lan: Transport, broker: Transport) {
    this.lan = lan;
    this.broker = broker;
    this.localAddress = lan.localAddress;
  }

  /** Our own frame: to the LAN and to the broker; true if either took it. */
  async broadcast(bytes: Uint8Array): Promise<boolean> {
    const [a, b] = await Promise.all([this.lan.broadcast(bytes), this.broker.broadcast(bytes)]);
    return a || b;
  }

  send(bytes: Uint8Array, to: Address): Promise<boolean> {
    return to.via === "broker" ? this.broker.send(bytes, to) : this.lan.send(bytes, to);
  }

  /** Forwards an accepted frame to the side it did not come from. */
  async relay(bytes: Uint8Array, from: Address): Promise<void> {
    if (this.#closed) return;
    const toBroker = from.via !== "broker";
    if (!toBroker) {
      if (this.#echo.size >= ECHO_MEMORY) this.#echo.delete(this.#echo.values().next().value!);
      this.#echo.add(echoKey(bytes));
    }
    const ok = await (toBroker ? this.broker : this.lan).broadcast(bytes);
    if (!ok) this.counters.failed++;
    else if (toBroker) this.counters.toBroker++;
    else this.counters.toLan++;
  }

  /** Both sides' datagrams, in arrival order; ends when both have ended. */
  async *receive(): AsyncIterable<Received> {
    const queue: Received[] = [];
    let wake: (() => void) | undefined;
    // Backpressure: a side waits while this many are queued, so each keeps its own bound (socket buffer,
    // MQTT queue) instead of this queue growing without one.
    const room = this.#room;
    let open = 2;
    let failure: unknown;
    const pump = async (t: Transport) => {
      try {
        for await (const r of t.receive()) {
          if (t === this.lan && this.#echo.size > 0) {
            const key = echoKey(r.bytes);
            if (this.#echo.delete(key)) {
              this.counters.echoes++;
              continue;
            }
          }
          queue.push(r);
          wake?.();
          if (queue.length >= BRIDGE_QUEUE) await new Promise<void>((r) => room.push(r));
        }
      } catch (e) {
        failure ??= e;
      } finally {
        open--;
        wake?.();
      }
    };
    const pumps = Promise.all([pump(this.lan), pump(this.broker)]);
    while (true) {
      if (queue.length > 0) {
        const next = queue.shift()!;
        if (queue.length < BRIDGE_QUEUE) { for (const r of room.splice(0)) r(); }
        yield next;
        continue;
      }
      if (failure !== undefined) throw failure;
      if (open === 0) break;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
    await pumps;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.lan.close();
    this.broker.close();
    for (const r of this.#room.splice(0)) r();
  }
}
