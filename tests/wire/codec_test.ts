import assert from "node:assert/strict";
import { DecodeError, DecodeErrorCode } from "../../src/errors.ts";
import { verify } from "../../src/identity/ed25519.ts";
import {
  bodyBudget,
  decodeFrame,
  decodeHeader,
  DEFAULT_MAX_INFLATED,
  deflateBody,
  encodeFrame,
  encodeUnsigned,
  FRAME_OVERHEAD,
  inflateBody,
  looksLikeFrame,
  MAX_DATAGRAM,
  MessageType,
  MODEL_HASH_SIZE,
  Offset,
  signatureOf,
  signedPart,
} from "../../src/wire/mod.ts";
import { MODEL_HASH } from "../_support/gossip_node.ts";
import { testSigner } from "../_support/identity.ts";
import { expectDecodeError } from "../_support/decode_error.ts";

const signer = await testSigner(1);

/** Incompressible bytes (so a body of n compressed bytes can be built exactly). */
function randomBytes(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function fields(body: Uint8Array, type: MessageType = MessageType.Delta) {
  return { type, modelHash: MODEL_HASH, bootEpoch: 7, counter: 42, body };
}

Deno.test("FRAME_OVERHEAD and bodyBudget() match the layout table", () => {
  assert.equal(FRAME_OVERHEAD, 120);
  assert.equal(Offset.body, 56);
  assert.equal(MODEL_HASH_SIZE, 8);
  assert.equal(bodyBudget(1232), 1112);
  assert.equal(bodyBudget(512), 392);
  assert.equal(bodyBudget(4096), 3976);
  for (const bad of [511, 4097, 0, 1232.5, NaN]) assert.throws(() => bodyBudget(bad), /maxDatagram/);
});

Deno.test("encodeFrame() and decodeFrame() round-trip every field", async () => {
  const raw = new TextEncoder().encode("hello ".repeat(100));
  const frame = await encodeFrame(
    {
      type: MessageType.SnapshotChunk,
      modelHash: MODEL_HASH,
      bootEpoch: 0xffff_ffff,
      counter: 0,
      body: deflateBody(raw),
    },
    signer,
    1232,
  );
  const { header, body, signature } = decodeFrame(frame, { maxDatagram: 1232 });
  assert.equal(header.type, MessageType.SnapshotChunk);
  assert.equal(header.version, 1);
  assert.deepEqual(header.senderKey, signer.publicKey);
  assert.deepEqual(header.modelHash, MODEL_HASH);
  assert.equal(header.bootEpoch, 0xffff_ffff);
  assert.equal(header.counter, 0);
  assert.deepEqual(body, raw);
  assert.equal(signature.length, 64);
  assert.equal(await verify(signer.publicKey, signedPart(frame), signatureOf(frame)), true);
});

for (const maxDatagram of [512, 1232, 4096]) {
  Deno.test(`encodeFrame() fills exactly ${maxDatagram} bytes and refuses one byte more`, async () => {
    const budget = bodyBudget(maxDatagram);
    const frame = await encodeFrame(fields(randomBytes(budget)), signer, maxDatagram);
    assert.equal(frame.length, maxDatagram);
    decodeHeader(frame, { maxDatagram });
    await assert.rejects(
      () => encodeFrame(fields(randomBytes(budget + 1)), signer, maxDatagram),
      (e: Error) => !(e instanceof DecodeError) && /exceeds maxDatagram/.test(e.message),
    );
  });
}

Deno.test("encodeFrame() refuses invalid fields with a plain Error", async () => {
  const body = deflateBody(new Uint8Array(10));
  const cases: [string, Parameters<typeof encodeUnsigned>[0]][] = [
    ["unknown type", { ...fields(body), type: 9 as MessageType }],
    ["model hash", { ...fields(body), modelHash: new Uint8Array(7) }],
    ["u32", { ...fields(body), bootEpoch: 2 ** 32 }],
    ["u32", { ...fields(body), counter: -1 }],
    ["empty", { ...fields(new Uint8Array(0)) }],
  ];
  for (const [what, f] of cases) {
    await assert.rejects(() => encodeFrame(f, signer, 1232), (e: Error) => !(e instanceof DecodeError), what);
  }
  assert.throws(() => encodeUnsigned(fields(body), new Uint8Array(31), 1232), /sender key/);
  assert.throws(() => encodeUnsigned(fields(body), signer.publicKey, 5000), /maxDatagram/);
});

Deno.test("decodeHeader() takes exactly the cap and rejects cap + 1 before parsing", async () => {
  const big = await encodeFrame(fields(randomBytes(bodyBudget(4096))), signer, 4096);
  const cases: [number, number, boolean][] = [
    // [configured cap, datagram length, accepted]
    [1232, 1232, true],
    [1232, 1233, false],
    [512, 512, true],
    [512, 513, false],
    [4096, 4096, true],
    [9000, 4096, true], // the hard cap wins over a larger configured value
  ];
  for (const [cap, length, ok] of cases) {
    const frame = await encodeFrame(fields(randomBytes(length - FRAME_OVERHEAD)), signer, 4096);
    assert.equal(frame.length, length);
    if (ok) decodeHeader(frame, { maxDatagram: cap });
    else expectDecodeError(() => decodeHeader(frame, { maxDatagram: cap }), DecodeErrorCode.TooLarge);
  }
  const tooBig = new Uint8Array(MAX_DATAGRAM + 1);
  tooBig.set(big);
  expectDecodeError(() => decodeHeader(tooBig, { maxDatagram: 9000 }), DecodeErrorCode.TooLarge);
});

Deno.test("decodeFrame() rejects a frame truncated at every length with a DecodeError", async () => {
  const frame = await encodeFrame(
    fields(deflateBody(new TextEncoder().encode("x".repeat(300)))),
    signer,
    1232,
  );
  for (let n = 0; n < frame.length; n++) {
    expectDecodeError(() => decodeFrame(frame.subarray(0, n), { maxDatagram: 1232 }));
  }
  // Extended by one byte: the length field no longer matches.
  const longer = new Uint8Array(frame.length + 1);
  longer.set(frame);
  expectDecodeError(() => decodeFrame(longer, { maxDatagram: 1232 }), DecodeErrorCode.BadLength);
});

Deno.test("decodeHeader() names the bad field with code and offset", async () => {
  const frame = await encodeFrame(fields(deflateBody(new Uint8Array(50))), signer, 1232);
  const cases: [string, (f: Uint8Array) => void, DecodeErrorCode, number][] = [
    ["magic", (f) => (f[0] = 0x42), DecodeErrorCode.BadMagic, 0],
    ["magic 3rd byte", (f) => (f[2] = 0), DecodeErrorCode.BadMagic, 2],
    ["version 0", (f) => (f[3] = 0), DecodeErrorCode.BadVersion, 3],
    ["version 2", (f) => (f[3] = 2), DecodeErrorCode.BadVersion, 3],
    ["type 0", (f) => (f[4] = 0), DecodeErrorCode.BadType, 4],
    ["type 5", (f) => (f[4] = 5), DecodeErrorCode.BadType, 4],
    ["type 255", (f) => (f[4] = 255), DecodeErrorCode.BadType, 4],
    ["flags", (f) => (f[5] = 1), DecodeErrorCode.BadValue, 5],
    ["length + 1", (f) => (f[7] += 1), DecodeErrorCode.BadLength, 6],
    ["length - 1", (f) => (f[7] -= 1), DecodeErrorCode.BadLength, 6],
    ["length high byte", (f) => (f[6] = 0xff), DecodeErrorCode.BadLength, 6],
  ];
  for (const [what, mutate, code, offset] of cases) {
    const f = frame.slice();
    mutate(f);
    const e = expectDecodeError(() => decodeHeader(f, { maxDatagram: 1232 }), code);
    assert.equal(e.offset, offset, what);
  }
});

Deno.test("decodeHeader() rejects a frame whose body is empty", async () => {
  const frame = await encodeFrame(fields(new Uint8Array([0x03, 0x00])), signer, 1232);
  const cut = new Uint8Array(FRAME_OVERHEAD);
  cut.set(frame.subarray(0, Offset.body));
  cut[6] = 0;
  cut[7] = 0;
  expectDecodeError(() => decodeHeader(cut, { maxDatagram: 1232 }), DecodeErrorCode.Truncated);
});

Deno.test("inflateBody() enforces the cap exactly: max passes, max + 1 is rejected", () => {
  const cases: [number, number, boolean][] = [
    [1000, 1000, true],
    [1001, 1000, false],
    [DEFAULT_MAX_INFLATED, DEFAULT_MAX_INFLATED, true],
    [DEFAULT_MAX_INFLATED + 1, DEFAULT_MAX_INFLATED, false],
    [0, 0, true],
  ];
  for (const [size, cap, ok] of cases) {
    const compressed = deflateBody(new Uint8Array(size).fill(0x61));
    if (ok) assert.equal(inflateBody(compressed, cap).length, size);
    else expectDecodeError(() => inflateBody(compressed, cap), DecodeErrorCode.TooLarge);
  }
});

Deno.test("inflateBody() rejects a DEFLATE bomb with a bounded result", () => {
  const bomb = deflateBody(new Uint8Array(2 << 20)); // 2 MiB of zeros, about 2 kB compressed
  assert.ok(bomb.length <= bodyBudget(4096), `${bomb.length}`);
  expectDecodeError(() => inflateBody(bomb), DecodeErrorCode.TooLarge);
});

Deno.test("inflateBody() turns broken DEFLATE streams into DecodeErrors", () => {
  const good = deflateBody(new TextEncoder().encode("the quick brown fox ".repeat(20)));
  const cases: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array([0xff]),
    new Uint8Array([0x07]), // reserved block type 3
    good.subarray(0, good.length - 3), // truncated stream
    new Uint8Array([0x00, 0x05, 0x00, 0x00, 0x00]), // stored block whose LEN/NLEN run past the end
  ];
  for (const c of cases) expectDecodeError(() => inflateBody(c));
});

Deno.test("deflateBody() is deterministic and readable by zlib (raw DEFLATE, RFC 1951)", async () => {
  const raw = new TextEncoder().encode("delta ".repeat(200));
  const a = deflateBody(raw);
  assert.deepEqual(deflateBody(raw), a);
  const out = await new Deno.Command("python3", {
    args: ["-c", "import sys,zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read(), -15))"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const w = out.stdin.getWriter();
  await w.write(a);
  await w.close();
  const { stdout, success } = await out.output();
  assert.ok(success);
  assert.deepEqual(stdout, raw);
});

Deno.test("the signature covers every byte before it", async () => {
  const frame = await encodeFrame(fields(deflateBody(new Uint8Array(64).fill(3))), signer, 1232);
  for (let i = 0; i < frame.length - 64; i += 7) {
    const f = frame.slice();
    f[i] ^= 0x01;
    assert.equal(await verify(signer.publicKey, signedPart(f), signatureOf(f)), false, `byte ${i}`);
  }
});

Deno.test("looksLikeFrame() agrees with decodeHeader() on magic, version and minimum length", async () => {
  const frame = await encodeFrame(fields(deflateBody(new Uint8Array(8))), signer, 1232);
  assert.equal(looksLikeFrame(frame), true);
  assert.equal(looksLikeFrame(frame.subarray(0, FRAME_OVERHEAD)), false);
  for (const i of [0, 1, 2, 3]) {
    const f = frame.slice();
    f[i] ^= 0x10;
    assert.equal(looksLikeFrame(f), false, `byte ${i}`);
    expectDecodeError(() => decodeHeader(f, { maxDatagram: 1232 }));
  }
});
