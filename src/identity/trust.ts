/**
 * The trust store: which peers this node gossips with, paired by QR code (`agent trust`). The gossip
 * hot path asks {@linkcode TrustStore.isTrusted} for every datagram (a synchronous map look-up); the
 * daemon calls {@linkcode TrustStore.reloadIfChanged} now and then (one `stat`) so a revocation made
 * with the CLI takes effect without a restart.
 *
 * File: `<state>/trust.json`, a checksummed JSON document (`writeCheckedJson`, format
 * `agent-trust/1`):
 *
 * | field                 | type            | notes                                                 |
 * |-----------------------|-----------------|-------------------------------------------------------|
 * | `peers[].payload`     | string          | the pairing payload as trusted (source of key + name) |
 * | `peers[].name`        | string          | copy of the payload's name, for people reading the file |
 * | `peers[].fingerprint` | string          | copy of the key's fingerprint, likewise               |
 * | `peers[].addedAt`     | ISO 8601 string | when it was (last) trusted                            |
 * | `peers[].revoked`     | boolean         | a revoked key stays listed, so it stays revoked       |
 * | `peers[].revokedAt`   | string or null  | when it was revoked                                   |
 *
 * The payload is kept whole because `agent clone` hands it to a child so the child trusts what its
 * parent trusts. On load every payload is decoded and checked again and must agree with the copies.
 *
 * Concurrency: every change is read-modify-write under an exclusive `flock` on `<state>/trust.lock`
 * (a separate file, because the store itself is replaced by rename on each write), re-reading the
 * file inside the lock; so CLI edits made while the daemon runs, or several CLI processes at once,
 * never lose each other's changes.
 *
 * @module
 */
import { dirname } from "node:path";
import { base64urlnopad } from "@scure/base";
import { CorruptStateError, DecodeError, UsageError } from "../errors.ts";
import { readCheckedJson, writeCheckedJson } from "../state/mod.ts";
import { fingerprint, looksLikeFingerprint, parseFingerprint } from "./fingerprint.ts";
import { decodePayload, looksLikePayload, type PairingInfo } from "./payload.ts";

/** Format name of the trust store file. */
export const TRUST_FORMAT = "agent-trust/1";

/** A peer in the trust store. */
export interface TrustedPeer {
  name: string;
  fingerprint: string;
  publicKey: Uint8Array;
  /** The pairing payload text this peer was trusted with. */
  payload: string;
  /** When it was (last) trusted, ISO 8601. */
  addedAt: string;
  revoked: boolean;
  /** When it was revoked, ISO 8601, or null. */
  revokedAt: string | null;
}

/** {@linkcode TrustedPeer} as JSON (`agent trust list --json`): the key as base64url of its 32 bytes. */
export interface TrustedPeerJson {
  name: string;
  fingerprint: string;
  publicKey: string;
  payload: string;
  addedAt: string;
  revoked: boolean;
  revokedAt: string | null;
}

/** The JSON form of a peer. */
export function peerToJson(p: TrustedPeer): TrustedPeerJson {
  return {
    name: p.name,
    fingerprint: p.fingerprint,
    publicKey: base64urlnopad.encode(p.publicKey),
    payload: p.payload,
    addedAt: p.addedAt,
    revoked: p.revoked,
    revokedAt: p.revokedAt,
  };
}

/** What {@linkcode TrustStore.add} did. */
export type AddOutcome =
  /** A new peer. */
  | "added"
  /** The key was already trusted with this name: nothing written. */
  | "unchanged"
  /** The key was already trusted under another name: name and payload updated. */
  | "renamed"
  /** The key had been revoked and `force` trusted it again. */
  | "restored";

/** What {@linkcode TrustStore.revoke} did. */
export type RevokeOutcome = "revoked" | "already-revoked";

/** Result of {@linkcode TrustStore.add}. */
export interface AddResult {
  outcome: AddOutcome;
  peer: TrustedPeer;
  /** For "renamed": the name it had before. */
  previousName?: string;
}

/** Result of {@linkcode TrustStore.revoke}. */
export interface RevokeResult {
  outcome: RevokeOutcome;
  peer: TrustedPeer;
}

/** Where the store lives. */
export interface TrustStorePaths {
  trustStore: string;
  trustLock: string;
}

/** Options for {@linkcode TrustStore.open}. */
export interface TrustStoreOptions {
  /** This node's own public key: adding it is refused. */
  self?: Uint8Array;
  /** Wall clock for `addedAt` / `revokedAt` (default `Date.now`). */
  now?: () => number;
}

interface FileStamp {
  ino: number | null;
  size: number;
  mtime: number | null;
}

function keyOf(publicKey: Uint8Array): string {
  return String.fromCharCode.apply(null, publicKey as unknown as number[]);
}

function sameStamp(a: FileStamp | undefined, b: FileStamp | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.ino === b.ino && a.size === b.size && a.mtime === b.mtime;
}

/** The set of paired peers; see the module comment. */
export class TrustStore {
  readonly paths: TrustStorePaths;
  #self: Uint8Array | undefined;
  #now: () => number;
  #peers = new Map<string, TrustedPeer>();
  #stamp: FileStamp | undefined;

  private constructor(paths: TrustStorePaths, options: TrustStoreOptions) {
    this.paths = { trustStore: paths.trustStore, trustLock: paths.trustLock };
    this.#self = options.self;
    this.#now = options.now ?? Date.now;
  }

  /** Opens (reads) the store; a missing file is an empty store. Throws {@linkcode CorruptStateError}. */
  static async open(paths: TrustStorePaths, options: TrustStoreOptions = {}): Promise<TrustStore> {
    const store = new TrustStore(paths, options);
    await store.#load();
    return store;
  }

  /** True when `publicKey` is paired and not revoked. Synchronous and O(1): for every datagram. */
  isTrusted(publicKey: Uint8Array): boolean {
    const p = this.#peers.get(keyOf(publicKey));
    return p !== undefined && !p.revoked;
  }

  /** The entry for `publicKey` (trusted or revoked), if any. */
  peer(publicKey: Uint8Array): TrustedPeer | undefined {
    return this.#peers.get(keyOf(publicKey));
  }

  /** Every entry, revoked ones included, in the order they were first added. */
  list(): TrustedPeer[] {
    return [...this.#peers.values()];
  }

  /** Peers that are trusted now (not revoked). */
  trusted(): TrustedPeer[] {
    return this.list().filter((p) => !p.revoked);
  }

  /**
   * Re-reads the file if it changed since this store last read or wrote it (inode, size or mtime;
   * every write is a rename, so a new inode). Returns true if it re-read. On a corrupt file it throws
   * {@linkcode CorruptStateError} and keeps the previous list (and tries again next call).
   */
  async reloadIfChanged(): Promise<boolean> {
    const stamp = await this.#statFile();
    if (sameStamp(stamp, this.#stamp)) return false;
    await this.#load();
    return true;
  }

  /**
   * Trusts the node described by `info` (a decoded payload). Same key and name again is a no-op
   * ("unchanged"); a revoked key is refused with a {@linkcode UsageError} unless `force`; this
   * node's own key is refused.
   */
  async add(
    info: PairingInfo & { payload: string },
    options: { force?: boolean } = {},
  ): Promise<AddResult> {
    if (this.#self && keyOf(this.#self) === keyOf(info.publicKey)) {
      throw new UsageError(
        `That is this node's own key (${fingerprint(info.publicKey)}); a node does not pair with itself`,
        "Run 'agent trust' on the OTHER board with this board's 'agent id' payload",
      );
    }
    const checked = decodePayload(info.payload);
    if (keyOf(checked.publicKey) !== keyOf(info.publicKey) || checked.name !== info.name) {
      throw new Error("Bug: TrustStore.add() got a payload that does not match its key and name");
    }
    return await this.#edit<AddResult>((peers) => {
      const k = keyOf(info.publicKey);
      const old = peers.get(k);
      const at = new Date(this.#now()).toISOString();
      const fresh: TrustedPeer = {
        name: checked.name,
        fingerprint: checked.fingerprint,
        publicKey: checked.publicKey,
        payload: checked.payload,
        addedAt: at,
        revoked: false,
        revokedAt: null,
      };
      if (old === undefined) {
        peers.set(k, fresh);
        return { changed: true, result: { outcome: "added", peer: fresh } };
      }
      if (old.revoked) {
        if (!options.force) {
          throw new UsageError(
            `Peer ${
              JSON.stringify(old.name)
            } (${old.fingerprint}) was revoked at ${old.revokedAt}; it stays revoked`,
            "If you really want to trust this key again, run the same command with --force",
          );
        }
        peers.set(k, fresh);
        return { changed: true, result: { outcome: "restored", peer: fresh } };
      }
      if (old.payload === checked.payload) {
        return { changed: false, result: { outcome: "unchanged", peer: old } };
      }
      const renamed = { ...old, name: checked.name, payload: checked.payload };
      peers.set(k, renamed);
      return {
        changed: true,
        result: { outcome: "renamed", peer: renamed, previousName: old.name },
      };
    });
  }

  /**
   * Peers matching `selector`: a payload, a fingerprint (any case, dashes optional), a unique
   * fingerprint prefix of at least 4 characters, a name (case-insensitive) or a base64url key.
   * Throws {@linkcode UsageError} for a fingerprint with a typo.
   */
  find(selector: string): TrustedPeer[] {
    return this.#match(this.#peers, selector);
  }

  /**
   * Revokes the one peer matching `selector` (see {@linkcode find}). No match, or several (e.g. two
   * peers with the same name), is a {@linkcode UsageError} listing them. Revoking twice is a no-op.
   */
  async revoke(selector: string): Promise<RevokeResult> {
    return await this.#edit<RevokeResult>((peers) => {
      const p = this.#resolve(peers, selector);
      if (p.revoked) return { changed: false, result: { outcome: "already-revoked", peer: p } };
      const revoked = { ...p, revoked: true, revokedAt: new Date(this.#now()).toISOString() };
      peers.set(keyOf(p.publicKey), revoked);
      return { changed: true, result: { outcome: "revoked", peer: revoked } };
    });
  }

  /**
   * The one peer `selector` names (see {@linkcode find}), preferring a trusted one when a name also
   * matches revoked entries. None or several is a {@linkcode UsageError} listing them.
   */
  resolve(selector: string): TrustedPeer {
    return this.#resolve(this.#peers, selector);
  }

  #resolve(peers: Map<string, TrustedPeer>, selector: string): TrustedPeer {
    let matches = this.#match(peers, selector);
    if (matches.length > 1 && matches.filter((p) => !p.revoked).length === 1) {
      matches = matches.filter((p) => !p.revoked);
    }
    if (matches.length === 0) {
      throw new UsageError(
        `No trusted peer matches ${JSON.stringify(selector)}`,
        peers.size === 0 ? "The trust list is empty" : "Run 'agent trust list' to see names and fingerprints",
      );
    }
    if (matches.length > 1) {
      throw new UsageError(
        `${JSON.stringify(selector)} matches ${matches.length} peers: ${
          matches.map((p) => `${p.name} (${p.fingerprint})`).join(", ")
        }`,
        "Name the peer by its fingerprint instead",
      );
    }
    return matches[0];
  }

  #match(peers: Map<string, TrustedPeer>, selector: string): TrustedPeer[] {
    const all = [...peers.values()];
    const s = selector.trim();
    if (s === "") return [];
    if (looksLikePayload(s)) {
      try {
        const k = keyOf(decodePayload(s).publicKey);
        return all.filter((p) => keyOf(p.publicKey) === k);
      } catch (e) {
        if (e instanceof DecodeError) throw new UsageError(e.message, "Copy the payload again");
        throw e;
      }
    }
    const byName = all.filter((p) => p.name.toLowerCase() === s.toLowerCase());
    if (byName.length > 0) return byName;
    if (looksLikeFingerprint(s)) {
      let fp: string;
      try {
        fp = parseFingerprint(s);
      } catch (e) {
        if (e instanceof DecodeError) {
          throw new UsageError(e.message, "Check it against 'agent trust list' or 'agent id' on that board");
        }
        throw e;
      }
      return all.filter((p) => p.fingerprint === fp);
    }
    const compact = s.replace(/[\s-]/g, "").toUpperCase();
    const byPrefix = compact.length >= 4 && /^[A-Z2-7]+$/.test(compact)
      ? all.filter((p) => p.fingerprint.replace(/-/g, "").startsWith(compact))
      : [];
    const byKey = all.filter((p) => base64urlnopad.encode(p.publicKey) === s);
    return [...new Set([...byPrefix, ...byKey])];
  }

  /** Read-modify-write under the lock; `change` edits the fresh map and says whether to write. */
  async #edit<R>(
    change: (peers: Map<string, TrustedPeer>) => { changed: boolean; result: R },
  ): Promise<R> {
    await Deno.mkdir(dirname(this.paths.trustLock), { recursive: true, mode: 0o700 });
    const lock = await Deno.open(this.paths.trustLock, {
      read: true,
      write: true,
      create: true,
      mode: 0o644,
    });
    try {
      await lock.lock(true);
      await this.#load();
      const peers = new Map(this.#peers);
      const { changed, result } = change(peers);
      if (changed) {
        await writeCheckedJson(this.paths.trustStore, TRUST_FORMAT, {
          peers: [...peers.values()].map((p) => ({
            payload: p.payload,
            name: p.name,
            fingerprint: p.fingerprint,
            addedAt: p.addedAt,
            revoked: p.revoked,
            revokedAt: p.revokedAt,
          })),
        });
        this.#peers = peers;
        this.#stamp = await this.#statFile();
      }
      return result;
    } finally {
      lock.close(); // closing releases the flock
    }
  }

  async #statFile(): Promise<FileStamp | undefined> {
    try {
      const s = await Deno.stat(this.paths.trustStore);
      return { ino: s.ino, size: s.size, mtime: s.mtime?.getTime() ?? null };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  async #load(): Promise<void> {
    const path = this.paths.trustStore;
    // Stat before reading: if the file changes in between, the next reloadIfChanged() sees it.
    const stamp = await this.#statFile();
    const data = await readCheckedJson(path, TRUST_FORMAT);
    const peers = new Map<string, TrustedPeer>();
    if (data !== undefined) {
      const list = (data as { peers?: unknown }).peers;
      if (!Array.isArray(list)) throw new CorruptStateError(path, "no peers array");
      list.forEach((raw, i) => {
        const p = parseEntry(path, i, raw);
        const k = keyOf(p.publicKey);
        if (peers.has(k)) throw new CorruptStateError(path, `peer ${i} repeats the key of an earlier peer`);
        peers.set(k, p);
      });
    }
    this.#peers = peers;
    this.#stamp = stamp;
  }
}

function parseEntry(path: string, i: number, raw: unknown): TrustedPeer {
  const bad = (why: string) => new CorruptStateError(path, `peer ${i}: ${why}`);
  if (typeof raw !== "object" || raw === null) throw bad("not an object");
  const r = raw as Record<string, unknown>;
  if (typeof r.payload !== "string") throw bad("payload is not a string");
  let decoded;
  try {
    decoded = decodePayload(r.payload);
  } catch (e) {
    if (e instanceof DecodeError) throw bad(e.message);
    throw e;
  }
  if (r.name !== decoded.name || r.fingerprint !== decoded.fingerprint) {
    throw bad("name or fingerprint disagrees with its payload");
  }
  if (typeof r.addedAt !== "string" || Number.isNaN(Date.parse(r.addedAt))) throw bad("bad addedAt");
  if (typeof r.revoked !== "boolean") throw bad("bad revoked flag");
  if (r.revoked ? typeof r.revokedAt !== "string" : r.revokedAt !== null) throw bad("bad revokedAt");
  return {
    name: decoded.name,
    fingerprint: decoded.fingerprint,
    publicKey: decoded.publicKey,
    payload: decoded.payload,
    addedAt: r.addedAt,
    revoked: r.revoked,
    revokedAt: r.revokedAt as string | null,
  };
}
