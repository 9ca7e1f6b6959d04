/**
 * This node's key pair on disk — the only part of `identity/` that touches the file system.
 *
 * Files (in the state directory, see `stateLayout()`):
 *
 * | file                       | mode | content                                                   |
 * |----------------------------|------|-----------------------------------------------------------|
 * | `identity/ed25519.key`     | 0600 | PEM `PRIVATE KEY`: PKCS#8 (RFC 8410) of the 32-byte seed  |
 * | `identity/ed25519.pub`     | 0644 | PEM `PUBLIC KEY`: SPKI of the 32-byte public key          |
 *
 * Both are standard, so `openssl pkey -in ed25519.key -pubout` and
 * `openssl pkeyutl -verify -pubin -inkey ed25519.pub -rawin …` work on them directly. The private key
 * is the source of truth; the public file is derived from it (for readers that may not read the
 * private key, e.g. `agent id` run by another user) and rewritten by {@linkcode ensureIdentity} if it
 * is missing or disagrees.
 *
 * The private key never leaves this module except inside a {@linkcode Signer}, which signs but does
 * not reveal it. Every command that signs loads it through {@linkcode loadIdentity}, which refuses a
 * key file that group or others may read or write (as OpenSSH does), naming the `chmod 600` fix.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { base64 } from "@scure/base";
import { CorruptStateError, UsageError } from "../errors.ts";
import { writeFileAtomic } from "../state/mod.ts";
import type { StateLayout } from "../state/mod.ts";
import {
  createSigner,
  PKCS8_PREFIX,
  publicKeyFromSeed,
  randomSeed,
  SEED_SIZE,
  type Signer,
} from "./ed25519.ts";
import { fingerprint } from "./fingerprint.ts";

// RFC 8410 DER prefix of an Ed25519 SubjectPublicKeyInfo (the PKCS#8 one lives in ed25519.ts).
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

/** This node's identity as the rest of the program sees it: no private key bytes. */
export interface Identity {
  publicKey: Uint8Array;
  signer: Signer;
  fingerprint: string;
}

function pem(label: string, der: Uint8Array): string {
  const b64 = base64.encode(der);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function unpem(path: string, text: string, label: string, prefix: Uint8Array, size: number): Uint8Array {
  const m = new RegExp(`^-----BEGIN ${label}-----\\r?\\n([A-Za-z0-9+/=\\r\\n]+)-----END ${label}-----\\s*$`)
    .exec(text);
  if (!m) throw new CorruptStateError(path, `not a PEM "${label}" block`);
  let der: Uint8Array;
  try {
    der = base64.decode(m[1].replace(/[\r\n]/g, ""));
  } catch (e) {
    throw new CorruptStateError(path, `bad base64 in the PEM block (${(e as Error).message})`);
  }
  if (der.length !== prefix.length + size || prefix.some((b, i) => der[i] !== b)) {
    throw new CorruptStateError(path, `not an Ed25519 key (${der.length}-byte DER, expected RFC 8410 form)`);
  }
  return der.slice(prefix.length);
}

/** PEM text of the private key file for `seed`. */
export function privateKeyPem(seed: Uint8Array): string {
  const der = new Uint8Array(PKCS8_PREFIX.length + SEED_SIZE);
  der.set(PKCS8_PREFIX);
  der.set(seed, PKCS8_PREFIX.length);
  const text = pem("PRIVATE KEY", der);
  der.fill(0);
  return text;
}

/** PEM text (SPKI) of `publicKey`, as OpenSSL reads it with `-pubin`. */
export function publicKeyPem(publicKey: Uint8Array): string {
  const der = new Uint8Array(SPKI_PREFIX.length + publicKey.length);
  der.set(SPKI_PREFIX);
  der.set(publicKey, SPKI_PREFIX.length);
  return pem("PUBLIC KEY", der);
}

/** Reads a public key PEM file's 32-byte key; throws {@linkcode CorruptStateError} naming `path`. */
export function parsePublicKeyPem(path: string, text: string): Uint8Array {
  return unpem(path, text, "PUBLIC KEY", SPKI_PREFIX, 32);
}

/**
 * Throws {@linkcode UsageError} if the private key file may be read or written by group or others,
 * with the `chmod 600` command that fixes it.
 */
export async function checkPrivateKeyMode(path: string): Promise<void> {
  const info = await Deno.stat(path);
  const mode = info.mode;
  if (mode === null) return; // not a POSIX system: nothing to check
  if ((mode & 0o077) !== 0) {
    throw new UsageError(
      `Private key ${JSON.stringify(path)} is accessible by others (mode ${
        (mode & 0o777).toString(8).padStart(4, "0")
      }); refusing to use it`,
      `Run: chmod 600 ${shellQuote(path)}`,
    );
  }
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

async function readSeed(path: string): Promise<Uint8Array | undefined> {
  const text = await readText(path);
  if (text === undefined) return undefined;
  return unpem(path, text, "PRIVATE KEY", PKCS8_PREFIX, SEED_SIZE);
}

/**
 * Loads this node's identity for signing. Throws {@linkcode UsageError} if there is no key yet (run
 * `agent init`) or if its file mode lets others read it; {@linkcode CorruptStateError} if it is not a
 * valid key file.
 */
export async function loadIdentity(layout: StateLayout): Promise<Identity> {
  const path = layout.privateKey;
  const missing = () =>
    new UsageError(
      `No identity in ${JSON.stringify(layout.root)}: ${JSON.stringify(path)} does not exist`,
      "Run 'agent init' (with the same --state) to create one",
    );
  try {
    await checkPrivateKeyMode(path);
  } catch (e) {
    throw e instanceof Deno.errors.NotFound ? missing() : e;
  }
  const seed = await readSeed(path);
  if (seed === undefined) throw missing();
  try {
    const signer = await createSigner(seed);
    return { publicKey: signer.publicKey, signer, fingerprint: fingerprint(signer.publicKey) };
  } finally {
    seed.fill(0);
  }
}

/** Result of {@linkcode ensureIdentity}: the identity and whether it was made just now. */
export interface EnsuredIdentity extends Identity {
  created: boolean;
}

/**
 * Creates the key pair if there is none (private file first, mode 0600, then the public file), then
 * loads it as {@linkcode loadIdentity} does. Idempotent and safe against concurrent callers (an
 * exclusive lock on `identity/.lock` serialises creation). Repairs a missing or stale public file.
 */
export async function ensureIdentity(layout: StateLayout): Promise<EnsuredIdentity> {
  const dir = dirname(layout.privateKey);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const lock = await Deno.open(join(dir, ".lock"), { read: true, write: true, create: true, mode: 0o600 });
  try {
    await lock.lock(true);
    let created = false;
    let seed = await readSeed(layout.privateKey);
    if (seed === undefined) {
      seed = randomSeed();
      await writeFileAtomic(layout.privateKey, privateKeyPem(seed), { mode: 0o600 });
      created = true;
    } else {
      await checkPrivateKeyMode(layout.privateKey);
    }
    const publicKey = publicKeyFromSeed(seed);
    seed.fill(0);
    const wantPub = publicKeyPem(publicKey);
    if ((await readText(layout.publicKey)) !== wantPub) {
      await writeFileAtomic(layout.publicKey, wantPub, { mode: 0o644 });
    }
    const identity = await loadIdentity(layout);
    return { ...identity, created };
  } finally {
    lock.close(); // closing releases the flock
  }
}

/**
 * This node's public key without needing the private key: from the public file, else derived from
 * the private file; `undefined` when the node has no identity yet.
 */
export async function readPublicKey(layout: StateLayout): Promise<Uint8Array | undefined> {
  const text = await readText(layout.publicKey);
  if (text !== undefined) return parsePublicKeyPem(layout.publicKey, text);
  const seed = await readSeed(layout.privateKey);
  if (seed === undefined) return undefined;
  const publicKey = publicKeyFromSeed(seed);
  seed.fill(0);
  return publicKey;
}
