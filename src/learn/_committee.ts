/**
 * Bounded fan-in as a publishing committee: with more boards than `fanIn` (K), only K of them train
 * and publish at any time, and every board merges the copies of those same K. Memory and merge time are
 * O(K) per board, airtime O(K) per round, whatever the swarm size N.
 *
 * Why the SAME K for everyone (docs/learning.md, "A publishing committee instead of a random subset"):
 * each board's pseudo-model P_j lies far from the swarm model m (its own classes' drift, |P_j − m| ≈ 15–17
 * against |m| ≈ 9 with 12 boards); that drift cancels only over the whole merged set. A random subset per
 * board (Epidemic Learning's rule, tried first) left every board with its own uncancelled drift: 100
 * boards, K = 16 reached 9.9%. One shared set cancels within the set: 87.0% (5 boards: 85.8%).
 *
 * - The committee has K slots. Slot s is held for `periodMs` by the board of the roster (the live trusted
 *   boards, this one included) with the lowest hash of (key, s, q), q = ⌊(now + s·periodMs/K) / periodMs⌋,
 *   skipping boards already holding an earlier slot (rendezvous hashing: a board joining or leaving the
 *   roster moves only the slots it wins or held). The phases are staggered, so one slot changes hands
 *   every periodMs / K and over time every board's data is learned from. When a slot's new holder held
 *   a later slot, that one changes hands too (≈ K / 2N of the time); the board that moved keeps its
 *   pseudo-model, and the board newly entering takes over the value of the one that left. Boards that
 *   hear the same roster at the same time agree on the committee without a message.
 * - A board entering the committee adopts the outgoing owner's pseudo-model as it holds it (the swarm model
 *   if it holds none), starts a new epoch and pushes it whole: the slot's share of the swarm model moves
 *   over, and the newcomer's own data adds to it from then on (a fresh pseudo-model in its place pulled
 *   the swarm model away from what the outgoing owner had learned: 43–86% with per-board offsets).
 * - Every board merges, per slot, the owner's copy once it is in sync, and until then the outgoing
 *   owner's copy (kept for this), so a handover never leaves a slot empty. Copies of other boards are
 *   dropped; their standing (score, pace, counters) is kept (`_standing.ts`).
 * - Boards off the committee do not train or publish model updates; they serve the committee's robust
 *   centre, still check every message and ask for snapshots of copies out of sync. Every check of
 *   `_peers.ts` applies to the committee's copies as to any peer's: an attacker holding a slot is clipped
 *   and, on evidence, left out like any peer (its slot is then empty for that board).
 *
 * Pure: the roster and the clock come in.
 *
 * @module
 */

/** murmur3's 32-bit finalizer: spreads every input bit over the output. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a of a key's hex text, finalized: the key's seed in every slot draw. */
function keySeed(hex: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < hex.length; i++) h = Math.imul(h ^ hex.charCodeAt(i), 0x01000193);
  return mix32(h);
}

const seeds = new Map<string, number>();

function seedOf(hex: string): number {
  let s = seeds.get(hex);
  if (s === undefined) {
    if (seeds.size > 100_000) seeds.clear();
    s = keySeed(hex);
    seeds.set(hex, s);
  }
  return s;
}

/** The period index of slot `s` of `k` at time `now` (phases staggered by periodMs / k). */
function slotPeriod(s: number, k: number, periodMs: number, now: number): number {
  return Math.floor((now + (s * periodMs) / k) / periodMs);
}

/**
 * The owner of each of the `k` slots at `now` (hex keys, slot order); fewer than k when the roster is
 * smaller. `roster` lists every live board, this one included, in any order; duplicates count once.
 */
export function slotOwners(roster: readonly string[], k: number, periodMs: number, now: number): string[] {
  // Boards that share one roster array (a simulation's) draw once per seat change.
  const periods = Array.from({ length: k }, (_, s) => slotPeriod(s, k, periodMs, now)).join();
  if (last && last.roster === roster && last.k === k && last.periods === periods) return [...last.owners];
  const owners = draw(roster, k, periodMs, now);
  last = { roster, k, periods, owners };
  return [...owners];
}

let last: { roster: readonly string[]; k: number; periods: string; owners: string[] } | undefined;

function draw(roster: readonly string[], k: number, periodMs: number, now: number): string[] {
  const boards = [...new Set(roster)];
  const taken = new Set<string>();
  const owners: string[] = [];
  for (let s = 0; s < k && owners.length < boards.length; s++) {
    const draw = mix32(Math.imul(s + 1, 0x9e3779b1) ^ mix32(slotPeriod(s, k, periodMs, now) | 0));
    let best = "";
    let bestHash = Infinity;
    for (const hex of boards) {
      if (taken.has(hex)) continue;
      const h = mix32(seedOf(hex) ^ draw);
      if (h < bestHash || (h === bestHash && hex < best)) {
        bestHash = h;
        best = hex;
      }
    }
    taken.add(best);
    owners.push(best);
  }
  return owners;
}

/** What one board does this round (see {@linkcode Committee.step}). */
export interface CommitteeStep {
  /** This board holds a slot: it trains and publishes. */
  member: boolean;
  /**
   * Our own pseudo-model is merged: while we hold a seat, and after we left one until our successor's
   * copy is in sync (it adopted our pseudo-model: ours stands in for it, as the outgoing copy does on
   * every other board).
   */
  own: boolean;
  /**
   * Set when this board has just become a member: the board whose pseudo-model it adopts (the slot's
   * outgoing owner), or null for the swarm model.
   */
  adopt?: string | null;
  /** The boards whose copies are merged (owners in sync, else the outgoing owner carried). */
  merge: string[];
  /** The boards whose copies are kept (owners and carried outgoing owners; not this board). */
  keep: Set<string>;
  /**
   * Handovers under way: incoming holder → outgoing holder. A copy of the incoming holder starts from the
   * copy of the outgoing one (the value it adopted), so a snapshot chunk lost on the way leaves a close
   * value, not our own pseudo-model.
   */
  heirs: Map<string, string>;
}

/**
 * How a step tells an incoming holder's new copy from the one we held before it entered: the epoch of our
 * copy of a board (undefined without one), the clock, and how long an unchanged epoch still counts as the
 * old copy (a seat interval: a board that entered pushes its new epoch at once; one whose new epoch we
 * heard before we saw it enter is taken as it is after that).
 */
export interface EntryCheck {
  epochOf: (hex: string) => number | undefined;
  now: number;
  graceMs: number;
}

/** A board's view of the committee over time: last round's holders, and the handovers under way. */
export class Committee {
  #owners: string[] = [];
  /** Incoming holder → the outgoing holder whose copy is merged until the incoming one is in sync. */
  #carry = new Map<string, string>();
  /** Incoming holder → the epoch of our copy of it when it entered, and when. */
  #entered = new Map<string, { epoch: number | undefined; at: number }>();
  #member: boolean | undefined;
  #own = true;

  /** True while this board holds a seat (true before the first step and with the committee off). */
  get member(): boolean {
    return this.#member ?? true;
  }

  /** Our own pseudo-model is merged (`CommitteeStep.own` of the last step; true before the first). */
  get own(): boolean {
    return this.#own;
  }

  /** The seat holders of the last step (a copy), or null while the committee is off. */
  get holders(): string[] | null {
    return this.#owners.length > 0 ? [...this.#owners] : null;
  }

  /**
   * This round's step for board `self`: `owners` from {@linkcode slotOwners}, or undefined when the
   * committee is off (every board a member, every copy kept). `ready(hex)` says whether that board's copy
   * may be merged now (held, trusted, heard, in sync); `standIn(hex)` whether an outgoing holder's copy may
   * still stand in for its successor's (held, trusted, in sync: it stopped publishing when it left, so it is
   * not timed out; default `ready`).
   *
   * Handovers pair the boards entering the committee with those leaving it, in seat order: when a seat's
   * new holder held another seat (rendezvous draws, `slotOwners`), it keeps its own pseudo-model and its
   * copies stay in sync everywhere, and the board newly entering adopts the value of the board that left.
   *
   * A board entering always starts a new epoch, so a copy of it we already held (it left a seat a little
   * earlier and stood in since) is about to be replaced: with `entry`, such a copy is not ready until its
   * epoch has changed (or a seat interval has passed), and the outgoing holder's copy stands in and is the
   * new copy's starting point meanwhile. Without this the slot was empty from the new epoch's first chunk
   * until its copy was in sync, and that copy started from our own pseudo-model: 100 boards, K = 32, seed
   * 4, boards off the committee served 53–54% instead of 87% for rounds.
   */
  step(
    owners: string[] | undefined,
    self: string,
    ready: (hex: string) => boolean,
    standIn: (hex: string) => boolean = ready,
    entry?: EntryCheck,
  ): CommitteeStep {
    const was = this.#member;
    if (!owners) {
      this.#owners = [];
      this.#carry.clear();
      this.#member = true;
      this.#own = true;
      return {
        member: true,
        own: true,
        adopt: was === false ? null : undefined,
        merge: [],
        keep: new Set(),
        heirs: new Map(),
      };
    }
    const prev = this.#owners.length > 0 ? this.#owners : owners;
    const before = new Set(prev);
    const after = new Set(owners);
    const leaving = prev.filter((h) => !after.has(h));
    owners.filter((h) => !before.has(h)).forEach((h, i) => {
      if (i < leaving.length) this.#carry.set(h, leaving[i]);
      if (entry && h !== self) this.#entered.set(h, { epoch: entry.epochOf(h), at: entry.now });
    });
    for (const h of this.#entered.keys()) if (!after.has(h)) this.#entered.delete(h);
    // Ready, and not the copy held from before it entered.
    const readyNow = (h: string) => {
      const e = this.#entered.get(h);
      if (!ready(h)) return false;
      if (!e || !entry || entry.epochOf(h) !== e.epoch || entry.now - e.at >= entry.graceMs) {
        this.#entered.delete(h);
        return true;
      }
      return false;
    };
    const member = after.has(self);
    let adopt: string | null | undefined;
    if (member && was === false) {
      const outgoing = this.#carry.get(self);
      adopt = outgoing !== undefined && standIn(outgoing) ? outgoing : null;
    }
    this.#carry.delete(self);
    const merge: string[] = [];
    let own = member;
    for (const h of owners) {
      if (h === self) continue;
      if (readyNow(h)) {
        this.#carry.delete(h);
        merge.push(h);
        continue;
      }
      // The outgoing holder's copy stands in, while it may be merged (once not, it is dropped).
      const old = this.#carry.get(h);
      if (old === undefined) continue;
      if (old === self) own = true;
      else if (!after.has(old) && standIn(old)) merge.push(old);
      else this.#carry.delete(h);
    }
    for (const h of this.#carry.keys()) if (!after.has(h)) this.#carry.delete(h);
    const keep = new Set([...owners, ...this.#carry.values()]);
    keep.delete(self);
    this.#owners = owners;
    this.#member = member;
    this.#own = own;
    return { member, own, adopt, merge, keep, heirs: new Map(this.#carry) };
  }
}
