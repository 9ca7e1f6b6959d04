/**
 * The remote install scripts run in a real `sh` with real tar/gzip/sha256sum on a temp prefix: the
 * same commands the target runs over SSH.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  INSTALL_EXIT,
  installFailure,
  installScript,
  rollbackScript,
  uploadScript,
} from "../../src/replicate/install.ts";
import { sha256File } from "../../src/replicate/runtime.ts";
import { toHex } from "../../src/bytes.ts";

async function sh(script: string, input?: Uint8Array) {
  const child = new Deno.Command("sh", { args: ["-s"], stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const w = child.stdin.getWriter();
  // `sh -s` reads the script from stdin; data for the script follows via a here-document-free path:
  // write it to a temp file instead when given.
  let tmp: string | undefined;
  if (input) {
    tmp = await Deno.makeTempFile();
    await Deno.writeFile(tmp, input);
    script = `exec < ${tmp}\n${script}`;
  }
  await w.write(new TextEncoder().encode(script));
  await w.close();
  const out = await child.output();
  if (tmp) await Deno.remove(tmp);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function sha256Bytes(b: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", b as Uint8Array<ArrayBuffer>);
  return toHex(d);
}

/** A fake release tarball whose `agent --version` prints `version` (or fails when `broken`). */
async function fakeRelease(
  work: string,
  id: string,
  opts: { broken?: boolean; badManifest?: boolean } = {},
): Promise<{ path: string; sha256: string }> {
  const dir = join(work, `src-${id}`);
  await Deno.mkdir(join(dir, "lib"), { recursive: true });
  await Deno.writeTextFile(
    join(dir, "agent"),
    opts.broken ? "#!/bin/sh\necho 'exec format error' >&2\nexit 1\n" : `#!/bin/sh\necho "agent ${id}"\n`,
  );
  await Deno.chmod(join(dir, "agent"), 0o755);
  await Deno.writeTextFile(join(dir, "lib", "data.txt"), `payload of ${id}\n`);
  await Deno.symlink("lib/data.txt", join(dir, "data-link"));
  await Deno.writeTextFile(join(dir, "LINKS"), "data-link -> lib/data.txt\n");
  const lines = [];
  for (const f of ["LINKS", "agent", "lib/data.txt"]) lines.push(`${await sha256File(join(dir, f))}  ${f}`);
  if (opts.badManifest) lines[2] = `${"0".repeat(64)}  lib/data.txt`;
  await Deno.writeTextFile(join(dir, "MANIFEST"), lines.join("\n") + "\n");
  const path = join(work, `${id}.app.tar.gz`);
  const out = await new Deno.Command("tar", {
    args: ["-czf", path, "-C", dir, "agent", "lib", "data-link", "LINKS", "MANIFEST"],
  }).output();
  assert.ok(out.success);
  return { path, sha256: await sha256File(path) };
}

async function upload(prefix: string, name: string, file: string, clean = true) {
  const r = await sh(uploadScript(prefix, name, clean), await Deno.readFile(file));
  assert.equal(r.code, 0, r.stderr);
}

async function install(prefix: string, id: string, sha256: string) {
  return await sh(installScript({
    prefix,
    id,
    unpack: [{ name: `${id}.app.tar.gz`, sha256 }],
    reuse: [],
    alreadyUnpacked: false,
  }));
}

const current = async (prefix: string) => await Deno.readLink(join(prefix, "current")).catch(() => "");
const releases = async (prefix: string) => {
  const names: string[] = [];
  for await (const e of Deno.readDir(join(prefix, "releases"))) names.push(e.name);
  return names.sort();
};

Deno.test("installScript() installs, switches current atomically and keeps only the previous release", async () => {
  const work = await Deno.makeTempDir();
  try {
    const prefix = join(work, "prefix");
    for (const [i, id] of ["r1", "r2", "r3"].entries()) {
      const rel = await fakeRelease(work, id);
      await upload(prefix, `${id}.app.tar.gz`, rel.path);
      const r = await install(prefix, id, rel.sha256);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`installed=${id}`));
      assert.equal(await current(prefix), `releases/${id}`);
      const v = await new Deno.Command(join(prefix, "current", "agent"), { args: ["--version"] }).output();
      assert.equal(new TextDecoder().decode(v.stdout).trim(), `agent ${id}`);
      assert.deepEqual(await releases(prefix), i === 0 ? ["r1"] : i === 1 ? ["r1", "r2"] : ["r2", "r3"]);
      assert.equal(await Deno.readLink(join(prefix, "current", "data-link")), "lib/data.txt");
    }
    // The upload area is cleaned after an install.
    await assert.rejects(Deno.stat(join(prefix, ".incoming")));
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("installScript() leaves the previous release in place on a bad checksum, broken binary or manifest mismatch", async () => {
  const work = await Deno.makeTempDir();
  try {
    const prefix = join(work, "prefix");
    const good = await fakeRelease(work, "good");
    await upload(prefix, "good.app.tar.gz", good.path);
    assert.equal((await install(prefix, "good", good.sha256)).code, 0);

    const cases: {
      id: string;
      opts: { broken?: boolean; badManifest?: boolean };
      corrupt?: boolean;
      exit: number;
    }[] = [
      { id: "corrupt", opts: {}, corrupt: true, exit: INSTALL_EXIT.checksum },
      { id: "broken", opts: { broken: true }, exit: INSTALL_EXIT.broken },
      { id: "mismatch", opts: { badManifest: true }, exit: INSTALL_EXIT.checksum },
    ];
    for (const c of cases) {
      const rel = await fakeRelease(work, c.id, c.opts);
      if (c.corrupt) {
        const bytes = await Deno.readFile(rel.path);
        bytes[bytes.length >> 1] ^= 0xff;
        await Deno.writeFile(rel.path, bytes);
      }
      await upload(prefix, `${c.id}.app.tar.gz`, rel.path);
      const r = await install(prefix, c.id, rel.sha256);
      assert.equal(r.code, c.exit, `${c.id}: ${r.stderr}`);
      const f = installFailure(r.stderr);
      assert.ok(f, r.stderr);
      if (c.opts.broken) assert.match(f.message, /does not start on this board: exec format error/);
      assert.equal(await current(prefix), "releases/good", c.id);
      assert.deepEqual((await releases(prefix)).filter((n) => !n.startsWith(".")), ["good"], c.id);
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("uploadScript() exposes the file only when the transfer completed", async () => {
  const work = await Deno.makeTempDir();
  try {
    const prefix = join(work, "p");
    const data = crypto.getRandomValues(new Uint8Array(60_000));
    const r = await sh(uploadScript(prefix, "x.tar.gz", true), data);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(join(prefix, ".incoming", "x.tar.gz")), await sha256Bytes(data));
    // A second upload with cleaning removes leftovers (e.g. a .part from an interrupted clone).
    await Deno.writeTextFile(join(prefix, ".incoming", "y.tar.gz.part"), "partial");
    assert.equal((await sh(uploadScript(prefix, "z.tar.gz", true), data)).code, 0);
    const names: string[] = [];
    for await (const e of Deno.readDir(join(prefix, ".incoming"))) names.push(e.name);
    assert.deepEqual(names, ["z.tar.gz"]);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("installScript() reuses the runtime and node_modules of the current release by hard link", async () => {
  const work = await Deno.makeTempDir();
  try {
    const prefix = join(work, "prefix");
    // Release 1 carries deno and node_modules; release 2 ships only its app part and reuses both.
    const mk = async (id: string, withParts: boolean) => {
      const dir = join(work, `src-${id}`);
      await Deno.mkdir(join(dir, "node_modules", "pkg"), { recursive: true });
      await Deno.writeTextFile(join(dir, "agent"), `#!/bin/sh\necho "agent ${id}"\n`, { mode: 0o755 });
      await Deno.chmod(join(dir, "agent"), 0o755);
      await Deno.writeTextFile(join(dir, "deno"), "runtime-bytes\n", { mode: 0o755 });
      await Deno.writeTextFile(join(dir, "node_modules", "pkg", "index.js"), "export {};\n");
      const lines = [];
      for (const f of ["agent", "deno", "node_modules/pkg/index.js"]) {
        lines.push(`${await sha256File(join(dir, f))}  ${f}`);
      }
      await Deno.writeTextFile(join(dir, "MANIFEST"), lines.join("\n") + "\n");
      const path = join(work, `${id}.tar.gz`);
      const members = withParts ? ["agent", "MANIFEST", "deno", "node_modules"] : ["agent", "MANIFEST"];
      assert.ok(
        (await new Deno.Command("tar", { args: ["-czf", path, "-C", dir, ...members] }).output()).success,
      );
      return { path, sha256: await sha256File(path) };
    };
    const r1 = await mk("r1", true);
    await upload(prefix, "r1.tar.gz", r1.path);
    const i1 = await sh(
      installScript({
        prefix,
        id: "r1",
        unpack: [{ name: "r1.tar.gz", ...r1 }],
        reuse: [],
        alreadyUnpacked: false,
      }),
    );
    assert.equal(i1.code, 0, i1.stderr);
    const r2 = await mk("r2", false);
    await upload(prefix, "r2.tar.gz", r2.path);
    const i2 = await sh(installScript({
      prefix,
      id: "r2",
      unpack: [{ name: "r2.tar.gz", ...r2 }],
      reuse: ["runtime", "deps"],
      alreadyUnpacked: false,
    }));
    assert.equal(i2.code, 0, i2.stderr);
    assert.equal(await current(prefix), "releases/r2");
    const ino = async (rel: string, f: string) => (await Deno.stat(join(prefix, "releases", rel, f))).ino;
    assert.equal(await ino("r2", "deno"), await ino("r1", "deno"));
    assert.equal(await ino("r2", "node_modules/pkg/index.js"), await ino("r1", "node_modules/pkg/index.js"));
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("rollbackScript() switches current back atomically, removes the failed release, keeps state", async () => {
  const work = await Deno.makeTempDir();
  try {
    const prefix = join(work, "prefix");
    for (const id of ["good", "bad"]) {
      await Deno.mkdir(join(prefix, "releases", id), { recursive: true });
      await Deno.writeTextFile(join(prefix, "releases", id, "agent"), `#!/bin/sh\necho ${id}\n`, {
        mode: 0o755,
      });
    }
    await Deno.symlink("releases/bad", join(prefix, "current"));
    const state = join(work, "state");
    await Deno.mkdir(state);
    await Deno.writeTextFile(join(state, "agent.yaml"), "node:\n  name: x\n");

    const r = await sh(rollbackScript(prefix, "good", "bad"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^rolledBack=good$/m);
    assert.equal(await Deno.readLink(join(prefix, "current")), "releases/good");
    assert.deepEqual([...Deno.readDirSync(join(prefix, "releases"))].map((e) => e.name), ["good"]);
    assert.deepEqual([...Deno.readDirSync(prefix)].map((e) => e.name).sort(), ["current", "releases"]);
    assert.equal(await Deno.readTextFile(join(state, "agent.yaml")), "node:\n  name: x\n");

    // No complete previous release: refuse, change nothing.
    const again = await sh(rollbackScript(prefix, "gone", "good"));
    assert.equal(again.code, INSTALL_EXIT.broken);
    assert.deepEqual(installFailure(again.stderr)?.kind, "broken");
    assert.equal(await Deno.readLink(join(prefix, "current")), "releases/good");
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
