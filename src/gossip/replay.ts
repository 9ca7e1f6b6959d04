/**
 * Replay protection: for each sender, the highest sequence (bootEpoch, counter) seen and which of the
 * {@linkcode REPLAY_WINDOW} counters below it have been seen. A datagram is fresh if it is newer than the
 * highest, or inside the window and not yet seen. Everything else (a copy, an older epoch, a counter
 * that fell out of the window) is a replay. Pure; persisted by the shell with
 * {@linkcode ReplayWindows.encode} / {@linkcode ReplayWindows.decode} inside a checksummed state file.
 *
 * Persisted payload (inside the `writeChecked` envelope), big-endian:
 *
 * | offset     | size | type  | field    | notes                                        |
 * |-----------:|-----:|-------|----------|----------------------------------------------|
 * | 0          | 1    | u8    | version  | 1                                            |
 * | 1          | 4    | u32   | count    | number of senders, ≤ {@linkcode MAX_REPLAY_SENDERS} |
 * | 5 + 72·i   | 32   | bytes | key      | sender public key                            |
 * | 37 + 72·i  | 4    | u32   | epoch    | highest boot epoch                           |
 * | 41 + 72·i  | 4    | u32   | counter  | highest counter in that epoch                |
 * | 45 + 72·i  | 32   | bytes | seen     | bit j (byte j>>3, bit j&7) = counter − j seen |
 *
 * @module
 */
import { DecodeError, DecodeErrorCode } from "../errors.ts";

/** How many counters below the highest are remembered (reordering tolerance). */
export const REPLAY_WINDOW = 256;
/** Most senders kept in a persisted replay state. */
export const MAX_REPLAY_SENDERS = 65536;
const ENTRY_SIZE = 32 + 4 + 4 + REPLAY_WINDOW / 8;
const STATE_VERSION = 1;

/** Outcome of {@linkcode ReplayWindows.check}. */
export type ReplayVerdict = "fresh" | "duplicate" | "too-old" | "old-epoch";

interface Window {
  key: Uint8Array;
  epoch: number;
  highest: number;
  /** slot[c % W] = c + 1 when counter c (of the current epoch) was seen; 0 = empty. */
  slots: Float64Array;
}

/** Replay windows of every sender, keyed by a string id of the public key. */
export class ReplayWindows {
  #windows = new Map<string, Window>();
  #dirty = false;

  /** Number of senders tracked. */
  get size(): number {
    return this.#windows.size;
  }
  /** True when something changed since the last {@linkcode markClean}. */
  get dirty(): boolean {
    return this.#dirty;
  }
  markClean(): void {
    this.#dirty = false;
  }
  /** Marks the windows as needing a save (e.g. after a failed write). */
  markDirty(): void {
    this.#dirty = true;
  }

  /**
   * Checks (epoch, counter) of sender `id` and, if fresh, records it. Call only after the signature
   * verified: an unsigned datagram must never move a window.
   */
  checkAndRecord(id: string, key: Uint8Array, epoch: number, counter: number): ReplayVerdict {
    let w = this.#windows.get(id);
    if (!w) {
      w = { key: key.slice(), epoch, highest: counter, slots: new Float64Array(REPLAY_WINDOW) };
      w.slots[counter % REPLAY_WINDOW] = counter + 1;
      this.#windows.set(id, w);
      this.#dirty = true;
      return "fresh";
    }
    if (epoch < w.epoch) return "old-epoch";
    if (epoch > w.epoch) {
      w.epoch = epoch;
      w.highest = counter;
      w.slots.fill(0);
      w.slots[counter % REPLAY_WINDOW] = counter + 1;
      this.#dirty = true;
      return "fresh";
    }
    if (counter > w.highest) {
      w.highest = counter;
      w.slots[counter % REPLAY_WINDOW] = counter + 1;
      this.#dirty = true;
      return "fresh";
    }
    if (w.highest - counter >= REPLAY_WINDOW) return "too-old";
    const slot = counter % REPLAY_WINDOW;
    if (w.slots[slot] === counter + 1) return "duplicate";
    w.slots[slot] = counter + 1;
    this.#dirty = true;
    return "fresh";
  }

  /** Highest (epoch, counter) seen from `id`, if any. */
  highest(id: string): { epoch: number; counter: number } | undefined {
    const w = this.#windows.get(id);
    return w && { epoch: w.epoch, counter: w.highest };
  }

  /** Forgets a sender (e.g. after revocation, to keep the state small). */
  forget(id: string): void {
    if (this.#windows.delete(id)) this.#dirty = true;
  }

  /** Serializes every window (see the module table). */
  encode(): Uint8Array {
    const entries = [...this.#windows.values()].slice(0, MAX_REPLAY_SENDERS);
    const out = new Uint8Array(5 + entries.length * ENTRY_SIZE);
    const view = new DataView(out.buffer);
    out[0] = STATE_VERSION;
    view.setUint32(1, entries.length);
    let o = 5;
    for (const w of entries) {
      out.set(w.key, o);
      view.setUint32(o + 32, w.epoch);
      view.setUint32(o + 36, w.highest);
      const seen = out.subarray(o + 40, o + ENTRY_SIZE);
      for (let j = 0; j < REPLAY_WINDOW && j <= w.highest; j++) {
        const c = w.highest - j;
        if (w.slots[c % REPLAY_WINDOW] === c + 1) seen[j >> 3] |= 1 << (j & 7);
      }
      o += ENTRY_SIZE;
    }
    return out;
  }

  /** Restores windows written by {@linkcode encode}; {@linkcode DecodeError} if malformed. */
  static decode(bytes: Uint8Array, idOf: (key: Uint8Array) => string): ReplayWindows {
    if (bytes.length < 5) {
      throw new DecodeError(DecodeErrorCode.Truncated, "Replay state is truncated", bytes.length);
    }
    if (bytes[0] !== STATE_VERSION) {
      throw new DecodeError(
        DecodeErrorCode.BadVersion,
        `Replay state version ${bytes[0]} is not ${STATE_VERSION}`,
        0,
      );
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const count = view.getUint32(1);
    if (count > MAX_REPLAY_SENDERS || bytes.length !== 5 + count * ENTRY_SIZE) {
      throw new DecodeError(
        DecodeErrorCode.BadLength,
        `Replay state says ${count} senders but holds ${bytes.length} bytes`,
        1,
      );
    }
    const r = new ReplayWindows();
    let o = 5;
    for (let i = 0; i < count; i++) {
      const key = bytes.slice(o, o + 32);
      const epoch = view.getUint32(o + 32);
      const highest = view.getUint32(o + 36);
      const slots = new Float64Array(REPLAY_WINDOW);
      for (let j = 0; j < REPLAY_WINDOW && j <= highest; j++) {
        if (bytes[o + 40 + (j >> 3)] & (1 << (j & 7))) {
          const c = highest - j;
          slots[c % REPLAY_WINDOW] = c + 1;
        }
      }
      r.#windows.set(idOf(key), { key, epoch, highest, slots });
      o += ENTRY_SIZE;
    }
    return r;
  }
}
