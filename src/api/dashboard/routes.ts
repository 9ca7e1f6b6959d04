/**
 * The dashboard's routes on the local API: the page, its four assets (served from memory, see
 * `assets.ts`) and the history JSON. Read-only: GET and HEAD only. Every answer of the API carries
 * {@linkcode SECURITY_HEADERS}: a Content-Security-Policy that lets the page load scripts, styles and
 * data from the agent itself only (no inline script, nothing remote), `nosniff`, no referrer, no framing.
 *
 * | path                   | answer                                                       |
 * |------------------------|--------------------------------------------------------------|
 * | /                      | the page (HTML, server-rendered; works without JavaScript)  |
 * | /v1/history?since=MS   | {@linkcode HistoryReport}: samples newer than MS + a live one |
 * | /assets/dashboard.js   | the page's script                                            |
 * | /assets/dashboard.css  | the page's styles                                            |
 * | /assets/uplot.js       | uPlot (charts), MIT                                          |
 * | /assets/uplot.css      | uPlot's styles                                               |
 *
 * @module
 */
import type { HistoryPoint, HistorySeries } from "../history.ts";
import type { StatusReport } from "../status.ts";
import { DASHBOARD_CSS, DASHBOARD_JS, UPLOT_CSS, UPLOT_JS } from "./assets.ts";
import { type Pairing, renderPage } from "./page.ts";

/** What `/v1/history` answers: the ring's samples newer than `since`, and the current values. */
export interface HistoryReport extends HistorySeries {
  /** The values right now (not stored in the ring), so a chart reaches the present. */
  live: HistoryPoint;
}

/** What the dashboard needs from the daemon. */
export interface DashboardDeps {
  status(): StatusReport | Promise<StatusReport>;
  /** Samples newer than `sinceMs` (wall-clock ms) and the live values. */
  history(sinceMs: number): HistoryReport;
  /** This board's pairing payload and QR code (public key and name only). */
  pairing(): Promise<Pairing>;
}

/** Headers on every answer of the local API. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-resource-policy": "same-origin",
};

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/** Static assets: path → [content type, body]. */
const ASSETS: Record<string, [string, string]> = {
  "/assets/dashboard.js": [JS, DASHBOARD_JS],
  "/assets/dashboard.css": [CSS, DASHBOARD_CSS],
  "/assets/uplot.js": [JS, UPLOT_JS],
  "/assets/uplot.css": [CSS, UPLOT_CSS],
};

/** The dashboard's paths (all GET). */
export const DASHBOARD_ROUTES = ["/", "/v1/history", ...Object.keys(ASSETS)] as const;

/** A refusal the API turns into a 4xx JSON answer. */
export class DashboardRequestError extends Error {
  constructor(readonly status: number, message: string, readonly hint?: string) {
    super(message);
  }
}

/** Answers a GET/HEAD for one of {@linkcode DASHBOARD_ROUTES}. */
export async function dashboardResponse(url: URL, deps: DashboardDeps): Promise<Response> {
  const asset = ASSETS[url.pathname];
  if (asset) return text(asset[1], asset[0], "no-cache");
  if (url.pathname === "/v1/history") {
    const since = parseSince(url.searchParams.get("since"));
    return new Response(JSON.stringify(deps.history(since)) + "\n", {
      headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
    });
  }
  if (url.pathname === "/") {
    const [report, pairing] = await Promise.all([deps.status(), deps.pairing()]);
    const history = deps.history(Infinity);
    const html = renderPage(report, pairing, { historyIntervalMs: history.intervalMs });
    return text(html, "text/html; charset=utf-8", "no-store");
  }
  throw new Error(`Bug: ${url.pathname} is not a dashboard route`);
}

function text(body: string, type: string, cache: string): Response {
  return new Response(body, { headers: { "content-type": type, "cache-control": cache } });
}

/** `since` as wall-clock ms: absent → everything; else a finite number. */
function parseSince(raw: string | null): number {
  if (raw === null || raw === "") return -Infinity;
  const n = Number(raw);
  if (!Number.isFinite(n)) {
    throw new DashboardRequestError(
      400,
      `Query parameter since=${JSON.stringify(raw)} is not a number`,
      "Give the wall-clock time in ms of the newest sample you have, or leave it out for all",
    );
  }
  return n;
}
