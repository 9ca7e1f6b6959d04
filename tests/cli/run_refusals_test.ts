/**
 * `agent run` refuses to start, with a clear message and exit code 2, when it must not run: the
 * private key is readable by others, another daemon holds the state directory, the newest checkpoint
 * belongs to a different model, or the API port is taken.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { agentCli, agentOk, freeTcpPort, freeUdpPort } from "../../scripts/lib/cluster.ts";
import { saveCheckpoint } from "../../src/model/checkpoint.ts";
import { acquireStateLock, stateLayout } from "../../src/state/mod.ts";

async function initState(): Promise<{ state: string; api: number }> {
  const state = await Deno.makeTempDir({ prefix: "agent-refuse-" });
  await agentOk(["init", "--state", state, "--name", "refuser"]);
  const api = freeTcpPort();
  await Deno.writeTextFile(
    join(state, "agent.yaml"),
    `gossip:\n  port: ${freeUdpPort()}\n  broadcast: 127.255.255.255\napi:\n  listen: "127.0.0.1:${api}"\n`,
  );
  return { state, api };
}

Deno.test("agent run refuses a private key readable by others and names the chmod fix", async () => {
  const { state } = await initState();
  try {
    await Deno.chmod(stateLayout(state).privateKey, 0o644);
    const r = await agentCli(["run", "--state", state]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /agent: error: Private key .* is accessible by others \(mode 0644\)/);
    assert.match(r.stderr, /hint: Run: chmod 600 /);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("agent run refuses a state directory locked by another daemon, naming its PID", async () => {
  const { state } = await initState();
  const lock = await acquireStateLock(stateLayout(state).lock);
  try {
    const r = await agentCli(["run", "--state", state]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`State directory is in use: .* locked by PID ${Deno.pid}`));
  } finally {
    lock.release();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("agent run refuses a checkpoint made by a different model", async () => {
  const { state } = await initState();
  try {
    const other = {
      spec: { id: "mnist-mlp" },
      modelHash: new Uint8Array([9, 9, 9, 9, 9, 9, 9, 9]),
      paramCount: 10,
      getWeights: () => new Float32Array(10),
    };
    await saveCheckpoint(stateLayout(state).checkpoints, other);
    const r = await agentCli(["run", "--state", state]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /agent: error: Checkpoint .*mnist-mlp-000000000001\.ckpt" was made by a different model/,
    );
    assert.match(r.stderr, /hint: Move .* aside/);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("agent run refuses an API port in use and releases the state lock", async () => {
  const { state, api } = await initState();
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: api });
  try {
    const r = await agentCli(["run", "--state", state]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`agent: error: API address 127\\.0\\.0\\.1:${api} is already in use`));
    const lock = await acquireStateLock(stateLayout(state).lock);
    lock.release();
  } finally {
    blocker.close();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("agent run refuses a broker password file others can read, without showing the password", async () => {
  const { state } = await initState();
  try {
    const pw = join(state, "mqtt.pw");
    await Deno.writeTextFile(pw, "hunter2\n");
    await Deno.chmod(pw, 0o644);
    const yaml = join(state, "agent.yaml");
    await Deno.writeTextFile(
      yaml,
      (await Deno.readTextFile(yaml)) +
        `mqtt:\n  url: mqtt://127.0.0.1:1\n  username: site\n  passwordFile: ${pw}\n`,
    );
    const r = await agentCli(["run", "--state", state], { env: { AGENT_GOSSIP_TRANSPORT: "both" } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /agent: error: mqtt\.passwordFile: ".*mqtt\.pw" is readable by others \(mode 0644\)/,
    );
    assert.match(r.stderr, /hint: Run: chmod 600 /);
    assert.doesNotMatch(r.stderr, /hunter2/);
    assert.equal(r.stderr.split("\n").filter((l) => l.startsWith("agent: error:")).length, 1, r.stderr);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("agent run refuses a bad broker URL in one line with exit code 2", async () => {
  const { state } = await initState();
  try {
    const r = await agentCli(["run", "--state", state], {
      env: { AGENT_GOSSIP_TRANSPORT: "mqtt", AGENT_MQTT_URL: "tcp://broker:1883" },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /agent: error: mqtt\.url: "tcp:\/\/broker:1883" is not valid: mqtt:\/\/HOST/);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("agent run refuses a non-loopback API address unless api.allowRemote is set", async () => {
  const { state } = await initState();
  try {
    const r = await agentCli(["run", "--state", state], { env: { AGENT_API_LISTEN: "0.0.0.0:7070" } });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /api\.listen "0\.0\.0\.0:7070" is not a loopback address/);
    assert.match(r.stderr, /api\.allowRemote: true/);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});
