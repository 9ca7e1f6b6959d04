import assert from "node:assert/strict";
import { join } from "node:path";
import { mqttSettings, readPrivateFile } from "../../src/agent/transport.ts";
import { loadConfig } from "../../src/config/mod.ts";
import { UsageError } from "../../src/errors.ts";
import { withTempDir } from "../_support/temp_dir.ts";

const ids = {
  modelHash: new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]),
  publicKey: new Uint8Array(32).fill(0xab),
};

Deno.test("mqttSettings() derives the topic from the model hash and the client id from the key", async () => {
  const s = await mqttSettings(
    loadConfig({ text: "gossip:\n  transport: mqtt\nmqtt:\n  url: mqtt://10.0.0.1\n" }),
    ids,
  );
  assert.equal(s.topic, "agent/deadbeef01020304");
  assert.equal(s.clientId, "agent-abababababababab");
  assert.equal(s.password, undefined);
  assert.equal(s.protocol, "5");
});

Deno.test("mqttSettings() reads the first line of a 0600 password file", async () => {
  await withTempDir(async (dir) => {
    const pw = join(dir, "pw");
    await Deno.writeTextFile(pw, "s3cret\nignored\n", { mode: 0o600 });
    await Deno.chmod(pw, 0o600);
    const c = loadConfig({
      text: `gossip:\n  transport: both\nmqtt:\n  url: mqtt://b\n  username: u\n  passwordFile: ${pw}\n`,
    });
    const s = await mqttSettings(c, ids);
    assert.equal(s.username, "u");
    assert.equal(s.password, "s3cret");
  }, "mqtt-transport-test-");
});

Deno.test("readPrivateFile() refuses a secret file others can read, a missing one and an empty password", async () => {
  await withTempDir(async (dir) => {
    const pw = join(dir, "pw");
    await Deno.writeTextFile(pw, "hunter2\n");
    await Deno.chmod(pw, 0o644);
    await assert.rejects(() => readPrivateFile(pw, "mqtt.passwordFile"), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(
        e.message,
        /^mqtt\.passwordFile: ".*pw" is readable by others \(mode 0644\); it holds a secret$/,
      );
      assert.match(e.hint!, /^Run: chmod 600 /);
      assert.ok(!e.message.includes("hunter2"));
      return true;
    });
    await Deno.chmod(pw, 0o640);
    await assert.rejects(() => readPrivateFile(pw, "mqtt.passwordFile"), /mode 0640/);
    await assert.rejects(
      () => readPrivateFile(join(dir, "nope"), "mqtt.key"),
      /^UsageError: mqtt\.key: ".*nope" does not exist$/,
    );
    await assert.rejects(() => readPrivateFile(dir, "mqtt.key"), /is not a file/);
    const empty = join(dir, "empty");
    await Deno.writeTextFile(empty, "\n");
    await Deno.chmod(empty, 0o600);
    const c = loadConfig({
      text: `gossip:\n  transport: mqtt\nmqtt:\n  url: mqtt://b\n  username: u\n  passwordFile: ${empty}\n`,
    });
    await assert.rejects(() => mqttSettings(c, ids), /mqtt\.passwordFile: ".*empty" is empty/);
  }, "mqtt-transport-test-");
});
