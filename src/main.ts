/**
 * Entry point of the `agent` binary (and of `deno task agent`): hands argv to the CLI and exits with
 * its code.
 *
 * @module
 */
import { processIo, runCli } from "./cli/mod.ts";

if (import.meta.main) {
  const code = await runCli(Deno.args, processIo());
  Deno.exit(code);
}
