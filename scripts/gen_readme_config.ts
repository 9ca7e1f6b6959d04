/**
 * Prints the README's configuration reference table, generated from the config key table
 * (`deno run scripts/gen_readme_config.ts`). A test checks that the README contains its output.
 *
 * @module
 */
import { renderConfigReference } from "../src/config/mod.ts";

if (import.meta.main) console.log(renderConfigReference());
