import assert from "node:assert/strict";
import { join } from "node:path";
import { MAX_SEGMENTS, SampleStore } from "../../src/agent/samples.ts";
import { loadLocalSamples, splitHeldOut } from "../../src/agent/data.ts";
import { nullLogger } from "../../src/log.ts";
import { writeFileAtomic } from "../../src/state/mod.ts";

const SHAPE = { features: 3, classes: 4 };

function rows(n: number, start: number): { x: Float32Array; y: Uint8Array } {
  const x = new Float32Array(n * 3);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    x.set([start + i, 0.5, -1], i * 3);
    y[i] = (start + i) % 4;
  }
  return { x, y };
}

Deno.test("SampleStore keeps appended rows across reopen and drops the oldest beyond maxSamples", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = await SampleStore.open(dir, SHAPE, { maxSamples: 10, logger: nullLogger });
    for (let i = 0; i < 6; i++) {
      const { x, y } = rows(3, i * 3);
      await store.append(x, y, 3);
    }
    assert.equal(store.count, 9, "6 × 3 rows bounded to 10 by whole segments → 9");
    const again = await SampleStore.open(dir, SHAPE, { maxSamples: 10, logger: nullLogger });
    const s = again.samples();
    assert.equal(s.count, 9);
    assert.deepEqual(Array.from(s.x.subarray(0, 3)), [9, 0.5, -1], "oldest kept row is from the 4th request");
    assert.deepEqual(Array.from(s.y), [1, 2, 3, 0, 1, 2, 3, 0, 1]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SampleStore merges segments beyond MAX_SEGMENTS and repairs an interrupted merge", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = await SampleStore.open(dir, SHAPE, { maxSamples: 100000, logger: nullLogger });
    for (let i = 0; i <= MAX_SEGMENTS; i++) {
      const { x, y } = rows(1, i);
      await store.append(x, y, 1);
    }
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.ok(files.length <= MAX_SEGMENTS, `${files.length} files`);
    assert.match(files[0], /^\d{12}-\d{12}\.jsonl$/);
    // A crash after writing a range file but before removing what it covers leaves both: simulate it.
    await writeFileAtomic(join(dir, "000000000001.jsonl"), '{"x":[0,0.5,-1],"y":0}\n');
    const again = await SampleStore.open(dir, SHAPE, { maxSamples: 100000, logger: nullLogger });
    assert.equal(again.count, MAX_SEGMENTS + 1, "no duplicated rows");
    assert.ok(![...Deno.readDirSync(dir)].some((e) => e.name === "000000000001.jsonl"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("splitHeldOut() holds out about the fraction asked, the same rows every time", () => {
  const n = 2000;
  const x = new Float32Array(n * 3);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) x.set([i, i * 0.5, 1], i * 3);
  const a = splitHeldOut({ x, y, count: n }, 0.1, 3);
  const b = splitHeldOut({ x, y, count: n }, 0.1, 3);
  assert.equal(a.train.count + a.heldOut.count, n);
  assert.ok(a.heldOut.count > 150 && a.heldOut.count < 250, `${a.heldOut.count} held out`);
  assert.deepEqual(a.heldOut.x, b.heldOut.x);
  // A row's side does not depend on the others: drop half the rows, the held-out rows that remain stay held out.
  const half = splitHeldOut({ x: x.subarray(0, 3000), y: y.subarray(0, 1000), count: 1000 }, 0.1, 3);
  const firstHalfHeld = Array.from({ length: a.heldOut.count }, (_, i) => a.heldOut.x[i * 3]).filter((v) =>
    v < 1000
  );
  assert.deepEqual(
    Array.from({ length: half.heldOut.count }, (_, i) => half.heldOut.x[i * 3]),
    firstHalfHeld,
  );
});

Deno.test("loadLocalSamples() streams a JSONL file and reports bad rows with their real line numbers", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "data.jsonl");
    const lines = Array.from({ length: 600 }, (_, i) => JSON.stringify({ x: [i, 0, 1], y: i % 4 }));
    lines[299] = '{"x": [1, 2], "y": 1}';
    lines[599] = "not json";
    await Deno.writeTextFile(path, lines.join("\n")); // no final newline
    const parsed = await loadLocalSamples(path, SHAPE);
    assert.equal(parsed.samples.count, 598);
    assert.deepEqual(parsed.bad.map((b) => b.line), [300, 600]);
    assert.equal(parsed.samples.view().x[3 * 598 - 3], 598);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
