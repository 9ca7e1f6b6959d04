/**
 * Choosing the TensorFlow.js compute backend: WebGPU when `navigator.gpu` gives a hardware adapter,
 * else WASM (with SIMD when the CPU has it), else the plain JavaScript `cpu` backend. A backend forced
 * by `model.backend` / `--backend` that is unavailable is a {@linkcode UsageError}, never a silent
 * fallback.
 *
 * `auto` skips a *software* WebGPU adapter (`isFallbackAdapter`, e.g. Mesa llvmpipe on a board without
 * a GPU driver): it runs shaders on the CPU and is several times slower than WASM for these models (see
 * `deno task bench:model`). Forcing `webgpu` still uses it.
 *
 * The `.wasm` files are read as bytes and handed to tfjs as blob URLs with the platform `fetch`
 * (`setWasmPaths(map, true)`), so the same code works from source (`node_modules/`), from a
 * release's bundle (`app/wasm/` beside `app/main.js`) and from a `deno compile` binary (embedded with `--include`).
 *
 * Only `@tensorflow/tfjs-core` is loaded up front; each backend package is imported when it is tried
 * (the full `@tensorflow/tfjs` bundle takes ~47 s to load under qemu on arm64, core alone a fraction).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { UsageError } from "../errors.ts";
import { fileURLToPath } from "node:url";
import { FROM_SOURCE, WASM_DIR } from "../resources.ts";

/** The backends, fastest first. */
export const BACKENDS = ["webgpu", "wasm", "cpu"] as const;
/** One of {@linkcode BACKENDS}. */
export type BackendName = typeof BACKENDS[number];

/** Which backend runs and why. */
export interface BackendInfo {
  name: BackendName;
  /** Why this one, in a sentence (e.g. why WebGPU was skipped). */
  reason: string;
  /** WebGPU adapter description, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`. */
  adapter?: string;
  /** WASM: whether the SIMD build runs. */
  simd?: boolean;
  /** WASM: whether the multi-threaded build runs (needs cross-origin isolation; false in Deno). */
  threads?: boolean;
}

/** The three tfjs WASM binaries. */
export const WASM_FILES = [
  "tfjs-backend-wasm.wasm",
  "tfjs-backend-wasm-simd.wasm",
  "tfjs-backend-wasm-threaded-simd.wasm",
] as const;

/**
 * Where the `.wasm` files are: `node_modules/` of the checkout from source, `wasm/` beside the bundle of
 * a release or a compiled binary (see src/resources.ts).
 */
export const DEFAULT_WASM_DIR = WASM_DIR;

/** Minimal view of `navigator.gpu` (so tests can pass a fake or `null`). */
export interface GpuLike {
  requestAdapter(): Promise<
    { info?: { description?: string; vendor?: string; isFallbackAdapter?: boolean } } | null
  >;
}

/** What {@linkcode initBackend} probes; defaults to the real platform. For tests. */
export interface BackendProbe {
  /** `navigator.gpu`; `null` means "no WebGPU". */
  gpu?: GpuLike | null;
  /** Directory (file URL or path) of the tfjs `.wasm` files; default {@linkcode DEFAULT_WASM_DIR}. */
  wasmDir?: URL | string;
  /** Take a software WebGPU adapter in `auto` too (default false). */
  allowFallbackAdapter?: boolean;
}

let current: BackendInfo | undefined;
let wasmReady = false;

/** The backend chosen by the last successful {@linkcode initBackend}, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current && tf.getBackend() === current.name ? current : undefined;
}

/**
 * Selects and initialises a backend for the whole process (tfjs has one active backend; every model in
 * the process shares it). Calling it again with the same choice returns the same info.
 */
export function initBackend(choice: "auto" | BackendName, probe: BackendProbe = {}): Promise<BackendInfo> {
  // One at a time: tfjs has one global backend, and models created concurrently (the swarm simulation
  // starts several nodes at once) must not initialise it twice in parallel.
  const run = queue.then(() => chooseBackend(choice, probe));
  queue = run.catch(() => undefined);
  return run;
}

let queue: Promise<unknown> = Promise.resolve();

async function chooseBackend(choice: "auto" | BackendName, probe: BackendProbe): Promise<BackendInfo> {
  if (!["auto", ...BACKENDS].includes(choice)) {
    throw new UsageError(
      `Backend ${JSON.stringify(choice)} is not one of auto, ${BACKENDS.join(", ")}`,
      "Set model.backend (or --backend) to auto, webgpu, wasm or cpu",
    );
  }
  // Production mode: no debug checks, and no "install tfjs-node" advice from the cpu backend.
  tf.enableProdMode();
  const live = Object.keys(probe).length === 0 ? currentBackend() : undefined;
  if (
    live &&
    (choice === "auto"
      ? live.reason.startsWith("auto")
      : live.name === choice && live.reason.startsWith("forced"))
  ) {
    return live;
  }

  const skipped: string[] = [];
  if (choice === "auto" || choice === "webgpu") {
    const r = await tryWebGpu(probe, choice === "webgpu");
    if (r.ok) return (current = r.info);
    if (choice === "webgpu") {
      throw new UsageError(
        `Backend webgpu is not available: ${r.why}`,
        "Use --backend auto (or model.backend: auto) to fall back to wasm or cpu, or install a Vulkan driver (e.g. mesa-vulkan-drivers)",
      );
    }
    skipped.push(`WebGPU skipped (${r.why})`);
  }
  if (choice === "auto" || choice === "wasm") {
    const r = await tryWasm(probe);
    if (r.ok) {
      r.info.reason = choice === "auto"
        ? `auto: ${[...skipped, r.info.reason].join("; ")}`
        : `forced (${r.info.reason})`;
      return (current = r.info);
    }
    if (choice === "wasm") {
      throw new UsageError(
        `Backend wasm is not available: ${r.why}`,
        "Use --backend auto (or model.backend: auto) to fall back to cpu",
      );
    }
    skipped.push(`WASM skipped (${r.why})`);
  }
  await import("@tensorflow/tfjs-backend-cpu");
  if (!(await tf.setBackend("cpu"))) throw new Error("Bug: the tfjs cpu backend failed to initialise");
  await tf.ready();
  const why = choice === "auto"
    ? `auto: ${skipped.join("; ")}; plain JavaScript cpu backend`
    : "forced (cpu)";
  return (current = { name: "cpu", reason: why });
}

type Attempt = { ok: true; info: BackendInfo } | { ok: false; why: string };

async function tryWebGpu(probe: BackendProbe, forced: boolean): Promise<Attempt> {
  const gpu = "gpu" in probe ? probe.gpu : (navigator as unknown as { gpu?: GpuLike }).gpu;
  if (!gpu) return { ok: false, why: "navigator.gpu is undefined (no WebGPU in this runtime)" };
  quietVulkanLoader();
  let adapter;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { ok: false, why: `requestAdapter() failed: ${(e as Error).message}` };
  }
  if (!adapter) return { ok: false, why: "navigator.gpu.requestAdapter() returned no adapter" };
  const name = adapter.info?.description || adapter.info?.vendor || "unnamed adapter";
  if (adapter.info?.isFallbackAdapter && !forced && !probe.allowFallbackAdapter) {
    return { ok: false, why: `adapter "${name}" is a software fallback, slower than WASM` };
  }
  if (probe.gpu !== undefined && probe.gpu !== (navigator as unknown as { gpu?: GpuLike }).gpu) {
    // A fake GPU in a test cannot run tfjs; it only exercises the decision above.
    return { ok: false, why: `adapter "${name}" is not the platform's navigator.gpu` };
  }
  try {
    await import("@tensorflow/tfjs-backend-webgpu");
    if (!(await tf.setBackend("webgpu"))) return { ok: false, why: "tfjs could not initialise webgpu" };
    await tf.ready();
  } catch (e) {
    return { ok: false, why: `tfjs webgpu failed: ${(e as Error).message}` };
  }
  return {
    ok: true,
    info: {
      name: "webgpu",
      adapter: name,
      reason: forced ? `forced (webgpu, adapter "${name}")` : `auto: WebGPU adapter "${name}"`,
    },
  };
}

async function tryWasm(probe: BackendProbe): Promise<Attempt> {
  if (typeof WebAssembly !== "object") return { ok: false, why: "WebAssembly is not supported here" };
  provideDirname();
  const { setWasmPaths } = await import("@tensorflow/tfjs-backend-wasm");
  if (!wasmReady || probe.wasmDir !== undefined) {
    const dir = probe.wasmDir ?? Deno.env.get("AGENT_WASM_DIR") ?? DEFAULT_WASM_DIR;
    const base = typeof dir === "string" ? new URL(dir.endsWith("/") ? dir : dir + "/", "file:///") : dir;
    const map: Record<string, string> = {};
    for (const file of WASM_FILES) {
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(new URL(file, base));
      } catch (e) {
        return {
          ok: false,
          why: `cannot read ${decodeURIComponent(new URL(file, base).pathname)} (${(e as Error).message})`,
        };
      }
      map[file] = URL.createObjectURL(
        new Blob([bytes as Uint8Array<ArrayBuffer>], { type: "application/wasm" }),
      );
    }
    if (wasmReady) {
      for (const url of Object.values(map)) URL.revokeObjectURL(url);
    } else {
      setWasmPaths(map, true);
    }
  }
  try {
    if (!(await tf.setBackend("wasm"))) return { ok: false, why: "tfjs could not initialise wasm" };
    await tf.ready();
  } catch (e) {
    return { ok: false, why: `tfjs wasm failed: ${(e as Error).message}` };
  }
  wasmReady = true;
  const simd = (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT")) === true;
  const threads = (await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT")) === true;
  return {
    ok: true,
    info: {
      name: "wasm",
      simd,
      threads,
      reason: `WASM ${simd ? "with" : "without"} SIMD, ${threads ? "multi-threaded" : "single-threaded"}`,
    },
  };
}

/**
 * tfjs's Emscripten glue takes Deno for Node (`process` is a global) and then reads `__dirname`, which
 * CommonJS modules have (so from source, where npm packages run as CommonJS, it is there) but a bundle's
 * ES module does not: without it the wasm backend fails with "__dirname is not defined". In the bundle,
 * define it as the directory of the `.wasm` files (the glue only uses it to locate them, and tfjs
 * locates them itself).
 */
function provideDirname(): void {
  const g = globalThis as { __dirname?: string };
  if (!FROM_SOURCE && g.__dirname === undefined && WASM_DIR.protocol === "file:") {
    g.__dirname = fileURLToPath(WASM_DIR).replace(/\/$/, "");
  }
}

/**
 * Mesa's Vulkan loader prints "XDG_RUNTIME_DIR is invalid or not set" on every adapter request when
 * the variable is missing (services, ssh sessions). Point it at a private 0700 directory first.
 */
function quietVulkanLoader(): void {
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR")) return;
    const uid = Deno.uid() ?? 0;
    const dir = `/tmp/agent-runtime-${uid}`;
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = Deno.statSync(dir);
    if (st.uid === uid && st.mode !== null && (st.mode & 0o077) === 0) Deno.env.set("XDG_RUNTIME_DIR", dir);
  } catch { /* no permission: the warning is harmless */ }
}
