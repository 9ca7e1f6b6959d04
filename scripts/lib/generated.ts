/**
 * The `gen:*` tasks' one behaviour: write a generated file when its content changed, or with `--check`
 * write nothing and exit 1 when it is out of date (tests run the same check).
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** Brings `module` (relative to the repository) up to date with `render()`; `task` names the deno task. */
export async function syncGenerated(
  module: string,
  render: () => Promise<string>,
  task: string,
  args: string[],
): Promise<void> {
  const path = fileURLToPath(new URL(`../../${module}`, import.meta.url));
  const wanted = await render();
  const current = await Deno.readTextFile(path).catch(() => "");
  if (args.includes("--check")) {
    if (current !== wanted) {
      console.error(`${module} is out of date: run 'deno task ${task}'`);
      Deno.exit(1);
    }
    console.log(`${module} is up to date`);
  } else if (current === wanted) {
    console.log(`${module} is up to date`);
  } else {
    await Deno.writeTextFile(path, wanted);
    console.log(`Wrote ${module} (${(wanted.length / 1024).toFixed(0)} KiB)`);
  }
}
