import assert from "node:assert/strict";
import { join } from "node:path";
import { DecodeError, DecodeErrorCode } from "../../src/errors.ts";
import {
  type CheckpointModel,
  checkpointParts,
  CHECKPOINTS_KEPT,
  decodeCheckpoint,
  encodeCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  saveCheckpoint,
} from "../../src/model/mod.ts";
import { withTempDir } from "../_support/temp_dir.ts";

/** A stand-in with the parts a checkpoint needs (the real models are exercised in model_test.ts). */
function fakeModel(
  id: string,
  hash: number,
  weights: Float32Array,
): CheckpointModel & { weights: Float32Array } {
  const m = {
    spec: { id },
    modelHash: new Uint8Array(8).fill(hash),
    paramCount: weights.length,
    weights,
    getWeights: () => m.weights.slice(),
  };
  return m;
}

Deno.test("encodeCheckpoint()/decodeCheckpoint() round-trip weights, step and extra bytes", () => {
  const data = {
    modelHash: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
    weights: new Float32Array([0.5, -1.25, 3e-8, 1e30]),
    step: 1234,
    extra: new Uint8Array([9, 8, 7]),
  };
  const bytes = encodeCheckpoint(data);
  assert.equal(bytes.length, 32 + 16 + 3);
  assert.deepEqual(decodeCheckpoint(bytes, data.modelHash, 4), data);
});

Deno.test("checkpointParts() is encodeCheckpoint() in two parts, the extra bytes not copied", () => {
  const data = {
    modelHash: new Uint8Array(8).fill(3),
    weights: new Float32Array([1, 2, 3]),
    step: 7,
    extra: new Uint8Array(1000).map((_, i) => i),
  };
  const [head, extra] = checkpointParts(data);
  assert.equal(extra, data.extra);
  assert.deepEqual(new Uint8Array([...head, ...extra]), encodeCheckpoint(data));
});

Deno.test("decodeCheckpoint() rejects another model's checkpoint by hash and size", () => {
  const bytes = encodeCheckpoint({
    modelHash: new Uint8Array(8).fill(1),
    weights: new Float32Array(4),
    step: 0,
    extra: new Uint8Array(0),
  });
  assert.throws(() => decodeCheckpoint(bytes, new Uint8Array(8).fill(2), 4), (e: unknown) => {
    assert.ok(e instanceof DecodeError);
    assert.equal(e.code, DecodeErrorCode.BadValue);
    assert.match(e.message, /of model 0101010101010101, not of this model 0202020202020202/);
    return true;
  });
  assert.throws(() => decodeCheckpoint(bytes, new Uint8Array(8).fill(1), 5), /has 4 weights, this model 5/);
});

Deno.test("decodeCheckpoint() gives a DecodeError for every truncation and for NaN weights", () => {
  const hash = new Uint8Array(8).fill(3);
  const bytes = encodeCheckpoint({
    modelHash: hash,
    weights: new Float32Array([1, 2, 3]),
    step: 2,
    extra: new Uint8Array([1]),
  });
  for (let n = 0; n < bytes.length; n++) {
    assert.throws(() => decodeCheckpoint(bytes.subarray(0, n), hash, 3), DecodeError, `truncated to ${n}`);
  }
  const longer = new Uint8Array(bytes.length + 1);
  longer.set(bytes);
  // One more byte is read as extra only if the header says so; here it does not.
  assert.throws(
    () => decodeCheckpoint(longer, hash, 3),
    (e: unknown) => e instanceof DecodeError && e.code === DecodeErrorCode.TrailingBytes,
  );
  const nan = bytes.slice();
  new DataView(nan.buffer).setFloat32(32 + 4, NaN, true);
  assert.throws(() => decodeCheckpoint(nan, hash, 3), /weight 1 is NaN/);
});

Deno.test("saveCheckpoint() keeps the last two and loadCheckpoint() returns the newest", async () => {
  await withTempDir(async (dir) => {
    const m = fakeModel("mnist-mlp", 7, new Float32Array([1, 2, 3]));
    for (let step = 1; step <= 4; step++) {
      m.weights = new Float32Array([step, step, step]);
      await saveCheckpoint(dir, m, { step, extra: new Uint8Array([step]) });
    }
    const files = await listCheckpoints(dir, "mnist-mlp");
    assert.equal(files.length, CHECKPOINTS_KEPT);
    assert.deepEqual(files.map((f) => f.seq), [4, 3]);
    const { checkpoint, skipped } = await loadCheckpoint(dir, m);
    assert.deepEqual(skipped, []);
    assert.equal(checkpoint?.step, 4);
    assert.deepEqual(checkpoint?.weights, new Float32Array([4, 4, 4]));
    assert.deepEqual(checkpoint?.extra, new Uint8Array([4]));
    assert.equal((await Deno.stat(checkpoint!.path)).mode! & 0o777, 0o600);
    // When it was written: a restore after a long power cut catches up from the peers.
    const old = new Date(Date.now() - 3_600_000);
    await Deno.utime(checkpoint!.path, old, old);
    const again = (await loadCheckpoint(dir, m)).checkpoint!;
    assert.ok(Math.abs(again.savedAt! - old.getTime()) < 1000, `${again.savedAt} vs ${old.getTime()}`);
  });
});

Deno.test("a corrupt newest checkpoint is reported and the previous good one is loaded and kept", async () => {
  await withTempDir(async (dir) => {
    const m = fakeModel("mnist-mlp", 7, new Float32Array([1, 1]));
    await saveCheckpoint(dir, m, { step: 1 });
    m.weights = new Float32Array([2, 2]);
    const newest = await saveCheckpoint(dir, m, { step: 2 });
    const bytes = await Deno.readFile(newest);
    bytes[bytes.length - 1] ^= 0xff; // flip bits of a weight
    await Deno.writeFile(newest, bytes);

    const { checkpoint, skipped } = await loadCheckpoint(dir, m);
    assert.equal(checkpoint?.step, 1);
    assert.deepEqual(checkpoint?.weights, new Float32Array([1, 1]));
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0].path, newest);
    assert.match(skipped[0].reason, /checksum mismatch/);
    assert.equal(skipped[0].kind, "corrupt");

    // The next save keeps the new file and the older good one, and drops the corrupt one.
    m.weights = new Float32Array([3, 3]);
    await saveCheckpoint(dir, m, { step: 3 });
    assert.deepEqual((await listCheckpoints(dir, "mnist-mlp")).map((f) => f.seq), [3, 1]);
  });
});

Deno.test("loadCheckpoint() skips a checkpoint of a different model version with the reason", async () => {
  await withTempDir(async (dir) => {
    await saveCheckpoint(dir, fakeModel("mnist-mlp", 1, new Float32Array(2)), { step: 9 });
    const { checkpoint, skipped } = await loadCheckpoint(dir, fakeModel("mnist-mlp", 2, new Float32Array(2)));
    assert.equal(checkpoint, undefined);
    assert.match(skipped[0].reason, /of model 0101010101010101, not of this model 0202020202020202/);
    assert.equal(skipped[0].kind, "other-model", "told apart by kind, not by the message text");
    // Other models' files and stray files are ignored.
    await Deno.writeTextFile(join(dir, "mnist-vit-000000000001.ckpt"), "x");
    await Deno.writeTextFile(join(dir, "notes.txt"), "x");
    assert.equal((await listCheckpoints(dir, "mnist-mlp")).length, 1);
    assert.deepEqual(
      await loadCheckpoint(join(dir, "missing"), fakeModel("mnist-mlp", 1, new Float32Array(2))),
      {
        skipped: [],
      },
    );
  });
});
