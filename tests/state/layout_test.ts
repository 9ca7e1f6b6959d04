import assert from "node:assert/strict";
import { resolveStateDir, stateLayout } from "../../src/state/mod.ts";

Deno.test("resolveStateDir() follows flag, systemd, root, XDG, home in that order", () => {
  const env = { STATE_DIRECTORY: "/var/lib/private/agent", XDG_STATE_HOME: "/x", HOME: "/home/u" };
  assert.equal(resolveStateDir({ flag: "/f", env, uid: 0 }), "/f");
  assert.equal(resolveStateDir({ env, uid: 1000 }), "/var/lib/private/agent");
  assert.equal(resolveStateDir({ env: { STATE_DIRECTORY: "/a:/b" }, uid: 1000 }), "/a");
  assert.equal(resolveStateDir({ env: { HOME: "/root" }, uid: 0 }), "/var/lib/agent");
  assert.equal(resolveStateDir({ env: { XDG_STATE_HOME: "/x", HOME: "/h" }, uid: 1000 }), "/x/agent");
  assert.equal(resolveStateDir({ env: { HOME: "/h" }, uid: 1000 }), "/h/.local/state/agent");
});

Deno.test("stateLayout() keeps every file inside the state directory", () => {
  const layout = stateLayout("/s");
  for (const [k, v] of Object.entries(layout)) assert.ok(v === "/s" || v.startsWith("/s/"), k);
});
