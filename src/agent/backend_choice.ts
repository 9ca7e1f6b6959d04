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
 * Why WebGPU was not probed: no render node visible. Under systemd (INVOCATION_ID is set for services)
 * that is also what a unit with PrivateDevices=yes looks like on a board that has a GPU.
 */
export function noRenderNodeReason(env: Record<string, string | undefined>): string {
  return env.INVOCATION_ID
    ? "no GPU render node visible in /dev/dri, WebGPU not probed (this runs under systemd, whose " +
      "PrivateDevices=yes hides /dev/dri: on a board with a GPU, 'agent service install --gpu' lets the service use it)"
    : "no GPU render node in /dev/dri, WebGPU not probed";
}

/**
 * Initialises the backend for `model.backend`. Without a GPU render node the only WebGPU adapter is a
 * software one, which `auto` skips anyway; probing it costs ~70 MB of resident memory, so `auto` does
 * not probe then (and the reason says so).
 */
export async function chooseBackend(
  choice: "auto" | BackendName,
  env: Record<string, string | undefined> = Deno.env.toObject(),
): Promise<BackendInfo> {
  const skipGpu = choice === "auto" && !hasRenderNode();
  const info = await initBackend(choice, skipGpu ? { gpu: null } : {});
  return skipGpu ? { ...info, reason: `${noRenderNodeReason(env)}; ${info.reason}` } : info;
}
