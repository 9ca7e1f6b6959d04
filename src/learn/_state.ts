/**
 * Learner state encoding: the checkpoint bytes (for the state helper's checksummed writer) and their
 * strict decoder.
 *
 * | field | type | notes |
 * |---|---|---|
 * | magic, version | u32, u32 | `ALRN`, 3 (2 is still read: no standing, no standby peers) |
 * | modelHash | 8 bytes | |
 * | paramCount, epoch, stamp, cursor, rounds, steps | u32 ×6 | |
 * | x, contrib, resid, genesis | f32 × paramCount ×4 | working model, contribution C, residual, shared init |
 * | peers | u32 | then per peer: key length u8, key, epoch u32, genesis u8, score f32, known u32, values f32×P, versions u32×P, standing |
 * | standby | u32 | then per peer whose copy is not held (bounded fan-in): key length u8, key, epoch u32, score f32, standing |
 *
 * standing = accepted u32, pace f32, flags u8 (1 far, 2 early, 4 suspect), harm f32 (NaN = not measured),
 * lastStamp u32: what the checks remember of a peer (`_standing.ts`), so a restored board does not take
 * every peer for a newcomer (the tenure and pace rules of `_peers.ts` `trusted`).
 *
 * @module
 */
import { DecodeError, DecodeErrorCode } from "../errors.ts";
import { newCopy, type PeerCopy } from "./_peers.ts";
import type { PeerStanding } from "./_standing.ts";
import { toHex } from "../bytes.ts";

const MAGIC = 0x4e524c41; // "ALRN"
const VERSION = 3;
/** Bytes of a peer's standing after its copy or key. */
const STANDING_SIZE = 4 + 4 + 1 + 4 + 4;

/**
 * Stamps skipped on a restore. Peers may hold newer values of our pseudo-model than the checkpoint (sent
 * after it was saved, before the crash); a restored node keeps its epoch (so peers keep their copy of it
 * and stay in sync: a new epoch made them drop it until the whole pseudo-model was pushed again, and
 * their swarm model lost this node's share meanwhile: accuracy 0.90 → 0.60 at the restart in
 * tests/sim/swarm_test.ts) and continues its stamps this far beyond the checkpoint's, so that its
 * messages are newer than anything it sent before the crash. 65,536 covers hours of messages at any
 * default rate; a node that sent more since its last checkpoint has its first messages refused as
 * stale (not applied, no score lost) until its stamps pass the old ones.
 */
export const RESTORE_STAMP_GAP = 65_536;

/** The stamp a node restored from a checkpoint with `stamp` continues from (u32, saturating). */
export function resumedStamp(stamp: number): number {
  return Math.min(stamp + RESTORE_STAMP_GAP, 0xffff_ffff);
}

/** Everything a checkpoint holds. */
export interface LearnerState {
  modelHash: Uint8Array;
  epoch: number;
  stamp: number;
  cursor: number;
  rounds: number;
  steps: number;
  x: Float32Array;
  contrib: Float32Array;
  resid: Float32Array;
  genesis: Float32Array;
  peers: PeerCopy[];
  /** Peers whose copies are not held (bounded fan-in): their standing only. */
  standby: PeerStanding[];
}

/** Checkpoint bytes of `s`. */
export function encodeState(s: LearnerState): Uint8Array {
  const P = s.x.length;
  let size = 8 + 8 + 24 + 16 * P + 4;
  for (const p of s.peers) size += 1 + p.key.length + 4 + 1 + 4 + 4 + 8 * P + STANDING_SIZE;
  size += 4;
  for (const p of s.standby) size += 1 + p.key.length + 4 + 4 + STANDING_SIZE;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  let o = 0;
  const u32 = (n: number) => {
    v.setUint32(o, n >>> 0, true);
    o += 4;
  };
  const raw = (a: Float32Array | Uint32Array) => {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), o);
    o += a.byteLength;
  };
  const f32 = (x: number) => {
    v.setFloat32(o, x, true);
    o += 4;
  };
  const key = (k: Uint8Array) => {
    out[o++] = k.length;
    out.set(k, o);
    o += k.length;
  };
  const standing = (p: PeerStanding) => {
    u32(p.accepted);
    f32(p.pace);
    out[o++] = (p.far ? 1 : 0) | (p.early ? 2 : 0) | (p.suspect ? 4 : 0);
    f32(p.harm ?? NaN);
    u32(p.lastStamp);
  };
  u32(MAGIC);
  u32(VERSION);
  out.set(s.modelHash, o);
  o += 8;
  [P, s.epoch, s.stamp, s.cursor, s.rounds, s.steps].forEach(u32);
  [s.x, s.contrib, s.resid, s.genesis].forEach(raw);
  u32(s.peers.length);
  for (const p of s.peers) {
    key(p.key);
    u32(p.epoch);
    out[o++] = p.genesis ? 1 : 0;
    f32(p.score);
    u32(p.known);
    raw(p.values);
    raw(p.versions);
    standing(p);
  }
  u32(s.standby.length);
  for (const p of s.standby) {
    key(p.key);
    u32(p.epoch);
    f32(p.score);
    standing(p);
  }
  return out;
}

/**
 * Decodes checkpoint bytes of a model with `modelHash` and `paramCount` parameters. Restored peers'
 * values are undated (their first update is not size-checked) and count as heard at `now`.
 * Throws {@linkcode DecodeError} if the bytes are not such a checkpoint.
 */
export function decodeState(
  bytes: Uint8Array,
  modelHash: Uint8Array,
  paramCount: number,
  now: number,
): LearnerState {
  const P = paramCount;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  const need = (n: number) => {
    if (o + n > bytes.length) {
      throw new DecodeError(DecodeErrorCode.Truncated, `Cannot restore checkpoint: cut off at byte ${o}`, o);
    }
  };
  const u32 = () => {
    need(4);
    const r = v.getUint32(o, true);
    o += 4;
    return r;
  };
  /** P raw 4-byte values into `a`. */
  const fill = <T extends Float32Array | Uint32Array>(a: T): T => {
    need(4 * P);
    new Uint8Array(a.buffer).set(bytes.subarray(o, o + 4 * P));
    o += 4 * P;
    return a;
  };
  const f32s = () => fill(new Float32Array(P));
  if (u32() !== MAGIC) {
    throw new DecodeError(DecodeErrorCode.BadMagic, "Cannot restore checkpoint: bad magic", 0);
  }
  const version = u32();
  if (version !== VERSION && version !== 2) {
    throw new DecodeError(
      DecodeErrorCode.BadVersion,
      `Cannot restore checkpoint: unknown version ${version}`,
      4,
    );
  }
  need(8);
  const hash = bytes.slice(8, 16);
  if (!hash.every((b, i) => b === modelHash[i])) {
    throw new DecodeError(
      DecodeErrorCode.BadValue,
      "Cannot restore checkpoint: it belongs to another model",
      8,
    );
  }
  o = 16;
  const count = u32();
  if (count !== P) {
    throw new DecodeError(
      DecodeErrorCode.BadValue,
      `Cannot restore checkpoint: ${count} parameters, model has ${P}`,
      16,
    );
  }
  const [epoch, stamp, cursor, rounds, steps] = [u32(), u32(), u32(), u32(), u32()];
  const [x, contrib, resid, genesis] = [f32s(), f32s(), f32s(), f32s()];
  const f32 = () => {
    need(4);
    const r = v.getFloat32(o, true);
    o += 4;
    return r;
  };
  const readKey = () => {
    need(1);
    const kl = bytes[o++];
    need(kl);
    const key = bytes.slice(o, o + kl);
    o += kl;
    return key;
  };
  const unit = (x: number, fallback: number) => Number.isFinite(x) ? Math.max(0, Math.min(1, x)) : fallback;
  const readStanding = (p: PeerStanding) => {
    p.accepted = u32();
    p.pace = unit(f32(), 1);
    need(1);
    const flags = bytes[o++];
    p.far = (flags & 1) !== 0;
    p.early = (flags & 2) !== 0;
    p.suspect = (flags & 4) !== 0;
    const harm = f32();
    p.harm = Number.isFinite(harm) ? harm : null;
    p.lastStamp = u32();
  };
  const nPeers = u32();
  const peers: PeerCopy[] = [];
  for (let i = 0; i < nPeers; i++) {
    const key = readKey();
    const peerEpoch = u32();
    need(1);
    const isGenesis = bytes[o++] === 1;
    const score = f32();
    const known = u32();
    const values = f32s();
    const versions = fill(new Uint32Array(P));
    const hex = toHex(key);
    const p = newCopy(key, hex, peerEpoch, isGenesis, values);
    p.versions = versions;
    p.heard.fill(-1);
    p.known = Math.min(known, P);
    p.score = unit(score, 0);
    p.lastHeard = now;
    if (version >= 3) readStanding(p);
    peers.push(p);
  }
  const standby: PeerStanding[] = [];
  const nStandby = version >= 3 ? u32() : 0;
  for (let i = 0; i < nStandby; i++) {
    const key = readKey();
    const epoch = u32();
    const score = unit(f32(), 0);
    const s: PeerStanding = {
      key,
      hex: toHex(key),
      epoch,
      score,
      pace: 1,
      far: false,
      early: false,
      suspect: false,
      harm: null,
      lastHeard: now,
      lastStamp: 0,
      accepted: 0,
      rejected: {},
    };
    readStanding(s);
    standby.push(s);
  }
  if (o !== bytes.length) {
    throw new DecodeError(
      DecodeErrorCode.TrailingBytes,
      `Cannot restore checkpoint: ${bytes.length - o} extra bytes`,
      o,
    );
  }
  return { modelHash: hash, epoch, stamp, cursor, rounds, steps, x, contrib, resid, genesis, peers, standby };
}
