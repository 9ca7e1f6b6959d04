/**
 * What the gossip core sends through and receives from. Real UDP broadcast (`udp.ts`), an MQTT broker
 * (`mqtt.ts`), both at once with forwarding between them (`bridge.ts`) and the in-memory network for tests
 * (`memory.ts`) implement it.
 *
 * @module
 */

/** Which kind of transport carried a datagram: the LAN (UDP broadcast, memory) or an MQTT broker. */
export type Via = "lan" | "broker";

/** Where a datagram came from (IP and port for UDP; the broker for MQTT; a node name in memory). */
export interface Address {
  hostname: string;
  port: number;
  /** Absent = "lan". */
  via?: Via;
}

/** A datagram as received. */
export interface Received {
  bytes: Uint8Array;
  from: Address;
}

/** A broadcast-capable datagram transport. */
export interface Transport {
  /** Address this transport sends from (used to ignore our own broadcasts). */
  readonly localAddress: Address;
  /** Sends `bytes` to every listener on the segment. Never throws for a full buffer; returns false if dropped locally. */
  broadcast(bytes: Uint8Array): Promise<boolean>;
  /** Sends to one address. */
  send(bytes: Uint8Array, to: Address): Promise<boolean>;
  /** Receives datagrams until `close()`; the iterator ends then. */
  receive(): AsyncIterable<Received>;
  /**
   * Called by the gossip shell with every datagram the node accepted (trusted, signed, fresh in the replay
   * window, so each frame exactly once). A bridging transport forwards it to its other side; others omit it.
   */
  relay?(bytes: Uint8Array, from: Address): Promise<void>;
  close(): void;
}
