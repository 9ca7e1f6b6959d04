import assert from "node:assert/strict";
import { DecodeError, DecodeErrorCode } from "../../src/errors.ts";
import {
  decodeChunk,
  decodeDelta,
  decodeSnapshotRequest,
  encodeChunk,
  encodeDelta,
  encodeSnapshotRequest,
  fromFp16,
  quantize,
  toFp16,
  ValueEncoding,
} from "../../src/learn/codec.ts";
import { SeededRandom } from "../../src/time.ts";

const HASH = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);

function randomDelta(rng: SeededRandom, paramCount: number, encoding: ValueEncoding) {
  const n = 1 + (rng.nextU32() % Math.min(600, paramCount));
  const set = new Set<number>();
  while (set.size < n) set.add(rng.nextU32() % paramCount);
  const indices = [...set].sort((a, b) => a - b);
  const values = indices.map(() => (rng.next() * 2 - 1) * 10 ** (rng.next() * 4 - 3));
  return {
    modelHash: HASH,
    epoch: rng.nextU32(),
    stamp: rng.nextU32(),
    paramCount,
    encoding,
    indices,
    values,
  };
}

Deno.test("encodeDelta()/decodeDelta() round-trip random bodies in every encoding (property)", () => {
  const rng = new SeededRandom(7);
  for (let trial = 0; trial < 300; trial++) {
    const encoding = ([ValueEncoding.Int8, ValueEncoding.Fp16, ValueEncoding.F32] as const)[trial % 3];
    const paramCount = 1 + (rng.nextU32() % 300_000);
    const input = randomDelta(rng, paramCount, encoding);
    const { body, decoded } = encodeDelta(input);
    const out = decodeDelta(body);
    assert.deepEqual(Array.from(out.indices), input.indices);
    assert.deepEqual(out.values, decoded, "receiver decodes exactly what the sender mirrors");
    assert.equal(out.epoch, input.epoch);
    assert.equal(out.stamp, input.stamp);
    assert.equal(out.paramCount, paramCount);
    assert.deepEqual(out.modelHash, HASH);
    // Quantization error bound per encoding.
    const maxAbs = Math.max(...input.values.map(Math.abs));
    input.values.forEach((v, i) => {
      const err = Math.abs(out.values[i] - v);
      const bound = encoding === ValueEncoding.Int8
        ? maxAbs / 127 / 2 * 1.0001
        : encoding === ValueEncoding.Fp16
        ? Math.max(Math.abs(v) * 2 ** -11, 2 ** -25) * 1.0001
        : Math.abs(v) * 2 ** -23;
      assert.ok(err <= bound, `trial ${trial}: |${out.values[i]} − ${v}| = ${err} > ${bound}`);
    });
  }
});

Deno.test("encodeChunk()/decodeChunk() round-trip a contiguous range", () => {
  const values = Float32Array.from({ length: 900 }, (_, i) => Math.sin(i) * 0.3);
  const { body, decoded } = encodeChunk({
    modelHash: HASH,
    epoch: 9,
    stamp: 77,
    paramCount: 25_450,
    encoding: ValueEncoding.Int8,
    start: 24_550,
    values,
  });
  const out = decodeChunk(body);
  assert.equal(out.indices[0], 24_550);
  assert.equal(out.indices[899], 25_449);
  assert.deepEqual(out.values, decoded);
});

Deno.test("toFp16()/fromFp16() match IEEE half precision at the boundaries", () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65520, 0x7c00], // rounds to Inf
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -14, 0x0400], // smallest normal
    [Infinity, 0x7c00],
  ];
  for (const [v, h] of cases) assert.equal(toFp16(v), h, `toFp16(${v})`);
  assert.ok(Number.isNaN(fromFp16(toFp16(NaN))));
  for (let h = 0; h < 0x7c00; h += 37) assert.equal(toFp16(fromFp16(h)), h, `half ${h} round-trips`);
  assert.equal(quantize(0.1, ValueEncoding.Int8, 0.001), Math.fround(100 * 0.001));
});

Deno.test("decodeDelta() turns every truncation into a DecodeError, never a RangeError", () => {
  const { body } = encodeDelta(randomDelta(new SeededRandom(3), 25_450, ValueEncoding.Fp16));
  for (let len = 0; len < body.length; len++) {
    assert.throws(() => decodeDelta(body.subarray(0, len)), DecodeError, `length ${len}`);
  }
  const chunk = encodeChunk({
    modelHash: HASH,
    epoch: 0,
    stamp: 1,
    paramCount: 100,
    encoding: ValueEncoding.Int8,
    start: 0,
    values: new Float32Array(50).fill(0.5),
  }).body;
  for (let len = 0; len < chunk.length; len++) {
    assert.throws(() => decodeChunk(chunk.subarray(0, len)), DecodeError);
  }
  const req = encodeSnapshotRequest({ modelHash: HASH, targets: [new Uint8Array(8).fill(3)] });
  for (let len = 0; len < req.length; len++) {
    assert.throws(() => decodeSnapshotRequest(req.subarray(0, len)), DecodeError);
  }
});

Deno.test("decodeDelta() rejects hostile fields with a code and offset", () => {
  const good = encodeDelta({
    modelHash: HASH,
    epoch: 0,
    stamp: 1,
    paramCount: 1000,
    encoding: ValueEncoding.Int8,
    indices: [5, 999],
    values: [0.1, -0.2],
  }).body;
  const cases: { name: string; edit: (b: Uint8Array) => void; code: number; offset?: number }[] = [
    { name: "format", edit: (b) => (b[0] = 9), code: DecodeErrorCode.BadVersion, offset: 0 },
    { name: "encoding", edit: (b) => (b[21] = 7), code: DecodeErrorCode.BadValue, offset: 21 },
    {
      name: "NaN scale",
      edit: (b) => new DataView(b.buffer).setFloat32(22, NaN, true),
      code: DecodeErrorCode.BadValue,
      offset: 22,
    },
    { name: "zero count", edit: (b) => (b[26] = b[27] = 0), code: DecodeErrorCode.BadLength, offset: 26 },
    {
      name: "index ≥ paramCount",
      edit: (b) => new DataView(b.buffer).setUint32(17, 999, true),
      code: DecodeErrorCode.BadValue,
    },
  ];
  for (const c of cases) {
    const b = good.slice();
    c.edit(b);
    assert.throws(() => decodeDelta(b), (e: unknown) => {
      assert.ok(e instanceof DecodeError, c.name);
      assert.equal(e.code, c.code, c.name);
      if (c.offset !== undefined) assert.equal(e.offset, c.offset, c.name);
      return true;
    });
  }
  const longer = new Uint8Array(good.length + 1);
  longer.set(good);
  assert.throws(
    () => decodeDelta(longer),
    (e: unknown) => e instanceof DecodeError && e.code === DecodeErrorCode.TrailingBytes,
  );
});

Deno.test("decoders never throw anything but DecodeError on random bytes", () => {
  const rng = new SeededRandom(11);
  for (let i = 0; i < 3000; i++) {
    const b = Uint8Array.from({ length: rng.nextU32() % 80 }, () => rng.nextU32() & 0xff);
    if (b.length > 0) b[0] = 1; // get past the format byte more often
    for (const decode of [decodeDelta, decodeChunk, decodeSnapshotRequest]) {
      try {
        decode(b);
      } catch (e) {
        assert.ok(e instanceof DecodeError, `${decode.name}: ${e}`);
      }
    }
  }
});
