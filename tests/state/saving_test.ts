import assert from "node:assert/strict";
import { type DiskSpace, diskSpace, SaveGuard } from "../../src/state/saving.ts";
import { tempDir } from "../_support/temp_dir.ts";

function setup() {
  let now = 0;
  const space: DiskSpace = { freeBytes: 4096, totalBytes: 614400 };
  const guard = new SaveGuard({
    now: () => now,
    wallNow: () => 1_700_000_000_000 + now,
    space: () => Promise.resolve({ ...space }),
    minBackoffMs: 1000,
    maxBackoffMs: 8000,
  });
  let full = true;
  let attempts = 0;
  const save = () => {
    attempts++;
    return full ? Promise.reject(new Error("No space left on device (os error 28)")) : Promise.resolve();
  };
  return {
    guard,
    save,
    space,
    attempts: () => attempts,
    advance: (ms: number) => (now += ms),
    setFull: (f: boolean) => (full = f),
  };
}

Deno.test("SaveGuard backs off after failures: 1 s, 2 s, 4 s … up to the cap", async () => {
  const t = setup();
  const errors: number[] = [];
  const run = () => t.guard.run("checkpoint", t.save, (_e, n) => errors.push(n));
  assert.equal(await run(), "failed");
  // Every tick of the next second is deferred without touching the disk.
  for (let i = 0; i < 10; i++) {
    t.advance(99);
    assert.equal(await run(), "deferred");
  }
  t.advance(10);
  assert.equal(await run(), "failed"); // at 1 s
  t.advance(1999);
  assert.equal(await run(), "deferred");
  t.advance(1);
  assert.equal(await run(), "failed"); // 2 s later
  t.advance(4000);
  assert.equal(await run(), "failed"); // 4 s later
  t.advance(8000);
  assert.equal(await run(), "failed"); // capped at 8 s
  t.advance(8000);
  assert.equal(await run(), "failed"); // still 8 s
  assert.equal(t.attempts(), 6);
  assert.deepEqual(errors, [1, 2, 3, 4, 5, 6]);
  const h = t.guard.health();
  assert.equal(h.ok, false);
  assert.equal(h.failures, 6);
  assert.equal(h.failingInARow, 6);
  assert.equal(h.lastError, "checkpoint: No space left on device (os error 28)");
  assert.equal(h.failingSince, new Date(1_700_000_000_000).toISOString());
  assert.equal(h.freeBytes, 4096);
  assert.equal(h.totalBytes, 614400);
});

Deno.test("SaveGuard tries again at once when space comes back, and reports ok again", async () => {
  const t = setup();
  assert.equal(await t.guard.run("checkpoint", t.save), "failed");
  assert.equal(await t.guard.run("status", t.save), "failed");
  t.advance(100);
  assert.equal(await t.guard.run("checkpoint", t.save), "deferred");
  // Someone deletes a file: 200 KiB free. The next tick tries, well before the back-off ends.
  t.space.freeBytes = 200 * 1024;
  t.setFull(false);
  t.advance(100);
  assert.equal(await t.guard.run("checkpoint", t.save), "saved");
  // The status writes still back off on their own until they succeed too.
  assert.equal(t.guard.health().ok, false);
  assert.match(t.guard.health().lastError!, /^status: /);
  assert.equal(await t.guard.run("status", t.save), "saved");
  const h = t.guard.health();
  assert.equal(h.ok, true);
  assert.equal(h.lastError, null);
  assert.equal(h.failingSince, null);
  assert.equal(h.failures, 2);
  assert.equal(h.freeBytes, 200 * 1024);
});

Deno.test("SaveGuard runs a forced save (shutdown's last checkpoint) even while backing off", async () => {
  const t = setup();
  await t.guard.run("checkpoint", t.save);
  assert.equal(await t.guard.run("checkpoint", t.save), "deferred");
  t.setFull(false);
  assert.equal(await t.guard.run("checkpoint", t.save, undefined, true), "saved");
  assert.equal(t.guard.health().ok, true);
});

Deno.test("diskSpace() reads the free and total bytes of a real filesystem", async () => {
  await using dir = await tempDir();
  const s = await diskSpace(dir.path);
  assert.ok(s.totalBytes > 0 && s.freeBytes >= 0 && s.freeBytes <= s.totalBytes, JSON.stringify(s));
});
