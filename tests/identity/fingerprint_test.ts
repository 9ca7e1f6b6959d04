import assert from "node:assert/strict";
import { DecodeError, DecodeErrorCode } from "../../src/errors.ts";
import { publicKeyFromSeed } from "../../src/identity/ed25519.ts";
import {
  fingerprint,
  FINGERPRINT_LENGTH,
  looksLikeFingerprint,
  parseFingerprint,
} from "../../src/identity/fingerprint.ts";

const key = (n: number) => publicKeyFromSeed(new Uint8Array(32).fill(n));
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

Deno.test("fingerprint() is 4 dash-separated groups of 7 base32 characters, stable per key", () => {
  const fp = fingerprint(key(1));
  assert.match(fp, /^[A-Z2-7]{7}-[A-Z2-7]{7}-[A-Z2-7]{7}-[A-Z2-7]{7}$/);
  assert.equal(fp.length, FINGERPRINT_LENGTH);
  assert.equal(fingerprint(key(1)), fp);
  assert.notEqual(fingerprint(key(2)), fp);
});

Deno.test("parseFingerprint() accepts any case, no dashes, spaces and 0/1/8 look-alikes", () => {
  for (let i = 0; i < 50; i++) {
    const fp = fingerprint(key(i));
    assert.equal(parseFingerprint(fp), fp);
    assert.equal(parseFingerprint(fp.toLowerCase()), fp);
    assert.equal(parseFingerprint(fp.replace(/-/g, "")), fp);
    assert.equal(parseFingerprint(` ${fp.replace(/-/g, " ")} `), fp);
    assert.equal(parseFingerprint(fp.replace(/O/g, "0").replace(/I/g, "1").replace(/B/g, "8")), fp);
    assert.equal(looksLikeFingerprint(fp), true);
  }
});

Deno.test("parseFingerprint() rejects every single-character substitution", () => {
  for (let k = 0; k < 5; k++) {
    const fp = fingerprint(key(k));
    for (let i = 0; i < fp.length; i++) {
      if (fp[i] === "-") continue;
      for (const c of ALPHABET) {
        if (c === fp[i]) continue;
        const typo = fp.slice(0, i) + c + fp.slice(i + 1);
        assert.throws(() => parseFingerprint(typo), (e) => e instanceof DecodeError, `${typo} was accepted`);
      }
    }
  }
});

Deno.test("parseFingerprint() rejects swapped adjacent characters and swapped groups", () => {
  for (let k = 0; k < 20; k++) {
    const fp = fingerprint(key(k));
    const compact = fp.replace(/-/g, "");
    for (let i = 0; i + 1 < compact.length; i++) {
      if (compact[i] === compact[i + 1]) continue;
      const swapped = compact.slice(0, i) + compact[i + 1] + compact[i] + compact.slice(i + 2);
      assert.throws(() => parseFingerprint(swapped), DecodeError, `swap at ${i} of ${fp} was accepted`);
    }
    const g = fp.split("-");
    assert.throws(() => parseFingerprint([g[1], g[0], g[2], g[3]].join("-")), DecodeError);
  }
});

Deno.test("parseFingerprint() names the problem: bad character, length, check", () => {
  const fp = fingerprint(key(9));
  assert.throws(() => parseFingerprint(fp.slice(0, -1)), (e) => {
    assert.ok(e instanceof DecodeError);
    assert.equal(e.code, DecodeErrorCode.Truncated);
    assert.match(e.message, /27 characters, expected 28/);
    return true;
  });
  assert.throws(
    () => parseFingerprint(fp + "A"),
    (e) => e instanceof DecodeError && e.code === DecodeErrorCode.BadLength,
  );
  assert.throws(
    () => parseFingerprint(fp.replace(/^./, "!")),
    (e) => e instanceof DecodeError && e.code === DecodeErrorCode.BadValue && /"!"/.test(e.message),
  );
  const typo = fp.slice(0, 9) + (fp[9] === "A" ? "B" : "A") + fp.slice(10);
  assert.throws(
    () => parseFingerprint(typo),
    (e) => e instanceof DecodeError && e.code === DecodeErrorCode.BadChecksum && /group 2/.test(e.message),
  );
});
