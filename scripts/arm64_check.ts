/**
 * Cross-architecture model check (run by `scripts/test_arm64.sh` natively and under
 * `qemu-aarch64-static`): prints, as JSON, the SHA-256 of each checked model's seeded initial
 * weights, its model hash, and its predictions for a few seeded input rows on the JavaScript fast
 * path and on the tfjs wasm and cpu backends. No training step: that loads the whole
 * `@tensorflow/tfjs` bundle for its gradients, which alone takes ~45 s under qemu.
 *
 * `--compare A.json B.json` checks two such reports: hashes must be equal, numbers within 1e-5.
 * Deliberately small (4 rows, synthetic inputs, no MNIST files to parse): qemu is ~50× slower.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createModel, initBackend, initialWeights, loadModelSpec, toHex } from "../src/model/mod.ts";
import { SeededRandom } from "../src/time.ts";

const ROWS = 4;
/** The specs checked: both MNIST models and the sequence transformer and 1-D CNN (28 steps × 28 channels). */
export const MODELS = ["mnist-mlp", "mnist-vit", "seq-mnist-transformer", "seq-mnist-cnn"];
const TOLERANCE = 1e-5;

/** Seeded digit-like rows: mostly 0 with a blob of bright pixels, values in [0, 1]. */
function rows(): Float32Array {
  const rng = new SeededRandom(77);
  const x = new Float32Array(ROWS * 784);
  for (let r = 0; r < ROWS; r++) {
    const cx = 8 + (rng.nextU32() % 12), cy = 8 + (rng.nextU32() % 12);
    for (let y = 0; y < 28; y++) {
      for (let xx = 0; xx < 28; xx++) {
        const d = Math.abs(xx - cx) + Math.abs(y - cy);
        if (d < 6 + (rng.nextU32() % 3)) x[r * 784 + y * 28 + xx] = Math.round(rng.next() * 255) / 255;
      }
    }
  }
  return x;
}

async function report() {
  const x = rows();
  const out: Record<string, unknown> = { arch: Deno.build.arch };
  for (const id of MODELS) {
    const spec = await loadModelSpec(id);
    const w0 = initialWeights(spec);
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new Uint8Array(w0.buffer as ArrayBuffer)),
    );
    // Move away from the near-uniform start so the outputs are sensitive to every weight.
    const rng = new SeededRandom(5);
    const w = w0.map((v) => v + (rng.next() - 0.5) * 0.2);
    const entry: Record<string, unknown> = { weights: toHex(digest), modelHash: null };
    for (const backend of ["wasm", "cpu"] as const) {
      await initBackend(backend);
      const fast = await createModel(spec);
      const graph = await createModel(spec, { jsFastPath: false });
      fast.setWeights(w);
      graph.setWeights(w);
      entry.modelHash = toHex(graph.modelHash);
      if (backend === "wasm") entry.js = Array.from(await fast.predict(x, 1));
      entry[backend] = Array.from(await graph.predict(x, ROWS));
      fast.dispose();
      graph.dispose();
    }
    out[id] = entry;
  }
  return out;
}

/** Differences between two reports (empty when they agree). */
export function compare(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const id of MODELS) {
    const ea = a[id] as Record<string, unknown>, eb = b[id] as Record<string, unknown>;
    if (!ea || !eb) {
      problems.push(`${id}: missing from a report`);
      continue;
    }
    for (const k of ["weights", "modelHash"]) {
      if (ea[k] !== eb[k]) problems.push(`${id} ${k}: ${ea[k]} (${a.arch}) != ${eb[k]} (${b.arch})`);
    }
    for (const k of ["js", "wasm", "cpu"]) {
      const va = [ea[k]].flat() as number[], vb = [eb[k]].flat() as number[];
      if (va.length !== vb.length) {
        problems.push(`${id} ${k}: ${va.length} values (${a.arch}) vs ${vb.length} (${b.arch})`);
        continue;
      }
      const worst = va.reduce((m, v, i) => Math.max(m, Math.abs(v - vb[i])), 0);
      if (!(worst <= TOLERANCE)) problems.push(`${id} ${k}: differs by ${worst} (> ${TOLERANCE})`);
    }
  }
  return problems;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { compare: { type: "boolean" } },
    allowPositionals: true,
  });
  if (values.compare) {
    const [a, b] = await Promise.all(positionals.map(async (p) => JSON.parse(await Deno.readTextFile(p))));
    const problems = compare(a, b);
    for (const p of problems) console.error(`arm64 check: ${p}`);
    if (problems.length) Deno.exit(1);
    console.error(
      `arm64 check: ${a.arch} and ${b.arch} agree (initial-weight hashes equal, predictions within ${TOLERANCE})`,
    );
  } else {
    console.log(JSON.stringify(await report()));
  }
}
