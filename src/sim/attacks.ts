/**
 * The attacks a Byzantine node runs, in the simulation and (for the real-network benchmark only) in a
 * development agent started with `AGENT_DEV_ATTACK`. An attack is a pair of hooks around an honest
 * learner: `trainingData` poisons what it trains on, `outgoing` rewrites the Delta bodies it publishes.
 * Every rewritten body goes through the learner's own codec and DEFLATE and fits the same budget, so
 * the honest learners' checks see realistic bytes.
 *
 * - `signflip`: moves its advertised values 10× against its own progress (fp16).
 * - `huge`: Gaussian noise × 1,000 (f32). `nan`: a third NaN, a third ±∞.
 * - `replay`: resends old bodies, half verbatim, half re-stamped as new.
 * - `labelflip`: trains on labels moved to the next class; its messages are honest updates.
 * - `alie`, `ipm`, `adaptive`, `backdoor`: crafted from the honest peers' published models (see
 *   `crafted.ts`).
 *
 * @module
 */
import { inflateSync } from "fflate";
import { decodeDelta, LearnMessage, type Samples, ValueEncoding } from "../learn/mod.ts";
import type { SeededRandom } from "../time.ts";
import { backdoorTrainingData } from "./backdoor.ts";
import { CraftedAttacker } from "./crafted.ts";
import { fitDelta, type HookContext, type WireMessage } from "./wire_message.ts";

export { fitDelta, type HookContext, type WireMessage };

/** Attacks a Byzantine node can run. */
export type Attack =
  | "signflip"
  | "huge"
  | "nan"
  | "replay"
  | "labelflip"
  | "alie"
  | "ipm"
  | "adaptive"
  | "backdoor";
/** The first five attacks (simple ones the message checks and validation scoring were built for). */
export const BASIC_ATTACKS: readonly Attack[] = ["signflip", "huge", "nan", "replay", "labelflip"];
/** Attacks crafted from the honest peers' published models (stronger; issue 12). */
export const CRAFTED_ATTACKS: readonly Attack[] = ["alie", "ipm", "adaptive", "backdoor"];
/** All attack names. */
export const ATTACKS: readonly Attack[] = [...BASIC_ATTACKS, ...CRAFTED_ATTACKS];

/** The two hooks an attack puts around an honest learner. */
export interface NodeHooks {
  /** Rewrites one round's outgoing messages. */
  outgoing(out: WireMessage[], ctx: HookContext): WireMessage[];
  /** The rows the learner trains on, from the node's own rows. */
  trainingData(data: Samples): Samples;
}

/** `data` with every label moved to the next class: honest-looking updates that teach the wrong digits. */
export function flipLabels(data: Samples, classes = 10): Samples {
  return { ...data, y: data.y.map((v) => (v + 1) % classes) };
}

/** Options of {@linkcode createAttack}. */
export interface AttackOptions {
  deflate: (raw: Uint8Array) => Uint8Array;
  rng: SeededRandom;
}

/** The hooks of `attack`. */
export function createAttack(attack: Attack, o: AttackOptions): NodeHooks {
  const honestData = (d: Samples) => d;
  switch (attack) {
    case "labelflip":
      return { outgoing: (out) => out, trainingData: flipLabels };
    case "signflip":
    case "huge":
    case "nan":
    case "replay": {
      const a = new SimpleAttacker(attack, o.deflate, o.rng);
      return { outgoing: (out, ctx) => a.transform(out, ctx), trainingData: honestData };
    }
    case "backdoor": {
      const a = new CraftedAttacker(attack, o.deflate);
      return {
        outgoing: (out, ctx) => a.transform(out, ctx),
        trainingData: (d) => backdoorTrainingData(d, d.count ? d.x.length / d.count : 784),
      };
    }
    case "alie":
    case "ipm":
    case "adaptive": {
      const a = new CraftedAttacker(attack, o.deflate, o.rng);
      return { outgoing: (out, ctx) => a.transform(out, ctx), trainingData: honestData };
    }
  }
}

/** The first four attacks: rewrite the node's own Delta bodies without looking at its peers. */
class SimpleAttacker {
  #attack: "signflip" | "huge" | "nan" | "replay";
  /** Advertised contribution C (wire values start at 0: C = P − x₀). */
  #advertised: Float32Array | undefined;
  #deflate: (raw: Uint8Array) => Uint8Array;
  #rng: SeededRandom;
  #history: Uint8Array[] = [];

  constructor(
    attack: "signflip" | "huge" | "nan" | "replay",
    deflate: (raw: Uint8Array) => Uint8Array,
    rng: SeededRandom,
  ) {
    this.#attack = attack;
    this.#deflate = deflate;
    this.#rng = rng;
  }

  transform(out: WireMessage[], ctx: HookContext): WireMessage[] {
    const adv = this.#advertised ??= new Float32Array(ctx.learner.paramCount);
    const round = ctx.learner.stats(ctx.now).rounds;
    return out.map((m) => {
      if (m.type !== LearnMessage.Delta) return m;
      const raw = inflateSync(m.body);
      const d = decodeDelta(raw);
      let values: Float32Array;
      let encoding: ValueEncoding = ValueEncoding.F32;
      switch (this.#attack) {
        case "signflip":
          values = d.values.map((v, j) => {
            const c = d.indices[j];
            adv[c] = adv[c] - 10 * (v - adv[c]);
            return adv[c];
          });
          encoding = ValueEncoding.Fp16;
          break;
        case "huge":
          values = d.values.map(() => this.#rng.nextGaussian() * 1e3);
          break;
        case "nan":
          values = d.values.map((v, j) => (j % 3 === 0 ? NaN : j % 3 === 1 ? Infinity : v));
          break;
        case "replay": {
          this.#history.push(raw);
          if (round < 10) return m;
          // Resend a body from long ago: half verbatim (old stamp), half re-stamped as new.
          const old = this.#history[this.#rng.nextU32() % Math.max(1, Math.floor(this.#history.length / 4))];
          if (this.#rng.next() < 0.5) return { type: m.type, body: this.#deflate(old) };
          const o = decodeDelta(old);
          // A new stamp can change the DEFLATE size by a byte: fit the budget again.
          return {
            type: m.type,
            body: fitDelta(
              { ...o, stamp: d.stamp },
              o.indices,
              o.values,
              o.encoding,
              this.#deflate,
              ctx.budget,
            ),
          };
        }
      }
      return { type: m.type, body: fitDelta(d, d.indices, values, encoding, this.#deflate, ctx.budget) };
    });
  }
}
