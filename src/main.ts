/**
 * Entry point of the `agent` binary (and of `deno task agent`): hands argv to the CLI and exits with
 * its code.
 *
 * With `AGENT_WARM_UP=1` (the release's launcher sets it once per release and cache directory) it
 * instead loads every chunk of the bundle beside it and exits: Deno analyses and compiles each module
 * the first time it loads it and keeps that work in memory for the life of the process (measured on a
 * board: the agent's first process after an install idled at 157 MiB, the next one at 87 MiB), so a
 * short-lived process does it and leaves the results in `DENO_DIR` for the agent.
 *
 * @module
 */
import { processIo, runCli } from "./cli/mod.ts";

/** Loads every other `.js` file beside this module (the bundle's chunks); from source, there are none. */
async function warmUp(): Promise<void> {
  const here = new URL(".", import.meta.url);
  const self = new URL(import.meta.url).pathname.split("/").pop();
  for await (const e of Deno.readDir(here)) {
    if (e.isFile && e.name.endsWith(".js") && e.name !== self) await import(new URL(e.name, here).href);
  }
}

if (import.meta.main) {
  if (Deno.env.get("AGENT_WARM_UP") === "1") {
    await warmUp();
    Deno.exit(0);
  }
  const code = await runCli(Deno.args, processIo());
  Deno.exit(code);
}
