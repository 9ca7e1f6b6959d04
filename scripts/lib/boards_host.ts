/**
 * The host side of the board harness (`boards.ts`): processes and cgroups of the containers, and the
 * removal of what a killed run left behind (containers, bridges, cgroups, run directories).
 *
 * @module
 */
import { join } from "node:path";
import { isDir, run } from "./boards_rootfs.ts";

/** Where each run keeps its boards (removed at the end of the run). */
export const RUNS_DIR = "/var/tmp/agent-boards";

/** Prefix of every name this harness creates (bridges, containers, cgroups, run directories). */
export const PREFIX = "agb";

/** Where each board's cgroup subtree goes: the named systemd and unified hierarchies (hybrid), or the root of a pure cgroup-v2 host. */
export const CGROUP_HIERARCHIES = isDir("/sys/fs/cgroup/systemd") || isDir("/sys/fs/cgroup/unified")
  ? ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"]
  : ["/sys/fs/cgroup"];
export const MEMORY_HIERARCHY = "/sys/fs/cgroup/memory";

export function pidAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Parent PID of `pid` (from /proc), or undefined. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** Direct children of `pid`. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (/^\d+$/.test(e.name) && parentOf(Number(e.name)) === pid) out.push(Number(e.name));
  }
  return out.sort((a, b) => a - b);
}

/** SIGKILL to a container's PID 1 (which ends its whole PID namespace) and to its nspawn. */
export function killContainer(nspawnPid: number): void {
  for (const pid of [...childrenOf(nspawnPid), nspawnPid]) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

/** Removes a cgroup directory and everything below it (processes must have left). */
export async function removeCgroupTree(dir: string): Promise<void> {
  if (!isDir(dir)) return;
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory) await removeCgroupTree(join(dir, e.name));
  }
  for (let i = 0; i < 50; i++) {
    try {
      await Deno.remove(dir);
      return;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`cgroup ${dir} could not be removed (processes still in it?)`);
}

export function cgroupDirs(run: string): string[] {
  return [...CGROUP_HIERARCHIES, MEMORY_HIERARCHY].filter(isDir).map((h) => join(h, run));
}

/** Kills what runs of this harness left behind when their owner process died (containers, bridges, cgroups, files). */
export async function cleanupStaleBoards(log?: (line: string) => void): Promise<number> {
  let removed = 0;
  let runs: string[] = [];
  try {
    runs = [...Deno.readDirSync(RUNS_DIR)].filter((e) => e.isDirectory && e.name.startsWith(PREFIX))
      .map((e) => e.name);
  } catch { /* none */ }
  const live = new Set<string>();
  for (const name of runs) {
    const dir = join(RUNS_DIR, name);
    let owner = 0;
    try {
      owner = Number(Deno.readTextFileSync(join(dir, "owner")));
    } catch { /* incomplete */ }
    if (owner && pidAlive(owner)) {
      live.add(name);
      continue;
    }
    log?.(`removing stale board run ${name} (owner ${owner || "?"} is gone)`);
    for (const f of [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".nspawn.pid"))) {
      const pid = Number(Deno.readTextFileSync(join(dir, f.name)));
      if (pid && pidAlive(pid)) killContainer(pid);
    }
    await waitUntil(
      () =>
        ![...Deno.readDirSync(dir)].some((e) =>
          e.name.endsWith(".nspawn.pid") && pidAlive(Number(Deno.readTextFileSync(join(dir, e.name))))
        ),
      10_000,
    ).catch(() => {});
    await run("ip", ["link", "del", `${name}`]);
    for (const cg of cgroupDirs(name)) await removeCgroupTree(cg).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    removed++;
  }
  // Bridges and cgroups of runs whose directory is gone.
  const links = await run("ip", ["-o", "link", "show", "type", "bridge"]);
  for (const m of links.stdout.matchAll(/^\d+:\s+(agb-(?:arm64-)?[0-9a-f]+)[:@]/gm)) {
    if (!live.has(m[1])) {
      await run("ip", ["link", "del", m[1]]);
      removed++;
    }
  }
  for (const h of [...CGROUP_HIERARCHIES, MEMORY_HIERARCHY].filter(isDir)) {
    for (const e of Deno.readDirSync(h)) {
      if (e.isDirectory && /^agb-(?:arm64-)?[0-9a-f]+$/.test(e.name) && !live.has(e.name)) {
        await removeCgroupTree(join(h, e.name)).catch(() => {});
      }
    }
  }
  return removed;
}

export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 100) {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
