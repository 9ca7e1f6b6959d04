import assert from "node:assert/strict";
import { join } from "node:path";
import { MAX_SEGMENTS, SampleStore } from "../../src/agent/samples.ts";
import { loadLocalSamples } from "../../src/agent/data.ts";
import { SampleTable } from "../../src/agent/_sample_table.ts";
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
    const live = table(0);
    const store = await SampleStore.open(dir, SHAPE, { maxSamples: 10, logger: nullLogger, sink: live });
    for (let i = 0; i < 6; i++) {
      const { x, y } = rows(3, i * 3);
      await store.append(x, y, 3);
    }
    assert.equal(store.count, 9, "6 × 3 rows bounded to 10 by whole segments → 9");
    assert.deepEqual(
      firstColumn(live.train),
      [9, 10, 11, 12, 13, 14, 15, 16, 17],
      "the sink saw the appends and drops",
    );
    const reopened = table(0);
    const again = await SampleStore.open(dir, SHAPE, { maxSamples: 10, logger: nullLogger, sink: reopened });
    assert.deepEqual(
      firstColumn(reopened.train),
      [9, 10, 11, 12, 13, 14, 15, 16, 17],
      "and the reopened store's sink",
    );
    const s = await again.readAll();
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

function table(fraction = 0.1, expectedRows = 100_000): SampleTable {
  return new SampleTable({ features: 3, heldOutFraction: fraction, normalise: (x) => x, expectedRows });
}

function firstColumn(s: { x: Float32Array; count: number }): number[] {
  return Array.from({ length: s.count }, (_, i) => s.x[i * 3]);
}

Deno.test("SampleTable holds out about the fraction asked, the same rows every time, a row's side fixed by the row alone", () => {
  const n = 2000;
  const { x, y } = rows(n, 0);
  const a = table();
  a.added(x, y, n);
  const b = table();
  for (let i = 0; i < n; i += 100) b.added(x.subarray(i * 3, (i + 100) * 3), y.subarray(i, i + 100), 100);
  assert.equal(a.train.count + a.heldOut.count, n);
  assert.ok(a.heldOut.count > 150 && a.heldOut.count < 250, `${a.heldOut.count} held out`);
  assert.deepEqual(a.heldOut.x, b.heldOut.x, "in one batch or in twenty, the same rows");
  assert.deepEqual(a.train.y, b.train.y);
  const half = table();
  half.added(x.subarray(0, 3000), y.subarray(0, 1000), 1000);
  assert.deepEqual(firstColumn(half.heldOut), firstColumn(a.heldOut).filter((v) => v < 1000));
});

Deno.test("SampleTable keeps the source rows first and for good, cuts the oldest stored rows in place", () => {
  const t = table(0.2);
  const src = rows(50, 10_000);
  t.addSource({ x: src.x, y: src.y, count: 50 });
  const fixedTrain = firstColumn(t.train);
  const batches = [0, 1, 2, 3].map((k) => rows(40, k * 100));
  for (const b of batches) t.added(b.x, b.y, 40);
  const v0 = t.version;
  assert.equal(t.train.count + t.heldOut.count, 210);
  t.dropped(80); // the two oldest batches
  assert.ok(t.version > v0);
  assert.equal(t.train.count + t.heldOut.count, 130);
  const train = firstColumn(t.train);
  assert.deepEqual(train.slice(0, fixedTrain.length), fixedTrain, "source rows stay first");
  const stored = [...train.slice(fixedTrain.length), ...firstColumn(t.heldOut)].filter((v) => v < 10_000);
  assert.ok(
    stored.every((v) => v >= 200),
    `rows of the dropped batches remain: ${stored.filter((v) => v < 200)}`,
  );
  assert.equal(stored.length, 80);
  t.dropped(40); // one more batch
  assert.equal(t.train.count + t.heldOut.count, 90);
});

Deno.test("SampleTable commits memory for the rows it holds, in place, and moves beyond the rows it expected", () => {
  const t = table(0, 1000);
  const buffer = t.train.x.buffer;
  for (let i = 0; i < 10; i++) {
    const { x, y } = rows(100, i * 100);
    t.added(x, y, 100);
    assert.equal(t.train.x.buffer, buffer, "grown in place");
    assert.equal(buffer.byteLength, (i + 1) * 100 * 3 * 4, "no slack");
  }
  t.dropped(300);
  assert.equal(buffer.byteLength, 700 * 3 * 4, "cut rows give their memory back");
  for (let i = 0; i < 5; i++) {
    const { x, y } = rows(100, 1000 + i * 100);
    t.added(x, y, 100);
  }
  assert.equal(t.train.count, 1200, "past the expected 1,000 rows: moved to a larger reservation");
  assert.deepEqual(firstColumn(t.train).slice(0, 3), [300, 301, 302]);
  assert.deepEqual(firstColumn(t.train).slice(-2), [1498, 1499]);
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
