/**
 * `agent doctor`: a health check of this board. Reports the config's validity, the state directory,
 * the identity key's permissions, the model spec, the compute backend that would be used and why
 * (WebGPU adapter, WASM SIMD and threads), whether the model actually runs on it, and the checkpoints;
 * then whether state can be saved (free space, a real write), what the running agent reports (its
 * backend and why, whether it can save) and whether the installed service can see the GPU.
 * Exit code 0 when nothing failed, 1 otherwise (warnings do not fail).
 *
 * @module
 */
import { type Config } from "../config/mod.ts";
import { UsageError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { broadcastCheck, dataChecks, peerChecks, portChecks } from "./doctor_run.ts";
import { type Command, type CommandContext, stringOpt } from "./command.ts";
import { diskCheck, runningAgentChecks, serviceGpuCheck } from "./doctor_state.ts";

/** The `doctor` command. */
export const doctorCommand: Command = {
  name: "doctor",
  summary: "Check config, state directory, keys, model and compute backend",
  usage: ["doctor [--backend B]"],
  description: "Exits 0 when every check passed (warnings allowed), 1 when one failed.",
  options: {
    backend: {
      type: "string",
      arg: "B",
      help: "Check this backend instead of model.backend: auto, webgpu, wasm, cpu",
    },
  },
  positionals: [0, 0],
  examples: ["agent doctor", "agent doctor --backend webgpu --json"],
  run: runDoctor,
};

type Status = "ok" | "warn" | "fail";
interface Check {
  name: string;
  status: Status;
  detail: string;
  hint?: string;
}

async function runDoctor(ctx: CommandContext): Promise<number> {
  const checks: Check[] = [];
  const add = (name: string, status: Status, detail: string, hint?: string) =>
    checks.push({ name, status, detail, ...(hint ? { hint } : {}) });
  add("agent", "ok", `agent ${VERSION}, Deno ${Deno.version.deno}, ${Deno.build.os}/${Deno.build.arch}`);

  let config: Config | undefined;
  try {
    config = await ctx.config();
    const exists = await statOrUndefined(ctx.configPath);
    add(
      "config",
      "ok",
      exists ? `${ctx.configPath} is valid` : `no ${ctx.configPath}; using built-in defaults`,
    );
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    add("config", "fail", e.message, e.hint);
  }

  const root = await statOrUndefined(ctx.state.root);
  if (!root) {
    add("state", "warn", `${ctx.state.root} does not exist yet`, "Run 'agent init' to create it");
  } else if (!root.isDirectory) {
    add("state", "fail", `${ctx.state.root} is not a directory`, "Move it aside or pass --state DIR");
  } else {
    const probe = `${ctx.state.root}/.doctor-${Deno.pid}`;
    try {
      await Deno.writeFile(probe, new Uint8Array(0), { createNew: true });
      await Deno.remove(probe);
      const mode = root.mode === null ? "" : `, mode ${octal(root.mode & 0o777)}`;
      add("state", "ok", `${ctx.state.root} is writable${mode}`);
    } catch (e) {
      add(
        "state",
        "fail",
        `${ctx.state.root} is not writable: ${(e as Error).message}`,
        "Fix its owner or mode",
      );
    }
  }

  if (root?.isDirectory) checks.push(await diskCheck(ctx.state.root, ctx.state.checkpoints));

  const key = await statOrUndefined(ctx.state.privateKey);
  if (!key) {
    add("identity key", "warn", `no private key at ${ctx.state.privateKey}`, "It is created on first start");
  } else if (key.mode !== null && (key.mode & 0o077) !== 0) {
    add(
      "identity key",
      "fail",
      `${ctx.state.privateKey} has mode ${octal(key.mode & 0o777)}: readable by other users`,
      `Run: chmod 600 ${ctx.state.privateKey}`,
    );
  } else {
    add("identity key", "ok", `${ctx.state.privateKey} (mode ${octal((key.mode ?? 0o600) & 0o777)})`);
  }

  const backendChoice = stringOpt(ctx, "backend") ?? config?.model.backend ?? "auto";
  const modelId = config?.model.id ?? "mnist-mlp";
  const m = await import("../model/mod.ts");
  let spec;
  try {
    spec = (await m.resolveModelSpec({ id: modelId, spec: config?.model.spec }, ctx.state.models)).spec;
    add(
      "model",
      "ok",
      `${spec.id} v${spec.version}: ${spec.description}, ${m.paramCount(spec)} parameters, hash ${
        m.toHex(m.modelHash(spec))
      }`,
    );
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    add("model", "fail", e.message, e.hint);
  }

  let backendJson: unknown = null;
  try {
    // The same choice and reason as 'agent run' (it does not probe a software-only WebGPU adapter).
    // Loaded on demand: every agent command loads this file, and only doctor needs the backend.
    const { chooseBackend } = await import("../agent/backend_choice.ts");
    const info = await chooseBackend(backendChoice as "auto");
    backendJson = info;
    const extras = [
      info.adapter ? `adapter "${info.adapter}"` : "",
      info.simd !== undefined ? `SIMD ${info.simd ? "yes" : "no"}` : "",
      info.threads !== undefined ? `threads ${info.threads ? "yes" : "no"}` : "",
    ].filter(Boolean).join(", ");
    add("backend", "ok", `${info.name}${extras ? ` (${extras})` : ""}: ${info.reason}`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    add("backend", "fail", e.message, e.hint);
  }

  if (spec && backendJson) {
    const model = await m.createModel(spec);
    try {
      // The tfjs graph (a batch above the fast-path size) and the JavaScript fast path must agree.
      const rows = Math.max(3, m.JS_FAST_PATH_MAX_BATCH + 1);
      const x = new Float32Array(rows * model.inputSize).map((_, i) => ((i * 7919) % 101) / 100);
      const t0 = performance.now();
      const graph = await model.predict(x, rows);
      const ms = performance.now() - t0;
      const fast = await model.predict(x, 1);
      let diff = 0;
      for (let i = 0; i < model.classes; i++) diff = Math.max(diff, Math.abs(graph[i] - fast[i]));
      const finite = graph.every(Number.isFinite);
      add(
        "inference",
        finite && diff < 1e-4 ? "ok" : "fail",
        `${rows} rows in ${ms.toFixed(1)} ms (first call); graph and fast path differ by ${
          diff.toExponential(1)
        }`,
        finite && diff < 1e-4 ? undefined : "The backend computes wrong results; try --backend cpu",
      );
      const loaded = await m.loadCheckpoint(ctx.state.checkpoints, model);
      for (const s of loaded.skipped) {
        add("checkpoint", "warn", `skipped ${s.path}: ${s.reason}`, "It is replaced by the next checkpoint");
      }
      add(
        "checkpoint",
        "ok",
        loaded.checkpoint
          ? `${loaded.checkpoint.path} (step ${loaded.checkpoint.step})`
          : `none in ${ctx.state.checkpoints}; the model starts from its seeded initial weights`,
      );
    } finally {
      model.dispose();
    }
  }

  if (config) {
    if (spec) {
      // The same shape and input check as 'agent run': out-of-range rows count as bad rows here too.
      const input = new m.InputCheck(spec.shape, spec.norm);
      checks.push(...await dataChecks(config, { features: spec.input, classes: spec.classes, input }));
    }
    checks.push(...await portChecks(config, ctx.state));
    try {
      checks.push(broadcastCheck(config.gossip.broadcast, Deno.networkInterfaces()));
    } catch (e) {
      add("broadcast", "warn", `network interfaces not readable: ${(e as Error).message}`);
    }
    checks.push(...await peerChecks(config, ctx.state));
  }
  if (config) checks.push(...await runningAgentChecks(config, ctx.state));
  const gpu = await serviceGpuCheck();
  if (gpu) checks.push(gpu);

  const failed = checks.filter((c) => c.status === "fail").length;
  const warned = checks.filter((c) => c.status === "warn").length;
  const width = Math.max(...checks.map((c) => c.name.length));
  const human =
    checks.map((c) =>
      `${c.status === "ok" ? "ok  " : c.status === "warn" ? "WARN" : "FAIL"}  ${
        c.name.padEnd(width)
      }  ${c.detail}` +
      (c.hint && c.status !== "ok" ? `\n      ${" ".repeat(width)}  hint: ${c.hint}` : "")
    ).join("\n") +
    `\n${failed ? `${failed} check(s) failed` : "healthy"}${warned ? `, ${warned} warning(s)` : ""}`;
  ctx.print(human, { healthy: failed === 0, checks, backend: backendJson });
  return failed ? 1 : 0;
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

function octal(mode: number): string {
  return "0" + mode.toString(8).padStart(3, "0");
}
