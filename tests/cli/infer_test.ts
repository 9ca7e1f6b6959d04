import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import { parseInferInput } from "../../src/cli/infer_input.ts";
import { runAgent } from "../_helpers.ts";
import { cli } from "./_cli_io.ts";
import { loadMnist } from "../../src/sim/mnist.ts";
import { createModel, initBackend, saveCheckpoint } from "../../src/model/mod.ts";

Deno.test("parseInferInput() reads JSON Lines, one array, and an array of rows", () => {
  assert.deepEqual(parseInferInput("[1, 2]\n\n[3, 4.5]\n", 2), {
    x: new Float32Array([1, 2, 3, 4.5]),
    count: 2,
  });
  assert.deepEqual(parseInferInput("[1, 2]", 2), { x: new Float32Array([1, 2]), count: 1 });
  assert.deepEqual(parseInferInput("[[1, 2],\n [3, 4]]", 2), { x: new Float32Array([1, 2, 3, 4]), count: 2 });
});

Deno.test("parseInferInput() names the row and column of a bad value", () => {
  const cases: [string, RegExp][] = [
    ["[1, 2]\n[3, NaN]\n", /^Row 2, column 2: "NaN" is not a finite number$/],
    ['[1, 2]\n[3, "4"]\n', /^Row 2, column 2: "4" is not a finite number$/],
    ["[[1, 2], [null, 4]]", /^Row 2, column 1: null is not a finite number$/],
    ["[1, 2]\n[1, 2, 3]\n", /^Row 2 has 3 values, the model expects 2$/],
    ["[1]", /^Row 1 has 1 values, the model expects 2$/],
    ['[1, 2]\n{"x": 1}\n', /^Row 2 is an object, not an array of numbers$/],
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
    assert.throws(() => parseInferInput(text, 2), (e: unknown) => {
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
