/**
 * The agent: the gossip daemon (`daemon.ts`: state lock, transport, boot epoch, replay windows, heartbeats,
 * trust reloads) with learning and the HTTP API on top, composed once from the same pure parts the tests
 * drive in memory. `agent run` starts it; the demo, the benchmarks and the integration tests run that
 * command.
 *
 * {@linkcode Agent.start} is a sequence of small steps, each in its own file with its own test; every step
 * that takes a resource adds its undo to one cleanup pool (`_cleanup.ts`), so a failing step undoes the
 * earlier ones, newest first. Each refusal is a `UsageError` saying what to do:
 *
 * 1. API address check (no side effects)
 * 2. identity and trust store, model spec (`_step_identity.ts`)
 * 3. state lock and transport (`daemon.ts` {@linkcode claimDaemon}: one daemon per state directory; a UDP
 *    port in use fails here, before anything slow)
 * 4. backend, model and newest intact checkpoint, refused if it belongs to another model (`_step_model.ts`)
 * 5. local data and the posted-samples store (`_step_data.ts`)
 * 6. learner, resumed from the checkpoint (`_step_learner.ts`)
 * 7. gossip started: boot epoch, replay windows, heartbeats (`daemon.ts`)
 * 8. API socket, refused if the port is taken (`_step_api.ts`); then the reload watcher and the timers.
 *
 * While running (`_timers.ts`): one learning round after another (`_round.ts`: local steps, mix, publish,
 * a checkpoint every `learning.checkpointMs`), a held-out evaluation every few seconds, a status snapshot
 * every few seconds (`_status_writer.ts`), a history sample for the dashboard, and a reload of the trust
 * store and the live config keys on SIGHUP or when their files change (`reload.ts`). `stop()`
 * (SIGINT/SIGTERM) stops the timers, writes a final checkpoint and status, and releases the lock.
 *
 * @module
 */
import { type HistoryPoint, type HistoryReport, MetricHistory, type Pairing } from "../api/mod.ts";
import { type ApiServer, checkListen, type StatusReport } from "../api/mod.ts";
import type { Config } from "../config/mod.ts";
import { encodePayload, type Identity, resolveNodeName, type TrustStore } from "../identity/mod.ts";
import { type SwarmLearner, tuningFromConfig } from "../learn/mod.ts";
import { modelHash, toHex, type TrainableModel } from "../model/mod.ts";
import { diskSpace, SaveGuard } from "../state/mod.ts";
import { type Clock, systemClock } from "../time.ts";
import { Checkpointer } from "./_checkpoints.ts";
import { type CleanupPool, withCleanup } from "./_cleanup.ts";
import { Evaluator, LargestDatagram } from "./_observed.ts";
import { runRound } from "./_round.ts";
import { agentMetrics, serveAgentApi } from "./_step_api.ts";
import { loadLocalData, type LocalDataSet, removeLeftoverTempFiles } from "./_step_data.ts";
import { hostName, loadIdentityAndTrust, loadSpec } from "./_step_identity.ts";
import { createLearner, learnerListeners } from "./_step_learner.ts";
import { loadModel } from "./_step_model.ts";
import { StatusWriter } from "./_status_writer.ts";
import { startAgentTimers, Timers } from "./_timers.ts";
import { claimDaemon, type Daemon } from "./daemon.ts";
import { applyLive, configChanges, type ReloadWatcher, watchForReload } from "./reload.ts";
import { buildStatus } from "./status.ts";
import { AirtimeControl } from "./airtime.ts";
import type { AgentOptions } from "./options.ts";

/** Everything the start steps produced, handed to the running {@linkcode Agent}. */
interface Parts {
  o: AgentOptions;
  clock: Clock;
  wall: () => number;
  startedAt: number;
  identity: Identity;
  trust: TrustStore;
  daemon: Daemon;
  model: TrainableModel;
  serving: TrainableModel;
  backend: { name: string; reason: string };
  data: LocalDataSet;
  learner: SwarmLearner;
  evaluator: Evaluator;
  largest: LargestDatagram;
  saving: SaveGuard;
}

/** A running agent. */
export class Agent {
  readonly config: Config;
  /** The API address actually bound. */
  readonly apiAddress: string;
  readonly identity: Identity;
  /** Resolves when the agent has stopped. */
  readonly stopped: Promise<void>;
  readonly #p: Parts;
  readonly #api: ApiServer;
  readonly #timers: Timers;
  readonly #watcher: ReloadWatcher;
  readonly #checkpoints: Checkpointer;
  readonly #statusWriter: StatusWriter;
  /** The airtime budget: the swarm size heard, the round and Hello intervals, the bytes/s used. */
  readonly #airtime: AirtimeControl;
  /** Accuracy, loss, traffic and rejects over time for the dashboard (fixed memory, see history.ts). */
  readonly #history = new MetricHistory();
  readonly #markStopped: () => void;
  /** The running config: replaced as a whole by a reload (its live keys applied), never changed in place. */
  #live: Config;
  #stopping: Promise<void> | undefined;
  #pairing: Promise<Pairing> | undefined;

  /**
   * Serves the API (throws if its port is taken), then starts the timers and the reload watcher; each joins
   * `pool`, so a failure here undoes them with the earlier steps.
   */
  private constructor(p: Parts, pool: CleanupPool) {
    this.#p = p;
    this.config = p.o.config;
    this.#live = p.o.config;
    this.identity = p.identity;
    const stopped = Promise.withResolvers<void>();
    this.stopped = stopped.promise;
    this.#markStopped = stopped.resolve;
    const { logger } = p.o;
    this.#checkpoints = new Checkpointer({ ...p, dir: p.o.state.checkpoints, logger });
    this.#statusWriter = new StatusWriter({
      path: p.o.state.status,
      saving: p.saving,
      logger,
      status: () => this.status(),
    });
    this.#airtime = new AirtimeControl({
      node: p.daemon.gossip.node,
      clock: p.clock,
      config: () => this.#live,
      learner: p.learner,
    });
    const metrics = agentMetrics({
      ...p,
      airtime: () => this.#airtime.report(),
      node: p.daemon.gossip.node,
      transport: () => p.daemon.transport(),
      trusted: () => p.trust.trusted().length,
    });
    this.#api = serveAgentApi(this, {
      ...p,
      config: p.o.config,
      metrics,
      maxBodyBytes: () => this.#live.api.maxBodyBytes,
      logger,
    });
    pool.add("the API server", () => this.#api.shutdown());
    this.apiAddress = this.#api.address;
    this.#timers = new Timers((name, e) => logger.error(`${name} failed`, { error: e }));
    pool.add("the timers", () => this.#timers.stop());
    this.#history.record(this.#historyPoint());
    startAgentTimers(this.#timers, {
      nextRoundMs: () => this.#airtime.plan().roundMs, // stretched by the airtime budget in a large swarm
      round: () => runRound({ ...p, ...this.#roundLinks() }),
      evaluate: () => p.evaluator.run(),
      writeStatus: () => this.#statusWriter.write(),
      recordHistory: () => this.#recordHistory(),
      historyMs: this.#history.intervalMs,
    });
    this.#watcher = watchForReload({
      files: [p.o.configPath, p.o.state.trustStore],
      onReload: (cause) => this.reload(cause.kind === "signal" ? "SIGHUP" : "file change"),
      logger,
    });
    pool.add("the reload watcher", () => this.#watcher.close());
  }

  /** Starts the agent (see the module comment for the steps) or throws a `UsageError` saying why not. */
  static async start(o: AgentOptions): Promise<Agent> {
    const { config, state, logger } = o;
    const clock = o.clock ?? systemClock;
    const wall = o.wallClock ?? Date.now;
    const startedAt = wall();
    checkListen(config.api.listen, config.api.allowRemote);
    const { identity, trust } = await loadIdentityAndTrust(state, logger);
    const spec = await loadSpec(config, state, logger);
    const name = resolveNodeName(config.node.name, hostName());
    const undoFailed = (what: string, e: unknown) => logger.warn(`Cannot undo ${what}`, { error: e });
    return await withCleanup(async (pool) => {
      const claim = await claimDaemon({
        ...o,
        name,
        signer: identity.signer,
        trust,
        modelHash: modelHash(spec),
        clock,
      });
      pool.add("the state lock and transport", () => claim.release());
      await removeLeftoverTempFiles(state, logger);
      const loaded = await loadModel(spec, { config, state, logger, pool });
      const data = await loadLocalData(loaded.model, {
        config,
        state,
        logger,
        trainingHook: o.hooks?.trainingData,
      });
      const learner = createLearner(loaded, { config, data, selfKey: identity.publicKey, clock, logger });
      const evaluator = new Evaluator(loaded.serving, () => data.current.heldOut, logger);
      const largest = new LargestDatagram();
      const daemon = await claim.start(
        learnerListeners(learner, { data, evaluator, largest, clock, logger }),
      );
      pool.add("the gossip daemon", () => daemon.stop());
      const saving = new SaveGuard({
        now: () => clock.now(),
        wallNow: wall,
        space: () => diskSpace(state.root),
      });
      await saving.refreshSpace();
      const agent = new Agent({
        o,
        clock,
        wall,
        startedAt,
        identity,
        trust,
        daemon,
        // not the checkpoint: its weights and learner state are in the models and the learner now
        model: loaded.model,
        serving: loaded.serving,
        backend: loaded.backend,
        data,
        learner,
        evaluator,
        largest,
        saving,
      }, pool);
      logger.info("Agent running", {
        node: name,
        fingerprint: identity.fingerprint,
        model: spec.id,
        api: agent.apiAddress,
        trusted: trust.trusted().length,
        samples: data.current.train.count,
        heldOut: data.current.heldOut.count,
      });
      return agent;
    }, undoFailed);
  }

  /** What a round reads from the running agent besides its parts. */
  #roundLinks() {
    return {
      checkpoints: this.#checkpoints,
      gossip: this.#p.daemon.gossip,
      hooks: this.#p.o.hooks,
      learning: () => this.#live.learning,
      stopping: () => this.#timers.stopped,
    };
  }

  /** The status report (what `GET /v1/status` answers). */
  status(): StatusReport {
    const p = this.#p;
    const now = p.clock.now();
    const node = p.daemon.gossip.node;
    return buildStatus({
      node: { name: p.daemon.status().name, fingerprint: this.identity.fingerprint },
      version: p.o.version,
      pid: Deno.pid,
      startedAtMs: p.startedAt,
      wallNowMs: p.wall(),
      backend: p.backend.name,
      backendReason: p.backend.reason,
      model: {
        id: p.model.spec.id,
        hash: toHex(p.model.modelHash),
        parameters: p.model.paramCount,
        ...(p.model.spec.classNames ? { classes: p.model.spec.classNames } : {}),
      },
      accuracy: p.evaluator.accuracy,
      heldOut: p.data.current.heldOut.count,
      samples: p.data.current.train.count,
      learner: p.learner.stats(now),
      gossip: node.counters(),
      largestDatagram: p.largest.bytes,
      peers: node.peers(now),
      trusted: p.trust.trusted().map((t) => ({
        key: toHex(t.publicKey),
        fingerprint: t.fingerprint,
        name: t.name,
      })),
      transport: p.daemon.transport(),
      airtime: this.#airtime.report(),
      api: this.apiAddress,
      rss: Deno.memoryUsage().rss,
      storage: p.saving.health(),
    });
  }

  #historyPoint(): HistoryPoint {
    const p = this.#p;
    const c = p.daemon.gossip.node.counters();
    const loss = p.learner.stats(p.clock.now()).lastLoss;
    return {
      t: p.wall(),
      accuracy: p.evaluator.accuracy,
      loss: Number.isFinite(loss) ? loss : null,
      bytesIn: c.receivedBytes,
      bytesOut: c.sentBytes,
      rss: Deno.memoryUsage().rss,
      rejects: c.rejected,
    };
  }

  #recordHistory(): void {
    const p = this.#historyPoint();
    // A wall clock set back (NTP) would break the time order: skip until it passes the newest sample.
    if (p.t > (this.#history.lastTime ?? -Infinity)) this.#history.record(p);
  }

  /** Samples newer than `sinceMs` (wall-clock ms) and the values right now (`GET /v1/history`). */
  history(sinceMs: number): HistoryReport {
    return { ...this.#history.series(sinceMs), live: this.#historyPoint() };
  }

  /** This board's pairing payload and its QR code as SVG (what `agent id` shows), made once. */
  pairing(): Promise<Pairing> {
    this.#pairing ??= (async () => {
      const payload = encodePayload({
        publicKey: this.identity.publicKey,
        name: this.#p.daemon.status().name,
      });
      const { renderQrSvg } = await import("../identity/qr.ts");
      return { payload, qrSvg: await renderQrSvg(payload) };
    })();
    return this.#pairing;
  }

  /** Re-reads the trust store and the config file; applies live keys, logs the rest. */
  async reload(why: string): Promise<void> {
    const log = this.#p.o.logger;
    const trust = this.#p.trust;
    try {
      if (await trust.reloadIfChanged()) {
        log.info("Trust store changed; reloaded", { why, trusted: trust.trusted().length });
      }
    } catch (e) {
      log.error("Trust store not reloaded; keeping the previous list", { error: e });
    }
    let next: Config;
    try {
      next = await this.#p.o.loadConfig();
    } catch (e) {
      log.error("Config not reloaded; keeping the running one", { error: e });
      return;
    }
    const changes = configChanges(this.#live, next);
    if (changes.live.length === 0 && changes.restart.length === 0) return;
    this.#live = applyLive(this.#live, next);
    // The learner's tuning is frozen: a reload replaces it with the new config's.
    this.#p.learner.retune(tuningFromConfig(this.#live.learning));
    if (changes.live.includes("logging.level")) this.#p.o.setLogLevel?.(this.#live.logging.level);
    if (changes.live.length) log.info("Config reloaded", { why, applied: changes.live });
    if (changes.restart.length) {
      log.warn("Some config changes need a restart to take effect", { keys: changes.restart });
    }
  }

  /** Stops every timer, writes a final checkpoint and status, closes sockets, releases the lock. */
  stop(reason: string): Promise<void> {
    this.#stopping ??= this.#stop(reason);
    return this.#stopping;
  }

  async #stop(reason: string): Promise<void> {
    const p = this.#p;
    const log = p.o.logger;
    log.info("Stopping", { reason });
    await this.#timers.stop();
    await this.#watcher.close();
    await this.#api.shutdown().catch((e) => log.warn("API shutdown", { error: e }));
    await this.#checkpoints.save(true);
    await this.#statusWriter.write();
    await p.daemon.stop();
    p.model.dispose();
    p.serving.dispose();
    const final = p.daemon.status();
    log.info("Stopped", {
      checkpoint: p.o.state.checkpoints,
      peers: final.peers.map((q) => ({
        name: q.name,
        fingerprint: q.fingerprint,
        alive: q.alive,
        in: q.datagramsIn,
      })),
      counters: final.counters,
    });
    this.#markStopped();
  }
}
