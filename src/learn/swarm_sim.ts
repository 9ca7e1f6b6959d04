/**
 * An N-node swarm in one process over the in-memory network ({@linkcode MemoryNetwork}: loss,
 * duplication, reordering), with optional Byzantine nodes, late joiners and restarts, and a centralized
 * baseline of the same model on the union of the shards. Driven by a round counter, not by timers, so a
 * run is deterministic for a seed. Used by `scripts/sim_swarm.ts`, the swarm benchmark and the tests.
 *
 * @module
 */
import { inflateSync } from "fflate";
import { MemoryNetwork } from "../gossip/memory.ts";
import { createSigner, type Signer } from "../identity/ed25519.ts";
import {
  bodyBudget,
  decodeFrame,
  encodeFrame,
  encodeUnsigned,
  FRAME_OVERHEAD,
  type MessageType,
} from "../wire/mod.ts";
import { SeededRandom } from "../time.ts";
import { decodeDelta, encodeDelta, ValueEncoding, type ValuesBody } from "./codec.ts";
import { concatSamples } from "./data.ts";
import { subset } from "./mnist.ts";
import {
  DEFAULT_LEARNER_OPTIONS,
  type LearnerModel,
  type LearnerTuning,
  LearnMessage,
  type Samples,
  scheduledRate,
  SwarmLearner,
} from "./learner.ts";

/** Attacks a Byzantine node can run. */
export type Attack = "signflip" | "huge" | "nan" | "replay" | "labelflip";
/** All attack names. */
export const ATTACKS: readonly Attack[] = ["signflip", "huge", "nan", "replay", "labelflip"];
/** Attacks done by changing the messages (the rest poison the attacker's training data). */
export const MESSAGE_ATTACKS: readonly Attack[] = ["signflip", "huge", "nan", "replay"];

/** `data` with every label moved to the next class: honest-looking updates that teach the wrong digits. */
export function flipLabels(data: Samples, classes = 10): Samples {
  return { ...data, y: data.y.map((v) => (v + 1) % classes) };
}

/** Everything a run needs. */
export interface SwarmSimOptions {
  /** Creates node `i`'s model; every call must give the same seeded initial weights. */
  createModel: (node: number) => Promise<LearnerModel> | LearnerModel;
  shards: Samples[];
  features: number;
  test: Samples;
  rounds: number;
  localSteps: number;
  loss: number;
  duplicate?: number;
  /** Largest datagram in bytes: every message is a real signed wire frame of at most this size. */
  maxDatagram: number;
  /** Sign every frame with the node's Ed25519 key (slower; sizes are identical without). */
  sign?: boolean;
  /** DEFLATE used for bodies (the wire layer's `deflateBody`). */
  deflate: (raw: Uint8Array) => Uint8Array;
  /** Node indices that are Byzantine, with their attack. */
  byzantine?: { node: number; attack: Attack }[];
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
   * Churn: every `every` rounds the next honest node (round-robin) goes offline for `down` rounds, then
   * comes back from the checkpoint it took when it left (a reboot). No node leaves in the last
   * `down` + `every` rounds, so every node is back for the final evaluation.
   */
  churn?: { every: number; down: number };
  /** Node restarted from its checkpoint taken `ageRounds` earlier, at `round`. */
  restart?: { node: number; round: number; ageRounds: number };
  evalEvery: number;
  seed: number;
  tuning?: Partial<LearnerTuning>;
  /**
   * Train the centralized baseline too: same model and schedule on the union of the shards, one batch
   * of batchSize × nodes rows per local step (the swarm's effective batch, densely).
   */
  centralized?: boolean;
  /** Which weights to evaluate: the local model or the last consensus centre. */
  evaluate?: "local" | "consensus";
  /** Called after every evaluation. */
  onEval?: (row: EvalRow) => void;
  /** Called after every round with the learners (diagnostics). */
  onRound?: (round: number, learners: readonly (SwarmLearner | undefined)[]) => void;
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
  /** Round at which a late joiner first reached the others' accuracy − 0.5 pp. */
  caughtUpRound?: number;
  rejected: Record<string, number>;
  ignoredBy: number;
  /** Honest nodes that left this node out of their merge (score below the threshold) at any round. */
  everIgnoredBy?: number;
}

/** Result of a run. */
export interface SwarmSimResult {
  centralized: number | undefined;
  nodes: NodeResult[];
  maxDatagram: number;
  largestDatagram: number;
  rounds: number;
  rows: EvalRow[];
  /** Loss of the restarted node's model when checkpointed, just before the restart, right after restoring. */
  restart?: { lossAtCheckpoint: number; lossBefore: number; lossAfter: number; accuracyAfter: number };
}

/** Runs the simulation. */
export async function runSwarmSim(opt: SwarmSimOptions): Promise<SwarmSimResult> {
  const n = opt.shards.length;
  const rng = new SeededRandom(opt.seed);
  const net = new MemoryNetwork(new SeededRandom(opt.seed + 1), {
    loss: opt.loss,
    duplicate: opt.duplicate ?? 0,
    delayMs: 1,
    jitterMs: 400,
  });
  const budget = bodyBudget(opt.maxDatagram);
  const ids = Array.from({ length: n }, (_, i) => `n${i}`);
  const signers: Signer[] = [];
  for (let i = 0; i < n; i++) {
    const seedRng = new SeededRandom(opt.seed * 1009 + i);
    signers.push(await createSigner(Uint8Array.from({ length: 32 }, () => seedRng.nextU32() & 0xff)));
  }
  const keys = signers.map((s) => s.publicKey);
  const keyIndex = new Map(keys.map((k, i) => [hex(k), i]));
  const counters = new Array(n).fill(0);
  const byz = new Map((opt.byzantine ?? []).map((b) => [b.node, b.attack]));
  const learners: (SwarmLearner | undefined)[] = [];
  const attackers = new Map<number, Attacker>();
  const bytes = new Array(n).fill(0);
  const datagrams = new Array(n).fill(0);
  let largest = 0;
  const checkpoints = new Map<number, Uint8Array>();
  // Each node checks its peers on up to 256 of its own rows (the daemon uses its held-out rows).
  const shards = opt.shards.map((s, i) => (byz.get(i) === "labelflip" ? flipLabels(s) : s));
  const make = async (i: number, joining: boolean) =>
    new SwarmLearner({
      model: await opt.createModel(i),
      data: shards[i],
      validation: spread(opt.shards[i], 256, opt.features),
      features: opt.features,
      rng: new SeededRandom(opt.seed * 7919 + i),
      selfKey: keys[i],
      deflate: opt.deflate,
      joining,
      ...opt.tuning,
    });
  const startRound = (i: number) =>
    opt.lateJoin?.node === i ? opt.lateJoin.round : opt.freshStart ? 1 + i * opt.freshStart.stagger : 1;
  const speed = (i: number) => 1 - (opt.speedSpread ?? 0) * (n > 1 ? i / (n - 1) : 0);
  for (let i = 0; i < n; i++) {
    const late = startRound(i) > 1;
    learners.push(late ? undefined : await make(i, opt.freshStart !== undefined));
    if (!late) net.join(ids[i]);
  }
  const churn = async (c: { every: number; down: number }, round: number, now: number) => {
    for (const [i, o] of offline) {
      if (round !== o.back) continue;
      const back = await make(i, false);
      back.restore(o.checkpoint, now);
      learners[i] = back;
      net.join(ids[i]);
      offline.delete(i);
    }
    if (round % c.every !== 0 || round + c.down + c.every > opt.rounds) return;
    for (let tries = 0; tries < n; tries++) {
      const i = churned++ % n;
      const l = learners[i];
      if (!l || byz.has(i) || offline.has(i) || l.joining) continue;
      offline.set(i, { back: round + c.down, checkpoint: l.checkpoint() });
      learners[i] = undefined;
      net.leave(ids[i]);
      return;
    }
  };
  const rows: EvalRow[] = [];
  const roundMs = 1000;
  const lastAcc = new Array(n).fill(0);
  let caughtUp: number | undefined;
  let restartInfo: SwarmSimResult["restart"];
  let lossAtCheckpoint = NaN;
  const everIgnored = Array.from({ length: n }, () => new Set<number>());
  const offline = new Map<number, { back: number; checkpoint: Uint8Array }>();
  let churned = 0;
  for (let round = 1; round <= opt.rounds; round++) {
    const now = round * roundMs;
    for (let i = 0; i < n; i++) {
      if (round > 1 && round === startRound(i)) {
        learners[i] = await make(i, true);
        net.join(ids[i]);
      }
    }
    if (opt.churn) {
      await churn(opt.churn, round, now);
    }
    if (opt.restart) {
      if (round === opt.restart.round - opt.restart.ageRounds) {
        checkpoints.set(opt.restart.node, learners[opt.restart.node]!.checkpoint());
        lossAtCheckpoint = (await learners[opt.restart.node]!.evaluate(opt.test, "local")).loss;
      }
      if (round === opt.restart.round) {
        const before = await learners[opt.restart.node]!.evaluate(opt.test, "local");
        const fresh = await make(opt.restart.node, false);
        fresh.restore(checkpoints.get(opt.restart.node)!, now);
        learners[opt.restart.node] = fresh;
        const after = await fresh.evaluate(opt.test, "local");
        restartInfo = {
          lossAtCheckpoint,
          lossBefore: before.loss,
          lossAfter: after.loss,
          accuracyAfter: after.accuracy,
        };
      }
    }
    for (let i = 0; i < n; i++) {
      const l = learners[i];
      if (!l) continue;
      const s = speed(i);
      if (Math.floor(round * s) === Math.floor((round - 1) * s)) continue; // a slower node skips this round
      await l.train(opt.localSteps);
      l.mix(now);
      let out = l.outgoing(now, budget).map((m) => ({ type: m.type as number, body: m.body }));
      const attack = byz.get(i);
      // Wire values are contributions C = P − x₀: the attacker's advertised C starts at 0.
      if (attack && MESSAGE_ATTACKS.includes(attack) && !attackers.has(i)) {
        attackers.set(i, new Attacker(attack, new Float32Array(l.paramCount), opt.deflate, rng, budget));
      }
      const a = attackers.get(i);
      if (a) out = a.transform(out, round);
      for (const m of out) {
        // The real wire path: frame (throws if the datagram would exceed maxDatagram), optionally signed;
        // unsigned frames carry a zero signature of the same 64 bytes, so sizes are exact either way.
        const fields = {
          type: m.type as MessageType,
          modelHash: l.model.modelHash,
          bootEpoch: 1,
          counter: ++counters[i],
          body: m.body,
        };
        const frame = opt.sign
          ? await encodeFrame(fields, signers[i], opt.maxDatagram)
          : encodeUnsigned(fields, keys[i], opt.maxDatagram);
        largest = Math.max(largest, frame.length);
        bytes[i] += frame.length;
        datagrams[i]++;
        net.post(ids[i], frame, now);
      }
    }
    for (const d of net.deliver(now + roundMs - 1)) {
      const to = Number(d.to.slice(1));
      const l = learners[to];
      if (!l) continue;
      // Signatures are not verified here (the gossip layer's job, tested there); decoding is real.
      const { header, body } = decodeFrame(d.bytes, { maxDatagram: opt.maxDatagram });
      if (!keyIndex.has(hex(header.senderKey))) throw new Error("Bug: unknown sender in the simulation");
      l.onMessage(header.senderKey.slice(), header.type, body, now);
    }
    opt.onRound?.(round, learners);
    noteIgnored(learners, keys, byz, everIgnored, now);
    if (round % opt.evalEvery === 0 || round === opt.rounds) {
      for (let i = 0; i < n; i++) {
        const l = learners[i];
        if (!l) continue;
        const { accuracy, loss } = await l.evaluate(opt.test, opt.evaluate ?? "local");
        lastAcc[i] = accuracy;
        const row = { round, node: ids[i], accuracy, loss, bytesSent: bytes[i], datagramsSent: datagrams[i] };
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
    const model = await opt.createModel(n);
    const all = concatSamples(opt.shards, opt.features);
    // Dense large-batch training: what the swarm would do with free, lossless communication
    // (one batch of batchSize × nodes rows per local step, the same learning-rate schedule).
    const tuning = { ...DEFAULT_LEARNER_OPTIONS, ...opt.tuning };
    const batch = Math.min(all.count, tuning.batchSize * n);
    const crng = new SeededRandom(opt.seed * 31);
    const bx = new Float32Array(batch * opt.features);
    const by = new Uint8Array(batch);
    for (let round = 1; round <= opt.rounds; round++) {
      const lr = scheduledRate(tuning, round);
      if (lr > 0) model.setLearningRate?.(lr);
      for (let s = 0; s < opt.localSteps; s++) {
        for (let i = 0; i < batch; i++) {
          const r = crng.nextU32() % all.count;
          bx.set(all.x.subarray(r * opt.features, (r + 1) * opt.features), i * opt.features);
          by[i] = all.y[r];
        }
        await model.trainBatch(bx, by, batch);
      }
      if (round % opt.evalEvery === 0 || round === opt.rounds) {
        const { accuracy, loss } = await model.evaluate(opt.test.x, opt.test.y, opt.test.count);
        centralized = accuracy;
        const row = { round, node: "centralized", accuracy, loss, bytesSent: 0, datagramsSent: 0 };
        rows.push(row);
        opt.onEval?.(row);
      }
    }
  }
  const nodes: NodeResult[] = [];
  for (let i = 0; i < n; i++) {
    const l = learners[i];
    const key = Array.from(keys[i], (b) => b.toString(16).padStart(2, "0")).join("");
    let ignoredBy = 0;
    for (const other of learners) {
      if (!other || other === l) continue;
      if (other.stats(opt.rounds * roundMs).peers.find((p) => p.key === key)?.ignored) ignoredBy++;
    }
    nodes.push({
      id: ids[i],
      accuracy: lastAcc[i],
      bytesSent: bytes[i],
      datagramsSent: datagrams[i],
      ...(byz.has(i) ? { byzantine: byz.get(i) } : {}),
      ...(opt.lateJoin?.node === i ? { caughtUpRound: caughtUp } : {}),
      rejected: l ? l.stats(opt.rounds * roundMs).rejected as Record<string, number> : {},
      ignoredBy,
      everIgnoredBy: everIgnored[i].size,
    });
  }
  return {
    centralized,
    nodes,
    maxDatagram: opt.maxDatagram,
    largestDatagram: largest,
    rounds: opt.rounds,
    rows,
    restart: restartInfo,
  };
}

/** Records, for each node, the honest nodes whose learner leaves it out of the merge by score now. */
function noteIgnored(
  learners: readonly (SwarmLearner | undefined)[],
  keys: Uint8Array[],
  byz: Map<number, Attack>,
  everIgnored: Set<number>[],
  now: number,
): void {
  const index = new Map(keys.map((k, i) => [hex(k), i]));
  learners.forEach((l, observer) => {
    if (!l || byz.has(observer)) return;
    for (const p of l.stats(now).peers) {
      const i = index.get(p.key);
      if (i !== undefined && p.score < l.tuning.scoreThreshold) everIgnored[i].add(observer);
    }
  });
}

/** At most `rows` rows of `data`, evenly spaced (shards may be ordered by class). */
function spread(data: Samples, rows: number, features: number): Samples {
  const n = Math.min(rows, data.count);
  return subset(data, Array.from({ length: n }, (_, k) => Math.floor((k * data.count) / n)), features);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Bytes a frame adds to a body (re-exported for reports). */
export const SIM_FRAME_OVERHEAD = FRAME_OVERHEAD;

/** Turns an honest node's outgoing Delta bodies into attacks. */
export class Attacker {
  #attack: Attack;
  #advertised: Float32Array;
  #deflate: (raw: Uint8Array) => Uint8Array;
  #rng: SeededRandom;
  #history: Uint8Array[] = [];
  #budget: number;

  constructor(
    attack: Attack,
    init: Float32Array,
    deflate: (raw: Uint8Array) => Uint8Array,
    rng: SeededRandom,
    budget: number,
  ) {
    this.#attack = attack;
    this.#budget = budget;
    this.#advertised = init.slice();
    this.#deflate = deflate;
    this.#rng = rng;
  }

  transform(out: { type: number; body: Uint8Array }[], round: number): { type: number; body: Uint8Array }[] {
    return out.map((m) => {
      if (m.type !== LearnMessage.Delta) return m;
      const raw = inflateSync(m.body);
      const d = decodeDelta(raw);
      const adv = this.#advertised;
      let values: Float32Array;
      let encoding: ValueEncoding = ValueEncoding.F32;
      switch (this.#attack) {
        case "signflip":
          values = d.values.map((v, j) => {
            const c = d.indices[j];
            adv[c] = adv[c] - 10 * (v - adv[c]);
            return adv[c];
          });
          encoding = ValueEncoding.Fp16;
          break;
        case "huge":
          values = d.values.map(() => this.#rng.nextGaussian() * 1e3);
          break;
        case "nan":
          values = d.values.map((v, j) => (j % 3 === 0 ? NaN : j % 3 === 1 ? Infinity : v));
          break;
        case "labelflip":
          return m; // a data attack: its messages are honest updates of a poisoned model
        case "replay": {
          this.#history.push(raw);
          if (round < 10) return m;
          // Resend a body from long ago: half verbatim (old stamp), half re-stamped as new.
          const old = this.#history[this.#rng.nextU32() % Math.max(1, Math.floor(this.#history.length / 4))];
          if (this.#rng.next() < 0.5) return { type: m.type, body: this.#deflate(old) };
          const o = decodeDelta(old);
          // A new stamp can change the DEFLATE size by a byte: fit the budget again.
          return { type: m.type, body: this.#fit({ ...o, stamp: d.stamp }, o.values, o.encoding) };
        }
      }
      return { type: m.type, body: this.#fit(d, values, encoding) };
    });
  }

  /** Encodes as many of the attack values as fit the budget. */
  #fit(d: ValuesBody, values: Float32Array, encoding: ValueEncoding): Uint8Array {
    for (let k = values.length;; k = Math.max(1, Math.floor(k * 0.8))) {
      const body = this.#deflate(
        encodeDelta({ ...d, encoding, indices: d.indices.subarray(0, k), values: values.subarray(0, k) })
          .body,
      );
      if (body.length <= this.#budget || k === 1) return body;
    }
  }
}
