/**
 * `agent clone` ships the board's own model spec: a parent initialised with a spec from outside the
 * repository (`agent init --model PATH`) clones itself over real OpenSSH on loopback; the child gets
 * `<state>/models/<id>.yaml`, a config that names the model by id (the parent's spec path means
 * nothing on the child), and runs the same model (same hash).
 *
 * Needs Debian's openssh-server and openssh-client, tar, gzip; runs as root.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AGENT_FLAGS, MAIN } from "../../scripts/lib/cluster.ts";
import { run } from "../_support/command.ts";
import { cloneTarget, sshdAvailable, startSshd } from "../_support/sshd.ts";

const SPEC = `id: model-clone-sensor
version: 1
description: "6 readings, 2 classes"
seed: 9
features: 6
range: [0, 1]
classes: [off, on]
mlp: {hidden: [4], activation: relu}
`;

Deno.test({
  name: "agent clone ships the board's own model spec, and the child runs it by id",
  ignore: !sshdAvailable(),
}, async () => {
  await using sshd = await startSshd();
  const work = await Deno.makeTempDir({ prefix: "model-clone-" });
  try {
    const env = { XDG_CACHE_HOME: join(work, "cache"), HOME: work };
    const agent = (args: string[]) => run(Deno.execPath(), [...AGENT_FLAGS, MAIN, ...args], { env });
    const parentState = join(work, "parent");
    const prefix = join(work, "target", "prefix");
    const childState = join(work, "target", "state");
    await Deno.mkdir(join(work, "specs"));
    await Deno.writeTextFile(join(work, "specs", "sensor.yaml"), SPEC);
    const init = await agent(["init", "--state", parentState, "--model", join(work, "specs", "sensor.yaml")]);
    assert.equal(init.code, 0, init.stderr);
    const parentModels = JSON.parse((await agent(["models", "--json", "--state", parentState])).stdout);
    const parentHash = parentModels.find((m: { id: string }) => m.id === "model-clone-sensor").hash;

    const r = await agent([
      "clone",
      ...cloneTarget(sshd),
      "--prefix",
      prefix,
      "--remote-state",
      childState,
      "--state",
      parentState,
      "--name",
      "child",
      "--no-service",
      "--json",
    ]);
    assert.equal(r.code, 0, `${r.stderr}\n${sshd.log()}`);
    const report = JSON.parse(r.stdout);
    assert.ok(report.seeded.includes("models"), r.stdout);
    assert.equal(await Deno.readTextFile(join(childState, "models", "model-clone-sensor.yaml")), SPEC);
    const childConfig = await Deno.readTextFile(join(childState, "agent.yaml"));
    assert.match(childConfig, /^ {2}id: model-clone-sensor$/m);
    assert.match(childConfig, /^ {2}spec: ""$/m);

    // The child's released launcher knows the spec as its own and computes the same model hash.
    const childModels = await run(join(prefix, "current", "agent"), [
      "models",
      "--json",
      "--state",
      childState,
    ], { env });
    assert.equal(childModels.code, 0, childModels.stderr);
    const mine = JSON.parse(childModels.stdout).find((m: { id: string }) => m.id === "model-clone-sensor");
    assert.equal(mine.origin, "local");
    assert.equal(mine.hash, parentHash);
    const infer = await run(
      join(prefix, "current", "agent"),
      ["infer", "--state", childState, "--backend", "cpu"],
      { env },
    );
    // (stdin is null: it says there are no input rows, after resolving the model; exit 2, no trace.)
    assert.equal(infer.code, 2, infer.stderr);
    assert.doesNotMatch(infer.stderr, /Unknown model|at .*\.ts:\d+/);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
