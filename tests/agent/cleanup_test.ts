import assert from "node:assert/strict";
import { CleanupPool, withCleanup } from "../../src/agent/_cleanup.ts";

Deno.test("CleanupPool.closeAll() undoes newest first, awaits each, and goes on past a failing undo", async () => {
  const pool = new CleanupPool();
  const done: string[] = [];
  pool.add("lock", () => void done.push("lock"));
  pool.add("socket", async () => {
    await Promise.resolve();
    done.push("socket");
  });
  pool.add("model", () => {
    throw new Error("dispose failed");
  });
  pool.add("server", () => void done.push("server"));
  assert.deepEqual(pool.pending, ["lock", "socket", "model", "server"]);
  const failures: string[] = [];
  await pool.closeAll((what, e) => failures.push(`${what}: ${(e as Error).message}`));
  assert.deepEqual(done, ["server", "socket", "lock"]);
  assert.deepEqual(failures, ["model: dispose failed"]);
  assert.deepEqual(pool.pending, []);
  await pool.closeAll(); // empty now: nothing runs twice
  assert.deepEqual(done, ["server", "socket", "lock"]);
});

Deno.test("withCleanup() undoes what earlier steps took when a later step fails, and rethrows its error", async () => {
  const done: string[] = [];
  const late = new Error("API port taken");
  await assert.rejects(
    withCleanup(async (pool) => {
      pool.add("daemon", () => void done.push("daemon"));
      pool.add("model", () => void done.push("model"));
      await Promise.resolve();
      throw late;
    }),
    (e) => e === late,
  );
  assert.deepEqual(done, ["model", "daemon"]);
});

Deno.test("withCleanup() undoes nothing when every step succeeds", async () => {
  const done: string[] = [];
  const value = await withCleanup((pool) => {
    pool.add("daemon", () => void done.push("daemon"));
    return Promise.resolve(42);
  });
  assert.equal(value, 42);
  assert.deepEqual(done, []);
});
