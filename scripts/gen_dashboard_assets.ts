/**
 * `deno task gen:dashboard [-- --check]`: writes `src/api/dashboard/assets.ts` (the dashboard's
 * JS and CSS, uPlot included, as string constants). With `--check` it writes nothing and exits 1 when
 * the file is out of date (a test runs the same check).
 *
 * @module
 */
import { ASSETS_MODULE, renderAssetsModule } from "./lib/dashboard_assets.ts";
import { syncGenerated } from "./lib/generated.ts";

if (import.meta.main) await syncGenerated(ASSETS_MODULE, renderAssetsModule, "gen:dashboard", Deno.args);
