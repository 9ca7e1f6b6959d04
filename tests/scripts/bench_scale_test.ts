import assert from "node:assert/strict";
import { scaleSettings } from "../../scripts/bench/scale.ts";

Deno.test("bench:scale compares every large row with the 5-node row of its own split", () => {
  const rows = new Map(scaleSettings().map((s) => [s.name, s]));
  const split = (name: string) => {
    const args = rows.get(name)!.args;
    return args[args.indexOf("--split") + 1];
  };
  for (const s of rows.values()) {
    if (s.nodes === 5) {
      assert.equal(s.reference, undefined, s.name);
      continue;
    }
    const ref = rows.get(s.reference ?? "");
    assert.ok(ref, `${s.name}: its reference ${s.reference} is a row`);
    assert.equal(ref.nodes, 5, s.name);
    assert.equal(split(ref.name), split(s.name), `${s.name} and ${ref.name} split the data alike`);
  }
  assert.equal(rows.get("n1000-dir03")?.reference, "n5-dir03");
});
