import assert from "node:assert/strict";
import { CorruptStateError, DecodeError } from "../../src/errors.ts";
import { SeededRandom } from "../../src/time.ts";
import {
  keyId,
  loadReplayWindows,
  nextBootEpoch,
  readBootEpoch,
  ReplayWindows,
  saveReplayWindows,
} from "../../src/gossip/mod.ts";
import { writeChecked } from "../../src/state/mod.ts";
import { withTempDir } from "../_support/temp_dir.ts";

Deno.test("nextBootEpoch() starts at 1 and increments durably on every start", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/boot-epoch`;
    assert.equal(await readBootEpoch(path), 0);
    assert.equal(await nextBootEpoch(path), 1);
    assert.equal(await nextBootEpoch(path), 2);
    assert.equal(await readBootEpoch(path), 2);
  }));

Deno.test("nextBootEpoch() refuses a corrupt file instead of restarting at 1", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/boot-epoch`;
    await nextBootEpoch(path);
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 1] ^= 1;
    await Deno.writeFile(path, bytes);
    await assert.rejects(() => nextBootEpoch(path), CorruptStateError);
    await writeChecked(path, new Uint8Array(3));
    await assert.rejects(() => nextBootEpoch(path), /expected 4/);
  }));

Deno.test("replay windows survive save and load with their seen-bitmap", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/replay.bin`;
    const w = new ReplayWindows();
    const key = new Uint8Array(32).fill(5);
    const id = keyId(key);
    for (const c of [1000, 998, 990, 745]) assert.equal(w.checkAndRecord(id, key, 3, c), "fresh");
    assert.equal(w.dirty, true);
    await saveReplayWindows(path, w);
    assert.equal(w.dirty, false);
    const r = await loadReplayWindows(path);
    assert.deepEqual(r.highest(id), { epoch: 3, counter: 1000 });
    for (const c of [1000, 998, 990, 745]) assert.equal(r.checkAndRecord(id, key, 3, c), "duplicate");
    assert.equal(r.checkAndRecord(id, key, 3, 744), "too-old");
    assert.equal(r.checkAndRecord(id, key, 2, 5000), "old-epoch");
    assert.equal(r.checkAndRecord(id, key, 3, 999), "fresh");
    assert.equal((await loadReplayWindows(`${dir}/missing.bin`)).size, 0);
  }));

Deno.test("loadReplayWindows() reports a damaged file as CorruptStateError", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/replay.bin`;
    await writeChecked(path, new Uint8Array([1, 0, 0, 0, 2, 9, 9]));
    await assert.rejects(
      () => loadReplayWindows(path),
      (e: unknown) => e instanceof CorruptStateError && /2 senders/.test(e.message),
    );
    await writeChecked(path, new Uint8Array([7, 0, 0, 0, 0]));
    await assert.rejects(() => loadReplayWindows(path), /version 7/);
  }));

Deno.test("ReplayWindows handles counters at the top of the u32 range", () => {
  const w = new ReplayWindows();
  const key = new Uint8Array(32);
  const id = keyId(key);
  assert.equal(w.checkAndRecord(id, key, 1, 0xffff_ffff), "fresh");
  assert.equal(w.checkAndRecord(id, key, 1, 0xffff_ffff), "duplicate");
  assert.equal(w.checkAndRecord(id, key, 1, 0xffff_fffe), "fresh");
  const r = ReplayWindows.decode(w.encode(), keyId);
  assert.equal(r.checkAndRecord(id, key, 1, 0xffff_fffe), "duplicate");
  assert.equal(r.checkAndRecord(id, key, 1, 0), "too-old");
});

Deno.test("ReplayWindows.decode() turns any corruption of a state payload into a DecodeError", () => {
  const w = new ReplayWindows();
  for (let s = 0; s < 3; s++) {
    const key = new Uint8Array(32).fill(s + 1);
    for (const c of [5, 9, 300]) w.checkAndRecord(keyId(key), key, 2, c);
  }
  const good = w.encode();
  const rng = new SeededRandom(9);
  for (let i = 0; i < 5000; i++) {
    let bytes: Uint8Array;
    const mode = rng.nextU32() % 3;
    if (mode === 0) bytes = good.subarray(0, rng.nextU32() % good.length);
    else if (mode === 1) {
      bytes = good.slice();
      bytes[rng.nextU32() % bytes.length] = rng.nextU32() & 0xff;
    } else {
      bytes = new Uint8Array(rng.nextU32() % 400);
      for (let j = 0; j < bytes.length; j++) bytes[j] = rng.nextU32() & 0xff;
    }
    try {
      ReplayWindows.decode(bytes, keyId);
    } catch (e) {
      assert.ok(e instanceof DecodeError, `case ${i}: ${e}`);
    }
  }
});
