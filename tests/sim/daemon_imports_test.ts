/** The simulation and its attacks stay out of the daemon: nothing `src/agent/` imports reaches `src/sim/`. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

Deno.test("no module in the agent's import graph is under src/sim/", async () => {
  const entry = fileURLToPath(new URL("../../src/agent/agent.ts", import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json", entry], stdout: "piped" })
    .output();
  assert.ok(out.success, "deno info ran");
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: { specifier: string }[] };
  const local = graph.modules.map((m) => m.specifier).filter((s) => s.startsWith("file://"));
  assert.ok(local.some((s) => s.endsWith("/src/learn/learner.ts")), "the graph was read");
  assert.deepEqual(local.filter((s) => s.includes("/src/sim/")), []);
});
