/**
 * The tests' own house, checked: tests mirror `src/` (a folder per `src/` folder, plus the known
 * groups), shared helpers live in one place (`tests/_support/`, one idea per file), and no test reaches
 * into another test's files. A test of a script lives under `tests/scripts/`.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { relativeImports, tsFiles } from "./_support/imports.ts";
import { ROOT } from "./_support/root.ts";

const TESTS = join(ROOT, "tests");

/** Folders of `tests/` that mirror no `src/` folder, and why they exist. */
const GROUPS: Record<string, string> = {
  _support: "helpers shared by tests, one idea per file (and the tests of the subtle ones)",
  integration: "real sockets, namespaces, sshd, brokers, browsers (run under the integration lock)",
  boards: "booted systemd boards (run under the boards lock)",
  scripts: "tests of scripts/",
};

/**
 * Modules of `scripts/lib/` that tests use as a harness (start agents, boot boards, cut shards);
 * importing any other module of `scripts/` means testing it, and that test lives under tests/scripts/.
 */
const HARNESS = ["cluster.ts", "boards.ts", "swarm.ts", "shards.ts"].map((f) =>
  join(ROOT, "scripts", "lib", f)
);

const isTest = (path: string) => path.endsWith("_test.ts");
const inside = (path: string, dir: string) => !relative(dir, path).startsWith("..");
/** A child program or data a test runs or reads, kept next to it in a `fixtures/` folder. */
const isFixture = (path: string) => relative(TESTS, path).split("/").slice(0, -1).includes("fixtures");

/** Every file under `dir` (not only `.ts`). */
function allFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].flatMap((e) =>
    e.isDirectory ? allFiles(join(dir, e.name)) : [join(dir, e.name)]
  );
}

Deno.test("every folder of tests/ mirrors a src/ folder or is a known group", () => {
  const srcFolders = new Set(
    [...Deno.readDirSync(join(ROOT, "src"))].filter((e) => e.isDirectory).map((e) => e.name),
  );
  const stray = [...Deno.readDirSync(TESTS)]
    .filter((e) => e.isDirectory && !srcFolders.has(e.name) && !(e.name in GROUPS))
    .map((e) => `tests/${e.name}/`);
  assert.deepEqual(stray, [], "name the folder after the src/ folder it tests, or add it to GROUPS with why");
});

Deno.test("helpers live in tests/_support/: elsewhere tests/ holds only *_test.ts files and fixtures/", () => {
  const stray = allFiles(TESTS)
    .filter((f) => !inside(f, join(TESTS, "_support")) && !isTest(f) && !isFixture(f))
    .map((f) => relative(ROOT, f));
  assert.deepEqual(stray, [], "move shared helpers to tests/_support/<idea>.ts, child programs to fixtures/");
});

Deno.test("a test imports src/, scripts/, tests/_support/ or its own fixtures/, never another test's files", () => {
  const bad: string[] = [];
  for (const file of tsFiles(TESTS)) {
    const support = inside(file, join(TESTS, "_support"));
    for (const imp of relativeImports(file)) {
      if (!inside(imp.target, TESTS)) continue;
      const ok = inside(imp.target, join(TESTS, "_support")) ||
        (!support && isFixture(imp.target) && inside(imp.target, join(dirname(file), "fixtures")));
      if (!ok) bad.push(`${relative(ROOT, file)}:${imp.line} imports ${imp.specifier}`);
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("code outside tests/ imports from tests/ only through tests/_support/", () => {
  const bad: string[] = [];
  for (const dir of ["src", "scripts"]) {
    for (const file of tsFiles(join(ROOT, dir))) {
      for (const imp of relativeImports(file)) {
        if (inside(imp.target, TESTS) && !inside(imp.target, join(TESTS, "_support"))) {
          bad.push(`${relative(ROOT, file)}:${imp.line} imports ${imp.specifier}`);
        }
      }
    }
  }
  assert.deepEqual(bad, []);
  // src/ is the product: it never imports tests at all.
  for (const file of tsFiles(join(ROOT, "src"))) {
    for (const imp of relativeImports(file)) {
      assert.ok(!inside(imp.target, TESTS), `${file} imports ${imp.specifier}`);
    }
  }
});

Deno.test("a test of a script lives under tests/scripts/ (the agent harness of scripts/lib/ may be used anywhere)", () => {
  const misplaced: string[] = [];
  for (const file of tsFiles(TESTS).filter(isTest)) {
    if (inside(file, join(TESTS, "scripts"))) continue;
    for (const imp of relativeImports(file)) {
      if (inside(imp.target, join(ROOT, "scripts")) && !HARNESS.includes(imp.target)) {
        misplaced.push(`${relative(ROOT, file)} tests ${relative(ROOT, imp.target)}`);
      }
    }
  }
  assert.deepEqual(misplaced, []);
});

Deno.test("every helper in tests/_support/ is used beyond its own test (no dead helpers)", () => {
  const support = tsFiles(join(TESTS, "_support")).filter((f) => !isTest(f));
  const ownTests = new Set(tsFiles(join(TESTS, "_support")).filter(isTest));
  const used = new Set<string>();
  for (const file of [...tsFiles(TESTS), ...tsFiles(join(ROOT, "scripts"))]) {
    if (ownTests.has(file)) continue;
    for (const imp of relativeImports(file)) if (imp.target !== file) used.add(imp.target);
  }
  assert.deepEqual(support.filter((f) => !used.has(f)).map((f) => relative(ROOT, f)), []);
});
