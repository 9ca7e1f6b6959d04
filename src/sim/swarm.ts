/**
 * An N-node swarm in one process over the simulated network (`network.ts`), with optional Byzantine
 * nodes (`attacks.ts`), poisoned local rows (`poison.ts`), churn (`churn.ts`), a late joiner, a
 * restart, and a centralized baseline (`centralized.ts`). Driven by a round counter, not by timers, so a
 * run is deterministic for a seed. Used by `scripts/sim.ts`, the swarm benchmarks and the tests.
 *
 * Every round it also records which honest peers anyone ignored (`stats(now).peers[].ignored`), the
 * false positives of the defences: an honest sender counts once it is ignored while it has been online
 * for longer than the learner's peer timeout (a node that was away is rightly timed out).
 *
 * @module
 */
import {
  DEFAULT_LEARNER_OPTIONS,
  type LearnerModel,
  type LearnerTuning,
  LearnMessage,
  type Samples,
  SwarmLearner,
} from "../learn/mod.ts";
import { SeededRandom } from "../time.ts";
import { bodyBudget } from "../wire/mod.ts";
import { configAirtime, HELLO_DATAGRAM_BYTES, learnerPeerTimeoutMs, planAirtime } from "../gossip/mod.ts";
import { defaultConfig } from "../config/mod.ts";
import { type Attack, createAttack, type NodeHooks } from "./attacks.ts";
import { backdoorTest } from "./backdoor.ts";
import { trainCentralized } from "./centralized.ts";
import { type ChurnPlan, online, planChurn } from "./churn.ts";
import { subset } from "./mnist.ts";
import { hex, SimNetwork } from "./network.ts";
import { type Poison, poisonRows } from "./poison.ts";

/** Everything a run needs. */
export interface SwarmSimOptions {
  /** Creates node `i`'s model; every call must give the same seeded initial weights. */
  createModel: (node: number) => Promise<LearnerModel> | LearnerModel;
  shards: Samples[];
  features: number;
  test: Samples;
  rounds: number;
  localSteps: number;
  /** Base datagram loss per receiver (0..1). */
  loss: number;
  duplicate?: number;
  /** Shared-medium capacity in bytes per simulated second; loss grows above it (`network.ts`). 0 = none. */
  capacity?: number;
  /**
   * Simulated ms per round (default 1,000): the learners' clocks (committee seats, timeouts), the channel
   * load and the time to target all advance by it. "auto" is what the agent does with its default
   * settings: before every round the airtime plan (`src/gossip/airtime.ts`, `gossip.swarmBytesPerSecond`
   * 32,000 B/s, `learning.roundMs` 500, `gossip.intervalMs` 1,000) for the online boards, the committee's
   * updates, every board's Hellos and the handovers at the median seat holder's measured push size (the
   * publishing boards' plan: theirs is the round learning runs at); the Hellos
   * (not simulated as messages) count towards the channel's load.
   */
  roundMs?: number | "auto";
  /** Wall clock (ms) for the time per round; none = not measured. */
  wallClock?: () => number;
  /** Largest datagram in bytes: every message is a real signed wire frame of at most this size. */
  maxDatagram: number;
  /** Sign every frame with the node's Ed25519 key (slower; sizes are identical without). */
  sign?: boolean;
  /** DEFLATE used for bodies (the wire layer's `deflateBody`). */
  deflate: (raw: Uint8Array) => Uint8Array;
  /** Node indices that are Byzantine, with their attack. */
  byzantine?: { node: number; attack: Attack }[];
  /** An honest node whose own data holds bad rows (see `poison.ts`). */
  poison?: { node: number; kind: Poison };
  /** Nodes leave and rejoin, some join late (see `churn.ts`). */
  churn?: boolean;
  /** Node that joins at `lateJoinRound` (fresh, from the shared init). */
  lateJoin?: { node: number; round: number };
  /**
   * Start like real agents without a checkpoint: every node starts joining (asks for snapshots, adopts
   * what it hears, or starts on its own after `joinTimeoutRounds`), node i at round 1 + i × `stagger`.
   */
  freshStart?: { stagger: number };
  /**
   * Asynchronous rounds: node i runs at speed 1 − spread × i / (n − 1) rounds per simulated round
   * (0 = lock-step), so the nodes' round counts and the staleness of their contributions drift apart
   * as on a real network.
   */
  speedSpread?: number;
  /**
   * Boards' rounds out of step, as on a real network: node i's clock reads a fixed share φᵢ of a round
   * (drawn per node from the seed, in [0, 1)) later than the round's start, so a committee seat changes
   * hands at different rounds on different boards and a board can hear a new holder's first messages
   * before it sees that holder enter. Messages are still delivered at the end of the round. Off: every
   * board's clock reads the round's start (lock-step).
   */
  clockSkew?: boolean;
  /** Node restarted from its checkpoint taken `ageRounds` earlier, at `round`. */
  restart?: { node: number; round: number; ageRounds: number };
  evalEvery: number;
  seed: number;
  tuning?: Partial<LearnerTuning>;
  /** Train the centralized baseline too (see `centralized.ts`). */
  centralized?: boolean;
  /** Which weights to evaluate: the local model or the last consensus centre. */
  evaluate?: "local" | "consensus";
  /** Called after every evaluation. */
  onEval?: (row: EvalRow) => void;
  /** Called (and awaited) after every round with the learners (diagnostics). */
  onRound?: (round: number, learners: readonly (SwarmLearner | undefined)[]) => void | Promise<void>;
}

/** One accuracy measurement. */
export interface EvalRow {
  round: number;
  node: string;
  accuracy: number;
  loss: number;
  bytesSent: number;
  datagramsSent: number;
}

/** Per-node result. */
export interface NodeResult {
  id: string;
  accuracy: number;
  bytesSent: number;
  datagramsSent: number;
  byzantine?: Attack;
  poisoned?: Poison;
  /** Round at which a late joiner first reached the others' accuracy − 0.5 pp. */
  caughtUpRound?: number;
  rejected: Record<string, number>;
  /** Honest nodes ignoring this node at the end. */
  ignoredBy: number;
  /** Honest nodes merging this node with almost no pull at the end (its pace, `PeerStatus.damped`). */
  dampedBy: number;
  /** Share of triggered test images of other classes this node's model puts in the target class. */
  backdoor?: number;
}

/** An honest peer ignored by another node (first time seen). */
export interface FalsePositive {
  peer: string;
  by: string;
  round: number;
}

/** Result of a run. */
export interface SwarmSimResult {
  centralized: number | undefined;
  nodes: NodeResult[];
  maxDatagram: number;
  largestDatagram: number;
  rounds: number;
  rows: EvalRow[];
  /** Every honest peer ever ignored by anyone while online (first occurrence per peer). */
  falsePositives: FalsePositive[];
  /** Every honest peer ever damped by anyone while online (merged with almost no pull; first occurrence). */
  damped: FalsePositive[];
  /** Simulated ms per round (see `roundMs`; the mean over the run when planned). */
  roundMs: number;
  /** Wall-clock ms per round (mean over the run, evaluations excluded), when a wall clock was given. */
  wallMsPerRound?: number;
  /** The channel: mean offered load (bytes per simulated second) and mean and worst loss over rounds. */
  channel: {
    capacity: number;
    offered: number;
    meanLoss: number;
    maxLoss: number;
    /** Share of the bytes sent per learner message: Deltas, snapshot chunks, snapshot requests. */
    share: { delta: number; chunk: number; request: number };
  };
  /** Loss of the restarted node's model when checkpointed, just before the restart, right after restoring. */
  restart?: { lossAtCheckpoint: number; lossBefore: number; lossAfter: number; accuracyAfter: number };
}

/** Runs the simulation. */
export async function runSwarmSim(opt: SwarmSimOptions): Promise<SwarmSimResult> {
  const n = opt.shards.length;
  const rng = new SeededRandom(opt.seed);
  const net = await SimNetwork.create({
    nodes: n,
    seed: opt.seed,
    loss: opt.loss,
    duplicate: opt.duplicate ?? 0,
    maxDatagram: opt.maxDatagram,
    sign: opt.sign ?? false,
    capacity: opt.capacity ?? 0,
  });
  // Only a committee of fanIn boards publishes once the swarm is larger (src/learn/_committee.ts).
  const fanIn = opt.tuning?.fanIn ?? DEFAULT_LEARNER_OPTIONS.fanIn;
  const baseTimeoutMs = opt.tuning?.peerTimeoutMs ?? DEFAULT_LEARNER_OPTIONS.peerTimeoutMs;
  const fixedMs = opt.roundMs === "auto" ? undefined : opt.roundMs ?? 1000;
  const defaults = configAirtime(defaultConfig());
  const planRound = (live: SwarmLearner[]): { roundMs: number; helloBytes: number } => {
    if (fixedMs !== undefined) return { roundMs: fixedMs, helloBytes: 0 };
    // The publishing boards' plan: theirs is the round that learning runs at (a seat holder has pushed).
    const members = live.filter((l) => l.member);
    const pushes = (members.length ? members : live).map((l) => l.handoverBytes(opt.maxDatagram))
      .sort((a, b) => a - b);
    const p = planAirtime(live.length, {
      ...defaults,
      bytesPerRound: (opt.tuning?.messagesPerRound ?? 1) * opt.maxDatagram,
      fanIn,
      fanInPeriodMs: opt.tuning?.fanInPeriodMs ?? DEFAULT_LEARNER_OPTIONS.fanInPeriodMs,
      handoverBytes: pushes[Math.floor((pushes.length - 1) / 2)] ?? 0,
    });
    return { roundMs: p.roundMs, helloBytes: (live.length * HELLO_DATAGRAM_BYTES * p.roundMs) / p.helloMs };
  };
  let roundMsSum = 0;
  let wallMs = 0;
  const budget = bodyBudget(opt.maxDatagram);
  const ids = Array.from({ length: n }, (_, i) => `n${i}`);
  const keyHex = net.keys.map(hex);
  const keyIndex = new Map(keyHex.map((k, i) => [k, i]));
  const byz = new Map((opt.byzantine ?? []).map((b) => [b.node, b.attack]));
  const hooks = new Map<number, NodeHooks>();
  for (const [i, attack] of byz) {
    hooks.set(i, createAttack(attack, { deflate: opt.deflate, rng }));
  }
  const plan: ChurnPlan | undefined = opt.churn
    ? planChurn(n, opt.rounds, opt.seed, new Set(byz.keys()))
    : undefined;
  const learners: (SwarmLearner | undefined)[] = [];
  const checkpoints = new Map<number, Uint8Array>();
  const ownData = opt.shards.map((s, i) =>
    opt.poison?.node === i ? poisonRows(s, opt.poison.kind, opt.features) : s
  );
  // Each node checks its peers on up to 256 of its own rows (the daemon uses its held-out rows).
  const make = async (i: number, joining: boolean) =>
    new SwarmLearner({
      model: await opt.createModel(i),
      data: hooks.get(i)?.trainingData(ownData[i]) ?? ownData[i],
      validation: spread(opt.shards[i], 256, opt.features),
      features: opt.features,
      rng: new SeededRandom(opt.seed * 7919 + i),
      selfKey: net.keys[i],
      deflate: opt.deflate,
      joining,
      ...opt.tuning,
    });
  const startRound = (i: number) =>
    plan?.joinAt.get(i) ??
      (opt.lateJoin?.node === i ? opt.lateJoin.round : opt.freshStart ? 1 + i * opt.freshStart.stagger : 1);
  const speed = (i: number) => 1 - (opt.speedSpread ?? 0) * (n > 1 ? i / (n - 1) : 0);
  const skewRng = new SeededRandom(opt.seed * 104_729 + 17);
  const phase = Array.from({ length: n }, () => opt.clockSkew ? skewRng.next() : 0);
  /** Node i's clock in a round starting at `now` that lasts `roundMs`. */
  const clockOf = (i: number, now: number, roundMs: number) => now + phase[i] * roundMs;
  const onlineSince = new Array(n).fill(Infinity);
  for (let i = 0; i < n; i++) {
    const late = startRound(i) > 1;
    learners.push(late ? undefined : await make(i, opt.freshStart !== undefined));
    if (!late) {
      net.join(i);
      onlineSince[i] = 1;
    }
  }
  const rows: EvalRow[] = [];
  const lastAcc = new Array(n).fill(0);
  const falsePositives = new Map<string, FalsePositive>();
  const damped = new Map<string, FalsePositive>();
  let timeoutRounds = Infinity;
  let caughtUp: number | undefined;
  let restartInfo: SwarmSimResult["restart"];
  let lossAtCheckpoint = NaN;
  // The learners' clock reads timeAt[r] (ms) in round r: round r − 1's interval after timeAt[r − 1]
  // (r × roundMs with a fixed interval; round 0's is the first plan).
  const timeAt = [0, planRound(learners.filter((l): l is SwarmLearner => l !== undefined)).roundMs];
  const since = (from: number, to: number) => (timeAt[to] ?? 0) - (timeAt[from] ?? 0);
  for (let round = 1; round <= opt.rounds; round++) {
    const now = timeAt[round];
    const wallStart = opt.wallClock?.() ?? 0;
    for (let i = 0; i < n; i++) {
      if (round > 1 && round === startRound(i)) {
        learners[i] = await make(i, true);
        net.join(i);
        onlineSince[i] = round;
      }
      const away = plan?.away.get(i);
      if (away && round === away.from) {
        checkpoints.set(i, learners[i]!.checkpoint());
        net.leave(i);
        onlineSince[i] = Infinity;
      }
      if (away && round === away.to) {
        const back = await make(i, false);
        back.restore(checkpoints.get(i)!, now, since(away.from, away.to));
        learners[i] = back;
        net.join(i);
        onlineSince[i] = round;
      }
    }
    if (opt.restart) restartInfo = await restartStep(opt, round, now) ?? restartInfo;
    // The live boards, as each board's Hellos would list them (bounded fan-in draws its committee from it).
    const live = learners.flatMap((l, i) => l && online(plan, i, round) ? [i] : []);
    const roster = live.map((i) => keyHex[i]);
    const { roundMs, helloBytes } = planRound(live.map((i) => learners[i]!));
    // As the agent does (src/agent/airtime.ts): a stretched round (a large committee's first handovers)
    // does not time every peer out between rounds.
    const peerTimeoutMs = learnerPeerTimeoutMs(baseTimeoutMs, roundMs);
    for (const i of live) {
      const l = learners[i]!;
      if (l.tuning.peerTimeoutMs !== peerTimeoutMs) l.retune({ peerTimeoutMs });
    }
    roundMsSum += roundMs;
    timeAt[round + 1] = now + roundMs;
    for (let i = 0; i < n; i++) {
      const l = learners[i];
      if (!l || !online(plan, i, round)) continue;
      const s = speed(i);
      if (Math.floor(round * s) === Math.floor((round - 1) * s)) continue; // a slower node skips this round
      await l.train(opt.localSteps);
      const clock = clockOf(i, now, roundMs);
      l.mix(clock, roster);
      let out = l.outgoing(budget).map((m) => ({ type: m.type as number, body: m.body }));
      const h = hooks.get(i);
      if (h) out = h.outgoing(out, { learner: l, now: clock, budget });
      await net.send(i, out, l.model.modelHash, now);
    }
    net.flush(roundMs, helloBytes);
    for (const d of net.deliver(now + roundMs - 1)) {
      const l = learners[d.to];
      if (!l || !online(plan, d.to, round)) continue;
      l.onMessage(d.sender, d.type, d.body, clockOf(d.to, now, roundMs));
    }
    // False positives: honest senders ignored by anyone while they have been online longer than a timeout.
    for (let i = 0; i < n; i++) {
      const l = learners[i];
      if (!l || !online(plan, i, round) || byz.has(i)) continue;
      timeoutRounds = l.tuning.peerTimeoutMs / roundMs;
      for (
        const [keys, seen] of [[l.ignoredPeers(now), falsePositives], [l.dampedPeers(), damped]] as const
      ) {
        for (const key of keys) {
          const j = keyIndex.get(key) ?? -1;
          if (j < 0 || byz.has(j) || seen.has(ids[j])) continue;
          if (round - onlineSince[j] > timeoutRounds) seen.set(ids[j], { peer: ids[j], by: ids[i], round });
        }
      }
    }
    wallMs += (opt.wallClock?.() ?? 0) - wallStart;
    await opt.onRound?.(round, learners);
    if (round % opt.evalEvery === 0 || round === opt.rounds) {
      for (let i = 0; i < n; i++) {
        const l = learners[i];
        if (!l) continue;
        const { accuracy, loss } = await l.evaluate(opt.test, opt.evaluate ?? "local");
        lastAcc[i] = accuracy;
        const row = {
          round,
          node: ids[i],
          accuracy,
          loss,
          bytesSent: net.bytes[i],
          datagramsSent: net.datagrams[i],
        };
        rows.push(row);
        opt.onEval?.(row);
      }
      if (opt.lateJoin && caughtUp === undefined && learners[opt.lateJoin.node]) {
        const others = lastAcc.filter((_, i) => i !== opt.lateJoin!.node && !byz.has(i));
        const mean = others.reduce((a, b) => a + b, 0) / Math.max(1, others.length);
        if (lastAcc[opt.lateJoin.node] >= mean - 0.005) caughtUp = round;
      }
    }
  }
  let centralized: number | undefined;
  if (opt.centralized) {
    centralized = await trainCentralized({
      ...opt,
      // Mislabelled rows are data a board believes: the baseline learns from them too, so the swarm is
      // compared with what the same data allows. Out-of-scale rows stay out (the baseline has no
      // training guard; the boards skip them).
      shards: opt.poison?.kind === "mislabel" ? ownData : opt.shards,
      model: await opt.createModel(n),
      onEval: (round, accuracy, loss) => {
        const row = { round, node: "centralized", accuracy, loss, bytesSent: 0, datagramsSent: 0 };
        rows.push(row);
        opt.onEval?.(row);
      },
    });
  }
  const backdoorSet = [...byz.values()].includes("backdoor")
    ? backdoorTest(opt.test, opt.features)
    : undefined;
  const end = timeAt[opt.rounds];
  const nodes: NodeResult[] = [];
  const ignoredCount = new Map<string, number>();
  const dampedCount = new Map<string, number>();
  for (const [k, other] of learners.entries()) {
    if (!other || byz.has(k)) continue;
    for (const p of other.stats(end).peers) {
      if (p.ignored) ignoredCount.set(p.key, (ignoredCount.get(p.key) ?? 0) + 1);
      else if (p.damped) dampedCount.set(p.key, (dampedCount.get(p.key) ?? 0) + 1);
    }
  }
  for (let i = 0; i < n; i++) {
    const l = learners[i];
    const ignoredBy = ignoredCount.get(keyHex[i]) ?? 0;
    nodes.push({
      id: ids[i],
      accuracy: lastAcc[i],
      bytesSent: net.bytes[i],
      datagramsSent: net.datagrams[i],
      ...(byz.has(i) ? { byzantine: byz.get(i) } : {}),
      ...(opt.poison?.node === i ? { poisoned: opt.poison.kind } : {}),
      ...(opt.lateJoin?.node === i ? { caughtUpRound: caughtUp } : {}),
      ...(backdoorSet && l
        ? { backdoor: (await l.evaluate(backdoorSet, opt.evaluate ?? "local")).accuracy }
        : {}),
      rejected: l ? l.stats(end).rejected as Record<string, number> : {},
      ignoredBy,
      dampedBy: dampedCount.get(keyHex[i]) ?? 0,
    });
  }
  return {
    centralized,
    nodes,
    maxDatagram: opt.maxDatagram,
    largestDatagram: net.largest,
    rounds: opt.rounds,
    rows,
    falsePositives: [...falsePositives.values()],
    damped: [...damped.values()],
    roundMs: roundMsSum / opt.rounds,
    ...(opt.wallClock ? { wallMsPerRound: wallMs / opt.rounds } : {}),
    channel: {
      capacity: opt.capacity ?? 0,
      offered: net.load.reduce((s, l) => s + l.offered, 0) / Math.max(1, net.load.length),
      meanLoss: net.load.reduce((s, l) => s + l.loss, 0) / Math.max(1, net.load.length),
      maxLoss: Math.max(0, ...net.load.map((l) => l.loss)),
      share: shareByType(net.bytesByType),
    },
    restart: restartInfo,
  };

  async function restartStep(o: SwarmSimOptions, round: number, now: number) {
    const r = o.restart!;
    if (round === r.round - r.ageRounds) {
      checkpoints.set(r.node, learners[r.node]!.checkpoint());
      lossAtCheckpoint = (await learners[r.node]!.evaluate(o.test, "local")).loss;
    }
    if (round !== r.round) return undefined;
    const before = await learners[r.node]!.evaluate(o.test, "local");
    const fresh = await make(r.node, false);
    fresh.restore(checkpoints.get(r.node)!, now, since(r.round - r.ageRounds, r.round));
    learners[r.node] = fresh;
    const after = await fresh.evaluate(o.test, "local");
    return {
      lossAtCheckpoint,
      lossBefore: before.loss,
      lossAfter: after.loss,
      accuracyAfter: after.accuracy,
    };
  }
}

/** At most `rows` rows of `data`, evenly spaced (shards may be ordered by class). */
function spread(data: Samples, rows: number, features: number): Samples {
  const n = Math.min(rows, data.count);
  return subset(data, Array.from({ length: n }, (_, k) => Math.floor((k * data.count) / n)), features);
}

/** Share of the bytes per learner message type. */
function shareByType(bytes: Map<number, number>): { delta: number; chunk: number; request: number } {
  const total = Math.max(1, [...bytes.values()].reduce((s, b) => s + b, 0));
  const of = (t: number) => (bytes.get(t) ?? 0) / total;
  return {
    delta: of(LearnMessage.Delta),
    chunk: of(LearnMessage.SnapshotChunk),
    request: of(LearnMessage.SnapshotRequest),
  };
}
