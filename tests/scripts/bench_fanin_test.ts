import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../../scripts/bench_fanin.ts", import.meta.url));

for (
  const [args, message] of [
    [["--fan-in", "x"], 'bench:fanin: --fan-in "x": give a whole number 0..4096 (0 = off)'],
    [["--seat-ms", "5"], 'bench:fanin: --seat-ms "5": give milliseconds 1000..86400000'],
    [["--warmup=-1"], 'bench:fanin: --warmup "-1": give seconds 1..3600'],
    [["--nodes", "5,x"], 'bench:fanin: --nodes "5,x": give whole numbers 1..2000, e.g. 5,50,100,300'],
    [["--bogus"], "bench:fanin: Unknown option '--bogus'"],
  ] as const
) {
  Deno.test(`bench:fanin ${args.join(" ")}: one line, exit 2, nothing measured`, async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "-A", "--unstable-net", SCRIPT, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr).trim();
    assert.equal(out.code, 2);
    assert.equal(err.split("\n").length, 1, err);
    assert.ok(err.startsWith(message), err);
    assert.equal(new TextDecoder().decode(out.stdout), "");
  });
}
