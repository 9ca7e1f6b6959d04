/**
 * `deno task compile [-- --target x86_64|aarch64|all] [--out DIR]`: builds the single `agent` binary
 * for Linux x86_64 and aarch64 with `deno compile` of the release's own bundle (`app/main.js` and its
 * chunks, see src/replicate/_bundle.ts), embedding the whole `app/` directory with the tfjs `.wasm` files
 * and the model specs (`--include app/`, the layout of a release). So the code a compiled binary runs
 * is byte for byte the code the release runs, and the release is what CI tests.
 *
 * `deno compile` needs `denort` (the Deno runtime without the compiler) for each target. It downloads
 * it from dl.deno.land unless `DENORT_BIN` points at one (which then fixes the target to that
 * runtime's architecture). Where that server is unreachable and `DENORT_BIN` is not set, this script
 * stops with a plain explanation instead of a stack of network errors.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { BUNDLE_DIR, BUNDLE_ENTRY } from "../src/resources.ts";
import { AGENT_PERMISSIONS, appRoot, defaultCacheDir, stageApp } from "../src/replicate/release.ts";

/** The permissions the compiled `agent` runs with (the same as `deno task agent`). */
export const PERMISSION_FLAGS: readonly string[] = AGENT_PERMISSIONS;

/** Rust target triples of the supported boards. */
export const TARGETS = {
  x86_64: "x86_64-unknown-linux-gnu",
  aarch64: "aarch64-unknown-linux-gnu",
} as const;

/** Embedded: the bundle's directory, with its chunks, the tfjs `.wasm` binaries and the model specs. */
export const INCLUDES = [`${BUNDLE_DIR}/`];

/** The `deno compile` argument list for one target, run in the directory the app was staged in. */
export function compileArgs(target: keyof typeof TARGETS, outDir: string): string[] {
  return [
    "compile",
    "--quiet",
    "--no-config",
    "--no-lock",
    ...PERMISSION_FLAGS,
    ...INCLUDES.flatMap((path) => ["--include", path]),
    "--target",
    TARGETS[target],
    "--output",
    `${outDir}/agent-${target}`,
    `${BUNDLE_DIR}/${BUNDLE_ENTRY}`,
  ];
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { target: { type: "string", default: "all" }, out: { type: "string", default: "dist" } },
  });
  const wanted = values.target === "all" ? Object.keys(TARGETS) : [values.target!];
  for (const t of wanted) {
    if (!(t in TARGETS)) {
      console.error(`compile: unknown --target ${JSON.stringify(t)}; use x86_64, aarch64 or all`);
      Deno.exit(2);
    }
  }
  const denort = Deno.env.get("DENORT_BIN");
  if (denort && wanted.length > 1) {
    console.error(
      `compile: DENORT_BIN=${denort} is a runtime for one architecture; pass --target x86_64 or --target aarch64`,
    );
    Deno.exit(2);
  }
  await Deno.mkdir(values.out!, { recursive: true });
  const outDir = resolve(values.out!);
  // The app as a release lays it out: app/main.js and its chunks, app/wasm/, app/models/.
  const stage = await Deno.makeTempDir({ prefix: "agent-compile-" });
  try {
    await stageApp(appRoot()!, stage, {
      cacheDir: defaultCacheDir(Deno.env.toObject()),
      onNote: (n) => console.error(`compile: ${n}`),
    });
    Deno.exit(await compileAll(wanted as (keyof typeof TARGETS)[], stage, outDir, denort));
  } finally {
    await Deno.remove(stage, { recursive: true }).catch(() => {});
  }
}

async function compileAll(
  wanted: (keyof typeof TARGETS)[],
  stage: string,
  outDir: string,
  denort: string | undefined,
): Promise<number> {
  let failed = 0;
  for (const target of wanted) {
    const args = compileArgs(target, outDir);
    console.error(`compile: (in ${stage}) deno ${args.join(" ")}`);
    const out = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: stage,
      stdout: "inherit",
      stderr: "piped",
    })
      .output();
    const err = new TextDecoder().decode(out.stderr);
    if (out.success) {
      console.error(`compile: wrote ${join(outDir, `agent-${target}`)}`);
      continue;
    }
    failed++;
    const causes = causeChain(err);
    if (/dl\.deno\.land|error sending request/.test(err)) {
      console.error(
        `compile: cannot build agent-${target}: deno compile needs the denort runtime for ${
          TARGETS[target]
        } ` +
          `and could not download it from dl.deno.land (no network access to Deno's download server).\n` +
          `  Fix: on a machine with access, download ` +
          `https://dl.deno.land/release/v${Deno.version.deno}/denort-${
            TARGETS[target]
          }.zip, unzip it, copy ` +
          `denort here and run\n` +
          `  DENORT_BIN=/path/to/denort deno task compile --target ${target}\n` +
          `  (deno said: ${causes.find((c) => /https?:\/\//.test(c)) ?? causes[0]})`,
      );
    } else if (denort) {
      console.error(
        `compile: cannot build agent-${target} with DENORT_BIN=${denort}: ${causes.join(": ")}\n` +
          `  Fix: point DENORT_BIN at the denort binary of Deno ${Deno.version.deno} for ${TARGETS[target]}`,
      );
    } else {
      console.error(`compile: deno compile failed for ${target}:\n${err}`);
    }
  }
  return failed ? 1 : 0;
}

/** deno's "Caused by:" chain as plain lines (colour codes and numbering removed), else its first line. */
export function causeChain(err: string): string[] {
  // deno-lint-ignore no-control-regex
  const lines = err.replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim());
  const chain = lines.filter((l) => /^\d+: /.test(l) && !/<unknown>/.test(l)).map((l) =>
    l.replace(/^\d+: /, "")
  );
  return chain.length > 0 ? chain : [lines.find((l) => l !== "") ?? "unknown error"];
}
