/**
 * The house's layering, checked (README "Layers"): every import in `src/` is read, and the test fails
 * on an import from a lower floor up to a higher one, on an import circle (between folders, or between
 * files), and on a cross-folder import that bypasses the folder's `mod.ts` face. Like denoland/std's
 * circular-dependency check, so the README's claim cannot drift unseen.
 */
import assert from "node:assert/strict";
import { basename, join, relative } from "node:path";
import { relativeImports, tsFiles } from "./_support/imports.ts";
import { ROOT } from "./_support/root.ts";

/**
 * Floors, lowest first (README "Layers"). A folder may import its own floor or lower ones. `.` is the
 * files directly in `src/` (errors, log, time, bytes, version); `main.ts` is the entry on top.
 */
export const FLOORS: readonly (readonly string[])[] = [
  [".", "wire", "identity", "model", "config", "state"],
  ["learn", "gossip", "api", "systemd"],
  ["agent", "replicate", "sim", "data"],
  ["cli"],
  ["main.ts"],
];

/**
 * Imports that never happen even though the floors would allow them: the daemon never imports the
 * simulator or its example datasets (see README).
 */
const FORBIDDEN: readonly [from: string, to: string][] = [["agent", "sim"], ["agent", "data"]];

const SRC = join(ROOT, "src");

interface Edge {
  from: string;
  to: string;
  line: number;
  /** A dynamic `import()` (loaded on demand). */
  dynamic: boolean;
}

/** Relative imports (static, re-exports and dynamic) of every file under src/. */
function importEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of tsFiles(SRC)) {
    for (const imp of relativeImports(file)) {
      const to = relative(SRC, imp.target);
      if (to.startsWith("..")) continue; // outside src/ (deno.json for the version)
      edges.push({ from: relative(SRC, file), to, line: imp.line, dynamic: imp.dynamic });
    }
  }
  return edges;
}

/** The folder a file under src/ belongs to (`.` for the top-level files, `main.ts` for the entry). */
export function folderOf(path: string): string {
  if (path === "main.ts") return "main.ts";
  return path.includes("/") ? path.split("/")[0] : ".";
}

function floorOf(folder: string): number {
  const f = FLOORS.findIndex((names) => names.includes(folder));
  if (f < 0) throw new Error(`Folder src/${folder}/ has no floor: add it to FLOORS and the README`);
  return f;
}

/** Strongly connected components with more than one node (Tarjan), i.e. the import circles. */
export function circles(nodes: string[], next: (n: string) => string[]): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of next(v)) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const n of nodes) if (!idx.has(n)) visit(n);
  return out;
}

const EDGES = importEdges();

Deno.test("every folder of src/ sits on a floor, and no import points up a floor", () => {
  const up = EDGES.filter((e) => floorOf(folderOf(e.from)) < floorOf(folderOf(e.to)))
    .map((e) =>
      `src/${e.from}:${e.line} imports src/${e.to} (floor ${floorOf(folderOf(e.from)) + 1} → ${
        floorOf(folderOf(e.to)) + 1
      })`
    );
  assert.deepEqual(up, []);
  const forbidden = EDGES.filter((e) =>
    FORBIDDEN.some(([a, b]) => folderOf(e.from) === a && folderOf(e.to) === b)
  )
    .map((e) => `src/${e.from}:${e.line} imports src/${e.to}`);
  assert.deepEqual(forbidden, [], "the daemon never imports the simulator");
});

Deno.test("no import circles between folders or between files", () => {
  const byFolder = new Map<string, Set<string>>();
  const byFile = new Map<string, Set<string>>();
  for (const e of EDGES) {
    const a = folderOf(e.from);
    const b = folderOf(e.to);
    if (a !== b) (byFolder.get(a) ?? byFolder.set(a, new Set()).get(a)!).add(b);
    (byFile.get(e.from) ?? byFile.set(e.from, new Set()).get(e.from)!).add(e.to);
  }
  assert.deepEqual(circles([...byFolder.keys()], (n) => [...(byFolder.get(n) ?? [])]), [], "folders");
  assert.deepEqual(circles([...byFile.keys()], (n) => [...(byFile.get(n) ?? [])]), [], "files");
});

Deno.test("a cross-folder import goes through the folder's mod.ts", () => {
  // A dynamic import() may name a heavy file directly: it is loaded only by the command that needs it
  // (e.g. the QR image decoder), which is why it is not in the folder's mod.ts.
  const bypass = EDGES.filter((e) => {
    const to = folderOf(e.to);
    return !e.dynamic && to !== folderOf(e.from) && to !== "." && !e.to.endsWith("/mod.ts");
  }).map((e) => `src/${e.from}:${e.line} imports src/${e.to}`);
  assert.deepEqual(bypass, []);
});

/**
 * Folders whose file names follow the `_` rule below (as in denoland/std). The other folders follow when the
 * branches now editing them are merged: add them here then.
 */
const PRIVATE_PREFIX_FOLDERS: readonly string[] = [
  "agent",
  "data",
  "identity",
  "model",
  "replicate",
  "state",
  "systemd",
  "wire",
];

/** Imports of files under src/ by the scripts (scripts/, scripts/lib/, …). */
function scriptImports(): { from: string; to: string }[] {
  return tsFiles(join(ROOT, "scripts")).flatMap((p) =>
    relativeImports(p).map((imp) => ({ from: relative(ROOT, p), to: relative(SRC, imp.target) }))
      .filter((e) => !e.to.startsWith(".."))
  );
}

Deno.test("a file is named _private exactly when it is private to its folder", () => {
  // Private: its folder's mod.ts does not re-export it, and no other folder of src/ and no script imports it
  // (not even with a dynamic import()). Tests may import a private file directly, as denoland/std's do.
  const scripts = scriptImports();
  const isPrivate = (name: string) => basename(name).startsWith("_");
  const wrong: string[] = [
    ...EDGES.filter((e) => isPrivate(e.to) && folderOf(e.from) !== folderOf(e.to))
      .map((e) => `src/${e.from}:${e.line} imports src/${e.to}, private to its folder`),
    ...EDGES.filter((e) =>
      isPrivate(e.to) && basename(e.from) === "mod.ts" && folderOf(e.from) === folderOf(e.to)
    )
      .map((e) => `src/${e.from} re-exports src/${e.to}: drop the _ from its name, or do not re-export it`),
    ...scripts.filter((e) => isPrivate(e.to)).map((e) =>
      `${e.from} imports src/${e.to}, private to its folder`
    ),
  ];
  for (const file of tsFiles(SRC)) {
    const path = relative(SRC, file);
    const folder = folderOf(path);
    if (!PRIVATE_PREFIX_FOLDERS.includes(folder) || isPrivate(path) || basename(path) === "mod.ts") continue;
    const exported = EDGES.some((e) => e.to === path && e.from === `${folder}/mod.ts`);
    const usedOutside = EDGES.some((e) => e.to === path && folderOf(e.from) !== folder) ||
      scripts.some((e) => e.to === path);
    if (!exported && !usedOutside) {
      wrong.push(`src/${path} is used only inside ${folder}/: name it _${basename(path)}`);
    }
  }
  assert.deepEqual(wrong, []);
});

/** A file longer than this is asking to be split along its ideas (DEVELOPERS.md, HOUSE_STYLE.md). */
const MAX_FILE_LINES = 500;

Deno.test("no file in src/ is over 500 lines unless its module comment says why one idea needs it", () => {
  const long = tsFiles(SRC).flatMap((file) => {
    const text = Deno.readTextFileSync(file);
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    const path = relative(SRC, file);
    if (lines <= MAX_FILE_LINES) return [];
    const header = text.slice(0, text.indexOf("*/") + 2);
    return /One idea needs this length:/.test(header) ? [] : [`src/${path}: ${lines} lines`];
  });
  assert.deepEqual(long, [], "split the file, or say at its top 'One idea needs this length: <why>'");
});

Deno.test("circles() finds a cycle and only real ones", () => {
  const g: Record<string, string[]> = { a: ["b"], b: ["c"], c: ["a"], d: ["a"] };
  assert.deepEqual(circles(Object.keys(g), (n) => g[n]), [["a", "b", "c"]]);
  assert.deepEqual(circles(["x", "y"], (n) => (n === "x" ? ["y"] : [])), []);
});
