import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import { parseSimArgs } from "../../scripts/lib/sim_args.ts";
import { toSvg } from "../../scripts/lib/sim_plot.ts";

Deno.test("sim parseSimArgs() reads every option and rejects bad values with a hint", () => {
  const a = parseSimArgs([
    "--model",
    "mnist-vit",
    "--nodes",
    "7",
    "--split",
    "dirichlet:0.3",
    "--loss",
    "15%",
    "--max-datagram",
    "4096",
    "--byzantine",
    "2:nan",
    "--late-join",
    "--json",
  ]);
  assert.ok(a !== "help");
  assert.equal(a.model, "mnist-vit");
  assert.equal(a.nodes, 7);
  assert.equal(a.loss, 0.15);
  assert.equal(a.maxDatagram, 4096);
  assert.deepEqual(a.byzantine, { count: 2, attack: "nan" });
  assert.equal(a.lateJoin, true);
  const b = parseSimArgs(["--seeds", "3..5", "--poison", "mislabel", "--churn", "--byzantine", "1:alie"]);
  assert.ok(b !== "help");
  assert.deepEqual(b.seeds, [3, 4, 5]);
  assert.equal(b.poison, "mislabel");
  assert.equal(b.churn, true);
  assert.deepEqual(b.byzantine, { count: 1, attack: "alie" });
  assert.equal(b.dataRepeat, 1);
  const r = parseSimArgs(["--nodes", "1000", "--data-repeat", "10"]);
  assert.ok(r !== "help");
  assert.equal(r.dataRepeat, 10);
  const c = parseSimArgs(["--seeds", "3"]);
  assert.ok(c !== "help");
  assert.deepEqual(c.seeds, [1, 2, 3]);
  assert.equal(parseSimArgs(["-h"]), "help");
  const bad: string[][] = [
    ["--nodes", "1"],
    ["--split", "classes:11"],
    ["--max-datagram", "5000"],
    ["--max-datagram", "100"],
    ["--byzantine", "5:signflip"],
    ["--byzantine", "1:melt"],
    ["--loss", "abc"],
    ["--model", "resnet"],
    ["--unknown"],
    ["positional"],
    ["--tune", "gamma=x"],
    ["--tune", "nope=1"],
    ["--name", "../evil"],
    ["--async", "0.95"],
    ["--async", "fast"],
    ["--fresh-start", "-1"],
    ["--byzantine", "1:labelfli"],
    ["--poison", "nan"],
    ["--seeds", "5..2"],
    ["--seeds", "0"],
    ["--seeds", "1-3"],
    ["--parallel", "0"],
    ["--target", "101"],
    ["--data-repeat", "0"],
    ["--data-repeat", "1.5"],
  ];
  for (const args of bad) {
    assert.throws(
      () => parseSimArgs(args),
      (e: unknown) => e instanceof UsageError && !!e.hint,
      args.join(" "),
    );
  }
});

Deno.test("sim toSvg() draws one line per node and the centralized baseline", () => {
  const svg = toSvg({
    centralized: 0.94,
    nodes: [{
      id: "n0",
      accuracy: 0.9,
      bytesSent: 10,
      datagramsSent: 1,
      rejected: {},
      ignoredBy: 0,
      dampedBy: 0,
    }],
    maxDatagram: 1232,
    largestDatagram: 1200,
    rounds: 2,
    falsePositives: [],
    damped: [],
    roundMs: 1000,
    channel: {
      capacity: 0,
      offered: 1232,
      meanLoss: 0.1,
      maxLoss: 0.1,
      share: { delta: 1, chunk: 0, request: 0 },
    },
    rows: [
      { round: 1, node: "n0", accuracy: 0.5, loss: 1, bytesSent: 5, datagramsSent: 1 },
      { round: 2, node: "n0", accuracy: 0.9, loss: 0.3, bytesSent: 10, datagramsSent: 2 },
    ],
  }, "t<1>");
  assert.match(svg, /^<svg /);
  assert.equal(svg.match(/<polyline/g)?.length, 1);
  assert.match(svg, /centralized 94.0%/);
  assert.match(svg, /t&lt;1>/);
});

Deno.test("parseSimArgs() takes --dataset with a model made for it, and refuses a mismatch", () => {
  const a = parseSimArgs(["--dataset", "weather", "--model", "weather-mlp"]);
  assert.ok(a !== "help");
  assert.equal(a.dataset, "weather");
  assert.throws(
    () => parseSimArgs(["--dataset", "weather", "--model", "mnist-mlp"]),
    /not made for the weather/,
  );
  assert.throws(() => parseSimArgs(["--dataset", "fog", "--model", "weather-mlp"]), /Unknown dataset "fog"/);
});
