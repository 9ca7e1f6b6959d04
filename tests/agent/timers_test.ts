import assert from "node:assert/strict";
import { startAgentTimers, Timers } from "../../src/agent/_timers.ts";
import { waitFor } from "../_support/wait.ts";

Deno.test("Timers.chain() reads the next interval after each run and never overlaps runs", async () => {
  const timers = new Timers((_, e) => assert.fail(String(e)));
  const asked: number[] = [];
  let running = 0;
  let runs = 0;
  let overlapped = false;
  timers.chain("round", () => {
    asked.push(runs);
    return runs < 2 ? 1 : 5; // stretches after two rounds (e.g. under load)
  }, async () => {
    if (running++ > 0) overlapped = true;
    await new Promise((r) => setTimeout(r, 3));
    running--;
    runs++;
  });
  await waitFor("four rounds", () => runs >= 4);
  await timers.stop();
  assert.equal(overlapped, false);
  // asked once before the first round, then once after each round ended
  assert.deepEqual(asked.slice(0, 4), [0, 1, 2, 3]);
});

Deno.test("Timers.every() skips a tick while the previous run is still going", async () => {
  const timers = new Timers((_, e) => assert.fail(String(e)));
  let release: () => void = () => {};
  let starts = 0;
  timers.every("status", 1, () => {
    starts++;
    return new Promise<void>((r) => (release = r));
  });
  let ticks = 0;
  timers.every("clock", 1, () => void ticks++);
  await waitFor("the first run", () => starts === 1);
  await waitFor("many ticks while the run is held", () => ticks >= 10);
  assert.equal(starts, 1);
  release();
  await waitFor("the next run", () => starts === 2);
  release();
  await timers.stop();
});

Deno.test("Timers.stop() clears every timer, waits for the runs in progress, and nothing runs after", async () => {
  const errors: string[] = [];
  const timers = new Timers((name, e) => errors.push(`${name}: ${(e as Error).message}`));
  let finished = false;
  let calls = 0;
  timers.every("slow", 1, async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 10));
    finished = true;
  });
  timers.chain("round", () => 1, () => {
    throw new Error("round broke");
  });
  await waitFor("a slow run and a failed round", () => calls >= 1 && errors.length >= 1);
  await timers.stop();
  assert.equal(finished, true, "stop() returned before the run in progress ended");
  assert.equal(timers.stopped, true);
  const after = calls;
  timers.every("late", 1, () => void calls++);
  await timers.run("late", () => void calls++);
  assert.equal(calls, after);
  assert.match(errors[0], /^round: round broke$/);
  // Deno's sanitizers fail this test if any timer were left running.
});

Deno.test("startAgentTimers() evaluates at once, then runs rounds, evaluations, status and history", async () => {
  const timers = new Timers((_, e) => assert.fail(String(e)));
  const count = { round: 0, evaluate: 0, status: 0, history: 0 };
  startAgentTimers(timers, {
    nextRoundMs: () => 1,
    round: () => Promise.resolve(void count.round++),
    evaluate: () => Promise.resolve(void count.evaluate++),
    writeStatus: () => Promise.resolve(void count.status++),
    recordHistory: () => void count.history++,
    historyMs: 1,
  });
  assert.equal(count.evaluate, 1, "the first evaluation starts at once");
  await waitFor("rounds and history samples", () => count.round >= 3 && count.history >= 3);
  await timers.stop();
  // Deno's sanitizers fail this test if a timer were left behind.
});
