import assert from "node:assert/strict";
import { fitToBudget } from "../../src/learn/_publish.ts";

/** A body whose size does not fall with n above `knee` coordinates (they compress worse when fewer). */
function stubbornBody(budget: number, knee: number) {
  const built: number[] = [];
  const build = (n: number) => {
    built.push(n);
    return { raw: new Uint8Array(n) };
  };
  const deflate = (raw: Uint8Array) => new Uint8Array(raw.length > knee ? budget + 1 : raw.length);
  return { built, build, deflate };
}

Deno.test("fitToBudget() takes the first guess that fits, and shrinks by the measured bytes per coordinate", () => {
  const calls: number[] = [];
  const fit = fitToBudget(1000, 500, (raw) => new Uint8Array(raw.length * 2), (n) => {
    calls.push(n);
    return { raw: new Uint8Array(n) };
  });
  assert.deepEqual(calls, [1000, 242]);
  assert.equal(fit.n, 242);
  assert.ok(fit.body.length <= 500);
  assert.equal(fitToBudget(10, 500, (raw) => raw, (n) => ({ raw: new Uint8Array(n) })).n, 10);
});

Deno.test("fitToBudget() ends with a fit when shrinking by the bytes per coordinate stalls", () => {
  // Eight proportional steps leave ≈ 1,570 of 2,000 coordinates still over the budget: the loop used to
  // throw "Bug: … exceed the body budget" there (a simulated board, 2,204 coordinates over 1,112 bytes).
  const s = stubbornBody(1112, 10);
  const fit = fitToBudget(2000, 1112, s.deflate, s.build);
  assert.ok(fit.n >= 1 && fit.n <= 10, `n = ${fit.n}`);
  assert.ok(fit.body.length <= 1112);
  assert.ok(s.built.length <= 9 + Math.ceil(Math.log2(2000)), `${s.built.length} attempts`);
  for (let i = 1; i < s.built.length; i++) assert.ok(s.built[i] < s.built[i - 1], "n falls at every attempt");
  // One coordinate that cannot fit is a bug, said so.
  assert.throws(
    () => fitToBudget(4, 100, () => new Uint8Array(101), (n) => ({ raw: new Uint8Array(n) })),
    /Bug: 1 coordinate\(s\) exceed the body budget 100/,
  );
});
