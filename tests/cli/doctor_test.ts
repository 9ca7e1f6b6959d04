import assert from "node:assert/strict";
import { broadcastCheck } from "../../src/cli/doctor_run.ts";
import { cli } from "../_support/cli.ts";

/** A config whose ports are free right now, so the port checks do not depend on other processes. */
function freePortsConfig(extra = ""): string {
  const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const text = `gossip:\n  port: ${(udp.addr as Deno.NetAddr).port}\n  broadcast: 127.255.255.255\n` +
    `api:\n  listen: 127.0.0.1:${(tcp.addr as Deno.NetAddr).port}\n${extra}`;
  udp.close();
  tcp.close();
  return text;
}

Deno.test("agent doctor reports the backend and why, and passes on a fresh state directory", async () => {
  const state = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${state}/agent.yaml`, freePortsConfig());
    const run = await cli(["doctor", "--state", state, "--backend", "wasm", "--json"]);
    assert.equal(run.code, 0, run.stdout);
    const report = JSON.parse(run.stdout);
    assert.equal(report.healthy, true);
    assert.equal(report.backend.name, "wasm");
    assert.equal(report.backend.simd, true);
    const names = report.checks.map((c: { name: string }) => c.name);
    for (const n of ["config", "state", "identity key", "model", "backend", "inference", "checkpoint"]) {
      assert.ok(names.includes(n), n);
    }
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("agent doctor fails on a world-readable key and on a bad config", async () => {
  const state = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${state}/identity`);
    await Deno.writeFile(`${state}/identity/ed25519.key`, new Uint8Array(32), { mode: 0o644 });
    await Deno.chmod(`${state}/identity/ed25519.key`, 0o644);
    await Deno.writeTextFile(`${state}/agent.yaml`, "model:\n  backend: tpu\n");
    const io = await cli(["doctor", "--state", state]);
    assert.equal(io.code, 1);
    assert.match(io.stdout, /FAIL {2}config +model\.backend: "tpu" is not one of auto, webgpu, wasm, cpu/);
    assert.match(
      io.stdout,
      /FAIL {2}identity key +.*mode 0644: readable by other users\n.*hint: Run: chmod 600 /,
    );
    assert.match(io.stdout, /check\(s\) failed/);

    await Deno.writeTextFile(`${state}/agent.yaml`, freePortsConfig("model:\n  backend: auto\n"));
    await Deno.chmod(`${state}/identity/ed25519.key`, 0o600);
    const ok = await cli(["doctor", "--state", state, "--backend", "cpu"]);
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /ok {4}backend +cpu: forced \(cpu\)/);
    assert.match(ok.stdout, /healthy/);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("agent doctor checks what run needs: data rows, ports, broadcast address, peers", async () => {
  const state = await Deno.makeTempDir();
  const busy = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
  try {
    const port = (busy.addr as Deno.NetAddr).port;
    const cfg = (source: string) =>
      `data:\n  source: ${JSON.stringify(source)}\ngossip:\n  port: ${port}\n  broadcast: 10.9.9.255\n` +
      `api:\n  listen: 127.0.0.1:1\n`;
    await Deno.writeTextFile(`${state}/agent.yaml`, cfg(`${state}/missing.jsonl`));
    const missing = await cli(["doctor", "--state", state, "--backend", "cpu"]);
    assert.equal(missing.code, 1, missing.stdout);
    assert.match(missing.stdout, /FAIL {2}data +data\.source: Data path ".*missing\.jsonl" does not exist/);
    assert.match(missing.stdout, /hint: Set data\.source to/);
    assert.match(missing.stdout, new RegExp(`FAIL  gossip port +UDP 0\\.0\\.0\\.0:${port} cannot be bound`));
    assert.match(missing.stdout, /hint: Another program uses it/);
    assert.match(
      missing.stdout,
      /WARN {2}broadcast +gossip\.broadcast 10\.9\.9\.255 is not the broadcast address/,
    );
    assert.match(missing.stdout, /WARN {2}peers +no trusted peers/);

    const rows = [
      JSON.stringify({ x: new Array(784).fill(0.5), y: 3 }),
      JSON.stringify({ x: [1, 2], y: 1 }),
      JSON.stringify({ x: new Array(784).fill(0.1), y: 7 }),
      JSON.stringify({ x: new Array(784).fill(255), y: 7 }), // raw 0–255 pixels: outside the spec's range
    ];
    await Deno.writeTextFile(`${state}/d.jsonl`, rows.join("\n") + "\n");
    await Deno.writeTextFile(`${state}/agent.yaml`, cfg(`${state}/d.jsonl`));
    const some = await cli(["doctor", "--state", state, "--backend", "cpu"]);
    assert.match(
      some.stdout,
      /WARN {2}data +data\.source ".*d\.jsonl": 2 usable row\(s\); 2 bad row\(s\) skipped \(.*\), e\.g\. .*d\.jsonl:2: .*; .*d\.jsonl:4: .*outside the model's range/,
    );
  } finally {
    busy.close();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("broadcastCheck() accepts this machine's subnet broadcasts and warns on any other address", () => {
  const ifaces = [
    {
      family: "IPv4",
      name: "lo",
      address: "127.0.0.1",
      netmask: "255.0.0.0",
      scopeid: null,
      cidr: "127.0.0.1/8",
      mac: "",
    },
    {
      family: "IPv4",
      name: "wlan0",
      address: "192.168.1.23",
      netmask: "255.255.255.0",
      scopeid: null,
      cidr: "192.168.1.23/24",
      mac: "",
    },
  ] as Deno.NetworkInterfaceInfo[];
  assert.equal(broadcastCheck("192.168.1.255", ifaces).status, "ok");
  assert.match(broadcastCheck("192.168.1.255", ifaces).detail, /wlan0 \(192\.168\.1\.23\/24\)/);
  assert.equal(broadcastCheck("127.255.255.255", ifaces).status, "ok");
  assert.equal(broadcastCheck("255.255.255.255", ifaces).status, "ok");
  const other = broadcastCheck("192.168.2.255", ifaces);
  assert.equal(other.status, "warn");
  assert.match(other.detail, /\(lo 127\.255\.255\.255, wlan0 192\.168\.1\.255\)/);
});
