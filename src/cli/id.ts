/**
 * `agent id`: this node's name, fingerprint and pairing payload, with the payload as a QR code (in
 * the terminal, or as a PNG/SVG file) for `agent trust` on another board. Creates the key pair if the
 * node has none yet. Shows only the public key.
 *
 * @module
 */
import { base64urlnopad } from "@scure/base";
import { UsageError } from "../errors.ts";
import {
  checkPrivateKeyMode,
  encodePayload,
  ensureIdentity,
  fingerprint,
  readPublicKey,
  resolveNodeName,
} from "../identity/mod.ts";
import { writeFileAtomic } from "../state/mod.ts";
import { type Command, type CommandContext, stringOpt } from "./command.ts";

/** The `id` command. */
export const idCommand: Command = {
  name: "id",
  summary: "Show this node's name, fingerprint and pairing QR code",
  usage: ["id [--png FILE] [--svg FILE] [--json]"],
  description: [
    "Prints the pairing payload and draws it as a QR code. On the other board run",
    "'agent trust <payload>' (or 'agent trust FILE.png' with a --png image), then do the same the",
    "other way round: pairing is mutual. The payload holds the public key only; the private key never",
    "leaves this board. Creates the key pair if there is none yet.",
  ].join("\n"),
  options: {
    png: { type: "string", arg: "FILE", help: "Also write the QR code as a PNG image" },
    svg: { type: "string", arg: "FILE", help: "Also write the QR code as an SVG image" },
  },
  positionals: [0, 0],
  examples: ["agent id", "agent id --png kitchen.png", "agent id --json"],
  run: runId,
};

async function runId(ctx: CommandContext): Promise<number> {
  const png = stringOpt(ctx, "png");
  const svg = stringOpt(ctx, "svg");
  for (const [flag, v] of [["png", png], ["svg", svg]] as const) {
    if (v === "") throw new UsageError(`Option --${flag} needs a file name`, "Run 'agent id --help'");
  }
  const config = await ctx.config();
  const name = resolveNodeName(config.node.name, Deno.hostname());

  let publicKey = await readPublicKey(ctx.state);
  if (publicKey === undefined) {
    publicKey = (await ensureIdentity(ctx.state)).publicKey;
    ctx.io.stderr(`Created a new identity in ${ctx.state.root}\n`);
  } else {
    try {
      await checkPrivateKeyMode(ctx.state.privateKey);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      // Showing the public key is harmless; signing commands will refuse until it is fixed.
      ctx.io.stderr(`agent: warning: ${e.message}\n  hint: ${e.hint}\n`);
    }
  }
  const payload = encodePayload({ publicKey, name });
  const fp = fingerprint(publicKey);

  const qr = await import("../identity/qr.ts");
  const written: string[] = [];
  if (png !== undefined) {
    await writeImage(png, await qr.renderQrPng(payload));
    written.push(png);
  }
  if (svg !== undefined) {
    await writeImage(svg, await qr.renderQrSvg(payload));
    written.push(svg);
  }

  if (ctx.global.json) {
    ctx.print("", { name, fingerprint: fp, publicKey: base64urlnopad.encode(publicKey), payload });
    return 0;
  }
  const code = await qr.renderQrText(payload, { ansi: ctx.io.isTerminal });
  ctx.io.stdout(
    [
      `Name:        ${name}`,
      `Fingerprint: ${fp}`,
      `Payload:     ${payload}`,
      "",
      code.replace(/\n+$/, ""),
      "",
      ...written.map((f) => `QR code written to ${f}`),
      "To pair, run on the other board (and compare the fingerprint it shows with the one above):",
      `  agent trust ${payload}`,
      "",
    ].join("\n"),
  );
  return 0;
}

async function writeImage(path: string, data: Uint8Array | string): Promise<void> {
  let isDirectory = false;
  try {
    isDirectory = (await Deno.stat(path)).isDirectory;
  } catch { /* a new file */ }
  if (isDirectory) {
    throw new UsageError(
      `Cannot write ${JSON.stringify(path)}: it is a directory`,
      `Give a file name, e.g. ${JSON.stringify(path.replace(/\/+$/, "") + "/qr.png")}`,
    );
  }
  try {
    await writeFileAtomic(path, data, { mode: 0o644 });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) {
      throw new UsageError(
        `Cannot write ${JSON.stringify(path)}: ${(e as Error).message}`,
        "Check that the folder exists and is writable",
      );
    }
    throw e;
  }
}
