import assert from "node:assert/strict";
import { DecodeError, DecodeErrorCode } from "../../src/errors.ts";
import { ACCURACY_UNKNOWN, decodeHello, encodeHello, type HelloBody } from "../../src/wire/mod.ts";
import { expectDecodeError } from "../_support/decode_error.ts";

const hello: HelloBody = {
  name: "kitchen-cam.2",
  round: 12,
  samples: 3400,
  merged: 77,
  accuracy: 9123,
  uptime: 3600,
};

Deno.test("encodeHello() and decodeHello() round-trip", () => {
  assert.deepEqual(decodeHello(encodeHello(hello)), hello);
  const maxName = { ...hello, name: "a".repeat(32), round: 0xffff_ffff, accuracy: ACCURACY_UNKNOWN };
  assert.deepEqual(decodeHello(encodeHello(maxName)), maxName);
});

Deno.test("encodeHello() clamps counters and refuses bad names", () => {
  const h = decodeHello(encodeHello({ ...hello, round: -5, samples: 2 ** 40, accuracy: 10001, uptime: NaN }));
  assert.equal(h.round, 0);
  assert.equal(h.samples, 0xffff_ffff);
  assert.equal(h.accuracy, ACCURACY_UNKNOWN);
  assert.equal(h.uptime, 0);
  for (const name of ["", "a".repeat(33), "-x", "bad name", "ünï"]) {
    assert.throws(() => encodeHello({ ...hello, name }), /name/);
  }
});

Deno.test("decodeHello() rejects a body truncated at every length", () => {
  const body = encodeHello(hello);
  for (let n = 0; n < body.length; n++) {
    assert.throws(() => decodeHello(body.subarray(0, n)), DecodeError);
  }
});

Deno.test("decodeHello() rejects trailing bytes, bad lengths, names and accuracy", () => {
  const body = encodeHello(hello);
  const longer = new Uint8Array(body.length + 1);
  longer.set(body);
  expectDecodeError(() => decodeHello(longer), DecodeErrorCode.TrailingBytes);
  const zeroName = body.slice();
  zeroName[0] = 0;
  expectDecodeError(() => decodeHello(zeroName), DecodeErrorCode.BadLength);
  const longName = body.slice();
  longName[0] = 33;
  expectDecodeError(() => decodeHello(longName), DecodeErrorCode.BadLength);
  const ctrl = body.slice();
  ctrl[2] = 0x1b; // ESC in a name would reach terminals
  expectDecodeError(() => decodeHello(ctrl), DecodeErrorCode.BadValue);
  const acc = body.slice();
  const o = 1 + hello.name.length + 12;
  acc[o] = 0x27;
  acc[o + 1] = 0x11; // 10001
  expectDecodeError(() => decodeHello(acc), DecodeErrorCode.BadValue);
});
