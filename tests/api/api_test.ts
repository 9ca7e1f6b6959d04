import assert from "node:assert/strict";
import { InputCheck } from "../../src/model/input.ts";
import { createApi, rowsThatFit } from "../../src/api/api.ts";
import { AgentMetrics } from "../../src/api/metrics.ts";
import type { StatusReport } from "../../src/api/status.ts";
import { UsageError } from "../../src/errors.ts";
import { ManualClock } from "../../src/time.ts";
import { nullLogger } from "../../src/log.ts";
import { parsePrometheus, sampleValue } from "../_support/prometheus.ts";

const INPUT = 4;
const CLASSES = 3;

function sampleStatus(): StatusReport {
  return {
    node: { name: "a", fingerprint: "ab12-cd34" },
    version: "0.1.0",
    pid: 1,
    startedAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:01.000Z",
    backend: "wasm",
    model: { id: "mnist-mlp", hash: "00", parameters: 10 },
    accuracy: 0.5,
    heldOut: 10,
    samples: 90,
    rounds: 3,
    loss: 1.2,
    gossip: {
      datagramsIn: 1,
      accepted: 1,
      datagramsOut: 2,
      bytesIn: 3,
      bytesOut: 4,
      rejected: {},
      largestDatagram: 5,
    },
    api: "127.0.0.1:7070",
    rss: 50_000_000,
    peers: [],
  };
}

function setup(
  opts: { maxBodyBytes?: number; refuseSamples?: boolean; input?: InputCheck; classNames?: string[] } = {},
) {
  const clock = new ManualClock();
  const stored: { x: number[]; y: number }[] = [];
  const predicted: number[][] = [];
  const metrics = new AgentMetrics({
    datagrams: () => ({
      received: 5,
      receivedBytes: 5000,
      accepted: 1,
      sent: 1,
      sentBytes: 1200,
      rejected: { untrusted: 3, replay: 1 },
      largest: 4000,
    }),
    peers: () => ({ trusted: 2, alive: 1 }),
    rounds: () => 3,
    loss: () => 0.5,
    accuracy: () => 0.9,
    samples: () => stored.length,
    rss: () => 1234,
  });
  const handle = createApi({
    inputSize: INPUT,
    classes: CLASSES,
    input: opts.input,
    classNames: opts.classNames,
    predict: (x, count) => {
      const out = new Float32Array(count * CLASSES);
      for (let i = 0; i < count; i++) {
        predicted.push(Array.from(x.subarray(i * INPUT, (i + 1) * INPUT)));
        out[i * CLASSES + (i % CLASSES)] = 1; // row i → class i mod 3
      }
      clock.advance(2);
      return Promise.resolve(out);
    },
    addSamples: (x, y, count) => {
      if (opts.refuseSamples) throw new UsageError("Sample store is read-only", "Free some disk space");
      for (let i = 0; i < count; i++) {
        stored.push({ x: Array.from(x.subarray(i * INPUT, (i + 1) * INPUT)), y: y[i] });
      }
      return Promise.resolve({ stored: stored.length });
    },
    status: sampleStatus,
    metrics,
    maxBodyBytes: opts.maxBodyBytes ?? 4096,
    maxRows: 8,
    clock,
    logger: nullLogger,
  });
  return { handle, stored, predicted, metrics };
}

function post(path: string, body: BodyInit | null, headers: Record<string, string> = {}): Request {
  return new Request(`http://127.0.0.1${path}`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...headers },
  });
}

Deno.test("POST /v1/predict answers class and probabilities for each row", async () => {
  const { handle, predicted } = setup();
  const res = await handle(post("/v1/predict", JSON.stringify({ rows: [[0, 0.5, 1, 0], [1, 1, 1, 1]] })));
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual(body.predictions.map((p: { class: number }) => p.class), [0, 1]);
  assert.deepEqual(body.predictions[1].probabilities, [0, 1, 0]);
  assert.deepEqual(predicted, [[0, 0.5, 1, 0], [1, 1, 1, 1]]);
});

Deno.test("POST /v1/samples hands validated rows and labels to the store", async () => {
  const { handle, stored } = setup();
  const res = await handle(
    post("/v1/samples", JSON.stringify({ rows: [[0, 0, 0, 1], [1, 0, 0, 0]], labels: [2, 0] })),
  );
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { accepted: 2, stored: 2 });
  assert.deepEqual(stored, [{ x: [0, 0, 0, 1], y: 2 }, { x: [1, 0, 0, 0], y: 0 }]);
});

const ROW = [0, 0, 0, 0];
const BAD_REQUESTS: {
  name: string;
  req: () => Request;
  status: number;
  reason: RegExp;
}[] = [
  {
    name: "no content type",
    req: () => post("/v1/predict", "{}", { "content-type": "" }),
    status: 415,
    reason: /none/,
  },
  {
    name: "text/plain",
    req: () => post("/v1/predict", JSON.stringify({ rows: [ROW] }), { "content-type": "text/plain" }),
    status: 415,
    reason: /text\/plain/,
  },
  {
    name: "form encoded samples",
    req: () => post("/v1/samples", "rows=1", { "content-type": "application/x-www-form-urlencoded" }),
    status: 415,
    reason: /Content-Type must be application\/json/,
  },
  {
    name: "latin-1 charset",
    req: () => post("/v1/predict", "{}", { "content-type": "application/json; charset=iso-8859-1" }),
    status: 415,
    reason: /iso-8859-1/,
  },
  { name: "empty body", req: () => post("/v1/predict", ""), status: 400, reason: /empty/ },
  {
    name: "broken JSON",
    req: () => post("/v1/predict", '{"rows": [[0,'),
    status: 400,
    reason: /not valid JSON/,
  },
  {
    name: "NaN literal",
    req: () => post("/v1/predict", '{"rows": [[NaN, 0, 0, 0]]}'),
    status: 400,
    reason: /JSON/,
  },
  {
    name: "invalid UTF-8",
    req: () => post("/v1/predict", new Uint8Array([0x7b, 0xff, 0x7d])),
    status: 400,
    reason: /UTF-8/,
  },
  { name: "array body", req: () => post("/v1/predict", "[1,2]"), status: 422, reason: /JSON object/ },
  {
    name: "no rows",
    req: () => post("/v1/predict", '{"row": [0,0,0,0]}'),
    status: 422,
    reason: /"rows" must be an array/,
  },
  { name: "empty rows", req: () => post("/v1/predict", '{"rows": []}'), status: 422, reason: /empty/ },
  {
    name: "row not array",
    req: () => post("/v1/predict", '{"rows": [5]}'),
    status: 422,
    reason: /rows\[0\] is not an array/,
  },
  {
    name: "short row",
    req: () => post("/v1/predict", '{"rows": [[0,0,0,0],[1,2,3]]}'),
    status: 422,
    reason: /rows\[1\] has 3 values, the model takes 4/,
  },
  {
    name: "NaN as string",
    req: () => post("/v1/predict", '{"rows": [[0,"NaN",0,0]]}'),
    status: 422,
    reason: /rows\[0\]\[1\] is "NaN", not a finite number/,
  },
  {
    name: "overflow to Infinity",
    req: () => post("/v1/predict", '{"rows": [[0,0,1e999,0]]}'),
    status: 422,
    reason: /rows\[0\]\[2\] is Infinity/,
  },
  {
    name: "null value",
    req: () => post("/v1/predict", '{"rows": [[0,0,0,null]]}'),
    status: 422,
    reason: /is null/,
  },
  {
    name: "huge value",
    req: () => post("/v1/predict", '{"rows": [[0,0,0,1e300]]}'),
    status: 422,
    reason: /outside/,
  },
  {
    name: "too many rows",
    req: () => post("/v1/predict", JSON.stringify({ rows: Array(9).fill(ROW) })),
    status: 413,
    reason: /9 rows is more than the 8/,
  },
  {
    name: "declared length over the limit",
    req: () => post("/v1/predict", "{}", { "content-length": "999999" }),
    status: 413,
    reason: /999999 bytes is larger than the limit of 4096/,
  },
  {
    name: "streamed body over the limit",
    req: () => post("/v1/samples", " ".repeat(5000)),
    status: 413,
    reason: /more than 4096/,
  },
  {
    name: "missing labels",
    req: () => post("/v1/samples", JSON.stringify({ rows: [ROW] })),
    status: 422,
    reason: /labels/,
  },
  {
    name: "label count mismatch",
    req: () => post("/v1/samples", JSON.stringify({ rows: [ROW, ROW], labels: [1] })),
    status: 422,
    reason: /"labels" has 1 entries but "rows" has 2/,
  },
  {
    name: "label out of range",
    req: () => post("/v1/samples", JSON.stringify({ rows: [ROW], labels: [3] })),
    status: 422,
    reason: /labels\[0\] is 3, not a class number 0..2/,
  },
  {
    name: "fractional label",
    req: () => post("/v1/samples", JSON.stringify({ rows: [ROW], labels: [1.5] })),
    status: 422,
    reason: /labels\[0\] is 1.5/,
  },
  {
    name: "GET on predict",
    req: () => new Request("http://x/v1/predict"),
    status: 405,
    reason: /GET is not allowed/,
  },
  {
    name: "POST on status",
    req: () => post("/v1/status", "{}"),
    status: 405,
    reason: /POST is not allowed on \/v1\/status/,
  },
  {
    name: "unknown path",
    req: () => new Request("http://x/v2/predict"),
    status: 404,
    reason: /No such endpoint/,
  },
];

for (const c of BAD_REQUESTS) {
  Deno.test(`API refuses a bad request (${c.name}) with ${c.status} and a reason`, async () => {
    const { handle, stored, predicted } = setup();
    const res = await handle(c.req());
    const body = await res.json();
    assert.equal(res.status, c.status, JSON.stringify(body));
    assert.match(body.error, c.reason);
    assert.equal(stored.length, 0, "a bad request must not reach the store");
    assert.equal(predicted.length, 0, "a bad request must not reach the model");
    // The API still answers normally afterwards.
    const ok = await handle(post("/v1/predict", JSON.stringify({ rows: [ROW] })));
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  });
}

Deno.test("API refuses an oversized streamed body without reading it to the end", async () => {
  const { handle } = setup({ maxBodyBytes: 1024 });
  let pulled = 0;
  const chunk = new Uint8Array(512).fill(0x20);
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      if (pulled > 1000) {
        controller.close();
        return;
      }
      controller.enqueue(chunk);
    },
  });
  const res = await handle(post("/v1/samples", endless));
  assert.equal(res.status, 413);
  await res.body?.cancel();
  assert.ok(pulled <= 4, `pulled ${pulled} chunks of an endless body`);
});

Deno.test("a body over api.maxBodyBytes is refused with how many rows of this model fit", async () => {
  const { handle } = setup();
  const res = await handle(post("/v1/predict", "{}", { "content-length": "999999" }));
  assert.equal(res.status, 413);
  const body = await res.json();
  assert.match(
    body.hint,
    /\(53–512 rows of 4 numbers fit, depending on their digits\), or raise api\.maxBodyBytes/,
  );
  // The README's figures for MNIST rows in the default 1 MiB body.
  assert.deepEqual(rowsThatFit(1048576, 784), { fewest: 70, most: 668 });
});

Deno.test("API turns a UsageError from the store into 422 with its message and hint", async () => {
  const { handle } = setup({ refuseSamples: true });
  const res = await handle(post("/v1/samples", JSON.stringify({ rows: [ROW], labels: [1] })));
  assert.equal(res.status, 422);
  assert.deepEqual(await res.json(), { error: "Sample store is read-only", hint: "Free some disk space" });
});

Deno.test("GET /v1/status returns the status report", async () => {
  const { handle } = setup();
  const res = await handle(new Request("http://x/v1/status"));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), sampleStatus());
});

Deno.test("GET /metrics parses as Prometheus text and counts requests and latency", async () => {
  const { handle } = setup();
  for (let i = 0; i < 3; i++) {
    await (await handle(post("/v1/predict", JSON.stringify({ rows: [ROW] })))).body?.cancel();
  }
  await (await handle(post("/v1/predict", "nope"))).body?.cancel();
  const res = await handle(new Request("http://x/metrics"));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/plain; version=0.0.4/);
  const families = await parsePrometheus(await res.text());
  const value = (name: string, labels: Record<string, string> = {}) => sampleValue(families, name, labels);
  assert.equal(value("agent_datagrams_received_total"), 5);
  assert.equal(value("agent_datagrams_accepted_total"), 1);
  assert.equal(value("agent_datagrams_rejected_total", { reason: "replay" }), 1);
  assert.equal(value("agent_sent_bytes_total"), 1200);
  assert.equal(value("agent_datagrams_rejected_total", { reason: "untrusted" }), 3);
  assert.equal(value("agent_largest_datagram_bytes"), 4000);
  assert.equal(value("agent_peers", { state: "alive" }), 1);
  assert.equal(value("agent_heldout_accuracy"), 0.9);
  assert.equal(value("process_resident_memory_bytes"), 1234);
  assert.equal(value("agent_api_requests_total", { route: "/v1/predict", code: "200" }), 3);
  assert.equal(value("agent_api_requests_total", { route: "/v1/predict", code: "400" }), 1);
  assert.equal(families.find((f) => f.name === "agent_inference_duration_seconds")?.type, "histogram");
  assert.equal(value("agent_inference_duration_seconds_count"), 3);
  assert.equal(value("agent_inference_duration_seconds_sum"), 0.006); // 2 ms per request on the manual clock
  assert.equal(value("agent_inference_duration_seconds_bucket", { le: "0.0025" }), 3);
  assert.equal(value("agent_inference_duration_seconds_bucket", { le: "0.001" }), 0);
});

Deno.test("parsePrometheus() rejects malformed exposition text", async () => {
  await assert.rejects(parsePrometheus('# TYPE x counter\nx{a="b} 1\n'), /Not valid Prometheus/);
  await assert.rejects(parsePrometheus("x abc\n"), /Not valid Prometheus/);
});

Deno.test("POST /v1/samples and /v1/predict refuse a row outside the spec's range with 422 naming row, column, value, range", async () => {
  const input = new InputCheck({ kind: "features", features: INPUT }, { range: [0, 1] });
  const { handle, stored, predicted } = setup({ input });
  for (const path of ["/v1/samples", "/v1/predict"]) {
    const res = await handle(
      post(path, JSON.stringify({ rows: [[0, 0, 0, 1], [0, 255, 0, 0]], labels: [0, 1] })),
    );
    assert.equal(res.status, 422, path);
    const body = await res.json();
    assert.equal(body.error, "rows[1], column 2: 255 is outside the model's range [0, 1]");
    assert.match(body.hint, /Give 4 values in \[0, 1\] per row/);
  }
  // Nothing of a refused request reaches the store or the model.
  assert.deepEqual(stored, []);
  assert.deepEqual(predicted, []);
});

Deno.test("POST /v1/predict gets normalised rows and names classes; /v1/samples stores the raw checked rows", async () => {
  const input = new InputCheck({ kind: "features", features: INPUT }, { range: [0, 255], scale: 1 / 255 });
  const { handle, stored, predicted } = setup({ input, classNames: ["idle", "walk", "run"] });
  const res = await handle(post("/v1/predict", JSON.stringify({ rows: [[0, 255, 51, 0], [255, 0, 0, 0]] })));
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual(predicted, [[0, 1, Math.fround(0.2), 0], [1, 0, 0, 0]]);
  assert.deepEqual(body.predictions.map((p: { label: string }) => p.label), ["idle", "walk"]);
  const s = await handle(post("/v1/samples", JSON.stringify({ rows: [[0, 255, 51, 0]], labels: [2] })));
  assert.equal(s.status, 200);
  assert.deepEqual(stored, [{ x: [0, 255, 51, 0], y: 2 }]);
});
