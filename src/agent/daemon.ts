/**
 * The daemon, composed once: broker settings and secret files (gossip.transport mqtt or both) → state lock →
 * transport (UDP socket, MQTT broker, or both bridged: `transport.ts`) → boot epoch → replay windows → gossip
 * node and service (heartbeats, peer table) → housekeeping timers (trust reload, peer up/down and
 * untrusted-key messages, replay saves). `agent run` starts it; learning and the HTTP API are added on top by
 * passing `onMessage` and reading {@linkcode Daemon.status}.
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
import { ACCURACY_UNKNOWN, type HelloProgress, MODEL_HASH_SIZE } from "../wire/mod.ts";
import { mqttSettings, openTransport, type TransportInfo } from "./transport.ts";

/** A trust policy the daemon can refresh (the identity layer's TrustStore). */
export interface ReloadableTrust extends TrustPolicy {
  /** Re-reads the store if its file changed; called every few seconds. */
  reloadIfChanged?(): Promise<boolean>;
}

/** What {@linkcode startDaemon} needs. */
export interface DaemonOptions {
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
  /** Accepted datagrams for the learning layer. */
  onMessage?: (message: AcceptedMessage) => void | Promise<void>;
  /** Learning progress for heartbeats (uptime is filled in by the daemon). */
  progress?: () => Omit<HelloProgress, "uptime">;
  /** Period of trust reloads and peer checks, ms (default 1000). */
  housekeepingMs?: number;
}

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

/**
 * The model hash used until the model layer provides one: the first 8 bytes of
 * SHA-256("agent-model:" + model id). Peers with different model ids refuse each other's updates.
 */
export async function modelIdHash(modelId: string): Promise<Uint8Array> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`agent-model:${modelId}`));
  return new Uint8Array(digest).slice(0, MODEL_HASH_SIZE);
}

/** Starts the daemon; see the module comment for the order. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, state, logger } = options;
  const log = logger.child({ component: "gossip" });
  const clock = options.clock ?? systemClock;
  const modelHash = options.modelHash ?? await modelIdHash(config.model.id);
  // Broker settings and secret files are checked before anything is taken.
  const mqtt = config.gossip.transport !== "udp" && !options.transport
    ? await mqttSettings(config, { modelHash, publicKey: options.signer.publicKey })
    : undefined;
  await Deno.mkdir(state.root, { recursive: true, mode: 0o700 });
  const lock: StateLock = await acquireStateLock(state.lock);
  let transport: Transport | undefined;
  try {
    const stale = await removeStaleTempFiles(state.root);
    if (stale > 0) log.info("Removed temp files left by an earlier crash", { count: stale });
    // The socket first: a port in use must not burn a boot epoch.
    const opened = options.transport
      ? {
        transport: options.transport,
        info: (): TransportInfo => ({ mode: "udp", broker: null, forwarded: null }),
      }
      : await openTransport(config, mqtt, log);
    transport = opened.transport;
    const bootEpoch = await nextBootEpoch(state.bootEpoch);
    const replay = await loadReplayWindows(state.replay);
    const node = new GossipNode({
      signer: options.signer,
      verifier: new Verifier(),
      trust: options.trust,
      modelHash,
      bootEpoch,
      name: options.name,
      maxDatagram: config.gossip.maxDatagram,
      rateLimit: config.gossip.rateLimit,
      intervalMs: config.gossip.intervalMs,
      peerTimeoutMs: config.gossip.peerTimeoutMs,
      replay,
      fingerprint: fingerprintOf,
    });
    const gossip = new GossipService({
      node,
      transport,
      clock,
      logger: log,
      onMessage: options.onMessage,
      intervalMs: config.gossip.intervalMs,
      saveReplay: () => saveReplayWindows(state.replay, node.replay),
      nextEpoch: () => nextBootEpoch(state.bootEpoch),
    });
    const me = fingerprintOf(options.signer.publicKey);
    const started = clock.now();
    gossip.start();
    log.info("Gossip started", {
      name: options.name,
      fingerprint: me,
      transport: opened.info().mode,
      ...(mqtt ? { broker: mqtt.url, topic: mqtt.topic } : {}),
      ...(config.gossip.transport !== "mqtt"
        ? {
          listen: `${transport.localAddress.hostname}:${transport.localAddress.port}`,
          broadcast: `${config.gossip.broadcast}:${config.gossip.port}`,
        }
        : {}),
      bootEpoch,
    });

    // Housekeeping: trust reloads (revocation without restart), peer up/down, untrusted keys.
    const alive = new Map<string, boolean>();
    const announcedUntrusted = new Set<string>();
    let reloading = false;
    const housekeeping = async () => {
      const now = clock.now();
      const progress = options.progress?.() ??
        { round: 0, samples: 0, merged: 0, accuracy: ACCURACY_UNKNOWN };
      node.setProgress({ ...progress, uptime: (now - started) / 1000 });
      if (options.trust.reloadIfChanged && !reloading) {
        reloading = true;
        try {
          if (await options.trust.reloadIfChanged()) log.info("Trust store changed; reloaded");
        } catch (e) {
          log.error("Cannot reload the trust store; keeping the previous list", { error: e });
        } finally {
          reloading = false;
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
    const timer = setInterval(() => void housekeeping(), options.housekeepingMs ?? 1000);

    let stopping: Promise<void> | undefined;
    const status = (): DaemonStatus => ({
      name: options.name,
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
          clearInterval(timer);
          try {
            await gossip.stop();
          } finally {
            lock.release();
          }
        })();
        return stopping;
      },
    };
  } catch (e) {
    transport?.close();
    lock.release();
    throw e;
  }
}
