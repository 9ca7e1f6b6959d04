import assert from "node:assert/strict";
import { join } from "node:path";
import { hostName, loadIdentityAndTrust, loadSpec } from "../../src/agent/_step_identity.ts";
import { UsageError } from "../../src/errors.ts";
import { stateLayout } from "../../src/state/mod.ts";
import { keptLogger, makeBoard } from "../_support/small_board.ts";

Deno.test("loadIdentityAndTrust() refuses a state directory without an identity and says to run agent init", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agentsplit-" });
  try {
    const { logger } = keptLogger();
    await assert.rejects(
      loadIdentityAndTrust(stateLayout(join(dir, "none")), logger),
      (e) => e instanceof UsageError && /agent init/.test(`${e.message} ${e.hint ?? ""}`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadIdentityAndTrust() loads the keys and warns that an unpaired board learns alone", async () => {
  await using board = await makeBoard();
  const { logger, lines } = keptLogger();
  const { identity, trust } = await loadIdentityAndTrust(board.state, logger);
  assert.equal(identity.publicKey.length, 32);
  assert.equal(trust.trusted().length, 0);
  assert.ok(
    lines.some((l) => l.level === "warn" && /learns alone/.test(String(l.msg))),
    JSON.stringify(lines),
  );
});

Deno.test("loadSpec() resolves a user's own spec file and logs where it came from", async () => {
  await using board = await makeBoard();
  const { logger, lines } = keptLogger();
  const spec = await loadSpec(board.config(), board.state, logger);
  assert.equal(spec.id, "agentsplit-sensor");
  assert.ok(lines.some((l) => l.msg === "Model spec" && l.id === "agentsplit-sensor"), JSON.stringify(lines));
  assert.ok(hostName().length > 0);
});
