import assert from "node:assert/strict";
import { type BenchCommand, parseBenchArgs, pickNamed } from "../../scripts/lib/bench_args.ts";

const CMD: BenchCommand = {
  task: "bench:test",
  hint: "see the test",
  defaults: { rounds: 100, seeds: "1..2", parallel: 1 },
  minRounds: 2,
  extra: ["target"],
};

Deno.test("parseBenchArgs() applies the benchmark's defaults and keeps its own options", () => {
  const a = parseBenchArgs(CMD, ["--seeds", "3..5", "--only", "a,b", "--target", "90"]);
  assert.deepEqual(a.seeds, [3, 4, 5]);
  assert.equal(a.rounds, 100);
  assert.equal(a.parallel, 1);
  assert.equal(a.out, ".bench");
  assert.deepEqual(a.only, ["a", "b"]);
  assert.equal(a.extra.target, "90");
  assert.equal(a.list, false);
  assert.equal(a.command, "deno task bench:test --seeds 3..5 --only a,b --target 90");
  const rows = [{ name: "a" }, { name: "b" }, { name: "c" }];
  assert.deepEqual(pickNamed(CMD, rows, a.only, "row"), [{ name: "a" }, { name: "b" }]);
  assert.deepEqual(pickNamed(CMD, rows, undefined, "row"), rows);
});

for (
  const [args, message] of [
    [["--rounds", "1"], 'Invalid --rounds "1": use a whole number ≥ 10'],
    [["--parallel", "0"], 'Invalid --parallel "0": use a whole number ≥ 1'],
    [["--only", "nope"], 'Unknown setting "nope" in --only'],
    [["--frobnicate"], "Unknown option '--frobnicate'"],
    [["--tune", "farPower=2,clip"], 'Invalid --tune "clip": use NAME=NUMBER'],
    [["--tune", "farPowr=2"], 'Invalid --tune "farPowr=2": use NAME=NUMBER'],
  ] as const
) {
  Deno.test(`bench:swarm-sim ${args.join(" ")} is a usage error: one line, a hint, exit 2`, async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "scripts/bench/swarm_sim.ts", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, err);
    assert.ok(err.startsWith(`bench:swarm-sim: error: ${message}`), err);
    assert.match(err, /\n {2}hint: /);
    assert.doesNotMatch(err, /\bat .*\.ts:\d+/, "no stack trace");
  });
}

for (const bad of ["0", "2667", "many"]) {
  Deno.test(`bench:release --memory --samples ${bad} is a usage error before anything is built`, async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "scripts/bench_release.ts", "--memory", "--samples", bad],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, err);
    assert.match(err, /^bench:release: --samples must be an integer from 1 to 2666 .*, got "/);
    assert.equal(err.trim().split("\n").length, 1, err);
  });
}

Deno.test("bench:swarm --attack with an unknown name is a usage error that names `none`, before any network is built", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", "scripts/bench_swarm.ts", "--attack", "bogus"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 2, err);
  assert.match(err, /^bench:swarm: error: --attack "bogus" is not one of .*, none\n$/);
  assert.doesNotMatch(err, /\bat .*\.ts:\d+/, "no stack trace");
});
