/**
 * Pairing end to end with the real CLI as subprocesses (`deno run … src/main.ts`), real PNG files and
 * the real `zbarimg` (Debian zbar-tools) as an independent QR decoder.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runAgent as agent } from "../_support/cli.ts";
import { withTempDir } from "../_support/temp_dir.ts";

async function ok(args: string[]): Promise<string> {
  const r = await agent(args);
  assert.equal(r.code, 0, `agent ${args.join(" ")} exited ${r.code}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

Deno.test("two state dirs pair through agent id --png / agent trust <png>, list each other, one revokes", () =>
  withTempDir(async (tmp) => {
    const a = join(tmp, "a");
    const b = join(tmp, "b");
    await ok(["init", "--state", a, "--name", "alpha"]);
    await ok(["init", "--state", b, "--name", "beta"]);
    const idA = JSON.parse(await ok(["id", "--state", a, "--json", "--png", join(tmp, "a.png")]));
    const idB = JSON.parse(await ok(["id", "--state", b, "--json", "--png", join(tmp, "b.png")]));

    // An independent decoder reads exactly the payload from the PNG.
    for (const [id, png] of [[idA, "a.png"], [idB, "b.png"]]) {
      const z = await new Deno.Command("zbarimg", {
        args: ["--raw", "-q", join(tmp, png)],
        stdout: "piped",
        stderr: "null",
      })
        .output();
      assert.equal(z.code, 0, "zbarimg found no QR code");
      assert.equal(new TextDecoder().decode(z.stdout).trim(), id.payload);
    }

    const trustedOnB = await ok(["trust", join(tmp, "a.png"), "--yes", "--state", b]);
    assert.match(trustedOnB, new RegExp(`Peer:\\s+alpha\\nFingerprint: ${idA.fingerprint}`));
    assert.match(trustedOnB, /Trusted alpha/);
    await ok(["trust", join(tmp, "b.png"), "--yes", "--state", a]);

    const listA = JSON.parse(await ok(["trust", "list", "--json", "--state", a]));
    const listB = JSON.parse(await ok(["trust", "list", "--json", "--state", b]));
    assert.deepEqual(
      listA.map((
        p: { name: string; fingerprint: string; publicKey: string; payload: string },
      ) => [p.name, p.fingerprint, p.publicKey, p.payload]),
      [
        ["beta", idB.fingerprint, idB.publicKey, idB.payload],
      ],
    );
    assert.deepEqual(listB.map((p: { name: string; fingerprint: string }) => [p.name, p.fingerprint]), [[
      "alpha",
      idA.fingerprint,
    ]]);

    // Same PNG again: a no-op that says so.
    assert.match(await ok(["trust", join(tmp, "a.png"), "--state", b]), /Already trusted: alpha/);

    // b revokes a; it stays revoked across runs and re-adding needs --force.
    assert.match(await ok(["trust", "revoke", "alpha", "--state", b]), /Revoked alpha/);
    const after = JSON.parse(await ok(["trust", "list", "--json", "--state", b]));
    assert.equal(after[0].revoked, true);
    const again = await agent(["trust", join(tmp, "a.png"), "--yes", "--state", b]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /was revoked at .* stays revoked\n {2}hint: .*--force/);
    assert.match(
      await ok(["trust", "list", "--state", b]),
      new RegExp(`alpha\\s+${idA.fingerprint}\\s+\\S+\\s+revoked`),
    );
    // a still trusts b (revocation is one-sided).
    assert.equal(JSON.parse(await ok(["trust", "list", "--json", "--state", a]))[0].revoked, false);
  }));

Deno.test("agent trust without --yes on a non-terminal stdin exits 2 and writes nothing", () =>
  withTempDir(async (tmp) => {
    const a = join(tmp, "a");
    const b = join(tmp, "b");
    await ok(["init", "--state", a, "--name", "alpha"]);
    const idB = JSON.parse(await ok(["id", "--state", b, "--json"]));
    const r = await agent(["trust", idB.payload, "--state", a]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /stdin is not a terminal\n {2}hint: .*pass --yes/);
    await assert.rejects(() => Deno.stat(join(a, "trust.json")), Deno.errors.NotFound);
  }));

Deno.test("concurrent agent trust processes adding different peers all land", () =>
  withTempDir(async (tmp) => {
    const hub = join(tmp, "hub");
    await ok(["init", "--state", hub, "--name", "hub"]);
    const n = 8;
    const payloads = await Promise.all(
      Array.from(
        { length: n },
        async (_, i) => JSON.parse(await ok(["id", "--state", join(tmp, `p${i}`), "--json"])),
      ),
    );
    const results = await Promise.all(
      payloads.map((p) => agent(["trust", p.payload, "--yes", "--state", hub])),
    );
    for (const r of results) {
      assert.equal(r.code, 0, r.stderr);
    }
    const list = JSON.parse(await ok(["trust", "list", "--json", "--state", hub]));
    assert.equal(list.length, n);
    assert.deepEqual(
      list.map((p: { fingerprint: string }) => p.fingerprint).sort(),
      payloads.map((p) => p.fingerprint).sort(),
    );
  }));

Deno.test("a private key readable by group or others stops signing commands (agent init) with the chmod 600 fix", () =>
  withTempDir(async (tmp) => {
    const a = join(tmp, "a");
    await ok(["init", "--state", a]);
    const key = join(a, "identity", "ed25519.key");
    await Deno.chmod(key, 0o644);
    const r = await agent(["init", "--state", a]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Private key .*ed25519\.key" is accessible by others \(mode 0644\)/);
    assert.ok(r.stderr.includes(`hint: Run: chmod 600 ${key}`));
    await Deno.chmod(key, 0o600);
    await ok(["init", "--state", a]);
  }));
