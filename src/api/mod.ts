/**
 * The agent's local HTTP API: predict, samples, status, history, metrics and the dashboard page
 * ({@linkcode createApi} is a pure `Request → Response` handler; {@linkcode serveApi} puts it on a
 * socket), the status report's shape, the Prometheus metrics and the bounded history ring.
 *
 * @module
 */
export * from "./api.ts";
export * from "./history.ts";
export * from "./metrics.ts";
export * from "./serve.ts";
export * from "./status.ts";
export type { Pairing } from "./dashboard/page.ts";
export type { HistoryReport } from "./dashboard/routes.ts";
