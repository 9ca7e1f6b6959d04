import assert from "node:assert/strict";
import { runCli } from "../../src/cli/mod.ts";
import { formatStatus } from "../../src/cli/status.ts";
import { createApi } from "../../src/api/api.ts";
import { serveApi } from "../../src/api/serve.ts";
import { STATUS_FORMAT, type StatusReport } from "../../src/api/status.ts";
import { stateLayout, writeCheckedJson, writeFileAtomic } from "../../src/state/mod.ts";
import { nullLogger } from "../../src/log.ts";
import { systemClock } from "../../src/time.ts";
import { recordingIo } from "../_support/io.ts";
import { idleMetrics } from "../_support/metrics.ts";

function report(overrides: Partial<StatusReport> = {}): StatusReport {
  return {
    node: { name: "kitchen", fingerprint: "k1t2-c3h4" },
    version: "0.1.0",
    pid: 4242,
    startedAt: new Date(Date.now() - 65_000).toISOString(),
    updatedAt: new Date(Date.now() - 3_000).toISOString(),
    backend: "wasm",
    model: { id: "mnist-mlp", hash: "0123456789abcdef", parameters: 25450 },
    accuracy: 0.912,
    heldOut: 200,
    samples: 1800,
    rounds: 124,
    loss: 0.31,
    gossip: {
      datagramsIn: 1234,
      accepted: 1234,
      datagramsOut: 1100,
      bytesIn: 1_300_000,
      bytesOut: 1_200_000,
      rejected: { untrusted: 4, replay: 0 },
      largestDatagram: 1232,
    },
    api: "127.0.0.1:7070",
    rss: 50_000_000,
    peers: [
      {
        fingerprint: "aaaa-bbbb",
        name: "porch",
        address: "10.0.0.2:41234",
        lastSeen: new Date(Date.now() - 500).toISOString(),
        alive: true,
        score: 0.98,
        coverage: 1,
        merged: true,
        datagramsIn: 600,
        rejects: { replay: 2 },
        transport: "lan",
      },
      {
        fingerprint: "cccc-dddd",
        name: "garage",
        address: null,
        lastSeen: null,
        alive: false,
        score: null,
        coverage: null,
        merged: false,
        datagramsIn: 0,
        rejects: {},
        unusable:
          "runs another model (hash 0909090909090909, ours 0123456789abcdef): its updates are dropped",
      },
    ],
    ...overrides,
  };
}

Deno.test("formatStatus() shows accuracy, rounds, peers and rejects in a table", () => {
  const text = formatStatus(report(), { kind: "live", api: "127.0.0.1:7070" }, Date.now());
  assert.match(text, /Live from the agent on 127\.0\.0\.1:7070 \(PID 4242, up 1 min 5 s\)/);
  assert.match(text, /Accuracy +91\.2% on 200 held-out samples/);
  assert.match(text, /Rounds +124/);
  assert.match(text, /Rejected +untrusted 4\n/);
  assert.match(
    text,
    /Gossip +in 1234 datagrams \(1\.24 MB; 1234 accepted\), out 1100 \(1\.14 MB\), largest 1232 B/,
  );
  assert.match(text, /Peers: 2 trusted, 1 alive/);
  assert.match(text, /Memory +47\.68 MB resident/);
  assert.match(text, /aaaa-bbbb +porch +LAN +10\.0\.0\.2:41234 +0\.5 s ago +0\.98 +merged +600 +replay 2/);
  assert.match(text, /cccc-dddd +garage +- +- +never +- +- +0 +-/);
  assert.doesNotMatch(text, /Transport/, "a snapshot of an older agent has no transport: no row");
  assert.match(text, /\n {2}! garage: runs another model \(hash 0909090909090909, ours 0123456789abcdef\)/);
});

Deno.test("formatStatus() says when the state cannot be saved, with the free space", () => {
  const failing = report({
    storage: {
      ok: false,
      failures: 7,
      failingInARow: 4,
      lastError: "checkpoint: No space left on device (os error 28)",
      failingSince: "2026-11-30T21:00:00.000Z",
      freeBytes: 81920,
      totalBytes: 614400,
    },
  });
  const text = formatStatus(failing, { kind: "live", api: "127.0.0.1:7070" }, Date.now());
  assert.match(
    text,
    /^State +CANNOT BE SAVED since 2026-11-30T21:00:00\.000Z: checkpoint: No space left on device \(os error 28\); 80\.0 kB free of 600\.0 kB$/m,
  );
  const ok = formatStatus(
    report({ storage: { ...failing.storage!, ok: true, lastError: null, failingSince: null } }),
    { kind: "live", api: "127.0.0.1:7070" },
    Date.now(),
  );
  assert.match(ok, /^State +saved \(80\.0 kB free of 600\.0 kB\)$/m);
});

Deno.test("formatStatus() shows the transport, the broker connection, the bridge and each peer's path", () => {
  const r = report({
    transport: {
      mode: "both",
      broker: {
        url: "mqtts://broker.example.net:8883",
        topic: "agent/0123456789abcdef",
        clientId: "agent-0a1b",
        state: "down",
        forSeconds: 12.2,
        connects: 1,
        failures: 3,
        messagesIn: 40,
        messagesOut: 50,
        bytesIn: 4000,
        bytesOut: 5000,
        dropped: { notConnected: 2, queueFull: 0, publishFailed: 0 },
        lastError: "connect ECONNREFUSED 10.0.0.9:8883",
      },
      forwarded: { toBroker: 30, toLan: 20, failed: 2 },
    },
  });
  r.peers[1] = { ...r.peers[1], address: "10.0.0.9:8883", transport: "broker", alive: true };
  const text = formatStatus(r, { kind: "live", api: "127.0.0.1:7070" }, Date.now());
  assert.match(text, /Transport +both \(bridges the LAN and the broker\)/);
  assert.match(
    text,
    /Broker +mqtts:\/\/broker\.example\.net:8883 topic agent\/0123456789abcdef: DOWN for 12 s, reconnecting \(connect ECONNREFUSED 10\.0\.0\.9:8883\); in 40, out 50, 1 connect, 3 failures/,
  );
  assert.match(text, /Bridge +forwarded 30 LAN → broker, 20 broker → LAN, 2 not sent/);
  assert.match(text, /cccc-dddd +garage +broker +10\.0\.0\.9:8883/);
});

Deno.test("agent status reads the snapshot when the daemon is down, and says so", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const layout = stateLayout(dir);
    await writeCheckedJson(layout.status, STATUS_FORMAT, report());
    // Port 1 on loopback: nothing listens there.
    const env = { AGENT_API_LISTEN: "127.0.0.1:1" };
    const io = recordingIo({ env });
    assert.equal(await runCli(["status", "--state", dir], io), 0);
    assert.match(io.outText(), /Not live: the agent is not running \(nothing answers on 127\.0\.0\.1:1\)/);
    assert.match(io.outText(), /Last snapshot from 3\.\d s ago/);
    const jsonIo = recordingIo({ env });
    assert.equal(await runCli(["status", "--state", dir, "--json"], jsonIo), 0);
    const j = JSON.parse(jsonIo.outText());
    assert.equal(j.source, "snapshot");
    assert.equal(j.fingerprint, "k1t2-c3h4");
    assert.equal(j.peers[0].rejects.replay, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("agent status fails with a hint when the daemon is down and there is no snapshot", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const io = recordingIo({ env: { AGENT_API_LISTEN: "127.0.0.1:1" } });
    assert.equal(await runCli(["status", "--state", dir], io), 1);
    assert.match(io.errText(), /not running .* has saved no status yet/);
    assert.match(io.errText(), /hint: Start the agent with 'agent run'/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("agent status names a corrupt snapshot instead of crashing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const layout = stateLayout(dir);
    await writeCheckedJson(layout.status, STATUS_FORMAT, report());
    const text = await Deno.readTextFile(layout.status);
    await writeFileAtomic(layout.status, text.replace('"rounds":124', '"rounds":999'));
    const io = recordingIo({ env: { AGENT_API_LISTEN: "127.0.0.1:1" } });
    assert.equal(await runCli(["status", "--state", dir], io), 1);
    assert.match(io.errText(), /status\.json" is corrupt: checksum mismatch/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A live API on loopback answering `live`. */
function liveApi(live: StatusReport) {
  const handler = createApi({
    inputSize: 4,
    classes: 2,
    predict: () => Promise.resolve(new Float32Array(2)),
    addSamples: () => Promise.resolve({ stored: 0 }),
    status: () => live,
    metrics: idleMetrics(),
    maxBodyBytes: 1024,
    clock: systemClock,
    logger: nullLogger,
  });
  return serveApi(handler, { listen: "127.0.0.1:0", allowRemote: false, logger: nullLogger });
}

Deno.test("agent status --json asks the live daemon's API", async () => {
  const dir = await Deno.makeTempDir();
  const server = liveApi(report({ rounds: 7 }));
  try {
    const io = recordingIo({ env: { AGENT_API_LISTEN: server.address } });
    assert.equal(
      await runCli(["status", "--state", dir, "--json", "--watch", "--interval", "1", "--count", "2"], io),
      0,
    );
    assert.equal(io.out.length, 2, "one JSON line per refresh");
    const j = JSON.parse(io.out[1]);
    assert.equal(j.source, "live");
    assert.equal(j.rounds, 7);
    assert.equal(j.peers.length, 2);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("agent status does not show another node's agent answering on api.listen as its own", async () => {
  const dir = await Deno.makeTempDir();
  const server = liveApi(report({ rounds: 7, node: { name: "elsewhere", fingerprint: "OTHER-FP" } }));
  try {
    assert.equal(await runCli(["init", "--state", dir, "--name", "mine"], recordingIo()), 0);
    const layout = stateLayout(dir);
    await writeCheckedJson(layout.status, STATUS_FORMAT, report({ rounds: 3 }));
    const io = recordingIo({ env: { AGENT_API_LISTEN: server.address } });
    assert.equal(await runCli(["status", "--state", dir], io), 0);
    const text = io.outText();
    assert.match(text, /Not live: the agent answering on .* is another node \(elsewhere, OTHER-FP\)/);
    assert.match(text, /give this agent its own api\.listen/);
    assert.match(text, /Rounds +3\b/, "the snapshot of this state directory is shown");
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("agent status rejects a bad --interval with a usage error", async () => {
  const io = recordingIo();
  assert.equal(await runCli(["status", "--interval", "0"], io), 2);
  assert.match(io.errText(), /Option --interval 0 is out of range 1..3600/);
});

Deno.test("agent status --open prints the dashboard URL and hands it to xdg-open", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dash-open-" });
  const server = liveApi(report());
  try {
    // A stand-in xdg-open that records the URL it was given.
    const bin = `${dir}/bin`;
    await Deno.mkdir(bin);
    await Deno.writeTextFile(`${bin}/xdg-open`, `#!/bin/sh\nprintf '%s' "$1" > '${dir}/opened'\n`, {
      mode: 0o755,
    });
    const io = recordingIo({ env: { AGENT_API_LISTEN: server.address, PATH: `${bin}:/usr/bin:/bin` } });
    assert.equal(await runCli(["status", "--open", "--state", dir], io), 0, io.errText());
    const url = `http://${server.address}/`;
    assert.match(io.outText(), new RegExp(`^Dashboard: ${url.replace(/\./g, "\\.")}\nOpened with `));
    assert.equal(await Deno.readTextFile(`${dir}/opened`), url);

    const plain = recordingIo({ env: { AGENT_API_LISTEN: server.address, PATH: `${dir}/empty` } });
    assert.equal(await runCli(["status", "--open", "--state", dir, "--json"], plain), 0);
    assert.deepEqual(JSON.parse(plain.outText()), { dashboard: url, opened: false });

    const table = recordingIo({ env: { AGENT_API_LISTEN: server.address } });
    assert.equal(await runCli(["status", "--state", dir], table), 0);
    assert.match(
      table.outText(),
      new RegExp(`Page +${url.replace(/\./g, "\\.")} \\(agent status --open\\)`),
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("agent status --open refuses when no agent is running, and with --watch", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dash-open-" });
  try {
    const io = recordingIo({ env: { AGENT_API_LISTEN: "127.0.0.1:1" } });
    assert.equal(await runCli(["status", "--open", "--state", dir], io), 1);
    assert.match(io.errText(), /no dashboard to open: the agent is not running/);
    assert.match(io.errText(), /hint: The page is served by the running agent/);
    const both = recordingIo({ env: { AGENT_API_LISTEN: "127.0.0.1:1" } });
    assert.equal(await runCli(["status", "--open", "--watch", "--state", dir], both), 2);
    assert.match(both.errText(), /--open and --watch do not go together/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("formatStatus() names the model's classes when its spec does", () => {
  const plain = formatStatus(report(), { kind: "live", api: "127.0.0.1:7070" }, Date.now());
  assert.doesNotMatch(plain, /Classes/);
  const base = report();
  const named = formatStatus(
    report({ model: { ...base.model, classes: ["idle", "walk", "run"] } }),
    { kind: "live", api: "127.0.0.1:7070" },
    Date.now(),
  );
  assert.match(named, /Classes +idle, walk, run\n/);
});

Deno.test("formatStatus() shows the estimated swarm size, the round interval and the airtime vs the budget", () => {
  const r = report({
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
  });
  const text = formatStatus(r, { kind: "live", api: "127.0.0.1:7070" }, Date.now());
  assert.match(text, /^Swarm +101 boards heard; round every 4\.2 s, Hello every 8\.3 s$/m);
  assert.match(
    text,
    /^Airtime +this board 316 B\/s, swarm 29\.8 kB\/s heard \(95% of the 31\.3 kB\/s budget; planned 31\.3 kB\/s\)$/m,
  );
  const old = formatStatus(report(), { kind: "live", api: "127.0.0.1:7070" }, Date.now());
  assert.doesNotMatch(old, /Airtime/, "a snapshot of an older agent has no airtime: no row");
});
