/**
 * Bounded fan-in in a small in-memory swarm (`src/learn/_committee.ts`): with more boards than K only
 * the committee trains and publishes, every board keeps and merges only its copies, seats change hands
 * over time, and the checks keep their memory across turns.
 */
import assert from "node:assert/strict";
import { deflateSync, inflateSync } from "fflate";
import { ValueEncoding } from "../../src/learn/codec.ts";
import { type LearnerModel, LearnMessage, SwarmLearner } from "../../src/learn/learner.ts";
import { SeededRandom } from "../../src/time.ts";
import { slotOwners } from "../../src/learn/_committee.ts";
import { DriftModel } from "../_support/drift_model.ts";
import { toHex } from "../../src/bytes.ts";

const deflate = (raw: Uint8Array) => deflateSync(raw, { level: 9 });
const key = (i: number) => new Uint8Array(32).fill(i + 1);
const hexKey = (i: number) => toHex(key(i));
const oneRow = { x: new Float32Array(1), y: new Uint8Array(1), count: 1 };
const P = 400;
/** One seat changes hands every PERIOD / K ms; a round is 1,000 ms. */
const PERIOD = 40_000;

function learner(i: number, model: LearnerModel, fanIn: number, extra: Record<string, unknown> = {}) {
  return new SwarmLearner({
    model,
    data: oneRow,
    features: 1,
    rng: new SeededRandom(100 + i),
    selfKey: key(i),
    deflate,
    batchSize: 1,
    encoding: ValueEncoding.F32,
    fanIn,
    fanInPeriodMs: PERIOD,
    ...extra,
  });
}

/** `n` boards, every datagram delivered to every other board; `attacker` replaces one board's model. */
function swarm(n: number, fanIn: number, attacker?: { node: number; model: DriftModel }) {
  const nodes = Array.from({ length: n }, (_, i) => {
    const model = attacker?.node === i ? attacker.model : new DriftModel(P, 1000 + i);
    return learner(i, model, fanIn, attacker?.node === i ? { updateClip: 0 } : {});
  });
  const roster = nodes.map((_, i) => hexKey(i));
  return {
    nodes,
    /** One round; returns which boards published model values. */
    async round(r: number): Promise<Set<number>> {
      const now = r * 1000;
      const published = new Set<number>();
      const sent: { from: number; type: number; body: Uint8Array }[] = [];
      for (const [i, l] of nodes.entries()) {
        await l.train(1);
        l.mix(now, roster);
        for (const m of l.outgoing(1104)) {
          if (m.type !== LearnMessage.SnapshotRequest) published.add(i);
          sent.push({ from: i, type: m.type, body: inflateSync(m.body) });
        }
      }
      for (const m of sent) {
        for (const [i, l] of nodes.entries()) if (i !== m.from) l.onMessage(key(m.from), m.type, m.body, now);
      }
      return published;
    },
  };
}

Deno.test("fan-in K = 4 of 12 boards: only the committee publishes, copies stay within K, seats rotate", async () => {
  const s = swarm(12, 4);
  const seated = new Set<number>();
  for (let r = 0; r < 1000; r++) {
    const published = await s.round(r);
    const members = s.nodes.flatMap((l, i) => l.stats(r * 1000).member ? [i] : []);
    assert.equal(members.length, 4, `round ${r}: ${members.length} members`);
    for (const i of published) {
      assert.ok(members.includes(i), `round ${r}: board ${i} published off the committee`);
    }
    for (const i of members) seated.add(i);
    for (const [i, l] of s.nodes.entries()) {
      const copies = Array.from({ length: 12 }, (_, j) => l.peerCopy(key(j))).filter((c) => c).length;
      // The committee's copies, plus an outgoing holder's kept until the newcomer's copy is in sync.
      assert.ok(copies <= 5, `round ${r}: board ${i} keeps ${copies} copies`);
      if (r > 5) {
        const ignored = l.stats(r * 1000).peers.filter((p) => p.ignored);
        assert.deepEqual(ignored, [], `round ${r}: board ${i} ignores an honest board`);
      }
    }
  }
  assert.equal(seated.size, 12, "every board held a seat");
  // Everyone serves nearly the same model: the committee's centre.
  const w = s.nodes.map((l) => l.inferenceWeights());
  let spread = 0;
  for (let c = 0; c < P; c++) spread = Math.max(spread, ...w.map((v) => Math.abs(v[c] - w[0][c])));
  assert.ok(spread < 0.05, `served models differ by ${spread}`);
});

Deno.test("fan-in with N ≤ K: every board publishes and merges every peer", async () => {
  const s = swarm(6, 8);
  for (let r = 0; r < 40; r++) {
    const published = await s.round(r);
    if (r > 0) assert.equal(published.size, 6);
  }
  for (const l of s.nodes) assert.equal(l.mix(40_000, s.nodes.map((_, i) => hexKey(i))), 5);
});

Deno.test("a seat gives no clean slate: a board ignored for its values stays ignored on its next turns", async () => {
  // A board holding a seat from the start sends values far beyond any honest scale from round 5 on.
  const model = new DriftModel(P, 7);
  const evilNode = Array.from({ length: 10 }, (_, i) => hexKey(i)).indexOf(
    slotOwners(Array.from({ length: 10 }, (_, i) => hexKey(i)), 3, PERIOD, 0)[0],
  );
  const s = swarm(10, 3, { node: evilNode, model });
  let turns = 0;
  let wasMember = false;
  for (let r = 0; r < 1000; r++) {
    model.scale = r < 5 ? 1 : 1e7;
    await s.round(r);
    const member = s.nodes[evilNode].stats(r * 1000).member;
    if (member && !wasMember) turns++;
    wasMember = member;
    if (r < 20) continue;
    for (const [i, l] of s.nodes.entries()) {
      if (i === evilNode) continue;
      const evil = l.stats(r * 1000).peers.find((p) => p.key === hexKey(evilNode));
      if (!evil) continue;
      assert.equal(evil.ignored, true, `round ${r}: board ${i} no longer ignores it`);
      assert.ok(evil.score < 0.5, `round ${r}: score ${evil.score}`);
      if (!member) {
        assert.equal(l.peerCopy(key(evilNode)), undefined, `round ${r}: board ${i} keeps its copy`);
      }
    }
  }
  assert.ok(turns >= 2, `the attacker held a seat ${turns} times`);
});
