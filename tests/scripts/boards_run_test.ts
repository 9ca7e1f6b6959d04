import assert from "node:assert/strict";
import { run } from "../../scripts/lib/boards_rootfs.ts";

Deno.test("run() with continueIfStopped resumes a command that stops itself (as nsenter does when a container's shutdown stops its child)", async () => {
  const r = await run("sh", ["-c", "kill -STOP $$; echo resumed"], { continueIfStopped: true });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, "resumed\n");
});
