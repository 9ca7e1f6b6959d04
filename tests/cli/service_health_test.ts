import assert from "node:assert/strict";
import { judgeHealth, parseUnitState, type UnitState } from "../../src/cli/service_health.ts";

const RUNNING: UnitState = { activeState: "active", subState: "running", mainPid: 4242, restarts: 0 };

Deno.test("judgeHealth() is ok only when the unit runs and its own main process answers (table)", () => {
  const cases: [
    string,
    Partial<UnitState>,
    { pid: number } | { problem: string },
    number,
    string,
    RegExp?,
  ][] = [
    ["healthy", {}, { pid: 4242 }, 0, "ok"],
    [
      "starting",
      { activeState: "activating", subState: "start" },
      { problem: "x" },
      0,
      "waiting",
      /activating \(start\)/,
    ],
    [
      "between restarts",
      { activeState: "activating", subState: "auto-restart", mainPid: 0, restarts: 1 },
      { problem: "x" },
      0,
      "waiting",
      /auto-restart/,
    ],
    [
      "API not up yet",
      {},
      { problem: "nothing answers on 127.0.0.1:8080 (/v1/status)" },
      0,
      "waiting",
      /nothing answers/,
    ],
    [
      "another process answers",
      {},
      { pid: 999 },
      0,
      "waiting",
      /PID 999, not from the service's main process 4242/,
    ],
    [
      "crash loop",
      { restarts: 3 },
      { pid: 4242 },
      1,
      "failed",
      /restarted 2 times while waiting: it crashes on start/,
    ],
    [
      "start limit hit",
      { activeState: "failed", subState: "failed", mainPid: 0, restarts: 5 },
      { problem: "x" },
      5,
      "failed",
      /failed \(failed\) after 5 restart/,
    ],
    ["one restart is tolerated", { restarts: 1 }, { pid: 4242 }, 0, "ok"],
  ];
  for (const [name, unit, status, r0, kind, reason] of cases) {
    const v = judgeHealth({ ...RUNNING, ...unit }, status, r0);
    assert.equal(v.kind, kind, name);
    if (reason) assert.match((v as { reason: string }).reason, reason, name);
  }
});

Deno.test("parseUnitState() reads systemctl show output and defaults what is missing", () => {
  assert.deepEqual(
    parseUnitState("ActiveState=active\nSubState=running\nMainPID=77\nNRestarts=2\n"),
    { activeState: "active", subState: "running", mainPid: 77, restarts: 2 },
  );
  assert.deepEqual(parseUnitState(""), {
    activeState: "unknown",
    subState: "unknown",
    mainPid: 0,
    restarts: 0,
  });
});
