/**
 * `agent trust`: pair with another board, list paired peers, revoke one.
 *
 * - `agent trust <payload | FILE.png | -> [--yes] [--force]`: decode the other board's `agent id` payload
 *   (text, the QR code in a PNG, or `-` for stdin), show its name and fingerprint, confirm, store it.
 * - `agent trust list`: the trust list (a table, or `--json`).
 * - `agent trust revoke <fingerprint | name>`: stop trusting a peer; it stays revoked.
 *
 * Every check runs before anything is written: a bad payload, an unreadable image, this node's own
 * key or a revoked key (without `--force`) exit with code 2 and leave the state directory untouched.
 *
 * @module
 */
import { DecodeError, UsageError } from "../errors.ts";
import {
  type DecodedPayload,
  decodePayload,
  fingerprint,
  looksLikePayload,
  peerToJson,
  readPublicKey,
  type TrustedPeer,
  TrustStore,
} from "../identity/mod.ts";
import type { Command, CommandContext } from "./command.ts";

const USAGE_ADD = "trust <payload | FILE.png | -> [--yes] [--force]";

/** The `trust` command. */
export const trustCommand: Command = {
  name: "trust",
  summary: "Pair with another board (its 'agent id' payload or QR image), list or revoke peers",
  usage: [USAGE_ADD, "trust list [--json]", "trust revoke <fingerprint | name>"],
  description: [
    "Pairing is mutual: run 'agent id' on each board and 'agent trust' with it on the other one.",
    "Before trusting, compare the fingerprint shown here with the one 'agent id' shows on that board.",
    "A revoked peer stays revoked; trusting it again needs --force. A running agent picks up changes",
    "without a restart. '-' reads the payload from standard input (then --yes is needed). A PNG file",
    "named 'list' or 'revoke' must be given as './list'.",
  ].join("\n"),
  options: {
    yes: { type: "boolean", short: "y", help: "Do not ask for confirmation (for scripts)" },
    force: { type: "boolean", help: "Trust a key that was revoked before" },
  },
  positionals: [1, 2],
  examples: [
    "agent trust AGENT1:…",
    "agent trust kitchen.png",
    "agent trust list --json",
    "agent trust revoke kitchen",
  ],
  run: runTrust,
};

async function runTrust(ctx: CommandContext): Promise<number> {
  const [verb, arg] = ctx.positionals;
  if (verb === "list" || verb === "revoke") {
    for (const flag of ["yes", "force"]) {
      if (ctx.values[flag] !== undefined) {
        throw new UsageError(
          `Option --${flag} does not apply to 'agent trust ${verb}'`,
          `Usage: agent ${USAGE_ADD}`,
        );
      }
    }
  }
  if (verb === "list") {
    if (arg !== undefined) {
      throw new UsageError(`Unexpected argument ${JSON.stringify(arg)} for 'agent trust list'`);
    }
    return await listPeers(ctx);
  }
  if (verb === "revoke") {
    if (arg === undefined || arg.trim() === "") {
      throw new UsageError(
        "'agent trust revoke' needs the fingerprint or name of a peer",
        "Run 'agent trust list' to see them",
      );
    }
    return await revokePeer(ctx, arg);
  }
  if (arg !== undefined) {
    throw new UsageError(
      `Unexpected argument ${JSON.stringify(arg)} for 'agent trust'`,
      `Usage: agent ${USAGE_ADD} (quote a payload that contains spaces)`,
    );
  }
  return await addPeer(ctx, verb);
}

async function readPairing(ctx: CommandContext, source: string): Promise<DecodedPayload> {
  let text = source;
  let from = "";
  if (source === "-") {
    const bytes = await ctx.io.readStdin();
    if (bytes.length > 64 * 1024) throw new UsageError("Standard input is too large for a pairing payload");
    text = new TextDecoder().decode(bytes);
    from = "Standard input: ";
  } else if (!looksLikePayload(source)) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(source);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new UsageError(
          `${JSON.stringify(source)} is neither a pairing payload (AGENT1:…) nor an existing file`,
          "Pass the payload or the PNG that 'agent id' shows on the other board",
        );
      }
      if (e instanceof Deno.errors.IsADirectory || e instanceof Deno.errors.PermissionDenied) {
        throw new UsageError(`Cannot read image ${JSON.stringify(source)}: ${(e as Error).message}`);
      }
      throw e;
    }
    if (!isPng(bytes)) {
      // A text file holding the payload (as copied from 'agent id', or its --json output).
      if (bytes.length > 64 * 1024) {
        throw new UsageError(`${JSON.stringify(source)} is too large for a pairing payload or QR image`);
      }
      from = `The payload in ${JSON.stringify(source)} cannot be used: `;
      text = payloadFromText(new TextDecoder().decode(bytes));
      return decodeOrExplain(text, from);
    }
    from = `The QR code in ${JSON.stringify(source)} cannot be used: `;
    const { readQrImage } = await import("../identity/qr.ts");
    try {
      text = readQrImage(bytes);
    } catch (e) {
      if (e instanceof DecodeError) {
        throw new UsageError(
          `Cannot read image ${JSON.stringify(source)}: ${e.message}`,
          "Use the PNG written by 'agent id --png FILE' on the other board, or pass its payload text",
        );
      }
      throw e;
    }
  }
  return decodeOrExplain(text, from);
}

function decodeOrExplain(text: string, from: string): DecodedPayload {
  try {
    return decodePayload(text);
  } catch (e) {
    if (e instanceof DecodeError) {
      throw new UsageError(
        `${from}${e.message}`,
        "Copy the payload again from 'agent id' on the other board (or use 'agent id --png FILE')",
      );
    }
    throw e;
  }
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function isPng(bytes: Uint8Array): boolean {
  return PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** The payload from a text file: the trimmed text, or the `payload` field of `agent id --json` output. */
function payloadFromText(text: string): string {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    try {
      const payload = (JSON.parse(trimmed) as { payload?: unknown }).payload;
      if (typeof payload === "string") return payload;
    } catch { /* not JSON: decoded as a payload below, which says what is wrong */ }
  }
  return trimmed;
}

async function addPeer(ctx: CommandContext, source: string): Promise<number> {
  const decoded = await readPairing(ctx, source);
  const self = await readPublicKey(ctx.state);
  if (self !== undefined && fingerprint(self) === decoded.fingerprint) {
    throw new UsageError(
      `That payload is this node's own key (${decoded.name}, ${decoded.fingerprint}); a node does not pair with itself`,
      "Run 'agent trust' on the OTHER board with this board's payload, and vice versa",
    );
  }
  const store = await TrustStore.open(ctx.state, { self });
  const force = ctx.values.force === true;
  const existing = store.peer(decoded.publicKey);
  if (existing && !existing.revoked && existing.payload === decoded.payload) {
    ctx.print(
      `Already trusted: ${existing.name} (${existing.fingerprint}); nothing changed.`,
      { outcome: "unchanged", peer: peerToJson(existing) },
    );
    return 0;
  }
  if (existing?.revoked && !force) {
    throw new UsageError(
      `Peer ${
        JSON.stringify(existing.name)
      } (${existing.fingerprint}) was revoked at ${existing.revokedAt}; it stays revoked`,
      "If you really want to trust this key again, run the same command with --force",
    );
  }

  const show = (t: string) => ctx.global.json ? ctx.io.stderr(t) : ctx.io.stdout(t);
  show(
    `Peer:        ${decoded.name}${
      existing && existing.name !== decoded.name ? ` (was ${existing.name})` : ""
    }\n` +
      `Fingerprint: ${decoded.fingerprint}\n`,
  );
  const namesakes = store.list().filter((p) =>
    p.fingerprint !== decoded.fingerprint && p.name.toLowerCase() === decoded.name.toLowerCase()
  );
  for (const p of namesakes) {
    show(
      `Note: another ${
        p.revoked ? "(revoked) " : ""
      }peer is also called ${p.name} (${p.fingerprint}); use fingerprints to tell them apart\n`,
    );
  }
  if (ctx.values.yes !== true) {
    if (!ctx.io.stdinIsTerminal) {
      throw new UsageError(
        "Not trusting without confirmation: stdin is not a terminal",
        "Compare the fingerprint with 'agent id' on that board, then pass --yes",
      );
    }
    show("Does this fingerprint match the one 'agent id' shows on that board? Trust it? [y/N] ");
    const answer = (await ctx.io.readLine())?.trim().toLowerCase();
    if (answer !== "y" && answer !== "yes") {
      ctx.io.stderr("Not trusted; nothing changed.\n");
      return 1;
    }
  }

  const result = await store.add(decoded, { force });
  const p = result.peer;
  const human = {
    added: `Trusted ${p.name} (${p.fingerprint}).`,
    unchanged: `Already trusted: ${p.name} (${p.fingerprint}); nothing changed.`,
    renamed: `Updated ${p.fingerprint}: name ${result.previousName} → ${p.name}.`,
    restored: `Trusted ${p.name} (${p.fingerprint}) again (it had been revoked; --force).`,
  }[result.outcome];
  const pairBack = result.outcome === "unchanged"
    ? ""
    : "\nPairing is mutual: also run 'agent trust' with this board's 'agent id' payload on that board.";
  ctx.print(human + pairBack, { outcome: result.outcome, peer: peerToJson(p) });
  return 0;
}

async function listPeers(ctx: CommandContext): Promise<number> {
  const store = await TrustStore.open(ctx.state);
  const peers = store.list();
  if (ctx.global.json) {
    ctx.print("", peers.map(peerToJson));
    return 0;
  }
  if (peers.length === 0) {
    ctx.io.stdout("No trusted peers yet. Pair with: agent trust <payload | FILE.png>\n");
    return 0;
  }
  ctx.io.stdout(table(peers) + "\n");
  return 0;
}

function table(peers: TrustedPeer[]): string {
  const rows = [
    ["NAME", "FINGERPRINT", "ADDED", "STATUS"],
    ...peers.map((p) => [
      p.name,
      p.fingerprint,
      p.addedAt.replace(/\.\d+Z$/, "Z"),
      p.revoked ? `revoked ${p.revokedAt!.replace(/\.\d+Z$/, "Z")}` : "trusted",
    ]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => c === r.length - 1 ? cell : cell.padEnd(widths[c])).join("  "))
    .join("\n");
}

async function revokePeer(ctx: CommandContext, selector: string): Promise<number> {
  const store = await TrustStore.open(ctx.state);
  // Resolve outside the lock first so a typo or an ambiguous name fails without touching anything.
  store.resolve(selector);
  const { outcome, peer } = await store.revoke(selector);
  ctx.print(
    outcome === "revoked"
      ? `Revoked ${peer.name} (${peer.fingerprint}). A running agent stops accepting it at its next trust check.`
      : `${peer.name} (${peer.fingerprint}) was already revoked at ${peer.revokedAt}; nothing changed.`,
    { outcome, peer: peerToJson(peer) },
  );
  return 0;
}
