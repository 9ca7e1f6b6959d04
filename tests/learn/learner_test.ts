import assert from "node:assert/strict";
import { deflateSync, inflateSync } from "fflate";
import { encodeSnapshotRequest, ValueEncoding } from "../../src/learn/codec.ts";
import {
  type LearnerModel,
  LearnMessage,
  type OutgoingMessage,
  SwarmLearner,
} from "../../src/learn/learner.ts";
import { SeededRandom } from "../../src/time.ts";
import { DriftModel } from "../_support/drift_model.ts";
import { toHex } from "../../src/bytes.ts";

const deflate = (raw: Uint8Array) => deflateSync(raw, { level: 9 });
const key = (i: number) => new Uint8Array(32).fill(i + 1);
const oneRow = { x: new Float32Array(1), y: new Uint8Array(1), count: 1 };

function learner(
  i: number,
  model: LearnerModel,
  extra: Partial<ConstructorParameters<typeof SwarmLearner>[0]> = {},
) {
  return new SwarmLearner({
    model,
    data: oneRow,
    features: 1,
    rng: new SeededRandom(100 + i),
    selfKey: key(i),
    deflate,
    batchSize: 1,
    ...extra,
  });
}

function deliver(to: SwarmLearner, from: number, msgs: OutgoingMessage[], now = 0) {
  return msgs.map((m) => to.onMessage(key(from), m.type, inflateSync(m.body), now));
}

/** One round of `nodes`: each trains one step and mixes at `now`; then what each sends. */
async function roundOf(nodes: SwarmLearner[], now: number): Promise<OutgoingMessage[][]> {
  for (const l of nodes) {
    await l.train(1);
    l.mix(now);
  }
  return nodes.map((l) => l.outgoing(1104));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("outgoing() bodies fit the budget and error feedback delivers every local step", async () => {
  const P = 5000;
  const model = new DriftModel(P, 2);
  const init = model.getWeights();
  const a = learner(0, model, { encoding: ValueEncoding.Int8, messagesPerRound: 2 });
  const b = learner(1, new DriftModel(P, 3));
  for (let round = 0; round < 40; round++) {
    await a.train(1);
    for (const budget of [1104]) {
      const out = a.outgoing(budget);
      for (const m of out) assert.ok(m.body.length <= budget, `${m.body.length} > ${budget}`);
      deliver(b, 0, out, round);
    }
  }
  // Everything trained so far: published pseudo-model + residual (local progress not yet sent).
  const truth = a.publicCopy().map((v, i) => v + a.residual()[i]);
  let trueSum = 0;
  let sentSum = 0;
  // Flush: no more training, keep publishing; the residual (error feedback) drains.
  for (let round = 40; round < 120; round++) deliver(b, 0, a.outgoing(1104), round);
  const copy = b.peerCopy(key(0))!;
  for (let i = 0; i < P; i++) {
    trueSum += truth[i] - init[i];
    sentSum += copy[i] - init[i];
  }
  const step = Math.max(...Array.from(truth, Math.abs)) / 127;
  assert.ok(
    maxAbs(truth, copy) <= step,
    `copy within one int8 step of the truth: ${maxAbs(truth, copy)} > ${step}`,
  );
  assert.ok(
    Math.abs(trueSum - sentSum) < 0.01 * P * step,
    `sum sent ${sentSum} ≈ sum of true changes ${trueSum}`,
  );
  assert.ok(a.stats(0).residualRms < step, "residual drained");
});

function maxAbs(a: Float32Array, b: Float32Array) {
  return maxAbsDiff(a, b);
}

Deno.test("peer copies self-heal under loss, duplication and reordering (absolute values, stamps)", async () => {
  const P = 3000;
  const a = learner(0, new DriftModel(P, 4), {
    encoding: ValueEncoding.F32,
    refreshFraction: 0.2,
    messagesPerRound: 4,
  });
  const b = learner(1, new DriftModel(P, 5));
  const rng = new SeededRandom(9);
  const inFlight: OutgoingMessage[] = [];
  for (let round = 0; round < 150; round++) {
    if (round < 30) await a.train(1);
    // The receiver runs rounds too (its change-size guard measures changes per round of its own; the
    // shared init of a's genesis copy dates from its round 0).
    await b.train(1);
    for (const m of a.outgoing(1104)) {
      if (rng.next() < 0.3) continue; // lost
      inFlight.push(m);
      if (rng.next() < 0.2) inFlight.push(m); // duplicated
    }
    // deliver a random subset now, the rest later (reordering)
    for (let i = inFlight.length - 1; i >= 0; i--) {
      if (rng.next() < 0.6) deliver(b, 0, inFlight.splice(i, 1), round);
    }
  }
  deliver(b, 0, inFlight.splice(0));
  assert.equal(b.stats(0).rejected["norm-bound"], undefined, "honest changes are never rejected");
  assert.equal(
    maxAbsDiff(b.peerCopy(key(0))!, a.publicCopy()),
    0,
    "receiver holds exactly the sender's public copy",
  );
});

Deno.test("onMessage() rejects garbage, NaN, huge values and other models without throwing", () => {
  const P = 1000;
  const a = learner(0, new DriftModel(P, 6), { encoding: ValueEncoding.F32 });
  const rng = new SeededRandom(3);
  for (let i = 0; i < 500; i++) {
    const body = Uint8Array.from({ length: rng.nextU32() % 64 }, () => rng.nextU32() & 0xff);
    const type = [LearnMessage.Delta, LearnMessage.SnapshotChunk, LearnMessage.SnapshotRequest, 77][i % 4];
    const r = a.onMessage(key(1), type, body, 0);
    assert.equal(r.accepted, false);
  }
  const other = learner(2, new DriftModel(P, 7), { encoding: ValueEncoding.F32, messagesPerRound: 4 });
  const m = other.outgoing(1104);
  assert.equal(m.length, 4, "four refresh deltas even without changes");
  const bad = inflateSync(m[0].body);
  new DataView(bad.buffer).setFloat32(bad.length - 4, NaN, true);
  assert.deepEqual(
    (a.onMessage(key(2), LearnMessage.Delta, bad, 0) as { reason: string }).reason,
    "non-finite",
  );
  new DataView(bad.buffer).setFloat32(bad.length - 4, 1e9, true);
  assert.equal((a.onMessage(key(2), LearnMessage.Delta, bad, 0) as { reason: string }).reason, "value-bound");
  const wrongModel = inflateSync(m[1].body);
  wrongModel[1] ^= 0xff;
  assert.equal(
    (a.onMessage(key(2), LearnMessage.Delta, wrongModel, 0) as { reason: string }).reason,
    "model-mismatch",
  );
  assert.equal(a.onMessage(key(2), LearnMessage.Delta, inflateSync(m[2].body), 0).accepted, true);
  assert.equal(
    (a.onMessage(key(2), LearnMessage.Delta, inflateSync(m[2].body), 0) as { reason: string }).reason,
    "stale",
  );
});

Deno.test("a peer whose updates keep being rejected is ignored, reported, and recovers", async () => {
  const P = 2000;
  const a = learner(0, new DriftModel(P, 8), { encoding: ValueEncoding.F32 });
  const b = learner(1, new DriftModel(P, 9), { encoding: ValueEncoding.F32, messagesPerRound: 4 });
  for (let r = 0; r < 5; r++) {
    await b.train(1);
    deliver(a, 1, b.outgoing(1104), r);
    await a.train(1);
    a.outgoing(1104); // builds a's reference of honest change sizes
  }
  const peer = () =>
    a.stats(10).peers.find((p) =>
      p.key === Array.from(key(1), (x) => x.toString(16).padStart(2, "0")).join("")
    )!;
  assert.equal(peer().ignored, false);
  for (let r = 5; r < 9; r++) {
    await b.train(1);
    for (const m of b.outgoing(1104)) {
      const raw = inflateSync(m.body);
      new DataView(raw.buffer).setFloat32(raw.length - 4, Infinity, true);
      a.onMessage(key(1), m.type, raw, r);
    }
  }
  assert.equal(peer().ignored, true, "ignored after repeated rejections");
  assert.ok((peer().rejected["non-finite"] ?? 0) >= 3);
  assert.equal(a.mix(9), 0, "left out of the merge");
  for (let r = 9; r < 14; r++) {
    await b.train(1);
    deliver(a, 1, b.outgoing(1104), r);
  }
  assert.equal(peer().ignored, false, "recovers after good updates");
  assert.equal(a.mix(14), 1);
});

Deno.test("a peer whose changes suddenly grow is slowed to the bounded rate, never ignored", async () => {
  const P = 2000;
  const a = learner(0, new DriftModel(P, 50), { encoding: ValueEncoding.F32 });
  const bModel = new DriftModel(P, 51);
  // b's own update clip would hold the jump at 3× (see the local training guard): off, as for a peer
  // that does not clip (or an attacker).
  const b = learner(1, bModel, { encoding: ValueEncoding.F32, updateClip: 0 });
  const peer = () => a.stats(0).peers[0];
  const outcomes: ReturnType<typeof deliver> = [];
  for (let r = 0; r < 60; r++) {
    // From round 40 b's steps are 5× larger (another learning-rate phase, a bad local row): beyond the
    // bound (3 × the reference), within the honest range.
    bModel.scale = r < 40 ? 1 : 5;
    await a.train(1);
    a.outgoing(1104);
    await b.train(1);
    const msgs = b.outgoing(1104);
    const got = deliver(a, 1, msgs, r);
    if (r >= 40) outcomes.push(...got);
  }
  const limited = outcomes.filter((o) => o.accepted && o.limited);
  assert.ok(limited.length > 0, "the large changes were rate-limited");
  assert.ok(outcomes.every((o) => o.accepted), "and still applied");
  assert.ok((peer().rejected["norm-bound"] ?? 0) > 0, "counted under norm-bound");
  assert.equal(peer().ignored, false, "never ignored");
  assert.ok(maxAbsDiff(a.peerCopy(key(1))!, b.publicCopy()) > 0, "the copy lags the sender while slowed");
  assert.equal(a.mix(60), 1, "still merged");
});

Deno.test("a peer whose changes stay far beyond any honest rate loses its pull until it slows down, never ignored", async () => {
  const P = 2000;
  const a = learner(0, new DriftModel(P, 50), { encoding: ValueEncoding.F32 });
  const bModel = new DriftModel(P, 51);
  // b's own update clip would hold the jump at 3× (see the local training guard): off, as for a peer
  // that does not clip (or an attacker).
  const b = learner(1, bModel, { encoding: ValueEncoding.F32, updateClip: 0 });
  const peer = () => a.stats(0).peers[0];
  const outcomes: ReturnType<typeof deliver> = [];
  for (let r = 0; r < 60; r++) {
    bModel.scale = r < 40 ? 1 : 30;
    await a.train(1);
    a.outgoing(1104);
    await b.train(1);
    const msgs = b.outgoing(1104);
    const got = deliver(a, 1, msgs, r);
    if (r >= 40) outcomes.push(...got);
  }
  // 30× the honest rate (a model-replacement update scaled ×N): not applied, and after a few such
  // messages the peer is damped — merged with no pull (two copies: the mean, which cannot bound one
  // copy, so none) — and reported so, not ignored (its score is untouched).
  assert.ok(
    outcomes.every((o) => o.accepted ? o.limited : o.reason === "norm-bound"),
    "slowed or not applied",
  );
  assert.ok(outcomes.filter((o) => !o.accepted).length >= outcomes.length / 3, "mostly not applied");
  assert.equal(peer().ignored, false, "never ignored for its pace");
  assert.equal(peer().damped, true, "damped while it keeps pushing");
  assert.equal(peer().score, 1, "no score lost");
  assert.equal(a.mix(60), 1, "still merged");
  assert.deepEqual(a.inferenceWeights(), a.publicCopy(), "with no pull: the swarm model is ours alone");
  bModel.scale = 1;
  for (let r = 60; r < 90; r++) {
    await a.train(1);
    a.outgoing(1104);
    await b.train(1);
    deliver(a, 1, b.outgoing(1104), r);
  }
  assert.equal(peer().damped, undefined, "its pull back once at the swarm's pace");
  assert.equal(a.mix(90), 1);
});

Deno.test("a peer first heard late, or heard again after lost messages, is not rejected (change per round)", async () => {
  // On the real network the agents that started first were rejected for good by the others: their
  // first message carried many rounds of progress against a copy still at the shared init, each
  // rejection left the copy staler, and the next honest change looked even larger.
  const P = 2000;
  const a = learner(0, new DriftModel(P, 10), { encoding: ValueEncoding.F32 });
  const bModel = new DriftModel(P, 11);
  const b = learner(1, bModel, { encoding: ValueEncoding.F32 });
  const outcomes: ReturnType<typeof deliver> = [];
  for (let r = 0; r < 120; r++) {
    bModel.scale = r < 30 ? 10 : 1; // b's early rounds move far
    await a.train(1);
    a.outgoing(1104); // a's own reference of honest change sizes
    await b.train(1);
    const msgs = b.outgoing(1104);
    // b's first 30 rounds never reach a (a heard nothing yet), then rounds 60–89 are lost.
    if (r >= 30 && (r < 60 || r >= 90)) outcomes.push(...deliver(a, 1, msgs, r));
  }
  const rejected = outcomes.filter((o) => !o.accepted && o.reason === "norm-bound");
  assert.equal(rejected.length, 0, `honest messages rejected: ${JSON.stringify(rejected.slice(0, 2))}`);
  assert.equal(a.mix(120), 1, "b is merged");
});

Deno.test("the served model is the swarm model, then the mean of its values since rateDecayRounds, then their moving average", async () => {
  const P = 500;
  const beta = 0.8;
  const a = learner(0, new DriftModel(P, 12), {
    encoding: ValueEncoding.F32,
    learningRate: 0.5,
    rateFinal: 0.05,
    rateDecayRounds: 5,
    averaging: beta,
  });
  const centres: Float32Array[] = [];
  let avg: Float32Array | undefined;
  for (let r = 1; r <= 12; r++) {
    await a.train(1);
    const centre = a.publicCopy(); // alone, the swarm model is our own pseudo-model
    a.mix(r);
    if (r < 5) {
      assert.deepEqual(a.inferenceWeights(), centre, `round ${r}: the swarm model itself`);
    } else {
      centres.push(centre);
      const n = r - 5 + 1;
      const decay = Math.min(beta, (n - 1) / n);
      avg = avg ? avg.map((v, i) => decay * v + (1 - decay) * centre[i]) : centre;
      assert.ok(maxAbsDiff(a.inferenceWeights(), avg) < 1e-5, `round ${r}: the average`);
      if (n <= 5) {
        // 1 / (1 − 0.8) = 5 rounds: until then, the plain mean (the first centre weighs 1 / n, not 0.8^n).
        const mean = centre.map((_, i) => centres.reduce((s, c) => s + c[i], 0) / centres.length);
        assert.ok(maxAbsDiff(a.inferenceWeights(), mean) < 1e-5, `round ${r}: the mean of ${n} centres`);
      }
    }
    a.outgoing(1104);
  }
  assert.ok(maxAbsDiff(a.inferenceWeights(), a.publicCopy()) > 0, "the average lags the latest model");
});

Deno.test("the consensus pull keeps skewed nodes' pseudo-models together without moving the swarm model", async () => {
  const P = 1000;
  async function run(pull: number) {
    const nodes = [0.002, -0.002, 0].map((bias, i) => {
      const model = new DriftModel(P, 20 + i);
      model.bias = bias; // node 0 pushes every weight up, node 1 down: they cancel in the mean
      return learner(i, model, { encoding: ValueEncoding.F32, rule: "mean", pull });
    });
    for (let r = 0; r < 150; r++) {
      for (const n of nodes) await n.train(1);
      for (const n of nodes) n.mix(r);
      const out = nodes.map((n) => n.outgoing(4000));
      nodes.forEach((to, j) => out.forEach((msgs, i) => i !== j && deliver(to, i, msgs, r)));
    }
    const pubs = nodes.map((n) => n.publicCopy());
    const mean = pubs[0].map((_, c) => (pubs[0][c] + pubs[1][c] + pubs[2][c]) / 3);
    const rms = (a: Float32Array) => Math.sqrt(a.reduce((s, v, c) => s + (v - mean[c]) ** 2, 0) / P);
    return { spread: rms(pubs[0]), swarm: nodes[2].inferenceWeights() };
  }
  const off = await run(0);
  const on = await run(0.05);
  assert.ok(off.spread > 0.2, `without the pull node 0 drifts away (${off.spread})`);
  assert.ok(on.spread < off.spread / 5, `with it the spread stays bounded (${on.spread} vs ${off.spread})`);
  assert.ok(
    maxAbsDiff(on.swarm, off.swarm) < 0.05,
    "the swarm model is (almost) where it was without the pull",
  );
});

Deno.test("a peer whose model does badly on our validation rows is merged with a tighter clip, never left out, until it does well again", async () => {
  const P = 600;
  /** Validation loss = mean squared distance of the weights from the shared init. */
  class ValidatedModel extends DriftModel {
    readonly target: Float32Array;
    constructor(seed: number) {
      super(P, seed);
      this.target = this.w.slice();
    }
    override evaluate() {
      let s = 0;
      for (let i = 0; i < P; i++) s += (this.w[i] - this.target[i]) ** 2;
      return Promise.resolve({ accuracy: 0, loss: s / P });
    }
  }
  const a = learner(0, new ValidatedModel(30), {
    encoding: ValueEncoding.F32,
    validateEvery: 5,
    pull: 0,
    suspectClip: 0.5,
  });
  a.setValidation(oneRow);
  const models = [31, 32, 33].map((seed) => new DriftModel(P, seed));
  const peers = models.map((m, i) => learner(i + 1, m, { encoding: ValueEncoding.F32, pull: 0 }));
  const bad = models[2];
  const score = () => a.stats(0).peers.find((p) => p.key.startsWith("04"))!;
  async function rounds(from: number, to: number) {
    for (let r = from; r < to; r++) {
      await a.train(1);
      a.mix(r);
      a.outgoing(4000);
      for (const [i, l] of peers.entries()) {
        await l.train(1);
        l.mix(r);
        deliver(a, i + 1, l.outgoing(4000), r);
      }
    }
  }
  bad.bias = 0.01; // its updates look normal in size, but its model walks away from what our data says
  await rounds(0, 60);
  assert.ok((score().rejected.validation ?? 0) >= 3, JSON.stringify(score()));
  assert.equal(score().suspect, true, "suspect");
  // A check that cannot tell "different data" from "malicious" bounds influence, it excludes nobody.
  assert.equal(score().ignored, false, "still merged");
  assert.equal(a.mix(60), 3, "all three peers merged");
  assert.ok(score().harm! > 0);
  for (const p of a.stats(0).peers.filter((p) => !p.key.startsWith("04"))) {
    assert.equal(p.rejected.validation ?? 0, 0, "honest peers pass");
  }
  bad.bias = -0.01; // walks back to where the data says
  await rounds(60, 120);
  bad.bias = 0;
  await rounds(120, 200);
  assert.equal(score().suspect, false, "trusted again once its model does well");
});

Deno.test("checkpoint()/restore() round-trip the model, contribution, residual and peers' copies", async () => {
  const P = 1500;
  const a = learner(0, new DriftModel(P, 10), { encoding: ValueEncoding.F32 });
  const b = learner(1, new DriftModel(P, 11), { encoding: ValueEncoding.F32 });
  for (let r = 0; r < 5; r++) {
    await b.train(1);
    deliver(a, 1, b.outgoing(1104), r);
    await a.train(1);
    a.outgoing(1104);
    a.mix(r);
  }
  const bytes = a.checkpoint();
  const served = a.inferenceWeights();
  const restored = learner(0, new DriftModel(P, 12), { encoding: ValueEncoding.F32 });
  restored.restore(bytes, 5);
  assert.deepEqual(restored.weights(), a.weights());
  assert.deepEqual(restored.model.getWeights(), a.weights(), "model weights set");
  assert.deepEqual(restored.peerCopy(key(1)), a.peerCopy(key(1)));
  assert.deepEqual(restored.publicCopy(), a.publicCopy(), "contribution C persists");
  assert.deepEqual(restored.residual(), a.residual(), "unpublished progress persists");
  assert.ok(a.residual().some((v) => v !== 0));
  assert.ok(a.stats(5).peers.every((p) => p.inSync), "b's copy merged at a");
  assert.deepEqual(restored.inferenceWeights(), served, "serves the swarm model of its checkpoint");
  // The peers keep their copy of a restored node (same epoch), and its messages are newer than any it
  // sent between the checkpoint and the crash.
  assert.equal(restored.epoch, a.epoch, "a restored node keeps its epoch");
  for (let r = 5; r < 8; r++) {
    await a.train(1);
    deliver(b, 0, a.outgoing(1104), r);
  }
  const copy = b.stats(8).peers.find((p) => p.key === toHex(key(0)))!;
  assert.ok(copy.inSync, "b holds a's copy in sync");
  const out = restored.outgoing(1104);
  assert.ok(out.some((m) => m.type === LearnMessage.SnapshotRequest), "asks peers for snapshots");
  assert.ok(out.some((m) => m.type === LearnMessage.SnapshotChunk), "pushes its public copy");
  const outcomes = deliver(b, 0, out.filter((m) => m.type !== LearnMessage.SnapshotRequest), 8);
  assert.ok(outcomes.every((o) => o.accepted), `accepted, not stale: ${JSON.stringify(outcomes)}`);
  assert.ok(b.stats(8).peers.find((p) => p.key === toHex(key(0)))!.inSync, "still in sync: never dropped");
  for (let len = 0; len < bytes.length; len += 997) {
    assert.throws(
      () => learner(0, new DriftModel(P, 1)).restore(bytes.subarray(0, len), 0),
      /Cannot restore checkpoint/,
    );
  }
  assert.throws(() => learner(0, new DriftModel(P + 1, 1)).restore(bytes, 0), /Cannot restore checkpoint/);
});

Deno.test("nodes that all start as joiners stop waiting after joinTimeoutRounds and learn together", async () => {
  const P = 800;
  const a = learner(0, new DriftModel(P, 20), { joining: true, joinTimeoutRounds: 3 });
  const b = learner(1, new DriftModel(P, 21), { joining: true, joinTimeoutRounds: 5 });
  for (let r = 0; r < 12; r++) {
    const [fromA, fromB] = await roundOf([a, b], r);
    deliver(b, 0, fromA, r);
    deliver(a, 1, fromB, r);
    if (r < 2) assert.ok(fromA.every((m) => m.type === LearnMessage.SnapshotRequest), "a joiner only asks");
  }
  assert.equal(a.joining, false);
  assert.equal(b.joining, false, "b adopted a's model once a started publishing");
  assert.ok(a.stats(12).peers[0]?.inSync && b.stats(12).peers[0]?.inSync);
});

Deno.test("saveLearnerState()/loadLearnerState() persist through the checksummed writer", async () => {
  const { saveLearnerState, loadLearnerState, learnerStatePath } = await import("../../src/learn/persist.ts");
  const { CorruptStateError } = await import("../../src/errors.ts");
  const dir = await Deno.makeTempDir();
  try {
    const path = learnerStatePath(`${dir}/checkpoints`);
    const a = learner(0, new DriftModel(600, 30));
    await a.train(3);
    const fresh = learner(0, new DriftModel(600, 31));
    assert.equal(await loadLearnerState(path, fresh, 0), false, "nothing saved yet");
    await saveLearnerState(path, a);
    assert.equal(await loadLearnerState(path, fresh, 0), true);
    assert.deepEqual(fresh.weights(), a.weights());
    const other = learner(0, new DriftModel(601, 1));
    await assert.rejects(() => loadLearnerState(path, other, 0), CorruptStateError);
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 1] ^= 1;
    await Deno.writeFile(path, bytes);
    await assert.rejects(() => loadLearnerState(path, fresh, 0), CorruptStateError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train() starts every round from the swarm model and keeps local progress in the residual", async () => {
  const P = 400;
  const a = learner(0, new DriftModel(P, 40), { rule: "mean" });
  const b = learner(1, new DriftModel(P, 41), { rule: "mean" });
  const init = a.publicCopy();
  for (let r = 0; r < 6; r++) {
    for (const l of [a, b]) {
      await l.train(1);
      l.mix(r);
    }
    deliver(b, 0, a.outgoing(1104), r);
    deliver(a, 1, b.outgoing(1104), r);
  }
  // The swarm model is x₀ + mean of the contributions, identical at both nodes (copies are exact).
  const mean = a.publicCopy().map((v, i) => (v + b.publicCopy()[i]) / 2);
  assert.ok(maxAbsDiff(a.inferenceWeights(), mean) < 1e-6);
  assert.ok(maxAbsDiff(b.inferenceWeights(), mean) < 1e-6);
  assert.ok(maxAbsDiff(mean, init) > 0, "the contributions moved the model");
  // The next round trains from exactly that model: the change lands in the residual, not in the model
  // (plus the consensus pull of our pseudo-model towards the swarm model).
  const before = a.residual();
  const pub = a.publicCopy();
  await a.train(1);
  assert.deepEqual(a.weights(), a.inferenceWeights());
  const stepped = a.model.getWeights();
  const resid = a.residual();
  const pull = a.tuning.pull;
  assert.ok(pull > 0);
  for (let i = 0; i < P; i++) {
    const expected = stepped[i] - mean[i] - pull * (pub[i] - mean[i]);
    assert.ok(Math.abs(resid[i] - before[i] - expected) < 1e-6, `coordinate ${i}`);
  }
});

Deno.test("the learning-rate schedule follows the round count (step and cosine)", async () => {
  const { scheduledRate, DEFAULT_LEARNER_OPTIONS } = await import("../../src/learn/learner.ts");
  const t = { ...DEFAULT_LEARNER_OPTIONS, learningRate: 0.1, rateFinal: 0.02, rateDecayRounds: 100 };
  assert.equal(scheduledRate({ ...t, learningRate: 0 }, 5), 0, "0 = the model's own rate");
  assert.equal(scheduledRate(t, 1), 0.1);
  assert.equal(scheduledRate(t, 99), 0.1);
  assert.equal(scheduledRate(t, 100), 0.02);
  assert.equal(scheduledRate(t, 5000), 0.02);
  const cos = { ...t, rateSchedule: "cosine" as const };
  assert.equal(scheduledRate(cos, 1), 0.1);
  assert.ok(Math.abs(scheduledRate(cos, 51) - 0.06) < 1e-9);
  assert.equal(scheduledRate(cos, 100), 0.02);
  const rates: number[] = [];
  const model = Object.assign(new DriftModel(50, 1), { setLearningRate: (lr: number) => rates.push(lr) });
  const l = learner(0, model, { learningRate: 0.1, rateFinal: 0.02, rateDecayRounds: 3 });
  for (let r = 0; r < 5; r++) await l.train(1);
  assert.deepEqual(rates, [0.1, 0.02], "set at round 1 and when it changes");
  assert.equal(l.stats(0).learningRate, 0.02);
});

Deno.test("retune() replaces the frozen tuning, and the peer checks use the new one at once", async () => {
  const P = 200;
  const a = learner(0, new DriftModel(P, 60), { encoding: ValueEncoding.F32, peerTimeoutMs: 1000 });
  const b = learner(1, new DriftModel(P, 61), { encoding: ValueEncoding.F32, peerTimeoutMs: 1000 });
  await b.train(1);
  deliver(a, 1, b.outgoing(1104), 0);
  assert.equal(a.mix(500), 1, "heard 500 ms ago, within the 1 s timeout");
  const before = a.tuning;
  assert.ok(Object.isFrozen(before));
  assert.throws(() => ((before as { peerTimeoutMs: number }).peerTimeoutMs = 5), TypeError);
  a.retune({ peerTimeoutMs: 100 });
  assert.notEqual(a.tuning, before, "replaced, not changed in place");
  assert.equal(before.peerTimeoutMs, 1000);
  assert.equal(a.tuning.peerTimeoutMs, 100);
  assert.equal(a.tuning.pull, before.pull, "the other settings carried over");
  assert.ok(Object.isFrozen(a.tuning));
  assert.equal(a.mix(500), 0, "500 ms is past the new 100 ms timeout");
});

Deno.test("a board waits for a snapshot being pushed instead of asking for it; it asks once the chunks stop", async () => {
  const P = 4000;
  const every = 5;
  const a = learner(0, new DriftModel(P, 30), {
    joining: true,
    joinTimeoutRounds: 50,
    chunksPerRound: 1,
    encoding: ValueEncoding.F32,
  });
  const b = learner(1, new DriftModel(P, 31), { encoding: ValueEncoding.F32, requestEveryRounds: every });
  const copyOfA = (r: number) => b.stats(r).peers.find((p) => p.key === toHex(key(0)));
  const trace: string[] = [];
  let lastChunk = -1;
  let cut = -1;
  for (let r = 0; r < 40; r++) {
    const [fromA, fromB] = await roundOf([a, b], r);
    deliver(a, 1, fromB, r);
    const asked = fromB.some((m) => m.type === LearnMessage.SnapshotRequest);
    const pushing = fromA.some((m) => m.type === LearnMessage.SnapshotChunk);
    const pushed = !a.joining && copyOfA(r) !== undefined;
    // Half of a's push arrives, then its chunks are lost.
    const lost = cut >= 0 || (pushed && copyOfA(r)!.coverage >= 0.5);
    if (lost && cut < 0) cut = r;
    deliver(b, 0, lost ? fromA.filter((m) => m.type !== LearnMessage.SnapshotChunk) : fromA, r);
    if (pushing && !lost) lastChunk = r;
    trace.push(`${r}:${pushing ? "c" : ""}${lost ? "x" : ""}${asked ? "?" : ""}`);
  }
  const t = trace.join(" ");
  assert.equal(a.joining, false, t);
  assert.ok(cut > 0 && lastChunk > 0, `a's push was heard, then lost: ${t}`);
  const askedAt = trace.map((s, r) => s.includes("?") ? r : -1).filter((r) => r >= 0);
  const firstChunk = trace.findIndex((s) => s.includes("c"));
  assert.deepEqual(
    askedAt.filter((r) => r > firstChunk && r <= lastChunk),
    [],
    `no request during the push: ${t}`,
  );
  assert.deepEqual(askedAt.filter((r) => r > lastChunk && r < lastChunk + every), [], `waits: ${t}`);
  assert.ok(askedAt.includes(lastChunk + every), `asks once it stops: ${t}`);
});

Deno.test("snapshotBytes() bounds what a whole-model push of int8 chunks puts on the air", async () => {
  const { snapshotBytes } = await import("../../src/learn/codec.ts");
  const { bodyBudget, FRAME_OVERHEAD } = await import("../../src/wire/mod.ts");
  const P = 25_450; // mnist-mlp
  const a = learner(0, new DriftModel(P, 40), { chunksPerRound: 1000 });
  for (let r = 0; r < 5; r++) {
    await a.train(1);
    a.outgoing(bodyBudget(1232));
  }
  assert.equal(a.handoverBytes(1232), 2 * snapshotBytes(P, ValueEncoding.Int8, 1232), "no chunk sent yet");
  const req = encodeSnapshotRequest({ modelHash: a.model.modelHash, targets: [] });
  a.onMessage(key(1), LearnMessage.SnapshotRequest, req, 0);
  const chunks = a.outgoing(bodyBudget(1232)).filter((m) => m.type === LearnMessage.SnapshotChunk);
  const onAir = chunks.reduce((s, m) => s + FRAME_OVERHEAD + m.body.length, 0);
  const estimate = snapshotBytes(P, ValueEncoding.Int8, 1232);
  assert.equal(chunks.reduce((s, m) => s + m.coordinates, 0), P, "the whole model");
  // Heavy-tailed changes quantize to small integers that DEFLATE shrinks: the estimate is an upper bound.
  // Once chunks went out, a handover (a new epoch: two passes) is counted at the measured size.
  const measured = a.handoverBytes(1232) / 2;
  assert.ok(Math.abs(measured - onAir) < 0.05 * onAir, `handover pass ${measured} B vs ${onAir} B sent`);
  assert.ok(
    onAir <= estimate && onAir >= 0.5 * estimate,
    `${chunks.length} chunks, ${onAir} B vs ${estimate} B`,
  );
});

Deno.test("handoverBytes() goes by the last pass sent, and an untrained board's zeros count at half the bound", async () => {
  const { snapshotBytes } = await import("../../src/learn/codec.ts");
  const { bodyBudget, FRAME_OVERHEAD } = await import("../../src/wire/mod.ts");
  const P = 25_450;
  const bound = snapshotBytes(P, ValueEncoding.Int8, 1232);
  const a = learner(0, new DriftModel(P, 40), { chunksPerRound: 1000 });
  const req = encodeSnapshotRequest({ modelHash: a.model.modelHash, targets: [] });
  const pass = () => {
    a.onMessage(key(1), LearnMessage.SnapshotRequest, req, 0);
    return a.outgoing(bodyBudget(1232)).filter((m) => m.type === LearnMessage.SnapshotChunk);
  };
  // Before any training the contribution is all zeros: its chunks deflate to almost nothing.
  const zeros = pass().reduce((s, m) => s + m.body.length, 0);
  assert.ok(zeros < 0.1 * bound, `an all-zero pass is ${zeros} B of ${bound}`);
  assert.equal(
    a.handoverBytes(1232),
    2 * Math.ceil(0.5 * bound),
    "counted at half the bound, not at its size",
  );
  for (let r = 0; r < 5; r++) {
    await a.train(1);
    a.outgoing(bodyBudget(1232));
  }
  const trained = pass().reduce((s, m) => s + FRAME_OVERHEAD + m.body.length, 0);
  const counted = a.handoverBytes(1232) / 2;
  assert.ok(trained > 0.5 * bound, `a trained pass ${trained} B`);
  assert.ok(
    Math.abs(counted - trained) < 0.05 * trained,
    `the last pass counts (${counted} B vs ${trained} B)`,
  );
});

Deno.test("restore() of a checkpoint older than the peer timeout catches up as a joiner instead of pushing it", async () => {
  const P = 1500;
  const a = learner(0, new DriftModel(P, 50), { encoding: ValueEncoding.F32 });
  const b = learner(1, new DriftModel(P, 51), { encoding: ValueEncoding.F32 });
  const exchange = async (r: number, x: SwarmLearner) => {
    const [fromX, fromB] = await roundOf([x, b], r * 1000);
    deliver(b, 0, fromX, r * 1000);
    deliver(x, 1, fromB, r * 1000);
    return fromX;
  };
  for (let r = 0; r < 5; r++) await exchange(r, a);
  const bytes = a.checkpoint();
  const modelAtCheckpoint = a.weights();
  // b goes on alone for a while (a is off).
  for (let r = 5; r < 80; r++) {
    await b.train(1);
    b.mix(r * 1000);
    b.outgoing(1104);
  }
  const timeout = a.tuning.peerTimeoutMs;
  const back = learner(0, new DriftModel(P, 52), { encoding: ValueEncoding.F32 });
  back.restore(bytes, 80_000, timeout + 1);
  assert.equal(back.joining, true, "catching up");
  assert.equal(back.epoch, a.epoch, "same epoch until it adopts the swarm's centre");
  assert.deepEqual(back.inferenceWeights(), modelAtCheckpoint, "serves the checkpoint's model meanwhile");
  assert.equal(back.stats(80_000).peers.filter((p) => p.inSync).length, 0, "stale copies dropped");
  const first = await exchange(80, back);
  assert.ok(first.some((m) => m.type === LearnMessage.SnapshotRequest), "asks for snapshots");
  assert.ok(!first.some((m) => m.type === LearnMessage.SnapshotChunk), "does not push its stale model");
  for (let r = 81; r < 90 && back.joining; r++) await exchange(r, back);
  assert.equal(back.joining, false, "joined");
  assert.notEqual(back.epoch, a.epoch, "adopted the centre under a new epoch");
  assert.ok(maxAbsDiff(back.weights(), b.inferenceWeights()) < 0.05, "serves the swarm's model");
  // A checkpoint younger than the timeout resumes as before: same epoch, its model pushed.
  const quick = learner(0, new DriftModel(P, 53), { encoding: ValueEncoding.F32 });
  quick.restore(bytes, 80_000, timeout - 1);
  assert.equal(quick.joining, false);
  assert.ok(quick.outgoing(1104).some((m) => m.type === LearnMessage.SnapshotChunk));
});

Deno.test("a new epoch is pushed twice over: a peer that lost a tenth of the first pass still syncs", async () => {
  const P = 3000;
  const a = learner(0, new DriftModel(P, 60), {
    joining: true,
    joinTimeoutRounds: 50,
    encoding: ValueEncoding.F32,
    chunksPerRound: 3,
  });
  const b = learner(1, new DriftModel(P, 61), { encoding: ValueEncoding.F32 });
  let pushed = 0;
  let chunk = 0;
  for (let r = 0; r < 40; r++) {
    const [fromA, fromB] = await roundOf([a, b], r);
    deliver(a, 1, fromB, r);
    for (const m of fromA) {
      if (m.type !== LearnMessage.SnapshotChunk) continue;
      pushed += m.coordinates;
      // Every tenth chunk is lost on the way to b.
      if (++chunk % 10 !== 0) deliver(b, 0, [m], r);
    }
    deliver(b, 0, fromA.filter((m) => m.type !== LearnMessage.SnapshotChunk), r);
  }
  assert.equal(a.joining, false);
  assert.equal(pushed, 2 * P, "two passes, no more (nobody asked)");
  const copy = b.stats(40).peers.find((p) => p.key === toHex(key(0)))!;
  assert.ok(copy.inSync && copy.coverage > 0.95, `b's copy of a: ${copy.coverage}`);
});

Deno.test("a joiner continues the schedule at the rounds its peers report, not at a restored peer's stamps", async () => {
  const P = 1500;
  const a = learner(0, new DriftModel(P, 70), { encoding: ValueEncoding.F32 });
  for (let r = 0; r < 6; r++) await roundOf([a], r * 1000);
  // a restarts from its checkpoint: same epoch, stamps continued 65,536 further on.
  const back = learner(0, new DriftModel(P, 71), { encoding: ValueEncoding.F32 });
  back.restore(a.checkpoint(), 6000, 1000);
  assert.equal(back.joining, false);
  const joiners = [0, 1].map((i) =>
    learner(2 + i, new DriftModel(P, 72 + i), { encoding: ValueEncoding.F32, joining: true })
  );
  for (let r = 6; r < 30 && joiners.some((j) => j.joining); r++) {
    const now = r * 1000;
    await back.train(1);
    back.mix(now);
    const fromBack = back.outgoing(1104);
    const reported = back.stats(now).rounds;
    for (const [i, j] of joiners.entries()) {
      await j.train(1);
      // Only the second joiner hears back's Hellos (the agent passes what its live peers report).
      j.mix(now, undefined, i === 1 ? [reported] : undefined);
      j.outgoing(1104);
      deliver(j, 0, fromBack, now);
    }
  }
  assert.ok(joiners.every((j) => !j.joining), "both joined");
  const rounds = back.stats(30_000).rounds;
  assert.ok(rounds < 40, `back is at round ${rounds}`);
  assert.ok(joiners[0].stats(30_000).rounds >= 65_536, "from stamps alone: the restart's gap");
  const at = joiners[1].stats(30_000).rounds;
  assert.ok(at <= rounds && at >= rounds - 10, `from the reports: round ${at}, back at ${rounds}`);
});
