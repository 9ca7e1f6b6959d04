/**
 * The README's first command: `deno task demo` with 2 agents and a low target, in JSON mode. It must
 * reach the target, print one JSON summary line and leave no agent process or temp directory behind.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const DEMO = fileURLToPath(new URL("../../scripts/demo.ts", import.meta.url));

async function agentProcesses(): Promise<string[]> {
  const out = await new Deno.Command("ps", { args: ["-eo", "pid,args"], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.includes("agent-demo-"));
}

Deno.test("deno task demo --json reaches its target, prints one summary line and leaves nothing behind", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--unstable-net",
      "-A",
      DEMO,
      "--nodes",
      "2",
      "--timeout",
      "120",
      "--target",
      "0.8",
      "--json",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim().split("\n");
  assert.equal(stdout.length, 1, `one line expected:\n${stdout.join("\n")}`);
  const summary = JSON.parse(stdout[0]);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(summary.reached, true);
  assert.equal(summary.nodes.length, 2);
  for (const n of summary.nodes) {
    assert.ok(n.accuracy >= 0.8, JSON.stringify(n));
    assert.ok(n.datagrams > 0 && n.bytes > 0 && n.largestDatagram <= 1232, JSON.stringify(n));
  }
  assert.deepEqual(await agentProcesses(), []);
});
