import assert from "node:assert/strict";
import { join } from "node:path";
import { CorruptStateError, UsageError } from "../../src/errors.ts";
import { verify } from "../../src/identity/ed25519.ts";
import { fingerprint } from "../../src/identity/fingerprint.ts";
import { ensureIdentity, loadIdentity, readPublicKey } from "../../src/identity/keyfile.ts";
import { stateLayout } from "../../src/state/layout.ts";
import { withTempDir } from "../_support/temp_dir.ts";

const mode = async (p: string) => (await Deno.stat(p)).mode! & 0o777;

Deno.test("ensureIdentity() creates a 0600 private key once and then keeps it", () =>
  withTempDir(async (root) => {
    const layout = stateLayout(join(root, "state"));
    const first = await ensureIdentity(layout);
    assert.equal(first.created, true);
    assert.equal(await mode(layout.privateKey), 0o600);
    assert.equal(await mode(layout.publicKey), 0o644);
    assert.equal(await mode(join(layout.root, "identity")), 0o700);
    assert.equal(first.fingerprint, fingerprint(first.publicKey));
    const again = await ensureIdentity(layout);
    assert.equal(again.created, false);
    assert.deepEqual(again.publicKey, first.publicKey);
    assert.deepEqual(await readPublicKey(layout), first.publicKey);
  }));

Deno.test("ensureIdentity() run concurrently creates exactly one key", () =>
  withTempDir(async (root) => {
    const layout = stateLayout(root);
    const all = await Promise.all(Array.from({ length: 6 }, () => ensureIdentity(layout)));
    assert.equal(all.filter((i) => i.created).length, 1);
    for (const i of all) assert.deepEqual(i.publicKey, all[0].publicKey);
  }));

Deno.test("loadIdentity() signs with the stored key and never exposes the private key", () =>
  withTempDir(async (root) => {
    const layout = stateLayout(root);
    await ensureIdentity(layout);
    const id = await loadIdentity(layout);
    const msg = new TextEncoder().encode("hello");
    assert.equal(await verify(id.publicKey, msg, await id.signer.sign(msg)), true);
    const pem = await Deno.readTextFile(layout.privateKey);
    const secretB64 = pem.split("\n")[1].slice(22); // base64 of the seed part of the DER
    const shown = Deno.inspect(id, { depth: 10, showHidden: true }) + JSON.stringify(id);
    assert.ok(!shown.includes(secretB64));
    assert.deepEqual(Object.keys(id).sort(), ["fingerprint", "publicKey", "signer"]);
  }));

for (const bad of [0o644, 0o640, 0o604, 0o620, 0o602, 0o660]) {
  Deno.test(`loadIdentity() refuses a private key with mode ${bad.toString(8)} and names the chmod 600 fix`, () =>
    withTempDir(async (root) => {
      const layout = stateLayout(root);
      await ensureIdentity(layout);
      await Deno.chmod(layout.privateKey, bad);
      for (const load of [loadIdentity, ensureIdentity]) {
        await assert.rejects(() => load(layout), (e) => {
          assert.ok(e instanceof UsageError);
          assert.ok(e.message.includes(JSON.stringify(layout.privateKey)), e.message);
          assert.match(e.message, new RegExp(`mode 0${bad.toString(8)}`));
          assert.equal(e.hint, `Run: chmod 600 ${layout.privateKey}`);
          return true;
        });
      }
      await Deno.chmod(layout.privateKey, 0o600);
      await loadIdentity(layout);
      await Deno.chmod(layout.privateKey, 0o400);
      await loadIdentity(layout);
    }));
}

Deno.test("loadIdentity() without a key says to run agent init", () =>
  withTempDir(async (root) => {
    await assert.rejects(() => loadIdentity(stateLayout(root)), (e) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /No identity/);
      assert.match(e.hint!, /agent init/);
      return true;
    });
    assert.equal(await readPublicKey(stateLayout(root)), undefined);
  }));

Deno.test("a damaged private key file is reported as corrupt, not replaced", () =>
  withTempDir(async (root) => {
    const layout = stateLayout(root);
    await ensureIdentity(layout);
    const pem = await Deno.readTextFile(layout.privateKey);
    for (
      const damaged of [pem.slice(0, 40), pem.replace("PRIVATE", "PUBLIC"), pem.replace(/\n(.)/, "\n!"), ""]
    ) {
      await Deno.writeTextFile(layout.privateKey, damaged);
      await assert.rejects(() => loadIdentity(layout), CorruptStateError);
      await assert.rejects(() => ensureIdentity(layout), CorruptStateError);
      assert.equal(await Deno.readTextFile(layout.privateKey), damaged);
    }
  }));

Deno.test("ensureIdentity() rewrites a missing or stale public key file from the private key", () =>
  withTempDir(async (root) => {
    const layout = stateLayout(root);
    const id = await ensureIdentity(layout);
    const pub = await Deno.readTextFile(layout.publicKey);
    await Deno.remove(layout.publicKey);
    assert.deepEqual(await readPublicKey(layout), id.publicKey); // derived from the private key
    await ensureIdentity(layout);
    assert.equal(await Deno.readTextFile(layout.publicKey), pub);
    await Deno.writeTextFile(layout.publicKey, "junk");
    await assert.rejects(() => readPublicKey(layout), CorruptStateError);
    await ensureIdentity(layout);
    assert.equal(await Deno.readTextFile(layout.publicKey), pub);
  }));
