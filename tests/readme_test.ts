import assert from "node:assert/strict";
import { renderConfigReference } from "../src/config/mod.ts";
import { COMMANDS } from "../src/cli/mod.ts";

const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));

/** Table rows as trimmed cells (so `deno fmt`'s column padding doesn't matter). */
function rows(markdown: string): string[] {
  return markdown.split("\n").filter((l) => l.startsWith("| `")).map((l) =>
    l.split(/(?<!\\)\|/).map((c) => c.trim()).join("|")
  );
}

Deno.test("README config reference matches the config key table", () => {
  const mine = rows(readme);
  for (const row of rows(renderConfigReference())) {
    assert.ok(
      mine.includes(row),
      `README lacks ${row}; regenerate with: deno run scripts/gen_readme_config.ts`,
    );
  }
});

Deno.test("README names every command, and only working ones", () => {
  for (const c of COMMANDS) assert.match(readme, new RegExp("`agent " + c.name + "[ `]"), c.name);
  const named = [...readme.matchAll(/^\| `agent (\w+)/gm)].map((m) => m[1]);
  for (const n of named) {
    assert.ok(COMMANDS.some((c) => c.name === n), `README names 'agent ${n}', which does not exist`);
  }
});
