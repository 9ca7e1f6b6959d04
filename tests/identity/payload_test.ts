import assert from "node:assert/strict";
import { base32nopad } from "@scure/base";
import { DecodeError, DecodeErrorCode, UsageError } from "../../src/errors.ts";
import { publicKeyFromSeed } from "../../src/identity/ed25519.ts";
import { fingerprint } from "../../src/identity/fingerprint.ts";
import {
  decodePayload,
  encodePayload,
  PAYLOAD_MAX_LENGTH,
  PAYLOAD_PREFIX,
} from "../../src/identity/payload.ts";

const key = (n: number) => publicKeyFromSeed(new Uint8Array(32).fill(n));
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const OTHERS = ALPHABET + "01890:;-+./?=&a ";

const rejects = (text: string, why: string) =>
  assert.throws(
    () => decodePayload(text),
    (e) => e instanceof DecodeError,
    `${why}: ${JSON.stringify(text)} accepted`,
  );

Deno.test("encodePayload() → decodePayload() round-trips key and name", () => {
  for (const name of ["a", "kitchen-cam", "Pi4.garage_2", "x".repeat(32)]) {
    for (let k = 0; k < 5; k++) {
      const publicKey = key(k);
      const text = encodePayload({ publicKey, name });
      const d = decodePayload(text);
      assert.deepEqual(d.publicKey, publicKey);
      assert.equal(d.name, name);
      assert.equal(d.version, 1);
      assert.equal(d.fingerprint, fingerprint(publicKey));
      assert.equal(d.payload, text);
    }
  }
});

Deno.test("payload text uses only QR alphanumeric characters and stays within its maximum length", () => {
  const longest = encodePayload({ publicKey: key(1), name: "n".repeat(32) });
  assert.equal(longest.length, PAYLOAD_MAX_LENGTH);
  assert.ok(longest.length <= 118);
  assert.match(longest, /^[0-9A-Z $%*+\-./:]+$/);
  assert.ok(longest.startsWith(PAYLOAD_PREFIX));
});

Deno.test("decodePayload() accepts lower case and whitespace from a wrapped line, returns canonical text", () => {
  const text = encodePayload({ publicKey: key(3), name: "beta" });
  const messy = `  ${text.slice(0, 40).toLowerCase()}\n  ${text.slice(40)}\n`;
  assert.equal(decodePayload(messy).payload, text);
});

Deno.test("encodePayload() refuses a name that breaks the node-name rule", () => {
  for (const name of ["", "-x", "has space", "ü", "x".repeat(33)]) {
    assert.throws(() => encodePayload({ publicKey: key(1), name }), UsageError);
  }
});

Deno.test("decodePayload() rejects one character changed at EVERY position, to every other character", () => {
  for (const name of ["a", "kitchen", "x".repeat(32)]) {
    const text = encodePayload({ publicKey: key(7), name });
    let tried = 0;
    for (let i = 0; i < text.length; i++) {
      for (const c of OTHERS) {
        if (c === text[i] || c.toUpperCase() === text[i] || c === " ") continue; // same text or whitespace
        rejects(text.slice(0, i) + c + text.slice(i + 1), `changed at ${i}`);
        tried++;
      }
      // A character deleted or inserted at this position.
      rejects(text.slice(0, i) + text.slice(i + 1), `deleted at ${i}`);
      rejects(text.slice(0, i) + "A" + text.slice(i), `inserted at ${i}`);
    }
    assert.ok(tried > text.length * 30);
  }
});

Deno.test("decodePayload() rejects the payload truncated at every length", () => {
  const text = encodePayload({ publicKey: key(8), name: "truncate-me" });
  for (let n = 0; n < text.length; n++) {
    assert.throws(() => decodePayload(text.slice(0, n)), (e) => {
      assert.ok(e instanceof DecodeError, `length ${n}: ${e}`);
      return true;
    });
  }
});

Deno.test("decodePayload() rejects wrong versions with a clear reason", () => {
  const body = encodePayload({ publicKey: key(1), name: "v" }).slice(PAYLOAD_PREFIX.length);
  for (const prefix of ["AGENT0:", "AGENT2:", "AGENT10:"]) {
    assert.throws(() => decodePayload(prefix + body), (e) => {
      assert.ok(e instanceof DecodeError);
      assert.equal(e.code, DecodeErrorCode.BadVersion);
      assert.match(e.message, /version \d+ is not supported/);
      return true;
    });
  }
  assert.throws(() => decodePayload("AGENT2:" + body), /upgrade this one/);
  for (const prefix of ["", "AGENT:", "AGENTX:", "SYNCTHING1:", "agent1;", "https://x/"]) {
    assert.throws(
      () => decodePayload(prefix + body),
      (e) => e instanceof DecodeError && e.code === DecodeErrorCode.BadMagic,
    );
  }
});

Deno.test("decodePayload() rejects extra fields and trailing data", () => {
  const text = encodePayload({ publicKey: key(1), name: "extra" });
  for (
    const extra of [":NAME", "?name=x", "&X", ":", "A", "AA", "AAAAAAAA", "AAAAAAAAAAAAAAAA", "=", "#frag"]
  ) {
    rejects(text + extra, `extra ${extra}`);
  }
  rejects(text + text.slice(PAYLOAD_PREFIX.length), "body twice");
  rejects("AGENT1:" + "A".repeat(200), "too long");
});

Deno.test("decodePayload() rejects bodies whose checksum is right but content is invalid", () => {
  // Build bodies by hand with a correct CRC (an independent CRC-32 below) to reach the later checks.
  const build = (publicKey: Uint8Array, nameBytes: Uint8Array) => {
    const body = new Uint8Array(32 + 1 + nameBytes.length + 4);
    body.set(publicKey);
    body[32] = nameBytes.length;
    body.set(nameBytes, 33);
    const prefix = new TextEncoder().encode(PAYLOAD_PREFIX);
    const all = new Uint8Array(prefix.length + body.length - 4);
    all.set(prefix);
    all.set(body.subarray(0, body.length - 4), prefix.length);
    new DataView(body.buffer).setUint32(body.length - 4, crc32Of(all), false);
    return PAYLOAD_PREFIX + base32nopad.encode(body);
  };
  // Sanity: the builder makes valid payloads.
  assert.equal(decodePayload(build(key(1), new TextEncoder().encode("ok"))).name, "ok");
  assert.throws(
    () => decodePayload(build(key(1), new TextEncoder().encode("bad name"))),
    (e) =>
      e instanceof DecodeError && e.code === DecodeErrorCode.BadValue && /invalid node name/.test(e.message),
  );
  const offCurve = new Uint8Array(32);
  offCurve[0] = 2;
  assert.throws(
    () => decodePayload(build(offCurve, new TextEncoder().encode("ok"))),
    (e) => e instanceof DecodeError && /not a valid Ed25519 key/.test(e.message),
  );
  assert.throws(() => decodePayload(build(key(1), new Uint8Array(0))), DecodeError);
  assert.throws(() => decodePayload(build(key(1), new TextEncoder().encode("x".repeat(33)))), DecodeError);
});

function crc32Of(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
