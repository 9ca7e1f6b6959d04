import assert from "node:assert/strict";
import { ChangeGuard, quantizationStep, STEP_CAP } from "../../src/learn/_change_guard.ts";
import { applyValues, newCopy } from "../../src/learn/_peers.ts";
import { quantize, ValueEncoding, type ValuesBody } from "../../src/learn/codec.ts";
import { SeededRandom } from "../../src/time.ts";

const P = 1000;
const zeros = new Float32Array(P);
const indices = Uint32Array.from({ length: P }, (_, i) => i);

/** A message carrying `wanted` on one int8 grid (scale max |v| / 127), as a sender encodes it. */
function int8Message(wanted: Float32Array, stamp: number): ValuesBody {
  let m = 0;
  for (const v of wanted) m = Math.max(m, Math.abs(v));
  const values = wanted.map((v) => quantize(v, ValueEncoding.Int8, m / 127));
  return {
    modelHash: new Uint8Array(8),
    epoch: 1,
    stamp,
    paramCount: P,
    encoding: ValueEncoding.Int8,
    indices,
    values,
  };
}

/** A guard whose reference is `size` per round. */
function guardAt(size: number): ChangeGuard {
  const g = new ChangeGuard();
  for (let i = 0; i < 32; i++) g.note(size);
  return g;
}

Deno.test("quantizationStep() is one int8 step, capped at STEP_CAP × ours; fp16 and f32 have none", () => {
  const v = Float32Array.from([0.5, -2.54, 1]);
  assert.equal(quantizationStep(v, true, 1), Math.fround(2.54) / 127);
  assert.equal(
    quantizationStep(v, true, 0.001),
    STEP_CAP * 0.001,
    "a coarse grid earns no more than the cap",
  );
  assert.equal(quantizationStep(v, false, 1), 0);
});

Deno.test("a snapshot chunk re-sending coordinates on another grid is not a change; moving them is", () => {
  const rng = new SeededRandom(7);
  const wanted = Float32Array.from({ length: P }, () => 6 * rng.next() - 3);
  wanted[0] = 3; // the first grid: step 3 / 127
  const ownStep = 3 / 127;
  const fresh = () => {
    const peer = newCopy(new Uint8Array(32), "aa", 1, false, zeros);
    // The first values of a new copy are taken whole.
    const first = applyValues(peer, int8Message(wanted, 1), zeros, 100, guardAt(0.002), 3, ownStep);
    assert.equal(first.applied, P);
    return peer;
  };
  // Re-sent one round later with no progress, on a grid 8% coarser: each coordinate moves by up to one
  // step (0.025, 12 × the bound of 3 × 0.002 per round), all of it rounding.
  const resent = wanted.slice();
  resent[0] = 3.24;
  const again = applyValues(fresh(), int8Message(resent, 2), zeros, 101, guardAt(0.002), 3, ownStep);
  assert.equal(again.share, 1, `re-sent values were slowed: size ${again.size}`);
  assert.equal(again.applied, P);
  // A Delta (no allowance, stepCap 0) moving as far is slowed.
  const delta = applyValues(fresh(), int8Message(resent, 2), zeros, 101, guardAt(0.002), 3, 0);
  assert.ok(delta.share < 0.5, `a Delta's rounding counts (share ${delta.share})`);
  // Without the discount (an f32 message moving as far) it would have been far beyond the bound.
  const raw = Float32Array.from(int8Message(resent, 2).values);
  const f32 = applyValues(
    fresh(),
    { ...int8Message(resent, 2), encoding: ValueEncoding.F32, values: raw },
    zeros,
    101,
    guardAt(0.002),
    3,
    ownStep,
  );
  assert.ok(f32.share < 0.5, `the same move at f32 precision is a change (share ${f32.share})`);
  // Real progress of 4 steps per coordinate in one round is slowed, however coarse the sender's grid.
  for (const spike of [3.2, 30]) {
    const moved = wanted.map((v, i) => i === 0 ? spike : v + (i % 2 ? 4 : -4) * ownStep);
    const out = applyValues(fresh(), int8Message(moved, 2), zeros, 101, guardAt(0.002), 3, ownStep);
    assert.ok(
      out.share < 1,
      `a 4-step move with a largest value of ${spike} was not slowed (size ${out.size})`,
    );
  }
});

Deno.test("a Delta's rounding does not slow its sender's pace; its progress beyond one step does", () => {
  const rng = new SeededRandom(11);
  const wanted = Float32Array.from({ length: P }, () => 6 * rng.next() - 3);
  wanted[0] = 3;
  const ownStep = 3 / 127;
  const fresh = () => {
    const peer = newCopy(new Uint8Array(32), "aa", 1, false, zeros);
    applyValues(peer, int8Message(wanted, 1), zeros, 100, guardAt(0.002), 3, 0, ownStep);
    return peer;
  };
  // The same values one round later on a grid 8% coarser: all of the move is rounding. What is applied
  // is still slowed (a Delta's rounding is not allowed for there), but the pace is not, nor is the
  // message rejected as far beyond any honest rate.
  const resent = wanted.slice();
  resent[0] = 3.24;
  const again = applyValues(fresh(), int8Message(resent, 2), zeros, 101, guardAt(0.002), 3, 0, ownStep);
  assert.ok(again.share < 0.5, `what is applied is slowed (share ${again.share})`);
  assert.equal(again.paceShare, 1, `rounding read as speed (size ${again.size})`);
  assert.equal(again.applied, P);
  // Without our own step (paceStep 0) the pace follows the applied share, as before.
  const old = applyValues(fresh(), int8Message(resent, 2), zeros, 101, guardAt(0.002), 3, 0, 0);
  assert.equal(old.paceShare, old.share);
  // A boosted update (every coordinate moved by 30 steps) keeps almost all of its speed: the step it may
  // discount is capped at ours however coarse its grid, and it is far beyond the bound.
  const boosted = wanted.map((v, i) => v + (i % 2 ? 30 : -30) * ownStep);
  const out = applyValues(fresh(), int8Message(boosted, 2), zeros, 101, guardAt(0.002), 3, 0, ownStep);
  assert.ok(out.paceShare < 0.25, `a boosted update kept its pace (share ${out.paceShare})`);
  assert.equal(out.applied, 0, "far beyond any honest rate: not applied");
});
