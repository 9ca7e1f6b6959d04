/**
 * UDP broadcast {@linkcode Transport} on `Deno.listenDatagram` (needs `--unstable-net`). Binds
 * `gossip.bind` (0.0.0.0 to receive broadcasts) on `gossip.port` and sends to `gossip.broadcast`:
 * 127.255.255.255 reaches every agent on one machine, a subnet broadcast (e.g. 192.168.1.255) every
 * agent on the LAN. Deno sets SO_BROADCAST on UDP sockets.
 *
 * Datagrams are read into a buffer one byte larger than the 4096-byte hard cap, so anything larger
 * arrives as 4097 bytes and is rejected as oversize instead of being silently truncated.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { MAX_DATAGRAM } from "../wire/mod.ts";
import type { Address, Received, Transport } from "./transport.ts";

/** Where to listen and broadcast. */
export interface UdpTransportOptions {
  /** Address to bind (gossip.bind). */
  bind: string;
  /** Port to bind and to broadcast to (gossip.port); 0 binds an ephemeral port (tests). */
  port: number;
  /** Broadcast address (gossip.broadcast). */
  broadcast: string;
  /** Port to broadcast to when it differs from the bound one (tests); default `port`. */
  broadcastPort?: number;
  /**
   * Let several agents on one machine bind the same port (SO_REUSEADDR; gossip.sharePort). Every one
   * of them then receives each broadcast. Off by default, so a second agent is refused instead.
   */
  sharePort?: boolean;
}

/** Opens the socket; a port in use or a bad address is a {@linkcode UsageError} saying what to do. */
export function openUdpTransport(options: UdpTransportOptions): UdpTransport {
  let conn: Deno.DatagramConn;
  try {
    conn = Deno.listenDatagram({
      transport: "udp",
      hostname: options.bind,
      port: options.port,
      reuseAddress: options.sharePort ?? false,
    });
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      throw new UsageError(
        `UDP port ${options.port} on ${options.bind} is already in use (is another agent running?)`,
        "Stop the other program, or set gossip.port (or AGENT_GOSSIP_PORT) to a free port on every peer",
      );
    }
    if (e instanceof Deno.errors.AddrNotAvailable) {
      throw new UsageError(
        `Cannot bind UDP ${options.bind}:${options.port}: the address is not on this machine`,
        "Set gossip.bind to 0.0.0.0 (needed to receive broadcasts) or to one of this machine's addresses",
      );
    }
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
      throw new UsageError(
        `Not allowed to bind UDP ${options.bind}:${options.port}: ${(e as Error).message}`,
        "Ports below 1024 need root; use the default gossip.port 41234",
      );
    }
    throw e;
  }
  return new UdpTransport(conn, options);
}

/** A bound UDP socket that broadcasts. */
export class UdpTransport implements Transport {
  readonly localAddress: Address;
  #conn: Deno.DatagramConn;
  #target: Deno.NetAddr;
  #closed = false;
  /** Send failures (e.g. network unreachable while a link is down), for metrics. */
  sendErrors = 0;

  constructor(conn: Deno.DatagramConn, options: UdpTransportOptions) {
    this.#conn = conn;
    const addr = conn.addr as Deno.NetAddr;
    this.localAddress = { hostname: addr.hostname, port: addr.port };
    this.#target = {
      transport: "udp",
      hostname: options.broadcast,
      port: options.broadcastPort ?? (options.port === 0 ? addr.port : options.port),
    };
  }

  broadcast(bytes: Uint8Array): Promise<boolean> {
    return this.#send(bytes, this.#target);
  }

  send(bytes: Uint8Array, to: Address): Promise<boolean> {
    return this.#send(bytes, { transport: "udp", hostname: to.hostname, port: to.port });
  }

  async #send(bytes: Uint8Array, to: Deno.NetAddr): Promise<boolean> {
    if (this.#closed) return false;
    if (bytes.length > MAX_DATAGRAM) {
      throw new Error(`Bug: refusing to send ${bytes.length} bytes (> ${MAX_DATAGRAM})`);
    }
    try {
      await this.#conn.send(bytes, to);
      return true;
    } catch {
      // A down link or a full buffer: gossip is lossy by design; the caller counts it.
      this.sendErrors++;
      return false;
    }
  }

  async *receive(): AsyncIterable<Received> {
    const buffer = new Uint8Array(MAX_DATAGRAM + 1);
    let failures = 0;
    while (!this.#closed) {
      let got: [Uint8Array, Deno.Addr];
      try {
        got = await this.#conn.receive(buffer);
      } catch (e) {
        if (this.#closed) return;
        // Transient errors (e.g. ICMP-induced) must not kill the loop.
        if (e instanceof Deno.errors.Interrupted || e instanceof Deno.errors.BadResource) return;
        if (++failures > 100) throw e;
        continue;
      }
      failures = 0;
      const [bytes, from] = got;
      const addr = from as Deno.NetAddr;
      yield { bytes: bytes.slice(), from: { hostname: addr.hostname, port: addr.port, via: "lan" } };
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}
