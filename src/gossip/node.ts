/**
 * The gossip core: a pure state machine. Datagrams come in through {@linkcode GossipNode.onDatagram},
 * heartbeats go out from {@linkcode GossipNode.tick}, learning updates from {@linkcode GossipNode.send}.
 * Time, trust, signing and verification are injected; sockets belong to the shell (`shell.ts`); the types it takes and gives are in `node_types.ts`.
 *
 * Ingress pipeline, cheapest check first (see src/wire/PROTOCOL.md):
 * size cap → header sanity → own key → trusted sender (no crypto before this) → model hash →
 * per-sender token bucket → Ed25519 verify → replay window → bounded inflate → body decode.
 * Every rejection is counted by {@linkcode RejectReason}; nothing rejected is returned as a message.
 *
 * @module
 */
import { DecodeError } from "../errors.ts";
import {
  bodyBudget,
  datagramCap,
  decodeHeader,
  decodeHello,
  deflateBody,
  encodeFrame,
  encodeHello,
  type FrameHeader,
  type HelloBody,
  type HelloProgress,
  inflateBody,
  looksLikeFrame,
  MAX_U32,
  MessageType,
  messageTypeName,
  MODEL_HASH_SIZE,
  NO_PROGRESS,
  Offset,
  signatureOf,
  signedPart,
} from "../wire/mod.ts";
import { bytesEqual, keyId } from "./key_id.ts";
import { RateLimiter } from "./ratelimit.ts";
import { ReplayWindows } from "./replay.ts";
import type { Address } from "./transport.ts";

export * from "./node_types.ts";
import type {
  GossipCounters,
  GossipEvent,
  GossipNodeOptions,
  PeerSnapshot,
  PeerTransport,
  UntrustedSender,
} from "./node_types.ts";
import { REJECT_REASONS, RejectReason } from "./node_types.ts";

interface Peer {
  key: Uint8Array;
  id: string;
  fingerprint: string;
  name: string | null;
  address: string | null;
  lastSeen: number | null;
  datagramsIn: number;
  datagramsOut: number;
  rejects: Partial<Record<RejectReason, number>>;
  rejectTotal: number;
  progress: HelloProgress | null;
  otherModel: string | null;
  lastLan: number | null;
  lastBroker: number | null;
}

const MAX_UNTRUSTED_LISTED = 32;

/** The gossip state machine of one node. */
export class GossipNode {
  readonly publicKey: Uint8Array;
  readonly id: string;
  #bootEpoch: number;
  readonly replay: ReplayWindows;
  #o: GossipNodeOptions;
  #limiter: RateLimiter;
  #counter = 0;
  #lastHello = -Infinity;
  #progress: HelloProgress = NO_PROGRESS;
  #peers = new Map<string, Peer>();
  #untrusted = new Map<string, UntrustedSender>();
  #lastUntrusted = "";
  #counters: GossipCounters = {
    received: 0,
    receivedBytes: 0,
    accepted: 0,
    acceptedByType: {},
    sent: 0,
    sentBytes: 0,
    rejected: Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>,
  };

  constructor(options: GossipNodeOptions) {
    if (options.modelHash.length !== MODEL_HASH_SIZE) {
      throw new Error(`Bug: model hash must be ${MODEL_HASH_SIZE} bytes, got ${options.modelHash.length}`);
    }
    if (!Number.isInteger(options.bootEpoch) || options.bootEpoch < 0 || options.bootEpoch > MAX_U32) {
      throw new Error(`Bug: boot epoch ${options.bootEpoch} is not a u32`);
    }
    bodyBudget(options.maxDatagram); // validates the range
    this.#o = { ...options, modelHash: options.modelHash.slice() };
    this.publicKey = options.signer.publicKey;
    this.id = keyId(this.publicKey);
    this.#bootEpoch = options.bootEpoch;
    this.replay = options.replay ?? new ReplayWindows();
    this.#limiter = new RateLimiter({ rate: options.rateLimit });
  }

  /** Current boot epoch (the high half of this node's sequence numbers). */
  get bootEpoch(): number {
    return this.#bootEpoch;
  }

  /** Counters left in this epoch; the shell calls {@linkcode advanceEpoch} before it runs out. */
  get sequenceRemaining(): number {
    return MAX_U32 + 1 - this.#counter;
  }

  /** Switches to a newer, already persisted boot epoch and restarts the counter at 0. */
  advanceEpoch(epoch: number): void {
    if (!Number.isInteger(epoch) || epoch <= this.#bootEpoch || epoch > MAX_U32) {
      throw new Error(`Bug: new boot epoch ${epoch} must be a u32 above ${this.#bootEpoch}`);
    }
    this.#bootEpoch = epoch;
    this.#counter = 0;
  }

  /** Largest compressed body {@linkcode send} accepts. */
  get bodyBudget(): number {
    return bodyBudget(this.#o.maxDatagram);
  }

  /** Milliseconds between heartbeats now (gossip.intervalMs, stretched by the airtime budget). */
  get helloIntervalMs(): number {
    return this.#o.intervalMs;
  }

  /** Changes the heartbeat interval and the peer timeout (the airtime budget stretches both). */
  setIntervals(helloMs: number, peerTimeoutMs: number): void {
    if (!(helloMs > 0) || !(peerTimeoutMs > 0)) throw new Error(`Bug: intervals must be positive`);
    this.#o.intervalMs = helloMs;
    this.#o.peerTimeoutMs = peerTimeoutMs;
  }

  /** Sets the progress counters reported in the next heartbeats. */
  setProgress(progress: HelloProgress): void {
    this.#progress = { ...progress };
  }

  /** Runs one received datagram through the ingress pipeline. Never throws for hostile bytes. */
  async onDatagram(bytes: Uint8Array, from: Address, now: number): Promise<GossipEvent> {
    const c = this.#counters;
    c.received++;
    c.receivedBytes += bytes.length;
    const limits = { maxDatagram: this.#o.maxDatagram, maxInflated: this.#o.maxInflated };
    // 1. size, before looking at any byte
    if (bytes.length > datagramCap(limits)) {
      return this.#reject(RejectReason.Oversize, from, undefined, `${bytes.length} bytes`);
    }
    // 2. header sanity (junk without our magic is dropped without building an exception)
    if (!looksLikeFrame(bytes)) {
      return this.#reject(RejectReason.Malformed, from, undefined, "not an agent frame");
    }
    let header: FrameHeader;
    try {
      header = decodeHeader(bytes, limits);
    } catch (e) {
      if (e instanceof DecodeError) return this.#reject(RejectReason.Malformed, from, undefined, e.message);
      throw e;
    }
    // 3. own broadcast
    if (bytesEqual(header.senderKey, this.publicKey)) {
      return this.#reject(RejectReason.Own, from, undefined, "own");
    }
    // 4. trust, per datagram: a revoked key is refused from the next datagram on
    if (!this.#o.trust.isTrusted(header.senderKey)) {
      this.#noteUntrusted(header.senderKey, from, now);
      return this.#reject(RejectReason.Untrusted, from, undefined, "sender key is not trusted");
    }
    const id = keyId(header.senderKey);
    const peer = this.#peer(header.senderKey, id);
    // 5. model
    if (!bytesEqual(header.modelHash, this.#o.modelHash)) {
      peer.otherModel = keyId(header.modelHash);
      return this.#reject(RejectReason.ModelMismatch, from, peer, `model hash ${peer.otherModel}`);
    }
    // 6. rate
    if (!this.#limiter.take(id, now)) {
      return this.#reject(RejectReason.RateLimited, from, peer, "over rate limit");
    }
    // 7. signature over every byte before it
    const ok = await this.#o.verifier.verify(header.senderKey, signedPart(bytes), signatureOf(bytes));
    if (!ok) return this.#reject(RejectReason.BadSignature, from, peer, "signature does not verify");
    // 8. replay (only a verified datagram may move the window)
    const verdict = this.replay.checkAndRecord(id, header.senderKey, header.bootEpoch, header.counter);
    if (verdict !== "fresh") {
      return this.#reject(
        RejectReason.Replay,
        from,
        peer,
        `${verdict} sequence ${header.bootEpoch}:${header.counter}`,
      );
    }
    // 9. bounded inflate and body decode
    let body: Uint8Array;
    let hello: HelloBody | undefined;
    try {
      body = inflateBody(bytes.subarray(Offset.body, Offset.body + header.bodyLength), this.#o.maxInflated);
      if (header.type === MessageType.Hello) hello = decodeHello(body);
    } catch (e) {
      if (e instanceof DecodeError) {
        // Inflating cost CPU (a DEFLATE bomb costs milliseconds): one second of this sender's budget.
        this.#limiter.penalize(id, this.#limiter.rate);
        return this.#reject(RejectReason.BadBody, from, peer, e.message);
      }
      throw e;
    }
    // accepted
    c.accepted++;
    const typeName = messageTypeName(header.type);
    c.acceptedByType[typeName] = (c.acceptedByType[typeName] ?? 0) + 1;
    peer.datagramsIn++;
    peer.lastSeen = now;
    peer.otherModel = null;
    peer.address = `${from.hostname}:${from.port}`;
    if (from.via === "broker") peer.lastBroker = now;
    else peer.lastLan = now;
    if (hello) {
      peer.name = hello.name;
      const { name: _name, ...progress } = hello;
      peer.progress = progress;
    }
    const senderKey = header.senderKey.slice();
    return {
      kind: "accepted",
      message: {
        type: header.type,
        senderKey,
        senderId: id,
        header: { ...header, senderKey, modelHash: header.modelHash.slice() },
        body,
        from,
        ...(hello ? { hello } : {}),
      },
    };
  }

  /** Heartbeats due at `now` (zero or one Hello datagram). */
  async tick(now: number): Promise<Uint8Array[]> {
    if (now - this.#lastHello < this.#o.intervalMs) return [];
    this.#lastHello = now;
    const body = deflateBody(encodeHello({ name: this.#o.name, ...this.#progress }));
    return [await this.send(MessageType.Hello, body)];
  }

  /**
   * Frames and signs an already deflated body as the next datagram of this node. Throws a plain `Error`
   * if the body exceeds {@linkcode bodyBudget} (the caller must fit it) or the sequence is exhausted.
   */
  async send(type: MessageType, deflatedBody: Uint8Array): Promise<Uint8Array> {
    if (this.#counter > MAX_U32) {
      throw new Error(`Sequence counter exhausted in boot epoch ${this.#bootEpoch}; restart the agent`);
    }
    const counter = this.#counter++;
    const frame = await encodeFrame(
      { type, modelHash: this.#o.modelHash, bootEpoch: this.#bootEpoch, counter, body: deflatedBody },
      this.#o.signer,
      this.#o.maxDatagram,
    );
    this.#counters.sent++;
    this.#counters.sentBytes += frame.length;
    for (const p of this.#peers.values()) p.datagramsOut++;
    return frame;
  }

  /** The peer table as plain data. */
  peers(now: number): PeerSnapshot[] {
    return [...this.#peers.values()].map((p) => {
      const accepted = p.datagramsIn;
      const total = accepted + p.rejectTotal;
      const h = this.replay.highest(p.id);
      return {
        key: p.id,
        fingerprint: p.fingerprint,
        name: p.name,
        address: p.address,
        lastSeen: p.lastSeen,
        ageMs: p.lastSeen === null ? null : now - p.lastSeen,
        alive: p.lastSeen !== null && now - p.lastSeen <= this.#o.peerTimeoutMs,
        trusted: this.#o.trust.isTrusted(p.key),
        datagramsIn: p.datagramsIn,
        datagramsOut: p.datagramsOut,
        rejects: { ...p.rejects },
        score: total === 0 ? 1 : accepted / total,
        progress: p.progress && { ...p.progress },
        sequence: h ? [h.epoch, h.counter] : null,
        otherModel: p.otherModel,
        transport: this.#transportOf(p, now),
      };
    });
  }

  #transportOf(p: Peer, now: number): PeerTransport | null {
    const recent = (t: number | null) => t !== null && now - t <= this.#o.peerTimeoutMs;
    const lan = recent(p.lastLan);
    const broker = recent(p.lastBroker);
    if (lan && broker) return "both";
    if (lan) return "lan";
    if (broker) return "broker";
    if (p.lastLan === null && p.lastBroker === null) return null;
    return (p.lastBroker ?? -Infinity) > (p.lastLan ?? -Infinity) ? "broker" : "lan";
  }

  /** A copy of the global counters. */
  counters(): GossipCounters {
    const c = this.#counters;
    return { ...c, acceptedByType: { ...c.acceptedByType }, rejected: { ...c.rejected } };
  }

  /** Recently seen untrusted keys (at most 32, most recent last). */
  untrustedSenders(): UntrustedSender[] {
    return [...this.#untrusted.values()].map((u) => ({ ...u }));
  }

  #peer(key: Uint8Array, id: string): Peer {
    let p = this.#peers.get(id);
    if (!p) {
      const k = key.slice();
      p = {
        key: k,
        id,
        fingerprint: this.#o.fingerprint ? this.#o.fingerprint(k) : id.slice(0, 16),
        name: null,
        address: null,
        lastSeen: null,
        datagramsIn: 0,
        datagramsOut: 0,
        rejects: {},
        rejectTotal: 0,
        progress: null,
        otherModel: null,
        lastLan: null,
        lastBroker: null,
      };
      this.#peers.set(id, p);
    }
    return p;
  }

  #noteUntrusted(key: Uint8Array, from: Address, now: number): void {
    // Hot path of a flood: a cheap latin1 map key; the hex id is made once per new key.
    const k = String.fromCharCode.apply(null, key as unknown as number[]);
    const u = this.#untrusted.get(k);
    if (u) {
      if (this.#lastUntrusted !== k) {
        this.#untrusted.delete(k); // keep most recent last
        this.#untrusted.set(k, u);
        this.#lastUntrusted = k;
      }
      u.count++;
      u.lastSeen = now;
      u.address = `${from.hostname}:${from.port}`;
      return;
    }
    if (this.#untrusted.size >= MAX_UNTRUSTED_LISTED) {
      this.#untrusted.delete(this.#untrusted.keys().next().value!);
    }
    this.#untrusted.set(k, {
      key: keyId(key),
      address: `${from.hostname}:${from.port}`,
      count: 1,
      lastSeen: now,
    });
    this.#lastUntrusted = k;
  }

  #reject(reason: RejectReason, from: Address, peer: Peer | undefined, detail: string): GossipEvent {
    this.#counters.rejected[reason]++;
    if (peer) {
      peer.rejects[reason] = (peer.rejects[reason] ?? 0) + 1;
      peer.rejectTotal++;
    }
    return { kind: "rejected", reason, from, ...(peer ? { senderId: peer.id } : {}), detail };
  }
}
