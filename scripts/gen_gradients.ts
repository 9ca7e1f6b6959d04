/**
 * `deno task gen:gradients [--check]`: writes `src/model/_gradients.js` (tfjs's gradient functions,
 * bundled; scripts/lib/gradients_bundle.ts). With `--check` it writes nothing and exits 1 when the file
 * is out of date (a test runs the same check).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { GRADIENTS_MODULE, renderGradientsModule } from "./lib/gradients_bundle.ts";

if (import.meta.main) {
  const path = fileURLToPath(new URL(`../${GRADIENTS_MODULE}`, import.meta.url));
  const wanted = await renderGradientsModule();
  const current = await Deno.readTextFile(path).catch(() => "");
  if (Deno.args.includes("--check")) {
    if (current !== wanted) {
      console.error(`${GRADIENTS_MODULE} is out of date: run 'deno task gen:gradients'`);
      Deno.exit(1);
    }
    console.log(`${GRADIENTS_MODULE} is up to date`);
  } else if (current === wanted) {
    console.log(`${GRADIENTS_MODULE} is up to date`);
  } else {
    await Deno.writeTextFile(path, wanted);
    console.log(`Wrote ${GRADIENTS_MODULE} (${(wanted.length / 1024).toFixed(0)} KiB)`);
  }
}
