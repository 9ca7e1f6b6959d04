/**
 * The swarm-learning benchmark: runs the target configurations of `scripts/sim_swarm.ts` (two at a
 * time, one per core), each with its centralized baseline measured in the same run, and prints a
 * markdown table (also written to `.bench/swarm-sim.md`). Figures: per-node test accuracy on the
 * held-out 20% of the 10,000 digits, bytes and datagrams sent per node (real frame sizes), and the
 * first round/bytes at which every honest node reached the target accuracy.
 *
 *   deno task bench:swarm-sim [--rounds N] [--only NAME,NAME] [--out DIR]
 *
 * @module
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    rounds: { type: "string" },
    only: { type: "string" },
    out: { type: "string" },
    parallel: { type: "string" },
  },
});
const rounds = Number(values.rounds ?? 1600);
const out = values.out ?? ".bench";
const parallel = Number(values.parallel ?? 2);
if (!Number.isInteger(rounds) || rounds < 10 || !Number.isInteger(parallel) || parallel < 1) {
  console.error("bench_swarm_sim: error: --rounds must be an integer ≥ 10 and --parallel ≥ 1");
  Deno.exit(2);
}
const TARGET = 0.935;

interface Config {
  name: string;
  what: string;
  args: string[];
  /** Name of the clean run this one is compared with (Byzantine rows). */
  cleanOf?: string;
}

const base = ["--nodes", "5", "--split", "classes:2", "--loss", "10", "--rounds", String(rounds)];
// Byzantine runs use IID shards: with 2 classes per node, ignoring the attacker also removes the only
// holder of two classes, so no defence can stay within 2 pp of a clean run that learned them.
const iid = ["--nodes", "5", "--split", "iid", "--loss", "10", "--rounds", String(rounds)];
const CONFIGS: Config[] = [
  {
    name: "mlp-c2-1232",
    what: "MLP, 5 nodes, 2 classes/node, 10% loss, 1,232 B",
    args: [...base, "--max-datagram", "1232"],
  },
  {
    name: "mlp-c2-4096",
    what: "same, 4,096 B datagrams, 2 local steps per round, 29% of the rounds",
    args: [
      ...base.slice(0, -1),
      String(Math.round(rounds * 0.294)),
      "--max-datagram",
      "4096",
      "--local-steps",
      "2",
    ],
  },
  ...["signflip", "huge", "nan", "replay", "labelflip"].map((a) => ({
    name: `mlp-iid-byz-${a}`,
    what: `MLP, 5 nodes, IID, 10% loss, 1,232 B; node n0 attacks: ${a}`,
    args: [...iid, "--max-datagram", "1232", "--byzantine", `1:${a}`, "--no-centralized"],
    cleanOf: "mlp-iid-1232",
  })),
  {
    name: "mlp-c2-late",
    what: "same as 1,232 B, n4 joins at half the run",
    args: [...base, "--max-datagram", "1232", "--late-join", "--no-centralized"],
  },
  {
    name: "mlp-c2-fresh-async",
    what: "same as 1,232 B, started like real agents (all joining, 2 rounds apart), speeds 100–90%",
    args: [...base, "--max-datagram", "1232", "--fresh-start", "2", "--async", "0.1", "--no-centralized"],
  },
  {
    name: "mlp-iid-1232",
    what: "MLP, 5 nodes, IID, 10% loss, 1,232 B",
    args: [...iid, "--max-datagram", "1232"],
  },
  {
    name: "vit-iid-1232",
    what: "ViT (mnist-vit), 5 nodes, IID, 10% loss, 1,232 B",
    args: ["--model", "mnist-vit", ...iid, "--max-datagram", "1232"],
  },
];

interface SimJson {
  centralized?: number;
  nodes: {
    id: string;
    accuracy: number;
    bytesSent: number;
    datagramsSent: number;
    byzantine?: string;
    ignoredBy?: number;
    caughtUpRound?: number | null;
    lateJoinRound?: number;
  }[];
  maxDatagram: number;
  rounds: number;
  csv: string;
}

const only = values.only?.split(",");
const todo = CONFIGS.filter((c) => !only || only.includes(c.name));
const results = new Map<
  string,
  { json: SimJson; seconds: number; curve: Map<number, { acc: number[]; bytes: number[] }> }
>();

async function run(c: Config): Promise<void> {
  const started = performance.now();
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "scripts/sim_swarm.ts",
      ...c.args,
      "--eval-every",
      "10",
      "--out",
      out,
      "--name",
      c.name,
      "--json",
    ],
    stdout: "piped",
    stderr: "null",
  });
  const o = await cmd.output();
  const text = new TextDecoder().decode(o.stdout).trim().split("\n").pop() ?? "";
  if (!o.success) {
    console.error(`${c.name}: failed (exit ${o.code})`);
    return;
  }
  const json = JSON.parse(text) as SimJson;
  const curve = await readCurve(json);
  const seconds = (performance.now() - started) / 1000;
  await Deno.writeTextFile(`${out}/${c.name}.json`, JSON.stringify({ json, seconds, rounds }));
  results.set(c.name, { json, seconds, curve });
  console.error(`${c.name}: done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

// Rows not run now come from earlier runs with the same round count (their JSON + CSV in --out).
for (const c of CONFIGS) {
  if (todo.includes(c)) continue;
  try {
    const saved = JSON.parse(await Deno.readTextFile(`${out}/${c.name}.json`));
    if (saved.rounds !== rounds) continue;
    results.set(c.name, { json: saved.json, seconds: saved.seconds, curve: await readCurve(saved.json) });
  } catch {
    // not run yet
  }
}

async function readCurve(json: SimJson): Promise<Map<number, { acc: number[]; bytes: number[] }>> {
  const curve = new Map<number, { acc: number[]; bytes: number[] }>();
  const honest = new Set(json.nodes.filter((n) => !n.byzantine).map((n) => n.id));
  for (const line of (await Deno.readTextFile(json.csv)).trim().split("\n").slice(1)) {
    const [round, node, acc, , bytes] = line.split(",");
    if (!honest.has(node)) continue;
    const e = curve.get(Number(round)) ?? { acc: [], bytes: [] };
    e.acc.push(Number(acc));
    e.bytes.push(Number(bytes));
    curve.set(Number(round), e);
  }
  return curve;
}

const queue = [...todo];
await Promise.all(Array.from({ length: parallel }, async () => {
  while (queue.length) await run(queue.shift()!);
}));

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const lines = [
  `Swarm simulation, ${rounds} rounds × 1 local step of plain SGD (batch 32, lr 0.5 → 0.05 at 55% of the`,
  `rounds), 1 datagram per node per round; test = held-out 2,000 digits. Accuracy = each node's`,
  `consensus model. "Reached 93.5%" = first evaluation (every 10 rounds) at which every honest node was ≥ 93.5%.`,
  "",
  "| run | setting | centralized | honest nodes: min / mean acc | MB sent per node (max) | datagrams/node | largest datagram | reached 93.5% at | notes | sim time |",
  "|---|---|---:|---:|---:|---:|---:|---|---|---:|",
];
for (const c of CONFIGS) {
  const r = results.get(c.name);
  if (!r) {
    lines.push(`| ${c.name} | ${c.what} | not run (or failed) | | | | | | | |`);
    continue;
  }
  const honest = r.json.nodes.filter((n) => !n.byzantine);
  const accs = honest.map((n) => n.accuracy);
  const mb = Math.max(...r.json.nodes.map((n) => n.bytesSent)) / 1e6;
  const dg = Math.max(...r.json.nodes.map((n) => n.datagramsSent));
  let reached = "not reached";
  for (const [round, e] of [...r.curve].sort((a, b) => a[0] - b[0])) {
    if (e.acc.length === honest.length && Math.min(...e.acc) >= TARGET) {
      reached = `round ${round}, ${(Math.max(...e.bytes) / 1e6).toFixed(2)} MB`;
      break;
    }
  }
  const notes: string[] = [];
  if (c.cleanOf) {
    const clean = results.get(c.cleanOf);
    if (clean) {
      const cleanAccs = clean.json.nodes.slice(1).map((n) => n.accuracy);
      const drop = Math.min(...cleanAccs) - Math.min(...accs);
      notes.push(`Δ vs clean (nodes n1–n4, min) ${(drop * 100).toFixed(2)} pp`);
    }
    const evil = r.json.nodes.find((n) => n.byzantine);
    if (evil) notes.push(`attacker ignored by ${evil.ignoredBy}/4`);
  }
  const late = r.json.nodes.find((n) => n.lateJoinRound !== undefined);
  if (late) {
    notes.push(
      `joined at ${late.lateJoinRound}, caught up ${
        late.caughtUpRound === null ? "never" : `at ${late.caughtUpRound}`
      }` +
        ` (+${
          late.caughtUpRound === null ? "∞" : late.caughtUpRound! - late.lateJoinRound!
        } rounds; budget +${Math.round(rounds * 0.1)})`,
    );
  }
  lines.push(
    `| ${c.name} | ${c.what} | ${
      r.json.centralized === undefined || r.json.centralized === null ? "–" : pct(r.json.centralized)
    } | ${pct(Math.min(...accs))} / ${pct(accs.reduce((a, b) => a + b, 0) / accs.length)} | ${
      mb.toFixed(2)
    } | ${dg} | ${r.json.maxDatagram} B | ${reached} | ${notes.join("; ")} | ${r.seconds.toFixed(0)} s |`,
  );
}
const md = lines.join("\n") + "\n";
await Deno.mkdir(out, { recursive: true });
await Deno.writeTextFile(`${out}/swarm-sim.md`, md);
console.log(md);
