/**
 * Model checkpoints: the flat weights, the model hash, a step counter and opaque extra bytes (the
 * learning layer keeps its residuals and public copies there), in the checksummed envelope of
 * `writeChecked`. The last two good files are kept; loading takes the newest one that is intact and
 * of the same model, and reports every file it had to skip.
 *
 * File name: `<modelId>-<seq>.ckpt` (seq: 12 decimal digits, increasing) in the checkpoint directory.
 *
 * Payload layout (inside the `AGST` envelope of `src/state/checked.ts`, little-endian):
 *
 * | offset   | size  | type    | field        | notes                                   |
 * |---------:|------:|---------|--------------|-----------------------------------------|
 * | 0        | 4     | bytes   | magic        | `AGCK`                                  |
 * | 4        | 1     | u8      | version      | 1                                       |
 * | 5        | 3     | -       | reserved     | zero                                    |
 * | 8        | 8     | bytes   | modelHash    | {@linkcode MODEL_HASH_SIZE} bytes       |
 * | 16       | 4     | u32     | paramCount   | floats that follow                      |
 * | 20       | 4     | u32     | extraLength  | opaque bytes after the weights          |
 * | 24       | 8     | f64     | step         | caller's counter (e.g. training steps)  |
 * | 32       | 4·n   | f32[n]  | weights      | flat order of `paramLayout`             |
 * | 32 + 4n  | m     | bytes   | extra        |                                         |
 *
 * @module
 */
import { join } from "node:path";
import { CorruptStateError, DecodeError, DecodeErrorCode } from "../errors.ts";
import { readChecked, verifyChecked, writeChecked } from "../state/mod.ts";
import { MODEL_HASH_SIZE, toHex } from "./params.ts";

const MAGIC = [0x41, 0x47, 0x43, 0x4b]; // "AGCK"
const VERSION = 1;
/** Bytes before the weights in a checkpoint payload. */
export const CHECKPOINT_HEADER_SIZE = 32;
/** Checkpoint files kept per model (the newest and the newest good one before it). */
export const CHECKPOINTS_KEPT = 2;

/** What a checkpoint holds. */
export interface CheckpointData {
  modelHash: Uint8Array;
  weights: Float32Array;
  /** Caller's counter, e.g. training steps so far. */
  step: number;
  /** Opaque bytes stored alongside (empty if none). */
  extra: Uint8Array;
}

/** The parts of a model a checkpoint needs (a `TrainableModel` has them). */
export interface CheckpointModel {
  readonly spec: { id: string };
  readonly modelHash: Uint8Array;
  readonly paramCount: number;
  getWeights(): Float32Array;
}

/** A checkpoint file that was passed over, and why. */
export interface SkippedCheckpoint {
  path: string;
  /** `other-model`: intact but made by another model (hash or size); `corrupt`: damaged or unreadable. */
  kind: "corrupt" | "other-model";
  reason: string;
}

/** An intact checkpoint of another model (its hash or weight count differs from this model's). */
export class OtherModelCheckpointError extends DecodeError {
  override name = "OtherModelCheckpointError";
}

/** Result of {@linkcode loadCheckpoint}: the newest good checkpoint, if any, and what was skipped. */
export interface LoadedCheckpoints {
  /** `savedAt`: when the file was last written (its modification time, ms since the epoch), if known. */
  checkpoint?: CheckpointData & { path: string; savedAt?: number };
  skipped: SkippedCheckpoint[];
}

/** Serialises a checkpoint payload (pure). */
export function encodeCheckpoint(data: CheckpointData): Uint8Array {
  const [head, extra] = checkpointParts(data);
  const out = new Uint8Array(head.length + extra.length);
  out.set(head, 0);
  out.set(extra, head.length);
  return out;
}

/**
 * The checkpoint payload as two parts whose concatenation is {@linkcode encodeCheckpoint}'s: the header
 * and weights, then `extra` itself (not copied: the learner's state holds every peer copy's model).
 */
export function checkpointParts(data: CheckpointData): [Uint8Array, Uint8Array] {
  if (data.modelHash.length !== MODEL_HASH_SIZE) {
    throw new Error(`Bug: model hash has ${data.modelHash.length} bytes, expected ${MODEL_HASH_SIZE}`);
  }
  const n = data.weights.length;
  const out = new Uint8Array(checkpointHeadSize(n));
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  out.set(data.modelHash, 8);
  view.setUint32(16, n, true);
  view.setUint32(20, data.extra.length, true);
  view.setFloat64(24, data.step, true);
  for (let i = 0; i < n; i++) view.setFloat32(CHECKPOINT_HEADER_SIZE + 4 * i, data.weights[i], true);
  return [out, data.extra];
}

/**
 * Parses a checkpoint payload; a payload of another model (hash or parameter count) or with bad
 * fields is a {@linkcode DecodeError}. Pure.
 */
export function decodeCheckpoint(
  bytes: Uint8Array,
  expectHash: Uint8Array,
  expectParams: number,
): CheckpointData {
  const head = decodeCheckpointHead(bytes, bytes.length, expectHash, expectParams);
  // extra is a view into bytes, not a copy: it holds every peer copy of the learner's state.
  return { ...head, extra: bytes.subarray(checkpointHeadSize(expectParams)) };
}

/** Bytes of a checkpoint payload before its extra bytes: header and weights. */
export function checkpointHeadSize(params: number): number {
  return CHECKPOINT_HEADER_SIZE + 4 * params;
}

/**
 * {@linkcode decodeCheckpoint} of a payload of `payloadLength` bytes given its first bytes (at least
 * {@linkcode checkpointHeadSize}): every check but the extra bytes themselves.
 */
export function decodeCheckpointHead(
  bytes: Uint8Array,
  payloadLength: number,
  expectHash: Uint8Array,
  expectParams: number,
): Omit<CheckpointData, "extra"> {
  if (bytes.length < CHECKPOINT_HEADER_SIZE) {
    throw new DecodeError(
      DecodeErrorCode.Truncated,
      `Checkpoint of ${bytes.length} bytes is shorter than its ${CHECKPOINT_HEADER_SIZE}-byte header`,
      bytes.length,
    );
  }
  if (MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new DecodeError(DecodeErrorCode.BadMagic, "Not a model checkpoint (magic is not AGCK)", 0);
  }
  if (bytes[4] !== VERSION) {
    throw new DecodeError(DecodeErrorCode.BadVersion, `Unsupported checkpoint version ${bytes[4]}`, 4);
  }
  const hash = bytes.slice(8, 8 + MODEL_HASH_SIZE);
  if (toHex(hash) !== toHex(expectHash)) {
    throw new OtherModelCheckpointError(
      DecodeErrorCode.BadValue,
      `Checkpoint is of model ${toHex(hash)}, not of this model ${toHex(expectHash)}`,
      8,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(16, true);
  const extraLength = view.getUint32(20, true);
  if (n !== expectParams) {
    throw new OtherModelCheckpointError(
      DecodeErrorCode.BadLength,
      `Checkpoint has ${n} weights, this model ${expectParams}`,
      16,
    );
  }
  const want = CHECKPOINT_HEADER_SIZE + 4 * n + extraLength;
  if (payloadLength !== want || bytes.length < checkpointHeadSize(n)) {
    throw new DecodeError(
      payloadLength < want ? DecodeErrorCode.Truncated : DecodeErrorCode.TrailingBytes,
      `Checkpoint is ${payloadLength} bytes, its header says ${want}`,
      Math.min(payloadLength, want),
    );
  }
  const step = view.getFloat64(24, true);
  if (!Number.isFinite(step)) {
    throw new DecodeError(DecodeErrorCode.BadValue, `Checkpoint step ${step} is not finite`, 24);
  }
  const weights = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const w = view.getFloat32(CHECKPOINT_HEADER_SIZE + 4 * i, true);
    if (!Number.isFinite(w)) {
      throw new DecodeError(
        DecodeErrorCode.BadValue,
        `Checkpoint weight ${i} is ${w}`,
        CHECKPOINT_HEADER_SIZE + 4 * i,
      );
    }
    weights[i] = w;
  }
  return { modelHash: hash, weights, step };
}

/** Checkpoint files of `modelId` in `dir`, newest first. */
export async function listCheckpoints(
  dir: string,
  modelId: string,
): Promise<{ path: string; seq: number }[]> {
  const re = new RegExp(`^${modelId.replace(/[^a-z0-9-]/g, "")}-(\\d{12})\\.ckpt$`);
  const out: { path: string; seq: number }[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = e.isFile ? re.exec(e.name) : null;
      if (m) out.push({ path: join(dir, e.name), seq: Number(m[1]) });
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort((a, b) => b.seq - a.seq);
}

/**
 * Writes a new checkpoint of `model` (its current weights unless `weights` is given) and prunes old
 * ones: the new file and the newest intact one before it are kept. Returns the new file's path.
 */
export async function saveCheckpoint(
  dir: string,
  model: CheckpointModel,
  options: { step?: number; extra?: Uint8Array; weights?: Float32Array } = {},
): Promise<string> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const existing = await listCheckpoints(dir, model.spec.id);
  const seq = (existing[0]?.seq ?? 0) + 1;
  const path = join(dir, `${model.spec.id}-${String(seq).padStart(12, "0")}.ckpt`);
  const payload = checkpointParts({
    modelHash: model.modelHash,
    weights: options.weights ?? model.getWeights(),
    step: options.step ?? 0,
    extra: options.extra ?? new Uint8Array(0),
  });
  await writeChecked(path, payload, { mode: 0o600 });
  let keptGood = 1; // the file just written
  for (const old of existing) {
    if (keptGood < CHECKPOINTS_KEPT && await isGood(old.path, model)) {
      keptGood++;
      continue;
    }
    await Deno.remove(old.path).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
  return path;
}

async function isGood(path: string, model: CheckpointModel): Promise<boolean> {
  try {
    // Checked as a stream: the file holds every peer copy of the learner's state, read every checkpoint.
    const read = await verifyChecked(path, checkpointHeadSize(model.paramCount));
    if (!read) return false;
    decodeCheckpointHead(read.head, read.length, model.modelHash, model.paramCount);
    return true;
  } catch (e) {
    if (e instanceof CorruptStateError || e instanceof DecodeError) return false;
    throw e;
  }
}

/**
 * Loads the newest intact checkpoint of `model` from `dir`. Corrupt files and files of another model
 * (different hash) are skipped, left in place and listed in `skipped` with the reason, so the caller
 * can report them; an older good file is used instead.
 */
export async function loadCheckpoint(
  dir: string,
  model: Omit<CheckpointModel, "getWeights">,
): Promise<LoadedCheckpoints> {
  const skipped: SkippedCheckpoint[] = [];
  for (const { path } of await listCheckpoints(dir, model.spec.id)) {
    try {
      const payload = await readChecked(path);
      if (!payload) continue; // removed meanwhile
      return {
        checkpoint: {
          ...decodeCheckpoint(payload, model.modelHash, model.paramCount),
          path,
          ...await Deno.stat(path).then((s) => s.mtime ? { savedAt: s.mtime.getTime() } : {}, () => ({})),
        },
        skipped,
      };
    } catch (e) {
      if (e instanceof CorruptStateError) {
        skipped.push({ path, kind: "corrupt", reason: e.message.replace(/^State file "[^"]*" is /, "") });
      } else if (e instanceof DecodeError) {
        skipped.push({
          path,
          kind: e instanceof OtherModelCheckpointError ? "other-model" : "corrupt",
          reason: e.message,
        });
      } else throw e;
    }
  }
  return { skipped };
}
