/**
 * Every config key in one table: its type, default, allowed range and the comment that documents it
 * (used for the commented default `agent.yaml` and the README config reference). Adding a key is one
 * entry here.
 *
 * @module
 */

/** How a key's value is checked. */
export type KeyType =
  | { kind: "string"; pattern?: RegExp; patternHint?: string; maxLength?: number }
  | { kind: "int"; min: number; max: number }
  | { kind: "number"; min: number; max: number }
  | { kind: "bool" }
  | { kind: "enum"; values: readonly string[] };

const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
/** A dotted-quad IPv4 address, each number 0–255. */
const IPV4 = new RegExp(`^(${OCTET}\\.){3}${OCTET}$`);

/** One config key. */
export interface KeySpec {
  /** Dotted path, e.g. `gossip.maxDatagram`. */
  path: string;
  type: KeyType;
  /** Default value, or a function of the environment (e.g. the host name). */
  default: string | number | boolean;
  /** One or two sentences for the YAML comment and the README. */
  doc: string;
  /** Environment variable that overrides the file (only for keys that need it). */
  env?: string;
  /** Hides secrets a wrong value may carry before it is shown in an error. */
  redact?: (value: string) => string;
}

/** Section comments for the generated YAML. */
export const SECTIONS: Record<string, string> = {
  node: "This board.",
  model: "Which model the swarm learns. Every peer must run the same model (id, version and shape).",
  data: "This board's own private training data. It never leaves the device.",
  gossip: "UDP broadcast gossip with trusted peers.",
  mqtt:
    "Many sites: the same signed datagrams through an MQTT broker (used when gossip.transport is mqtt or both).",
  learning: "Local training and merging of peers' updates.",
  api: "Local HTTP API (predict, samples, status, metrics).",
  logging: "Logging.",
};

/** The config keys. */
export const KEYS: readonly KeySpec[] = [
  {
    path: "node.name",
    type: {
      kind: "string",
      pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/,
      patternHint: "1-32 letters, digits, '.', '_' or '-'",
    },
    default: "",
    doc: "Name shown to peers; empty means the host name.",
    env: "AGENT_NODE_NAME",
  },
  {
    path: "model.id",
    type: {
      kind: "string",
      pattern: /^[a-z0-9][a-z0-9-]{0,63}$/,
      patternHint: "a model id, e.g. mnist-mlp (see 'agent models')",
    },
    default: "mnist-mlp",
    doc:
      "Model spec id: a built-in one (see 'agent models') or one of this board's own specs in <state>/models.",
  },
  {
    path: "model.spec",
    type: { kind: "string", maxLength: 4096 },
    default: "",
    doc:
      "Path of your own model spec file (YAML); it is copied into <state>/models and its id is the model id. Empty = use model.id.",
  },
  {
    path: "model.backend",
    type: { kind: "enum", values: ["auto", "webgpu", "wasm", "cpu"] },
    default: "auto",
    doc:
      "Compute backend. auto tries webgpu, then wasm (SIMD), then cpu; a forced backend that is unavailable is an error.",
    env: "AGENT_BACKEND",
  },
  {
    path: "data.source",
    type: { kind: "string", maxLength: 4096 },
    default: "",
    doc:
      "Labelled samples to learn from: a JSONL/CSV file or a directory of them; empty = only samples posted to the API.",
  },
  {
    path: "data.heldOut",
    type: { kind: "number", min: 0, max: 0.5 },
    default: 0.1,
    doc: "Fraction of local samples kept aside to measure accuracy (never trained on).",
  },
  {
    path: "data.test",
    type: { kind: "string", maxLength: 4096 },
    default: "",
    doc:
      "Optional labelled samples used only to measure accuracy (e.g. a shared test set); empty = hold out data.heldOut of the local samples.",
  },
  {
    path: "data.maxSamples",
    type: { kind: "int", min: 100, max: 10000000 },
    default: 50000,
    doc: "Most samples kept from POST /v1/samples (in <state>/samples); the oldest are dropped first.",
  },
  {
    path: "data.maxSampleMiB",
    type: { kind: "int", min: 1, max: 65536 },
    default: 32,
    doc:
      "Most memory (MiB) the posted samples may take; with many values per row it keeps fewer than data.maxSamples (784 values: 10,700 rows), so the service stays within its MemoryMax.",
  },
  {
    path: "gossip.port",
    type: { kind: "int", min: 1, max: 65535 },
    default: 41234,
    doc: "UDP port every peer listens and broadcasts on.",
    env: "AGENT_GOSSIP_PORT",
  },
  {
    path: "gossip.bind",
    type: { kind: "string", maxLength: 64 },
    default: "0.0.0.0",
    doc: "Address the UDP socket binds (0.0.0.0 is needed to receive broadcasts).",
  },
  {
    path: "gossip.broadcast",
    type: {
      kind: "string",
      maxLength: 15,
      pattern: IPV4,
      patternHint: "use an IPv4 broadcast address such as 192.168.1.255 (four numbers 0–255)",
    },
    default: "255.255.255.255",
    doc:
      "Broadcast address to send to: the LAN's subnet broadcast (e.g. 192.168.1.255), or 127.255.255.255 on one machine.",
    env: "AGENT_GOSSIP_BROADCAST",
  },
  {
    path: "gossip.sharePort",
    type: { kind: "bool" },
    default: false,
    doc:
      "Let several agents on ONE machine share gossip.port (demos, tests); each then gets every broadcast. Off: a second agent is refused.",
  },
  {
    path: "gossip.maxDatagram",
    type: { kind: "int", min: 512, max: 4096 },
    default: 1232,
    doc: "Largest datagram sent or accepted, in bytes. 1232 is never IP-fragmented; 4096 is the hard cap.",
  },
  {
    path: "gossip.intervalMs",
    type: { kind: "int", min: 50, max: 600000 },
    default: 1000,
    doc: "Heartbeat interval in milliseconds.",
  },
  {
    path: "gossip.peerTimeoutMs",
    type: { kind: "int", min: 1000, max: 3600000 },
    default: 15000,
    doc: "A peer not heard from for this long is shown as not alive.",
  },
  {
    path: "gossip.rateLimit",
    type: { kind: "int", min: 1, max: 100000 },
    default: 500,
    doc: "Datagrams per second accepted from one peer (token bucket; bursts up to 2 seconds' worth).",
  },
  {
    path: "gossip.swarmBytesPerSecond",
    type: { kind: "int", min: 1000, max: 100000000 },
    default: 32000,
    doc:
      "Airtime the whole swarm may use, bytes/s; a larger swarm stretches its rounds and Hellos to fit. 32000 = 28% of a 2.4 GHz channel whose broadcasts go at 1 Mb/s, 5% at 6 Mb/s; up to 12 boards nothing changes.",
  },
  {
    path: "gossip.transport",
    type: { kind: "enum", values: ["udp", "mqtt", "both"] },
    default: "udp",
    doc:
      "udp: LAN broadcast only; mqtt: only through the broker in the mqtt section; both: this board bridges its LAN and the broker (one per site is enough).",
    env: "AGENT_GOSSIP_TRANSPORT",
  },
  {
    path: "mqtt.url",
    type: {
      kind: "string",
      pattern: /^mqtts?:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?\/?$/,
      patternHint: "mqtt://HOST[:PORT] or mqtts://HOST[:PORT], without user, password or path",
      maxLength: 512,
    },
    default: "",
    redact: (v) => v.replace(/\/\/[^/]*@/, "//<credentials removed>@"),
    doc:
      "Broker address, e.g. mqtts://broker.example.net:8883 (default ports 1883 and 8883). Required by gossip.transport mqtt and both.",
    env: "AGENT_MQTT_URL",
  },
  {
    path: "mqtt.topic",
    type: {
      kind: "string",
      pattern: /^(?!\$)[^\s+#\p{Cc}]{1,200}$/u,
      patternHint: "1-200 characters without spaces, '+' or '#', not starting with '$'",
    },
    default: "",
    doc:
      "Topic every board of the swarm publishes to and subscribes to; empty = agent/<model hash in hex>, so boards of one model meet.",
  },
  {
    path: "mqtt.clientId",
    type: {
      kind: "string",
      pattern: /^[A-Za-z0-9._-]{1,64}$/,
      patternHint: "1-64 letters, digits, '.', '_' or '-'",
    },
    default: "",
    doc: "MQTT client id (unique per board); empty = agent- and the first 16 hex digits of this board's key.",
  },
  {
    path: "mqtt.username",
    type: { kind: "string", maxLength: 256 },
    default: "",
    doc: "Broker user name; empty = connect without credentials.",
  },
  {
    path: "mqtt.passwordFile",
    type: { kind: "string", maxLength: 4096 },
    default: "",
    doc:
      "File holding the broker password (first line); must be mode 0600 or stricter. The password never appears in logs or status.",
  },
  {
    path: "mqtt.protocol",
    type: { kind: "enum", values: ["5", "3.1.1"] },
    default: "5",
    doc:
      "MQTT protocol version. 5 lets the board refuse messages over 64 KiB at the broker and skip its own echoes.",
  },
  {
    path: "mqtt.ca",
    type: { kind: "string", maxLength: 4096 },
    default: "",
    doc: "PEM file of the CA that signed the broker's certificate (mqtts://); empty = the system's CAs.",
  },
  {
    path: "mqtt.cert",
    type: { kind: "string", maxLength: 4096 },
    default: "",
    doc: "PEM client certificate for brokers that authenticate boards by certificate (with mqtt.key).",
  },
  {
    path: "mqtt.key",
    type: { kind: "string", maxLength: 4096 },
    default: "",
    doc: "PEM private key of mqtt.cert; must be mode 0600 or stricter.",
  },
  {
    path: "mqtt.keepaliveSeconds",
    type: { kind: "int", min: 5, max: 3600 },
    default: 30,
    doc: "MQTT keepalive: a broker silent for 1.5 times this long counts as lost.",
  },
  {
    path: "mqtt.reconnectMinMs",
    type: { kind: "int", min: 100, max: 600000 },
    default: 1000,
    doc: "First wait before reconnecting to a lost broker; it doubles after each failure.",
  },
  {
    path: "mqtt.reconnectMaxMs",
    type: { kind: "int", min: 100, max: 3600000 },
    default: 60000,
    doc: "Longest wait between reconnection attempts.",
  },
  {
    path: "learning.rate",
    type: { kind: "number", min: 1e-6, max: 1 },
    default: 0.5,
    doc:
      "Learning rate of the local optimizer at the start (0.5 suits plain sgd; use about 0.001 with adam).",
  },
  {
    path: "learning.optimizer",
    type: { kind: "enum", values: ["sgd", "adam"] },
    default: "sgd",
    doc:
      "Local optimizer: sgd (measured far better for swarm learning: the average of the nodes' steps is one large-batch step) or adam.",
  },
  {
    path: "learning.momentum",
    type: { kind: "number", min: 0, max: 0.999 },
    default: 0,
    doc:
      "Momentum of the sgd optimizer (0 = plain SGD, measured best: with sparse publication, momentum on unpublished coordinates winds up and destabilised training).",
  },
  {
    path: "learning.rateDecayRounds",
    type: { kind: "int", min: 0, max: 100000000 },
    default: 880,
    doc: "Round at which the learning rate reaches learning.rateFinal (0 = keep learning.rate for ever).",
  },
  {
    path: "learning.rateFinal",
    type: { kind: "number", min: 1e-6, max: 1 },
    default: 0.05,
    doc: "Learning rate from round learning.rateDecayRounds on.",
  },
  {
    path: "learning.rateSchedule",
    type: { kind: "enum", values: ["step", "cosine"] },
    default: "step",
    doc: "How the rate goes from learning.rate to learning.rateFinal: step (at once) or cosine (smoothly).",
  },
  {
    path: "learning.averaging",
    type: { kind: "number", min: 0, max: 0.9999 },
    default: 0.99,
    doc:
      "From learning.rateDecayRounds on, serve a moving average of the swarm model with this decay per round (0 = serve the swarm model itself; 0.99 measured +0.3–0.5 pp).",
  },
  {
    path: "learning.pull",
    type: { kind: "number", min: 0, max: 0.5 },
    default: 0.02,
    doc:
      "Each round move this share of the way from our published model towards the swarm model (0 = off): keeps boards with different data from drifting apart; 0.02 measured best.",
  },
  {
    path: "learning.validateEvery",
    type: { kind: "int", min: 0, max: 100000 },
    default: 50,
    doc:
      "Rounds between checks of each peer's model on the local held-out samples; a peer much worse than the others is reported (agent status) and merged with learning.suspectClip, never left out (0 = off).",
  },
  {
    path: "learning.suspectClip",
    type: { kind: "number", min: 0, max: 10 },
    default: 3,
    doc:
      "Clip radius, as a multiple of the median distance, of a peer that failed the validation check (others get 3; 3 = only report it). Lower it only if the boards' data are alike: with different data honest boards fail the check.",
  },
  {
    path: "learning.updateClip",
    type: { kind: "number", min: 0, max: 1000 },
    default: 3,
    doc:
      "A training round whose update is larger than this times the median of the recent rounds' is scaled down to it (0 = off): a bad local sample cannot make this board's update jump.",
  },
  {
    path: "learning.rowOutlier",
    type: { kind: "number", min: 0, max: 1000000 },
    default: 10,
    doc:
      "A local sample whose size (L2 norm) is more than this times the median sample's is not trained on (0 = off): catches samples on the wrong scale, e.g. raw 0–255 pixels.",
  },
  {
    path: "learning.fanIn",
    type: { kind: "int", min: 0, max: 4096 },
    default: 32,
    doc:
      "Bounded fan-in: with more live boards than this, only a committee of this many boards (the same for every board, handed over one seat at a time) trains and publishes, and every board keeps and merges only the committee's models, so memory, merge time and airtime stay flat as the swarm grows (0 = every board publishes, every peer is merged; docs/learning.md).",
  },
  {
    path: "learning.fanInPeriodMs",
    type: { kind: "int", min: 1000, max: 86400000 },
    default: 120000,
    doc:
      "How long a board holds a committee seat (bounded fan-in); the seats' turns are staggered, so one changes hands every this / learning.fanIn. Boards' clocks should agree to well within this.",
  },
  {
    path: "learning.batchSize",
    type: { kind: "int", min: 1, max: 4096 },
    default: 32,
    doc: "Samples per local training step.",
  },
  {
    path: "learning.localSteps",
    type: { kind: "int", min: 1, max: 10000 },
    default: 1,
    doc:
      "Local training steps per round (measured best: 1 with 1,232-byte datagrams, 2 with 4,096-byte ones).",
  },
  {
    path: "learning.roundMs",
    type: { kind: "int", min: 10, max: 3600000 },
    default: 500,
    doc: "Milliseconds between rounds (train, then publish a compressed update).",
  },
  {
    path: "learning.robustMerge",
    type: { kind: "enum", values: ["clip", "trimmed-mean", "median", "mean"] },
    default: "clip",
    doc:
      "How peers' models are merged: clip (centered clipping), trimmed-mean and median resist a poisoned peer; mean does not.",
  },
  {
    path: "learning.deltasPerRound",
    type: { kind: "int", min: 1, max: 64 },
    default: 1,
    doc: "Compressed update datagrams each node broadcasts per round (each fills gossip.maxDatagram).",
  },
  {
    path: "learning.checkpointMs",
    type: { kind: "int", min: 1000, max: 86400000 },
    default: 30000,
    doc: "Milliseconds between checkpoints of the model and its gossip state.",
  },
  {
    path: "api.listen",
    type: {
      kind: "string",
      pattern: /^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/,
      patternHint: "HOST:PORT, e.g. 127.0.0.1:7070",
    },
    default: "127.0.0.1:7070",
    doc: "Address of the local HTTP API.",
    env: "AGENT_API_LISTEN",
  },
  {
    path: "api.allowRemote",
    type: { kind: "bool" },
    default: false,
    doc: "Must be true to bind the API to a non-loopback address (anyone on the network can then query it).",
  },
  {
    path: "api.maxBodyBytes",
    type: { kind: "int", min: 1024, max: 67108864 },
    default: 1048576,
    doc: "Largest request body accepted; larger bodies are refused before being read.",
  },
  {
    path: "logging.level",
    type: { kind: "enum", values: ["debug", "info", "warn", "error"] },
    default: "info",
    doc: "Least severe level that is logged.",
    env: "AGENT_LOG_LEVEL",
  },
  {
    path: "logging.format",
    type: { kind: "enum", values: ["auto", "text", "json"] },
    default: "auto",
    doc: "text for people, json lines for journald and scripts; auto picks text on a terminal.",
  },
];
