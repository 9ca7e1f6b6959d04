/**
 * The trimmed-loss guard of local training (`lossTrim`): on real MNIST rows and the reference MLP, the
 * rows a trained model confidently contradicts are the mislabelled ones, and local training leaves them
 * out of its steps only when asked to.
 */
import assert from "node:assert/strict";
import { LocalTrainer, trimContradicted } from "../../src/learn/_local_training.ts";
import { concatSamples } from "../../src/learn/mod.ts";
import { DEFAULT_LEARNER_OPTIONS as D } from "../../src/learn/learner.ts";
import { loadMnist, MNIST_PIXELS, subset, TinyMlp } from "../../src/sim/mod.ts";
import { SeededRandom } from "../../src/time.ts";

const F = MNIST_PIXELS;
const { train } = await loadMnist(1);
const fit = subset(train, Array.from({ length: 2000 }, (_, i) => i));
const held = subset(train, Array.from({ length: 64 }, (_, i) => 2000 + i));
// Rows 0–31 as labelled, rows 32–63 with the label moved to the next class (as src/sim/poison.ts does).
const mixed = {
  x: held.x,
  y: held.y.map((v, i) => (i < 32 ? v : (v + 1) % 10)),
  count: 64,
};

async function trained(): Promise<TinyMlp> {
  const m = new TinyMlp({ inputs: F, hidden: 32, classes: 10, seed: 1, learningRate: 0.003 });
  for (let epoch = 0; epoch < 3; epoch++) {
    for (let s = 0; s + 32 <= fit.count; s += 32) {
      await m.trainBatch(fit.x.subarray(s * F, (s + 32) * F), fit.y.subarray(s, s + 32), 32);
    }
  }
  return m;
}
const model = await trained();

Deno.test("the rows a trained model confidently contradicts are the mislabelled ones", async () => {
  const x = mixed.x.slice();
  const y = mixed.y.slice();
  const probs = await model.predict(x, 64);
  // The guard as `--tune lossTrim=1` turns it on; our rows hold every digit here (shares ≈ 0.1 each,
  // above trimOwnClass).
  const shares = new Float64Array(256);
  for (const v of mixed.y) shares[v] += 1 / 64;
  const kept = trimContradicted(probs, x, y, 64, F, 1, D.trimConfidence, shares, D.trimOwnClass);
  // Which rows survived: compare each kept row with the originals.
  const survivors = new Set<number>();
  for (let k = 0; k < kept; k++) {
    for (let r = 0; r < 64; r++) {
      if (survivors.has(r) || y[k] !== mixed.y[r]) continue;
      if (x.subarray(k * F, (k + 1) * F).every((v, i) => v === mixed.x[r * F + i])) {
        survivors.add(r);
        break;
      }
    }
  }
  assert.equal(survivors.size, kept);
  const dropped = Array.from({ length: 64 }, (_, r) => r).filter((r) => !survivors.has(r));
  const wrong = dropped.filter((r) => r >= 32).length;
  assert.ok(wrong >= 24, `at least 3 in 4 mislabelled rows left out: ${wrong} of 32`);
  assert.ok(
    dropped.length - wrong <= 3,
    `few correctly labelled rows left out: ${dropped.length - wrong} of 32`,
  );
});

Deno.test("LocalTrainer leaves contradicted rows out of its steps only with lossTrim above 0", async () => {
  const data = concatSamples([subset(fit, Array.from({ length: 96 }, (_, i) => i)), mixed], F);
  const start = model.getWeights();
  const opts = { ...D, updateClip: 0, lossTrim: 0 };
  const off = new LocalTrainer(new SeededRandom(3));
  await off.run(model, data, F, start, 5, opts);
  assert.equal(off.guard.trimmedRows, 0);
  const on = new LocalTrainer(new SeededRandom(3));
  const round = await on.run(model, data, F, start, 5, { ...opts, lossTrim: 1 });
  assert.ok(round && round.steps === 5);
  // 160 rows drawn: about 32 × 160 / 160 = 32 mislabelled ones among them.
  assert.ok(on.guard.trimmedRows >= 15 && on.guard.trimmedRows <= 45, `${on.guard.trimmedRows} rows trimmed`);
});
