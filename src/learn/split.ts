/**
 * Seeded splitting of a labelled dataset into per-node shards for experiments:
 *
 * - `iid`: shuffled and dealt evenly.
 * - `classes:K`: every node holds K classes (classes are dealt round-robin over a seeded permutation,
 *   so with nodes·K ≥ classes every class has a holder); a class's rows are split evenly among its holders.
 * - `dirichlet:ALPHA`: for every class, node shares are drawn from Dirichlet(ALPHA) (small ALPHA = very
 *   skewed, large = close to IID).
 *
 * {@linkcode dealRows} deals every row to several shards, for more nodes than a small dataset feeds
 * (the simulation's 8,000 MNIST training digits leave 8 per node at 1,000 nodes).
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { SeededRandom } from "../time.ts";

/** A parsed split specification. */
export type SplitSpec =
  | { kind: "iid" }
  | { kind: "classes"; k: number }
  | { kind: "dirichlet"; alpha: number };

/** Parses `iid`, `classes:K` or `dirichlet:ALPHA`; throws {@linkcode UsageError} otherwise. */
export function parseSplit(text: string, classes = 10): SplitSpec {
  if (text === "iid") return { kind: "iid" };
  const m = /^(classes|dirichlet):(.+)$/.exec(text);
  if (m?.[1] === "classes") {
    const k = Number(m[2]);
    if (Number.isInteger(k) && k >= 1 && k <= classes) return { kind: "classes", k };
  } else if (m?.[1] === "dirichlet") {
    const alpha = Number(m[2]);
    if (Number.isFinite(alpha) && alpha > 0) return { kind: "dirichlet", alpha };
  }
  throw new UsageError(
    `Invalid split ${JSON.stringify(text)}`,
    `Use iid, classes:K (1 ≤ K ≤ ${classes}) or dirichlet:ALPHA (ALPHA > 0), e.g. classes:2 or dirichlet:0.5`,
  );
}

/** Row indices of each node's shard (every row goes to at most one node). */
export function splitIndices(
  labels: Uint8Array,
  nodes: number,
  spec: SplitSpec,
  seed: number,
  classes = 10,
): number[][] {
  if (nodes < 1) throw new Error("Bug: splitIndices() needs at least one node");
  const rng = new SeededRandom(seed);
  const shuffle = (a: number[]) => {
    for (let i = a.length - 1; i > 0; i--) {
      const j = rng.nextU32() % (i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  };
  const out: number[][] = Array.from({ length: nodes }, () => []);
  if (spec.kind === "iid") {
    shuffle(Array.from(labels, (_, i) => i)).forEach((r, i) => out[i % nodes].push(r));
    return out;
  }
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  labels.forEach((y, i) => byClass[y]?.push(i));
  byClass.forEach(shuffle);
  if (spec.kind === "classes") {
    const perm = shuffle(Array.from({ length: classes }, (_, c) => c));
    const holders: number[][] = Array.from({ length: classes }, () => []);
    for (let n = 0; n < nodes; n++) {
      for (let j = 0; j < spec.k; j++) {
        const c = perm[(n * spec.k + j) % classes];
        if (!holders[c].includes(n)) holders[c].push(n);
      }
    }
    byClass.forEach((rows, c) => {
      const h = holders[c];
      if (h.length === 0) return;
      rows.forEach((r, i) => out[h[i % h.length]].push(r));
    });
  } else {
    byClass.forEach((rows) => {
      const g = Array.from({ length: nodes }, () => gamma(spec.alpha, rng));
      const total = g.reduce((a, b) => a + b, 0) || 1;
      let start = 0;
      let acc = 0;
      g.forEach((gi, n) => {
        acc += gi / total;
        const end = n === nodes - 1 ? rows.length : Math.round(acc * rows.length);
        out[n].push(...rows.slice(start, end));
        start = end;
      });
    });
  }
  out.forEach(shuffle);
  return out;
}

/** Gamma(shape, 1) sample (Marsaglia–Tsang; boosted for shape < 1). */
function gamma(shape: number, rng: SeededRandom): number {
  if (shape < 1) return gamma(shape + 1, rng) * Math.pow(Math.max(rng.next(), 1e-300), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.nextGaussian();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * x ** 4) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/**
 * Like {@linkcode splitIndices}, but every row is dealt `repeat` times (to up to `repeat` different
 * nodes): the split of the dataset tiled `repeat` times, each index mapped back to its row and a node's
 * repeated rows kept once. Shards keep the split's class mix and are `repeat` times as large, at the
 * price of rows shared between nodes (the swarm sees no more distinct rows than before).
 */
export function dealRows(
  labels: Uint8Array,
  nodes: number,
  spec: SplitSpec,
  seed: number,
  repeat = 1,
  classes = 10,
): number[][] {
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`Bug: dealRows() repeat ${repeat}`);
  const tiled = new Uint8Array(labels.length * repeat);
  for (let r = 0; r < repeat; r++) tiled.set(labels, r * labels.length);
  return splitIndices(tiled, nodes, spec, seed, classes).map((ix) => [
    ...new Set(ix.map((i) => i % labels.length)),
  ]);
}
