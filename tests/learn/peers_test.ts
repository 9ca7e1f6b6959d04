import assert from "node:assert/strict";
import { damped, newCopy, PACE_MIN, peerStatus, TENURE, trusted } from "../../src/learn/_peers.ts";
import { clipScale } from "../../src/learn/_merge.ts";
import { DEFAULT_LEARNER_OPTIONS } from "../../src/learn/mod.ts";
import { standingOf } from "../../src/learn/_standing.ts";
import { ValueEncoding } from "../../src/learn/codec.ts";

const tuning = DEFAULT_LEARNER_OPTIONS;

Deno.test("damped(): a slow peer loses its pull beyond the clip radius, or wherever it lies while new at the swarm's start; never left out", () => {
  const p = newCopy(new Uint8Array(32), "aa", 0, true, new Float32Array(4));
  assert.ok(p.early, "a genesis copy was first heard at the swarm's start");
  assert.ok(trusted(p, tuning) && !damped(p), "a fresh peer is merged with its full pull");
  p.pace = PACE_MIN / 2;
  assert.ok(damped(p), "slow and new at the start: damped wherever its copy lies");
  assert.ok(clipScale(p, tuning) < 1e-11, "its radius goes within the radius too");
  assert.ok(trusted(p, tuning), "and it is still merged");
  p.accepted = TENURE;
  assert.ok(!damped(p), "slow, known, within the radius: full pull (an honest peer whose data differs)");
  assert.equal(clipScale(p, tuning), 1);
  p.far = true;
  assert.ok(damped(p) && trusted(p, tuning), "slow and beyond the radius: damped, still merged");
  assert.equal(clipScale(p, tuning), 1, "beyond the radius the merge applies its pace (paceScale)");
  p.pace = PACE_MIN;
  assert.ok(!damped(p), "back at pace: its pull back wherever its copy lies");
  p.score = 0;
  assert.ok(!trusted(p, tuning), "a score below the threshold leaves it out whatever its pace");
});

Deno.test("damped(): a slow peer first heard in a running swarm keeps its pull within the radius from its first message", () => {
  // A late joiner's view: every peer is new to it, the copies have converged, the radius tells.
  const p = newCopy(new Uint8Array(32), "aa", 0, false, new Float32Array(4));
  assert.ok(!p.early);
  p.pace = PACE_MIN / 2;
  assert.ok(!damped(p) && clipScale(p, tuning) === 1, "slow, new, within the radius: full pull");
  p.far = true;
  assert.ok(damped(p), "slow and beyond the radius: damped");
  // Rebuilt copies (a new epoch, a committee seat again) keep where the peer was first heard.
  const again = newCopy(new Uint8Array(32), "aa", 1, false, new Float32Array(4), { ...p, early: true });
  assert.ok(again.early);
});

Deno.test("standingOf(): a peer whose copy is dropped (off the committee) keeps where it was first heard", () => {
  const p = newCopy(new Uint8Array(32), "aa", 0, true, new Float32Array(4));
  p.pace = PACE_MIN / 2;
  const s = standingOf(p);
  assert.equal(s.early, true);
  assert.ok(trusted(s, tuning), "slowness alone never leaves a peer out, on standby either");
  const back = newCopy(s.key, s.hex, s.epoch + 1, false, new Float32Array(4), s);
  assert.equal(back.early, true, "a copy rebuilt when it holds a seat again is still an early peer");
  assert.ok(damped(back), "and still damped until it has tenure or slows down");
});

Deno.test("snapshotTargets(): one board's broadcast request serves the others; a peer pushing is not asked", async () => {
  const { PeerTable } = await import("../../src/learn/_peer_table.ts");
  const every = tuning.requestEveryRounds;
  const table = new PeerTable(tuning);
  const keys = [1, 2, 3].map((i) => new Uint8Array(32).fill(i));
  keys.forEach((k, i) => table.peers.set(`k${i}`, newCopy(k, `k${i}`, 1, false, new Float32Array(4))));
  assert.equal(table.snapshotTargets(10).length, 3, "every copy out of sync is asked for");
  assert.deepEqual(table.snapshotTargets(10 + every - 1), [], "not again within requestEveryRounds");
  // Another board asks for k0 at round 20: we wait for the push it triggers.
  table.heardRequest([keys[0].slice(0, 8)], 20);
  assert.deepEqual(table.snapshotTargets(20).map((t) => t[0]), [2, 3]);
  table.heardRequest([], 30);
  assert.deepEqual(table.snapshotTargets(30), [], "a joiner asked everyone");
  assert.equal(table.snapshotTargets(30 + every).length, 3);
  // A peer whose chunks we hear is pushing: no request until they stop for requestEveryRounds.
  table.peers.get("k1")!.pushedAt = 50;
  assert.deepEqual(table.snapshotTargets(50 + every - 1).map((t) => t[0]), [1, 3]);
  assert.deepEqual(table.snapshotTargets(50 + every).map((t) => t[0]), [2]);
});

Deno.test("ignoredBecause(): score, then silence; a slowed far peer is damped, never ignored", async () => {
  const { ignoredBecause, ignoredNow } = await import("../../src/learn/_peers.ts");
  const p = newCopy(new Uint8Array(32), "aa", 0, false, new Float32Array(4));
  p.lastHeard = 1000;
  assert.equal(ignoredBecause(p, 1000, tuning), undefined);
  assert.equal(ignoredBecause(p, 1000 + tuning.peerTimeoutMs + 1, tuning), "silent");
  p.pace = PACE_MIN / 2;
  p.far = true;
  assert.equal(ignoredBecause(p, 1000, tuning), undefined);
  assert.equal(peerStatus(p, 1000, tuning).damped, true);
  p.score = 0;
  assert.equal(ignoredBecause(p, 1000, tuning), "score");
  assert.equal(ignoredNow(p, 1000, tuning), true);
});

Deno.test("PeerTable: a board heard entering the committee before our clock reaches its seat keeps its push", async () => {
  const { PeerTable, EARLY_MAX } = await import("../../src/learn/_peer_table.ts");
  const table = new PeerTable(tuning);
  const P = 4;
  const zeros = new Float32Array(P);
  const ctx = {
    modelHash: new Uint8Array(8),
    paramCount: P,
    genesis: zeros,
    pub: zeros,
    round: 10,
    valueBound: 100,
    stepCap: 0,
    paceStep: 0,
  };
  const key = (i: number) => new Uint8Array(32).fill(i);
  const hex = (i: number) => `k${i}`;
  const msg = (epoch: number, stamp: number) => ({
    modelHash: new Uint8Array(8),
    epoch,
    stamp,
    paramCount: P,
    encoding: ValueEncoding.F32,
    indices: Uint32Array.from([0, 1, 2, 3]),
    values: Float32Array.from([0.1, 0.2, 0.3, 0.4]),
  });
  // Our committee: boards 1 and 2. Board 3 sat before (epoch 5) and is on standby.
  table.restrict(new Set([hex(1), hex(2)]), new Map(), 0);
  table.standby.set(hex(3), standingOf(newCopy(key(3), hex(3), 5, false, zeros)));
  // Board 3 again under its old epoch (its last messages before it left): standby, no copy.
  assert.equal(table.apply(key(3), hex(3), msg(5, 9), 1000, ctx).accepted, true);
  assert.equal(table.get(hex(3)), undefined);
  // Under a new epoch it has just entered a seat our clock has not reached: its push is kept.
  assert.equal(table.apply(key(3), hex(3), msg(6, 1), 1000, ctx).accepted, true);
  assert.ok(table.get(hex(3)) && table.isEarly(hex(3)));
  assert.equal(table.get(hex(3))!.known, P, "the pushed values are applied");
  // A board never heard, under a new epoch: the same. Epoch 0 (the swarm's start) is not an entry.
  table.apply(key(4), hex(4), msg(7, 1), 1000, ctx);
  assert.ok(table.isEarly(hex(4)));
  table.apply(key(5), hex(5), msg(0, 1), 1000, ctx);
  assert.equal(table.get(hex(5)), undefined);
  // Our next round, still before the seat change: the early copies stay.
  table.restrict(new Set([hex(1), hex(2)]), new Map(), 2000);
  assert.ok(table.get(hex(3)) && table.get(hex(4)));
  // Our clock reaches it: board 3 is a holder now, an ordinary copy.
  table.restrict(new Set([hex(1), hex(3)]), new Map(), 3000);
  assert.ok(table.get(hex(3)) && !table.isEarly(hex(3)));
  // Board 4 never shows up on our committee: dropped to standby after the peer timeout.
  table.restrict(new Set([hex(1), hex(3)]), new Map(), 1000 + tuning.peerTimeoutMs + 1);
  assert.equal(table.get(hex(4)), undefined);
  assert.ok(table.standby.has(hex(4)));
  // At most EARLY_MAX early copies at a time: junk epochs cannot make us hold every board's copy.
  for (let i = 10; i < 10 + EARLY_MAX + 3; i++) table.apply(key(i), hex(i), msg(i, 1), 5000, ctx);
  const early = [...Array(EARLY_MAX + 3).keys()].filter((j) => table.isEarly(hex(10 + j))).length;
  assert.equal(early, EARLY_MAX);
});
