/**
 * `deno task install [--prefix DIR] [--bin DIR]`: installs `agent` on THIS machine the way a board has
 * it — the release `agent clone` ships (pinned runtime, bundled app, launcher with named permissions),
 * unpacked into `PREFIX/releases/<id>`, `PREFIX/current` pointing at it, and an `agent` link in the BIN
 * directory. Run from anywhere, it resolves relative paths against the caller's working directory
 * (unlike `deno task agent`, which runs in the repository). Reinstalling switches `current` atomically.
 *
 * Defaults: as root, PREFIX `/opt/agent` and BIN `/usr/local/bin` (the board layout); otherwise
 * `~/.local/share/agent` and `~/.local/bin`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { buildRelease, defaultCacheDir } from "../src/replicate/release.ts";
import { hostArch, resolveRuntime } from "../src/replicate/runtime.ts";
import { CloneError } from "../src/replicate/errors.ts";
import { unpackRelease } from "./release.ts";

/** Where the release and the `agent` link go. */
export function installPaths(
  env: Record<string, string | undefined>,
  uid: number | null,
  flags: { prefix?: string; bin?: string },
): { prefix: string; bin: string } {
  const home = env.HOME ?? "/";
  if (uid === 0) return { prefix: flags.prefix ?? "/opt/agent", bin: flags.bin ?? "/usr/local/bin" };
  const data = env.XDG_DATA_HOME ?? join(home, ".local/share");
  return { prefix: flags.prefix ?? join(data, "agent"), bin: flags.bin ?? join(home, ".local/bin") };
}

/** Replaces the symlink `link` with one to `target`, atomically (a rename over the old link). */
async function relink(target: string, link: string): Promise<void> {
  const tmp = `${link}.tmp-${Deno.pid}`;
  await Deno.remove(tmp).catch(() => {});
  await Deno.symlink(target, tmp);
  await Deno.rename(tmp, link);
}

function fail(message: string, hint: string): never {
  console.error(`install: error: ${message}\n  hint: ${hint}`);
  Deno.exit(2);
}

if (import.meta.main) {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      strict: true,
      options: { prefix: { type: "string" }, bin: { type: "string" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (e) {
    fail((e as Error).message, "Usage: deno task install [--prefix DIR] [--bin DIR]");
  }
  if (values.help) {
    console.log(
      "Usage: deno task install [--prefix DIR] [--bin DIR]\n\n" +
        "Installs the agent release for this machine and puts an 'agent' command on PATH.",
    );
    Deno.exit(0);
  }
  for (const k of ["prefix", "bin"] as const) {
    if (values[k] === "") fail(`--${k} needs a non-empty value`, "Give a directory");
  }
  const env = Deno.env.toObject();
  const { prefix, bin } = installPaths(env, Deno.uid(), values);
  const cacheDir = defaultCacheDir(env);
  try {
    const arch = hostArch();
    if (arch === undefined) {
      fail(
        `This machine's architecture (${Deno.build.arch}) has no release`,
        "Releases exist for x86_64 and aarch64",
      );
    }
    const note = (n: string) => console.error(`install: ${n}`);
    const runtime = await resolveRuntime(arch, { cacheDir, onNote: note });
    const release = await buildRelease({ arch, runtime, cacheDir, onNote: note });
    const dir = join(prefix, "releases", release.id);
    await Deno.mkdir(join(prefix, "releases"), { recursive: true });
    await unpackRelease(release, dir);
    await relink(dir, join(prefix, "current"));
    await Deno.mkdir(bin, { recursive: true });
    await relink(join(prefix, "current", "agent"), join(bin, "agent"));
    console.log(`Installed agent release ${release.id} (${arch}) into ${dir}`);
    console.log(`'agent' is ${join(bin, "agent")} → ${join(prefix, "current", "agent")}`);
    const onPath = (env.PATH ?? "").split(":").includes(bin);
    if (!onPath) console.log(`${bin} is not on PATH: add it, e.g.  export PATH="${bin}:$PATH"`);
  } catch (e) {
    if (e instanceof CloneError) fail(e.message, e.hint ?? "See the message above");
    if (e instanceof Deno.errors.PermissionDenied) {
      fail((e as Error).message, "Choose writable directories with --prefix and --bin (or run as root)");
    }
    throw e;
  }
}
