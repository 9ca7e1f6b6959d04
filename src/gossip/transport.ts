/**
 * What the gossip core sends through and receives from. Real UDP broadcast (`udp.ts`) and the in-memory
 * network for tests (`memory.ts`) both implement it.
 *
 * @module
 */

/** Where a datagram came from (IP and port for UDP; a node name in memory). */
export interface Address {
  hostname: string;
  port: number;
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
  close(): void;
}
