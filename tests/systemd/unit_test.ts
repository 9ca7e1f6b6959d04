/**
 * The unit is checked by the real `systemd-analyze` (Debian package `systemd`; it works without
 * systemd running): `verify` must print nothing at all, and the offline security exposure must be
 * at most 2.0.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../../src/cli/mod.ts";
import { DEFAULT_UNIT_OPTIONS, renderUnit, unitPrefixProblem } from "../../src/systemd/unit.ts";
import { run } from "../_support/command.ts";
import { recordingIo } from "../_support/io.ts";

const deployFile = new URL("../../deploy/agent.service", import.meta.url);

/** A prefix with an executable `current/agent`, as an install leaves it (verify checks ExecStart). */
async function fakePrefix(dir: string): Promise<string> {
  const prefix = join(dir, "opt-agent");
  await Deno.mkdir(join(prefix, "releases", "r1"), { recursive: true });
  await Deno.writeTextFile(join(prefix, "releases", "r1", "agent"), "#!/bin/sh\necho agent\n", {
    mode: 0o755,
  });
  await Deno.chmod(join(prefix, "releases", "r1", "agent"), 0o755);
  await Deno.symlink("releases/r1", join(prefix, "current"));
  return prefix;
}

Deno.test("deploy/agent.service is the default rendering of the unit template", async () => {
  assert.equal(await Deno.readTextFile(deployFile), renderUnit(DEFAULT_UNIT_OPTIONS));
});

Deno.test("the unit is hardened but lets V8 JIT (no MemoryDenyWriteExecute)", () => {
  const unit = renderUnit();
  assert.doesNotMatch(unit, /^MemoryDenyWriteExecute/m);
  for (
    const line of [
      "ProtectSystem=strict",
      "NoNewPrivileges=yes",
      "CapabilityBoundingSet=",
      "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
      "StateDirectory=agent",
      "Restart=on-failure",
      "StartLimitBurst=5",
      "SystemCallFilter=@system-service",
      "ExecStart=/opt/agent/current/agent run",
    ]
  ) {
    assert.match(unit, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"), line);
  }
});

Deno.test("systemd-analyze verify prints nothing for the rendered unit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const prefix = await fakePrefix(dir);
    await Deno.writeTextFile(join(dir, "agent.service"), renderUnit({ prefix, user: "agent" }));
    const r = await run("systemd-analyze", ["verify", "./agent.service"], { cwd: dir });
    assert.equal(r.stderr, "", r.stderr);
    assert.equal(r.code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("systemd-analyze security --offline=true rates the unit at most 2.0", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(deployFile, join(dir, "agent.service"));
    const r = await run("systemd-analyze", ["security", "--offline=true", "--no-pager", "./agent.service"], {
      cwd: dir,
    });
    const m = r.stdout.match(/Overall exposure level for agent\.service: (\d+\.\d+)/);
    assert.ok(m, r.stdout + r.stderr);
    const exposure = Number(m[1]);
    assert.ok(exposure <= 2.0, `exposure ${exposure} > 2.0`);
    // The same check expressed as systemd's own gate (threshold on its 0-100 scale).
    const gate = await run("systemd-analyze", [
      "security",
      "--offline=true",
      "--threshold=20",
      "--no-pager",
      "./agent.service",
    ], { cwd: dir });
    assert.equal(gate.code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--gpu opens only the DRM render nodes: PrivateDevices=no, DevicePolicy=closed, char-drm, group render", () => {
  const plain = renderUnit();
  const gpu = renderUnit({ ...DEFAULT_UNIT_OPTIONS, gpu: true });
  assert.match(plain, /^PrivateDevices=yes$/m);
  assert.doesNotMatch(plain, /^DeviceAllow=|^SupplementaryGroups=/m);
  for (
    const line of [
      "PrivateDevices=no",
      "DevicePolicy=closed",
      "DeviceAllow=char-drm rw",
      "SupplementaryGroups=render",
    ]
  ) {
    assert.match(gpu, new RegExp(`^${line}$`, "m"), line);
  }
  assert.doesNotMatch(gpu, /^PrivateDevices=yes$/m);
  // Nothing else changes.
  const other = (u: string) =>
    u.split("\n").filter((l) => !/^(PrivateDevices|DeviceAllow|SupplementaryGroups)=|^# --gpu/.test(l));
  assert.deepEqual(other(gpu), other(plain));
});

Deno.test("the --gpu unit passes systemd-analyze verify and rates at most 2.0 (above the default)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const prefix = await fakePrefix(dir);
    const exposure = async (gpu: boolean) => {
      await Deno.writeTextFile(join(dir, "agent.service"), renderUnit({ prefix, user: "agent", gpu }));
      const v = await run("systemd-analyze", ["verify", "./agent.service"], { cwd: dir });
      assert.equal(v.stderr, "", v.stderr);
      const r = await run(
        "systemd-analyze",
        ["security", "--offline=true", "--no-pager", "./agent.service"],
        { cwd: dir },
      );
      const m = r.stdout.match(/Overall exposure level for agent\.service: (\d+\.\d+)/);
      assert.ok(m, r.stdout + r.stderr);
      return Number(m[1]);
    };
    const plain = await exposure(false);
    const gpu = await exposure(true);
    assert.ok(gpu <= 2.0, `exposure ${gpu} > 2.0`);
    assert.ok(gpu > plain, `device access is counted: ${gpu} vs ${plain}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unitPrefixProblem() refuses prefixes the hardened unit cannot run from", () => {
  assert.equal(unitPrefixProblem("/opt/agent"), undefined);
  assert.match(unitPrefixProblem("/home/pi/agent")!, /ProtectHome/);
  assert.match(unitPrefixProblem("/root/agent")!, /ProtectHome/);
  assert.match(unitPrefixProblem("opt/agent")!, /absolute/);
  assert.match(unitPrefixProblem("/opt/my agent")!, /space/);
  assert.throws(() => renderUnit({ prefix: "/home/x", user: "agent" }));
});

Deno.test("agent service install --no-start writes the unit once, then reports it unchanged", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const prefix = await fakePrefix(dir);
    const unitDir = join(dir, "units");
    const args = ["service", "install", "--no-start", "--prefix", prefix, "--unit-dir", unitDir, "--json"];
    const io1 = recordingIo({ env: Deno.env.toObject() });
    assert.equal(await runCli(args, io1), 0, io1.errText());
    assert.equal(JSON.parse(io1.outText()).changed, true);
    assert.equal(
      await Deno.readTextFile(join(unitDir, "agent.service")),
      renderUnit({ prefix, user: "agent" }),
    );
    const io2 = recordingIo({ env: Deno.env.toObject() });
    assert.equal(await runCli(args, io2), 0, io2.errText());
    assert.equal(JSON.parse(io2.outText()).changed, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("agent service install refuses a home-directory prefix and a missing release (exit 2)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const io = recordingIo({ env: Deno.env.toObject() });
    assert.equal(await runCli(["service", "install", "--no-start", "--prefix", "/home/pi/agent"], io), 2);
    assert.match(io.errText(), /ProtectHome/);
    const io2 = recordingIo({ env: Deno.env.toObject() });
    assert.equal(
      await runCli(
        ["service", "install", "--no-start", "--prefix", join(dir, "none"), "--unit-dir", dir],
        io2,
      ),
      2,
    );
    assert.match(io2.errText(), /current\/agent does not exist/);
    const io3 = recordingIo({ env: Deno.env.toObject() });
    assert.equal(await runCli(["service", "frobnicate"], io3), 2);
    assert.match(io3.errText(), /install, uninstall, status, health, unit/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
