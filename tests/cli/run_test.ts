import assert from "node:assert/strict";
import { runAgent as agent } from "../_support/cli.ts";
import { AGENT_FLAGS, MAIN } from "../../scripts/lib/cluster.ts";

Deno.test("agent run refuses a UDP port in use with a clear message and exit code 2", async () => {
  const state = await Deno.makeTempDir();
  const blocker = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
  try {
    const port = (blocker.addr as Deno.NetAddr).port;
    assert.equal((await agent(["init", "--state", state, "--name", "runner"])).code, 0);
    await Deno.writeTextFile(
      `${state}/agent.yaml`,
      `gossip:\n  port: ${port}\n  broadcast: 127.255.255.255\n`,
    );
    const { code, stderr } = await agent(["run", "--state", state]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, new RegExp(`agent: error: UDP port ${port} on 0\\.0\\.0\\.0 is already in use`));
    assert.match(stderr, /hint: .*gossip\.port/);
    // the failed start took no boot epoch
    await assert.rejects(() => Deno.stat(`${state}/boot-epoch`), Deno.errors.NotFound);
  } finally {
    blocker.close();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("agent run without an identity says to run agent init (exit 2)", async () => {
  const state = await Deno.makeTempDir();
  try {
    const { code, stderr } = await agent(["run", "--state", state]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /agent init/);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("agent run stops cleanly on SIGINT, saving its boot epoch and replay windows", async () => {
  const state = await Deno.makeTempDir();
  try {
    assert.equal((await agent(["init", "--state", state, "--name", "runner"])).code, 0);
    const probe = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    await Deno.writeTextFile(
      `${state}/agent.yaml`,
      `gossip:\n  port: ${port}\n  broadcast: 127.255.255.255\nlogging:\n  format: json\n`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: [...AGENT_FLAGS, MAIN, "run", "--state", state],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const lines: string[] = [];
    const reading = (async () => {
      let buf = "";
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        const parts = buf.split("\n");
        buf = parts.pop()!;
        lines.push(...parts);
      }
    })();
    const deadline = performance.now() + 20_000;
    while (!lines.some((l) => l.includes('"Gossip started"'))) {
      if (performance.now() > deadline) {
        child.kill("SIGKILL");
        await child.status;
        await reading;
        assert.fail(`agent run did not start:\n${lines.join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGINT");
    const status = await child.status;
    await reading;
    assert.equal(status.code, 0, lines.join("\n"));
    assert.ok(lines.some((l) => l.includes('"Stopped"')), lines.join("\n"));
    assert.ok((await Deno.stat(`${state}/boot-epoch`)).isFile);
    assert.ok((await Deno.stat(`${state}/replay.bin`)).isFile);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});
