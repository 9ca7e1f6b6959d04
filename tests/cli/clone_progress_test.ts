import assert from "node:assert/strict";
import { renderFleetSummary, renderFleetTable } from "../../src/cli/clone_progress.ts";
import type { HostResult } from "../../src/replicate/fleet.ts";

Deno.test("renderFleetTable() shows each board's step, upload and time", () => {
  const lines = renderFleetTable([
    { target: "root@a" },
    {
      target: "root@b (port 2222)",
      phase: "upload",
      upload: { label: "deps", sent: 42, total: 100 },
      startedAt: 1000,
    },
    { target: "root@c", phase: "service", startedAt: 0 },
    {
      target: "root@d",
      result: { target: "root@d", status: "failed", reason: "x", siblingsTrusted: [], ms: 1500 },
    },
  ], 3500);
  assert.match(lines[0], /^TARGET\s+STEP\s+TIME$/);
  assert.match(lines[1], /^root@a\s+waiting\s*$/);
  assert.match(lines[2], /^root@b \(port 2222\)\s+uploading deps \[####------\] {2}42%\s+2\.5 s$/);
  assert.match(lines[3], /service \+ health\s+3\.5 s$/);
  assert.match(lines[4], /FAILED\s+1\.5 s$/);
});

Deno.test("renderFleetSummary() gives one line per board with the reason and hint, then the counts", () => {
  const results: HostResult[] = [
    { target: "root@a", status: "up-to-date", siblingsTrusted: [], ms: 2000 },
    {
      target: "root@b",
      status: "rolled-back",
      reason: "Release r2 did not become healthy",
      hint: "fix it",
      siblingsTrusted: [],
      ms: 30000,
    },
    { target: "root@c", status: "failed", reason: "connection refused", siblingsTrusted: [], ms: 100 },
  ];
  const text = renderFleetSummary(results);
  assert.match(text, /^root@a\s+up to date\s+2\.0 s/m);
  assert.match(
    text,
    /^root@b\s+rolled back\s+30\.0 s\s+Release r2 did not become healthy\n\s+hint: fix it$/m,
  );
  assert.match(text, /^root@c\s+FAILED\s+0\.1 s\s+connection refused$/m);
  assert.match(text, /3 board\(s\): 0 installed, 1 up to date, 1 rolled back, 1 failed$/);
});
