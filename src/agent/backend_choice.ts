/**
 * The compute backend `agent run` picks, with the reason it logs — one function, so `agent doctor`
 * reports exactly what the daemon will get and why.
 *
 * @module
 */
import { type BackendInfo, type BackendName, initBackend } from "../model/mod.ts";

/** True if the machine has a GPU render node (/dev/dri/renderD*). */
export function hasRenderNode(): boolean {
  try {
    for (const e of Deno.readDirSync("/dev/dri")) if (e.name.startsWith("renderD")) return true;
  } catch { /* no /dev/dri (or hidden by the service's PrivateDevices=yes) */ }
  return false;
}

/**
 * Initialises the backend for `model.backend`. Without a GPU render node the only WebGPU adapter is a
 * software one, which `auto` skips anyway; probing it costs ~70 MB of resident memory, so `auto` does
 * not probe then (and the reason says so).
 */
export async function chooseBackend(choice: "auto" | BackendName): Promise<BackendInfo> {
  const skipGpu = choice === "auto" && !hasRenderNode();
  const info = await initBackend(choice, skipGpu ? { gpu: null } : {});
  return skipGpu
    ? { ...info, reason: `no GPU render node in /dev/dri, WebGPU not probed; ${info.reason}` }
    : info;
}
