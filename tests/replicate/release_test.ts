import assert from "node:assert/strict";
import { join } from "node:path";
import {
  appKind,
  buildRelease,
  launcherScript,
  RUN_FLAGS,
  RUN_PROGRAMS,
  V8_FLAGS,
} from "../../src/replicate/release.ts";
import { ROOT } from "../_support/root.ts";
import { type Runtime, RUNTIME_PACKAGES, sha256File } from "../../src/replicate/runtime.ts";
import { renderProgress } from "../../src/cli/clone_progress.ts";
import { CloneError } from "../../src/replicate/errors.ts";

async function tarList(path: string): Promise<string[]> {
  const out = await new Deno.Command("tar", { args: ["-tzf", path], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim().split("\n").sort();
}

const WASM = [
  "tfjs-backend-wasm.wasm",
  "tfjs-backend-wasm-simd.wasm",
  "tfjs-backend-wasm-threaded-simd.wasm",
];

async function fakeApp(root: string) {
  await Deno.mkdir(join(root, "src"), { recursive: true });
  const wasm = join(root, "node_modules", "@tensorflow", "tfjs-backend-wasm", "dist");
  await Deno.mkdir(wasm, { recursive: true });
  await Deno.mkdir(join(root, "tests"), { recursive: true });
  await Deno.mkdir(join(root, "models"), { recursive: true });
  await Deno.writeTextFile(join(root, "deno.json"), `{"version": "0.1.0"}`);
  await Deno.writeTextFile(join(root, "src", "main.ts"), `import { x } from "./x.ts";\nconsole.log(x);\n`);
  await Deno.writeTextFile(join(root, "src", "x.ts"), `export const x: string = "hi";\n`);
  await Deno.writeTextFile(join(root, "tests", "x_test.ts"), `// not shipped\n`);
  await Deno.writeTextFile(join(root, "models", "tiny.yaml"), `id: tiny\n`);
  await Deno.writeTextFile(join(root, "models", "README.txt"), `not a spec\n`);
  for (const f of WASM) await Deno.writeFile(join(wasm, f), new TextEncoder().encode(`fake ${f}`));
}

async function fakeRuntime(work: string): Promise<Runtime> {
  const runtimePath = join(work, "deno-fake");
  await Deno.writeTextFile(runtimePath, "#!/bin/sh\necho fake deno\n");
  return { arch: "x86_64", path: runtimePath, sha256: await sha256File(runtimePath), source: "file" };
}

Deno.test("launcherScript() runs the bundle offline with named permissions, never --allow-all or FFI", () => {
  const text = launcherScript();
  for (const f of ["--cached-only", "--no-remote", "--no-npm", "--no-config", "--no-prompt"]) {
    assert.ok(RUN_FLAGS.includes(f) && text.includes(f), f);
  }
  assert.doesNotMatch(text, /--allow-all|-A |--allow-ffi|--allow-import|--unstable-ffi/);
  assert.ok(text.includes(`--allow-run=${RUN_PROGRAMS.join(",")}`));
  for (const p of ["ssh", "tar", "getent", "useradd", "chown", "systemctl"]) {
    assert.ok((RUN_PROGRAMS as readonly string[]).includes(p), p);
  }
  for (const f of V8_FLAGS) {
    assert.ok(text.includes(f), `the launcher passes ${f} (bounded young generation)`);
  }
  assert.match(text, /readlink -f "\$0"/);
  assert.match(text, /"\$here\/app\/main\.js" "\$@"\n$/);
});

Deno.test("buildRelease() ships a bundle, the wasm files, the models, a launcher and the runtime; content-addressed", async () => {
  const work = await Deno.makeTempDir();
  try {
    const root = join(work, "app");
    await fakeApp(root);
    const runtime = await fakeRuntime(work);
    const cacheDir = join(work, "cache");
    const a = await buildRelease({ arch: "x86_64", runtime, cacheDir, root });
    const b = await buildRelease({ arch: "x86_64", runtime, cacheDir, root });
    assert.equal(a.id, b.id);
    assert.match(a.id, /^0\.1\.0-[0-9a-f]{16}$/);
    const part = (r: typeof a, name: string) => r.parts.find((p) => p.name === name)!;
    assert.deepEqual(a.parts.map((p) => p.name), ["app", "runtime"]);
    for (const p of a.parts) assert.equal(p.sha256, await sha256File(p.tarball), p.name);
    assert.deepEqual(await tarList(part(a, "app").tarball), [
      "COMPONENTS",
      "MANIFEST",
      "agent",
      "app/",
      "app/main.js",
      "app/models/",
      "app/models/tiny.yaml",
      "app/wasm/",
      ...WASM.map((f) => `app/wasm/${f}`).sort(),
    ]);
    assert.deepEqual(await tarList(part(a, "runtime").tarball), ["deno"]);
    assert.equal(a.fileCount, 9); // agent, app/main.js, 3 wasm, 1 model, COMPONENTS, MANIFEST, deno
    assert.match(a.components, new RegExp(`^runtime ${runtime.sha256.slice(0, 32)}\n$`));
    assert.match(a.manifest, new RegExp(`^${runtime.sha256}  deno$`, "m"));
    assert.doesNotMatch(a.manifest, /src\/|tests\/|node_modules/m);

    // Unpacked, the release checks against its MANIFEST and the bundle runs (one file, no imports).
    const dir = join(work, "unpacked");
    await Deno.mkdir(dir);
    for (const p of a.parts) {
      assert.ok((await new Deno.Command("tar", { args: ["-xzf", p.tarball, "-C", dir] }).output()).success);
    }
    const check = await new Deno.Command("sha256sum", {
      args: ["-c", "--quiet", "--strict", "MANIFEST"],
      cwd: dir,
    })
      .output();
    assert.ok(check.success);
    const ran = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "--no-npm", "--no-remote", join(dir, "app", "main.js")],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(ran.stdout), "hi\n");

    // A board clones onward from its own release: the same files, the same id.
    const onward = await buildRelease({ arch: "x86_64", runtime, cacheDir: join(work, "cache2"), root: dir });
    assert.equal(onward.id, a.id);

    await Deno.writeTextFile(join(root, "src", "x.ts"), `export const x: string = "changed";\n`);
    const c = await buildRelease({ arch: "x86_64", runtime, cacheDir, root });
    assert.notEqual(c.id, a.id);
    // Only the app part changed: the runtime keeps its key (the target reuses it).
    assert.equal(part(c, "runtime").key, part(a, "runtime").key);
    assert.notEqual(part(c, "app").key, part(a, "app").key);
    // A file that is not shipped does not change the id.
    await Deno.writeTextFile(join(root, "tests", "x_test.ts"), `// edited\n`);
    assert.equal((await buildRelease({ arch: "x86_64", runtime, cacheDir, root })).id, c.id);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("buildRelease() refuses a checkout without the tfjs wasm files (run 'deno install')", async () => {
  const work = await Deno.makeTempDir();
  try {
    const root = join(work, "app");
    await fakeApp(root);
    await Deno.remove(join(root, "node_modules"), { recursive: true });
    await assert.rejects(
      buildRelease({ arch: "x86_64", runtime: await fakeRuntime(work), cacheDir: join(work, "c"), root }),
      (e) =>
        e instanceof CloneError && /has no .*tfjs-backend-wasm\.wasm/.test(e.message) &&
        /deno install/.test(e.hint ?? ""),
    );
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("appKind() tells a checkout from an unpacked release", async () => {
  const work = await Deno.makeTempDir();
  try {
    await fakeApp(join(work, "app"));
    assert.equal(appKind(join(work, "app")), "source");
    assert.equal(appKind(work), undefined);
    assert.equal(appKind(ROOT), "source");
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
