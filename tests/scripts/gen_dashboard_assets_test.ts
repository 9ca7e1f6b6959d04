import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ASSETS_MODULE, joinClient, renderAssetsModule } from "../../scripts/lib/dashboard_assets.ts";
import { DASHBOARD_JS, UPLOT_JS, UPLOT_VERSION } from "../../src/api/dashboard/assets.ts";

Deno.test("the embedded dashboard assets match their sources and the pinned uPlot (run 'deno task gen:dashboard')", async () => {
  const path = fileURLToPath(new URL(`../../${ASSETS_MODULE}`, import.meta.url));
  assert.equal(await Deno.readTextFile(path), await renderAssetsModule());
  assert.ok(UPLOT_JS.startsWith(`/*! https://github.com/leeoniya/uPlot (v${UPLOT_VERSION}) */`));
  assert.ok(DASHBOARD_JS.startsWith("(() => {"));
});

Deno.test("joinClient() inlines format.js into the client script and refuses a changed import", () => {
  const joined = joinClient(
    "export const A = 1;\nexport function f() {}\n",
    'import { A, f } from "./format.js";\nf(A);\n',
  );
  assert.equal(joined, '(() => {\n"use strict";\nconst A = 1;\nfunction f() {}\n\nf(A);\n})();\n');
  assert.throws(() => joinClient("", 'import * as x from "./other.js";\n'), /no longer imports/);
});
