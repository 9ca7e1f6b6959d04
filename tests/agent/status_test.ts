import assert from "node:assert/strict";
import { buildStatus, unusableReason } from "../../src/agent/status.ts";
import { REJECT_REASONS } from "../../src/gossip/node.ts";
import { statusProblem } from "../../src/api/status.ts";

Deno.test("buildStatus() lists trusted peers (heard or not) with last seen, scores and rejects of both layers", () => {
  const rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<string, number>;
  rejected.untrusted = 7;
  const report = buildStatus({
    node: { name: "a", fingerprint: "FP-A" },
    version: "0.1.0",
    pid: 1,
    startedAtMs: Date.parse("2026-01-01T00:00:00Z"),
    wallNowMs: Date.parse("2026-01-01T00:01:00Z"),
    backend: "wasm",
    model: { id: "mnist-mlp", hash: "00", parameters: 1 },
    accuracy: 0.9,
    heldOut: 10,
    samples: 90,
    learner: {
      rounds: 12,
      lastLoss: NaN,
      peers: [{
        key: "bb",
        epoch: 1,
        score: 0.75,
        ignored: false,
        inSync: true,
        coverage: 1,
        accepted: 3,
        rejected: { "norm-bound": 2 },
        lastStamp: 5,
        harm: null,
      }],
    },
    gossip: {
      received: 20,
      receivedBytes: 2000,
      accepted: 10,
      acceptedByType: {},
      sent: 5,
      sentBytes: 500,
      rejected: rejected as never,
    },
    largestDatagram: 1200,
    peers: [{
      key: "bb",
      fingerprint: "FP-B",
      name: "b",
      address: "127.0.0.1:9",
      lastSeen: 100,
      ageMs: 1500,
      alive: true,
      trusted: true,
      datagramsIn: 10,
      datagramsOut: 5,
      rejects: { replay: 1 },
      score: 0.9,
      progress: null,
      sequence: null,
      otherModel: null,
      transport: "broker",
    }],
    trusted: [{ key: "bb", fingerprint: "FP-B", name: "b" }, { key: "cc", fingerprint: "FP-C", name: "c" }],
    transport: {
      mode: "both",
      broker: {
        url: "mqtt://broker:1883",
        topic: "agent/00",
        clientId: "agent-a",
        state: "down",
        forMs: 1234,
        connects: 1,
        failures: 2,
        messagesOut: 3,
        messagesIn: 4,
        bytesOut: 5,
        bytesIn: 6,
        dropped: { notConnected: 7, queueFull: 0, publishFailed: 0 },
        lastError: "connect ECONNREFUSED",
      },
      forwarded: { toBroker: 8, toLan: 9, failed: 1, echoes: 3 },
    },
    airtime: {
      budgetBytesPerSecond: 32000,
      swarmSize: 2,
      roundMs: 500,
      helloMs: 1000,
      peerTimeoutMs: 15000,
      ownBytesPerSecond: 2600,
      swarmBytesPerSecond: 5300,
      plannedBytesPerSecond: 5274,
    },
    api: "127.0.0.1:7070",
    rss: 1,
  });
  assert.equal(statusProblem(report), undefined);
  assert.equal(report.airtime?.swarmSize, 2, "the airtime budget and its use are in the report");
  assert.equal(report.airtime?.roundMs, 500);
  assert.equal(report.airtime?.swarmBytesPerSecond, 5300);
  assert.equal(report.loss, null, "NaN loss before the first round is reported as null");
  assert.equal(report.rounds, 12);
  assert.deepEqual(report.gossip.rejected, { untrusted: 7 });
  assert.equal(report.gossip.datagramsIn, 20);
  assert.equal(report.gossip.accepted, 10);
  assert.deepEqual(report.peers, [
    {
      fingerprint: "FP-B",
      name: "b",
      address: "127.0.0.1:9",
      lastSeen: "2026-01-01T00:00:58.500Z",
      alive: true,
      score: 0.75,
      coverage: 1,
      merged: true,
      datagramsIn: 10,
      rejects: { replay: 1, "norm-bound": 2 },
      unusable: null,
      transport: "broker",
    },
    {
      fingerprint: "FP-C",
      name: "c",
      address: null,
      lastSeen: null,
      alive: false,
      score: null,
      coverage: null,
      merged: false,
      datagramsIn: 0,
      rejects: {},
      unusable:
        "never heard from: is it running on this network, and does it trust this board ('agent trust')?",
      transport: null,
    },
  ]);
  assert.equal(report.transport?.mode, "both");
  assert.equal(report.transport?.broker?.state, "down");
  assert.equal(report.transport?.broker?.forSeconds, 1.2);
  assert.deepEqual(report.transport?.forwarded, { toBroker: 8, toLan: 9, failed: 1, echoes: 3 });
  assert.ok(!JSON.stringify(report).includes("password"));
});

Deno.test("unusableReason() says why a trusted peer does not help: another model, silence, failed checks", () => {
  const g = {
    key: "bb",
    fingerprint: "FP-B",
    name: "b",
    address: "127.0.0.1:9",
    lastSeen: 100,
    ageMs: 10,
    alive: true,
    trusted: true,
    datagramsIn: 10,
    datagramsOut: 5,
    rejects: {},
    score: 1,
    progress: null,
    sequence: null,
    otherModel: null,
    transport: null,
  };
  const l = {
    key: "bb",
    epoch: 1,
    score: 0.2,
    ignored: true,
    inSync: true,
    coverage: 1,
    accepted: 3,
    rejected: {},
    lastStamp: 5,
    harm: null,
  };
  assert.match(
    unusableReason(
      { ...g, lastSeen: null, otherModel: "0909090909090909" },
      undefined,
      {},
      "0101010101010101",
    )!,
    /runs another model \(hash 0909090909090909, ours 0101010101010101\).*same model spec/,
  );
  assert.match(unusableReason(undefined, undefined, {}, "01")!, /never heard from/);
  assert.match(unusableReason({ ...g, alive: false }, l, {}, "01")!, /not heard from recently/);
  assert.equal(
    unusableReason(g, l, { "norm-bound": 4, stale: 9, "value-bound": 1 }, "01"),
    "left out of the merge: its updates failed our checks (norm-bound 4, value-bound 1)",
  );
  assert.match(
    unusableReason(g, { ...l, ignored: false, damped: true }, { "norm-bound": 4 }, "01")!,
    /almost no weight .* moves faster than the swarm's .* full weight again once it slows down/,
  );
  assert.match(
    unusableReason(g, { ...l, ignoredBecause: "silent" as const }, {}, "01")!,
    /no model values from it lately/,
  );
  assert.equal(
    unusableReason(g, { ...l, ignored: false, inSync: false, coverage: 0.845 }, {}, "01"),
    "catching up: 84% of its model known",
  );
  assert.equal(unusableReason(g, undefined, {}, "01"), "no model values received yet");
  assert.equal(unusableReason(g, { ...l, ignored: false }, {}, "01"), null, "merged");
});
