/**
 * The dashboard of a real learning board, in a real browser: three real `agent run` processes on
 * loopback, paired and learning MNIST, plus a fourth trusted board that never runs. Headless Debian
 * Chromium (driven by playwright-core) opens node-1's page and must: draw the charts, list the paired
 * peers (the silent one highlighted with its reason), show the same figures as the `/v1/status` answer
 * it rendered, make no request to any other host and log no console error. The page is screenshotted
 * to docs/dashboard.png for the README. With JavaScript off, the page still shows the figures.
 *
 * Needs `/usr/bin/chromium` (Debian package `chromium`; AGENT_CHROMIUM overrides the path). Without it
 * the test is skipped, and says so.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { agentOk, AgentProcess, freeTcpPort, freeUdpPort } from "../../scripts/lib/cluster.ts";
import { loopbackConfig, prepareSwarm } from "../../scripts/lib/swarm.ts";
import type { StatusReport } from "../../src/api/status.ts";
import { createApi } from "../../src/api/api.ts";
import { AgentMetrics } from "../../src/api/metrics.ts";
import { serveApi } from "../../src/api/serve.ts";
import { MetricHistory } from "../../src/api/history.ts";
import { readQrImage, renderQrSvg } from "../../src/identity/qr.ts";
import { nullLogger } from "../../src/log.ts";
import { systemClock } from "../../src/time.ts";
import { deflateBody, encodeHello, MessageType } from "../../src/wire/mod.ts";
import { PEER_COLUMNS } from "../../src/api/dashboard/page.ts";
import { waitFor } from "../_support/wait.ts";
import { strangerNode } from "../_support/gossip_node.ts";
import { idleSource } from "../_support/metrics.ts";

const CHROMIUM = Deno.env.get("AGENT_CHROMIUM") ?? "/usr/bin/chromium";
/** The flags these machines need (no sandbox as root, no background connections to Google). */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SCREENSHOT = fileURLToPath(new URL("../../docs/dashboard.png", import.meta.url));
const TARGET = 0.85;

const hasChromium = await Deno.stat(CHROMIUM).then((s) => s.isFile, () => false);
if (!hasChromium) {
  console.warn(
    `dashboard_test: skipped, no Chromium at ${CHROMIUM} (apt-get install chromium, or set AGENT_CHROMIUM)`,
  );
}

/** What the page shows, read in one go so it belongs to one status answer. */
interface Shown {
  updatedAt: string;
  fields: Record<string, string>;
  peers: { fingerprint: string; unusable: boolean; cells: string[] }[];
  points: number;
}

// Run inside the page (strings: this file is type-checked without the DOM library).
const READ_PAGE = `(() => {
  const fields = {};
  for (const el of document.querySelectorAll("[data-field]")) fields[el.dataset.field] = el.textContent ?? "";
  const peers = [...document.querySelectorAll("#peers tbody tr[data-fingerprint]")].map((tr) => ({
    fingerprint: tr.dataset.fingerprint,
    unusable: tr.classList.contains("unusable"),
    cells: [...tr.cells].map((td) => td.textContent ?? ""),
  }));
  const points = Number(document.getElementById("chart-learning")?.dataset.points ?? 0);
  return { updatedAt: document.body.dataset.updatedAt ?? "", fields, peers, points };
})()`;

/** Non-background pixels drawn on the chart canvases (0 when nothing is drawn). */
const INKED_PIXELS = `(() => {
  let inked = 0;
  for (const canvas of document.querySelectorAll(".chart canvas")) {
    const ctx = canvas.getContext("2d");
    if (!ctx || canvas.width === 0) continue;
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
  }
  return inked;
})()`;

/**
 * Waits until `expression` is true in the page. (Playwright's waitForFunction with a string evaluates it
 * with `new Function` inside the page, which the page's CSP rightly forbids; evaluate() is not bound by it.)
 */
async function waitInPage(page: Page, expression: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(expression, () => page.evaluate(expression) as Promise<boolean>, { timeoutMs, everyMs: 100 });
}

function readPage(page: Page): Promise<Shown> {
  return page.evaluate(READ_PAGE) as Promise<Shown>;
}

function inkedPixels(page: Page): Promise<number> {
  return page.evaluate(INKED_PIXELS) as Promise<number>;
}

/** Sends `n` signed frames from a key nobody trusts and `n / 4` junk datagrams to the swarm's port. */
async function strangerTraffic(port: number, n: number): Promise<void> {
  const stranger = await strangerNode();
  const hello = deflateBody(
    encodeHello({ name: "stranger", round: 1, samples: 0, merged: 0, accuracy: 0, uptime: 0 }),
  );
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
  const to = { transport: "udp" as const, hostname: "127.255.255.255", port };
  try {
    for (let i = 0; i < n; i++) {
      await sock.send(await stranger.send(MessageType.Hello, hello), to);
      if (i % 4 === 0) await sock.send(new TextEncoder().encode(`junk ${i}`), to);
    }
  } finally {
    sock.close();
  }
}

const count = (text: string) => Number(text.replace(/,/g, ""));

Deno.test({
  name:
    "the dashboard of a learning board draws its charts, lists its peers and matches /v1/status in Chromium",
  ignore: !hasChromium,
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "agent-dash-test-" });
    const gossipPort = freeUdpPort();
    const apiPorts = [freeTcpPort(), freeTcpPort(), freeTcpPort()];
    const agents: AgentProcess[] = [];
    let browser: Browser | undefined;
    try {
      const nodes = await prepareSwarm({
        root,
        nodes: 3,
        split: "iid",
        config: (i, paths) =>
          loopbackConfig(`node-${i + 1}`, paths, { gossip: gossipPort, api: apiPorts[i] }, {
            learning: { checkpointMs: 5000 },
          }),
      });
      // A board that is trusted but never runs: the page must highlight it with the reason.
      const spareState = join(root, "spare");
      await Deno.mkdir(spareState, { mode: 0o700 });
      await Deno.writeTextFile(join(spareState, "agent.yaml"), "node:\n  name: spare-board\n");
      const spare = JSON.parse(await agentOk(["id", "--json", "--state", spareState]));
      await agentOk(["trust", spare.payload, "--yes", "--state", nodes[0].state]);

      for (let i = 0; i < 3; i++) {
        agents.push(
          new AgentProcess({ name: `node-${i + 1}`, state: nodes[i].state, api: `127.0.0.1:${apiPorts[i]}` }),
        );
      }
      const board = agents[0];
      const origin = `http://${board.api}`;

      await t.step(`node-1 learns to ${TARGET * 100}% with both peers merged`, async () => {
        // Datagrams to reject while it learns, so the rejects chart has something to draw.
        await waitFor("node-1's API", () => board.status(), { timeoutMs: 60_000 });
        await strangerTraffic(gossipPort, 200);
        await waitFor(`node-1 at ≥ ${TARGET} with 2 merged peers and 4 history samples`, async () => {
          for (const a of agents) {
            const dead = await Promise.race([a.exited.then(() => true), Promise.resolve(false)]);
            if (dead) throw new Error(`${a.name} died:\n${await a.log()}`);
          }
          const s = await board.status();
          const history = await board.get("/v1/history").then((r) => r?.json());
          return s && s.accuracy !== null && s.accuracy >= TARGET &&
            s.peers.filter((p) => p.merged).length === 2 && history?.t.length >= 4;
        }, { timeoutMs: 240_000, everyMs: 1000 });
      });

      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });

      await t.step("the page draws live charts from the agent alone, without console errors", async () => {
        const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
        const page = await context.newPage();
        const problems: string[] = [];
        const foreign: string[] = [];
        const statusAnswers = new Map<string, StatusReport>();
        page.on("console", (m) => {
          if (m.type() === "error") problems.push(`console error: ${m.text()}`);
        });
        page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
        page.on(
          "requestfailed",
          (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`),
        );
        page.on("request", (r) => {
          const url = r.url();
          if (!url.startsWith("data:") && new URL(url).origin !== origin) foreign.push(url);
        });
        page.on("response", async (r) => {
          if (new URL(r.url()).pathname !== "/v1/status") return;
          const body = await r.json().catch(() => undefined) as StatusReport | undefined;
          if (body) statusAnswers.set(body.updatedAt, body);
        });

        const res = await page.goto(origin + "/");
        assert.equal(res?.status(), 200);
        const headers = res!.headers();
        assert.match(headers["content-security-policy"], /default-src 'none'.*script-src 'self'/);
        assert.equal(headers["x-content-type-options"], "nosniff");
        await page.waitForSelector("#live.on", { timeout: 20_000 });
        await waitInPage(page, 'Number(document.getElementById("chart-learning")?.dataset.points) >= 4');
        assert.equal(await page.locator(".chart canvas").count(), 3, "three charts");
        const inked = await inkedPixels(page);
        assert.ok(inked > 2000, `the charts have ink (${inked} pixels drawn)`);
        const legends = await page.locator(".chart .u-legend .u-series").allTextContents();
        for (
          const label of ["accuracy %", "training loss", "received MB", "sent MB", "untrusted", "malformed"]
        ) {
          assert.ok(legends.some((l) => l.includes(label)), `a chart draws ${label}: ${legends.join(" | ")}`);
        }

        // The figures on the page are those of the /v1/status answer it last rendered.
        const shown = await waitFor("a rendered status answer", async () => {
          const s = await readPage(page);
          return statusAnswers.has(s.updatedAt) ? s : undefined;
        }, { timeoutMs: 10_000, everyMs: 100 });
        const r = statusAnswers.get(shown.updatedAt)!;
        assert.equal(shown.fields.name, r.node.name);
        assert.equal(shown.fields.fingerprint, r.node.fingerprint);
        assert.equal(shown.fields.backend, r.backend);
        assert.ok(shown.fields.model.startsWith(`${r.model.id} (`), shown.fields.model);
        assert.equal(count(shown.fields.rounds), r.rounds);
        assert.equal(shown.fields.accuracy, `${(r.accuracy! * 100).toFixed(1)}%`);
        assert.equal(count(shown.fields.samples), r.samples);
        assert.equal(count(shown.fields.heldOut), r.heldOut);
        assert.equal(shown.fields.peers, `2 of 3`);
        assert.match(shown.fields.rss, /^\d+\.\d\d MB$/);
        assert.equal(r.airtime?.swarmSize, 3, "this board and the two alive peers");
        assert.ok(shown.fields.swarm.startsWith("3 boards, a round every "), shown.fields.swarm);
        assert.match(
          shown.fields.airtime,
          /^this board [\d.]+ k?B\/s, swarm [\d.]+ k?B\/s of 31\.3 kB\/s \(\d+%\)$/,
        );
        assert.ok(
          Math.abs(Number.parseFloat(shown.fields.rss) - r.rss / 1048576) < 0.01,
          `${shown.fields.rss} vs ${r.rss}`,
        );

        // …and agree with a fresh /v1/status asked by the test itself.
        const fresh = (await board.status())!;
        assert.equal(shown.fields.fingerprint, fresh.node.fingerprint);
        assert.ok(count(shown.fields.rounds) <= fresh.rounds);
        assert.ok(Math.abs(fresh.accuracy! - r.accuracy!) < 0.05);

        // The peers table: the two paired peers merged, the silent spare highlighted with its reason.
        assert.deepEqual(
          shown.peers.map((p) => p.fingerprint).sort(),
          [nodes[1].id.fingerprint, nodes[2].id.fingerprint, spare.fingerprint].sort(),
        );
        const column = (name: typeof PEER_COLUMNS[number]) => PEER_COLUMNS.indexOf(name);
        for (const n of [nodes[1], nodes[2]]) {
          const row = shown.peers.find((p) => p.fingerprint === n.id.fingerprint)!;
          assert.equal(row.unusable, false, JSON.stringify(row));
          assert.equal(row.cells[column("Name")], n.name);
          assert.equal(row.cells[column("Model")], "merged");
          assert.match(row.cells[column("Transport")], /^UDP 127\.0\.0\.1:\d+$/);
          const peer = r.peers.find((p) => p.fingerprint === n.id.fingerprint)!;
          assert.equal(count(row.cells[column("Datagrams")]), peer.datagramsIn);
        }
        const spareRow = shown.peers.find((p) => p.fingerprint === spare.fingerprint)!;
        assert.equal(spareRow.unusable, true);
        assert.equal(spareRow.cells[column("Last seen")], "never");
        assert.match(spareRow.cells[column("Problem")], /never heard from/);

        // The pairing code on the page is this board's `agent id` payload.
        assert.equal(await page.locator("#pair-command").textContent(), `agent trust ${nodes[0].id.payload}`);
        // …and the code as the browser draws it reads back as that payload (what a phone's camera gets).
        const drawn = await page.locator(".qr svg").screenshot();
        assert.equal(readQrImage(new Uint8Array(drawn)), nodes[0].id.payload);

        await Deno.mkdir(join(SCREENSHOT, ".."), { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        assert.deepEqual(foreign, [], "requests to other hosts");
        assert.deepEqual(problems, [], "console errors");
        await context.close();
      });

      await t.step(
        "with JavaScript off the page still shows the figures, the peers and the QR code",
        async () => {
          const context = await browser!.newContext({ javaScriptEnabled: false });
          const page = await context.newPage();
          const foreign: string[] = [];
          page.on("request", (r) => {
            const url = r.url();
            if (!url.startsWith("data:") && new URL(url).origin !== origin) foreign.push(url);
          });
          await page.goto(origin + "/");
          const fresh = (await board.status())!;
          const shown = await readPage(page);
          assert.equal(shown.fields.fingerprint, fresh.node.fingerprint);
          assert.equal(shown.fields.backend, fresh.backend);
          assert.ok(count(shown.fields.rounds) > 0 && count(shown.fields.rounds) <= fresh.rounds);
          assert.match(shown.fields.accuracy, /^\d+\.\d%$/);
          assert.ok(Math.abs(Number.parseFloat(shown.fields.accuracy) - fresh.accuracy! * 100) < 5);
          assert.equal(shown.peers.length, 3);
          assert.equal(shown.peers.filter((p) => p.unusable).length, 1);
          assert.equal(await page.locator(".qr svg").count(), 1);
          assert.match(await page.locator("#chart-learning").innerText(), /needs JavaScript/);
          assert.equal(await page.locator("#live").textContent(), "static");
          assert.deepEqual(foreign, []);
          await context.close();
        },
      );
    } finally {
      await browser?.close();
      await Promise.all(agents.map((a) => a.stop(5000)));
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

/** A fresh, unpaired board's status (no accuracy yet, no peers, nothing rejected). */
function freshStatus(startedAt: string, rounds: number): StatusReport {
  return {
    node: { name: "fresh-board", fingerprint: "ABCD-EFGH" },
    version: "0.1.0",
    pid: 1,
    startedAt,
    updatedAt: new Date().toISOString(),
    backend: "wasm",
    model: { id: "mnist-mlp", hash: "00", parameters: 25_450 },
    accuracy: null,
    heldOut: 0,
    samples: 0,
    rounds,
    loss: null,
    gossip: {
      datagramsIn: 0,
      accepted: 0,
      datagramsOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      rejected: {},
      largestDatagram: 0,
    },
    api: "127.0.0.1:0",
    rss: 60e6,
    peers: [],
  };
}

Deno.test({
  name:
    "the dashboard of a fresh unpaired board draws without errors and starts over when the agent restarts",
  ignore: !hasChromium,
  async fn() {
    // The real API handler and page on a real socket, with a board's data made up: nothing rejected, no
    // peers, no accuracy yet (cases the learning swarm above never shows).
    let startedAt = new Date(Date.now() - 60_000).toISOString();
    let history = new MetricHistory({ capacity: 100 });
    const fill = (h: MetricHistory, from: number, n: number) => {
      for (let i = 0; i < n; i++) {
        h.record({
          t: from + i * 10_000,
          accuracy: null,
          loss: 2.3 - i * 0.1,
          bytesIn: 0,
          bytesOut: 0,
          rss: 6e7,
          rejects: {},
        });
      }
    };
    fill(history, Date.now() - 60_000, 5);
    let rounds = 10;
    const payload = "AGENT1:FRESHBOARD";
    const qrSvg = await renderQrSvg(payload);
    const handler = createApi({
      inputSize: 784,
      classes: 10,
      predict: () => Promise.reject(new Error("not used")),
      addSamples: () => Promise.reject(new Error("not used")),
      status: () => freshStatus(startedAt, rounds),
      metrics: new AgentMetrics({ ...idleSource(), rounds: () => rounds, rss: () => 6e7 }),
      maxBodyBytes: 1024,
      clock: systemClock,
      logger: nullLogger,
      dashboard: {
        status: () => freshStatus(startedAt, rounds),
        history: (since) => ({
          ...history.series(since),
          live: { t: Date.now(), accuracy: null, loss: 1, bytesIn: 0, bytesOut: 0, rss: 6e7, rejects: {} },
        }),
        pairing: () => Promise.resolve({ payload, qrSvg }),
      },
    });
    const server = serveApi(handler, { listen: "127.0.0.1:0", allowRemote: false, logger: nullLogger });
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on("console", (m) => void (m.type() === "error" && problems.push(m.text())));
      page.on("pageerror", (e) => problems.push(e.message));
      await page.goto(`http://${server.address}/`);
      await waitInPage(page, 'Number(document.getElementById("chart-learning")?.dataset.points) === 6');
      assert.equal(await page.locator(".chart canvas").count(), 3);
      assert.match(await page.locator("#peers tbody").innerText(), /No trusted peers yet/);
      assert.equal(await page.locator('[data-field="accuracy"]').textContent(), "\u2014");

      // The agent restarts: a new start time and a new, shorter ring. The page drops the old points.
      history = new MetricHistory({ capacity: 100 });
      fill(history, Date.now(), 1);
      startedAt = new Date().toISOString();
      rounds = 1;
      await waitInPage(page, 'Number(document.getElementById("chart-learning")?.dataset.points) === 2');
      assert.equal(await page.locator('[data-field="rounds"]').textContent(), "1");
      assert.equal(await page.locator(".chart canvas").count(), 3, "charts drawn again, not duplicated");
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});
