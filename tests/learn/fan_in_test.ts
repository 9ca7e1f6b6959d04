import assert from "node:assert/strict";
import { deflateSync, inflateSync } from "fflate";
import { ValueEncoding } from "../../src/learn/codec.ts";
import { type LearnerModel, type PeerStatus, SwarmLearner } from "../../src/learn/learner.ts";
import { SeededRandom } from "../../src/time.ts";
import { DriftModel } from "../_support/drift_model.ts";
import { toHex } from "../../src/bytes.ts";

const deflate = (raw: Uint8Array) => deflateSync(raw, { level: 9 });
const key = (i: number) => new Uint8Array(32).fill(i + 1);
const hexKey = (i: number) => toHex(key(i));
const oneRow = { x: new Float32Array(1), y: new Uint8Array(1), count: 1 };
const P = 400;

function learner(i: number, model: LearnerModel, extra: Record<string, unknown> = {}) {
  return new SwarmLearner({
    model,
    data: oneRow,
    features: 1,
    rng: new SeededRandom(100 + i),
    selfKey: key(i),
    deflate,
    batchSize: 1,
    encoding: ValueEncoding.F32,
    ...extra,
  });
}

/** Node 0 observes `peers` others (1..peers), each training alone; returns a round function. */
function star(peers: number, fanIn: number, attacker?: { node: number; model: DriftModel }) {
  const observer = learner(0, new DriftModel(P, 1000), { fanIn });
  const nodes = Array.from({ length: peers }, (_, k) => {
    const i = k + 1;
    const model = attacker?.node === i ? attacker.model : new DriftModel(P, 1000 + i);
    return learner(i, model, attacker?.node === i ? { updateClip: 0 } : {});
  });
  return {
    observer,
    async round(r: number): Promise<PeerStatus[]> {
      const now = r * 1000;
      await observer.train(1);
      observer.mix(now);
      observer.outgoing(1104);
      for (const [k, n] of nodes.entries()) {
        await n.train(1);
        for (const m of n.outgoing(1104)) {
          observer.onMessage(key(k + 1), m.type, inflateSync(m.body), now);
        }
      }
      return observer.stats(now).peers;
    },
  };
}

Deno.test("fan-in keeps at most K peers' copies and rotates every peer in over time (N = 50, K = 8)", async () => {
  const swarm = star(49, 8);
  const everMember = new Set<string>();
  for (let r = 0; r < 400; r++) {
    const peers = await swarm.round(r);
    const copies = Array.from({ length: 49 }, (_, k) => swarm.observer.peerCopy(key(k + 1))).filter((c) => c);
    assert.ok(copies.length <= 8, `round ${r}: ${copies.length} copies kept`);
    assert.equal(peers.length, r === 0 ? peers.length : 49, "every peer is still known (its standing)");
    for (const p of peers) if (p.inSync) everMember.add(p.key);
    assert.ok(peers.filter((p) => p.inSync).length <= 8);
    if (r > 0) assert.ok(peers.every((p) => !p.ignored), "no honest peer is ignored");
  }
  assert.equal(everMember.size, 49, "every peer was merged at some time");
});

Deno.test("fan-in with N ≤ K keeps every peer's copy and never rotates", async () => {
  const swarm = star(6, 8);
  for (let r = 0; r < 40; r++) {
    const peers = await swarm.round(r);
    if (r > 0) assert.equal(peers.filter((p) => p.inSync).length, 6);
  }
  assert.equal(swarm.observer.mix(40_000), 6);
});

Deno.test("rotation gives no clean slate: a peer ignored for its values stays out of the fan-in set", async () => {
  // Peer 1 is among the first members; from round 5 it sends values far beyond any honest scale.
  const model = new DriftModel(P, 7);
  const swarm = star(12, 4, { node: 1, model });
  let rotatedOut = false;
  for (let r = 0; r < 120; r++) {
    model.scale = r < 5 ? 1 : 1e7;
    const peers = await swarm.round(r);
    const evil = peers.find((p) => p.key === hexKey(1))!;
    if (r >= 10) {
      assert.equal(evil.ignored, true, `round ${r}: still ignored`);
      assert.ok(evil.score < 0.5, `round ${r}: score ${evil.score} stays low`);
      if (!evil.inSync) rotatedOut = true;
      else assert.ok(!rotatedOut, `round ${r}: rotated back in with a low score`);
    }
  }
  assert.ok(rotatedOut, "the attacker was rotated out");
  assert.equal(swarm.observer.peerCopy(key(1)), undefined, "no copy kept of it");
});

Deno.test("rotation gives no clean slate: a peer left out for its pace comes back in still left out", async () => {
  // Peer 1 pushes 30× the honest rate from round 40 (values within the bound, score untouched): its
  // pace falls below the floor. Rotated out and back in, its pace is the one it left with.
  const model = new DriftModel(P, 8);
  const swarm = star(8, 4, { node: 1, model });
  let ignoredAt = -1;
  let returns = 0;
  let wasMember = true;
  for (let r = 0; r < 240; r++) {
    model.scale = r < 40 ? 1 : 30;
    const peers = await swarm.round(r);
    const evil = peers.find((p) => p.key === hexKey(1))!;
    if (ignoredAt < 0 && evil.ignored) ignoredAt = r;
    if (ignoredAt >= 0) {
      assert.equal(evil.ignored, true, `round ${r}: left out again after rotating (member: ${evil.inSync})`);
      if (evil.inSync && !wasMember) returns++;
    }
    wasMember = evil.inSync;
  }
  assert.ok(ignoredAt > 0, "left out for its pace");
  assert.ok(returns >= 1, "rotated back in at least once");
});
