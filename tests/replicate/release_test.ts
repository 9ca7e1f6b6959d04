import assert from "node:assert/strict";
import { join } from "node:path";
import {
  buildRelease,
  excludedFromRelease,
  launcherScript,
  RUN_FLAGS,
  V8_FLAGS,
} from "../../src/replicate/release.ts";
import { type Runtime, RUNTIME_PACKAGES, sha256File } from "../../src/replicate/runtime.ts";
import { renderProgress } from "../../src/cli/clone_progress.ts";
import { CloneError } from "../../src/replicate/errors.ts";

async function tarList(path: string): Promise<string[]> {
  const out = await new Deno.Command("tar", { args: ["-tzf", path], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim().split("\n").sort();
}

async function fakeApp(root: string) {
  await Deno.mkdir(join(root, "src"), { recursive: true });
  await Deno.mkdir(join(root, "node_modules", ".deno", "pkg@1.0.0", "node_modules", "pkg"), {
    recursive: true,
  });
  await Deno.mkdir(join(root, "tests"), { recursive: true });
  await Deno.writeTextFile(join(root, "deno.json"), `{"version": "0.1.0"}`);
  await Deno.writeTextFile(join(root, "deno.lock"), `{}`);
  await Deno.writeTextFile(join(root, "src", "main.ts"), `console.log("hi");\n`);
  await Deno.writeTextFile(join(root, "tests", "x_test.ts"), `// not shipped\n`);
  const pkg = join(root, "node_modules", ".deno", "pkg@1.0.0", "node_modules", "pkg");
  await Deno.writeTextFile(join(pkg, "index.js"), "export const x = 1;\n");
  await Deno.writeTextFile(join(pkg, "index.js.map"), "{}");
  await Deno.writeTextFile(join(pkg, "index.d.ts"), "export declare const x: number;\n");
  await Deno.symlink(".deno/pkg@1.0.0/node_modules/pkg", join(root, "node_modules", "pkg"));
}

Deno.test("excludedFromRelease() drops source maps and type declarations only", () => {
  for (const p of ["a/b.js.map", "x.d.ts", "x.d.mts", "y.tsbuildinfo"]) assert.ok(excludedFromRelease(p), p);
  for (const p of ["a/b.js", "x.ts", "tfjs-backend-wasm.wasm", "digits/0.json", "mapping.js"]) {
    assert.ok(!excludedFromRelease(p), p);
  }
});

Deno.test("launcherScript() runs offline with named permissions, never --allow-all or FFI", () => {
  const text = launcherScript();
  for (const f of ["--cached-only", "--frozen", "--no-prompt", "--node-modules-dir=manual"]) {
    assert.ok(RUN_FLAGS.includes(f) && text.includes(f), f);
  }
  assert.doesNotMatch(text, /--allow-all|-A |--allow-ffi|--allow-import|--unstable-ffi/);
  assert.match(text, /--allow-run=ssh,/);
  for (const f of V8_FLAGS) {
    assert.ok(text.includes(f), `the launcher passes ${f} (bounded young generation)`);
  }
  assert.match(text, /readlink -f "\$0"/);
});

Deno.test("buildRelease() is content-addressed: same tree same id, a changed file a new id", async () => {
  const work = await Deno.makeTempDir();
  try {
    const root = join(work, "app");
    await fakeApp(root);
    const runtimePath = join(work, "deno-fake");
    await Deno.writeTextFile(runtimePath, "#!/bin/sh\necho fake deno\n");
    const runtime: Runtime = {
      arch: "x86_64",
      path: runtimePath,
      sha256: await sha256File(runtimePath),
      source: "file",
    };
    const cacheDir = join(work, "cache");
    const a = await buildRelease({ arch: "x86_64", runtime, cacheDir, root });
    const b = await buildRelease({ arch: "x86_64", runtime, cacheDir, root });
    assert.equal(a.id, b.id);
    assert.match(a.id, /^0\.1\.0-[0-9a-f]{16}$/);
    const part = (r: typeof a, name: string) => r.parts.find((p) => p.name === name)!;
    for (const p of a.parts) assert.equal(p.sha256, await sha256File(p.tarball), p.name);
    assert.deepEqual(await tarList(part(a, "app").tarball), [
      "COMPONENTS",
      "LINKS",
      "MANIFEST",
      "agent",
      "deno.json",
      "deno.lock",
      "src/",
      "src/main.ts",
    ]);
    assert.deepEqual(await tarList(part(a, "deps").tarball), [
      "node_modules/",
      "node_modules/.deno/",
      "node_modules/.deno/pkg@1.0.0/",
      "node_modules/.deno/pkg@1.0.0/node_modules/",
      "node_modules/.deno/pkg@1.0.0/node_modules/pkg/",
      "node_modules/.deno/pkg@1.0.0/node_modules/pkg/index.js",
      "node_modules/pkg",
    ]);
    assert.deepEqual(await tarList(part(a, "runtime").tarball), ["deno"]);
    assert.match(a.components, new RegExp(`^runtime ${runtime.sha256.slice(0, 32)}\ndeps [0-9a-f]{32}\n$`));
    assert.match(a.manifest, new RegExp(`^${runtime.sha256}  deno$`, "m"));
    assert.match(a.manifest, /^[0-9a-f]{64} {2}LINKS$/m);
    assert.doesNotMatch(a.manifest, /\.map$|\.d\.ts$|tests\//m);

    await Deno.writeTextFile(join(root, "src", "main.ts"), `console.log("changed");\n`);
    const c = await buildRelease({ arch: "x86_64", runtime, cacheDir, root });
    assert.notEqual(c.id, a.id);
    // Only the app part changed: deps and runtime keep their keys (the target reuses them).
    assert.equal(part(c, "deps").key, part(a, "deps").key);
    assert.equal(part(c, "runtime").key, part(a, "runtime").key);
    assert.notEqual(part(c, "app").key, part(a, "app").key);
    // A file that is not shipped does not change the id.
    await Deno.writeTextFile(join(root, "tests", "x_test.ts"), `// edited\n`);
    assert.equal((await buildRelease({ arch: "x86_64", runtime, cacheDir, root })).id, c.id);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("buildRelease() refuses an app tree without node_modules (it would need the internet)", async () => {
  const work = await Deno.makeTempDir();
  try {
    const root = join(work, "app");
    await Deno.mkdir(join(root, "src"), { recursive: true });
    await Deno.writeTextFile(join(root, "deno.json"), "{}");
    const runtime: Runtime = { arch: "x86_64", path: "/bin/sh", sha256: "x", source: "file" };
    await assert.rejects(
      buildRelease({ arch: "x86_64", runtime, cacheDir: join(work, "c"), root }),
      (e) =>
        e instanceof CloneError && /no node_modules/.test(e.message) && /deno install/.test(e.hint ?? ""),
    );
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("RUNTIME_PACKAGES pins Deno's glibc builds for both architectures", () => {
  assert.equal(RUNTIME_PACKAGES.x86_64.name, "@deno/linux-x64-glibc");
  assert.equal(RUNTIME_PACKAGES.aarch64.name, "@deno/linux-arm64-glibc");
  for (const p of Object.values(RUNTIME_PACKAGES)) {
    assert.match(p.integrity, /^sha512-[A-Za-z0-9+/]{86}==$/);
    assert.match(p.sha256, /^[0-9a-f]{64}$/);
  }
});

Deno.test("renderProgress() draws a bounded bar with percent and rate", () => {
  const mib = 1048576;
  assert.equal(
    renderProgress("app", 5 * mib, 10 * mib, 1000, 10),
    "app      [#####-----]  50% 5.0/10.0 MiB 5.0 MiB/s",
  );
  assert.match(renderProgress("runtime", 20, 10, 0, 4), /\[####\] 100%/);
  assert.match(renderProgress("x", 0, 0, 0, 4), /\[####\] 100%/);
});
