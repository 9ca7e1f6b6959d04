// The dashboard's browser script: polls /v1/status and /v1/history on the agent that served the page,
// updates the server-rendered figures and peers table in place, and draws three uPlot charts on one
// time axis. It talks to no other host (the page's Content-Security-Policy forbids it anyway).
// Embedded into the program by scripts/gen_dashboard_assets.ts (the import below is inlined there);
// `uPlot` is the global defined by /assets/uplot.js.
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

/* global uPlot */

const STATUS_EVERY_MS = 2000;
const KEEP_MS = 24 * 3600 * 1000;
const COLORS = [
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
  "#ff7f0e",
  "#1f77b4",
];

/** Samples received so far (the ring's points; the live point is kept apart). */
const store = { t: [], accuracy: [], loss: [], bytesIn: [], bytesOut: [], rejects: {} };
/** @type {{t: number} | null} */
let live = null;
let since = 0;
const charts = {};
let failures = 0;
/** The agent's start time: when it changes, the agent restarted. */
let startedAt = null;

function field(name) {
  return document.querySelector(`[data-field="${name}"]`);
}

function setText(name, text) {
  const el = field(name);
  if (el && el.textContent !== text) el.textContent = text;
}

function showStatus(r) {
  const alive = r.peers.filter((p) => p.alive).length;
  setText("name", r.node.name);
  setText("fingerprint", r.node.fingerprint);
  setText("startedAt", r.startedAt);
  setText("updatedAt", r.updatedAt);
  setText("model", `${r.model.id} (${fmtCount(r.model.parameters)} parameters)`);
  setText("backend", r.backend);
  setText("rounds", fmtCount(r.rounds));
  setText("accuracy", r.accuracy === null ? NONE : fmtPercent(r.accuracy));
  setText("heldOut", fmtCount(r.heldOut));
  setText("loss", fmtFixed3(r.loss));
  setText("samples", fmtCount(r.samples));
  setText("rss", fmtBytes(r.rss));
  setText("peers", `${alive} of ${r.peers.length}`);
  setText("bytesIn", `${fmtBytes(r.gossip.bytesIn)} (${fmtCount(r.gossip.datagramsIn)} datagrams)`);
  setText("bytesOut", `${fmtBytes(r.gossip.bytesOut)} (${fmtCount(r.gossip.datagramsOut)} datagrams)`);
  setText("rejected", fmtRejects(r.gossip.rejected));
  setText("swarm", fmtSwarm(r.airtime));
  setText("airtime", fmtAirtime(r.airtime));
  showPeers(r);
  document.title = `${r.node.name} · agent`;
  document.body.dataset.updatedAt = r.updatedAt;
}

function showPeers(r) {
  const body = document.querySelector("#peers tbody");
  const columns = document.querySelectorAll("#peers thead th").length;
  const rows = r.peers.map((p) => {
    const tr = document.createElement("tr");
    tr.dataset.fingerprint = p.fingerprint;
    const problem = peerProblem(p);
    if (problem) tr.className = "unusable";
    const cells = [
      p.name || NONE,
      p.fingerprint,
      p.lastSeen === null ? "never" : fmtAgo(p.lastSeen, r.updatedAt) + (p.alive ? "" : " (down)"),
      p.score === null ? NONE : p.score.toFixed(2),
      fmtPeerModel(p),
      fmtCount(p.datagramsIn),
      fmtRejects(p.rejects),
      fmtTransport(p),
      problem || NONE,
    ];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    const td = document.createElement("td");
    td.colSpan = columns;
    td.textContent = "No trusted peers yet: pair a board with the code below";
    tr.appendChild(td);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

function addHistory(h) {
  const n = h.t.length;
  const old = store.t.length;
  for (const reason of Object.keys(h.rejects)) {
    store.rejects[reason] ??= new Array(old).fill(0);
  }
  for (let i = 0; i < n; i++) {
    store.t.push(h.t[i]);
    store.accuracy.push(h.accuracy[i]);
    store.loss.push(h.loss[i]);
    store.bytesIn.push(h.bytesIn[i]);
    store.bytesOut.push(h.bytesOut[i]);
    for (const [reason, col] of Object.entries(store.rejects)) col.push(h.rejects[reason]?.[i] ?? 0);
  }
  if (n > 0) since = h.t[n - 1];
  live = h.live ?? null;
  // Keep a day, like the agent's ring.
  const cut = store.t.findIndex((t) => t >= (store.t[store.t.length - 1] ?? 0) - KEEP_MS);
  if (cut > 0) {
    for (const k of ["t", "accuracy", "loss", "bytesIn", "bytesOut"]) store[k].splice(0, cut);
    for (const col of Object.values(store.rejects)) col.splice(0, cut);
  }
}

/** The stored points plus the live one, as uPlot columns (time in seconds). */
function columns() {
  const t = store.t.slice();
  const acc = store.accuracy.slice();
  const loss = store.loss.slice();
  const bin = store.bytesIn.slice();
  const bout = store.bytesOut.slice();
  // Our own broadcasts coming back are counted as "own" but are no problem: not charted.
  const rej = Object.fromEntries(
    Object.entries(store.rejects).filter(([k]) => k !== "own").map(([k, v]) => [k, v.slice()]),
  );
  if (live && (t.length === 0 || live.t > t[t.length - 1])) {
    t.push(live.t);
    acc.push(live.accuracy);
    loss.push(live.loss);
    bin.push(live.bytesIn);
    bout.push(live.bytesOut);
    for (const [k, v] of Object.entries(rej)) v.push(live.rejects[k] ?? v[v.length - 1] ?? 0);
  }
  const secs = t.map((x) => x / 1000);
  const perMinute = (v) =>
    v.map((
      c,
      i,
    ) => (i === 0 || t[i] <= t[i - 1] ? null : Math.max(0, (c - v[i - 1]) * 60000 / (t[i] - t[i - 1]))));
  return {
    learning: [secs, acc.map((a) => (a === null ? null : a * 100)), loss],
    traffic: [secs, bin.map((b) => b / 1048576), bout.map((b) => b / 1048576)],
    reasons: Object.keys(rej),
    rejects: [secs, ...Object.values(rej).map(perMinute)],
  };
}

function chartWidth(el) {
  return Math.max(280, el.clientWidth || 600);
}

function makeChart(id, series, scales, axes, data) {
  const el = document.getElementById(id);
  el.replaceChildren();
  const chart = new uPlot(
    {
      width: chartWidth(el),
      height: 220,
      cursor: { sync: { key: "agent" } },
      legend: { live: true },
      scales: { x: { time: true }, ...scales },
      series: [{ label: "time" }, ...series],
      axes: [{}, ...axes],
    },
    data,
    el,
  );
  return chart;
}

function draw() {
  const c = columns();
  if (c.learning[0].length === 0) return;
  if (!charts.learning) {
    charts.learning = makeChart(
      "chart-learning",
      [
        {
          label: "accuracy %",
          scale: "%",
          stroke: "#2ca02c",
          width: 2,
          value: (_u, v) => (v == null ? NONE : v.toFixed(1) + "%"),
        },
        {
          label: "training loss",
          scale: "loss",
          stroke: "#ff7f0e",
          width: 1.5,
          value: (_u, v) => fmtFixed3(v),
        },
      ],
      { "%": { range: [0, 100] }, loss: { range: (_u, min, max) => [0, Math.max(0.1, max ?? min ?? 1)] } },
      [{ scale: "%", label: "accuracy %" }, { scale: "loss", side: 1, grid: { show: false }, label: "loss" }],
      c.learning,
    );
    charts.traffic = makeChart(
      "chart-traffic",
      [
        {
          label: "received MB",
          scale: "MB",
          stroke: "#1f77b4",
          width: 2,
          value: (_u, v) => (v == null ? NONE : v.toFixed(2)),
        },
        {
          label: "sent MB",
          scale: "MB",
          stroke: "#d62728",
          width: 2,
          value: (_u, v) => (v == null ? NONE : v.toFixed(2)),
        },
      ],
      { MB: { range: (_u, min, max) => [0, Math.max(0.01, max ?? min ?? 1)] } },
      [{ scale: "MB", label: "MB" }],
      c.traffic,
    );
  } else {
    charts.learning.setData(c.learning);
    charts.traffic.setData(c.traffic);
  }
  const reasons = c.reasons.join(",");
  if (!charts.rejects || charts.rejectReasons !== reasons) {
    charts.rejects?.destroy();
    charts.rejectReasons = reasons;
    charts.rejects = makeChart(
      "chart-rejects",
      c.reasons.map((r, i) => ({ label: r, scale: "n", stroke: COLORS[i % COLORS.length], width: 1.5 })),
      { n: { range: (_u, min, max) => [0, Math.max(1, max ?? min ?? 1)] } },
      [{ scale: "n", label: "per minute" }],
      c.rejects,
    );
  } else {
    charts.rejects.setData(c.rejects);
  }
  for (const id of ["chart-learning", "chart-traffic", "chart-rejects"]) {
    document.getElementById(id).dataset.points = String(c.learning[0].length);
  }
}

async function getJson(path) {
  const res = await fetch(path, { cache: "no-store", headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return await res.json();
}

function setLive(ok, text) {
  const el = document.getElementById("live");
  el.textContent = text;
  el.className = ok ? "live on" : "live off";
}

/** Forgets what was drawn (the agent restarted: its ring and counters started again). */
function reset() {
  for (const k of ["t", "accuracy", "loss", "bytesIn", "bytesOut"]) store[k] = [];
  store.rejects = {};
  since = 0;
  for (const key of ["learning", "traffic", "rejects"]) charts[key]?.destroy();
  for (const key of Object.keys(charts)) delete charts[key];
}

async function tick() {
  try {
    const status = await getJson("/v1/status");
    if (startedAt !== null && status.startedAt !== startedAt) reset();
    startedAt = status.startedAt;
    const history = await getJson(`/v1/history?since=${since}`);
    addHistory(history);
    showStatus(status);
    draw();
    failures = 0;
    setLive(true, "live");
  } catch (e) {
    failures++;
    setLive(false, failures > 1 ? `agent not answering (${e.message})` : "reconnecting");
  } finally {
    setTimeout(tick, STATUS_EVERY_MS);
  }
}

addEventListener("resize", () => {
  for (const key of ["learning", "traffic", "rejects"]) {
    const chart = charts[key];
    if (chart) chart.setSize({ width: chartWidth(chart.root.parentElement), height: 220 });
  }
});

tick();
