/**
 * Reading a tree's own imports as text, for the tests that check the house's walls
 * (tests/architecture_test.ts for `src/`, tests/tests_layout_test.ts for `tests/`).
 *
 * @module
 */
import { dirname, join } from "node:path";

/** One relative import of a file. */
export interface RelativeImport {
  /** The specifier as written (`../wire/mod.ts`). */
  specifier: string;
  /** The absolute path it resolves to. */
  target: string;
  /** 1-based line of the specifier. */
  line: number;
  /** A dynamic `import()` (loaded on demand). */
  dynamic: boolean;
}

/** Every `.ts` file under `dir`, sorted. */
export function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...tsFiles(p));
    else if (e.isFile && p.endsWith(".ts")) out.push(p);
  }
  return out.sort();
}

/**
 * The relative imports of `file`: static, re-exports and dynamic (bare and `npm:` ones are left out;
 * so is an import written inside a string on its line).
 */
export function relativeImports(file: string): RelativeImport[] {
  const out: RelativeImport[] = [];
  Deno.readTextFileSync(file).split("\n").forEach((text, i) => {
    for (const m of text.matchAll(/(\bfrom\s*|\bimport\s*\(\s*|^import\s*)"(\.\.?\/[^"]+)"/g)) {
      if (/["'`]/.test(text.slice(0, m.index))) continue; // inside a string: code a test writes, not an import
      out.push({
        specifier: m[2],
        target: join(dirname(file), m[2]),
        line: i + 1,
        dynamic: m[1].includes("("),
      });
    }
  });
  return out;
}
