/**
 * Ed25519 throughput on a full-size datagram (1,232 bytes): sign and verify operations per second for
 * WebCrypto (the hot path) and `@noble/ed25519` (the fallback), measured in the same run so the ratio
 * is meaningful on any machine. Prints a markdown table.
 *
 * Run: `deno task bench:crypto` (options: `--ms N` time per case, default 1500, split into 5 interleaved slices).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createSigner, type Ed25519Impl, randomSeed, Verifier } from "../src/identity/ed25519.ts";

const MESSAGE_SIZE = 1232;
const ROUNDS = 5;

async function measure(fn: () => Promise<unknown>, ms: number): Promise<number> {
  for (let i = 0; i < 20; i++) await fn(); // warm up (JIT, key import caches)
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 20; i++) await fn();
    n += 20;
    elapsed = performance.now() - start;
  }
  return n / (elapsed / 1000);
}

async function main() {
  const { values } = parseArgs({ args: Deno.args, options: { ms: { type: "string", default: "1500" } } });
  const ms = Number(values.ms);
  if (!Number.isFinite(ms) || ms <= 0) throw new Error(`--ms must be a positive number, got ${values.ms}`);
  const seed = randomSeed();
  const message = crypto.getRandomValues(new Uint8Array(MESSAGE_SIZE));
  const cases: { impl: Ed25519Impl; op: "sign" | "verify"; fn: () => Promise<unknown>; rates: number[] }[] =
    [];
  for (const impl of ["webcrypto", "noble"] as const) {
    const signer = await createSigner(seed, impl);
    const verifier = new Verifier({ impl });
    const sig = await signer.sign(message);
    if (!(await verifier.verify(signer.publicKey, message, sig))) {
      throw new Error(`${impl}: self-check failed`);
    }
    cases.push({ impl, op: "sign", fn: () => signer.sign(message), rates: [] });
    cases.push({ impl, op: "verify", fn: () => verifier.verify(signer.publicKey, message, sig), rates: [] });
  }
  // Interleave short slices of every case, so a change in machine load hits all of them alike; report
  // the median slice.
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) c.rates.push(await measure(c.fn, ms / ROUNDS));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rate = (impl: Ed25519Impl, op: "sign" | "verify") =>
    median(cases.find((c) => c.impl === impl && c.op === op)!.rates);
  const rows = (["webcrypto", "noble"] as const).map((impl) => ({
    impl,
    sign: rate(impl, "sign"),
    verify: rate(impl, "verify"),
  }));
  const base = rows.find((r) => r.impl === "noble")!;
  const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
  console.log(
    `Ed25519 on a ${
      MESSAGE_SIZE.toLocaleString("en-US")
    }-byte message (Deno ${Deno.version.deno}, ${Deno.build.arch})\n`,
  );
  console.log("| implementation | sign ops/s | verify ops/s | verify vs noble |");
  console.log("|---|---:|---:|---:|");
  for (const r of rows) {
    console.log(
      `| ${r.impl} | ${fmt(r.sign)} | ${fmt(r.verify)} | ${(r.verify / base.verify).toFixed(1)}× |`,
    );
  }
}

if (import.meta.main) await main();
