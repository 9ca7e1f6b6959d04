import assert from "node:assert/strict";
import { join } from "node:path";
import { base64urlnopad } from "@scure/base";
import { decodePayload } from "../../src/identity/payload.ts";
import { renderQrPng } from "../../src/identity/qr.ts";
import { cli } from "../_support/cli.ts";
import { snapshotTree } from "../_support/tree_snapshot.ts";

interface Node {
  state: string;
  name: string;
  payload: string;
  fingerprint: string;
  publicKey: string;
}

async function withNodes(fn: (a: Node, b: Node, c: Node, tmp: string) => Promise<void>) {
  const tmp = await Deno.makeTempDir();
  try {
    const nodes: Node[] = [];
    for (const name of ["alpha", "beta", "gamma"]) {
      const state = join(tmp, name);
      assert.equal((await cli(["init", "--state", state, "--name", name])).code, 0);
      const r = await cli(["id", "--state", state, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      nodes.push({ state, ...JSON.parse(r.stdout) });
    }
    await fn(nodes[0], nodes[1], nodes[2], tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Asserts `argv` exits 2 with `message` (and `hint`, if given) and leaves `state` exactly as it was. */
async function failsCleanly(state: string, argv: string[], message: RegExp, hint?: RegExp, tty = false) {
  const before = await snapshotTree(state);
  const r = await cli([...argv, "--state", state], { tty });
  assert.equal(r.code, 2, `${argv.join(" ")}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /^agent: error: /);
  assert.match(r.stderr, message);
  if (hint) assert.match(r.stderr, new RegExp(`  hint: .*${hint.source}`));
  assert.deepEqual(await snapshotTree(state), before, `${argv.join(" ")} changed the state directory`);
}

Deno.test("agent trust FILE accepts a text file holding the payload, or agent id --json output", () =>
  withNodes(async (a, b, c, tmp) => {
    const plain = join(tmp, "beta.txt");
    await Deno.writeTextFile(plain, `\n  ${b.payload}\n`);
    const r1 = await cli(["trust", plain, "--yes", "--state", a.state]);
    assert.equal(r1.code, 0, r1.stderr);
    const json = join(tmp, "gamma.json");
    await Deno.writeTextFile(json, (await cli(["id", "--state", c.state, "--json"])).stdout);
    const r2 = await cli(["trust", json, "--yes", "--state", a.state]);
    assert.equal(r2.code, 0, r2.stderr);
    const list = JSON.parse((await cli(["trust", "list", "--json", "--state", a.state])).stdout);
    const names = (list.peers ?? list).map((p: { name: string }) => p.name).sort();
    assert.deepEqual(names, ["beta", "gamma"]);
  }));

Deno.test("agent id --json prints exactly name, fingerprint, publicKey (base64url) and payload", () =>
  withNodes(async (a) => {
    const r = await cli(["id", "--state", a.state, "--json"]);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(j), ["name", "fingerprint", "publicKey", "payload"]);
    assert.equal(j.name, "alpha");
    const d = decodePayload(j.payload);
    assert.deepEqual(base64urlnopad.decode(j.publicKey), d.publicKey);
    assert.equal(j.fingerprint, d.fingerprint);
    // The human form shows the same facts and a QR code.
    const h = await cli(["id", "--state", a.state]);
    assert.ok(h.stdout.includes(j.fingerprint) && h.stdout.includes(j.payload));
    assert.match(h.stdout, /█/);
  }));

Deno.test("agent id --png / --svg write images; a missing folder is a clear error", () =>
  withNodes(async (a, _b, _c, tmp) => {
    const png = join(tmp, "a.png");
    const svg = join(tmp, "a.svg");
    assert.equal((await cli(["id", "--state", a.state, "--png", png, "--svg", svg])).code, 0);
    assert.deepEqual((await Deno.readFile(png)).subarray(1, 4), new TextEncoder().encode("PNG"));
    assert.match(await Deno.readTextFile(svg), /^<svg/);
    const r = await cli(["id", "--state", a.state, "--png", join(tmp, "no", "such", "dir.png")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Cannot write/);
  }));

Deno.test("agent trust <payload> --yes stores the peer; list shows it; the same key again is a no-op", () =>
  withNodes(async (a, b) => {
    const r = await cli(["trust", b.payload, "--yes", "--state", a.state]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Trusted beta \\(${b.fingerprint}\\)`));
    const list = JSON.parse((await cli(["trust", "list", "--json", "--state", a.state])).stdout);
    assert.equal(list.length, 1);
    assert.deepEqual(
      { ...list[0], addedAt: "x" },
      {
        name: "beta",
        fingerprint: b.fingerprint,
        publicKey: b.publicKey,
        payload: b.payload,
        addedAt: "x",
        revoked: false,
        revokedAt: null,
      },
    );
    const table = (await cli(["trust", "list", "--state", a.state])).stdout;
    assert.match(table, /^NAME\s+FINGERPRINT\s+ADDED\s+STATUS\n/);
    assert.match(table, new RegExp(`beta\\s+${b.fingerprint}\\s+\\S+Z\\s+trusted`));
    const before = await snapshotTree(a.state);
    const again = await cli(["trust", b.payload, "--state", a.state]); // no --yes needed for a no-op
    assert.equal(again.code, 0);
    assert.match(again.stdout, /Already trusted: beta .*nothing changed/);
    assert.deepEqual(await snapshotTree(a.state), before);
  }));

Deno.test("agent trust asks on a terminal: yes stores, anything else changes nothing", () =>
  withNodes(async (a, b, c) => {
    const before = await snapshotTree(a.state);
    const no = await cli(["trust", b.payload, "--state", a.state], { tty: true, answers: ["n"] });
    assert.equal(no.code, 1);
    assert.match(no.stdout, new RegExp(`Peer:\\s+beta\\nFingerprint: ${b.fingerprint}\\n.*\\[y/N\\]`));
    assert.match(no.stderr, /Not trusted; nothing changed/);
    const eof = await cli(["trust", b.payload, "--state", a.state], { tty: true, answers: [] });
    assert.equal(eof.code, 1);
    assert.deepEqual(await snapshotTree(a.state), before);
    const yes = await cli(["trust", c.payload, "--state", a.state], { tty: true, answers: ["yes"] });
    assert.equal(yes.code, 0);
    assert.match(yes.stdout, /Trusted gamma/);
  }));

Deno.test("agent trust error cases exit 2 with a clear message and write nothing", () =>
  withNodes(async (a, b, _c, tmp) => {
    await cli(["trust", b.payload, "--yes", "--state", a.state]);
    const i = 20;
    const typo = b.payload.slice(0, i) + (b.payload[i] === "A" ? "B" : "A") + b.payload.slice(i + 1);
    await failsCleanly(a.state, ["trust", typo, "--yes"], /damaged|checksum/, /Copy the payload again/);
    await failsCleanly(a.state, ["trust", b.payload.slice(0, 50), "--yes"], /cut short|no payload has/);
    await failsCleanly(a.state, ["trust", "AGENT1:", "--yes"], /cut short|too few/);
    await failsCleanly(
      a.state,
      ["trust", b.payload.replace("AGENT1", "AGENT9"), "--yes"],
      /version 9 is not supported/,
    );
    await failsCleanly(a.state, ["trust", b.payload + ":extra", "--yes"], /character that cannot appear/);
    await failsCleanly(a.state, ["trust", a.payload, "--yes"], /this node's own key/, /OTHER board/);
    await failsCleanly(
      a.state,
      ["trust", join(tmp, "missing.png"), "--yes"],
      /neither a pairing payload .* nor an existing file/,
    );
    const text = join(tmp, "notes.txt");
    await Deno.writeTextFile(text, "hello");
    await failsCleanly(
      a.state,
      ["trust", text, "--yes"],
      /The payload in .*notes\.txt" cannot be used: /,
      /Copy the payload again/,
    );
    const blank = join(tmp, "blank.png");
    const qr = await renderQrPng("AGENT1:X");
    await Deno.writeFile(blank, qr.slice(0, qr.length - 30));
    await failsCleanly(a.state, ["trust", blank, "--yes"], /Cannot read image/);
    const notAgent = join(tmp, "other.png");
    await Deno.writeFile(notAgent, await renderQrPng("https://example.invalid/"));
    await failsCleanly(
      a.state,
      ["trust", notAgent, "--yes"],
      /QR code in .* cannot be used: Not an agent pairing payload/,
    );
    await failsCleanly(a.state, ["trust", tmp, "--yes"], /Cannot read image/);
    const c = await cli(["id", "--state", join(tmp, "gamma"), "--json"]);
    const gamma = JSON.parse(c.stdout).payload;
    await failsCleanly(a.state, ["trust", gamma], /stdin is not a terminal/, /pass --yes/);
    await failsCleanly(a.state, ["trust", gamma, "extra", "--yes"], /Unexpected argument "extra"/);
    await failsCleanly(a.state, ["trust", "list", "x"], /Unexpected argument "x"/);
    await failsCleanly(a.state, ["trust", "list", "--force"], /--force does not apply/);
    await failsCleanly(a.state, ["trust", "revoke"], /needs the fingerprint or name/);
    await failsCleanly(
      a.state,
      ["trust", "revoke", "nobody"],
      /No trusted peer matches "nobody"/,
      /agent trust list/,
    );
    const fp = b.fingerprint;
    const fpTypo = fp.slice(0, 3) + (fp[3] === "A" ? "B" : "A") + fp.slice(4);
    await failsCleanly(a.state, ["trust", "revoke", fpTypo], /typo in group 1/);
    await failsCleanly(a.state, ["trust"], /needs more arguments/);
  }));

Deno.test("agent trust revoke: persists, says so twice, blocks re-adding without --force", () =>
  withNodes(async (a, b) => {
    await cli(["trust", b.payload, "--yes", "--state", a.state]);
    const r = await cli(["trust", "revoke", "beta", "--state", a.state]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`Revoked beta \\(${b.fingerprint}\\)`));
    const twice = await cli(["trust", "revoke", b.fingerprint.toLowerCase(), "--state", a.state]);
    assert.equal(twice.code, 0);
    assert.match(twice.stdout, /already revoked .*nothing changed/);
    const list = JSON.parse((await cli(["trust", "list", "--json", "--state", a.state])).stdout);
    assert.equal(list[0].revoked, true);
    assert.match(list[0].revokedAt, /^\d{4}-\d\d-\d\dT/);
    await failsCleanly(a.state, ["trust", b.payload, "--yes"], /was revoked at .* stays revoked/, /--force/);
    const forced = await cli(["trust", b.payload, "--yes", "--force", "--state", a.state]);
    assert.equal(forced.code, 0);
    assert.match(forced.stdout, /again/);
    assert.equal(
      JSON.parse((await cli(["trust", "list", "--json", "--state", a.state])).stdout)[0].revoked,
      false,
    );
  }));

Deno.test("agent trust revoke with an ambiguous name exits 2 listing the matches", () =>
  withNodes(async (a, b, _c, tmp) => {
    // A second node also called "beta".
    const twin = join(tmp, "twin");
    await cli(["init", "--state", twin, "--name", "beta"]);
    const t = JSON.parse((await cli(["id", "--state", twin, "--json"])).stdout);
    await cli(["trust", b.payload, "--yes", "--state", a.state]);
    const second = await cli(["trust", t.payload, "--yes", "--state", a.state]);
    assert.match(second.stdout, new RegExp(`Note: another peer is also called beta \\(${b.fingerprint}\\)`));
    await failsCleanly(
      a.state,
      ["trust", "revoke", "beta"],
      new RegExp(`"beta" matches 2 peers: .*${b.fingerprint}.*|"beta" matches 2 peers: .*${t.fingerprint}`),
      /fingerprint/,
    );
    assert.equal((await cli(["trust", "revoke", t.fingerprint, "--state", a.state])).code, 0);
  }));

Deno.test("agent trust list on a fresh node says how to pair and writes nothing", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const r = await cli(["trust", "list", "--state", join(tmp, "s")]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /No trusted peers yet/);
    assert.equal(
      JSON.parse((await cli(["trust", "list", "--json", "--state", join(tmp, "s")])).stdout).length,
      0,
    );
    assert.deepEqual(await snapshotTree(tmp), new Map());
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("agent trust - reads the payload from standard input", () =>
  withNodes(async (a, b) => {
    const r = await cli(["trust", "-", "--yes", "--state", a.state], { stdin: b.payload + "\n" });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Trusted beta/);
    await failsCleanly(a.state, ["trust", "-", "--yes"], /Standard input: Pairing payload is empty/);
  }));
