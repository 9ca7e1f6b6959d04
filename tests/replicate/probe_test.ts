import assert from "node:assert/strict";
import { join } from "node:path";
import { CloneError, CloneFailure } from "../../src/replicate/errors.ts";
import { servicePlanProblem } from "../../src/replicate/plan.ts";
import { UsageError } from "../../src/errors.ts";
import { assessTarget, parseProbe, probeScript, type TargetInfo } from "../../src/replicate/probe.ts";

function info(over: Partial<TargetInfo>): TargetInfo {
  return {
    ...parseProbe(
      "kernel=Linux\nmachine=aarch64\nkernelRelease=6.6.31+rpt-rpi-2712\nos=Debian GNU/Linux 12 (bookworm)\nglibc=glibc 2.36\npageSize=4096\nfreeKiB=1000000\nuid=1000\nhome=/home/pi\nsudo=1\nsystemd=1\nmissingTools=\nprefix=/opt/agent\nstate=/var/lib/agent\n",
    ),
    ...over,
  };
}

function refused(i: TargetInfo, kind: string, pattern: RegExp, needKiB = 0) {
  assert.throws(
    () => assessTarget(i, "pi@board", needKiB),
    (e) => e instanceof CloneError && e.kind === kind && pattern.test(`${e.message} ${e.hint}`),
  );
}

Deno.test("parseProbe() reads every field and tolerates junk lines", () => {
  const i = parseProbe(
    "motd junk\nkernel=Linux\nmachine=x86_64\npageSize=4096\nfreeKiB=123\nuid=0\nsudo=0\nsystemd=1\nmissingTools= tar gzip\nreleases=a b \ncurrentRelease=b\nstateHas= config identity\nos=Debian = with equals\n",
  );
  assert.equal(i.arch, "x86_64");
  assert.equal(i.pageSize, 4096);
  assert.equal(i.freeKiB, 123);
  assert.equal(i.uid, 0);
  assert.equal(i.systemd, true);
  assert.equal(i.sudo, false);
  assert.deepEqual(i.missingTools, ["tar", "gzip"]);
  assert.deepEqual(i.releases, ["a", "b"]);
  assert.deepEqual(i.stateHas, ["config", "identity"]);
  assert.equal(i.os, "Debian = with equals");
  assert.equal(parseProbe("").uid, -1);
});

Deno.test("assessTarget() accepts a 64-bit glibc board with room", () => {
  assessTarget(info({}), "pi@board", 500_000);
});

Deno.test("assessTarget() refuses aarch64 with 16 KiB pages and names the Raspberry Pi 5 fix", () => {
  refused(
    info({ pageSize: 16384 }),
    CloneFailure.UnsupportedTarget,
    /16 KiB.*kernel=kernel8\.img.*config\.txt/s,
  );
  assessTarget(info({ arch: "x86_64", machine: "x86_64", pageSize: 4096 }), "pi@board", 0);
});

Deno.test("assessTarget() refuses 32-bit ARM, other OSes, musl, missing tools and a full disk", () => {
  refused(info({ machine: "armv7l", arch: undefined }), CloneFailure.UnsupportedTarget, /armv7l.*64-bit/s);
  refused(info({ machine: "riscv64", arch: undefined }), CloneFailure.UnsupportedTarget, /riscv64/);
  refused(info({ kernel: "Darwin" }), CloneFailure.UnsupportedTarget, /Darwin/);
  refused(info({ glibc: "" }), CloneFailure.UnsupportedTarget, /musl/);
  refused(info({ missingTools: ["sha256sum"] }), CloneFailure.UnsupportedTarget, /sha256sum/);
  refused(
    info({ prefixWritable: false }),
    CloneFailure.UnsupportedTarget,
    /may not write "\/opt\/agent".*--prefix/s,
  );
  refused(info({ freeKiB: 10 * 1024 }), CloneFailure.NoSpace, /10 MiB free.*needs 98 MiB/s, 100_000);
});

Deno.test("probeScript() runs in a real sh and reports the installed release", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const prefix = join(dir, "pre fix");
    await Deno.mkdir(join(prefix, "releases", "0.1.0-aaaa"), { recursive: true });
    await Deno.mkdir(join(prefix, "releases", "0.1.0-bbbb"), { recursive: true });
    await Deno.mkdir(join(prefix, "releases", ".tmp-x"), { recursive: true });
    await Deno.writeTextFile(
      join(prefix, "releases", "0.1.0-bbbb", "COMPONENTS"),
      `runtime ${"c".repeat(32)}\ndeps ${"d".repeat(32)}\n`,
    );
    await Deno.writeTextFile(
      join(prefix, "releases", "0.1.0-bbbb", "agent"),
      "#!/bin/sh\necho agent 0.1.0\n",
      { mode: 0o755 },
    );
    await Deno.symlink("releases/0.1.0-bbbb", join(prefix, "current"));
    const state = join(dir, "state");
    await Deno.mkdir(join(state, "identity"), { recursive: true });
    const out = await new Deno.Command("sh", {
      args: ["-s"],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const w = out.stdin.getWriter();
    await w.write(new TextEncoder().encode(probeScript(prefix, state, false)));
    await w.close();
    const res = await out.output();
    const i = parseProbe(new TextDecoder().decode(res.stdout));
    assert.equal(i.kernel, "Linux");
    assert.equal(i.prefix, prefix);
    assert.equal(i.currentRelease, "0.1.0-bbbb");
    assert.equal(i.installedVersion, "agent 0.1.0");
    assert.deepEqual(i.releases, ["0.1.0-aaaa", "0.1.0-bbbb"]);
    assert.deepEqual(i.currentParts, { runtime: "c".repeat(32), deps: "d".repeat(32) });
    assert.deepEqual(i.stateHas, ["identity"]);
    assert.ok(i.freeKiB > 0 && i.pageSize >= 4096);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("servicePlanProblem() refuses a service that could not see the prefix or the state", () => {
  assert.equal(
    servicePlanProblem({ service: true, prefix: "/opt/agent", state: "/var/lib/agent" }),
    undefined,
  );
  assert.equal(servicePlanProblem({ service: false, prefix: "/root/agent", state: "/tmp/s" }), undefined);
  const home = servicePlanProblem({ service: true, prefix: "/root/agent", state: "/var/lib/agent" });
  assert.ok(
    home instanceof UsageError && /ProtectHome/.test(home.message) && /--no-service/.test(home.hint!),
  );
  const state = servicePlanProblem({ service: true, prefix: "/opt/agent", state: "/srv/agent" });
  assert.ok(state instanceof UsageError && /\/var\/lib\/agent/.test(state.message));
});
