import assert from "node:assert/strict";
import { LocalGuard, trimContradicted } from "../../src/learn/_local_training.ts";
import { SeededRandom } from "../../src/time.ts";

const F = 16;

function rowsOf(count: number, rng: SeededRandom): Float32Array {
  return Float32Array.from({ length: count * F }, () => rng.next());
}

Deno.test("LocalGuard skips rows that are non-finite or far off the usual scale, keeps the rest", () => {
  const rng = new SeededRandom(1);
  const x = rowsOf(100, rng);
  x.fill(NaN, 3 * F, 3 * F + 1); // row 3: one NaN
  for (let i = 7 * F; i < 8 * F; i++) x[i] *= 255; // row 7: raw 0–255 values
  x.fill(1e30, 9 * F, 10 * F); // row 9: 1e30
  const g = new LocalGuard();
  g.prime(x, 100, F);
  const usable = Array.from({ length: 100 }, (_, r) => g.rowUsable(x, r, F, 10));
  assert.deepEqual(usable.flatMap((u, r) => (u ? [] : [r])), [3, 7, 9]);
  assert.equal(g.skippedRows, 3);
  const off = new LocalGuard();
  off.prime(x, 100, F);
  assert.equal(off.rowUsable(x, 7, F, 0), true, "rowOutlier 0 = no scale check");
  assert.equal(off.rowUsable(x, 3, F, 0), false, "non-finite rows are always skipped");
});

Deno.test("LocalGuard scales a round's update down to 3× the recent median and drops a non-finite one", () => {
  const g = new LocalGuard();
  const update = (size: number) => new Float32Array(4).fill(size / 2); // L2 norm = size
  for (let i = 0; i < 10; i++) assert.equal(g.guard(update(1), 3), "kept");
  const big = update(30);
  assert.equal(g.guard(big, 3), "clipped");
  const norm = Math.hypot(...big);
  assert.ok(Math.abs(norm - 3) < 1e-5, `scaled to 3 × the median: ${norm}`);
  const bad = update(1);
  bad[2] = Infinity;
  assert.equal(g.guard(bad, 3), "dropped");
  assert.deepEqual(Array.from(bad), [0, 0, 0, 0], "a dropped update adds nothing");
  assert.equal(g.guard(update(2.5), 3), "kept", "within the bound");
  assert.equal(g.guard(update(30), 0), "kept", "updateClip 0 = off");
  assert.deepEqual([g.clippedRounds, g.droppedRounds], [1, 1]);
});

Deno.test("trimContradicted leaves out only rows the model confidently contradicts, the most contradicted first", () => {
  // Four classes; rows 0–5 carry their row number as every value so the compaction can be checked.
  const probs = Float32Array.from([
    [0.97, 0.01, 0.01, 0.01], // row 0, label 0: agreed
    [0.01, 0.01, 0.97, 0.01], // row 1, label 1: confidently contradicted (p(label) 0.01)
    [0.4, 0.5, 0.05, 0.05], // row 2, label 0: contradicted, but not confidently (a hard row)
    [0.03, 0.92, 0.03, 0.02], // row 3, label 2: confidently contradicted (p(label) 0.03)
    [0.1, 0.1, 0.7, 0.1], // row 4, label 2: agreed, unsure
    [0.02, 0.02, 0.02, 0.94], // row 5, label 1: confidently contradicted (p(label) 0.02)
  ].flat());
  const labels = [0, 1, 0, 2, 2, 1];
  const fresh = () => ({
    x: Float32Array.from({ length: 6 * 3 }, (_, i) => Math.floor(i / 3)),
    y: Uint8Array.from(labels),
  });
  const kept = (x: Float32Array, n: number) => Array.from({ length: n }, (_, r) => x[r * 3]);

  let { x, y } = fresh();
  let n = trimContradicted(probs, x, y, 6, 3, 0.5, 0.9);
  assert.deepEqual(kept(x, n), [0, 2, 4], "all three confident contradictions fit in half the batch");
  assert.deepEqual(Array.from(y.subarray(0, n)), [0, 0, 2], "labels move with their rows");

  ({ x, y } = fresh());
  n = trimContradicted(probs, x, y, 6, 3, 2 / 6, 0.9);
  assert.deepEqual(kept(x, n), [0, 2, 3, 4], "at most a third: the two lowest p(label) go");

  ({ x, y } = fresh());
  n = trimContradicted(probs, x, y, 6, 3, 0.5, 0);
  assert.deepEqual(kept(x, n), [0, 2, 4], "without a confidence floor the lowest p(label) still go first");

  ({ x, y } = fresh());
  // Our rows hold classes 0 and 1 only: row 1 (predicted 2) and row 5 (predicted 3) are pushed to classes
  // we do not hold (label skew); row 3 is "one of our 1s labelled 2".
  const shares = Float64Array.from([0.5, 0.5, 0, 0]);
  n = trimContradicted(probs, x, y, 6, 3, 0.5, 0.9, shares, 0.05);
  assert.deepEqual(kept(x, n), [0, 1, 2, 4, 5], "only contradictions towards a class we hold go");

  ({ x, y } = fresh());
  assert.equal(trimContradicted(probs, x, y, 6, 3, 0, 0.9), 6, "share 0 = off");
  assert.deepEqual(kept(x, 6), [0, 1, 2, 3, 4, 5]);
});
