/**
 * `deno task gen:dashboard [-- --check]`: writes `src/api/dashboard/assets.ts` (the dashboard's
 * JS and CSS, uPlot included, as string constants). With `--check` it writes nothing and exits 1 when
 * the file is out of date (a test runs the same check).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { ASSETS_MODULE, renderAssetsModule } from "./lib/dashboard_assets.ts";

if (import.meta.main) {
  const path = fileURLToPath(new URL(`../${ASSETS_MODULE}`, import.meta.url));
  const wanted = await renderAssetsModule();
  const current = await Deno.readTextFile(path).catch(() => "");
  if (Deno.args.includes("--check")) {
    if (current !== wanted) {
      console.error(`${ASSETS_MODULE} is out of date: run 'deno task gen:dashboard'`);
      Deno.exit(1);
    }
    console.log(`${ASSETS_MODULE} is up to date`);
  } else if (current === wanted) {
    console.log(`${ASSETS_MODULE} is up to date`);
  } else {
    await Deno.writeTextFile(path, wanted);
    console.log(`Wrote ${ASSETS_MODULE} (${wanted.length} characters)`);
  }
}
