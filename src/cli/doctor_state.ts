/**
 * `agent doctor`'s checks of what the running board does, beyond this one process: can the state be
 * saved (free space, a real checkpoint-sized atomic write), what the running agent reports (its backend
 * and why, whether it can save), and whether the installed service can see the GPU.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "../config/mod.ts";
import { SYSTEM_UNIT_DIR, UNIT_NAME } from "../systemd/mod.ts";
import { removeFileDurable, writeFileAtomic } from "../state/mod.ts";
import { diskSpace } from "../state/mod.ts";
import type { StateLayout } from "../state/mod.ts";
import { fetchStatus, ownFingerprint } from "./status.ts";

/** One line of the doctor's report. */
export interface DoctorCheck {
  name: string;
  status: "ok" | "warn" | "fail";
  detail: string;
  hint?: string;
}

/** Smallest test write (when there is no checkpoint yet to size it by). */
const MIN_PROBE_BYTES = 64 * 1024;

/** Size of the largest file in `dir` (0 when none). */
async function largestFile(dir: string): Promise<number> {
  let max = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile) max = Math.max(max, (await Deno.stat(join(dir, e.name))).size);
    }
  } catch { /* none yet */ }
  return max;
}

/** Human size, e.g. `12 KiB`, `3.4 MiB`. */
export function bytes(n: number): string {
  return n < 1024 * 1024 ? `${Math.round(n / 1024)} KiB` : `${(n / 1048576).toFixed(1)} MiB`;
}

/**
 * Free space of the state's filesystem and a real atomic write as large as the largest checkpoint in
 * `checkpointsDir` (a new checkpoint is written before the oldest is removed, so that is what the next
 * save needs).
 */
export async function diskCheck(stateRoot: string, checkpointsDir: string): Promise<DoctorCheck> {
  const probeBytes = Math.max(MIN_PROBE_BYTES, await largestFile(checkpointsDir));
  let space;
  try {
    space = await diskSpace(stateRoot);
  } catch (e) {
    return { name: "disk", status: "warn", detail: `cannot read the free space: ${(e as Error).message}` };
  }
  const free = `${bytes(space.freeBytes)} free of ${bytes(space.totalBytes)}`;
  const probe = join(stateRoot, `.doctor-probe-${Deno.pid}`);
  try {
    await writeFileAtomic(probe, new Uint8Array(probeBytes));
    await removeFileDurable(probe);
  } catch (e) {
    return {
      name: "disk",
      status: "fail",
      detail: `state cannot be saved in ${stateRoot}: a ${
        bytes(probeBytes)
      } write (a checkpoint's size) failed: ${(e as Error).message}; ${free}`,
      hint: "Free space on that filesystem (a full SD card?); the agent resumes saving by itself",
    };
  }
  const low = space.freeBytes < 4 * 1024 * 1024;
  return {
    name: "disk",
    status: low ? "warn" : "ok",
    detail: `a ${bytes(probeBytes)} state write (a checkpoint's size) works; ${free}`,
    ...(low ? { hint: "Less than 4 MiB free: checkpoints will soon fail to save" } : {}),
  };
}

/**
 * What the running agent reports over its API: its backend and why, and whether it can save its state.
 * Undefined when no agent answers (the doctor then only speaks for itself).
 */
export async function runningAgentChecks(config: Config, state: StateLayout): Promise<DoctorCheck[]> {
  const got = await fetchStatus(config.api.listen, state.status, {
    timeoutMs: 1500,
    expectFingerprint: await ownFingerprint(state),
  });
  if ("error" in got || got.source.kind !== "live") return [];
  const r = got.report;
  const out: DoctorCheck[] = [{
    name: "running agent",
    status: "ok",
    detail: `PID ${r.pid} on ${config.api.listen}: backend ${r.backend}${
      r.backendReason ? ` (${r.backendReason})` : ""
    }`,
  }];
  const s = r.storage;
  if (s && !s.ok) {
    out.push({
      name: "saving",
      status: "fail",
      detail: `the running agent cannot save its state since ${s.failingSince}: ${s.lastError}${
        s.freeBytes === null ? "" : `; ${bytes(s.freeBytes)} free of ${bytes(s.totalBytes ?? 0)}`
      }`,
      hint: "Free space on the state's filesystem; saving resumes by itself (learning goes on meanwhile)",
    });
  } else if (s) {
    out.push({
      name: "saving",
      status: "ok",
      detail: `the running agent saves its state (${s.failures} failed writes)`,
    });
  }
  return out;
}

/** The render nodes of this machine (`/dev/dri/renderD*`). */
export function renderNodes(): string[] {
  try {
    return [...Deno.readDirSync("/dev/dri")].map((e) => e.name).filter((n) => n.startsWith("renderD")).sort()
      .map((n) => `/dev/dri/${n}`);
  } catch {
    return [];
  }
}

/**
 * Whether the installed service can use this machine's GPU: a unit with `PrivateDevices=yes` hides
 * `/dev/dri`, so its `auto` backend can never pick WebGPU. Nothing to say without a unit or a GPU.
 */
export async function serviceGpuCheck(unitDir = SYSTEM_UNIT_DIR): Promise<DoctorCheck | undefined> {
  let unit: string;
  try {
    unit = await Deno.readTextFile(join(unitDir, UNIT_NAME));
  } catch {
    return undefined;
  }
  const nodes = renderNodes();
  const gpu = /^DeviceAllow=char-drm/m.test(unit) && /^PrivateDevices=no/m.test(unit);
  if (gpu) {
    return {
      name: "service GPU",
      status: "ok",
      detail: `${UNIT_NAME} may use the GPU render nodes (DeviceAllow=char-drm rw)${
        nodes.length ? `: ${nodes.join(", ")}` : ", but this machine has none"
      }`,
    };
  }
  if (nodes.length === 0) return undefined;
  return {
    name: "service GPU",
    status: "warn",
    detail:
      `this machine has ${
        nodes.join(", ")
      } but ${UNIT_NAME} cannot see it (PrivateDevices=yes hides /dev/dri), ` +
      `so the service runs on wasm or cpu`,
    hint:
      "To let the service use WebGPU: sudo agent service install --gpu (see the README for its exposure score)",
  };
}
