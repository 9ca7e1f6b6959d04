import assert from "node:assert/strict";
import { decode as decodePng, encode as encodePng } from "fast-png";
import QRCode from "qrcode";
import { DecodeError, DecodeErrorCode } from "../../src/errors.ts";
import { publicKeyFromSeed } from "../../src/identity/ed25519.ts";
import { encodePayload } from "../../src/identity/payload.ts";
import { readQrImage, renderQrPng, renderQrSvg, renderQrText } from "../../src/identity/qr.ts";

const payload = encodePayload({
  publicKey: publicKeyFromSeed(new Uint8Array(32).fill(4)),
  name: "q".repeat(32),
});

/** The rendered QR as 8-bit grey values (0 = dark), plus its size. */
async function grey(): Promise<{ width: number; height: number; g: Uint8Array }> {
  const png = decodePng(await renderQrPng(payload));
  assert.equal(png.depth, 8);
  const g = new Uint8Array(png.width * png.height);
  for (let i = 0; i < g.length; i++) g[i] = png.data[i * png.channels];
  return { width: png.width, height: png.height, g };
}

Deno.test("renderQrPng() → readQrImage() returns the payload", async () => {
  assert.equal(readQrImage(await renderQrPng(payload)), payload);
});

Deno.test("readQrImage() reads greyscale, 16-bit, RGB, grey+alpha, 1-bit, palette and inverted PNGs", async () => {
  const { width, height, g } = await grey();
  const n = width * height;
  const variants: Record<string, Uint8Array> = {
    "grey 8": encodePng({ width, height, data: g, channels: 1, depth: 8 }),
    "grey 16": encodePng({
      width,
      height,
      data: Uint16Array.from(g, (v) => v * 257),
      channels: 1,
      depth: 16,
    }),
    "rgb 8": encodePng({
      width,
      height,
      data: Uint8Array.from({ length: n * 3 }, (_, i) => g[Math.floor(i / 3)]),
      channels: 3,
      depth: 8,
    }),
    // Dark modules opaque black, light ones fully transparent: must read as dark on white.
    "grey+alpha": encodePng({
      width,
      height,
      data: Uint8Array.from({ length: n * 2 }, (_, i) => (i % 2 === 0 ? 0 : 255 - g[i >> 1])),
      channels: 2,
      depth: 8,
    }),
    "inverted": encodePng({ width, height, data: g.map((v) => 255 - v), channels: 1, depth: 8 }),
  };
  // 1-bit greyscale, rows padded to whole bytes.
  const stride = Math.ceil(width / 8);
  const packed = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (g[y * width + x] > 127) packed[y * stride + (x >> 3)] |= 0x80 >> (x & 7);
    }
  }
  variants["grey 1-bit"] = encodePng({ width, height, data: packed, channels: 1, depth: 1 });
  variants["palette"] = encodePng({
    width,
    height,
    data: Uint8Array.from(g, (v) => (v > 127 ? 1 : 0)),
    channels: 1,
    depth: 8,
    palette: [[0, 0, 0], [255, 255, 255]],
  });
  for (const [name, png] of Object.entries(variants)) {
    assert.equal(readQrImage(png), payload, name);
  }
});

Deno.test("readQrImage() rejects non-PNG bytes, damaged PNGs, images without a QR code and huge images", async () => {
  const expect = (bytes: Uint8Array, code: number, re: RegExp) =>
    assert.throws(() => readQrImage(bytes), (e) => {
      assert.ok(e instanceof DecodeError, String(e));
      assert.equal(e.code, code, e.message);
      assert.match(e.message, re);
      return true;
    });
  expect(new TextEncoder().encode("GIF89a not a png"), DecodeErrorCode.BadMagic, /Not a PNG/);
  expect(new Uint8Array(0), DecodeErrorCode.BadMagic, /Not a PNG/);
  const png = await renderQrPng(payload);
  for (const cut of [8, 20, 40, png.length - 20]) {
    assert.throws(() => readQrImage(png.slice(0, cut)), DecodeError, `cut at ${cut}`);
  }
  const flipped = png.slice();
  flipped[Math.floor(png.length / 2)] ^= 0xff;
  assert.throws(() => readQrImage(flipped), DecodeError);
  const blank = encodePng({
    width: 64,
    height: 64,
    data: new Uint8Array(64 * 64).fill(255),
    channels: 1,
    depth: 8,
  });
  expect(blank, DecodeErrorCode.BadValue, /No QR code found/);
  const huge = png.slice();
  new DataView(huge.buffer).setUint32(16, 100_000, false);
  new DataView(huge.buffer).setUint32(20, 100_000, false);
  expect(huge, DecodeErrorCode.TooLarge, /100000×100000/);
});

Deno.test("renderQrText() draws plain blocks for files and black-on-white ANSI for terminals", async () => {
  const plain = await renderQrText(payload, { ansi: false });
  assert.ok(!plain.includes("\x1b["));
  assert.match(plain, /[█▀▄]/);
  const lines = plain.split("\n").filter((l) => l.length > 0);
  assert.ok(lines.length <= 30, `${lines.length} lines is too tall for a terminal`);
  assert.ok(Math.max(...lines.map((l) => [...l].length)) <= 50);
  const ansi = await renderQrText(payload, { ansi: true });
  const lines2 = ansi.split("\n").filter((l) => l.length > 0);
  assert.ok(lines2.every((l) => l.startsWith("\x1b[30;47m") && l.endsWith("\x1b[0m")));
  assert.equal(lines2.map((l) => l.slice(8, -4)).join("\n"), lines.join("\n"));
});

Deno.test("renderQrSvg() produces an SVG document", async () => {
  const svg = await renderQrSvg(payload);
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\s*$/);
});

Deno.test("the terminal drawing is itself a readable QR code (half blocks → pixels → decoder)", async () => {
  const text = await renderQrText(payload, { ansi: false });
  const lines = text.split("\n").filter((l) => l.length > 0).map((l) => [...l]);
  const cols = Math.max(...lines.map((l) => l.length));
  const scale = 4;
  const width = cols * scale;
  const height = lines.length * 2 * scale;
  const g = new Uint8Array(width * height).fill(255);
  lines.forEach((chars, row) => {
    chars.forEach((ch, col) => {
      const top = ch === "█" || ch === "▀";
      const bottom = ch === "█" || ch === "▄";
      for (const [half, dark] of [[0, top], [1, bottom]] as const) {
        if (!dark) continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            g[((row * 2 + half) * scale + dy) * width + col * scale + dx] = 0;
          }
        }
      }
    });
  });
  assert.equal(readQrImage(encodePng({ width, height, data: g, channels: 1, depth: 8 })), payload);
});

Deno.test("the longest payload fits a version-5 QR code in alphanumeric mode at level M", () => {
  const code = QRCode.create(payload, { errorCorrectionLevel: "M" });
  assert.equal(payload.length, 118);
  assert.ok(code.version <= 5, `version ${code.version}`);
  assert.deepEqual(code.segments.map((s) => s.mode.id), ["Alphanumeric"]);
});
