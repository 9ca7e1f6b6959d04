import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import {
  formatBadRow,
  loadSamples,
  parseCsv,
  parseJsonl,
  SampleBuffer,
  sampleToJsonl,
  summariseBadRows,
} from "../../src/learn/data.ts";
import { loadLocalSamples } from "../../src/agent/data.ts";
import { InputCheck } from "../../src/model/input.ts";
import { dealRows, parseSplit, splitIndices } from "../../src/learn/split.ts";

const shape = { features: 4, classes: 3 };

Deno.test("parseJsonl() keeps good rows and reports bad ones as file:line, skipping them", () => {
  const text = [
    '{"x":[0,0.5,1,0],"y":2}',
    "",
    '{"x":[0,0.5,1],"y":1}',
    "not json",
    '{"x":[0,0.5,1,"a"],"y":1}',
    '{"x":[0,0,0,0],"y":3}',
    "[1,2]",
    '{"x":[1,1,1,1],"y":0}',
  ].join("\n");
  const { samples, bad } = parseJsonl(text, "d.jsonl", shape);
  assert.equal(samples.count, 2);
  assert.deepEqual(Array.from(samples.view().y), [2, 0]);
  assert.deepEqual(bad.map(formatBadRow), [
    'd.jsonl:3: "x" has 3 values, expected 4',
    "d.jsonl:4: not JSON (Unexpected token 'o', \"not json\" is not valid JSON)",
    'd.jsonl:5: "x"[3] is "a", not a finite number',
    "d.jsonl:6: label 3 is not an integer from 0 to 2",
    'd.jsonl:7: expected an object {"x": [...], "y": LABEL}',
  ]);
});

Deno.test("parseCsv() skips a header and reports bad rows as file:line", () => {
  const text = "label,p0,p1,p2,p3\n1,0,0,0,1\n2,0,x,0,1\n5,0,0,0,0\n0,1,1,1\n,1,1,1,1\n0,0.25,0.5,0.75,1\n";
  const { samples, bad } = parseCsv(text, "d.csv", shape);
  assert.equal(samples.count, 2);
  assert.deepEqual(Array.from(samples.view().x.subarray(4)), [0.25, 0.5, 0.75, 1]);
  assert.deepEqual(bad.map(formatBadRow), [
    'd.csv:3: field 3 "x" is not a finite number',
    "d.csv:4: label 5 is not an integer from 0 to 2",
    "d.csv:5: row has 3 values, expected 4",
    "d.csv:6: label undefined is not an integer from 0 to 2",
  ]);
});

Deno.test("loadSamples() reads a directory of JSONL and CSV files and reports bad rows with their file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.jsonl`, sampleToJsonl([1, 0, 0, 0], 0) + "oops\n");
    await Deno.writeTextFile(`${dir}/b.csv`, "2,0,0,1,0\n1,0,1\n");
    await Deno.writeTextFile(`${dir}/notes.txt`, "ignored");
    const { samples, bad } = await loadSamples(dir, shape);
    assert.equal(samples.count, 2);
    assert.deepEqual(Array.from(samples.view().y), [0, 2]);
    assert.deepEqual(bad.map((b) => `${b.file.slice(dir.length + 1)}:${b.line}`), ["a.jsonl:2", "b.csv:2"]);
    await assert.rejects(() => loadSamples(`${dir}/missing.csv`, shape), UsageError);
    await assert.rejects(() => loadSamples(`${dir}/notes.txt`, shape), UsageError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SampleBuffer.append() validates and grows", () => {
  const buf = new SampleBuffer(shape, 1);
  for (let i = 0; i < 100; i++) assert.equal(buf.append([i, 0, 0, 0], i % 3), undefined);
  assert.equal(buf.append([1, 2], 0), '"x" has 2 values, expected 4');
  assert.equal(buf.append([1, 2, 3, NaN], 0), '"x"[3] is null, not a finite number');
  assert.equal(buf.count, 100);
  assert.equal(buf.view().x[99 * 4], 99);
});

Deno.test("splitIndices() gives every node K classes, covers all rows once, and is seeded", () => {
  const labels = Uint8Array.from({ length: 1000 }, (_, i) => i % 10);
  const shards = splitIndices(labels, 5, parseSplit("classes:2"), 4);
  const all = shards.flat().sort((a, b) => a - b);
  assert.deepEqual(all, Array.from({ length: 1000 }, (_, i) => i));
  for (const s of shards) assert.equal(new Set(s.map((r) => labels[r])).size, 2);
  assert.deepEqual(splitIndices(labels, 5, parseSplit("classes:2"), 4), shards);
  const iid = splitIndices(labels, 4, parseSplit("iid"), 1);
  assert.deepEqual(iid.map((s) => s.length), [250, 250, 250, 250]);
  const dir = splitIndices(labels, 3, parseSplit("dirichlet:0.1"), 2);
  assert.equal(dir.flat().length, 1000);
  assert.throws(() => parseSplit("classes:0"), UsageError);
  assert.throws(() => parseSplit("dirichlet:-1"), UsageError);
  assert.throws(() => parseSplit("random"), UsageError);
});

Deno.test("dealRows() deals every row to R shards, R times as large, keeping each node's classes", () => {
  const labels = Uint8Array.from({ length: 8000 }, (_, i) => i % 10);
  const spec = parseSplit("classes:2");
  assert.deepEqual(dealRows(labels, 5, spec, 4), splitIndices(labels, 5, spec, 4));
  // The simulation's case: 8,000 digits over 1,000 nodes, 8 each; dealt 10 times, about 80 each.
  const once = splitIndices(labels, 1000, spec, 4);
  const dealt = dealRows(labels, 1000, spec, 4, 10);
  assert.equal(dealt.length, 1000);
  const counts = new Map<number, number>();
  dealt.forEach((shard, n) => {
    assert.equal(new Set(shard).size, shard.length, "a node holds a row once");
    assert.ok(shard.length >= 8 * once[n].length, `node ${n}: ${shard.length} rows vs ${once[n].length}`);
    assert.equal(new Set(shard.map((r) => labels[r])).size, 2, `node ${n} keeps 2 classes`);
    for (const r of shard) counts.set(r, (counts.get(r) ?? 0) + 1);
  });
  assert.equal(counts.size, 8000, "every row is dealt");
  assert.ok(Math.max(...counts.values()) <= 10);
  assert.ok([...counts.values()].reduce((a, b) => a + b, 0) >= 78_000, "repeats within a node are rare");
  assert.deepEqual(dealRows(labels, 1000, spec, 4, 10), dealt, "seeded");
  // Under Dirichlet a node holding much of a class holds each row once: 1,000 nodes dealt 10 times hold ≈ 78,500.
  assert.ok(dealRows(labels, 1000, parseSplit("dirichlet:0.3"), 2, 10).flat().length >= 75_000);
});

Deno.test("loadSamples() refuses rows outside the spec's range with file, line, column, value and range", async () => {
  const dir = await Deno.makeTempDir({ prefix: "model-data-" });
  try {
    const input = new InputCheck({ kind: "features", features: 3 }, { range: [0, 1] });
    const shape = { features: 3, classes: 2, input };
    // A Kaggle-style CSV of 0–255 pixels: nothing of it may reach training.
    await Deno.writeTextFile(`${dir}/pixels.csv`, "label,p0,p1,p2\n1,0,128,255\n0,0,0,0.5\n1,12,0,0\n");
    const csv = await loadSamples(`${dir}/pixels.csv`, shape);
    assert.equal(csv.samples.count, 1);
    assert.deepEqual(csv.bad.map(formatBadRow), [
      `${dir}/pixels.csv:2: column 3: 128 is outside the model's range [0, 1]`,
      `${dir}/pixels.csv:4: column 2: 12 is outside the model's range [0, 1]`,
    ]);
    await Deno.writeTextFile(
      `${dir}/rows.jsonl`,
      '{"x": [0, 0.5, 1], "y": 0}\n{"x": [0, 2, 1], "y": 1}\n{"x": [0, 1], "y": 1}\nnope\n',
    );
    const jsonl = await loadLocalSamples(`${dir}/rows.jsonl`, shape);
    assert.equal(jsonl.samples.count, 1);
    assert.equal(jsonl.bad[0].reason, "column 2: 2 is outside the model's range [0, 1]");
    const summary = summariseBadRows([...csv.bad, ...jsonl.bad], 2);
    assert.deepEqual(summary.byReason, { "out of range": 3, "wrong number of values": 1, "not JSON": 1 });
    assert.equal(summary.count, 5);
    assert.equal(summary.first.length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadSamples() normalises rows as the spec says (per-feature mean/std)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "model-data-" });
  try {
    const input = new InputCheck({ kind: "features", features: 2 }, {
      range: [-50, 50],
      mean: [10, 0],
      std: [5, 2],
    });
    await Deno.writeTextFile(`${dir}/w.csv`, "2,20,4\n1,0,-2\n");
    const { samples, bad } = await loadSamples(`${dir}/w.csv`, { features: 2, classes: 3, input });
    assert.deepEqual(bad, []);
    assert.deepEqual(Array.from(samples.view().x), [2, 2, -2, -1]);
    assert.deepEqual(Array.from(samples.view().y), [2, 1]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
