/**
 * `deno task release [--arch x86_64|aarch64|all] [--out DIR] [--cache DIR]`: builds the release that
 * `agent clone` installs (runtime from npm, launcher, the app bundled with `deno bundle`, its wasm files and
 * model specs; see src/replicate/release.ts),
 * fills the cache so a later clone needs no network, and prints its id, part sizes and unpacked size.
 * With `--out DIR`, also unpacks each release into `DIR/<arch>/` (runnable there with `./agent`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { type Arch, ARCHES } from "../src/replicate/probe.ts";
import { buildRelease, defaultCacheDir, type Release } from "../src/replicate/release.ts";
import { resolveRuntime } from "../src/replicate/runtime.ts";
import { CloneError, CloneFailure } from "../src/replicate/errors.ts";

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

/** Unpacks every part of `release` into `dir` (made empty first): a runnable release, `dir/agent`. */
export async function unpackRelease(release: Release, dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  for (const p of release.parts) {
    const out = await new Deno.Command("tar", { args: ["-xzf", p.tarball, "-C", dir], stderr: "piped" })
      .output();
    if (!out.success) {
      throw new CloneError(
        CloneFailure.NoSpace,
        `Cannot unpack ${p.tarball}: ${new TextDecoder().decode(out.stderr).trim()}`,
        `Check the free space in ${dir}`,
      );
    }
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      arch: { type: "string", default: "all" },
      out: { type: "string" },
      cache: { type: "string" },
    },
  });
  const arches = values.arch === "all" ? [...ARCHES] : [values.arch as Arch];
  for (const a of arches) {
    if (!(ARCHES as readonly string[]).includes(a)) {
      console.error(`release: unknown --arch ${JSON.stringify(a)}; use x86_64, aarch64 or all`);
      Deno.exit(2);
    }
  }
  const cacheDir = values.cache ?? defaultCacheDir(Deno.env.toObject());
  try {
    for (const arch of arches) {
      const started = Date.now();
      const runtime = await resolveRuntime(arch, { cacheDir, onNote: (n) => console.error(`release: ${n}`) });
      const release = await buildRelease({
        arch,
        runtime,
        cacheDir,
        onNote: (n) => console.error(`release: ${n}`),
      });
      const total = release.parts.reduce((a, p) => a + p.bytes, 0);
      console.log(
        `${arch}: release ${release.id}, ${release.fileCount} files, ${
          mib(release.unpackedBytes)
        } unpacked, ${mib(total)} compressed (${
          release.parts.map((p) => `${p.name} ${mib(p.bytes)}`).join(", ")
        }), built in ${((Date.now() - started) / 1000).toFixed(1)} s (runtime from ${runtime.source})`,
      );
      if (values.out) {
        const dir = join(values.out, arch);
        await unpackRelease(release, dir);
        console.log(`${arch}: unpacked into ${dir} (run ${dir}/agent --version)`);
      }
    }
  } catch (e) {
    if (e instanceof CloneError) {
      console.error(`release: error: ${e.message}\n  hint: ${e.hint}`);
      Deno.exit(1);
    }
    throw e;
  }
}
