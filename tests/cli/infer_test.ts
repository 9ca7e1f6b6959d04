import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import { parseInferInput } from "../../src/cli/infer_input.ts";
import { InputCheck } from "../../src/model/input.ts";
import { cli, runAgent } from "../_support/cli.ts";
import { loadMnist } from "../../src/sim/mnist.ts";
import { createModel, initBackend, saveCheckpoint } from "../../src/model/mod.ts";

Deno.test("parseInferInput() reads JSON Lines, one array, and an array of rows", () => {
  assert.deepEqual(parseInferInput("[1, 2]\n\n[3, 4.5]\n", 2), {
    x: new Float32Array([1, 2, 3, 4.5]),
    count: 2,
    labels: [null, null],
  });
  assert.deepEqual(parseInferInput("[1, 2]", 2), { x: new Float32Array([1, 2]), count: 1, labels: [null] });
  assert.deepEqual(parseInferInput("[[1, 2],\n [3, 4]]", 2), {
    x: new Float32Array([1, 2, 3, 4]),
    count: 2,
    labels: [null, null],
  });
});

Deno.test("parseInferInput() reads the formats training reads: {x, y} JSON Lines and CSV, labelled or not", () => {
  assert.deepEqual(parseInferInput('{"x": [1, 2], "y": 0}\n{"x": [3, 4]}\n[5, 6]\n', 2, { classes: 2 }), {
    x: new Float32Array([1, 2, 3, 4, 5, 6]),
    count: 3,
    labels: [0, null, null],
  });
  // CSV as training reads it (label first, header skipped), and unlabelled CSV rows.
  assert.deepEqual(parseInferInput("label,a,b\n1,0.5,0.25\n0,1,0\n", 2, { classes: 2 }), {
    x: new Float32Array([0.5, 0.25, 1, 0]),
    count: 2,
    labels: [1, 0],
  });
  assert.deepEqual(parseInferInput("0.5,0.25\n", 2, { csv: true }), {
    x: new Float32Array([0.5, 0.25]),
    count: 1,
    labels: [null],
  });
  assert.throws(
    () => parseInferInput("1,0.5,abc\n", 2, { csv: true }),
    (e: unknown) => e instanceof UsageError && e.message === 'Row 1, column 2: "abc" is not a finite number',
  );
});

Deno.test("parseInferInput() refuses out-of-range values with row, column, value and range, and normalises", () => {
  const input = new InputCheck({ kind: "features", features: 2 }, { range: [0, 255], scale: 1 / 255 });
  assert.deepEqual(parseInferInput("[255, 51]", 2, { input }).x, new Float32Array([1, Math.fround(0.2)]));
  assert.throws(() => parseInferInput("[1, 2]\n[3, 300]\n", 2, { input }), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.equal(e.message, "Row 2, column 2: 300 is outside the model's range [0, 255]");
    assert.match(e.hint ?? "", /Give 2 values in \[0, 255\] per row/);
    return true;
  });
});

Deno.test("parseInferInput() names the row and column of a bad value", () => {
  const cases: [string, RegExp][] = [
    ["[1, 2]\n[3, NaN]\n", /^Row 2, column 2: "NaN" is not a finite number$/],
    ['[1, 2]\n[3, "4"]\n', /^Row 2, column 2: "4" is not a finite number$/],
    ["[[1, 2], [null, 4]]", /^Row 2, column 1: null is not a finite number$/],
    ["[1, 2]\n[1, 2, 3]\n", /^Row 2 has 3 values, the model expects 2$/],
    ["[1]", /^Row 1 has 1 values, the model expects 2$/],
    ['[1, 2]\n{"x": 1}\n', /^Row 2 is 1, not an array of numbers$/],
    ['[1, 2]\n{"z": [1, 2]}\n', /^Row 2 is an object without "x"/],
    ['{"x": [1, 2], "y": 1.5}', /^Row 1: label 1\.5 is not a class number 0\.\.2$/],
    ["[1, 2]\n[1, 2\n", /^Row 2 is not valid JSON: "\[1, 2"$/],
    [
      "[1, 1e999]",
      /^Row 1, column 2: "1e999" is not a finite number$|^Row 1, column 2: Infinity is not a finite number$/,
    ],
    ["[[1, 2], 3]", /^Row 2 is 3, not an array of numbers$/],
    ["  \n", /^The input has no rows$/],
    ["42", /^Row 1 is 42, not an array of numbers$/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(() => parseInferInput(text, 2, { classes: 3 }), (e: unknown) => {
      assert.ok(e instanceof UsageError, `${JSON.stringify(text)}: ${e}`);
      assert.match(e.message, pattern, JSON.stringify(text));
      return true;
    });
  }
});

Deno.test("agent infer exits 2 naming the row and column of bad input", async () => {
  const state = await Deno.makeTempDir();
  try {
    const row = Array(784).fill(0);
    const bad = [...row];
    (bad as unknown[])[99] = "x";
    const stdin = `${JSON.stringify(row)}\n${JSON.stringify(bad)}\n`;
    // The real process: exit code and stderr as a user sees them.
    const proc = await runAgent(["infer", "--state", state, "--backend", "cpu"], { stdin });
    assert.equal(proc.code, 2, proc.stderr);
    assert.match(proc.stderr, /^agent: error: Row 2, column 100: "x" is not a finite number\n {2}hint: /);
    assert.equal(proc.stdout, "");
    const short = await cli(["infer", "--state", state, "--model", "mnist-vit"], { stdin: "[1, 2, 3]\n" });
    assert.equal(short.code, 2);
    assert.match(short.stderr, /Row 1 has 3 values, the model expects 784/);
    const noFile = await cli(["infer", "--state", state, "--input", `${state}/nope.jsonl`]);
    assert.equal(noFile.code, 2);
    assert.match(noFile.stderr, /Input file ".*nope\.jsonl" does not exist/);
    const badBackend = await cli(["infer", "--state", state, "--backend", "tpu"], { stdin: "[1]" });
    assert.equal(badBackend.code, 2);
    assert.match(badBackend.stderr, /--backend "tpu" is not one of/);
    const tty = await cli(["infer", "--state", state], { tty: true });
    assert.equal(tty.code, 2);
    assert.match(tty.stderr, /No input rows: stdin is a terminal/);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("agent infer classifies digits with the newest checkpoint, else says it uses the seeded weights", async () => {
  const state = await Deno.makeTempDir();
  try {
    const { train, test } = await loadMnist(1);
    const rows = 20;
    const input = Array.from(
      { length: rows },
      (_, r) => JSON.stringify(Array.from(test.x.subarray(r * 784, (r + 1) * 784))),
    )
      .join("\n");
    const fresh = await cli(["infer", "--state", state, "--backend", "wasm"], { stdin: input });
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.match(
      fresh.stdout,
      /^model mnist-mlp \(9ccbb422cc2d93fa\), backend wasm, seeded initial weights \(no checkpoint/,
    );
    assert.equal(fresh.stdout.trim().split("\n").length, rows + 1);

    // Train briefly and checkpoint, as the daemon would.
    await initBackend("wasm");
    const model = await createModel("mnist-mlp", { learningRate: 0.003 });
    for (let epoch = 0; epoch < 2; epoch++) {
      for (let i = 0; i + 32 <= 2000; i += 32) {
        await model.trainBatch(train.x.subarray(i * 784), train.y.subarray(i), 32);
      }
    }
    await saveCheckpoint(`${state}/checkpoints`, model, { step: 124 });
    model.dispose();

    const run = await cli(["infer", "--state", state, "--json", "--top", "2"], { stdin: input });
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout);
    assert.equal(out.weights.source, "checkpoint");
    assert.equal(out.weights.step, 124);
    assert.equal(out.predictions.length, rows);
    assert.equal(out.predictions[0].top.length, 2);
    const correct = out.predictions.filter((p: { class: number }, r: number) => p.class === test.y[r]).length;
    assert.ok(correct >= 14, `${correct}/${rows} digits right`);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("agent infer --eval reports accuracy and a confusion matrix with the spec's class names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "model-infer-" });
  try {
    await Deno.writeTextFile(
      `${dir}/spec.yaml`,
      "id: two\nversion: 1\ndescription: d\nseed: 1\nfeatures: 2\nrange: [0, 1]\nclasses: [low, high]\n" +
        "mlp: {hidden: [4], activation: relu}\n",
    );
    const csv = "label,a,b\n0,0,0.1\n1,1,0.9\n1,0.8,1\n";
    await Deno.writeTextFile(`${dir}/rows.csv`, csv);
    const args = ["infer", "--state", `${dir}/state`, "--model", `${dir}/spec.yaml`, "--backend", "cpu"];
    const r = await cli([...args, "--input", `${dir}/rows.csv`, "--eval", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.eval.rows, 3);
    assert.equal(out.eval.matrix.flat().reduce((a: number, b: number) => a + b, 0), 3);
    const predicted = out.predictions.map((p: { class: number }) => p.class);
    const correct = predicted.filter((p: number, i: number) => p === [0, 1, 1][i]).length;
    assert.equal(out.eval.correct, correct);
    assert.equal(out.eval.accuracy, correct / 3);
    assert.ok(["low", "high"].includes(out.predictions[0].label));
    const text = await cli([...args, "--input", `${dir}/rows.csv`, "--eval"]);
    assert.match(text.stdout, /^accuracy [\d.]+% \(\d of 3 labelled rows\)$/m);
    assert.match(text.stdout, /^expected\\predicted +low +high$/m);
    assert.match(text.stdout, /^low +\d+ +\d+$/m);
    // JSONL samples as training reads them.
    const jsonl = await cli([...args, "--eval"], {
      stdin: '{"x": [0, 0.1], "y": 0}\n{"x": [1, 1], "y": 1}\n',
    });
    assert.equal(jsonl.code, 0, jsonl.stderr);
    assert.match(jsonl.stdout, /of 2 labelled rows/);
    // No labels: --eval says so; a value out of range is refused with row, column, value and range.
    const unlabelled = await cli([...args, "--eval"], { stdin: "[0, 1]\n" });
    assert.equal(unlabelled.code, 2);
    assert.match(unlabelled.stderr, /--eval needs labelled rows/);
    const range = await cli(args, { stdin: '{"x": [0, 1]}\n{"x": [0, 255]}\n' });
    assert.equal(range.code, 2);
    assert.match(range.stderr, /^agent: error: Row 2, column 2: 255 is outside the model's range \[0, 1\]\n/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
