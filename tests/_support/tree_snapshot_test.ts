import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "./temp_dir.ts";
import { changedPaths, snapshotTree } from "./tree_snapshot.ts";

Deno.test("snapshotTree() sees a new empty directory, a same-bytes rewrite and a replaced file", () =>
  withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "keys"));
    await Deno.writeTextFile(join(dir, "keys", "a"), "same");
    await Deno.writeTextFile(join(dir, "b"), "same");
    const before = await snapshotTree(dir);
    assert.deepEqual(await snapshotTree(dir), before, "reading changes nothing");

    await Deno.mkdir(join(dir, "empty"));
    assert.deepEqual(changedPaths(before, await snapshotTree(dir)), ["empty"]);
    await Deno.remove(join(dir, "empty"));

    const mtime = new Date(Date.now() - 60_000);
    await Deno.utime(join(dir, "b"), mtime, mtime);
    const old = await snapshotTree(dir);
    await Deno.writeTextFile(join(dir, "b"), "same"); // same bytes, new mtime
    assert.deepEqual(changedPaths(old, await snapshotTree(dir)), ["b"]);

    const atMtime = await snapshotTree(dir);
    await Deno.writeTextFile(join(dir, "keys", "a.tmp"), "same");
    await Deno.rename(join(dir, "keys", "a.tmp"), join(dir, "keys", "a")); // an atomic replace: new inode
    assert.ok(changedPaths(atMtime, await snapshotTree(dir)).includes("keys/a"));
  }));

Deno.test("snapshotTree() of a missing directory is empty; skip leaves out entries but not their children", () =>
  withTempDir(async (dir) => {
    assert.deepEqual(await snapshotTree(join(dir, "none")), new Map());
    await Deno.mkdir(join(dir, "prefix", ".incoming"), { recursive: true });
    await Deno.writeTextFile(join(dir, "prefix", "agent"), "x");
    await Deno.writeTextFile(join(dir, "prefix", ".incoming", "r.part"), "y");
    const snap = await snapshotTree(dir, {
      skip: (rel) => rel === "prefix" || rel.startsWith("prefix/.incoming"),
    });
    assert.deepEqual([...snap.keys()], ["prefix/agent"]);
  }));
