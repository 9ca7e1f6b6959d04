/**
 * YAML → validated {@linkcode Config}. Pure: the caller passes the text, file name and environment.
 * Errors name the key path, the value, the allowed range and the line:
 * `gossip.maxDatagram: 9000 is out of range 512..4096 (agent.yaml line 12)`.
 *
 * @module
 */
import { isMap, isScalar, LineCounter, type Node as YamlNode, type Pair, parseDocument } from "yaml";
import { UsageError } from "../errors.ts";
import { KEYS, type KeySpec } from "./schema.ts";

/** The validated configuration. */
export interface Config {
  node: { name: string };
  model: { id: string; spec: string; backend: "auto" | "webgpu" | "wasm" | "cpu" };
  data: { source: string; heldOut: number; test: string; maxSamples: number; maxSampleMiB: number };
  gossip: {
    port: number;
    bind: string;
    broadcast: string;
    sharePort: boolean;
    maxDatagram: number;
    intervalMs: number;
    peerTimeoutMs: number;
    rateLimit: number;
    swarmBytesPerSecond: number;
    transport: "udp" | "mqtt" | "both";
  };
  mqtt: {
    url: string;
    topic: string;
    clientId: string;
    username: string;
    passwordFile: string;
    protocol: "5" | "3.1.1";
    ca: string;
    cert: string;
    key: string;
    keepaliveSeconds: number;
    reconnectMinMs: number;
    reconnectMaxMs: number;
  };
  learning: {
    rate: number;
    optimizer: "adam" | "sgd";
    momentum: number;
    rateDecayRounds: number;
    rateFinal: number;
    rateSchedule: "step" | "cosine";
    averaging: number;
    pull: number;
    validateEvery: number;
    suspectClip: number;
    updateClip: number;
    rowOutlier: number;
    fanIn: number;
    fanInPeriodMs: number;
    batchSize: number;
    localSteps: number;
    roundMs: number;
    robustMerge: "trimmed-mean" | "median" | "clip" | "mean";
    deltasPerRound: number;
    checkpointMs: number;
  };
  api: { listen: string; allowRemote: boolean; maxBodyBytes: number };
  logging: { level: "debug" | "info" | "warn" | "error"; format: "auto" | "text" | "json" };
}

/** Where a config came from, for messages. */
export interface ConfigSource {
  /** File name shown in errors (e.g. `agent.yaml`), or undefined for built-in defaults. */
  file?: string;
  /** YAML text (absent = defaults only). */
  text?: string;
  /** Environment for `AGENT_*` overrides. */
  env?: Record<string, string | undefined>;
  /** Overrides from flags, by key path (highest precedence). */
  overrides?: Record<string, string | number | boolean>;
}

/** The built-in defaults. */
export function defaultConfig(): Config {
  const out: Record<string, Record<string, unknown>> = {};
  for (const k of KEYS) setPath(out, k.path, k.default);
  return out as unknown as Config;
}

/** Parses and validates; throws {@linkcode UsageError} with key path and line on the first problem. */
export function loadConfig(source: ConfigSource = {}): Config {
  const cfg = defaultConfig() as unknown as Record<string, Record<string, unknown>>;
  const where = (line?: number) => source.file ? ` (${source.file}${line ? ` line ${line}` : ""})` : "";
  const hint = source.file
    ? `Fix ${source.file}; 'agent init --help' shows how to write a fresh one`
    : undefined;

  if (source.text !== undefined && source.text.trim() !== "") {
    const lines = new LineCounter();
    const doc = parseDocument(source.text, { lineCounter: lines, uniqueKeys: true });
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const line = e.linePos?.[0]?.line;
      throw new UsageError(`Config is not valid YAML: ${firstLine(e.message)}${where(line)}`, hint);
    }
    const lineOf = (node: YamlNode | null | undefined) =>
      node?.range ? lines.linePos(node.range[0]).line : undefined;
    const root = doc.contents;
    if (root !== null && !isMap(root)) {
      throw new UsageError(
        `Config must be a mapping of sections (node, gossip, …)${where(lineOf(root))}`,
        hint,
      );
    }
    for (const section of (root?.items ?? []) as Pair<YamlNode, YamlNode>[]) {
      const sName = isScalar(section.key) ? String(section.key.value) : String(section.key);
      const sLine = lineOf(section.key);
      const sectionKeys = KEYS.filter((k) => k.path.startsWith(sName + "."));
      if (sectionKeys.length === 0) {
        throw new UsageError(
          `Unknown config section ${JSON.stringify(sName)}${where(sLine)}`,
          `Known sections: ${[...new Set(KEYS.map((k) => k.path.split(".")[0]))].join(", ")}`,
        );
      }
      if (section.value === null || (isScalar(section.value) && section.value.value === null)) continue;
      if (!isMap(section.value)) {
        throw new UsageError(
          `${sName}: must be a mapping of keys${where(lineOf(section.value) ?? sLine)}`,
          hint,
        );
      }
      for (const item of section.value.items as Pair<YamlNode, YamlNode>[]) {
        const kName = isScalar(item.key) ? String(item.key.value) : String(item.key);
        const path = `${sName}.${kName}`;
        const spec = sectionKeys.find((k) => k.path === path);
        const line = lineOf(item.key);
        if (!spec) {
          const near = closest(kName, sectionKeys.map((k) => k.path.split(".")[1]));
          throw new UsageError(
            `Unknown config key ${path}${where(line)}`,
            near
              ? `Did you mean ${sName}.${near}?`
              : `Keys of ${sName}: ${sectionKeys.map((k) => k.path).join(", ")}`,
          );
        }
        const value = isScalar(item.value)
          ? item.value.value
          : item.value === null
          ? null
          : item.value.toJSON();
        setPath(cfg, path, checkValue(spec, value, `${where(lineOf(item.value) ?? line)}`));
      }
    }
  }

  for (const spec of KEYS) {
    const raw = spec.env ? source.env?.[spec.env] : undefined;
    if (raw !== undefined && raw !== "") {
      setPath(cfg, spec.path, checkValue(spec, fromText(spec, raw), ` (environment ${spec.env})`));
    }
  }
  for (const [path, value] of Object.entries(source.overrides ?? {})) {
    const spec = KEYS.find((k) => k.path === path);
    if (!spec) throw new Error(`Bug: override of unknown config key ${path}`);
    setPath(
      cfg,
      path,
      checkValue(spec, typeof value === "string" ? fromText(spec, value) : value, " (command line)"),
    );
  }
  checkCombinations(cfg as unknown as Config, source.file ? ` (${source.file})` : "", hint);
  return cfg as unknown as Config;
}

/** Rules that involve several keys (each key alone was valid). */
function checkCombinations(c: Config, where: string, hint: string | undefined): void {
  const m = c.mqtt;
  if (c.gossip.transport !== "udp" && m.url === "") {
    throw new UsageError(
      `mqtt.url is required when gossip.transport is ${JSON.stringify(c.gossip.transport)}${where}`,
      hint ?? "Set mqtt.url to the broker, e.g. mqtt://broker.local:1883, or gossip.transport to udp",
    );
  }
  const port = /:(\d+)\/?$/.exec(m.url.replace(/^mqtts?:\/\//, ""))?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    throw new UsageError(
      `mqtt.url: ${JSON.stringify(m.url)} has port ${port}, not in 1..65535${where}`,
      hint,
    );
  }
  const tls = m.url.startsWith("mqtts://");
  for (const k of ["ca", "cert", "key"] as const) {
    if (m[k] !== "" && !tls) {
      throw new UsageError(
        `mqtt.${k} is set but mqtt.url ${JSON.stringify(m.url)} is not mqtts://${where}`,
        "Use an mqtts:// broker address for TLS, or remove the TLS files",
      );
    }
  }
  if ((m.cert === "") !== (m.key === "")) {
    throw new UsageError(`mqtt.cert and mqtt.key must be set together${where}`, hint);
  }
  if (m.passwordFile !== "" && m.username === "") {
    throw new UsageError(`mqtt.passwordFile is set but mqtt.username is empty${where}`, hint);
  }
  if (m.reconnectMinMs > m.reconnectMaxMs) {
    throw new UsageError(
      `mqtt.reconnectMinMs ${m.reconnectMinMs} is above mqtt.reconnectMaxMs ${m.reconnectMaxMs}${where}`,
      hint,
    );
  }
}

function fromText(spec: KeySpec, raw: string): unknown {
  switch (spec.type.kind) {
    case "int":
    case "number":
      return raw.trim() === "" || isNaN(Number(raw)) ? raw : Number(raw);
    case "bool":
      return raw === "true" ? true : raw === "false" ? false : raw;
    default:
      return raw;
  }
}

/** Checks one value against its spec; `where` is appended to the message. */
export function checkValue(spec: KeySpec, value: unknown, where: string): string | number | boolean {
  const show = (v: unknown) =>
    typeof v === "string" ? JSON.stringify(spec.redact ? spec.redact(v) : v) : String(v);
  const t = spec.type;
  const fail = (what: string) => new UsageError(`${spec.path}: ${show(value)} ${what}${where}`);
  switch (t.kind) {
    case "int":
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw fail(`is not ${t.kind === "int" ? "an integer" : "a number"}`);
      }
      if (t.kind === "int" && !Number.isInteger(value)) throw fail("is not an integer");
      if (value < t.min || value > t.max) throw fail(`is out of range ${t.min}..${t.max}`);
      return value;
    case "bool":
      if (typeof value !== "boolean") throw fail("is not true or false");
      return value;
    case "enum":
      if (typeof value !== "string" || !t.values.includes(value)) {
        throw fail(`is not one of ${t.values.join(", ")}`);
      }
      return value;
    case "string":
      if (typeof value !== "string") throw fail("is not a string (quote it)");
      if (t.maxLength !== undefined && value.length > t.maxLength) {
        throw fail(`is longer than ${t.maxLength} characters`);
      }
      if (t.pattern && value !== "" && !t.pattern.test(value)) {
        throw fail(`is not valid: ${t.patternHint ?? t.pattern}`);
      }
      return value;
  }
}

function setPath(obj: Record<string, Record<string, unknown>>, path: string, value: unknown): void {
  const [s, k] = path.split(".");
  (obj[s] ??= {})[k] = value;
}

function firstLine(s: string): string {
  return s.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
}

/** The candidate closest to `word` by edit distance, if it is close enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
