import assert from "node:assert/strict";
import { join } from "node:path";
import { RUN_PROGRAMS } from "../../src/replicate/launcher.ts";
import { ROOT } from "../_support/root.ts";

/** Every .ts file under src/, with its text. */
function sources(): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  const visit = (rel: string) => {
    for (const e of Deno.readDirSync(join(ROOT, rel))) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory) visit(p);
      else if (p.endsWith(".ts")) out.push({ path: p, text: Deno.readTextFileSync(join(ROOT, p)) });
    }
  };
  visit("src");
  return out;
}

/** The helpers that pass their first argument to `new Deno.Command` (function name → file). */
const RUN_HELPERS: Record<string, string> = { cmd: "src/cli/service.ts", must: "src/cli/service.ts" };
RUN_HELPERS.sh = "src/replicate/release.ts";

Deno.test("the release's --allow-run list names every program the source runs, and nothing else", () => {
  const found = new Map<string, string>();
  const unexplained: string[] = [];
  for (const { path, text } of sources()) {
    // Direct spawns: the program must be a string literal, or the parameter of a known helper.
    for (const m of text.matchAll(/new Deno\.Command\(\s*([^,]+),/g)) {
      const arg = m[1].trim();
      const literal = arg.match(/^"([^"]+)"$/);
      if (literal) found.set(literal[1], path);
      else if (arg === "Deno.execPath()" && path === "src/replicate/_bundle.ts") {
        // deno bundle runs only from a source checkout (unrestricted --allow-run); a release repackages
        // its own app/ and never bundles.
      } else if (!(["program", "cmd"].includes(arg) && Object.values(RUN_HELPERS).includes(path))) {
        unexplained.push(`${path}: new Deno.Command(${arg}`);
      }
    }
    // Calls of the helpers with a literal program.
    for (const [helper, file] of Object.entries(RUN_HELPERS)) {
      if (path !== file) continue;
      for (const m of text.matchAll(new RegExp(`\\b${helper}\\(\\s*"([^"]+)"`, "g"))) found.set(m[1], path);
    }
  }
  assert.deepEqual(unexplained, [], "spawns whose program this test cannot see");
  const missing = [...found].filter(([p]) => !(RUN_PROGRAMS as readonly string[]).includes(p));
  assert.deepEqual(missing, [], "programs the source runs that the released launcher does not allow");
  const unused = RUN_PROGRAMS.filter((p) => !found.has(p));
  assert.deepEqual(unused, [], "programs the launcher allows that nothing runs");
  // The one that a real board caught missing (issue 13).
  assert.equal(found.get("getent"), "src/cli/service.ts");
});
