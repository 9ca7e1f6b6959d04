import assert from "node:assert/strict";
import { parse } from "yaml";
import {
  defaultConfig,
  KEYS,
  loadConfig,
  renderConfigReference,
  renderDefaultConfig,
} from "../../src/config/mod.ts";
import { UsageError } from "../../src/errors.ts";

const BAD: { yaml: string; error: RegExp }[] = [
  {
    yaml: "gossip:\n  port: [1, 2\n",
    error: /Config is not valid YAML: Flow sequence.*\(agent\.yaml line \d+\)/,
  },
  { yaml: "gossip:\n  port: 1\n  port: 2\n", error: /not valid YAML.*line 3/ },
  { yaml: "- just\n- a list\n", error: /must be a mapping of sections.*line 1/ },
  { yaml: "gosip:\n  port: 1\n", error: /Unknown config section "gosip" \(agent\.yaml line 1\)/ },
  { yaml: "gossip:\n  prot: 1\n", error: /Unknown config key gossip\.prot \(agent\.yaml line 2\)/ },
  { yaml: "gossip: 5\n", error: /gossip: must be a mapping of keys \(agent\.yaml line 1\)/ },
  {
    yaml: 'gossip:\n  port: "41234"\n',
    error: /gossip\.port: "41234" is not an integer \(agent\.yaml line 2\)/,
  },
  { yaml: "gossip:\n  port: 1.5\n", error: /gossip\.port: 1\.5 is not an integer/ },
  {
    yaml: "\n\ngossip:\n  maxDatagram: 9000\n",
    error: /gossip\.maxDatagram: 9000 is out of range 512\.\.4096 \(agent\.yaml line 4\)/,
  },
  { yaml: "gossip:\n  maxDatagram: 511\n", error: /out of range 512\.\.4096/ },
  {
    yaml: "learning:\n  fanInPeriodMs: 10\n",
    error: /learning\.fanInPeriodMs: 10 is out of range 1000\.\.86400000 \(agent\.yaml line 2\)/,
  },
  { yaml: "learning:\n  fanIn: -1\n", error: /learning\.fanIn: -1 is out of range 0\.\.4096/ },
  {
    yaml: "data:\n  maxSampleMiB: 0\n",
    error: /data\.maxSampleMiB: 0 is out of range 1\.\.65536 \(agent\.yaml line 2\)/,
  },
  {
    yaml: "gossip:\n  broadcast: 192.168.1.300\n",
    error: /gossip\.broadcast: "192\.168\.1\.300" is not valid: use an IPv4 broadcast address.*line 2/,
  },
  {
    yaml: "gossip:\n  broadcast: kitchen.local\n",
    error: /gossip\.broadcast: "kitchen\.local" is not valid/,
  },
  { yaml: "gossip:\n  broadcast: 10.0.0.0255\n", error: /gossip\.broadcast: "10\.0\.0\.0255" is not valid/ },
  { yaml: "learning:\n  rate: .nan\n", error: /learning\.rate: NaN is not a number/ },
  {
    yaml: "learning:\n  pull: 0.9\n",
    error: /learning\.pull: 0\.9 is out of range 0\.\.0\.5 \(agent\.yaml line 2\)/,
  },
  { yaml: "learning:\n  averaging: 1\n", error: /learning\.averaging: 1 is out of range 0\.\.0\.9999/ },
  { yaml: "learning:\n  validateEvery: 2.5\n", error: /learning\.validateEvery: 2\.5 is not an integer/ },
  {
    yaml: "model:\n  backend: gpu\n",
    error: /model\.backend: "gpu" is not one of auto, webgpu, wasm, cpu \(agent\.yaml line 2\)/,
  },
  { yaml: "api:\n  allowRemote: yes\n", error: /api\.allowRemote: "yes" is not true or false/ },
  { yaml: "node:\n  name: 42\n", error: /node\.name: 42 is not a string/ },
  { yaml: 'node:\n  name: "has space"\n', error: /node\.name: "has space" is not valid/ },
  { yaml: "api:\n  listen: localhost\n", error: /api\.listen: "localhost" is not valid: HOST:PORT/ },
  {
    yaml: "gossip:\n  transport: mqttt\n",
    error: /gossip\.transport: "mqttt" is not one of udp, mqtt, both \(agent\.yaml line 2\)/,
  },
  {
    yaml: "gossip:\n  transport: both\n",
    error: /mqtt\.url is required when gossip\.transport is "both" \(agent\.yaml\)/,
  },
  {
    yaml: "mqtt:\n  url: http://broker:1883\n",
    error:
      /mqtt\.url: "http:\/\/broker:1883" is not valid: mqtt:\/\/HOST\[:PORT\] or mqtts:\/\/HOST\[:PORT\].*line 2/,
  },
  {
    yaml: "mqtt:\n  url: mqtt://user:secret@broker\n",
    error:
      /mqtt\.url: "mqtt:\/\/<credentials removed>@broker" is not valid: .*without user, password or path/,
  },
  { yaml: "mqtt:\n  url: mqtt://broker:70000\n", error: /mqtt\.url: "mqtt:\/\/broker:70000" has port 70000/ },
  { yaml: "mqtt:\n  topic: agent/+\n", error: /mqtt\.topic: "agent\/\+" is not valid: .*'\+' or '#'/ },
  { yaml: "mqtt:\n  topic: $SYS/x\n", error: /mqtt\.topic: "\$SYS\/x" is not valid/ },
  { yaml: "mqtt:\n  clientId: a b\n", error: /mqtt\.clientId: "a b" is not valid/ },
  { yaml: "mqtt:\n  protocol: 4\n", error: /mqtt\.protocol: 4 is not one of 5, 3\.1\.1/ },
  {
    yaml: "mqtt:\n  url: mqtt://broker\n  ca: /etc/ca.pem\n",
    error: /mqtt\.ca is set but mqtt\.url "mqtt:\/\/broker" is not mqtts:\/\//,
  },
  {
    yaml: "mqtt:\n  url: mqtts://broker\n  cert: /etc/c.pem\n",
    error: /mqtt\.cert and mqtt\.key must be set together/,
  },
  {
    yaml: "mqtt:\n  passwordFile: /etc/pw\n",
    error: /mqtt\.passwordFile is set but mqtt\.username is empty/,
  },
  {
    yaml: "mqtt:\n  reconnectMinMs: 5000\n  reconnectMaxMs: 1000\n",
    error: /mqtt\.reconnectMinMs 5000 is above mqtt\.reconnectMaxMs 1000/,
  },
  { yaml: "mqtt:\n  keepaliveSeconds: 1\n", error: /mqtt\.keepaliveSeconds: 1 is out of range 5\.\.3600/ },
];

Deno.test("loadConfig() rejects bad YAML with the key path and line number", () => {
  for (const { yaml, error } of BAD) {
    assert.throws(() => loadConfig({ file: "agent.yaml", text: yaml }), (e: unknown) => {
      assert.ok(e instanceof UsageError, `${JSON.stringify(yaml)} threw ${e}`);
      assert.match(e.message, error, JSON.stringify(yaml));
      return true;
    });
  }
});

Deno.test("loadConfig() never repeats a password written into mqtt.url", () => {
  assert.throws(
    () => loadConfig({ file: "agent.yaml", text: "mqtt:\n  url: mqtts://site-a:hunter2@broker:8883\n" }),
    (e: unknown) =>
      e instanceof UsageError && !e.message.includes("hunter2") && !e.message.includes("site-a"),
  );
});

Deno.test("loadConfig() accepts an MQTT setup and keeps UDP the default", () => {
  assert.equal(loadConfig({}).gossip.transport, "udp");
  const c = loadConfig({
    text: "gossip:\n  transport: both\nmqtt:\n  url: mqtts://[fd00::1]:8883\n  username: site-a\n" +
      "  passwordFile: /etc/agent/mqtt.pw\n  ca: /etc/agent/ca.pem\n  topic: farm/agents\n",
  });
  assert.equal(c.gossip.transport, "both");
  assert.equal(c.mqtt.url, "mqtts://[fd00::1]:8883");
  assert.equal(c.mqtt.topic, "farm/agents");
  assert.equal(c.mqtt.protocol, "5");
  assert.equal(c.mqtt.reconnectMinMs, 1000);
  const env = loadConfig({
    env: { AGENT_GOSSIP_TRANSPORT: "mqtt", AGENT_MQTT_URL: "mqtt://10.0.0.1" },
  });
  assert.equal(env.gossip.transport, "mqtt");
  assert.throws(
    () => loadConfig({ env: { AGENT_GOSSIP_TRANSPORT: "mqtt" } }),
    /mqtt\.url is required when gossip\.transport is "mqtt"/,
  );
});

Deno.test("loadConfig() accepts the boundaries of every range", () => {
  assert.equal(loadConfig({ text: "gossip:\n  maxDatagram: 512\n" }).gossip.maxDatagram, 512);
  assert.equal(loadConfig({ text: "gossip:\n  maxDatagram: 4096\n" }).gossip.maxDatagram, 4096);
  assert.equal(loadConfig({ text: "gossip:\n  port: 65535\n" }).gossip.port, 65535);
});

Deno.test("loadConfig() suggests the closest key for a typo", () => {
  assert.throws(
    () => loadConfig({ file: "a.yaml", text: "gossip:\n  maxDatagarm: 1000\n" }),
    (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.hint, "Did you mean gossip.maxDatagram?");
      return true;
    },
  );
});

Deno.test("loadConfig() with no file gives the defaults", () => {
  assert.deepEqual(loadConfig(), defaultConfig());
  assert.deepEqual(loadConfig({ text: "" }), defaultConfig());
  assert.deepEqual(loadConfig({ text: "# only a comment\n" }), defaultConfig());
  assert.equal(defaultConfig().gossip.maxDatagram, 1232);
  assert.equal(defaultConfig().api.listen, "127.0.0.1:7070");
});

Deno.test("environment overrides apply to the keys that declare them and are validated", () => {
  const cfg = loadConfig({
    text: "gossip:\n  port: 1000\n",
    env: { AGENT_GOSSIP_PORT: "2000", AGENT_LOG_LEVEL: "debug" },
  });
  assert.equal(cfg.gossip.port, 2000);
  assert.equal(cfg.logging.level, "debug");
  assert.throws(
    () => loadConfig({ env: { AGENT_GOSSIP_PORT: "70000" } }),
    /gossip\.port: 70000 is out of range 1\.\.65535 \(environment AGENT_GOSSIP_PORT\)/,
  );
  assert.throws(
    () => loadConfig({ env: { AGENT_GOSSIP_PORT: "abc" } }),
    /gossip\.port: "abc" is not an integer/,
  );
});

Deno.test("flag overrides win over file and environment", () => {
  const cfg = loadConfig({
    text: "logging:\n  level: warn\n",
    env: { AGENT_LOG_LEVEL: "error" },
    overrides: { "logging.level": "debug" },
  });
  assert.equal(cfg.logging.level, "debug");
});

Deno.test("renderDefaultConfig() round-trips to the defaults and documents every key", () => {
  const text = renderDefaultConfig();
  assert.deepEqual(loadConfig({ file: "agent.yaml", text }), defaultConfig());
  for (const k of KEYS) assert.ok(text.includes(k.doc), k.path);
  const withName = renderDefaultConfig({ "node.name": "cam-7" });
  assert.equal(loadConfig({ text: withName }).node.name, "cam-7");
  assert.equal((parse(withName) as { node: { name: string } }).node.name, "cam-7");
});

Deno.test("renderConfigReference() has one row per key", () => {
  const rows = renderConfigReference().split("\n").filter((l) => l.startsWith("| `"));
  assert.equal(rows.length, KEYS.length);
});
