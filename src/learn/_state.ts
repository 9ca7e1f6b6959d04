/**
 * Learner state encoding: the checkpoint bytes (for the state helper's checksummed writer) and their
 * strict decoder.
 *
 * | field | type | notes |
 * |---|---|---|
 * | magic, version | u32, u32 | `ALRN`, 2 |
 * | modelHash | 8 bytes | |
 * | paramCount, epoch, stamp, cursor, rounds, steps | u32 ×6 | |
 * | x, contrib, resid, genesis | f32 × paramCount ×4 | working model, contribution C, residual, shared init |
 * | peers | u32 | then per peer: key length u8, key, epoch u32, genesis u8, score f32, known u32, values f32×P, versions u32×P |
 *
 * @module
 */
import { DecodeError, DecodeErrorCode } from "../errors.ts";
import { newCopy, type PeerCopy } from "./_peers.ts";
import { toHex } from "../bytes.ts";

const MAGIC = 0x4e524c41; // "ALRN"
const VERSION = 2;

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
}

/** Checkpoint bytes of `s`. */
export function encodeState(s: LearnerState): Uint8Array {
  const P = s.x.length;
  let size = 8 + 8 + 24 + 16 * P + 4;
  for (const p of s.peers) size += 1 + p.key.length + 4 + 1 + 4 + 4 + 8 * P;
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
  u32(MAGIC);
  u32(VERSION);
  out.set(s.modelHash, o);
  o += 8;
  [P, s.epoch, s.stamp, s.cursor, s.rounds, s.steps].forEach(u32);
  [s.x, s.contrib, s.resid, s.genesis].forEach(raw);
  u32(s.peers.length);
  for (const p of s.peers) {
    out[o++] = p.key.length;
    out.set(p.key, o);
    o += p.key.length;
    u32(p.epoch);
    out[o++] = p.genesis ? 1 : 0;
    v.setFloat32(o, p.score, true);
    o += 4;
    u32(p.known);
    raw(p.values);
    raw(p.versions);
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
  const f32s = () => {
    need(4 * P);
    const a = new Float32Array(P);
    new Uint8Array(a.buffer).set(bytes.subarray(o, o + 4 * P));
    o += 4 * P;
    return a;
  };
  if (u32() !== MAGIC) {
    throw new DecodeError(DecodeErrorCode.BadMagic, "Cannot restore checkpoint: bad magic", 0);
  }
  const version = u32();
  if (version !== VERSION) {
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
  const nPeers = u32();
  const peers: PeerCopy[] = [];
  for (let i = 0; i < nPeers; i++) {
    need(1);
    const kl = bytes[o++];
    need(kl);
    const key = bytes.slice(o, o + kl);
    o += kl;
    const peerEpoch = u32();
    need(1);
    const isGenesis = bytes[o++] === 1;
    need(4);
    const score = v.getFloat32(o, true);
    o += 4;
    const known = u32();
    const values = f32s();
    need(4 * P);
    const versions = new Uint32Array(P);
    new Uint8Array(versions.buffer).set(bytes.subarray(o, o + 4 * P));
    o += 4 * P;
    const hex = toHex(key);
    const p = newCopy(key, hex, peerEpoch, isGenesis, values);
    p.versions = versions;
    p.heard.fill(-1);
    p.known = Math.min(known, P);
    p.score = Number.isFinite(score) ? Math.max(0, Math.min(1, score)) : 0;
    p.lastHeard = now;
    peers.push(p);
  }
  if (o !== bytes.length) {
    throw new DecodeError(
      DecodeErrorCode.TrailingBytes,
      `Cannot restore checkpoint: ${bytes.length - o} extra bytes`,
      o,
    );
  }
  return { modelHash: hash, epoch, stamp, cursor, rounds, steps, x, contrib, resid, genesis, peers };
}
