/**
 * QR codes for pairing: drawing a payload (terminal, PNG, SVG) with `npm:qrcode`, and reading one back
 * from a PNG with `npm:fast-png` + `npm:jsqr`. Pure (bytes in, bytes or text out); the CLI does the
 * file I/O. Loaded lazily by the CLI, as these libraries are not needed for anything else.
 *
 * Error correction level M (15 %): a 118-character payload is then a version-5 code (37×37 modules),
 * which a phone reads off a terminal.
 *
 * @module
 */
import QRCode from "qrcode";
import jsQRModule, { type Options as JsQrOptions, type QRCode as JsQrCode } from "jsqr";
import { convertIndexedToRgb, decode as decodePng, type DecodedPng, hasPngSignature } from "fast-png";
import { DecodeError, DecodeErrorCode } from "../errors.ts";

// jsqr is CommonJS; its types describe the default import as the module, at run time it is the function.
type JsQr = (
  data: Uint8ClampedArray,
  width: number,
  height: number,
  options?: JsQrOptions,
) => JsQrCode | null;
const jsQR = ((jsQRModule as unknown as { default?: JsQr }).default ?? jsQRModule) as unknown as JsQr;

/** QR error correction level used for every rendering. */
export const QR_ERROR_CORRECTION = "M";
/** Largest image `readQrImage` decodes (pixels), so a hostile PNG cannot exhaust memory. */
export const QR_IMAGE_MAX_PIXELS = 40_000_000;

/**
 * The code drawn with Unicode half blocks (dark modules are the blocks), with a 4-module quiet zone.
 * `ansi` paints every line black on white, so the code reads dark-on-light (what phones expect)
 * whatever the terminal's theme; without it the text is plain (for files and pipes).
 */
export async function renderQrText(text: string, options: { ansi: boolean }): Promise<string> {
  const plain = await QRCode.toString(text, {
    type: "utf8",
    margin: 4,
    errorCorrectionLevel: QR_ERROR_CORRECTION,
  });
  if (!options.ansi) return plain;
  return plain.split("\n").filter((l) => l.length > 0).map((l) => `\x1b[30;47m${l}\x1b[0m`).join("\n") + "\n";
}

/** The code as a PNG image (8 pixels a module, 4-module quiet zone). */
export async function renderQrPng(text: string): Promise<Uint8Array> {
  const buf = await QRCode.toBuffer(text, {
    type: "png",
    errorCorrectionLevel: QR_ERROR_CORRECTION,
    scale: 8,
    margin: 4,
  });
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** The code as an SVG document. */
export async function renderQrSvg(text: string): Promise<string> {
  return await QRCode.toString(text, { type: "svg", errorCorrectionLevel: QR_ERROR_CORRECTION, margin: 4 });
}

/**
 * The text of the QR code in a PNG image. Throws {@linkcode DecodeError}: not a PNG, a damaged PNG,
 * an image too large, or no QR code found.
 */
export function readQrImage(bytes: Uint8Array): string {
  if (!hasPngSignature(bytes)) {
    throw new DecodeError(DecodeErrorCode.BadMagic, "Not a PNG image (only PNG files can be read)", 0);
  }
  if (bytes.length < 24) {
    throw new DecodeError(DecodeErrorCode.Truncated, "PNG image is truncated", bytes.length);
  }
  const header = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = header.getUint32(16, false);
  const height = header.getUint32(20, false);
  if (width * height > QR_IMAGE_MAX_PIXELS) {
    throw new DecodeError(
      DecodeErrorCode.TooLarge,
      `PNG image is ${width}×${height} pixels, larger than the ${QR_IMAGE_MAX_PIXELS / 1e6} megapixels read`,
      16,
    );
  }
  let png: DecodedPng;
  let rgba: Uint8ClampedArray;
  try {
    png = decodePng(bytes);
    rgba = toRgba(png);
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    throw new DecodeError(DecodeErrorCode.BadValue, `PNG image is damaged: ${(e as Error).message}`);
  }
  const code = jsQR(rgba, png.width, png.height, { inversionAttempts: "attemptBoth" });
  if (code === null) {
    throw new DecodeError(DecodeErrorCode.BadValue, "No QR code found in the image");
  }
  return code.data;
}

/** Any PNG colour type and depth → 8-bit RGBA, as jsQR wants. */
function toRgba(png: DecodedPng): Uint8ClampedArray {
  const { width, height } = png;
  const n = width * height;
  let samples: ArrayLike<number>;
  let channels: number;
  let max: number;
  if (png.palette) {
    samples = convertIndexedToRgb(png);
    channels = png.palette[0]?.length ?? 3;
    max = 255;
  } else if (png.depth < 8) {
    // Packed grayscale rows (1, 2 or 4 bits a pixel), each row starting on a byte boundary.
    channels = png.channels;
    const unpacked = new Uint8Array(n * channels);
    const stride = Math.ceil(width * channels * png.depth / 8);
    const mask = (1 << png.depth) - 1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width * channels; x++) {
        const bit = x * png.depth;
        const byte = png.data[y * stride + (bit >> 3)];
        unpacked[y * width * channels + x] = (byte >> (8 - png.depth - (bit & 7))) & mask;
      }
    }
    samples = unpacked;
    max = mask;
  } else {
    samples = png.data;
    channels = png.channels;
    max = png.depth === 16 ? 65535 : 255;
  }
  if (samples.length < n * channels) {
    throw new DecodeError(DecodeErrorCode.Truncated, "PNG image data is shorter than its size says");
  }
  const out = new Uint8ClampedArray(n * 4);
  const scale = 255 / max;
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    const o = i * 4;
    if (channels <= 2) {
      const g = samples[s] * scale;
      out[o] = out[o + 1] = out[o + 2] = g;
      out[o + 3] = channels === 2 ? samples[s + 1] * scale : 255;
    } else {
      out[o] = samples[s] * scale;
      out[o + 1] = samples[s + 1] * scale;
      out[o + 2] = samples[s + 2] * scale;
      out[o + 3] = channels === 4 ? samples[s + 3] * scale : 255;
    }
    // jsQR ignores alpha; flatten transparent pixels onto white so a transparent background reads light.
    if (out[o + 3] < 255) {
      const a = out[o + 3] / 255;
      out[o] = out[o] * a + 255 * (1 - a);
      out[o + 1] = out[o + 1] * a + 255 * (1 - a);
      out[o + 2] = out[o + 2] * a + 255 * (1 - a);
    }
  }
  return out;
}
