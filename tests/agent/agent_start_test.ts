/**
 * `Agent.start` as a whole, in this process with a real UDP socket and a real API socket: a step that fails
 * late undoes every earlier one (the lock released, the sockets closed, the models disposed, no timer left:
 * Deno's sanitizers fail a test that leaks a timer or a resource), and a started agent stops cleanly.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Agent } from "../../src/agent/mod.ts";
import type { Config } from "../../src/config/mod.ts";
import { UsageError } from "../../src/errors.ts";
import { acquireStateLock } from "../../src/state/mod.ts";
import { type Board, keptLogger, makeBoard } from "../_support/small_board.ts";

function start(board: Board, config: Config, logger = keptLogger().logger): Promise<Agent> {
  return Agent.start({
    config,
    state: board.state,
    configPath: board.state.config,
    loadConfig: () => Promise.resolve(config),
    logger,
    version: "test",
  });
}

/** The state lock and the gossip port are free again, and no checkpoint or boot epoch is half made. */
async function assertUndone(board: Board, config: Config): Promise<void> {
  const lock = await acquireStateLock(board.state.lock);
  lock.release();
  const udp = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: config.gossip.port });
  udp.close();
}

Deno.test("Agent.start() undoes the daemon, the socket, the lock and the models when the API port is taken", async () => {
  await using board = await makeBoard();
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (blocker.addr as Deno.NetAddr).port;
    const config = board.config({ "api.listen": `127.0.0.1:${port}` });
    const { logger, lines } = keptLogger();
    await assert.rejects(
      start(board, config, logger),
      (e) => e instanceof UsageError && e.message.includes(`${port} is already in use`),
    );
    // the late step came after gossip had started: it was running, and is stopped now
    assert.ok(lines.some((l) => l.msg === "Gossip started"), JSON.stringify(lines));
    assert.ok(!lines.some((l) => l.msg === "Agent running"));
    assert.ok(!lines.some((l) => String(l.msg).startsWith("Cannot undo")), JSON.stringify(lines));
    await assertUndone(board, config);
  } finally {
    blocker.close();
  }
});

Deno.test("Agent.start() undoes the claimed socket, the lock and the models when the data cannot be read", async () => {
  await using board = await makeBoard();
  const missing = join(board.dir, "gone.jsonl");
  const config = board.config({ "data.source": missing });
  const { logger, lines } = keptLogger();
  await assert.rejects(
    start(board, config, logger),
    (e) => e instanceof UsageError && e.message.includes(missing),
  );
  assert.ok(!lines.some((l) => l.msg === "Gossip started"), "the daemon never started");
  await assertUndone(board, config);
  // the boot epoch is taken only when gossip starts: a failed start burns none
  await assert.rejects(() => Deno.stat(board.state.bootEpoch), Deno.errors.NotFound);
});

Deno.test("a started agent serves its status and stops cleanly: final checkpoint, lock released, no timer left", async () => {
  await using board = await makeBoard();
  const config = board.config({ "learning.roundMs": 50 });
  const agent = await start(board, config);
  try {
    const status = await (await fetch(`http://${agent.apiAddress}/v1/status`)).json();
    assert.equal(status.model.id, "agentsplit-sensor");
    assert.equal(status.api, agent.apiAddress);
    assert.equal(agent.status().samples + agent.status().heldOut, 90);
    // a second agent on the same state directory is refused while this one runs
    await assert.rejects(start(board, board.config()), UsageError);
  } finally {
    await agent.stop("test over");
  }
  await agent.stopped;
  assert.ok([...Deno.readDirSync(board.state.checkpoints)].length > 0, "a final checkpoint");
  await assertUndone(board, config);
});

Deno.test("Agent.reload() replaces the running config: live keys take effect, restart-only keys are reported", async () => {
  await using board = await makeBoard();
  const config = board.config();
  let next = config;
  const { logger, lines } = keptLogger();
  const agent = await Agent.start({
    config,
    state: board.state,
    configPath: board.state.config,
    loadConfig: () => Promise.resolve(next),
    logger,
    version: "test",
  });
  try {
    const post = () =>
      fetch(`http://${agent.apiAddress}/v1/samples`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        // about 1.6 kB: under the default api.maxBodyBytes, over 1,024
        body: JSON.stringify({ rows: Array(100).fill([0, 0, 9.8]), labels: Array(100).fill(1) }),
      });
    const before = await post();
    assert.equal(before.status, 200, await before.text());
    next = board.config({ "api.maxBodyBytes": 1024, "learning.localSteps": 3, "node.name": "renamed" });
    await agent.reload("test");
    const after = await post();
    await after.body?.cancel();
    assert.equal(after.status, 413);
    const applied = lines.find((l) => l.msg === "Config reloaded");
    assert.deepEqual(applied?.applied, ["learning.localSteps", "api.maxBodyBytes"]);
    const restart = lines.find((l) => /need a restart/.test(String(l.msg)));
    assert.ok((restart?.keys as string[]).includes("node.name"), JSON.stringify(restart));
    assert.equal(agent.config, config, "the config the agent started with is never changed in place");
  } finally {
    await agent.stop("test over");
  }
});
