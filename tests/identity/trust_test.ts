import assert from "node:assert/strict";
import { CorruptStateError, UsageError } from "../../src/errors.ts";
import { publicKeyFromSeed } from "../../src/identity/ed25519.ts";
import { decodePayload, encodePayload } from "../../src/identity/payload.ts";
import { peerToJson, TrustStore } from "../../src/identity/trust.ts";
import { stateLayout } from "../../src/state/layout.ts";

const key = (n: number) => publicKeyFromSeed(new Uint8Array(32).fill(n));
const pairing = (n: number, name: string) => decodePayload(encodePayload({ publicKey: key(n), name }));

async function withStore(
  fn: (root: string, open: (o?: { self?: Uint8Array }) => Promise<TrustStore>) => Promise<void>,
) {
  const root = await Deno.makeTempDir();
  let t = Date.UTC(2026, 0, 1);
  const open = (o: { self?: Uint8Array } = {}) =>
    TrustStore.open(stateLayout(root), { ...o, now: () => (t += 1000) });
  try {
    await fn(root, open);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const stamp = async (p: string) => {
  const s = await Deno.stat(p);
  return `${s.ino}/${s.size}/${s.mtime?.getTime()}`;
};

Deno.test("TrustStore: an empty store trusts nothing and writes nothing", () =>
  withStore(async (root, open) => {
    const store = await open();
    assert.equal(store.isTrusted(key(1)), false);
    assert.deepEqual(store.list(), []);
    assert.equal(await store.reloadIfChanged(), false);
    assert.deepEqual([...Deno.readDirSync(root)], []);
  }));

Deno.test("TrustStore.add() trusts a peer, keeps its payload, and persists it", () =>
  withStore(async (root, open) => {
    const store = await open();
    const p = pairing(1, "alpha");
    const r = await store.add(p);
    assert.equal(r.outcome, "added");
    assert.equal(store.isTrusted(key(1)), true);
    assert.equal(store.isTrusted(key(2)), false);
    assert.equal(store.peer(key(1))!.payload, p.payload);
    const again = await open();
    assert.equal(again.isTrusted(key(1)), true);
    const json = peerToJson(again.list()[0]);
    assert.deepEqual(Object.keys(json), [
      "name",
      "fingerprint",
      "publicKey",
      "payload",
      "addedAt",
      "revoked",
      "revokedAt",
    ]);
    assert.equal(json.name, "alpha");
    assert.equal(json.fingerprint, p.fingerprint);
    assert.equal(json.payload, p.payload);
    assert.equal(json.addedAt, "2026-01-01T00:00:01.000Z");
    assert.equal(json.revoked, false);
    assert.equal(json.revokedAt, null);
    assert.equal(Deno.readTextFileSync(stateLayout(root).trustStore).includes(p.payload), true);
  }));

Deno.test("TrustStore.add() of the same key twice is a no-op that does not rewrite the file", () =>
  withStore(async (root, open) => {
    const store = await open();
    await store.add(pairing(1, "alpha"));
    const before = await stamp(stateLayout(root).trustStore);
    const r = await store.add(pairing(1, "alpha"));
    assert.equal(r.outcome, "unchanged");
    assert.equal(await stamp(stateLayout(root).trustStore), before);
  }));

Deno.test("TrustStore.add() of a known key under a new name renames it", () =>
  withStore(async (_root, open) => {
    const store = await open();
    await store.add(pairing(1, "alpha"));
    const r = await store.add(pairing(1, "alpha2"));
    assert.equal(r.outcome, "renamed");
    assert.equal(r.previousName, "alpha");
    assert.equal((await open()).peer(key(1))!.name, "alpha2");
  }));

Deno.test("TrustStore refuses this node's own key", () =>
  withStore(async (root, open) => {
    const store = await open({ self: key(5) });
    await assert.rejects(() => store.add(pairing(5, "me")), (e) =>
      e instanceof UsageError && /own key/.test(e.message));
    assert.deepEqual([...Deno.readDirSync(root)], []);
  }));

Deno.test("TrustStore.revoke() persists, and a revoked key stays revoked unless forced", () =>
  withStore(async (root, open) => {
    const store = await open();
    await store.add(pairing(1, "alpha"));
    await store.add(pairing(2, "beta"));
    const r = await store.revoke("alpha");
    assert.equal(r.outcome, "revoked");
    assert.equal(r.peer.revokedAt, "2026-01-01T00:00:03.000Z");
    assert.equal(store.isTrusted(key(1)), false);
    assert.equal(store.isTrusted(key(2)), true);
    const reopened = await open();
    assert.equal(reopened.isTrusted(key(1)), false);
    assert.equal(reopened.peer(key(1))!.revoked, true);
    assert.equal((await reopened.revoke("alpha")).outcome, "already-revoked");
    const before = await stamp(stateLayout(root).trustStore);
    await assert.rejects(() => reopened.add(pairing(1, "alpha")), (e) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /revoked/);
      assert.match(e.hint!, /--force/);
      return true;
    });
    assert.equal(await stamp(stateLayout(root).trustStore), before);
    assert.equal((await reopened.add(pairing(1, "alpha"), { force: true })).outcome, "restored");
    assert.equal((await open()).isTrusted(key(1)), true);
  }));

Deno.test("TrustStore selectors: name, fingerprint in any form, prefix, key; errors for none, ambiguous, typo", () =>
  withStore(async (_root, open) => {
    const store = await open();
    const a = pairing(1, "alpha");
    await store.add(a);
    await store.add(pairing(2, "twin"));
    await store.add(pairing(3, "twin"));
    assert.equal(store.resolve("ALPHA").name, "alpha");
    assert.equal(store.resolve(a.fingerprint).name, "alpha");
    assert.equal(store.resolve(a.fingerprint.replace(/-/g, "").toLowerCase()).name, "alpha");
    assert.equal(store.resolve(a.fingerprint.slice(0, 7)).name, "alpha");
    assert.equal(store.resolve(a.payload).name, "alpha");
    assert.equal(store.resolve(peerToJson(store.peer(key(1))!).publicKey).name, "alpha");
    assert.throws(
      () => store.resolve("nobody"),
      (e) => e instanceof UsageError && /No trusted peer matches "nobody"/.test(e.message),
    );
    assert.throws(() => store.resolve("twin"), (e) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /"twin" matches 2 peers/);
      for (const p of store.list().filter((p) => p.name === "twin")) {
        assert.ok(e.message.includes(p.fingerprint));
      }
      assert.match(e.hint!, /fingerprint/);
      return true;
    });
    const fp = a.fingerprint;
    const typo = fp.slice(0, 2) + (fp[2] === "A" ? "B" : "A") + fp.slice(3);
    assert.throws(() => store.resolve(typo), (e) => e instanceof UsageError && /typo/.test(e.message));
    await assert.rejects(() => store.revoke("twin"), UsageError);
    assert.equal(store.isTrusted(key(2)) && store.isTrusted(key(3)), true);
    // Once one twin is revoked, the name means the other one.
    await store.revoke(store.peer(key(2))!.fingerprint);
    assert.equal((await store.revoke("twin")).peer.fingerprint, store.peer(key(3))!.fingerprint);
  }));

Deno.test("TrustStore.reloadIfChanged() picks up another process's revocation, and only then", () =>
  withStore(async (_root, open) => {
    const daemon = await open();
    const cli = await open();
    await cli.add(pairing(1, "alpha"));
    assert.equal(daemon.isTrusted(key(1)), false);
    assert.equal(await daemon.reloadIfChanged(), true);
    assert.equal(daemon.isTrusted(key(1)), true);
    assert.equal(await daemon.reloadIfChanged(), false);
    await cli.revoke("alpha");
    assert.equal(await daemon.reloadIfChanged(), true);
    assert.equal(daemon.isTrusted(key(1)), false);
    assert.equal(await daemon.reloadIfChanged(), false);
    // Its own writes do not count as a change.
    await daemon.add(pairing(2, "beta"));
    assert.equal(await daemon.reloadIfChanged(), false);
  }));

Deno.test("TrustStore: a corrupt file is an error (kept as it is), and reload keeps the last good list", () =>
  withStore(async (root, open) => {
    const path = stateLayout(root).trustStore;
    const store = await open();
    await store.add(pairing(1, "alpha"));
    const good = await Deno.readTextFile(path);
    const damaged = good.replace("alpha", "alphb");
    await Deno.writeTextFile(path, damaged);
    // Same size and inode: make sure the change is visible to the stat stamp even when both writes fall
    // in the same millisecond (seen on a loaded machine).
    const later = new Date(Date.now() + 2000);
    await Deno.utime(path, later, later);
    await assert.rejects(() => open(), CorruptStateError);
    await assert.rejects(() => store.reloadIfChanged(), CorruptStateError);
    assert.equal(store.isTrusted(key(1)), true);
    await assert.rejects(() => store.add(pairing(2, "beta")), CorruptStateError);
    assert.equal(await Deno.readTextFile(path), damaged);
  }));

Deno.test("TrustStore: concurrent adds from separate store instances all land", () =>
  withStore(async (_root, open) => {
    const stores = await Promise.all(Array.from({ length: 12 }, () => open()));
    await Promise.all(stores.map((s, i) => s.add(pairing(10 + i, `peer${i}`))));
    const final = await open();
    assert.equal(final.list().length, 12);
    for (let i = 0; i < 12; i++) assert.equal(final.isTrusted(key(10 + i)), true);
  }));
