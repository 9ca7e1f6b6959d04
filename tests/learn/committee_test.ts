import assert from "node:assert/strict";
import { Committee, slotOwners } from "../../src/learn/_committee.ts";
import { toHex } from "../../src/bytes.ts";
import { SeededRandom } from "../../src/time.ts";

const rng = new SeededRandom(3);
const boards = Array.from(
  { length: 40 },
  () => toHex(Uint8Array.from({ length: 32 }, () => rng.nextU32() & 0xff)),
);
const PERIOD = 80_000;

Deno.test("every board that hears the same roster draws the same committee of K distinct boards", () => {
  for (const now of [0, 1_234, 79_999, 5_000_000]) {
    const owners = slotOwners(boards, 8, PERIOD, now);
    assert.equal(owners.length, 8);
    assert.equal(new Set(owners).size, 8, "no board holds two seats");
    for (const o of owners) assert.ok(boards.includes(o));
    const shuffled = [...boards].reverse();
    assert.deepEqual(slotOwners([...shuffled, boards[0]], 8, PERIOD, now), owners, "order and duplicates");
  }
  assert.deepEqual(new Set(slotOwners(boards.slice(0, 5), 8, PERIOD, 0)), new Set(boards.slice(0, 5)));
});

Deno.test("seats change hands one at a time, and every board holds one over time", () => {
  const k = 8;
  const step = PERIOD / k / 4;
  let prev = slotOwners(boards, k, PERIOD, 0);
  const held = new Set(prev);
  let handovers = 0;
  let seatsChanged = 0;
  for (let t = step; t <= 60 * PERIOD; t += step) {
    const owners = slotOwners(boards, k, PERIOD, t);
    const changed = owners.filter((o, s) => o !== prev[s]).length;
    if (changed > 0) handovers++;
    seatsChanged += changed;
    for (const o of owners) held.add(o);
    prev = owners;
  }
  // One seat per PERIOD / k: 60 periods × 8 seats, less the draws that keep the same holder.
  assert.ok(handovers > 400 && handovers <= 480, `${handovers} handovers`);
  // A seat's new holder may have held a later seat, which then changes too (≈ K/2N of the time).
  assert.ok(seatsChanged <= handovers * 1.3, `${seatsChanged} seats changed in ${handovers} handovers`);
  assert.equal(held.size, boards.length, "every board held a seat");
});

Deno.test("a board leaving the roster moves only the seat it held", () => {
  for (const now of [0, 10_000, 333_333]) {
    const owners = slotOwners(boards, 8, PERIOD, now);
    const outsider = boards.find((b) => !owners.includes(b))!;
    assert.deepEqual(slotOwners(boards.filter((b) => b !== outsider), 8, PERIOD, now), owners);
    const member = owners[3];
    const after = slotOwners(boards.filter((b) => b !== member), 8, PERIOD, now);
    const changed = after.filter((o, s) => o !== owners[s]);
    assert.ok(changed.length >= 1 && changed.length <= 2, `${changed.length} seats changed`);
    assert.ok(!after.includes(member));
  }
});

Deno.test("a board winning a seat adopts the outgoing holder's model; the outgoing copy is merged until the new one is in sync", () => {
  const [a, b, c, me] = ["aa", "bb", "cc", "dd"];
  const ready = new Set([a, b, c]);
  const committee = new Committee();
  assert.equal(committee.member, true, "a member until told otherwise");
  let step = committee.step([a, b], me, (h) => ready.has(h));
  assert.deepEqual(step, {
    member: false,
    own: false,
    adopt: undefined,
    merge: [a, b],
    keep: new Set([a, b]),
    heirs: new Map(),
  });
  // Our turn: we take seat 1 from b and adopt b's pseudo-model.
  step = committee.step([a, me], me, (h) => ready.has(h));
  assert.equal(step.member, true);
  assert.equal(step.adopt, b);
  assert.deepEqual(step.merge, [a]);
  assert.deepEqual(step.keep, new Set([a]));
  // c takes seat 0 from a: a's copy is merged (and kept) until c's is in sync.
  ready.delete(c);
  step = committee.step([c, me], me, (h) => ready.has(h));
  assert.equal(step.adopt, undefined, "already a member");
  assert.deepEqual(step.merge, [a]);
  assert.deepEqual(step.keep, new Set([c, a]));
  assert.deepEqual(step.heirs, new Map([[c, a]]), "c's copy starts from a's");
  step = committee.step([c, me], me, (h) => ready.has(h));
  assert.deepEqual(step.merge, [a], "still carried");
  ready.add(c);
  step = committee.step([c, me], me, (h) => ready.has(h));
  assert.deepEqual(step.merge, [c]);
  assert.deepEqual(step.keep, new Set([c]), "a's copy is dropped");
  // Leaving: our own pseudo-model stands in for our successor's copy until it is in sync.
  ready.delete(b);
  step = committee.step([c, b], me, (h) => ready.has(h));
  assert.deepEqual([step.member, step.own, step.merge], [false, true, [c]]);
  ready.add(b);
  step = committee.step([c, b], me, (h) => ready.has(h));
  assert.deepEqual([step.member, step.own, step.merge], [false, false, [c, b]]);
  // Winning a seat whose outgoing holder we do not hold: the swarm model is adopted.
  ready.delete(c);
  assert.equal(committee.step([me, b], me, (h) => ready.has(h)).adopt, null);
  // The committee switched off (the swarm shrank) makes every board a member again.
  committee.step([c, b], me, () => true);
  step = committee.step(undefined, me, () => true);
  assert.deepEqual(step, {
    member: true,
    own: true,
    adopt: null,
    merge: [],
    keep: new Set(),
    heirs: new Map(),
  });
});

Deno.test("a board moving to another seat keeps its model; the board newly entering takes over the one that left", () => {
  const [a, b, c, me] = ["aa", "bb", "cc", "dd"];
  // Seat 0: a → b (b held seat 1); seat 1: b → c.
  const watcher = new Committee();
  watcher.step([a, b], me, () => true);
  const step = watcher.step([b, c], me, (h) => h !== c);
  assert.deepEqual(step.merge, [b, a], "b's copy stays in sync; a's stands in for c's");
  assert.deepEqual(step.keep, new Set([b, c, a]));
  const entering = new Committee();
  entering.step([a, b], c, () => true);
  assert.equal(entering.step([b, c], c, () => true).adopt, a);
  const moving = new Committee();
  moving.step([a, b], b, () => true);
  assert.equal(moving.step([b, c], b, () => true).adopt, undefined, "no new epoch for the board that moved");
});

Deno.test("an outgoing holder's copy stands in past the peer timeout (it stopped publishing when it left)", () => {
  const [a, b, c, me] = ["aa", "bb", "cc", "dd"];
  const committee = new Committee();
  committee.step([a, b], me, () => true);
  // a left (silent since: not `ready`, but its copy is held, trusted and in sync); c is catching up.
  const step = committee.step([c, b], me, (h) => h === b, (h) => h === a || h === b);
  assert.deepEqual(step.merge, [a, b]);
});

Deno.test("a board re-entering soon after it left is merged from its new epoch, not the copy held from before", () => {
  const [a, b, c, me] = ["aa", "bb", "cc", "dd"];
  const epochs = new Map([[a, 1], [b, 2], [c, 3]]);
  const committee = new Committee();
  const entry = (now: number) => ({ epochOf: (h: string) => epochs.get(h), now, graceMs: 1_000 });
  const ready = () => true;
  committee.step([a, b], me, ready, ready, entry(0));
  // b leaves (c takes its seat; b's copy stands in until c's is in sync).
  let step = committee.step([a, c], me, (h) => h !== c, ready, entry(100));
  assert.deepEqual(step.merge, [a, b]);
  epochs.set(c, 4);
  committee.step([a, c], me, ready, ready, entry(200));
  // b wins a seat again, from a: our copy of b is still in sync, but it is the copy from before b entered.
  step = committee.step([b, c], me, ready, ready, entry(300));
  assert.deepEqual(step.merge, [a, c], "a's copy stands in for b's new one");
  assert.deepEqual(step.heirs, new Map([[b, a]]), "b's new copy starts from a's (the value b adopted)");
  assert.deepEqual(step.keep, new Set([b, c, a]));
  step = committee.step([b, c], me, ready, ready, entry(400));
  assert.deepEqual(step.merge, [a, c], "still the old epoch");
  epochs.set(b, 5);
  step = committee.step([b, c], me, ready, ready, entry(500));
  assert.deepEqual(step.merge, [b, c], "b's new epoch, in sync");
  assert.deepEqual(step.keep, new Set([b, c]));
  // A new epoch heard before we saw the board enter: taken as it is after a seat interval.
  committee.step([a, c], me, ready, ready, entry(600));
  step = committee.step([b, c], me, ready, ready, entry(700));
  assert.deepEqual(step.merge, [a, c]);
  step = committee.step([b, c], me, ready, ready, entry(1_700));
  assert.deepEqual(step.merge, [b, c]);
});
