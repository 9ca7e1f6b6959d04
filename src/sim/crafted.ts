/**
 * Attacks crafted from the honest peers' published models, as a trusted peer can observe them: the
 * attacker's own learner holds copies of every peer's pseudo-model P_j (what they broadcast), and the
 * attacker advertises a crafted pseudo-model T instead of its own. On the wire it sends T − x₀ at as many
 * coordinates as the honest message had (those where its advertised copy is furthest from T), with the
 * honest message's encoding, epoch and stamp, DEFLATEd within the same budget.
 *
 * - `alie` ("a little is enough", Baruch et al. 2019): T = μ − z·σ coordinate-wise over the honest
 *   copies (z = 1): every coordinate stays within the honest spread, so value and norm checks pass.
 * - `ipm` (inner-product manipulation, Xie et al. 2020): T = x₀ − ε·(μ − x₀), ε = 0.5: the negated
 *   mean honest update (contributions are cumulative updates here).
 * - `adaptive`: stays just inside the centered-clipping radius τ = clipFactor × median distance of
 *   the copies to their coordinate-wise median: T = median + 0.9·τ·u, u the unit vector against the
 *   honest progress; each coordinate moves at most 2× the attacker's own honest change per round, so
 *   the change-size check (5× the median honest change) never fires. Against nearest-neighbour mixing
 *   (`mixNeighbours`), where the radius no longer says how far a copy may go, it runs the merge itself on
 *   candidates T = median − D·u and keeps the D that moves the merged centre furthest against u.
 * - Against twin grouping (`twinRadius`), where copies closer to each other than that share of the
 *   median pairwise distance count once, `ipm` and `adaptive` know the defence: each attacker adds its
 *   own fixed random direction w (orthogonal to the honest progress) of length `twinRadius` × that
 *   distance, so two attackers lie ≈ √2 × as far apart as the grouping reaches.
 * - `backdoor` (model replacement, Bagdasaryan et al. 2020): its learner trains on its rows plus
 *   triggered copies labelled with the target class (`backdoor.ts`); it advertises
 *   T = μ_peers + γ·(P_own − μ_peers) with γ = the number of nodes, so that averaging replaces the
 *   swarm model by its backdoored one.
 *
 * x₀ (the shared initialisation) is learned from the node's own publications: right after `outgoing`,
 * P[c] − C[c] = x₀[c] exactly at every published coordinate; before the first publication C = 0. (A node
 * restored from a checkpoint relearns x₀ as its coordinates are published.)
 *
 * @module
 */
import { inflateSync } from "fflate";
import {
  decodeDelta,
  LearnMessage,
  medianPairwiseDistance,
  robustCentre,
  squaredDistances,
  type SwarmLearner,
  topK,
} from "../learn/mod.ts";
import type { SeededRandom } from "../time.ts";
import { fitDelta, type HookContext, type WireMessage } from "./wire_message.ts";

/** ALIE's z. */
const ALIE_Z = 1;
/** IPM's ε. */
const IPM_EPSILON = 0.5;
/** Share of the clip radius the adaptive attacker uses. */
const ADAPTIVE_SHARE = 0.9;
/** Largest change per round of the adaptive attacker, as a multiple of its own honest change. */
const ADAPTIVE_STEP = 2;

/** The crafted attacks. */
export type CraftedAttack = "alie" | "ipm" | "adaptive" | "backdoor";

/** See the module documentation. */
export class CraftedAttacker {
  #attack: CraftedAttack;
  #deflate: (raw: Uint8Array) => Uint8Array;
  #x0: Float32Array | undefined;
  /** Advertised contribution C = T − x₀ as sent. */
  #adv: Float32Array | undefined;
  #prevPub: Float32Array | undefined;
  #lastSent: Int32Array | undefined;
  #round = 0;
  #rng: SeededRandom | undefined;
  /** The adaptive attacker's own direction against twin grouping (drawn once). */
  #w: Float32Array | undefined;

  constructor(attack: CraftedAttack, deflate: (raw: Uint8Array) => Uint8Array, rng?: SeededRandom) {
    this.#attack = attack;
    this.#deflate = deflate;
    this.#rng = rng;
  }

  transform(out: WireMessage[], ctx: HookContext): WireMessage[] {
    const l = ctx.learner;
    const pub = l.publicCopy();
    this.#round++;
    const x0 = this.#x0 ??= pub.slice();
    const adv = this.#adv ??= new Float32Array(l.paramCount);
    const lastSent = this.#lastSent ??= new Int32Array(l.paramCount);
    const prevPub = this.#prevPub ?? pub;
    this.#prevPub = pub;
    return out.map((m) => {
      if (m.type !== LearnMessage.Delta) return m;
      const d = decodeDelta(inflateSync(m.body));
      for (let j = 0; j < d.indices.length; j++) {
        const c = d.indices[j];
        x0[c] = pub[c] - d.values[j];
      }
      const copies = peerCopies(l, ctx.now);
      if (copies.length === 0) {
        // Nobody heard yet: honest until there is something to craft from.
        for (let j = 0; j < d.indices.length; j++) adv[d.indices[j]] = d.values[j];
        return m;
      }
      const target = this.#target(l, pub, copies, x0);
      const want = new Float32Array(l.paramCount);
      for (let c = 0; c < want.length; c++) want[c] = Math.abs(target[c] - x0[c] - adv[c]);
      const indices = topK(want, d.indices.length).sort();
      let stepLimit = Infinity;
      if (this.#attack === "adaptive") {
        const changes = Array.from(d.indices, (c) => Math.abs(pub[c] - prevPub[c])).sort((a, b) => a - b);
        stepLimit = ADAPTIVE_STEP * (changes[Math.floor(0.9 * (changes.length - 1))] || 0);
      }
      const values = new Float32Array(indices.length);
      indices.forEach((c, j) => {
        let v = target[c] - x0[c];
        if (stepLimit < Infinity) {
          const lim = stepLimit * Math.max(1, this.#round - lastSent[c]);
          v = adv[c] + Math.max(-lim, Math.min(lim, v - adv[c]));
        }
        values[j] = v;
        adv[c] = v;
        lastSent[c] = this.#round;
      });
      return {
        type: m.type,
        body: fitDelta(d, indices, values, d.encoding, this.#deflate, ctx.budget),
      };
    });
  }

  /** See {@linkcode awayFromTwins}; this attacker's direction w is drawn on first use. */
  #apart(t: Float32Array, honest: Float32Array[], mean: Float32Array, x0: Float32Array, r: number) {
    const rng = this.#rng!;
    const w = this.#w ??= Float32Array.from({ length: t.length }, () => rng.nextGaussian());
    awayFromTwins(t, w, honest, mean, x0, r);
  }

  /** The crafted pseudo-model T. */
  #target(l: SwarmLearner, own: Float32Array, peers: Float32Array[], x0: Float32Array): Float32Array {
    const P = l.paramCount;
    // The attacker's own honestly trained model is one more honest-looking sample (not for backdoor).
    const honest = this.#attack === "backdoor" ? peers : [...peers, own];
    const k = honest.length;
    const mean = new Float32Array(P);
    for (const h of honest) for (let c = 0; c < P; c++) mean[c] += h[c] / k;
    const t = new Float32Array(P);
    switch (this.#attack) {
      case "alie":
        for (let c = 0; c < P; c++) {
          let s = 0;
          for (const h of honest) s += (h[c] - mean[c]) ** 2;
          t[c] = mean[c] - ALIE_Z * Math.sqrt(s / k);
        }
        return t;
      case "ipm":
        for (let c = 0; c < P; c++) t[c] = x0[c] - IPM_EPSILON * (mean[c] - x0[c]);
        if (l.tuning.twinRadius > 0 && this.#rng) this.#apart(t, honest, mean, x0, l.tuning.twinRadius);
        return t;
      case "backdoor": {
        const gamma = peers.length + 1;
        for (let c = 0; c < P; c++) t[c] = mean[c] + gamma * (own[c] - mean[c]);
        return t;
      }
      case "adaptive": {
        const med = new Float32Array(P);
        const col = new Float32Array(k);
        for (let c = 0; c < P; c++) {
          for (let j = 0; j < k; j++) col[j] = honest[j][c];
          col.sort();
          med[c] = k % 2 ? col[(k - 1) / 2] : (col[k / 2 - 1] + col[k / 2]) / 2;
        }
        const dists = honest.map((h) => Math.sqrt(h.reduce((s, v, c) => s + (v - med[c]) ** 2, 0))).sort((
          a,
          b,
        ) => a - b);
        const tau = l.tuning.clipFactor * dists[Math.floor((dists.length - 1) / 2)];
        let norm = 0;
        for (let c = 0; c < P; c++) norm += (mean[c] - x0[c]) ** 2;
        norm = Math.sqrt(norm) || 1;
        if (l.tuning.mixNeighbours > 0) return againstMixing(l, honest, med, mean, x0, dists, norm);
        for (let c = 0; c < P; c++) t[c] = med[c] - ADAPTIVE_SHARE * tau * (mean[c] - x0[c]) / norm;
        if (l.tuning.twinRadius > 0 && this.#rng) this.#apart(t, honest, mean, x0, l.tuning.twinRadius);
        return t;
      }
    }
  }
}

/**
 * Moves `t` by `radius` × the median pairwise distance of the honest copies along this attacker's own
 * direction w, orthogonal to the honest progress mean − x₀, so that no other attacker's copy lies
 * within twin grouping of it.
 */
function awayFromTwins(
  t: Float32Array,
  w: Float32Array,
  honest: Float32Array[],
  mean: Float32Array,
  x0: Float32Array,
  radius: number,
): void {
  const P = t.length;
  const m = medianPairwiseDistance(squaredDistances(honest));
  let norm = 0;
  for (let c = 0; c < P; c++) norm += (mean[c] - x0[c]) ** 2;
  norm = Math.sqrt(norm) || 1;
  let along = 0;
  for (let c = 0; c < P; c++) along += w[c] * (mean[c] - x0[c]) / norm;
  const v = new Float32Array(P);
  let vn = 0;
  for (let c = 0; c < P; c++) {
    v[c] = w[c] - along * (mean[c] - x0[c]) / norm;
    vn += v[c] ** 2;
  }
  vn = Math.sqrt(vn) || 1;
  for (let c = 0; c < P; c++) t[c] += radius * m * v[c] / vn;
}

/** Distances (× the median honest distance to the median) the adaptive attacker tries against mixing. */
const MIXING_GRID = [0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 9, 13];

/**
 * The adaptive attacker against nearest-neighbour mixing: it runs the merge itself (the honest copies
 * plus its candidate) for T = median − D·u at every D of {@linkcode MIXING_GRID} and advertises the one
 * that moves the merged centre furthest against the honest progress u.
 */
function againstMixing(
  l: SwarmLearner,
  honest: Float32Array[],
  med: Float32Array,
  mean: Float32Array,
  x0: Float32Array,
  dists: number[],
  norm: number,
): Float32Array {
  const P = l.paramCount;
  const md = dists[Math.floor((dists.length - 1) / 2)];
  const u = new Float32Array(P);
  for (let c = 0; c < P; c++) u[c] = (mean[c] - x0[c]) / norm;
  let best = -Infinity;
  let bestT = med.slice();
  for (const g of MIXING_GRID) {
    const t = new Float32Array(P);
    for (let c = 0; c < P; c++) t[c] = med[c] - g * md * u[c];
    const centre = robustCentre([...honest, t], P, l.tuning);
    let pull = 0;
    for (let c = 0; c < P; c++) pull += (med[c] - centre[c]) * u[c];
    if (pull > best) {
      best = pull;
      bestT = t;
    }
  }
  return bestT;
}

/** The peers' pseudo-models the learner holds (in sync and mostly known). */
function peerCopies(l: SwarmLearner, now: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (const p of l.stats(now).peers) {
    if (!p.inSync || p.coverage < 0.5) continue;
    const copy = l.peerCopy(Uint8Array.from(p.key.match(/../g)!, (h) => parseInt(h, 16)));
    if (copy) out.push(copy);
  }
  return out;
}
