import assert from "node:assert/strict";
import { waitFor } from "./wait.ts";

Deno.test("waitFor() returns the first truthy value and retries through errors", async () => {
  let calls = 0;
  const value = await waitFor("the third call", () => {
    calls++;
    if (calls === 1) throw new Error("not listening yet");
    return calls === 3 ? "ready" : undefined;
  }, { everyMs: 1 });
  assert.equal(value, "ready");
  assert.equal(calls, 3);
});

Deno.test("waitFor() fails at the deadline naming what it waited for and the last error", async () => {
  await assert.rejects(
    waitFor("a server that never starts", () => Promise.reject(new Error("connection refused")), {
      timeoutMs: 30,
      everyMs: 5,
    }),
    /^Error: Timed out after 30 ms waiting for a server that never starts: last error: connection refused$/,
  );
  await assert.rejects(waitFor("zero", () => 0, { timeoutMs: 10, everyMs: 5 }), /waiting for zero$/);
});
