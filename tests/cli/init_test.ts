import assert from "node:assert/strict";
import { join } from "node:path";
import { stateLayout } from "../../src/state/layout.ts";
import { cli } from "../_support/cli.ts";
import { snapshotTree } from "../_support/tree_snapshot.ts";
import { withTempDir } from "../_support/temp_dir.ts";

Deno.test("agent init creates the key pair (0600) once; a second run changes nothing", () =>
  withTempDir(async (tmp) => {
    const state = join(tmp, "s");
    const layout = stateLayout(state);
    const first = await cli(["init", "--state", state, "--json"]);
    assert.equal(first.code, 0, first.stderr);
    const j = JSON.parse(first.stdout);
    assert.ok(j.created.includes(layout.privateKey) && j.created.includes(layout.publicKey));
    assert.match(j.fingerprint, /^[A-Z2-7]{7}(-[A-Z2-7]{7}){3}$/);
    assert.equal((await Deno.stat(layout.privateKey)).mode! & 0o777, 0o600);
    const before = await snapshotTree(state);
    const second = await cli(["init", "--state", state]);
    assert.equal(second.code, 0);
    assert.match(second.stdout, /nothing changed/);
    assert.ok(second.stdout.includes(j.fingerprint));
    assert.deepEqual(await snapshotTree(state), before);
    // --force rewrites the config but never the key.
    await cli(["init", "--state", state, "--force"]);
    assert.equal(
      JSON.parse((await cli(["id", "--state", state, "--json"])).stdout).fingerprint,
      j.fingerprint,
    );
  }));

Deno.test("agent init refuses a private key readable by others, naming the chmod 600 fix", () =>
  withTempDir(async (tmp) => {
    const state = join(tmp, "s");
    const layout = stateLayout(state);
    await cli(["init", "--state", state]);
    await Deno.chmod(layout.privateKey, 0o644);
    const before = await snapshotTree(state);
    const r = await cli(["init", "--state", state]);
    assert.equal(r.code, 2);
    assert.ok(
      r.stderr.includes(
        `agent: error: Private key ${JSON.stringify(layout.privateKey)} is accessible by others`,
      ),
    );
    assert.ok(r.stderr.includes(`  hint: Run: chmod 600 ${layout.privateKey}`));
    assert.deepEqual(await snapshotTree(state), before);
    // `agent id` only shows the public key: it still works, with a warning.
    const id = await cli(["id", "--state", state, "--json"]);
    assert.equal(id.code, 0);
    assert.match(id.stderr, /warning: .*accessible by others/);
  }));
