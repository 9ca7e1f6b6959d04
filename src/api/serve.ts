/**
 * Puts the API handler on a real socket with `Deno.serve`. Loopback by default; a non-loopback
 * address needs `api.allowRemote: true` and is logged as a warning. A port in use is a clear
 * {@linkcode UsageError}, not a stack trace.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Handler } from "./api.ts";

/** `host:port` split; IPv6 hosts are written `[::1]:7070`. */
export interface ListenAddress {
  hostname: string;
  port: number;
}

/** Parses `api.listen`; throws {@linkcode UsageError} naming the value. */
export function parseListen(listen: string): ListenAddress {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(listen) ?? /^([^\s:\[\]]+):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new UsageError(
      `api.listen: ${JSON.stringify(listen)} is not HOST:PORT`,
      "Write it like 127.0.0.1:7070 (port 0 picks a free one)",
    );
  }
  return { hostname: m[1], port };
}

/**
 * The URL a person on this machine opens for an API listening on `listen` (the dashboard is at `/`):
 * a wildcard address (0.0.0.0, ::) becomes the loopback one.
 */
export function localUrl(listen: string): string {
  const { hostname, port } = parseListen(listen);
  const host = hostname === "0.0.0.0" ? "127.0.0.1" : hostname === "::" ? "::1" : hostname;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}/`;
}

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Checks the listen address against `allowRemote`; returns it parsed. */
export function checkListen(listen: string, allowRemote: boolean): ListenAddress {
  const addr = parseListen(listen);
  if (!isLoopback(addr.hostname) && !allowRemote) {
    throw new UsageError(
      `api.listen ${
        JSON.stringify(listen)
      } is not a loopback address, so anyone on the network could use the API`,
      "Use 127.0.0.1:PORT, or set api.allowRemote: true if you really want remote access",
    );
  }
  return addr;
}

/**
 * For a loopback listener: refuses requests whose `Host` is not a loopback name or address, so a web
 * page from elsewhere cannot reach the API through a DNS name rebound to 127.0.0.1 (the browser would
 * send that name). Listeners with `api.allowRemote` accept any host.
 */
export function guardLoopbackHost(handler: Handler): Handler {
  return (req) => {
    const host = req.headers.get("host");
    let name: string | undefined;
    try {
      name = host === null ? undefined : new URL(`http://${host}/`).hostname.replace(/^\[|\]$/g, "");
    } catch {
      name = undefined;
    }
    if (name !== undefined && isLoopback(name)) return handler(req);
    return Promise.resolve(
      new Response(
        JSON.stringify({
          error: `Host ${JSON.stringify(host)} is not a loopback name; this API answers on loopback only`,
          hint: "Use http://127.0.0.1:PORT/ or http://localhost:PORT/ (an SSH tunnel for another machine)",
        }) + "\n",
        {
          status: 421,
          headers: { "content-type": "application/json; charset=utf-8", "x-content-type-options": "nosniff" },
        },
      ),
    );
  };
}

/** A running API server. */
export interface ApiServer {
  /** The bound address as `host:port` (the real port when 0 was asked). */
  readonly address: string;
  readonly port: number;
  /** Stops accepting and waits for in-flight requests. */
  shutdown(): Promise<void>;
}

/** Serves `handler` on `listen`. */
export function serveApi(
  handler: Handler,
  options: { listen: string; allowRemote: boolean; logger: Logger },
): ApiServer {
  const { hostname, port } = checkListen(options.listen, options.allowRemote);
  if (!isLoopback(hostname)) {
    options.logger.warn("API is reachable from the network (api.allowRemote is true)", {
      listen: options.listen,
    });
  }
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname,
      port,
      onListen: () => {},
      onError: (e) => {
        options.logger.error("API handler failed", { error: e });
        return new Response(JSON.stringify({ error: "Internal error; see the agent's log" }) + "\n", {
          status: 500,
          headers: { "content-type": "application/json" },
        });
      },
    }, isLoopback(hostname) ? guardLoopbackHost(handler) : handler);
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      throw new UsageError(
        `API address ${options.listen} is already in use`,
        "Another agent (or program) listens there: stop it, or set api.listen to a free port",
      );
    }
    if (e instanceof Deno.errors.AddrNotAvailable) {
      throw new UsageError(
        `API address ${options.listen} is not an address of this machine`,
        "Set api.listen to 127.0.0.1:PORT or an address this host has",
      );
    }
    throw e;
  }
  const addr = server.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    address: `${host}:${addr.port}`,
    port: addr.port,
    shutdown: () => server.shutdown(),
  };
}
