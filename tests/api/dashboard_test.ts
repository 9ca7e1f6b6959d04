import assert from "node:assert/strict";
import { createApi } from "../../src/api/api.ts";
import type { StatusReport } from "../../src/api/status.ts";
import { MetricHistory } from "../../src/api/history.ts";
import type { DashboardDeps } from "../../src/api/dashboard/routes.ts";
import { escapeHtml, PEER_COLUMNS } from "../../src/api/dashboard/page.ts";
import { renderQrSvg } from "../../src/identity/qr.ts";
import { ManualClock } from "../../src/time.ts";
import { nullLogger } from "../../src/log.ts";
import { idleMetrics } from "../_support/metrics.ts";

const PAYLOAD = "agent1:TESTPAYLOAD";

function report(): StatusReport {
  return {
    node: { name: "kitchen", fingerprint: "ab12-cd34-ef56" },
    version: "0.1.0",
    pid: 42,
    startedAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:10:00.000Z",
    backend: "wasm",
    model: { id: "mnist-mlp", hash: "00ff", parameters: 25_450 },
    accuracy: 0.9123,
    heldOut: 1000,
    samples: 3200,
    rounds: 12_345,
    loss: 0.2468,
    gossip: {
      datagramsIn: 900,
      accepted: 800,
      datagramsOut: 700,
      bytesIn: 2_500_000,
      bytesOut: 1_200_000,
      rejected: { untrusted: 7, replay: 0 },
      largestDatagram: 1232,
    },
    api: "127.0.0.1:7070",
    rss: 120 * 1024 * 1024,
    airtime: {
      budgetBytesPerSecond: 32000,
      swarmSize: 101,
      roundMs: 4161,
      helloMs: 8322,
      peerTimeoutMs: 24966,
      ownBytesPerSecond: 316,
      swarmBytesPerSecond: 30500,
      plannedBytesPerSecond: 32000,
    },
    peers: [
      {
        fingerprint: "1111-2222",
        name: "garage",
        address: "127.0.0.1:9999",
        lastSeen: "2026-01-01T00:09:58.500Z",
        alive: true,
        score: 0.97,
        coverage: 1,
        merged: true,
        datagramsIn: 450,
        rejects: {},
        unusable: null,
      },
      {
        fingerprint: "3333-4444",
        name: "<script>alert(1)</script>",
        address: null,
        lastSeen: null,
        alive: false,
        score: null,
        coverage: null,
        merged: false,
        datagramsIn: 0,
        rejects: { "model-mismatch": 3 },
        unusable: "runs another model (3 datagrams refused)",
      },
    ],
  };
}

async function setup(options: { dashboard?: boolean } = {}) {
  const history = new MetricHistory({ capacity: 4 });
  for (const t of [1000, 2000, 3000]) {
    history.record({
      t,
      accuracy: t / 4000,
      loss: 1 / t,
      bytesIn: t,
      bytesOut: 2 * t,
      rss: 1e8,
      rejects: { untrusted: t / 1000 },
    });
  }
  const qrSvg = await renderQrSvg(PAYLOAD);
  const dashboard: DashboardDeps = {
    status: () => report(),
    history: (since) => ({
      ...history.series(since),
      live: { t: 3500, accuracy: 0.9, loss: 0.1, bytesIn: 3500, bytesOut: 7000, rss: 1e8, rejects: {} },
    }),
    pairing: () => Promise.resolve({ payload: PAYLOAD, qrSvg }),
  };
  const metrics = idleMetrics();
  return createApi({
    inputSize: 4,
    classes: 3,
    predict: () => Promise.reject(new Error("not used")),
    addSamples: () => Promise.reject(new Error("not used")),
    status: () => report(),
    metrics,
    maxBodyBytes: 1000,
    clock: new ManualClock(),
    logger: nullLogger,
    dashboard: options.dashboard === false ? undefined : dashboard,
  });
}

function get(path: string, init: RequestInit = {}) {
  return new Request(`http://127.0.0.1:7070${path}`, init);
}

function assertSafeHeaders(res: Response) {
  const csp = res.headers.get("content-security-policy") ?? "";
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/, "scripts from the agent only, none inline");
  assert.match(csp, /connect-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:|\*/);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.equal(res.headers.get("referrer-policy"), "no-referrer");
}

Deno.test("GET / renders the board, its peers and the pairing code as HTML that reads without JavaScript", async () => {
  const api = await setup();
  const res = await api(get("/"));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
  assertSafeHeaders(res);
  const html = await res.text();
  for (
    const shown of [
      "kitchen",
      "ab12-cd34-ef56",
      "mnist-mlp (25,450 parameters)",
      ">wasm<",
      ">12,345<",
      ">91.2%<",
      ">0.247<",
      ">3,200<",
      ">120.00 MB<",
      "2.38 MB (900 datagrams)",
      "untrusted 7",
      "garage",
      "1.5 s ago",
      "UDP 127.0.0.1:9999",
      "101 boards, a round every 4.2 s",
      "this board 316 B/s, swarm 29.8 kB/s of 31.3 kB/s (95%)",
      "runs another model (3 datagrams refused)",
      `agent trust ${PAYLOAD}`,
      "<svg",
      'http-equiv="refresh"',
    ]
  ) assert.ok(html.includes(shown), `page shows ${JSON.stringify(shown)}`);
  assert.equal((html.match(/<th scope="col">/g) ?? []).length, PEER_COLUMNS.length);
  assert.match(html, /<tr data-fingerprint="1111-2222">/, "a merged peer is not highlighted");
  assert.match(html, /<tr data-fingerprint="3333-4444" class="unusable">/, "an unusable peer is highlighted");
  assert.ok(!html.includes("<script>alert"), "a hostile peer name is escaped");
  assert.ok(html.includes(escapeHtml("<script>alert(1)</script>")));
  const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
  assert.ok(scripts.length > 0 && scripts.every((a) => /src="\/assets\//.test(a)), "no inline script");
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, "nothing is loaded from another host");
  assert.doesNotMatch(html, /private|PRIVATE KEY/);
});

Deno.test("the page's assets are served from memory with their content types", async () => {
  const api = await setup();
  const cases: [string, string, RegExp][] = [
    ["/assets/uplot.js", "text/javascript; charset=utf-8", /uPlot/],
    ["/assets/uplot.css", "text/css; charset=utf-8", /\.uplot/],
    ["/assets/dashboard.js", "text/javascript; charset=utf-8", /function fmtPercent[\s\S]*\/v1\/history/],
    ["/assets/dashboard.css", "text/css; charset=utf-8", /tr\.unusable/],
  ];
  for (const [path, type, body] of cases) {
    const res = await api(get(path));
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("content-type"), type, path);
    assertSafeHeaders(res);
    const text = await res.text();
    assert.match(text, body, path);
    assert.doesNotMatch(text, /^import |^export /m, `${path} is a classic script, not a module`);
  }
});

Deno.test("GET /v1/history answers the samples after since, plus the live values", async () => {
  const api = await setup();
  const all = await (await api(get("/v1/history"))).json();
  assert.deepEqual(all.t, [1000, 2000, 3000]);
  assert.deepEqual(all.rejects, { untrusted: [1, 2, 3] });
  assert.equal(all.live.t, 3500);
  const res = await api(get("/v1/history?since=2000"));
  assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
  assertSafeHeaders(res);
  const newer = await res.json();
  assert.deepEqual(newer.t, [3000]);
  assert.deepEqual(newer.accuracy, [0.75]);
  const bad = await api(get("/v1/history?since=yesterday"));
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /since="yesterday" is not a number/);
});

Deno.test("the dashboard is read-only and absent when the daemon offers none", async () => {
  const api = await setup();
  for (const path of ["/", "/v1/history", "/assets/dashboard.js"]) {
    const res = await api(get(path, { method: "POST", body: "{}" }));
    assert.equal(res.status, 405, path);
    assertSafeHeaders(res);
    await res.body?.cancel();
  }
  const head = await api(get("/", { method: "HEAD" }));
  assert.equal(head.status, 200);
  await head.body?.cancel();
  const without = await setup({ dashboard: false });
  for (const path of ["/", "/v1/history"]) {
    const res = await without(get(path));
    assert.equal(res.status, 404, path);
    await res.body?.cancel();
  }
  const status = await without(get("/v1/status"));
  assert.equal(status.status, 200);
  assertSafeHeaders(status);
  await status.body?.cancel();
});

Deno.test("localUrl() gives the address a person on the board opens", async () => {
  const { localUrl } = await import("../../src/api/serve.ts");
  assert.equal(localUrl("127.0.0.1:7070"), "http://127.0.0.1:7070/");
  assert.equal(localUrl("0.0.0.0:7070"), "http://127.0.0.1:7070/");
  assert.equal(localUrl("[::]:7070"), "http://[::1]:7070/");
  assert.equal(localUrl("[::1]:8080"), "http://[::1]:8080/");
  assert.equal(localUrl("localhost:80"), "http://localhost:80/");
});

Deno.test("a loopback API refuses a request whose Host is another name (DNS rebinding)", async () => {
  const { guardLoopbackHost, serveApi } = await import("../../src/api/serve.ts");
  const api = guardLoopbackHost(await setup());
  for (const host of ["127.0.0.1:7070", "localhost:7070", "[::1]:7070", "127.1.2.3"]) {
    const res = await api(get("/", { headers: { host } }));
    assert.equal(res.status, 200, host);
    await res.body?.cancel();
  }
  for (const host of ["evil.example:7070", "192.168.1.5:7070", "127.0.0.1.evil.example"]) {
    const res = await api(get("/v1/status", { headers: { host } }));
    assert.equal(res.status, 421, host);
    assert.match((await res.json()).error, /is not a loopback name/);
  }
  // On a real socket, with the Host header a rebound DNS name would bring.
  const server = serveApi(await setup(), { listen: "127.0.0.1:0", allowRemote: false, logger: nullLogger });
  try {
    const ask = async (host: string) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      await conn.write(
        new TextEncoder().encode(`GET /v1/status HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
      );
      const answer = new TextDecoder().decode(await new Response(conn.readable).arrayBuffer());
      return answer.split("\r\n")[0];
    };
    assert.equal(await ask("attacker.example"), "HTTP/1.1 421 Misdirected Request");
    assert.equal(await ask(`127.0.0.1:${server.port}`), "HTTP/1.1 200 OK");
  } finally {
    await server.shutdown();
  }
});
