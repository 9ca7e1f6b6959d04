import assert from "node:assert/strict";
import { FUZZ_KINDS, runFuzz } from "../../scripts/fuzz_wire.ts";

// CI runs 100,000 cases (about 10 s); `deno task fuzz` runs 1,000,000. FUZZ_CASES overrides both.
const CASES = Number(Deno.env.get("FUZZ_CASES") ?? 100_000);

Deno.test(`fuzzing ${CASES} hostile datagrams: nothing escapes, nothing hostile is accepted, all counted`, async () => {
  const r = await runFuzz({ cases: CASES, seed: 20261125 });
  assert.deepEqual(r.escaped, []);
  assert.equal(r.hostileAccepted, 0);
  assert.equal(r.uncounted, 0);
  for (const k of FUZZ_KINDS) assert.ok(r.byKind[k].cases > 0, `kind ${k} was exercised`);
  // Every stage of the pipeline was reached by some case.
  for (
    const reason of [
      "oversize",
      "malformed",
      "untrusted",
      "model-mismatch",
      "bad-signature",
      "replay",
      "bad-body",
    ] as const
  ) {
    assert.ok(r.rejected[reason] > 0, `no case was rejected as ${reason}`);
  }
});
