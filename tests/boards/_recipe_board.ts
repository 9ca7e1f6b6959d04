/**
 * A tiny stand-in for the board harness (`scripts/lib/boards.ts`, written in parallel on another branch):
 * boots ONE Debian bookworm container with systemd as PID 1 through the team's worked example
 * `shared/recipes/systemd-boards.sh` (systemd-nspawn, `--register=no --keep-unit`, its own cgroup, a
 * bridge `br-sd` on 10.77.0.1/24, sshd on port 2222 with the recipe's key). To be replaced by the
 * harness once both are merged; the test only uses {@linkcode RecipeBoard}.
 *
 * Everything lives under its own `SD` directory (`/tmp/clonetest-sd`) and uses container names
 * prefixed `clonetest`, so it never collides with the board harness.
 *
 * @module
 */
import { dirname, join } from "node:path";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
/** The recipe's working directory for this adapter (rootfs template, containers, ssh key). */
export const SD = "/tmp/clonetest-sd";

/** Where the recipe script is: `$AGENT_BOARDS_RECIPE`, else `shared/` beside the checkout (CI) or one up. */
export function recipePath(): string | undefined {
  const candidates = [
    Deno.env.get("AGENT_BOARDS_RECIPE"),
    join(dirname(ROOT), "shared", "recipes", "systemd-boards.sh"),
    join(dirname(dirname(ROOT)), "shared", "recipes", "systemd-boards.sh"),
  ];
  for (const c of candidates) {
    if (!c) continue;
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch { /* next */ }
  }
  return undefined;
}

function which(cmd: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    try {
      if (Deno.statSync(join(dir, cmd)).isFile) return true;
    } catch { /* next */ }
  }
  return false;
}

/** Why boards cannot run here (the test is skipped with this reason), or undefined when they can. */
export function boardsUnavailable(): string | undefined {
  if (Deno.uid() !== 0) return "needs root (systemd-nspawn, a bridge, cgroups)";
  if (!which("systemd-nspawn")) return "systemd-nspawn is missing (apt-get install systemd-container)";
  if (!which("mmdebstrap") && !which("debootstrap")) {
    return "mmdebstrap is missing (apt-get install mmdebstrap)";
  }
  if (!which("nsenter")) return "nsenter is missing (util-linux)";
  if (!recipePath()) return "the recipe ../shared/recipes/systemd-boards.sh is not beside the checkout";
  return undefined;
}

/** One booted board. */
export interface RecipeBoard extends AsyncDisposable {
  name: string;
  /** Address on the bridge and sshd port. */
  host: string;
  port: number;
  /** The key root@board accepts. */
  sshKey: string;
  /** The container's root file system on the host. */
  root: string;
  /** Runs `sh -c script` inside the container as root (nsenter; no ssh). */
  sh(script: string): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

async function recipe(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("bash", {
    args: [recipePath()!, ...args],
    env: { SD },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Builds the rootfs template once (kept in {@linkcode SD} between runs). */
async function ensureTemplate(): Promise<void> {
  try {
    if (Deno.statSync(join(SD, "base", "usr", "lib", "systemd", "systemd")).isFile) return;
  } catch { /* build it */ }
  await Deno.remove(join(SD, "base"), { recursive: true }).catch(() => {});
  await Deno.mkdir(SD, { recursive: true });
  const r = await recipe(["build"]);
  if (r.code !== 0) throw new Error(`Building the board rootfs failed: ${r.stderr.slice(-2000)}`);
}

/** Boots board `name` (prefix it `clonetest`) at 10.77.0.(idx+1); stop it with `await using`. */
export async function bootBoard(name: string, idx: number): Promise<RecipeBoard> {
  if (!name.startsWith("clonetest")) {
    throw new Error(`Board names of this adapter start with clonetest: ${name}`);
  }
  await ensureTemplate();
  // A board left over from an interrupted run.
  if (exists(join(SD, "m", `${name}.super.pid`))) {
    await recipe(["stop", name]);
  }
  await Deno.remove(join(SD, "m", name), { recursive: true }).catch(() => {});
  const started = await recipe(["start", name, String(idx)]);
  if (started.code !== 0) {
    throw new Error(`Booting ${name} failed: ${started.stderr.slice(-2000)}\n${readConsole(name)}`);
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const r = await recipe(["stop", name]);
    if (r.code !== 0) throw new Error(`Stopping ${name} failed: ${r.stderr}`);
  };
  return {
    name,
    host: `10.77.0.${idx + 1}`,
    port: 2222,
    sshKey: join(SD, "id_ed25519"),
    root: join(SD, "m", name),
    sh: (script) => recipe(["x", name, "sh", "-c", script]),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function readConsole(name: string): string {
  try {
    return Deno.readTextFileSync(join(SD, "m", `${name}.console.log`)).slice(-2000);
  } catch {
    return "";
  }
}
