/**
 * Wire and ingress benchmarks (`deno task bench:wire`), printed as a markdown table. Every figure is
 * compared with a baseline measured in the same run:
 *
 * - encode+sign and verify+decode per datagram (µs), against raw Ed25519 sign / verify;
 * - trusted ingest rate of a full GossipNode pipeline on one core (target ≥ 5,000/s and ≥ 80% of the
 *   raw verify rate);
 * - untrusted-sender drop rate (target ≥ 200,000/s) and junk drop rate.
 *
 * Measurements alternate in rounds (default 10 × 300 datagrams) and each figure is the median round,
 * so load from other processes skews numerator and baseline alike. Options: `--rounds R`, `--n M`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createSigner, type Signer, Verifier } from "../src/identity/ed25519.ts";
import { GossipNode } from "../src/gossip/mod.ts";
import { decodePayload, encodePayload, TrustStore } from "../src/identity/mod.ts";
import { stateLayout } from "../src/state/mod.ts";
import { SeededRandom } from "../src/time.ts";
import {
  bodyBudget,
  decodeFrame,
  DEFAULT_MAX_DATAGRAM,
  deflateBody,
  encodeFrame,
  encodeHello,
  inflateBody,
  MessageType,
  signatureOf,
  signedPart,
} from "../src/wire/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string" }, n: { type: "string" } },
});
/** Measurements alternate in rounds so a load spike from other processes hits all of them alike. */
const ROUNDS = Number(values.rounds ?? 10);
/** Datagrams per crypto measurement per round. */
const M = Number(values.n ?? 300);
const MODEL = new Uint8Array(8).fill(3);
const rng = new SeededRandom(42);

async function signer(): Promise<Signer> {
  const seed = new Uint8Array(32);
  for (let i = 0; i < 32; i++) seed[i] = rng.nextU32() & 0xff;
  return await createSigner(seed);
}

/** A realistic delta body: 4-byte indices and float16-ish values, deflated to fit the default budget. */
function deltaBody(): Uint8Array {
  const raw = new Uint8Array(1600);
  const view = new DataView(raw.buffer);
  let idx = 0;
  for (let o = 0; o + 6 <= raw.length; o += 6) {
    idx += 1 + (rng.nextU32() % 40);
    view.setUint32(o, idx);
    view.setUint16(o + 4, rng.nextU32() & 0xffff);
  }
  let body = deflateBody(raw);
  let n = raw.length;
  while (body.length > bodyBudget(DEFAULT_MAX_DATAGRAM)) body = deflateBody(raw.subarray(0, n -= 50));
  return body;
}

/** Runs `fn` over `items` with at most `k` in flight (how the service's receive loop runs). */
async function pipelined<T>(items: T[], k: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  const inflight = new Set<Promise<unknown>>();
  for (const item of items) {
    const p: Promise<unknown> = fn(item).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= k) await Promise.race(inflight);
  }
  await Promise.all(inflight);
}

const K = 4;
const alice = await signer();
const bob = await signer();
const stranger = await signer();
// The real trust store (as `agent run` uses it), in a temporary state directory.
const stateDir = await Deno.makeTempDir({ prefix: "bench-wire-" });
const trust = await TrustStore.open(stateLayout(stateDir), { self: bob.publicKey });
await trust.add(decodePayload(encodePayload({ publicKey: alice.publicKey, name: "alice" })));
const body = deltaBody();
const maxDatagram = DEFAULT_MAX_DATAGRAM;
const verifier = new Verifier();
const node = new GossipNode({
  signer: bob,
  verifier: new Verifier(),
  trust,
  modelHash: MODEL,
  bootEpoch: 1,
  name: "bench",
  maxDatagram,
  rateLimit: 100000,
  intervalMs: 1000,
  peerTimeoutMs: 15000,
});
const from = { hostname: "192.0.2.1", port: 41234 };
let now = 0;
let counter = 0;
const helloBody = deflateBody(
  encodeHello({
    name: "kitchen-cam",
    round: 1234,
    samples: 56789,
    merged: 321,
    accuracy: 9250,
    uptime: 86400,
  }),
);
const frame = (type: MessageType = MessageType.Delta) =>
  encodeFrame(
    {
      type,
      modelHash: MODEL,
      bootEpoch: 2,
      counter: counter++,
      body: type === MessageType.Hello ? helloBody : body,
    },
    alice,
    maxDatagram,
  );
async function freshFrames(n: number, type: MessageType = MessageType.Delta): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(await frame(type));
  return out;
}
async function ingest(f: Uint8Array): Promise<void> {
  if ((await node.onDatagram(f, from, now += 0.01)).kind !== "accepted") throw new Error("Bug: not accepted");
}
async function rawVerify(f: Uint8Array): Promise<void> {
  if (!(await verifier.verify(alice.publicKey, signedPart(f), signatureOf(f)))) {
    throw new Error("Bug: bad sig");
  }
}
const strangerFrames: Uint8Array[] = [];
for (let i = 0; i < 64; i++) {
  strangerFrames.push(
    await encodeFrame(
      { type: MessageType.Delta, modelHash: MODEL, bootEpoch: 1, counter: i, body },
      stranger,
      maxDatagram,
    ),
  );
}
const junk: Uint8Array[] = [];
for (let i = 0; i < 64; i++) {
  const j = new Uint8Array(200 + (rng.nextU32() % 1000));
  for (let k = 0; k < j.length; k++) j[k] = rng.nextU32() & 0xff;
  junk.push(j);
}
const bomb = deflateBody(new Uint8Array(2 << 20));
const U = 20_000;
const BOMBS = 5;
const msg = new Uint8Array(maxDatagram - 64);

type Row = { name: string; n: number; run: () => Promise<void> };
const rows: Row[] = [
  {
    name: "raw Ed25519 sign (1,168 B message)",
    n: M,
    run: async () => {
      for (let i = 0; i < M; i++) await alice.sign(msg);
    },
  },
  {
    name: "encode + sign (1,232 B datagram)",
    n: M,
    run: async () => {
      for (let i = 0; i < M; i++) await frame();
    },
  },
  {
    name: "raw Ed25519 verify",
    n: M,
    run: async () => {
      for (const f of sample) await rawVerify(f);
    },
  },
  {
    name: "verify + decode (bounded inflate)",
    n: M,
    run: async () => {
      for (const f of sample) {
        const d = decodeFrame(f, { maxDatagram });
        if (!(await verifier.verify(d.header.senderKey, signedPart(f), d.signature))) throw new Error("Bug");
      }
    },
  },
  {
    name: "trusted ingest, full pipeline, one at a time",
    n: M,
    run: async () => {
      for (const f of fresh.pop()!) await ingest(f);
    },
  },
  { name: `raw Ed25519 verify, ${K} in flight`, n: M, run: () => pipelined(sample, K, rawVerify) },
  {
    name: `trusted ingest, full pipeline, ${K} in flight (as the service runs)`,
    n: M,
    run: () => pipelined(fresh.pop()!, K, ingest),
  },
  {
    name: `raw Ed25519 verify of Hello frames, ${K} in flight`,
    n: M,
    run: () => pipelined(helloSample, K, rawVerify),
  },
  {
    name: `trusted ingest of Hello (heartbeat) frames, ${K} in flight`,
    n: M,
    run: () => pipelined(fresh.pop()!, K, ingest),
  },
  {
    name: "untrusted sender dropped (no crypto)",
    n: U,
    run: async () => {
      for (let i = 0; i < U; i++) await node.onDatagram(strangerFrames[i & 63], from, 1);
    },
  },
  {
    name: "random junk dropped (header check)",
    n: U,
    run: async () => {
      for (let i = 0; i < U; i++) await node.onDatagram(junk[i & 63], from, 1);
    },
  },
  {
    name: `inflate one body (${body.length} B, cap 64 KiB)`,
    n: M,
    run: () => {
      for (let i = 0; i < M; i++) inflateBody(body);
      return Promise.resolve();
    },
  },
  {
    name: `DEFLATE bomb rejected (${bomb.length} B → 2 MiB, cap 64 KiB)`,
    n: BOMBS,
    run: () => {
      for (let i = 0; i < BOMBS; i++) {
        try {
          inflateBody(bomb);
        } catch { /* expected: too large */ }
      }
      return Promise.resolve();
    },
  },
];

const sample = await freshFrames(M);
const helloSample = await freshFrames(M, MessageType.Hello);
let fresh: Uint8Array[][] = [];
const times = rows.map(() => [] as number[]);
for (let round = -1; round < ROUNDS; round++) {
  fresh = [await freshFrames(M), await freshFrames(M), await freshFrames(M, MessageType.Hello)];
  fresh.reverse(); // pop() order: one-at-a-time, pipelined, Hello
  for (let r = 0; r < rows.length; r++) {
    const t = performance.now();
    await rows[r].run();
    if (round >= 0) times[r].push(performance.now() - t); // round -1 is the warm-up
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const perUs = rows.map((row, r) => (median(times[r]) * 1000) / row.n);
const rateOf = (r: number) => Math.round(1e6 / perUs[r]);
const notes = [
  "baseline",
  `${((perUs[0] / perUs[1]) * 100).toFixed(0)}% of raw sign rate`,
  "baseline",
  `${((perUs[2] / perUs[3]) * 100).toFixed(0)}% of raw verify rate`,
  `${((perUs[2] / perUs[4]) * 100).toFixed(0)}% of raw verify rate`,
  "baseline",
  `**${
    ((perUs[5] / perUs[6]) * 100).toFixed(0)
  }% of raw verify rate, ${K} in flight** (target ≥ 80%, ≥ 5,000/s)`,
  "baseline",
  `${((perUs[7] / perUs[8]) * 100).toFixed(0)}% of raw verify rate (Hello frames ${helloSample[0].length} B)`,
  "target ≥ 200,000/s",
  "",
  "",
  "bounded by the cap",
];
if (node.counters().rejected.untrusted !== U * (ROUNDS + 1)) {
  throw new Error("Bug: untrusted drops not counted");
}

const cpus = Deno.env.get("BENCH_CPUS") ?? `all ${navigator.hardwareConcurrency}`;
console.log(
  `Deno ${Deno.version.deno}, ${Deno.build.arch}, CPUs: ${cpus}; median of ${ROUNDS} interleaved rounds ` +
    `(${M} datagrams per crypto row, ${U} per drop row)\n`,
);
console.log("| measurement | per datagram | rate | note |\n|---|---:|---:|---|");
rows.forEach((row, r) =>
  console.log(`| ${row.name} | ${perUs[r].toFixed(1)} µs | ${rateOf(r)}/s | ${notes[r]} |`)
);
const ingestRate = rateOf(6);
const ok = ingestRate >= 5000 && perUs[5] / perUs[6] >= 0.8 && rateOf(9) >= 200_000;
console.log(`\ntargets ${ok ? "met" : "NOT met"}`);
await Deno.remove(stateDir, { recursive: true });
