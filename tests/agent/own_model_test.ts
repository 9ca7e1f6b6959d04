/**
 * A new user's path, with a real `agent run` process: a spec and a CSV for their own sensor, both
 * outside the repository; the agent copies the spec into its state, refuses out-of-range rows (counted
 * by reason), learns from the rest, names the classes, and its API refuses out-of-range rows with 422.
 */
import assert from "node:assert/strict";
import { agentOk, AgentProcess, freeTcpPort, freeUdpPort } from "../../scripts/lib/cluster.ts";
import { SeededRandom } from "../../src/time.ts";
import { waitFor } from "../_support/wait.ts";

const SPEC = `id: model-test-sensor
version: 1
description: "3 readings, 3 activities"
seed: 5
features: 3
range: [-20, 20]
mean: [0, 0, 9.8]
std: [2, 2, 2]
classes: [idle, walk, run]
mlp: {hidden: [8], activation: relu}
`;

Deno.test("agent run learns a user's own sensor spec and CSV from outside the repo and refuses out-of-range rows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "model-own-" });
  let agent: AgentProcess | undefined;
  try {
    await Deno.mkdir(`${dir}/mine`);
    await Deno.writeTextFile(`${dir}/mine/sensor.yaml`, SPEC);
    const rng = new SeededRandom(3);
    const lines = ["activity,ax,ay,az"];
    for (let i = 0; i < 300; i++) {
      const y = i % 3;
      lines.push(
        [y, y * 3 + rng.next(), -y * 2 + rng.next(), 9.8 + rng.next()].map((v) => +v.toFixed(3)).join(","),
      );
    }
    lines.push("1,3,-2,255", "2,6,-4,NaN", "0,40,0,9.8"); // a raw-ADC row, a NaN, a value past the range
    await Deno.writeTextFile(`${dir}/mine/readings.csv`, lines.join("\n") + "\n");
    const state = `${dir}/state`;
    await agentOk(["init", "--state", state, "--model", `${dir}/mine/sensor.yaml`, "--name", "sensor"]);
    const api = `127.0.0.1:${freeTcpPort()}`;
    const config = (await Deno.readTextFile(`${state}/agent.yaml`))
      .replace(/^ {2}source: ""$/m, `  source: ${dir}/mine/readings.csv`)
      .replace(/^ {2}port: 41234$/m, `  port: ${freeUdpPort()}`)
      .replace(/^ {2}broadcast: "255\.255\.255\.255"$/m, "  broadcast: 127.255.255.255")
      .replace(/^ {2}listen: .*$/m, `  listen: ${api}`)
      .replace(/^ {2}format: .*$/m, "  format: json");
    assert.match(config, /readings\.csv/);
    await Deno.writeTextFile(`${state}/agent.yaml`, config);
    agent = new AgentProcess({ name: "sensor", state, api });
    const status = await waitFor("the sensor agent to learn", async () => {
      const s = await agent!.status();
      return s && s.accuracy !== null && s.accuracy > 0.9 ? s : undefined;
    }, { timeoutMs: 90_000 });
    assert.equal(status.model.id, "model-test-sensor");
    assert.deepEqual(status.model.classes, ["idle", "walk", "run"]);
    assert.equal(status.samples + status.heldOut, 300);
    const log = await agent.log();
    const skipped = log.split("\n").find((l) => l.includes("Skipped bad rows in the data"));
    assert.ok(skipped, log);
    assert.match(skipped, /"count":3/);
    assert.match(skipped, /out of range: 2, not a finite number: 1/);
    assert.match(skipped, /readings\.csv:302: column 4: 255 is outside the model's range \[-20, 20\]/);
    assert.equal(await Deno.readTextFile(`${state}/models/model-test-sensor.yaml`), SPEC);

    const post = (path: string, body: unknown) =>
      fetch(`http://${api}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const refused = await post("/v1/samples", { rows: [[0, 0, 9.8], [0, 0, 300]], labels: [0, 0] });
    assert.equal(refused.status, 422);
    assert.match(
      (await refused.json()).error,
      /^rows\[1\], column 3: 300 is outside the model's range \[-20, 20\]$/,
    );
    const predicted = await post("/v1/predict", { rows: [[6.5, -3.5, 10.3], [0.5, 0.5, 10.3]] });
    assert.equal(predicted.status, 200);
    const labels = (await predicted.json()).predictions.map((p: { label: string }) => p.label);
    assert.deepEqual(labels, ["run", "idle"]);
  } finally {
    await agent?.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("agent run warns when the node has no training samples", async () => {
  const state = await Deno.makeTempDir({ prefix: "model-empty-" });
  let agent: AgentProcess | undefined;
  try {
    await agentOk(["init", "--state", state, "--name", "empty"]);
    const api = `127.0.0.1:${freeTcpPort()}`;
    await Deno.writeTextFile(
      `${state}/agent.yaml`,
      `gossip:\n  port: ${freeUdpPort()}\n  broadcast: 127.255.255.255\napi:\n  listen: ${api}\nlogging:\n  format: json\n`,
    );
    agent = new AgentProcess({ name: "empty", state, api });
    await waitFor("the agent to answer", () => agent!.status(), { timeoutMs: 60_000 });
    const log = await agent.log();
    assert.match(log, /This node has no training samples/);
    assert.match(log, /set data\.source to a JSONL\/CSV file, or POST labelled rows/);
  } finally {
    await agent?.stop();
    await Deno.remove(state, { recursive: true });
  }
});
