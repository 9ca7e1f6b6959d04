import assert from "node:assert/strict";
import {
  aggregate,
  centeredClip,
  groupMean,
  nearestNeighbourMix,
  topK,
  trimCount,
  twinGroups,
} from "../../src/learn/robust.ts";
import { SeededRandom } from "../../src/time.ts";

const v = (...xs: number[]) => Float32Array.from(xs);

Deno.test("trimCount() trims one value per end for 3 to 8 copies and more beyond", () => {
  assert.deepEqual([2, 3, 4, 5, 8, 9, 13].map(trimCount), [0, 1, 1, 1, 1, 2, 3]);
});

Deno.test("aggregate() trimmed mean and median ignore one huge outlier among 3 and 5 copies", () => {
  const honest = [v(1, 2, 3), v(1.2, 2.2, 2.8), v(0.8, 1.9, 3.1), v(1.1, 2.1, 3)];
  const evil = v(1e6, -1e6, 1e6);
  for (const rule of ["trimmed-mean", "median", "clip"] as const) {
    for (const copies of [[...honest.slice(0, 2), evil], [...honest, evil]]) {
      const out = aggregate(copies, rule, new Float32Array(3));
      for (let i = 0; i < 3; i++) {
        assert.ok(Math.abs(out[i] - honest[0][i]) < 0.5, `${rule} n=${copies.length} coord ${i}: ${out[i]}`);
      }
    }
  }
  const mean = aggregate([...honest, evil], "mean", new Float32Array(3));
  assert.ok(mean[0] > 1000, "plain mean is wrecked (the reason robust rules exist)");
});

Deno.test("aggregate() of identical copies is that copy for every rule", () => {
  const c = v(0.5, -0.25, 3);
  for (const rule of ["trimmed-mean", "median", "clip", "mean"] as const) {
    assert.deepEqual(aggregate([c, c, c, c], rule, new Float32Array(3)), c);
  }
});

Deno.test("topK() returns the k largest scores as ascending indices, skipping excluded ones", () => {
  const rng = new SeededRandom(5);
  for (let t = 0; t < 50; t++) {
    const n = 1 + (rng.nextU32() % 500);
    const score = Float32Array.from({ length: n }, () => Math.floor(rng.next() * 50));
    const k = rng.nextU32() % (n + 2);
    const got = Array.from(topK(score, k));
    const want = Array.from(score, (s, i) => [s, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k)
      .map(([, i]) => i).sort((a, b) => a - b);
    assert.deepEqual(got, want, `n=${n} k=${k}`);
  }
  assert.deepEqual(Array.from(topK(v(5, 9, 1, 7), 2, Uint8Array.from([0, 1, 0, 0]))), [0, 3]);
});

Deno.test("centeredClip() cuts a copy's pull by its far scale only while it lies beyond the radius", () => {
  // Four copies around 0 (distance 1 each, as honest copies under label skew: different, alike in
  // distance) and one 12 away (a boosted model-replacement copy).
  const near = [[1, 0], [-1, 0], [0, 1], [0, -1]].map((v) => Float32Array.from(v));
  const far = Float32Array.from([12, 0]);
  const run = (copies: Float32Array[], farScales?: number[]) => {
    const centre = new Float32Array(2);
    centeredClip(copies, centre, 0, 3, undefined, farScales);
    return centre;
  };
  // Unscaled, the far copy pulls the centre by up to the radius (3 × the median distance) / 5.
  assert.ok(run([...near, far])[0] > 0.4);
  // Scaled to nothing, it has no pull at all: the centre stays at 0.
  assert.ok(Math.abs(run([...near, far], [1, 1, 1, 1, 0])[0]) < 1e-6);
  // Copies within the radius are merged whole whatever their far scale: the same centre as unscaled.
  const skewed = [...near.slice(0, 3), Float32Array.from([0, -2.5])];
  assert.deepEqual(run(skewed, [0, 0, 0, 0]), run(skewed));
  assert.ok(run(skewed)[1] < -0.1, "the farthest copy within the radius still pulls");
});

Deno.test("centeredClip() with a far power pulls less the farther a copy lies beyond the radius", () => {
  const near = [[1, 0], [-1, 0], [0, 1], [0, -1]].map((v) => Float32Array.from(v));
  const pull = (d: number, farPower: number) => {
    const centre = new Float32Array(2);
    centeredClip([...near, Float32Array.from([d, 0])], centre, 0, 3, undefined, undefined, farPower);
    return centre[0];
  };
  // Plain clipping: any copy beyond the radius pulls by the radius, however far it lies.
  assert.ok(Math.abs(pull(6, 0) - pull(60, 0)) < 1e-6);
  // Redescending: at 6 the pull is about (3/6)² of it, at 60 almost nothing.
  assert.ok(pull(6, 2) < pull(6, 0) * 0.4 && pull(6, 2) > 0);
  assert.ok(pull(60, 2) < pull(6, 0) * 0.01);
  // Within the radius nothing changes.
  assert.equal(pull(2.5, 2), pull(2.5, 0));
});

Deno.test("aggregate() median equals the sorted median for odd and even counts, ties included", () => {
  const rng = new SeededRandom(9);
  for (let n = 3; n <= 40; n++) {
    const dim = 50;
    const copies = Array.from(
      { length: n },
      () => Float32Array.from({ length: dim }, () => Math.round(rng.nextGaussian() * 4) / 2),
    );
    const out = aggregate(copies, "median", new Float32Array(dim));
    for (let i = 0; i < dim; i++) {
      const col = copies.map((c) => c[i]).sort((a, b) => a - b);
      const want = n % 2 ? col[(n - 1) / 2] : (col[n / 2 - 1] + col[n / 2]) / 2;
      assert.ok(out[i] === Math.fround(want), `n=${n}, coordinate ${i}: ${out[i]} ≠ ${want}`);
    }
  }
});

Deno.test("nearestNeighbourMix() averages each copy with its nearest ones, itself included", () => {
  const copies = [v(0, 0), v(1, 0), v(0, 1), v(10, 10)];
  const mixed = nearestNeighbourMix(copies, 3);
  // The three close copies mix among themselves; the far one takes its two nearest (1,0) and (0,1).
  for (const j of [0, 1, 2]) assert.deepEqual(mixed[j], v(1 / 3, 1 / 3));
  assert.deepEqual(mixed[3], v(11 / 3, 11 / 3));
  assert.deepEqual(Array.from(copies[3]), [10, 10], "the inputs are left as they were");
  assert.deepEqual(nearestNeighbourMix(copies, 1), copies, "k = 1 is each copy itself");
});

Deno.test("twinGroups() puts copies far closer to each other than the rest in one group", () => {
  // Four spread copies (10 apart) and two near-identical ones between them (0.01 apart); the median
  // pairwise distance is 7.07, so the radius 0.25 groups copies closer than 1.77.
  const copies = [v(0, 0), v(10, 0), v(0, 10), v(10, 10), v(5, 5), v(5.01, 5)];
  assert.deepEqual(twinGroups(copies, 0.25), [[0], [1], [2], [3], [4, 5]]);
  assert.deepEqual(twinGroups(copies, 0), copies.map((_, i) => [i]), "radius 0: nobody grouped");
  const same = [v(1, 2), v(1, 2), v(1, 2)];
  assert.deepEqual(twinGroups(same, 0.25), [[0], [1], [2]], "all equal: no scale to judge by");
  assert.deepEqual(groupMean(copies, [4, 5]), v(5.005, 5));
  assert.equal(groupMean(copies, [2]), copies[2], "a single copy is itself");
});

Deno.test("robustCentre() with twinRadius merges crafted twins as one copy", async () => {
  const { robustCentre } = await import("../../src/learn/_merge.ts");
  const { DEFAULT_LEARNER_OPTIONS } = await import("../../src/learn/_tuning.ts");
  const rng = new SeededRandom(3);
  const dim = 200;
  const honest = Array.from(
    { length: 6 },
    () => Float32Array.from({ length: dim }, () => rng.nextGaussian()),
  );
  const evil = v(...Array.from({ length: dim }, () => -1.5));
  const twin = evil.map((x) => x + 1e-3 * rng.nextGaussian());
  const mean = (c: Float32Array) => c.reduce((s, x) => s + x, 0) / c.length;
  const base = { ...DEFAULT_LEARNER_OPTIONS, rule: "clip" as const };
  const off = robustCentre([...honest, evil, twin], dim, base);
  const on = robustCentre([...honest, evil, twin], dim, { ...base, twinRadius: 0.25 });
  const one = robustCentre([...honest, evil], dim, base);
  assert.ok(mean(on) > mean(off), `twins pull less merged as one: ${mean(on)} vs ${mean(off)}`);
  assert.ok(Math.abs(mean(on) - mean(one)) < 0.02, "as much as a single attacker");
  const honestOnly = robustCentre(honest, dim, { ...base, twinRadius: 0.25 });
  assert.deepEqual(honestOnly, robustCentre(honest, dim, base), "spread honest copies: unchanged");
});
