import assert from "node:assert/strict";
import { UsageError } from "../../src/errors.ts";
import { CloneError } from "../../src/replicate/errors.ts";
import { type ClonePlan, type LocalFacts, planClone, type PlanOptions } from "../../src/replicate/plan.ts";
import { parseProbe, type TargetInfo } from "../../src/replicate/probe.ts";
import type { Release, ReleasePart } from "../../src/replicate/release.ts";

const MiB = 1048576;

function part(name: ReleasePart["name"], key: string, bytes: number): ReleasePart {
  return {
    name,
    key,
    tarball: `/cache/${name}.tar.gz`,
    sha256: `${name}-sha`,
    bytes,
    uploadName: `${name}-${key}.tar.gz`,
  };
}

const RELEASE: Release = {
  id: "0.1.0-aaaaaaaaaaaaaaaa",
  arch: "x86_64",
  kind: "source",
  manifest: "",
  components: "",
  parts: [
    part("app", "a1a1a1a1a1a1a1a1", 2 * MiB),
    part("runtime", "r1r1r1r1r1r1r1r1", 40 * MiB),
  ],
  unpackedBytes: 200 * MiB,
  fileCount: 6000,
};

/** A root login on a Debian board with systemd (what the probe prints), overridden per case. */
function board(over: Partial<TargetInfo> = {}): TargetInfo {
  return {
    ...parseProbe(
      "kernel=Linux\nmachine=x86_64\nos=Debian GNU/Linux 12 (bookworm)\nglibc=glibc 2.36\npageSize=4096\nfreeKiB=4000000\nuid=0\nhome=/root\nsudo=0\nsystemd=1\nprefix=/opt/agent\nstate=/var/lib/agent\n",
    ),
    ...over,
  };
}

const LOCAL: LocalFacts = { hasConfig: true, hasCheckpoints: true };

const OPTS: PlanOptions = { who: "root@board", service: true, healthTimeoutS: 60 };

function plan(
  info: Partial<TargetInfo>,
  local: Partial<LocalFacts> = {},
  opts: Partial<PlanOptions> = {},
): ClonePlan {
  return planClone(board(info), RELEASE, { ...LOCAL, ...local }, { ...OPTS, ...opts });
}

Deno.test("planClone() on a fresh board uploads every part, seeds state, creates an identity and installs the service", () => {
  const p = plan({});
  assert.equal(p.action, "installed");
  assert.deepEqual(p.uploads.map((u) => u.name), ["app", "runtime"]);
  assert.equal(p.uploadBytes, 42 * MiB);
  assert.deepEqual(p.reuse, []);
  assert.deepEqual(p.install?.unpack.map((u) => u.name), [
    "app-a1a1a1a1a1a1a1a1.tar.gz",
    "runtime-r1r1r1r1r1r1r1r1.tar.gz",
  ]);
  assert.deepEqual(p.seed, { config: true, checkpoints: true, models: false });
  assert.deepEqual(p.init, ["init"]);
  assert.equal(p.service, "install");
  assert.equal(p.rollbackTo, undefined, "nothing to go back to on a fresh board");
  assert.equal(p.sudo, false);
  assert.match(p.lines.join("\n"), /service: install and start agent\.service, then wait up to 60 s/);
});

Deno.test("planClone() decides uploads, reuse, seeding, init and rollback from what the board has (table)", () => {
  const cases: {
    name: string;
    info: Partial<TargetInfo>;
    local?: Partial<LocalFacts>;
    opts?: Partial<PlanOptions>;
    want: Partial<Record<keyof ClonePlan, unknown>>;
  }[] = [
    {
      name: "up to date: nothing to upload or install, no rollback",
      info: {
        currentRelease: RELEASE.id,
        releases: [RELEASE.id],
        stateHas: ["config", "identity", "checkpoints"],
      },
      want: { action: "up-to-date", uploads: [], install: undefined, init: undefined, rollbackTo: undefined },
    },
    {
      name: "already unpacked: switch only, roll back to the current one",
      info: { currentRelease: "0.1.0-old", releases: ["0.1.0-old", RELEASE.id] },
      want: { action: "switched", uploads: [], reuse: [], rollbackTo: "0.1.0-old" },
    },
    {
      name: "upgrade with the same runtime: upload the app only",
      info: {
        currentRelease: "0.1.0-old",
        releases: ["0.1.0-old"],
        currentParts: { app: "ffffffffffffffff", runtime: "r1r1r1r1r1r1r1r1" },
        stateHas: ["config", "identity", "checkpoints"],
      },
      want: {
        action: "installed",
        reuse: ["runtime"],
        uploadBytes: 2 * MiB,
        rollbackTo: "0.1.0-old",
        init: undefined,
      },
    },
    {
      name: "this board has its own model specs: they travel with the clone",
      info: {},
      local: { hasModels: true },
      want: { seed: { config: true, checkpoints: true, models: true } },
    },
    {
      name: "upgrade without the service: no rollback (nothing to check)",
      info: { currentRelease: "0.1.0-old", releases: ["0.1.0-old"] },
      opts: { service: false },
      want: { service: "skip", rollbackTo: undefined },
    },
    {
      name: "no systemd: service unavailable, start command printed",
      info: { systemd: false },
      want: { service: "unavailable", startCommand: "/opt/agent/current/agent run --state /var/lib/agent" },
    },
    {
      name: "non-root with sudo and systemd: system-wide through sudo",
      info: { uid: 1000, sudo: true },
      want: {
        sudo: true,
        service: "install",
        startCommand: "sudo /opt/agent/current/agent service install --prefix /opt/agent",
      },
    },
    {
      name: "non-root without sudo: user install, no service",
      info: {
        uid: 1000,
        sudo: false,
        prefix: "/home/pi/.local/lib/agent",
        state: "/home/pi/.local/state/agent",
      },
      want: { sudo: false, service: "unavailable" },
    },
    {
      name: "the board already has config and checkpoints: seed nothing",
      info: { stateHas: ["config", "checkpoints"] },
      want: { seed: { config: false, checkpoints: false, models: false }, init: ["init"] },
    },
    {
      name: "nothing local to seed; --name goes to init",
      info: {},
      local: { hasConfig: false, hasCheckpoints: false },
      opts: { name: "greenhouse" },
      want: {
        seed: { config: false, checkpoints: false, models: false },
        init: ["init", "--name", "greenhouse"],
      },
    },
    {
      name: "--name with a seeded config: the name travels in the config, not to init",
      info: {},
      opts: { name: "greenhouse" },
      want: { init: ["init"] },
    },
  ];
  for (const c of cases) {
    const p = plan(c.info, c.local, c.opts);
    for (const [k, v] of Object.entries(c.want)) {
      assert.deepEqual(p[k as keyof ClonePlan], v, `${c.name}: ${k}`);
    }
  }
});

Deno.test("planClone() refuses what cannot work, before anything is uploaded (table)", () => {
  const cases: {
    name: string;
    info: Partial<TargetInfo>;
    opts?: Partial<PlanOptions>;
    error: RegExp;
    kind: string;
  }[] = [
    {
      name: "disk too small for the parts",
      info: { freeKiB: 100 * 1024 },
      error: /100 MiB free.*needs \d+ MiB/,
      kind: "no-space",
    },
    {
      name: "32-bit ARM",
      info: { machine: "armv7l", arch: undefined },
      error: /armv7l/,
      kind: "unsupported-target",
    },
    { name: "musl", info: { glibc: "" }, error: /musl/, kind: "unsupported-target" },
    {
      name: "a service prefix under /home",
      info: { prefix: "/home/pi/agent" },
      error: /ProtectHome/,
      kind: "usage",
    },
    {
      name: "a service with another state dir",
      info: { state: "/srv/agent" },
      error: /state in \/var\/lib\/agent/,
      kind: "usage",
    },
  ];
  for (const c of cases) {
    assert.throws(() => plan(c.info, {}, c.opts), (e) => {
      const kind = e instanceof CloneError ? e.kind : e instanceof UsageError ? "usage" : "bug";
      assert.equal(kind, c.kind, c.name);
      assert.match((e as Error).message, c.error, c.name);
      return true;
    });
  }
  // Enough room when only the app is uploaded: the same small disk takes an app-only upgrade.
  const p = plan({
    freeKiB: 260 * 1024,
    currentRelease: "0.1.0-old",
    currentParts: { runtime: "r1r1r1r1r1r1r1r1" },
  });
  assert.deepEqual(p.uploads.map((u) => u.name), ["app"]);
  // Up to date needs no space at all.
  assert.equal(plan({ freeKiB: 1, currentRelease: RELEASE.id }).action, "up-to-date");
});

Deno.test("planClone() describes the plan in words for --dry-run", () => {
  const text = plan({
    currentRelease: "0.1.0-old",
    releases: ["0.1.0-old"],
    currentParts: { runtime: "r1r1r1r1r1r1r1r1" },
    stateHas: ["identity"],
  }).lines.join("\n");
  assert.match(
    text,
    /release: 0\.1\.0-aaaaaaaaaaaaaaaa \(source, x86_64, 42\.0 MiB compressed, 200\.0 MiB unpacked, 6000 files\)/,
  );
  assert.match(text, /upload: app 2\.0 MiB \(runtime reused from the current release\)/);
  assert.match(
    text,
    /install: \/opt\/agent\/releases\/0\.1\.0-aaaaaaaaaaaaaaaa, switch current, keep previous 0\.1\.0-old/,
  );
  assert.match(
    text,
    /state: \/var\/lib\/agent: copy config \(node\.name changed\), copy model checkpoints, keep its identity; the private key is never copied/,
  );
  assert.match(text, /if it does not, switch back to 0\.1\.0-old/);
});
