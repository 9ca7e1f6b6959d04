import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createSigner,
  isValidPublicKey,
  publicKeyFromSeed,
  randomSeed,
  Verifier,
  verify,
  webCryptoHasEd25519,
} from "../../src/identity/ed25519.ts";
import { privateKeyPem, publicKeyPem } from "../../src/identity/keyfile.ts";
import { fromHex, toHex } from "../../src/bytes.ts";

const hex = (s: string) => fromHex(s)!;

/** RFC 8032 §7.1, TEST 1–3. */
const RFC8032 = [
  {
    name: "TEST 1 (empty message)",
    seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    message: "",
    signature:
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    name: "TEST 2 (1 byte)",
    seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature:
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    name: "TEST 3 (2 bytes)",
    seed: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    publicKey: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    message: "af82",
    signature:
      "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
];

Deno.test("WebCrypto Ed25519 is available in this runtime", async () => {
  assert.equal(await webCryptoHasEd25519(), true);
});

for (const impl of ["webcrypto", "noble"] as const) {
  for (const v of RFC8032) {
    Deno.test(`createSigner(${impl}) reproduces RFC 8032 ${v.name} and verify() accepts it`, async () => {
      const signer = await createSigner(hex(v.seed), impl);
      assert.equal(toHex(signer.publicKey), v.publicKey);
      assert.equal(toHex(publicKeyFromSeed(hex(v.seed))), v.publicKey);
      const sig = await signer.sign(hex(v.message));
      assert.equal(toHex(sig), v.signature);
      for (const by of ["webcrypto", "noble"] as const) {
        assert.equal(await verify(hex(v.publicKey), hex(v.message), sig, by), true);
        // One flipped bit anywhere in the signature or message is rejected.
        const badSig = sig.slice();
        badSig[17] ^= 1;
        assert.equal(await verify(hex(v.publicKey), hex(v.message), badSig, by), false);
        const badMsg = Uint8Array.from([...hex(v.message), 0]);
        assert.equal(await verify(hex(v.publicKey), badMsg, sig, by), false);
      }
    });
  }
}

Deno.test("WebCrypto and noble produce byte-identical signatures for random keys and messages", async () => {
  for (let i = 0; i < 20; i++) {
    const seed = randomSeed();
    const msg = crypto.getRandomValues(new Uint8Array(i * 97));
    const a = await createSigner(seed, "webcrypto");
    const b = await createSigner(seed, "noble");
    assert.deepEqual(a.publicKey, b.publicKey);
    assert.deepEqual(await a.sign(msg), await b.sign(msg));
  }
});

Deno.test("Verifier returns false (never throws) on malformed keys and signatures", async () => {
  const v = new Verifier();
  const s = await createSigner(randomSeed());
  const msg = new Uint8Array([1, 2, 3]);
  const sig = await s.sign(msg);
  assert.equal(await v.verify(s.publicKey, msg, sig), true);
  assert.equal(await v.verify(s.publicKey.subarray(1), msg, sig), false);
  assert.equal(await v.verify(s.publicKey, msg, sig.subarray(1)), false);
  assert.equal(await v.verify(new Uint8Array(32).fill(0xff), msg, sig), false);
});

Deno.test("isValidPublicKey() accepts real keys, rejects off-curve, small-order and short keys", async () => {
  const s = await createSigner(randomSeed());
  assert.equal(isValidPublicKey(s.publicKey), true);
  assert.equal(isValidPublicKey(s.publicKey.subarray(1)), false);
  // y = 2 is not on the curve.
  const off = new Uint8Array(32);
  off[0] = 2;
  assert.equal(isValidPublicKey(off), false);
  // The identity point (y = 1) has small order.
  const identity = new Uint8Array(32);
  identity[0] = 1;
  assert.equal(isValidPublicKey(identity), false);
});

async function openssl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("OpenSSL verifies our signatures, reads our key files, and we verify OpenSSL's", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const seed = randomSeed();
    const signer = await createSigner(seed);
    await Deno.writeTextFile(join(dir, "pub.pem"), publicKeyPem(signer.publicKey));
    await Deno.writeTextFile(join(dir, "key.pem"), privateKeyPem(seed));
    const messages = [
      hex(RFC8032[1].message),
      hex(RFC8032[2].message),
      crypto.getRandomValues(new Uint8Array(1232)),
    ];
    for (const [i, msg] of messages.entries()) {
      await Deno.writeFile(join(dir, `m${i}.bin`), msg);
      await Deno.writeFile(join(dir, `s${i}.bin`), await signer.sign(msg));
      const ok = await openssl([
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        join(dir, "pub.pem"),
        "-rawin",
        "-in",
        join(dir, `m${i}.bin`),
        "-sigfile",
        join(dir, `s${i}.bin`),
      ]);
      assert.equal(ok.code, 0, ok.stderr + ok.stdout);
      assert.match(ok.stdout, /Signature Verified Successfully/);
      // A corrupted signature fails in OpenSSL too (so the check above can fail).
      const bad = await signer.sign(msg);
      bad[0] ^= 0x80;
      await Deno.writeFile(join(dir, `bad${i}.bin`), bad);
      const no = await openssl([
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        join(dir, "pub.pem"),
        "-rawin",
        "-in",
        join(dir, `m${i}.bin`),
        "-sigfile",
        join(dir, `bad${i}.bin`),
      ]);
      assert.notEqual(no.code, 0);
    }
    // OpenSSL derives the same public key from our private key file…
    const pub = await openssl(["pkey", "-in", join(dir, "key.pem"), "-pubout"]);
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal(pub.stdout, publicKeyPem(signer.publicKey));
    // …and its signature with our key file is the same bytes ours is, and verifies with us.
    const msg = messages[2];
    const sig = await new Deno.Command("openssl", {
      args: ["pkeyutl", "-sign", "-inkey", join(dir, "key.pem"), "-rawin", "-in", join(dir, "m2.bin")],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(sig.code, 0);
    assert.deepEqual(sig.stdout, await signer.sign(msg));
    assert.equal(await verify(signer.publicKey, msg, sig.stdout, "noble"), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
