/**
 * The gossip state files: the boot epoch (high half of every sequence number we send) and the replay
 * windows of our peers. Both go through `writeChecked` (atomic, fsynced, checksummed), so a power cut
 * leaves the old or the new content, and a damaged file is reported instead of silently reset.
 *
 * Boot epoch payload: 4 bytes, u32 big-endian. Replay payload: see `replay.ts`.
 *
 * @module
 */
import { CorruptStateError, DecodeError } from "../errors.ts";
import { readChecked, writeChecked } from "../state/mod.ts";
import { MAX_U32 } from "../wire/mod.ts";
import { keyId } from "./key_id.ts";
import { ReplayWindows } from "./replay.ts";

/** Reads the stored boot epoch (0 when the file does not exist). */
export async function readBootEpoch(path: string): Promise<number> {
  const payload = await readChecked(path);
  if (payload === undefined) return 0;
  if (payload.length !== 4) {
    throw new CorruptStateError(path, `boot epoch is ${payload.length} bytes, expected 4`);
  }
  return new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
}

/**
 * Increments the stored boot epoch and makes it durable BEFORE returning it, so no two starts (even
 * with a crash in between) ever send with the same epoch. Returns the new epoch (1 on a fresh node).
 */
export async function nextBootEpoch(path: string): Promise<number> {
  const current = await readBootEpoch(path);
  if (current >= MAX_U32) {
    throw new CorruptStateError(path, `boot epoch ${current} cannot be incremented (u32 exhausted)`);
  }
  const next = current + 1;
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, next);
  await writeChecked(path, payload);
  return next;
}

/** Loads persisted replay windows (empty when the file does not exist). */
export async function loadReplayWindows(path: string): Promise<ReplayWindows> {
  const payload = await readChecked(path);
  if (payload === undefined) return new ReplayWindows();
  try {
    return ReplayWindows.decode(payload, keyId);
  } catch (e) {
    if (e instanceof DecodeError) throw new CorruptStateError(path, e.message);
    throw e;
  }
}

/** Saves replay windows and marks them clean. */
export async function saveReplayWindows(path: string, windows: ReplayWindows): Promise<void> {
  const payload = windows.encode();
  windows.markClean();
  try {
    await writeChecked(path, payload);
  } catch (e) {
    windows.markDirty();
    throw e;
  }
}
