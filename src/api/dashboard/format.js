// How the dashboard writes figures. Plain JavaScript with JSDoc types, so one file serves both the
// server-rendered page (imported by page.ts) and the browser script (embedded by
// scripts/gen_dashboard_assets.ts, with `export` removed). No imports, no globals beyond `Intl`-free
// number formatting: the same input gives the same text on both sides.

/** An em dash for values not known yet. */
export const NONE = "\u2014";

/**
 * A share in [0, 1] as a percentage with one decimal ("91.2%").
 * @param {number | null | undefined} v
 * @returns {string}
 */
export function fmtPercent(v) {
  return typeof v === "number" && Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : NONE;
}

/**
 * A count with thousands separators ("12,345").
 * @param {number | null | undefined} n
 * @returns {string}
 */
export function fmtCount(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) return NONE;
  const s = String(Math.round(Math.abs(n)));
  return (n < 0 ? "-" : "") + s.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * A loss or score with three decimals.
 * @param {number | null | undefined} v
 * @returns {string}
 */
export function fmtFixed3(v) {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(3) : NONE;
}

/**
 * Bytes as B, kB or MB (1024-based, as `agent status` prints them).
 * @param {number | null | undefined} n
 * @returns {string}
 */
export function fmtBytes(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) return NONE;
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1024 / 1024).toFixed(2)} MB`;
}

/**
 * A duration in ms as "4.2 s", "3 min 5 s", "2 h 10 min" or "1 d 3 h".
 * @param {number} ms
 * @returns {string}
 */
export function fmtDuration(ms) {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/**
 * How long ago an ISO time was, relative to `nowIso` (the report's own time, so the server and the
 * browser agree whatever their clocks say).
 * @param {string | null} iso
 * @param {string} nowIso
 * @returns {string}
 */
export function fmtAgo(iso, nowIso) {
  if (iso === null) return "never";
  const t = Date.parse(iso);
  const now = Date.parse(nowIso);
  if (Number.isNaN(t) || Number.isNaN(now)) return iso;
  return `${fmtDuration(now - t)} ago`;
}

/**
 * @typedef {object} PeerLike
 * @property {boolean} merged
 * @property {number | null} coverage
 * @property {Record<string, number>} rejects
 * @property {string | null} address
 * @property {(string | null)=} transport
 * @property {(string | null)=} unusable
 * @property {boolean} alive
 */

/**
 * Whether a peer's model is in ours: "merged", "out (84% known)" or a dash (no values yet).
 * @param {PeerLike} p
 * @returns {string}
 */
export function fmtPeerModel(p) {
  if (p.merged) return "merged";
  if (p.coverage === null || p.coverage === undefined) return NONE;
  return `out (${Math.floor(p.coverage * 100)}% known)`;
}

/**
 * Non-zero reject counts as "replay 2, untrusted 7", or a dash.
 * @param {Record<string, number>} rejects
 * @returns {string}
 */
export function fmtRejects(rejects) {
  const parts = Object.entries(rejects ?? {}).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${fmtCount(n)}`);
  return parts.length ? parts.join(", ") : NONE;
}

/**
 * How the peer's datagrams reach us: the status's transport when it names one, else UDP from its
 * last address.
 * @param {PeerLike} p
 * @returns {string}
 */
export function fmtTransport(p) {
  const via = { lan: "UDP", broker: "MQTT broker", both: "UDP + broker" }[p.transport ?? ""] ?? p.transport;
  if (via) return p.address ? `${via} ${p.address}` : via;
  return p.address ? `UDP ${p.address}` : NONE;
}

/**
 * Why a peer is unusable, or "" when it is merged. Older status snapshots have no reason: a peer that
 * is not merged then gets a generic one.
 * @param {PeerLike} p
 * @returns {string}
 */
export function peerProblem(p) {
  if (p.unusable !== undefined) return p.unusable ?? "";
  if (p.merged) return "";
  return p.alive ? "not merged" : "not heard from recently";
}

/**
 * @typedef {object} AirtimeLike
 * @property {number} budgetBytesPerSecond
 * @property {number} swarmSize
 * @property {number} roundMs
 * @property {number} helloMs
 * @property {number} ownBytesPerSecond
 * @property {number} swarmBytesPerSecond
 */

/**
 * The estimated swarm size and the round interval: "101 boards, a round every 4.2 s", or a dash (older
 * agents report none).
 * @param {AirtimeLike | null | undefined} a
 * @returns {string}
 */
export function fmtSwarm(a) {
  if (!a) return NONE;
  return `${fmtCount(a.swarmSize)} board${a.swarmSize === 1 ? "" : "s"}, a round every ${
    fmtDuration(a.roundMs)
  }`;
}

/**
 * Airtime used vs the budget: "this board 316 B/s, swarm 29.8 kB/s of 31.3 kB/s (95%)", or a dash.
 * @param {AirtimeLike | null | undefined} a
 * @returns {string}
 */
export function fmtAirtime(a) {
  if (!a) return NONE;
  const rate = (/** @type {number} */ n) => `${fmtBytes(Math.round(n))}/s`;
  const share = Math.round((a.swarmBytesPerSecond / a.budgetBytesPerSecond) * 100);
  return `this board ${rate(a.ownBytesPerSecond)}, swarm ${rate(a.swarmBytesPerSecond)} of ` +
    `${rate(a.budgetBytesPerSecond)} (${share}%)`;
}
