import assert from "node:assert/strict";
import type { CloneReport } from "../../src/replicate/clone.ts";
import { CloneError, CloneFailure } from "../../src/replicate/errors.ts";
import { cloneFleet, runBounded } from "../../src/replicate/fleet.ts";
import type { AgentIdentity } from "../../src/replicate/trust.ts";

/** A promise resolved by hand, so a test decides when each fake clone finishes. */
function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

function report(target: string, action: CloneReport["action"] = "installed"): CloneReport {
  const child: AgentIdentity = {
    name: target,
    fingerprint: `fp-${target}`,
    publicKey: "",
    payload: `P-${target}`,
  };
  return {
    target,
    arch: "x86_64",
    os: "Debian",
    prefix: "/opt/agent",
    state: "/var/lib/agent",
    release: "0.1.0-x",
    previousRelease: "",
    action,
    uploadedBytes: 0,
    uploaded: [],
    reused: [],
    uploadMs: 0,
    releaseBytes: 0,
    seeded: [],
    child,
    trustAdded: { onChild: [], onParent: [] },
    service: "skipped",
    startCommand: "",
    changed: action !== "up-to-date",
    plan: [],
    sudo: false,
  };
}

Deno.test("runBounded() never runs more than the limit at once and keeps input order", async () => {
  for (const limit of [1, 2, 3, 10]) {
    let running = 0;
    let peak = 0;
    const gates = Array.from({ length: 7 }, gate);
    const done = runBounded(gates, limit, async (g, i) => {
      running++;
      peak = Math.max(peak, running);
      await g.p;
      running--;
      return i * 10;
    });
    // Open them in reverse order: results still come back in input order.
    for (const g of [...gates].reverse()) {
      g.open();
      await Promise.resolve();
    }
    assert.deepEqual(await done, [0, 10, 20, 30, 40, 50, 60]);
    assert.equal(peak, Math.min(limit, 7), `limit ${limit}`);
  }
});

Deno.test("cloneFleet() keeps going after a failure, and summarises each board", async () => {
  const hosts = ["a", "b", "c", "d"];
  const results = await cloneFleet(hosts, {
    parallel: 2,
    describe: (h) => `root@${h}`,
    clone: (h) => {
      if (h === "b") {
        return Promise.reject(
          new CloneError(
            CloneFailure.Unreachable,
            "Could not connect to root@b: connection refused",
            "Start sshd",
          ),
        );
      }
      if (h === "c") {
        return Promise.reject(
          new CloneError(CloneFailure.RolledBack, "Release x did not become healthy on root@c", "fix it"),
        );
      }
      return Promise.resolve(report(`root@${h}`, h === "d" ? "up-to-date" : "installed"));
    },
    trustSiblings: (_h, _r, siblings) => Promise.resolve(siblings.map((s) => s.fingerprint)),
    now: () => 0,
  });
  assert.deepEqual(results.map((r) => [r.target, r.status, r.kind]), [
    ["root@a", "installed", undefined],
    ["root@b", "failed", "unreachable"],
    ["root@c", "rolled-back", "rolled-back"],
    ["root@d", "up-to-date", undefined],
  ]);
  assert.match(results[1].reason!, /connection refused/);
  assert.equal(results[1].hint, "Start sshd");
  // The two boards that succeeded were made to trust each other, and only each other.
  assert.deepEqual(results[0].siblingsTrusted, ["fp-root@d"]);
  assert.deepEqual(results[3].siblingsTrusted, ["fp-root@a"]);
});

Deno.test("cloneFleet() reports a failed sibling pairing on that board; a bug is not swallowed", async () => {
  const results = await cloneFleet(["a", "b"], {
    parallel: 4,
    describe: (h) => h,
    clone: (h) => Promise.resolve(report(h)),
    trustSiblings: (h) =>
      h === "b"
        ? Promise.reject(new CloneError(CloneFailure.ConnectionLost, "Lost the connection to b", "retry"))
        : Promise.resolve(["fp-b"]),
    now: () => 0,
  });
  assert.equal(results[0].status, "installed");
  assert.equal(results[1].status, "failed");
  assert.match(
    results[1].reason!,
    /^Installed, but pairing with the other boards failed: Lost the connection/,
  );

  await assert.rejects(
    cloneFleet(["a"], {
      parallel: 1,
      describe: (h) => h,
      clone: () => Promise.reject(new TypeError("a bug")),
      trustSiblings: () => Promise.resolve([]),
    }),
    TypeError,
  );
});

Deno.test("cloneFleet() starts no new board once interrupted", async () => {
  const controller = new AbortController();
  const started: string[] = [];
  const results = await cloneFleet(["a", "b", "c"], {
    parallel: 1,
    signal: controller.signal,
    describe: (h) => h,
    clone: (h) => {
      started.push(h);
      controller.abort();
      return Promise.reject(new CloneError(CloneFailure.Interrupted, `Clone to ${h} interrupted`));
    },
    trustSiblings: () => Promise.resolve([]),
    now: () => 0,
  });
  assert.deepEqual(started, ["a"]);
  assert.deepEqual(results.map((r) => r.status), ["failed", "failed", "failed"]);
  assert.match(results[2].reason!, /Not started/);
});
