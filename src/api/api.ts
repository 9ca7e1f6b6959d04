/**
 * The local HTTP API as one pure function, `handle(Request) → Promise<Response>`, built from injected
 * functions (predict, addSamples, status, metrics). It speaks web standards only, so tests call it with
 * `new Request(...)` and no sockets; `serve.ts` puts it on `Deno.serve`.
 *
 * | method | path          | body                                   | answer                                   |
 * |--------|---------------|----------------------------------------|------------------------------------------|
 * | POST   | /v1/predict   | `{"rows": [[x0, …, xN-1], …]}`         | `{"predictions": [{"class", "probabilities"}]}` |
 * | POST   | /v1/samples   | `{"rows": [[…], …], "labels": [y, …]}` | `{"accepted": n, "stored": total}`       |
 * | GET    | /v1/status    | -                                      | {@linkcode StatusReport}                 |
 * | GET    | /metrics      | -                                      | Prometheus text format                   |
 * | GET    | /, /v1/history, /assets/… | -                          | the dashboard (see `dashboard/routes.ts`) |
 *
 * Every answer carries the dashboard's {@linkcode SECURITY_HEADERS} (Content-Security-Policy, nosniff).
 * Every refusal is a 4xx with `{"error": reason, "hint": what to do}`; bodies larger than
 * `maxBodyBytes` are refused from their `Content-Length` before any byte is read, or as soon as a
 * streamed body passes the limit. A bad request never reaches the model or the sample store.
 *
 * @module
 */
import type { Clock } from "../time.ts";
import type { Logger } from "../log.ts";
import { UsageError } from "../errors.ts";
import type { InputCheck } from "../model/mod.ts";
import type { StatusReport } from "./status.ts";
import {
  DASHBOARD_ROUTES,
  type DashboardDeps,
  DashboardRequestError,
  dashboardResponse,
  SECURITY_HEADERS,
} from "./dashboard/routes.ts";

/** What the API needs from the daemon. */
export interface ApiDeps {
  /** Values per input row (the model spec's input size). */
  inputSize: number;
  /** Number of classes the model predicts. */
  classes: number;
  /** Names of the classes (from the spec), added to predictions as `label`. */
  classNames?: string[];
  /**
   * The spec's input check: rows outside its range are refused (422 naming row, column, value and
   * range); predictions get the normalised rows, `addSamples` the raw (checked) ones.
   */
  input?: InputCheck;
  /** Class probabilities, row-major `count × classes`, for `count` rows of `inputSize` values. */
  predict(x: Float32Array, count: number): Promise<Float32Array>;
  /**
   * Stores labelled samples for local training. May throw {@linkcode UsageError} to refuse them
   * (answered with 422 and its message).
   */
  addSamples(x: Float32Array, y: Uint8Array, count: number): Promise<{ stored: number }>;
  status(): StatusReport | Promise<StatusReport>;
  metrics: {
    text(): Promise<string>;
    readonly contentType: string;
    inference(seconds: number): void;
    request(route: string, code: number): void;
  };
  /** Largest request body in bytes (`api.maxBodyBytes`). */
  maxBodyBytes: number;
  /** Most rows in one request (default 1024). */
  maxRows?: number;
  /** Monotonic clock for the inference latency histogram. */
  clock: Clock;
  /** The dashboard page and its data; without it, `/` and `/v1/history` answer 404. */
  dashboard?: DashboardDeps;
  logger: Logger;
}

/** A request handler in the web-standard shape. */
export type Handler = (req: Request) => Promise<Response>;

/** The routes, for 404/405 messages. */
export const ROUTES = {
  "/v1/predict": "POST",
  "/v1/samples": "POST",
  "/v1/status": "GET",
  "/metrics": "GET",
  ...Object.fromEntries(DASHBOARD_ROUTES.map((p) => [p, "GET"])) as Record<
    typeof DASHBOARD_ROUTES[number],
    "GET"
  >,
} as const;

/** An HTTP refusal with a reason (never a bug). */
class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly hint?: string) {
    super(message);
  }
}

/** Builds the API handler. */
export function createApi(deps: ApiDeps): Handler {
  const maxRows = deps.maxRows ?? 1024;
  return async (req) => {
    const path = new URL(req.url).pathname;
    const route = path in ROUTES ? path : "other";
    let res: Response;
    try {
      res = await dispatch(req, path);
    } catch (e) {
      if (e instanceof HttpError || e instanceof DashboardRequestError) {
        res = errorResponse(e.status, e.message, e.hint);
      } else if (e instanceof UsageError) {
        res = errorResponse(422, e.message, e.hint);
      } else {
        deps.logger.error("API request failed", { path, error: e });
        res = errorResponse(500, "Internal error; see the agent's log");
      }
      // Do not leave an unread body behind (the connection is reused by keep-alive clients).
      if (req.body && !req.bodyUsed) await req.body.cancel().catch(() => {});
    }
    deps.metrics.request(route, res.status);
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.headers.set(k, v);
    return res;
  };

  async function dispatch(req: Request, path: string): Promise<Response> {
    const allowed = (ROUTES as Record<string, string>)[path];
    const isDashboard = (DASHBOARD_ROUTES as readonly string[]).includes(path);
    if (allowed === undefined || (isDashboard && !deps.dashboard)) {
      throw new HttpError(
        404,
        `No such endpoint: ${JSON.stringify(path)}`,
        `Endpoints: ${
          Object.entries(ROUTES).filter(([p]) => !p.startsWith("/assets/")).map(([p, m]) => `${m} ${p}`)
            .join(", ")
        }`,
      );
    }
    if (req.method !== allowed && !(allowed === "GET" && req.method === "HEAD")) {
      const e = new HttpError(405, `${req.method} is not allowed on ${path}`, `Use ${allowed} ${path}`);
      throw e;
    }
    if (isDashboard) return await dashboardResponse(new URL(req.url), deps.dashboard!);
    switch (path) {
      case "/v1/predict":
        return await predict(req);
      case "/v1/samples":
        return await samples(req);
      case "/v1/status":
        return json(200, await deps.status());
      default:
        return new Response(await deps.metrics.text(), {
          status: 200,
          headers: { "content-type": deps.metrics.contentType },
        });
    }
  }

  async function predict(req: Request): Promise<Response> {
    const body = await readJson(req, deps.maxBodyBytes, deps.inputSize);
    const { x, count } = parseRows(body, deps.inputSize, maxRows, deps.input);
    const t0 = deps.clock.now();
    const probs = await deps.predict(x, count);
    deps.metrics.inference((deps.clock.now() - t0) / 1000);
    const k = deps.classes;
    if (probs.length !== count * k) {
      throw new Error(`Bug: predict returned ${probs.length} values for ${count} rows × ${k} classes`);
    }
    const predictions = [];
    for (let i = 0; i < count; i++) {
      const p = Array.from(probs.subarray(i * k, (i + 1) * k));
      let best = 0;
      for (let c = 1; c < k; c++) if (p[c] > p[best]) best = c;
      const label = deps.classNames?.[best];
      predictions.push(
        label === undefined ? { class: best, probabilities: p } : { class: best, label, probabilities: p },
      );
    }
    return json(200, { predictions });
  }

  async function samples(req: Request): Promise<Response> {
    const body = await readJson(req, deps.maxBodyBytes, deps.inputSize);
    const { raw: x, count } = parseRows(body, deps.inputSize, maxRows, deps.input);
    const labels = (body as Record<string, unknown>).labels;
    if (!Array.isArray(labels)) {
      throw new HttpError(422, 'Field "labels" must be an array of class numbers', sampleHint(deps));
    }
    if (labels.length !== count) {
      throw new HttpError(
        422,
        `Field "labels" has ${labels.length} entries but "rows" has ${count}`,
        "Give one label per row",
      );
    }
    const y = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const v = labels[i];
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= deps.classes) {
        throw new HttpError(
          422,
          `labels[${i}] is ${show(v)}, not a class number 0..${deps.classes - 1}`,
          sampleHint(deps),
        );
      }
      y[i] = v;
    }
    const { stored } = await deps.addSamples(x, y, count);
    return json(200, { accepted: count, stored });
  }
}

function sampleHint(deps: ApiDeps): string {
  const names = deps.classNames ? ` (${deps.classNames.map((n, i) => `${i} = ${n}`).join(", ")})` : "";
  return `Send {"rows": [[${deps.inputSize} numbers], …], "labels": [0..${deps.classes - 1}, …]}${names}`;
}

/** Reads and parses a JSON body, refusing wrong content types and oversized bodies before reading them. */
/** JSON bytes per value: `0,` at least, a full-precision float such as `0.5294117647058824,` at most. */
const JSON_BYTES_PER_VALUE = { min: 2, max: 19 } as const;

/**
 * How many rows of `inputSize` values fit in a body of `maxBytes`: from all full-precision floats to all
 * single digits (real MNIST rows from the mnist package average 2.8 bytes per value: ≈ 470 in 1 MiB).
 */
export function rowsThatFit(maxBytes: number, inputSize: number): { fewest: number; most: number } {
  return {
    fewest: Math.floor(maxBytes / (inputSize * JSON_BYTES_PER_VALUE.max)),
    most: Math.floor(maxBytes / (inputSize * JSON_BYTES_PER_VALUE.min)),
  };
}

async function readJson(req: Request, maxBytes: number, inputSize: number): Promise<unknown> {
  const type = req.headers.get("content-type");
  const mediaType = type?.split(";")[0].trim().toLowerCase();
  if (mediaType !== "application/json") {
    throw new HttpError(
      415,
      `Content-Type must be application/json, got ${type ? JSON.stringify(type) : "none"}`,
      "Send the body as JSON with the header 'Content-Type: application/json'",
    );
  }
  const charset = /;\s*charset=("?)([^";]+)\1/i.exec(type ?? "")?.[2]?.toLowerCase();
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    throw new HttpError(415, `Charset ${JSON.stringify(charset)} is not supported`, "Send UTF-8 JSON");
  }
  const tooLarge = (n: string) =>
    new HttpError(
      413,
      `Body of ${n} bytes is larger than the limit of ${maxBytes} bytes`,
      `Send fewer rows per request (${rowsThatFit(maxBytes, inputSize).fewest}–${
        rowsThatFit(maxBytes, inputSize).most
      } rows of ${inputSize} numbers fit, depending on their digits), or raise api.maxBodyBytes`,
    );
  const declared = req.headers.get("content-length");
  if (declared !== null) {
    if (!/^\d+$/.test(declared.trim())) {
      throw new HttpError(400, `Content-Length ${JSON.stringify(declared)} is not a number`);
    }
    if (Number(declared) > maxBytes) throw tooLarge(declared.trim());
  }
  if (req.body === null) throw new HttpError(400, "Body is empty", "Send a JSON object");
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge(`more than ${maxBytes}`);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.length;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, "Body is not valid UTF-8", "Send UTF-8 JSON");
  }
  if (text.trim() === "") throw new HttpError(400, "Body is empty", "Send a JSON object");
  try {
    return JSON.parse(text);
  } catch (e) {
    const nonJson = /\b(NaN|-?Infinity)\b/.exec(text);
    throw new HttpError(
      400,
      `Body is not valid JSON: ${(e as Error).message}`,
      nonJson ? `${nonJson[1]} is not a JSON number; send finite numbers only` : "Check the JSON syntax",
    );
  }
}

/**
 * Validates `{"rows": [[…], …]}` into flat Float32Arrays: `raw` as sent, `x` normalised by `input`
 * (the same array when the spec does not transform).
 */
function parseRows(
  body: unknown,
  inputSize: number,
  maxRows: number,
  input?: InputCheck,
): { x: Float32Array; raw: Float32Array; count: number } {
  const shape = `{"rows": [[${inputSize} numbers], …]}`;
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(422, `Body must be a JSON object like ${shape}`);
  }
  const rows = (body as Record<string, unknown>).rows;
  if (!Array.isArray(rows)) {
    throw new HttpError(422, 'Field "rows" must be an array of rows', `Send ${shape}`);
  }
  if (rows.length === 0) throw new HttpError(422, 'Field "rows" is empty', `Send ${shape}`);
  if (rows.length > maxRows) {
    throw new HttpError(
      413,
      `${rows.length} rows is more than the ${maxRows} allowed per request`,
      "Split the rows over several requests",
    );
  }
  const x = new Float32Array(rows.length * inputSize);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (!Array.isArray(row)) throw new HttpError(422, `rows[${i}] is not an array`, `Send ${shape}`);
    if (row.length !== inputSize) {
      throw new HttpError(
        422,
        `rows[${i}] has ${row.length} values, the model takes ${inputSize}`,
        `Send ${shape}`,
      );
    }
    for (let j = 0; j < inputSize; j++) {
      const v = row[j];
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new HttpError(
          422,
          `rows[${i}][${j}] is ${show(v)}, not a finite number`,
          input?.hint() ?? "Every value must be a finite number",
        );
      }
      if (Math.abs(v) > 1e6) {
        throw new HttpError(
          422,
          `rows[${i}][${j}] is ${v}, outside -1e6..1e6`,
          input?.hint() ?? "Scale the inputs",
        );
      }
      x[i * inputSize + j] = v;
    }
  }
  if (!input) return { x, raw: x, count: rows.length };
  const normalised = input.transforms ? new Float32Array(x.length) : x;
  for (let i = 0; i < rows.length; i++) {
    const problem = input.prepare(x.subarray(i * inputSize, (i + 1) * inputSize), normalised, i * inputSize);
    if (problem) throw new HttpError(422, `rows[${i}], ${input.explain(problem)}`, input.hint());
  }
  return { x: normalised, raw: x, count: rows.length };
}

/** A value for an error message: numbers as JavaScript prints them (Infinity), the rest as JSON. */
function show(v: unknown): string {
  return typeof v === "number" ? String(v) : JSON.stringify(v) ?? String(v);
}

function json(status: number, value: unknown): Response {
  return new Response(JSON.stringify(value) + "\n", {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

function errorResponse(status: number, message: string, hint?: string): Response {
  return json(status, hint ? { error: message, hint } : { error: message });
}
