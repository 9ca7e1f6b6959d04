/**
 * `deno task gen:gradients [--check]`: writes `src/model/_gradients.js` (tfjs's gradient functions,
 * bundled; scripts/lib/gradients_bundle.ts). With `--check` it writes nothing and exits 1 when the file
 * is out of date (a test runs the same check).
 *
 * @module
 */
import { GRADIENTS_MODULE, renderGradientsModule } from "./lib/gradients_bundle.ts";
import { syncGenerated } from "./lib/generated.ts";

if (import.meta.main) {
  await syncGenerated(GRADIENTS_MODULE, renderGradientsModule, "gen:gradients", Deno.args);
}
