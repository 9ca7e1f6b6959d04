/**
 * Coordinate-wise robust aggregation of model copies, plus top-k selection. Pure maths on Float32Arrays.
 *
 * - `mean`: plain average (no protection).
 * - `median`: coordinate-wise median.
 * - `trimmed-mean`: drop the `f` smallest and `f` largest values of every coordinate, average the rest,
 *   with `f = max(1, ⌊(n − 1) / 4⌋)` for n ≥ 3 copies (n = 3 → median, n = 5 → mean of the middle 3).
 * - `clip`: centered clipping (Karimireddy et al. 2021): start at the median and move towards each copy
 *   by at most `tau` (L2 over the whole vector), three iterations.
 * - `nearestNeighbourMix`: optional pre-processing for `clip` (tuning `mixNeighbours`, off).
 * - `twinGroups`: optional pre-processing for `clip` (tuning `twinRadius`, off): near-identical copies
 *   count once.
 *
 * @module
 */

/** Names of the merge rules (`learning.robustMerge`). */
export type RobustRule = "trimmed-mean" | "median" | "clip" | "mean";

/** How many values `trimmed-mean` drops at each end for n copies. */
export function trimCount(n: number): number {
  return n < 3 ? 0 : Math.max(1, Math.floor((n - 1) / 4));
}

/** Coordinate-wise robust centre of `copies` (all the same length) into `out`. */
export function aggregate(
  copies: Float32Array[],
  rule: RobustRule,
  out: Float32Array,
  tau = 0,
): Float32Array {
  const n = copies.length;
  if (n === 0) throw new Error("Bug: aggregate() of no copies");
  const dim = out.length;
  if (n === 1) {
    out.set(copies[0]);
    return out;
  }
  if (rule === "mean" || n === 2) {
    out.fill(0);
    for (const c of copies) for (let i = 0; i < dim; i++) out[i] += c[i];
    for (let i = 0; i < dim; i++) out[i] /= n;
    return out;
  }
  const f = rule === "median" || rule === "clip" ? Math.floor((n - 1) / 2) : trimCount(n);
  const col = new Float64Array(n);
  const keep = n - 2 * f;
  const median = rule === "median" || rule === "clip";
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j < n; j++) col[j] = copies[j][i];
    if (median) {
      // The f-th smallest in place (everything after it is ≥), and for an even count the next one.
      select(col, f);
      if (n % 2) out[i] = col[f];
      else {
        let next = col[f + 1];
        for (let j = f + 2; j < n; j++) if (col[j] < next) next = col[j];
        out[i] = (col[f] + next) / 2;
      }
    } else {
      insertionSort(col);
      let s = 0;
      for (let j = f; j < n - f; j++) s += col[j];
      out[i] = s / keep;
    }
  }
  if (rule === "clip") centeredClip(copies, out, tau);
  return out;
}

/**
 * Quickselect: moves the k-th smallest value of `a` to `a[k]`, smaller ones before it, larger or equal
 * ones after (O(n) on average; the median of 33 copies for every coordinate is the merge's hot loop at
 * scale).
 */
function select(a: Float64Array, k: number): void {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

function insertionSort(a: Float64Array): void {
  for (let i = 1; i < a.length; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= 0 && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}

/** Squared L2 distance between `a` and `b` (the same length). */
function squaredDistance(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return s;
}

/** Squared L2 distances between every two of `copies` (a symmetric n × n matrix, 0 on the diagonal). */
export function squaredDistances(copies: Float32Array[]): Float64Array[] {
  const n = copies.length;
  const d2 = Array.from({ length: n }, () => new Float64Array(n));
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      d2[a][b] = d2[b][a] = squaredDistance(copies[a], copies[b]);
    }
  }
  return d2;
}

/**
 * The (lower) median of the L2 distances between distinct copies, from {@linkcode squaredDistances};
 * 0 for fewer than two copies.
 */
export function medianPairwiseDistance(d2: Float64Array[]): number {
  const all: number[] = [];
  for (let a = 0; a < d2.length; a++) for (let b = a + 1; b < d2.length; b++) all.push(Math.sqrt(d2[a][b]));
  all.sort((x, y) => x - y);
  return all.length ? all[Math.floor((all.length - 1) / 2)] : 0;
}

/**
 * Nearest-neighbour mixing (Allouah et al. 2023, "Fixing by mixing"): every copy is replaced by the mean
 * of its `k` nearest copies (L2, itself included). Honest copies that lie apart by their data or their
 * compression come closer together, so a radius set by their spread shrinks, while a copy that lies
 * apart from the others keeps only its own share of its mean. O(n² · dim).
 */
export function nearestNeighbourMix(copies: Float32Array[], k: number): Float32Array[] {
  const n = copies.length;
  const dim = copies[0]?.length ?? 0;
  const d2 = squaredDistances(copies);
  const take = Math.max(1, Math.min(n, k));
  return copies.map((_, a) => {
    const order = Array.from({ length: n }, (_, b) => b).sort((p, q) => d2[a][p] - d2[a][q] || p - q);
    const out = new Float32Array(dim);
    for (let j = 0; j < take; j++) {
      const c = copies[order[j]];
      for (let i = 0; i < dim; i++) out[i] += c[i];
    }
    for (let i = 0; i < dim; i++) out[i] /= take;
    return out;
  });
}

/**
 * Groups of near-identical copies: two copies whose L2 distance is below `radius` × the median pairwise
 * distance of all copies fall in one group (and so, transitively, do their groups). Copies crafted by
 * several attackers from the same observed honest models lie much closer to each other than honest copies
 * trained on different rows do; merged as one, they pull as one. Every index appears in exactly one group,
 * groups in order of their first index. Exactly equal copies (distance 0, e.g. every copy at the shared
 * initialisation) are grouped only when the median distance is positive. O(n² · dim).
 */
export function twinGroups(copies: Float32Array[], radius: number): number[][] {
  const n = copies.length;
  const d2 = squaredDistances(copies);
  const reach = radius * medianPairwiseDistance(d2);
  const parent = Array.from({ length: n }, (_, i) => i);
  const root = (i: number): number => parent[i] === i ? i : (parent[i] = root(parent[i]));
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      if (Math.sqrt(d2[a][b]) >= reach) continue;
      const ra = root(a);
      const rb = root(b);
      if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
    }
  }
  const groups = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const r = root(i);
    const g = groups.get(r);
    if (g) g.push(i);
    else groups.set(r, [i]);
  }
  return [...groups.values()];
}

/** The mean of `copies[i]` over the indices `group`. */
export function groupMean(copies: Float32Array[], group: number[]): Float32Array {
  if (group.length === 1) return copies[group[0]];
  const out = new Float32Array(copies[group[0]].length);
  for (const j of group) {
    const c = copies[j];
    for (let i = 0; i < out.length; i++) out[i] += c[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= group.length;
  return out;
}

/** Re-centring passes of {@linkcode centeredClip}. */
const CLIP_ITERATIONS = 3;

/**
 * Centered clipping around `centre` (in place). `tau` ≤ 0 picks `factor` × the median distance of the
 * copies to the centre. `scales[j]` (default 1) multiplies copy j's radius: a copy trusted less is
 * clipped tighter (bounded influence) without being left out. `farScales[j]` (default 1) multiplies it
 * too, but only while copy j lies beyond the radius: a copy as close to the centre as the others is
 * merged whole whatever its scale. With `farPower` p > 0 the clipping redescends: a copy at distance
 * d > t pulls by t × (t/d)^p, so the farther a copy lies beyond the radius the less it counts (as
 * Hampel's redescending M-estimators do), instead of the full radius however far it is. `beyond`, when
 * given, receives for each copy whether it lay beyond the radius in the last iteration.
 */
export function centeredClip(
  copies: Float32Array[],
  centre: Float32Array,
  tau: number,
  factor = 1,
  scales?: readonly number[],
  farScales?: readonly number[],
  farPower = 0,
  beyond?: boolean[],
): void {
  const dim = centre.length;
  const n = copies.length;
  const diff = new Float32Array(dim);
  const dists = new Array<number>(n);
  for (let iter = 0; iter < CLIP_ITERATIONS; iter++) {
    for (let j = 0; j < n; j++) dists[j] = Math.sqrt(squaredDistance(copies[j], centre));
    const t = tau > 0 ? tau : factor * [...dists].sort((a, b) => a - b)[Math.floor((n - 1) / 2)];
    diff.fill(0);
    for (let j = 0; j < n; j++) {
      const dj = dists[j];
      if (beyond && iter === CLIP_ITERATIONS - 1) beyond[j] = dj > t;
      const far = dj > t ? (farScales?.[j] ?? 1) * (t / dj) ** farPower : 1;
      const r = t * (scales?.[j] ?? 1) * far;
      // A copy at the centre adds nothing (copies are finite: non-finite values are rejected).
      if (dj > 0) addScaledDifference(diff, Math.min(1, r / dj), copies[j], centre);
    }
    for (let i = 0; i < dim; i++) centre[i] += diff[i] / n;
  }
}

/** `acc` += w × (c − centre), rounded to float32 at every step as before. */
function addScaledDifference(acc: Float32Array, w: number, c: Float32Array, centre: Float32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] += w * (c[i] - centre[i]);
}

/**
 * Indices of the `k` largest `score` values (ties broken by lower index), returned sorted ascending.
 * Entries where `exclude[i]` is set are skipped. O(n) average (quickselect on a copy).
 */
export function topK(score: Float32Array, k: number, exclude?: Uint8Array): Uint32Array {
  const n = score.length;
  const cand: number[] = [];
  for (let i = 0; i < n; i++) if (!exclude || !exclude[i]) cand.push(i);
  if (k >= cand.length) return Uint32Array.from(cand);
  if (k <= 0) return new Uint32Array(0);
  // quickselect so that cand[0..k) are the k best
  let lo = 0;
  let hi = cand.length - 1;
  const better = (a: number, b: number) => score[a] > score[b] || (score[a] === score[b] && a < b);
  while (lo < hi) {
    const pivot = cand[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (better(cand[i], pivot)) i++;
      while (better(pivot, cand[j])) j--;
      if (i <= j) {
        const t = cand[i];
        cand[i] = cand[j];
        cand[j] = t;
        i++;
        j--;
      }
    }
    if (k - 1 <= j) hi = j;
    else if (k - 1 >= i) lo = i;
    else break;
  }
  const out = Uint32Array.from(cand.slice(0, k));
  out.sort();
  return out;
}
