import assert from "node:assert/strict";
import { compare, MODELS } from "../../scripts/arm64_check.ts";

function report(arch: string, weights: string, js: number[]) {
  const entry = { weights, modelHash: "00", js, wasm: js, cpu: js };
  return { arch, ...Object.fromEntries(MODELS.map((id) => [id, entry])) };
}

Deno.test("arm64 compare() accepts equal hashes and predictions within 1e-5", () => {
  assert.deepEqual(
    compare(report("x86_64", "ab", [0.5, 0.25]), report("aarch64", "ab", [0.500009, 0.25])),
    [],
  );
});

Deno.test("arm64 compare() flags a weight-hash mismatch, a 2e-5 difference and a missing value", () => {
  const problems = compare(report("x86_64", "ab", [0.5, 0.25]), report("aarch64", "cd", [0.50002, 0.25]));
  assert.ok(
    problems.some((p) => /mnist-mlp weights: ab \(x86_64\) != cd \(aarch64\)/.test(p)),
    problems.join("\n"),
  );
  assert.ok(problems.some((p) => /mnist-vit js: differs by 0\.0000200/.test(p)), problems.join("\n"));
  assert.ok(
    compare(report("a", "ab", [1, 2]), report("b", "ab", [1])).some((p) =>
      /mnist-mlp js: 2 values \(a\) vs 1 \(b\)/.test(p)
    ),
  );
});

Deno.test("arm64 check covers the sequence transformer and the 1-D CNN", () => {
  assert.ok(MODELS.includes("seq-mnist-transformer") && MODELS.includes("seq-mnist-cnn"));
  const partial = report("x86_64", "ab", [0.5]) as Record<string, unknown>;
  delete partial["seq-mnist-cnn"];
  assert.deepEqual(compare(partial, report("aarch64", "ab", [0.5])), [
    "seq-mnist-cnn: missing from a report",
  ]);
});
