/**
 * Wire and ingress fuzzer: feeds random bytes and mutations of valid frames (bit flips, splices,
 * length edits, frames re-signed by an untrusted key, replays, and signed garbage from a "hostile
 * trusted peer") to both `decodeFrame()` and a full `GossipNode` ingress pipeline, and checks:
 *
 * - nothing but `DecodeError` ever escapes the decoder, nothing at all escapes the node;
 * - no hostile datagram is accepted (only a trusted peer's own signed frames can be);
 * - every datagram is counted: received = accepted + Σ rejected.
 *
 * Usage: `deno task fuzz [--cases N] [--seed S]` (default 1,000,000 cases; env FUZZ_CASES also works).
 * The test suite runs the same engine with 100,000 cases (tests/scripts/fuzz_wire_test.ts).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DecodeError } from "../src/errors.ts";
import { createSigner, type Signer, Verifier } from "../src/identity/ed25519.ts";
import { GossipNode, keyId, REJECT_REASONS, type RejectReason } from "../src/gossip/mod.ts";
import { SeededRandom } from "../src/time.ts";
import {
  decodeFrame,
  deflateBody,
  encodeFrame,
  encodeHello,
  FRAME_OVERHEAD,
  MAX_DATAGRAM,
  MessageType,
  Offset,
} from "../src/wire/mod.ts";

/** The mutation families. "hostile" ones must never be accepted. */
export const FUZZ_KINDS = [
  "random",
  "random-with-magic",
  "bit-flip",
  "byte-set",
  "splice",
  "length-edit",
  "resigned-untrusted-key",
  "signed-by-untrusted-claims-trusted",
  "replay",
  "trusted-garbage-body",
] as const;
/** One mutation family. */
export type FuzzKind = typeof FUZZ_KINDS[number];

/** Families a trusted peer did not sign as they are: 0 may be accepted. */
const HOSTILE = new Set<FuzzKind>(FUZZ_KINDS.filter((k) => k !== "trusted-garbage-body"));

/** What a fuzz run found. */
export interface FuzzReport {
  cases: number;
  seed: number;
  byKind: Record<FuzzKind, { cases: number; accepted: number }>;
  /** Accepted datagrams from hostile families (must be 0). */
  hostileAccepted: number;
  /** Exceptions other than DecodeError from the decoder, or any exception from the node. */
  escaped: { kind: FuzzKind; error: string }[];
  /** received − accepted − Σ rejected of the node (must be 0). */
  uncounted: number;
  rejected: Record<RejectReason, number>;
  decoderErrors: number;
  ms: number;
}

const MODEL = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]);

async function signerFrom(rng: SeededRandom): Promise<Signer> {
  const seed = new Uint8Array(32);
  for (let i = 0; i < 32; i++) seed[i] = rng.nextU32() & 0xff;
  return await createSigner(seed);
}

/** Runs `cases` fuzz cases deterministically from `seed`. */
export async function runFuzz(
  options: { cases: number; seed?: number; onProgress?: (done: number) => void },
): Promise<FuzzReport> {
  const seed = options.seed ?? 1;
  const rng = new SeededRandom(seed);
  const int = (n: number) => rng.nextU32() % n;
  const bytes = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = rng.nextU32() & 0xff;
    return b;
  };
  const trusted = await signerFrom(rng);
  const untrusted = await signerFrom(rng);
  const me = await signerFrom(rng);
  const trustedIds = new Set([keyId(trusted.publicKey)]);
  const node = new GossipNode({
    signer: me,
    verifier: new Verifier(),
    trust: { isTrusted: (k) => trustedIds.has(keyId(k)) },
    modelHash: MODEL,
    bootEpoch: 1,
    name: "fuzz",
    maxDatagram: MAX_DATAGRAM,
    maxInflated: 16384,
    rateLimit: 100000,
    intervalMs: 1000,
    peerTimeoutMs: 15000,
  });
  const limits = { maxDatagram: MAX_DATAGRAM, maxInflated: 16384 };

  // A pool of valid frames from the trusted peer, all delivered once first (so copies are replays).
  let counter = 0;
  const pool: Uint8Array[] = [];
  const text = new TextEncoder().encode("weights ".repeat(300));
  for (let i = 0; i < 48; i++) {
    const type =
      [MessageType.Hello, MessageType.Delta, MessageType.SnapshotChunk, MessageType.SnapshotRequest][i % 4];
    const raw = type === MessageType.Hello
      ? encodeHello({ name: `peer-${i}`, round: i, samples: i * 10, merged: i, accuracy: 5000, uptime: i })
      : i % 3 === 0
      ? bytes(1 + int(2000)) // incompressible
      : text.subarray(0, 1 + int(text.length));
    let body = deflateBody(raw);
    if (body.length > MAX_DATAGRAM - FRAME_OVERHEAD) body = deflateBody(raw.subarray(0, 1000));
    pool.push(
      await encodeFrame(
        { type, modelHash: MODEL, bootEpoch: 1, counter: counter++, body },
        trusted,
        MAX_DATAGRAM,
      ),
    );
  }
  let now = 0;
  const from = { hostname: "192.0.2.1", port: 41234 };
  for (const f of pool) {
    const e = await node.onDatagram(f, from, now);
    if (e.kind !== "accepted") {
      throw new Error(`Bug: a valid pool frame was rejected (${e.reason}: ${e.detail})`);
    }
  }
  const baseline = node.counters();

  const byKind = Object.fromEntries(
    FUZZ_KINDS.map((k) => [k, { cases: 0, accepted: 0 }]),
  ) as FuzzReport["byKind"];
  const escaped: FuzzReport["escaped"] = [];
  let hostileAccepted = 0;
  let decoderErrors = 0;
  const pick = () => pool[int(pool.length)];
  const fixLength = (f: Uint8Array) => {
    if (f.length >= Offset.body) {
      new DataView(f.buffer, f.byteOffset).setUint16(
        Offset.bodyLength,
        Math.max(0, f.length - FRAME_OVERHEAD) & 0xffff,
      );
    }
  };
  const resign = async (f: Uint8Array, signer: Signer) => {
    if (f.length > FRAME_OVERHEAD) f.set(await signer.sign(f.subarray(0, f.length - 64)), f.length - 64);
  };

  const started = performance.now();
  for (let i = 0; i < options.cases; i++) {
    const kind = FUZZ_KINDS[int(FUZZ_KINDS.length)];
    let d: Uint8Array;
    switch (kind) {
      case "random":
        d = bytes(int(4200));
        break;
      case "random-with-magic": {
        d = bytes(FRAME_OVERHEAD + int(1200));
        d.set([0x41, 0x47, 0x54, 1, 1 + int(4), 0]);
        if (int(2)) fixLength(d);
        if (int(2)) d.set(trusted.publicKey, Offset.senderKey);
        if (int(2)) d.set(MODEL, Offset.modelHash);
        break;
      }
      case "bit-flip": {
        d = pick().slice();
        for (let n = 1 + int(8); n > 0; n--) d[int(d.length)] ^= 1 << int(8);
        break;
      }
      case "byte-set": {
        d = pick().slice();
        const at = int(d.length);
        d[at] = [0, 0xff, 0x7f, 0x80, int(256)][int(5)];
        break;
      }
      case "splice": {
        const a = pick(), b = pick();
        const cut = int(a.length);
        const from2 = int(b.length);
        d = new Uint8Array(cut + b.length - from2);
        d.set(a.subarray(0, cut));
        d.set(b.subarray(from2), cut);
        if (int(2)) fixLength(d);
        break;
      }
      case "length-edit": {
        const a = pick();
        const mode = int(4);
        if (mode === 0) d = a.slice(0, int(a.length));
        else if (mode === 1) {
          d = new Uint8Array(a.length + 1 + int(64));
          d.set(a);
        } else if (mode === 2) {
          d = a.slice();
          new DataView(d.buffer).setUint16(Offset.bodyLength, int(65536));
        } else {
          d = a.slice(0, Math.max(0, a.length - 1 - int(100)));
          fixLength(d);
        }
        break;
      }
      case "resigned-untrusted-key": {
        d = pick().slice();
        if (int(2)) d[Offset.body + int(d.length - FRAME_OVERHEAD)] ^= 1 << int(8);
        d.set(untrusted.publicKey, Offset.senderKey);
        d.set(new Uint8Array(4), Offset.bootEpoch); // any sequence
        await resign(d, untrusted);
        break;
      }
      case "signed-by-untrusted-claims-trusted": {
        d = pick().slice();
        new DataView(d.buffer).setUint32(Offset.counter, 1_000_000 + i);
        await resign(d, untrusted);
        break;
      }
      case "replay":
        d = pick();
        break;
      case "trusted-garbage-body": {
        // A trusted peer (key compromised or buggy) signs a fresh frame with a hostile body.
        const type = 1 + int(4);
        const body = int(3) === 0 ? deflateBody(bytes(int(300))) : bytes(1 + int(600));
        const f = new Uint8Array(FRAME_OVERHEAD + body.length);
        f.set([0x41, 0x47, 0x54, 1, type, 0]);
        new DataView(f.buffer).setUint16(Offset.bodyLength, body.length);
        f.set(trusted.publicKey, Offset.senderKey);
        f.set(MODEL, Offset.modelHash);
        new DataView(f.buffer).setUint32(Offset.bootEpoch, 1);
        new DataView(f.buffer).setUint32(Offset.counter, counter++);
        f.set(body, Offset.body);
        await resign(f, trusted);
        d = f;
        break;
      }
    }
    byKind[kind].cases++;
    try {
      decodeFrame(d, limits);
    } catch (e) {
      if (e instanceof DecodeError) decoderErrors++;
      else escaped.push({ kind, error: `decodeFrame: ${(e as Error)?.stack ?? e}` });
    }
    try {
      now += 1000; // a second per case: the bad-body penalty never starves the trusted sender here
      const e = await node.onDatagram(d, from, now);
      if (e.kind === "accepted") {
        byKind[kind].accepted++;
        if (HOSTILE.has(kind)) hostileAccepted++;
      }
    } catch (e) {
      escaped.push({ kind, error: `onDatagram: ${(e as Error)?.stack ?? e}` });
    }
    if (options.onProgress && (i + 1) % 100000 === 0) options.onProgress(i + 1);
  }
  const c = node.counters();
  const rejected = Object.fromEntries(
    REJECT_REASONS.map((r) => [r, c.rejected[r] - baseline.rejected[r]]),
  ) as Record<RejectReason, number>;
  const received = c.received - baseline.received;
  const accepted = c.accepted - baseline.accepted;
  const uncounted = received - accepted - Object.values(rejected).reduce((a, b) => a + b, 0);
  return {
    cases: options.cases,
    seed,
    byKind,
    hostileAccepted,
    escaped,
    uncounted: uncounted + (received - options.cases),
    rejected,
    decoderErrors,
    ms: performance.now() - started,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { cases: { type: "string" }, seed: { type: "string" } },
  });
  const cases = Number(values.cases ?? Deno.env.get("FUZZ_CASES") ?? 1_000_000);
  const seed = Number(values.seed ?? 1);
  if (!Number.isSafeInteger(cases) || cases < 1 || !Number.isSafeInteger(seed)) {
    console.error("usage: deno task fuzz [--cases N] [--seed S]");
    Deno.exit(2);
  }
  const r = await runFuzz({ cases, seed, onProgress: (n) => console.error(`… ${n} cases`) });
  console.log(`| kind | cases | accepted |\n|---|---:|---:|`);
  for (const [k, v] of Object.entries(r.byKind)) console.log(`| ${k} | ${v.cases} | ${v.accepted} |`);
  console.log(`\nrejected by reason: ${JSON.stringify(r.rejected)}`);
  console.log(
    `cases ${r.cases}, seed ${r.seed}, ${(r.ms / 1000).toFixed(1)} s (${
      Math.round(r.cases / (r.ms / 1000))
    }/s); ` +
      `hostile accepted ${r.hostileAccepted}; escaped exceptions ${r.escaped.length}; uncounted ${r.uncounted}`,
  );
  for (const e of r.escaped.slice(0, 5)) console.log(`ESCAPED (${e.kind}): ${e.error}`);
  Deno.exit(r.hostileAccepted === 0 && r.escaped.length === 0 && r.uncounted === 0 ? 0 : 1);
}
