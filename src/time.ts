/**
 * Injected time and randomness. The pure core (wire, gossip state machine, learning maths) never calls
 * `Date.now`, `performance.now` or `Math.random`; it receives a {@linkcode Clock} and a {@linkcode Random}.
 *
 * @module
 */

/** Monotonic milliseconds; only differences are meaningful. */
export interface Clock {
  now(): number;
}

/** The real monotonic clock (for the I/O shell only). */
export const systemClock: Clock = { now: () => performance.now() };

/** A clock tests advance by hand. */
export class ManualClock implements Clock {
  #t: number;
  constructor(start = 0) {
    this.#t = start;
  }
  now(): number {
    return this.#t;
  }
  advance(ms: number): void {
    this.#t += ms;
  }
  set(ms: number): void {
    this.#t = ms;
  }
}

/** A source of uniform floats in [0, 1) and 32-bit integers. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform 32-bit unsigned integer. */
  nextU32(): number;
}

/**
 * Deterministic generator (SplitMix32 seeding into xoshiro128**): the same seed gives the same
 * sequence on every device, so seeded model initialisation is bit-identical everywhere.
 */
export class SeededRandom implements Random {
  #s = new Uint32Array(4);
  constructor(seed: number) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      // SplitMix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if ((this.#s[0] | this.#s[1] | this.#s[2] | this.#s[3]) === 0) this.#s[0] = 1;
  }
  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }
  next(): number {
    return this.nextU32() / 4294967296;
  }
  /** Standard normal via Box–Muller (deterministic given the seed). */
  nextGaussian(): number {
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Crypto-quality randomness for the I/O shell (nonces, temp names). */
export const cryptoRandom: Random = {
  next: () => cryptoU32() / 4294967296,
  nextU32: cryptoU32,
};

function cryptoU32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
