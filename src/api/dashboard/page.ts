/**
 * The dashboard page as server-rendered HTML: every figure of the status report, the peers table and the
 * pairing QR code are in the markup, so the page reads fine without JavaScript. The browser script
 * (`/assets/dashboard.js`) then updates the same elements (found by `data-field` and ids) and draws the
 * charts. Pure: a report, a QR code and the history's resolution in, a string out. Every value from the
 * report is HTML-escaped (peer names come from the network).
 *
 * @module
 */
import type { PeerStatus, StatusReport } from "../status.ts";
import {
  fmtAgo,
  fmtAirtime,
  fmtBytes,
  fmtCount,
  fmtFixed3,
  fmtPeerModel,
  fmtPercent,
  fmtRejects,
  fmtSwarm,
  fmtTransport,
  NONE,
  peerProblem,
} from "./format.js";

/** The pairing code shown on the page (public key and name only). */
export interface Pairing {
  /** `agent id` payload text, for `agent trust <payload>`. */
  payload: string;
  /** The payload as an SVG QR code (from `renderQrSvg`). */
  qrSvg: string;
}

/** Seconds between reloads of the page when JavaScript is off. */
export const NO_SCRIPT_REFRESH_S = 30;

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The headline figures: label, `data-field` name, text. */
export function summaryFields(r: StatusReport): [string, string, string][] {
  const alive = r.peers.filter((p) => p.alive).length;
  return [
    ["Model", "model", `${r.model.id} (${fmtCount(r.model.parameters)} parameters)`],
    ["Backend", "backend", r.backend],
    ["Rounds", "rounds", fmtCount(r.rounds)],
    ["Held-out accuracy", "accuracy", r.accuracy === null ? NONE : fmtPercent(r.accuracy)],
    ["Held-out samples", "heldOut", fmtCount(r.heldOut)],
    ["Training loss", "loss", fmtFixed3(r.loss)],
    ["Training samples", "samples", fmtCount(r.samples)],
    ["Memory (RSS)", "rss", fmtBytes(r.rss)],
    ["Peers alive", "peers", `${alive} of ${r.peers.length}`],
    [
      "Gossip received",
      "bytesIn",
      `${fmtBytes(r.gossip.bytesIn)} (${fmtCount(r.gossip.datagramsIn)} datagrams)`,
    ],
    [
      "Gossip sent",
      "bytesOut",
      `${fmtBytes(r.gossip.bytesOut)} (${fmtCount(r.gossip.datagramsOut)} datagrams)`,
    ],
    ["Rejected", "rejected", fmtRejects(r.gossip.rejected)],
    ["Swarm (estimated)", "swarm", fmtSwarm(r.airtime)],
    ["Airtime", "airtime", fmtAirtime(r.airtime)],
  ];
}

/** The columns of the peers table. */
export const PEER_COLUMNS = [
  "Name",
  "Fingerprint",
  "Last seen",
  "Score",
  "Model",
  "Datagrams",
  "Rejects",
  "Transport",
  "Problem",
] as const;

/** The cells of one peer's row, in {@linkcode PEER_COLUMNS} order. */
export function peerCells(p: PeerStatus, nowIso: string): string[] {
  return [
    p.name || NONE,
    p.fingerprint,
    p.lastSeen === null ? "never" : fmtAgo(p.lastSeen, nowIso) + (p.alive ? "" : " (down)"),
    p.score === null ? NONE : p.score.toFixed(2),
    fmtPeerModel(p),
    fmtCount(p.datagramsIn),
    fmtRejects(p.rejects),
    fmtTransport(p),
    peerProblem(p) || NONE,
  ];
}

/** The whole page. */
export function renderPage(
  r: StatusReport,
  pairing: Pairing,
  options: { historyIntervalMs: number },
): string {
  const e = escapeHtml;
  const fields = summaryFields(r).map(([label, field, text]) =>
    `<div class="card"><dt>${e(label)}</dt><dd data-field="${field}">${e(text)}</dd></div>`
  ).join("\n");
  const rows = r.peers.map((p) => {
    const problem = peerProblem(p);
    const cells = peerCells(p, r.updatedAt).map((c) => `<td>${e(c)}</td>`).join("");
    return `<tr data-fingerprint="${e(p.fingerprint)}"${problem ? ' class="unusable"' : ""}>${cells}</tr>`;
  }).join("\n");
  const head = PEER_COLUMNS.map((c) => `<th scope="col">${c}</th>`).join("");
  const chart = (id: string, title: string, note: string) =>
    `<section class="chart-box"><h2>${title}</h2><p class="note">${note}</p>` +
    `<div id="${id}" class="chart" data-points="0"><noscript><p class="nojs">The chart needs ` +
    `JavaScript. The figures above are from ${e(r.updatedAt)}; this page reloads every ` +
    `${NO_SCRIPT_REFRESH_S} s.</p></noscript></div></section>`;
  const everyS = Math.round(options.historyIntervalMs / 1000);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${e(r.node.name)} · agent</title>
<link rel="stylesheet" href="/assets/uplot.css">
<link rel="stylesheet" href="/assets/dashboard.css">
<noscript><meta http-equiv="refresh" content="${NO_SCRIPT_REFRESH_S}"></noscript>
<script src="/assets/uplot.js" defer></script>
<script src="/assets/dashboard.js" defer></script>
</head>
<body data-updated-at="${e(r.updatedAt)}">
<header>
<h1><span data-field="name">${e(r.node.name)}</span> <small>agent ${e(r.version)}</small></h1>
<p class="sub">Fingerprint <code data-field="fingerprint">${e(r.node.fingerprint)}</code>
· up since <time data-field="startedAt">${e(r.startedAt)}</time>
· updated <time data-field="updatedAt">${e(r.updatedAt)}</time>
<span id="live" class="live off">static</span></p>
</header>
<main>
<dl class="cards">
${fields}
</dl>
${
    chart(
      "chart-learning",
      "Learning",
      `Held-out accuracy and training loss, one point every ${everyS} s (last 24 h)`,
    )
  }
${chart("chart-traffic", "Swarm traffic", "Gossip bytes received and sent since the agent started")}
${
    chart(
      "chart-rejects",
      "Rejected datagrams",
      "Datagrams dropped per minute, by reason (our own broadcasts coming back are not shown)",
    )
  }
<section class="peers-box">
<h2>Peers</h2>
<table id="peers">
<thead><tr>${head}</tr></thead>
<tbody>
${
    rows ||
    `<tr class="empty"><td colspan="${PEER_COLUMNS.length}">No trusted peers yet: pair a board with the code below</td></tr>`
  }
</tbody>
</table>
</section>
<section class="pair-box">
<h2>Pair a board</h2>
<figure class="qr" aria-label="Pairing QR code of this board">${pairing.qrSvg}</figure>
<p>Scan the code with a phone to get the text below, then run on the new board:</p>
<pre><code id="pair-command">agent trust ${e(pairing.payload)}</code></pre>
<p>(a photo of the code works too: <code>agent trust photo.png</code>). Then run <code>agent id</code> there
and <code>agent trust</code> here: pairing is mutual. The code holds this board's public key and name only.</p>
</section>
</main>
<footer>PID ${r.pid} · API ${e(r.api)} · read-only page · data: <a href="/v1/status">/v1/status</a>,
<a href="/v1/history">/v1/history</a>, <a href="/metrics">/metrics</a></footer>
</body>
</html>
`;
}
