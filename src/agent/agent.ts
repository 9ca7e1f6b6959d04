/**
 * The agent: the gossip daemon (`daemon.ts`: state lock, UDP socket, boot epoch, replay windows,
 * heartbeats, trust reloads) with learning and the HTTP API on top, composed once from the same pure
 * parts the tests drive in memory. `agent run` starts it; the demo, the benchmarks and the integration
 * tests run that command.
 *
 * Start order (each refusal is a {@linkcode UsageError} saying what to do): API address check →
 * identity (made by `agent init`; the private key must be 0600) → trust store → model spec → gossip daemon (state lock: one
 * daemon per state directory; UDP port) → backend → model + newest intact checkpoint (refused if it
 * belongs to a different model) → local data → API socket (refused if the port is taken).
 *
 * Loops while running: the gossip service, one learning round every `learning.roundMs` (local
 * steps, mix, publish), a held-out evaluation every few seconds, a checkpoint every
 * `learning.checkpointMs`, a status snapshot every few seconds, and a reload of the trust store and
 * live config keys on SIGHUP or when their files change. `stop()` (SIGINT/SIGTERM) ends the loops,
 * writes a final checkpoint and status, and releases the lock.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { DecodeError, UsageError } from "../errors.ts";
import type { GossipService, Transport } from "../gossip/mod.ts";
import { encodePayload, type Identity, loadIdentity, resolveNodeName, TrustStore } from "../identity/mod.ts";
import { type BadRow, summariseBadRows } from "../learn/mod.ts";
import { LearnMessage, type Samples, SwarmLearner } from "../learn/mod.ts";
import { modelOptionsFromConfig, tuningFromConfig } from "../learn/mod.ts";
import type { Logger } from "../log.ts";
import {
  createModel,
  InputCheck,
  loadCheckpoint,
  modelHash,
  resolveModelSpec,
  saveCheckpoint,
  toHex,
  type TrainableModel,
} from "../model/mod.ts";
import { createApi } from "../api/mod.ts";
import type { HistoryReport } from "../api/mod.ts";
import type { Pairing } from "../api/mod.ts";
import { type HistoryPoint, MetricHistory } from "../api/mod.ts";
import { AgentMetrics } from "../api/mod.ts";
import { type ApiServer, checkListen, serveApi } from "../api/mod.ts";
import { STATUS_FORMAT, type StatusReport } from "../api/mod.ts";
import { removeStaleTempFiles, type StateLayout, writeCheckedJson } from "../state/mod.ts";
import { diskSpace, SaveGuard } from "../state/mod.ts";
import { type Clock, cryptoRandom, SeededRandom, systemClock } from "../time.ts";
import { ACCURACY_UNKNOWN, deflateBody, FRAME_OVERHEAD, MessageType } from "../wire/mod.ts";
import { chooseBackend } from "./backend_choice.ts";
import { concatSamples, loadLocalSamples, type LocalData, splitHeldOut } from "./data.ts";
import { applyLive, configChanges, type ReloadWatcher, watchForReload } from "./reload.ts";
import { SampleStore } from "./samples.ts";
import { type Daemon, startDaemon } from "./daemon.ts";
import { buildStatus } from "./status.ts";

/** Milliseconds between held-out evaluations. */
const EVAL_MS = 2000;
/** Milliseconds between status snapshots (and checks of peers turning unusable). */
const STATUS_MS = 5000;
/** Bad data rows shown in full in the log (the rest are counted by reason). */
const BAD_ROWS_SHOWN = 5;
/** Most held-out rows evaluated (bounds the time an evaluation takes). */
const MAX_EVAL_ROWS = 2000;

/** What {@linkcode Agent.start} needs. */
export interface AgentOptions {
  config: Config;
  state: StateLayout;
  /** Config file path (watched for live changes; may not exist). */
  configPath: string;
  /** Re-reads and validates the config file (for reloads). */
  loadConfig(): Promise<Config>;
  logger: Logger;
  /** Applies a new logging.level to `logger`. */
  setLogLevel?(level: Config["logging"]["level"]): void;
  version: string;
  clock?: Clock;
  /** Transport instead of UDP (in-memory tests). */
  transport?: Transport;
  /** Wall clock in ms (default `Date.now`). */
  wallClock?: () => number;
  /** Hooks around the learner (none in a normal agent; see {@linkcode AgentHooks}). */
  hooks?: AgentHooks;
}

/**
 * Hooks around the learner, composed by the caller: the agent itself knows no attack. `agent run`
 * installs them only for the real-network robustness benchmark (AGENT_DEV_ATTACK, development only),
 * from the simulation's attacks.
 */
export interface AgentHooks {
  /** Rewrites one round's outgoing messages before they are signed and sent. */
  outgoing?(
    out: { type: number; body: Uint8Array }[],
    ctx: { learner: SwarmLearner; now: number; budget: number },
  ): { type: number; body: Uint8Array }[];
  /** The rows the learner trains on, from the node's own training rows. */
  trainingData?(train: Samples): Samples;
}

/** A running agent. */
export class Agent {
  readonly config: Config;
  /** The API address actually bound. */
  readonly apiAddress: string;
  readonly identity: Identity;
  /** Resolves when the daemon has stopped. */
  readonly stopped: Promise<void>;
  #resolveStopped!: () => void;
  #o: AgentOptions;
  #daemon: Daemon;
  #model: TrainableModel;
  #serving: TrainableModel;
  #learner: SwarmLearner;
  #gossip: GossipService;
  #api: ApiServer;
  #trust: TrustStore;
  #store: SampleStore;
  #source: Samples;
  #data: LocalData;
  #test: Samples | undefined;
  #storeVersion: number;
  #metrics: AgentMetrics;
  #backend: string;
  #backendReason: string;
  #clock: Clock;
  #wall: () => number;
  #startedAt: number;
  #accuracy: number | null = null;
  #largest = 0;
  #timers: ReturnType<typeof setInterval>[] = [];
  #roundTimer: ReturnType<typeof setTimeout> | undefined;
  #round: Promise<void> = Promise.resolve();
  #watcher: ReloadWatcher | undefined;
  #stopping: Promise<void> | undefined;
  #lastCheckpoint = 0;
  /** A checkpoint failed or was deferred: try again on the next round the back-off allows. */
  #checkpointDue = false;
  #saving: SaveGuard;
  #checkpointing: Promise<void> = Promise.resolve();
  #evaluating: Promise<void> = Promise.resolve();
  #live: Config;
  /** Accuracy, loss, traffic and rejects over time for the dashboard (fixed memory, see history.ts). */
  #history = new MetricHistory();
  #pairing: Promise<Pairing> | undefined;

  private constructor(parts: {
    o: AgentOptions;
    daemon: Daemon;
    identity: Identity;
    model: TrainableModel;
    serving: TrainableModel;
    learner: SwarmLearner;
    gossip: GossipService;
    api: ApiServer;
    trust: TrustStore;
    store: SampleStore;
    source: Samples;
    test: Samples | undefined;
    metrics: AgentMetrics;
    backend: string;
    backendReason: string;
    startedAt: number;
    saving: SaveGuard;
  }) {
    this.#o = parts.o;
    this.config = parts.o.config;
    this.#live = parts.o.config;
    this.#daemon = parts.daemon;
    this.identity = parts.identity;
    this.#model = parts.model;
    this.#serving = parts.serving;
    this.#learner = parts.learner;
    this.#gossip = parts.gossip;
    this.#api = parts.api;
    this.apiAddress = parts.api.address;
    this.#trust = parts.trust;
    this.#store = parts.store;
    this.#source = parts.source;
    this.#test = parts.test;
    this.#storeVersion = parts.store.version;
    this.#data = this.#split();
    this.#metrics = parts.metrics;
    this.#backend = parts.backend;
    this.#backendReason = parts.backendReason;
    this.#clock = parts.o.clock ?? systemClock;
    this.#wall = parts.o.wallClock ?? Date.now;
    this.#startedAt = parts.startedAt;
    this.#saving = parts.saving;
    this.stopped = new Promise((r) => (this.#resolveStopped = r));
  }

  /** Starts the daemon or throws a {@linkcode UsageError} saying why it cannot. */
  static async start(o: AgentOptions): Promise<Agent> {
    const { config, state, logger } = o;
    const clock = o.clock ?? systemClock;
    const wall = o.wallClock ?? Date.now;
    const startedAt = wall();
    // What can be checked without side effects comes first.
    checkListen(config.api.listen, config.api.allowRemote);
    const identity = await loadIdentity(state);
    const trust = await TrustStore.open(state, { self: identity.publicKey });
    if (trust.trusted().length === 0) {
      logger.warn("No trusted peers yet: this agent learns alone until it is paired", {
        hint: "pair boards with 'agent id' on one and 'agent trust' on the other",
      });
    }
    const known = await resolveModelSpec(config.model, state.models);
    const spec = known.spec;
    if (known.origin === "local") logger.info("Model spec", { id: spec.id, path: known.path });
    const name = resolveNodeName(config.node.name, hostName());

    // Set once the learner exists; datagrams that arrive earlier are dropped (peers resend).
    let agent: Agent | undefined;
    let learner: SwarmLearner | undefined;
    const daemon = await startDaemon({
      config,
      state,
      name,
      signer: identity.signer,
      trust,
      logger,
      modelHash: modelHash(spec),
      clock,
      transport: o.transport,
      onMessage: (m) => {
        if (agent) agent.#noteSize(m.header.bodyLength);
        if (m.type === MessageType.Hello || !learner) return;
        const outcome = learner.onMessage(m.senderKey, m.type, m.body, clock.now());
        if (!outcome.accepted && outcome.reason !== "stale") {
          logger.debug("Peer update not used", { reason: outcome.reason, detail: outcome.detail });
        }
      },
      progress: () =>
        agent ? agent.#progress() : { round: 0, samples: 0, merged: 0, accuracy: ACCURACY_UNKNOWN },
    });
    const cleanup: (() => Promise<void> | void)[] = [() => daemon.stop()];
    const undo = async () => {
      for (const f of cleanup.reverse()) await Promise.resolve(f()).catch(() => {});
    };
    try {
      // The state lock is held from here on.
      for (const dir of [state.checkpoints, state.samples]) {
        const n = await removeStaleTempFiles(dir).catch((e) => {
          if (e instanceof Deno.errors.NotFound) return 0;
          throw e;
        });
        if (n > 0) logger.info("Removed temporary files left by an interrupted write", { dir, count: n });
      }
      const backend = await chooseBackend(config.model.backend);
      const backendReason = backend.reason;
      logger.info("Compute backend", { backend: backend.name, reason: backendReason });
      const model = await createModel(spec, modelOptionsFromConfig(config.learning));
      cleanup.push(() => model.dispose());
      // Predictions and accuracy come from the swarm's consensus (the learner's inference weights),
      // held in a second model so training never waits for a prediction or the reverse.
      const serving = await createModel(spec);
      cleanup.push(() => serving.dispose());

      const loaded = await loadCheckpoint(state.checkpoints, model);
      const foreign = loaded.skipped.filter((s) => s.kind === "other-model");
      if (foreign.length > 0) {
        throw new UsageError(
          `Checkpoint ${JSON.stringify(foreign[0].path)} was made by a different model than ${spec.id} ` +
            `(hash ${toHex(model.modelHash)}): ${foreign[0].reason}`,
          `Move ${JSON.stringify(state.checkpoints)} aside to start this model from scratch, ` +
            "or set model.id back to the model it was trained with",
        );
      }
      for (const s of loaded.skipped) {
        logger.warn("Skipped a damaged checkpoint; using an older one", { path: s.path, reason: s.reason });
      }

      // Every row is checked against the spec's range and normalised as it says before it can reach
      // training; posted samples are stored raw (checked) and normalised when they are used.
      const input = new InputCheck(spec.shape, spec.norm);
      const shape = { features: model.inputSize, classes: model.classes, input };
      let source: Samples = { x: new Float32Array(0), y: new Uint8Array(0), count: 0 };
      if (config.data.source !== "") {
        const parsed = await loadLocalSamples(config.data.source, shape);
        reportBadRows(logger, config.data.source, parsed.bad);
        source = copySamples(parsed.samples.view());
        logger.info("Loaded local data", { source: config.data.source, samples: source.count });
      }
      let test: Samples | undefined;
      if (config.data.test !== "") {
        const parsed = await loadLocalSamples(config.data.test, shape);
        reportBadRows(logger, config.data.test, parsed.bad);
        test = copySamples(parsed.samples.view());
      }
      const store = await SampleStore.open(state.samples, { ...shape, input: input.rangeOnly() }, {
        maxSamples: config.data.maxSamples,
        logger: logger.child({ component: "samples" }),
      });
      if (source.count + store.count === 0) {
        logger.warn("This node has no training samples: it serves what its peers learn but adds nothing", {
          source: config.data.source || "(none)",
          hint: config.data.source
            ? `none of the rows in ${
              JSON.stringify(config.data.source)
            } could be used; see the bad rows above`
            : "set data.source to a JSONL/CSV file, or POST labelled rows to /v1/samples",
        });
      }

      const swarm = new SwarmLearner({
        model,
        data: { x: new Float32Array(0), y: new Uint8Array(0), count: 0 },
        features: model.inputSize,
        rng: new SeededRandom(cryptoRandom.nextU32()),
        selfKey: identity.publicKey,
        deflate: deflateBody,
        ...tuningFromConfig(config.learning),
        // A node without a checkpoint catches up from its peers' snapshots before publishing.
        joining: !loaded.checkpoint,
        peerTimeoutMs: Math.max(config.gossip.peerTimeoutMs, 4 * config.learning.roundMs),
      });
      if (loaded.checkpoint) {
        try {
          swarm.restore(loaded.checkpoint.extra, clock.now());
          logger.info("Resumed from checkpoint", {
            path: loaded.checkpoint.path,
            rounds: swarm.stats(clock.now()).rounds,
          });
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
          model.setWeights(loaded.checkpoint.weights);
          logger.warn("Checkpoint had no usable learner state; resumed the weights only", {
            path: loaded.checkpoint.path,
            reason: e.message,
          });
        }
      }
      serving.setWeights(swarm.inferenceWeights());
      const node = daemon.gossip.node;
      const saving = new SaveGuard({
        now: () => clock.now(),
        wallNow: wall,
        space: () => diskSpace(state.root),
      });
      await saving.refreshSpace();
      const metrics = new AgentMetrics({
        datagrams: () => {
          const c = node.counters();
          return {
            received: c.received,
            receivedBytes: c.receivedBytes,
            accepted: c.accepted,
            sent: c.sent,
            sentBytes: c.sentBytes,
            rejected: c.rejected,
            largest: agent ? agent.#largest : 0,
          };
        },
        peers: () => {
          const peers = node.peers(clock.now()).filter((p) => p.trusted);
          return { trusted: trust.trusted().length, alive: peers.filter((p) => p.alive).length };
        },
        rounds: () => swarm.stats(clock.now()).rounds,
        loss: () => {
          const l = swarm.stats(clock.now()).lastLoss;
          return Number.isFinite(l) ? l : null;
        },
        accuracy: () => agent ? agent.#accuracy : null,
        samples: () => agent ? agent.#data.train.count : 0,
        rss: () => Deno.memoryUsage().rss,
        storage: () => saving.health(),
        transport: () => {
          const t = daemon.transport();
          const peers = { lan: 0, broker: 0, both: 0 };
          for (const p of node.peers(clock.now())) {
            if (p.trusted && p.alive && p.transport) peers[p.transport]++;
          }
          return {
            peers,
            broker: t.broker && {
              connected: t.broker.state === "connected",
              connects: t.broker.connects,
              failures: t.broker.failures,
              messagesIn: t.broker.messagesIn,
              messagesOut: t.broker.messagesOut,
              dropped: t.broker.dropped,
            },
            forwarded: t.forwarded,
          };
        },
      });
      let liveMaxBody = config.api.maxBodyBytes;
      const handler = createApi({
        inputSize: model.inputSize,
        classes: model.classes,
        classNames: spec.classNames,
        input,
        predict: (x, count) => serving.predict(x, count),
        addSamples: async (x, y, count) => {
          const stored = await store.append(x, y, count);
          return { stored };
        },
        status: () => {
          if (!agent) throw new UsageError("The agent is still starting", "Try again in a moment");
          return agent.status();
        },
        metrics,
        get maxBodyBytes() {
          return liveMaxBody;
        },
        clock,
        logger: logger.child({ component: "api" }),
        dashboard: {
          status: () => {
            if (!agent) throw new UsageError("The agent is still starting", "Try again in a moment");
            return agent.status();
          },
          history: (since) => {
            if (!agent) throw new UsageError("The agent is still starting", "Try again in a moment");
            return agent.history(since);
          },
          pairing: () => {
            if (!agent) throw new UsageError("The agent is still starting", "Try again in a moment");
            return agent.pairing();
          },
        },
      });
      const api = serveApi(handler, {
        listen: config.api.listen,
        allowRemote: config.api.allowRemote,
        logger,
      });
      cleanup.push(() => api.shutdown());

      agent = new Agent({
        o,
        daemon,
        identity,
        model,
        serving,
        learner: swarm,
        gossip: daemon.gossip,
        api,
        trust,
        store,
        source,
        test,
        metrics,
        backend: backend.name,
        backendReason,
        startedAt,
        saving,
      });
      agent.#setMaxBody = (n) => (liveMaxBody = n);
      agent.#learner.setData(agent.#trainingData());
      agent.#learner.setValidation(agent.#data.heldOut);
      learner = swarm;
      agent.#startLoops();
      logger.info("Agent running", {
        node: name,
        fingerprint: identity.fingerprint,
        model: spec.id,
        api: api.address,
        trusted: trust.trusted().length,
        samples: agent.#data.train.count,
        heldOut: agent.#data.heldOut.count,
      });
      return agent;
    } catch (e) {
      await undo();
      throw e;
    }
  }

  #setMaxBody: (n: number) => void = () => {};
  /** The local training rows (through the training-data hook, if any). */
  #trainingData(): Samples {
    return this.#o.hooks?.trainingData?.(this.#data.train) ?? this.#data.train;
  }

  #progress() {
    const stats = this.#learner.stats(this.#clock.now());
    return {
      round: stats.rounds,
      samples: Math.min(this.#data.train.count, 0xffffffff),
      merged: stats.accepted,
      accuracy: this.#accuracy === null ? ACCURACY_UNKNOWN : Math.round(this.#accuracy * 10000),
    };
  }

  #noteSize(bodyLength: number): void {
    // Header + signature are fixed; the gossip core enforces the cap, this is for status/metrics.
    const size = bodyLength + FRAME_OVERHEAD;
    if (size > this.#largest) this.#largest = size;
  }

  /** The posted samples (kept raw on disk), normalised as the spec says. */
  #storedSamples(): Samples {
    const raw = this.#store.samples();
    return {
      ...raw,
      x: new InputCheck(this.#model.spec.shape, this.#model.spec.norm).normalise(raw.x, raw.count),
    };
  }

  #split(): LocalData {
    // Only one side present: used as it is (no second copy: each is N rows × features floats, and the
    // copy made at every change of the stored samples lingers until V8 collects it).
    const all = this.#store.count === 0
      ? this.#source
      : this.#source.count === 0
      ? this.#storedSamples()
      : concatSamples([this.#source, this.#storedSamples()], this.#model.inputSize);
    if (this.#test) return { train: all, heldOut: this.#test };
    return splitHeldOut(all, this.#o.config.data.heldOut, this.#model.inputSize);
  }

  #startLoops(): void {
    const log = this.#o.logger;
    const scheduleRound = () => {
      this.#roundTimer = setTimeout(() => {
        this.#round = this.#runRound().catch((e) => log.error("Learning round failed", { error: e }))
          .finally(() => {
            if (!this.#stopping) scheduleRound();
          });
      }, this.#live.learning.roundMs);
    };
    scheduleRound();
    let busy = false;
    this.#timers.push(setInterval(() => {
      if (busy) return; // the previous evaluation is still running: skip this tick
      busy = true;
      this.#evaluating = this.#evaluate().finally(() => (busy = false));
    }, EVAL_MS));
    this.#timers.push(setInterval(() => void this.#writeStatus(), STATUS_MS));
    this.#history.record(this.#historyPoint());
    this.#timers.push(setInterval(() => this.#recordHistory(), this.#history.intervalMs));
    this.#lastCheckpoint = this.#clock.now();
    this.#watcher = watchForReload({
      files: [this.#o.configPath, this.#o.state.trustStore],
      onReload: (cause) => this.reload(cause.kind === "signal" ? "SIGHUP" : "file change"),
      logger: log,
    });
    this.#evaluating = this.#evaluate();
  }

  async #runRound(): Promise<void> {
    if (this.#stopping) return;
    const now = this.#clock.now();
    if (this.#store.version !== this.#storeVersion) {
      this.#storeVersion = this.#store.version;
      this.#data = this.#split();
      this.#learner.setData(this.#trainingData());
      this.#learner.setValidation(this.#data.heldOut);
    }
    const cfg = this.#live.learning;
    Object.assign(this.#learner.tuning, tuningFromConfig(cfg));
    await this.#learner.train(cfg.localSteps);
    this.#learner.mix(now);
    this.#serving.setWeights(this.#learner.inferenceWeights());
    let out: { type: number; body: Uint8Array }[] = this.#learner.outgoing(now, this.#gossip.node.bodyBudget);
    const budget = this.#gossip.node.bodyBudget;
    if (this.#o.hooks?.outgoing) out = this.#o.hooks.outgoing(out, { learner: this.#learner, now, budget });
    for (const m of out) {
      if (this.#stopping) return;
      if (m.body.length > this.#gossip.node.bodyBudget) continue;
      await this.#gossip.publish(m.type as LearnMessage, m.body);
      this.#noteSize(m.body.length);
    }
    if (now - this.#lastCheckpoint >= cfg.checkpointMs || this.#checkpointDue) {
      this.#lastCheckpoint = now;
      await this.#checkpoint();
    }
  }

  async #evaluate(): Promise<void> {
    const h = this.#data.heldOut;
    if (h.count === 0 || this.#stopping) return;
    const n = Math.min(h.count, MAX_EVAL_ROWS);
    const F = this.#model.inputSize;
    try {
      const r = await this.#serving.evaluate(h.x.subarray(0, n * F), h.y.subarray(0, n), n);
      this.#accuracy = r.accuracy;
    } catch (e) {
      this.#o.logger.error("Evaluation failed", { error: e });
    }
  }

  /** Writes a checkpoint now (serialised with other checkpoint writes), unless saving backs off. */
  #checkpoint(final = false): Promise<void> {
    const run = this.#checkpointing.then(async () => {
      const save = async () => {
        const extra = this.#learner.checkpoint();
        const rounds = this.#learner.stats(this.#clock.now()).rounds;
        await saveCheckpoint(this.#o.state.checkpoints, this.#model, {
          step: rounds,
          extra,
          // The checkpoint's weights are what `agent infer` and a clone's seed use: the swarm consensus.
          // The learner's own state (local model, public copy, peers) is in `extra`.
          weights: this.#learner.inferenceWeights(),
        });
      };
      // The final checkpoint at shutdown is attempted even while backing off.
      const outcome = await this.#saving.run(
        "checkpoint",
        save,
        (e, n) => this.#saveFailed("checkpoint", e, n),
        final,
      );
      if (outcome === "saved" && this.#checkpointDue) {
        this.#o.logger.info("Saving works again", { free: this.#saving.health().freeBytes });
      }
      this.#checkpointDue = outcome !== "saved";
    });
    this.#checkpointing = run.catch((e) => this.#o.logger.error("Checkpoint failed", { error: e }));
    return this.#checkpointing;
  }

  #saveFailed(what: string, e: unknown, inARow: number): void {
    const h = this.#saving.health();
    // The first failure is an error; repeats (already backing off) are warnings with the count.
    (inARow === 1 ? this.#o.logger.error : this.#o.logger.warn).call(
      this.#o.logger,
      `Cannot save the ${what}; retrying with back-off`,
      { error: e, failingInARow: inARow, freeBytes: h.freeBytes },
    );
  }

  async #writeStatus(): Promise<void> {
    await this.#saving.refreshSpace();
    await this.#saving.run(
      "status",
      () => {
        const report = this.status();
        this.#logUnusablePeers(report.peers);
        return writeCheckedJson(this.#o.state.status, STATUS_FORMAT, report);
      },
      (e, n) => this.#saveFailed("status snapshot", e, n),
    );
  }

  /** Last logged reason per trusted peer (fingerprint) why it does not help our model. */
  #unusable = new Map<string, string>();

  /**
   * Logs once when a trusted peer turns unusable for a reason a person must act on (another model,
   * left out of the merge) and once when it is usable again; the status shows every reason anyway.
   */
  #logUnusablePeers(peers: StatusReport["peers"]): void {
    for (const p of peers) {
      const reason = p.unusable ?? null;
      const actionable = reason !== null && /^(runs another model|left out)/.test(reason);
      const before = this.#unusable.get(p.fingerprint);
      if (actionable && before !== reason.split(":")[0]) {
        this.#unusable.set(p.fingerprint, reason.split(":")[0]);
        this.#o.logger.warn("Trusted peer is not used", { peer: p.name, fingerprint: p.fingerprint, reason });
      } else if (reason === null && before !== undefined) {
        this.#unusable.delete(p.fingerprint);
        this.#o.logger.info("Trusted peer is used again", { peer: p.name, fingerprint: p.fingerprint });
      }
    }
  }

  /** The status report (what `GET /v1/status` answers). */
  status(): StatusReport {
    const now = this.#clock.now();
    const stats = this.#learner.stats(now);
    const node = this.#gossip.node;
    return buildStatus({
      node: { name: this.#daemon.status().name, fingerprint: this.identity.fingerprint },
      version: this.#o.version,
      pid: Deno.pid,
      startedAtMs: this.#startedAt,
      wallNowMs: this.#wall(),
      backend: this.#backend,
      backendReason: this.#backendReason,
      model: {
        id: this.#model.spec.id,
        hash: toHex(this.#model.modelHash),
        parameters: this.#model.paramCount,
        ...(this.#model.spec.classNames ? { classes: this.#model.spec.classNames } : {}),
      },
      accuracy: this.#accuracy,
      heldOut: this.#data.heldOut.count,
      samples: this.#data.train.count,
      learner: stats,
      gossip: node.counters(),
      largestDatagram: this.#largest,
      peers: node.peers(now),
      trusted: this.#trust.trusted().map((p) => ({
        key: toHex(p.publicKey),
        fingerprint: p.fingerprint,
        name: p.name,
      })),
      transport: this.#daemon.transport(),
      api: this.apiAddress,
      rss: Deno.memoryUsage().rss,
      storage: this.#saving.health(),
    });
  }

  #historyPoint(): HistoryPoint {
    const c = this.#gossip.node.counters();
    const loss = this.#learner.stats(this.#clock.now()).lastLoss;
    return {
      t: this.#wall(),
      accuracy: this.#accuracy,
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
      const payload = encodePayload({ publicKey: this.identity.publicKey, name: this.#daemon.status().name });
      const { renderQrSvg } = await import("../identity/qr.ts");
      return { payload, qrSvg: await renderQrSvg(payload) };
    })();
    return this.#pairing;
  }

  /** Re-reads the trust store and the config file; applies live keys, logs the rest. */
  async reload(why: string): Promise<void> {
    const log = this.#o.logger;
    try {
      if (await this.#trust.reloadIfChanged()) {
        log.info("Trust store changed; reloaded", { why, trusted: this.#trust.trusted().length });
      }
    } catch (e) {
      log.error("Trust store not reloaded; keeping the previous list", { error: e });
    }
    let next: Config;
    try {
      next = await this.#o.loadConfig();
    } catch (e) {
      log.error("Config not reloaded; keeping the running one", { error: e });
      return;
    }
    const changes = configChanges(this.#live, next);
    if (changes.live.length === 0 && changes.restart.length === 0) return;
    this.#live = applyLive(this.#live, next);
    if (changes.live.includes("logging.level")) this.#o.setLogLevel?.(this.#live.logging.level);
    if (changes.live.includes("api.maxBodyBytes")) this.#setMaxBody(this.#live.api.maxBodyBytes);
    if (changes.live.length) log.info("Config reloaded", { why, applied: changes.live });
    if (changes.restart.length) {
      log.warn("Some config changes need a restart to take effect", { keys: changes.restart });
    }
  }

  /** Stops every loop, writes a final checkpoint and status, closes sockets, releases the lock. */
  stop(reason: string): Promise<void> {
    this.#stopping ??= this.#stop(reason);
    return this.#stopping;
  }

  async #stop(reason: string): Promise<void> {
    const log = this.#o.logger;
    log.info("Stopping", { reason });
    clearTimeout(this.#roundTimer);
    for (const t of this.#timers) clearInterval(t);
    await this.#watcher?.close();
    await this.#round;
    await this.#evaluating;
    await this.#api.shutdown().catch((e) => log.warn("API shutdown", { error: e }));
    await this.#checkpoint(true);
    await this.#writeStatus();
    await this.#daemon.stop();
    this.#model.dispose();
    this.#serving.dispose();
    const final = this.#daemon.status();
    log.info("Stopped", {
      checkpoint: this.#o.state.checkpoints,
      peers: final.peers.map((p) => ({
        name: p.name,
        fingerprint: p.fingerprint,
        alive: p.alive,
        in: p.datagramsIn,
      })),
      counters: final.counters,
    });
    this.#resolveStopped();
  }
}

function copySamples(s: Samples): Samples {
  return { x: s.x.slice(), y: s.y.slice(), count: s.count };
}

function reportBadRows(logger: Logger, path: string, bad: BadRow[]) {
  if (bad.length === 0) return;
  const summary = summariseBadRows(bad, BAD_ROWS_SHOWN);
  logger.warn("Skipped bad rows in the data", {
    path,
    count: summary.count,
    byReason: Object.entries(summary.byReason).map(([k, n]) => `${k}: ${n}`).join(", "),
    first: summary.first.join("; "),
    hint: "fix or remove these rows; values must match the model spec's input (see 'agent models')",
  });
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "agent"; // not permitted to read it
  }
}
