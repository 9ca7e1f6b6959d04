import assert from "node:assert/strict";
import { LargestDatagram } from "../../src/agent/_observed.ts";
import { agentMetrics, type AgentReports, serveAgentApi } from "../../src/agent/_step_api.ts";
import { loadLocalData } from "../../src/agent/_step_data.ts";
import type { StatusReport } from "../../src/api/mod.ts";
import { UsageError } from "../../src/errors.ts";
import { nullLogger } from "../../src/log.ts";
import { parseModelSpec } from "../../src/model/mod.ts";
import { systemClock } from "../../src/time.ts";
import { FRAME_OVERHEAD } from "../../src/wire/mod.ts";
import { idleMetrics } from "../_support/metrics.ts";
import { makeBoard, SPEC } from "../_support/small_board.ts";

const spec = parseModelSpec(SPEC, "sensor.yaml");
const model = { spec, inputSize: 3, classes: 3 };

const reports: AgentReports = {
  status: () => ({ api: "from the agent" }) as unknown as StatusReport,
  history: () => ({ points: [] }) as never,
  pairing: () => Promise.resolve({ payload: "p", qrSvg: "<svg/>" }),
};

Deno.test("serveAgentApi() answers from the agent's reports, stores posted samples, and reads maxBodyBytes live", async () => {
  await using board = await makeBoard(9);
  const config = board.config();
  const data = await loadLocalData(model, { config, state: board.state, logger: nullLogger });
  let maxBody = 1 << 20;
  const server = serveAgentApi(reports, {
    config,
    model,
    serving: { predict: (_x, n) => Promise.resolve(new Float32Array(n * 3).fill(1 / 3)) },
    data,
    metrics: idleMetrics(),
    maxBodyBytes: () => maxBody,
    clock: systemClock,
    logger: nullLogger,
  });
  try {
    const base = `http://${server.address}`;
    assert.deepEqual(await (await fetch(`${base}/v1/status`)).json(), { api: "from the agent" });
    const post = (body: string) =>
      fetch(`${base}/v1/samples`, { method: "POST", headers: { "content-type": "application/json" }, body });
    const rows = JSON.stringify({ rows: [[0, 0, 9.8]], labels: [1] });
    const ok = await post(rows);
    assert.deepEqual(await ok.json(), { accepted: 1, stored: 1 });
    assert.equal(data.store.count, 1);
    maxBody = 10; // a live reload of api.maxBodyBytes
    const big = await post(rows);
    await big.body?.cancel();
    assert.equal(big.status, 413);
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveAgentApi() refuses an API port that is taken with what to do", async () => {
  await using board = await makeBoard(9);
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (blocker.addr as Deno.NetAddr).port;
    const config = board.config({ "api.listen": `127.0.0.1:${port}` });
    const data = await loadLocalData(model, { config, state: board.state, logger: nullLogger });
    assert.throws(
      () =>
        serveAgentApi(reports, {
          config,
          model,
          serving: { predict: () => Promise.resolve(new Float32Array(0)) },
          data,
          metrics: idleMetrics(),
          maxBodyBytes: () => 1024,
          clock: systemClock,
          logger: nullLogger,
        }),
      (e) => e instanceof UsageError && e.message.includes(`${port} is already in use`),
    );
  } finally {
    blocker.close();
  }
});

Deno.test("agentMetrics() reads the running parts at scrape time", async () => {
  const largest = new LargestDatagram();
  let accuracy: number | null = null;
  const metrics = agentMetrics({
    node: {
      counters: () =>
        ({ received: 3, receivedBytes: 300, accepted: 2, sent: 1, sentBytes: 90, rejected: {} }) as never,
      peers: () => [],
    },
    transport: () => ({ mode: "udp", broker: null, forwarded: null }),
    trusted: () => 2,
    learner: { stats: () => ({ rounds: 5, lastLoss: NaN }) as never },
    evaluator: {
      get accuracy() {
        return accuracy;
      },
    },
    data: {
      current: { train: { x: new Float32Array(0), y: new Uint8Array(0), count: 7 }, heldOut: null as never },
    },
    largest,
    saving: { health: () => ({ ok: true }) as never },
    clock: systemClock,
  });
  largest.note(100);
  accuracy = 0.75;
  const text = await metrics.text();
  assert.match(text, /\n\w*accuracy\w* 0\.75\n/);
  assert.match(text, new RegExp(`\\n\\w*largest\\w* ${100 + FRAME_OVERHEAD}\\n`));
});
