/**
 * The daemon, in two steps. {@linkcode claimDaemon} takes what only one daemon may hold: broker settings and
 * secret files (gossip.transport mqtt or both) → state lock → transport (UDP socket, MQTT broker, or both
 * bridged: `transport.ts`). {@linkcode DaemonClaim.start} then runs it: boot epoch → replay windows → gossip
 * node and service (heartbeats, peer table) → housekeeping timer (trust reload, peer up/down and
 * untrusted-key messages). Between the two, the agent loads its model and data while holding the lock, so
 * a port in use fails fast and the learner exists before the first datagram is read (datagrams wait in the
 * socket or the broker's bounded queue). {@linkcode startDaemon} does both at once. Learning and the HTTP
 * API are added on top by passing `onMessage` and reading {@linkcode Daemon.status}.
 *
 * Failures before anything runs (port in use, state dir locked, corrupt state) are thrown as
 * `UsageError` / `CorruptStateError` with what to do, after releasing what was taken.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import {
  type AcceptedMessage,
  type GossipCounters,
  GossipNode,
  GossipService,
  loadReplayWindows,
  nextBootEpoch,
  type PeerSnapshot,
  saveReplayWindows,
  type Transport,
  type TrustPolicy,
  type UntrustedSender,
} from "../gossip/mod.ts";
import { fingerprint as fingerprintOf } from "../identity/mod.ts";
import { type Signer, Verifier } from "../identity/mod.ts";
import type { Logger } from "../log.ts";
import { acquireStateLock, removeStaleTempFiles, type StateLayout, type StateLock } from "../state/mod.ts";
import { type Clock, systemClock } from "../time.ts";
import { fromHex } from "../gossip/mod.ts";
import { Timers } from "./_timers.ts";
import { ACCURACY_UNKNOWN, type HelloProgress, MODEL_HASH_SIZE } from "../wire/mod.ts";
import {
  type MqttSettings,
  mqttSettings,
  type OpenTransport,
  openTransport,
  type TransportInfo,
} from "./transport.ts";

/** A trust policy the daemon can refresh (the identity layer's TrustStore). */
export interface ReloadableTrust extends TrustPolicy {
  /** Re-reads the store if its file changed; called on every housekeeping tick (1 s by default). */
  reloadIfChanged?(): Promise<boolean>;
}

/** What {@linkcode claimDaemon} needs. */
export interface DaemonClaimOptions {
  config: Config;
  state: StateLayout;
  /** This node's name (node.name, or derived from the host name). */
  name: string;
  signer: Signer;
  trust: ReloadableTrust;
  logger: Logger;
  /** {@linkcode MODEL_HASH_SIZE} bytes naming the model (default: {@linkcode modelIdHash} of model.id). */
  modelHash?: Uint8Array;
  clock?: Clock;
  /** A transport instead of the UDP socket from config (tests). */
  transport?: Transport;
  /** Period of trust reloads and peer checks, ms (default 1000). */
  housekeepingMs?: number;
}

/** What the running daemon hands to the layer above, given to {@linkcode DaemonClaim.start}. */
export interface DaemonListeners {
  /** Accepted datagrams for the learning layer. */
  onMessage?: (message: AcceptedMessage) => void | Promise<void>;
  /** Learning progress for heartbeats (uptime is filled in by the daemon). */
  progress?: () => Omit<HelloProgress, "uptime">;
}

/** What {@linkcode startDaemon} needs. */
export interface DaemonOptions extends DaemonClaimOptions, DaemonListeners {}

/** Plain-data status for `agent status`, metrics and logs. */
export interface DaemonStatus {
  name: string;
  fingerprint: string;
  bootEpoch: number;
  peers: PeerSnapshot[];
  counters: GossipCounters;
  untrusted: UntrustedSender[];
  transport: TransportInfo;
}

/** A running daemon. */
export interface Daemon {
  readonly gossip: GossipService;
  status(): DaemonStatus;
  /** The transport and broker connection now. */
  transport(): TransportInfo;
  /** Stops everything, saves the replay windows, releases the lock. Idempotent. */
  stop(): Promise<void>;
}

/** The state lock and the transport, held; nothing read from the network yet. */
export interface DaemonClaim {
  /** Takes a boot epoch and starts gossiping (on failure the claim is released). */
  start(listeners: DaemonListeners): Promise<Daemon>;
  /** Closes the transport and releases the lock; does nothing once started (the daemon's `stop()` does it). */
  release(): void;
}

/**
 * The model hash used until the model layer provides one: the first 8 bytes of
 * SHA-256("agent-model:" + model id). Peers with different model ids refuse each other's updates.
 */
export async function modelIdHash(modelId: string): Promise<Uint8Array> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`agent-model:${modelId}`));
  return new Uint8Array(digest).slice(0, MODEL_HASH_SIZE);
}

/** Claims and starts the daemon; see the module comment for the order. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  return await (await claimDaemon(options)).start(options);
}

/** Takes the state lock and opens the transport (the socket first: a port in use burns no boot epoch). */
export async function claimDaemon(options: DaemonClaimOptions): Promise<DaemonClaim> {
  const { config, state } = options;
  const log = options.logger.child({ component: "gossip" });
  const modelHash = options.modelHash ?? await modelIdHash(config.model.id);
  // Broker settings and secret files are checked before anything is taken.
  const mqtt = config.gossip.transport !== "udp" && !options.transport
    ? await mqttSettings(config, { modelHash, publicKey: options.signer.publicKey })
    : undefined;
  await Deno.mkdir(state.root, { recursive: true, mode: 0o700 });
  const lock: StateLock = await acquireStateLock(state.lock);
  let transport: Transport | undefined;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    transport?.close();
    lock.release();
  };
  try {
    const stale = await removeStaleTempFiles(state.root);
    if (stale > 0) log.info("Removed temp files left by an earlier crash", { count: stale });
    const opened = options.transport
      ? {
        transport: options.transport,
        info: (): TransportInfo => ({ mode: "udp", broker: null, forwarded: null }),
      }
      : await openTransport(config, mqtt, log);
    transport = opened.transport;
    const held = { ...options, modelHash, mqtt, lock, opened, log };
    return {
      async start(listeners) {
        if (released) throw new Error("Bug: the daemon's claim was released before it started");
        try {
          const daemon = await runDaemon(held, listeners);
          released = true; // the daemon owns the lock and the transport now: its stop() releases them
          return daemon;
        } catch (e) {
          release();
          throw e;
        }
      },
      release,
    };
  } catch (e) {
    release();
    throw e;
  }
}

interface HeldDaemon extends DaemonClaimOptions {
  modelHash: Uint8Array;
  mqtt: MqttSettings | undefined;
  lock: StateLock;
  opened: OpenTransport;
  log: Logger;
}

async function runDaemon(held: HeldDaemon, listeners: DaemonListeners): Promise<Daemon> {
  const { config, state, log, opened } = held;
  const clock = held.clock ?? systemClock;
  const transport = opened.transport;
  const bootEpoch = await nextBootEpoch(state.bootEpoch);
  const node = gossipNode(held, bootEpoch, await loadReplayWindows(state.replay));
  const gossip = new GossipService({
    node,
    transport,
    clock,
    logger: log,
    onMessage: listeners.onMessage,
    intervalMs: config.gossip.intervalMs,
    saveReplay: () => saveReplayWindows(state.replay, node.replay),
    nextEpoch: () => nextBootEpoch(state.bootEpoch),
  });
  const me = fingerprintOf(held.signer.publicKey);
  const started = clock.now();
  gossip.start();
  log.info("Gossip started", {
    name: held.name,
    fingerprint: me,
    transport: opened.info().mode,
    ...(held.mqtt ? { broker: held.mqtt.url, topic: held.mqtt.topic } : {}),
    ...(config.gossip.transport !== "mqtt"
      ? {
        listen: `${transport.localAddress.hostname}:${transport.localAddress.port}`,
        broadcast: `${config.gossip.broadcast}:${config.gossip.port}`,
      }
      : {}),
    bootEpoch,
  });
  const timers = new Timers((name, e) => log.error(`${name} failed`, { error: e }));
  timers.every(
    "Housekeeping",
    held.housekeepingMs ?? 1000,
    housekeeping({
      node,
      trust: held.trust,
      log,
      now: () => clock.now(),
      started,
      progress: listeners.progress,
    }),
  );

  let stopping: Promise<void> | undefined;
  const status = (): DaemonStatus => ({
    name: held.name,
    fingerprint: me,
    bootEpoch: node.bootEpoch,
    peers: node.peers(clock.now()),
    counters: node.counters(),
    untrusted: node.untrustedSenders(),
    transport: opened.info(),
  });
  return {
    gossip,
    status,
    transport: opened.info,
    stop() {
      stopping ??= (async () => {
        try {
          await timers.stop();
          await gossip.stop();
        } finally {
          held.lock.release();
        }
      })();
      return stopping;
    },
  };
}

/** The gossip core for this daemon (pure: no socket, no timer). */
function gossipNode(
  held: HeldDaemon,
  bootEpoch: number,
  replay: Awaited<ReturnType<typeof loadReplayWindows>>,
) {
  const g = held.config.gossip;
  return new GossipNode({
    signer: held.signer,
    verifier: new Verifier(),
    trust: held.trust,
    modelHash: held.modelHash,
    bootEpoch,
    name: held.name,
    maxDatagram: g.maxDatagram,
    rateLimit: g.rateLimit,
    intervalMs: g.intervalMs,
    peerTimeoutMs: g.peerTimeoutMs,
    replay,
    fingerprint: fingerprintOf,
  });
}

/**
 * One housekeeping tick: heartbeat progress, trust reloads (revocation without restart), peer up/down
 * and untrusted keys, each logged once.
 */
function housekeeping(o: {
  node: GossipNode;
  trust: ReloadableTrust;
  log: Logger;
  now: () => number;
  started: number;
  progress: DaemonListeners["progress"];
}): () => Promise<void> {
  const { node, trust, log } = o;
  const alive = new Map<string, boolean>();
  const announcedUntrusted = new Set<string>();
  return async () => {
    const now = o.now();
    const progress = o.progress?.() ?? { round: 0, samples: 0, merged: 0, accuracy: ACCURACY_UNKNOWN };
    node.setProgress({ ...progress, uptime: (now - o.started) / 1000 });
    if (trust.reloadIfChanged) {
      try {
        if (await trust.reloadIfChanged()) log.info("Trust store changed; reloaded");
      } catch (e) {
        log.error("Cannot reload the trust store; keeping the previous list", { error: e });
      }
    }
    for (const p of node.peers(now)) {
      const was = alive.get(p.key);
      if (p.alive && !was) {
        log.info("Peer is alive", { peer: p.name, fingerprint: p.fingerprint, address: p.address });
      } else if (!p.alive && was) {
        log.warn("Peer timed out", { peer: p.name, fingerprint: p.fingerprint, silentMs: p.ageMs });
      }
      alive.set(p.key, p.alive);
    }
    for (const u of node.untrustedSenders()) {
      if (announcedUntrusted.has(u.key) || announcedUntrusted.size > 256) continue;
      announcedUntrusted.add(u.key);
      const key = fromHex(u.key);
      log.warn("Ignoring datagrams from an untrusted key", {
        fingerprint: key ? fingerprintOf(key) : u.key,
        address: u.address,
        hint: "if this is one of your boards, pair it with 'agent trust'",
      });
    }
  };
}
