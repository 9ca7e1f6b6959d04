/**
 * The learner's public shapes: the model it drives, the rows it trains on, the messages it exchanges
 * and the status it reports. Re-exported by `learner.ts` and `mod.ts`.
 *
 * @module
 */
import { MessageType } from "../wire/mod.ts";

/** The part of the model runtime the learner needs (a tiny fake implements it in unit tests). */
export interface LearnerModel {
  readonly paramCount: number;
  /** 8 bytes identifying architecture + seeded init; messages of other models are ignored. */
  readonly modelHash: Uint8Array;
  getWeights(): Float32Array;
  setWeights(weights: Float32Array): void;
  /** One optimizer step on `count` rows; resolves to the loss. */
  trainBatch(x: Float32Array, y: Uint8Array, count: number): Promise<number>;
  /** Changes the optimizer's learning rate (used by the schedule; optional). */
  setLearningRate?(lr: number): void;
  evaluate(x: Float32Array, y: Uint8Array, count: number): Promise<{ accuracy: number; loss: number }>;
  /**
   * Class probabilities, `count × classes`, row-major (optional: without it, local training cannot
   * leave out the rows the model confidently contradicts, see `lossTrim`).
   */
  predict?(x: Float32Array, count: number): Promise<Float32Array>;
}

/** Labelled rows (same shape as the MNIST `Dataset`). */
export interface Samples {
  x: Float32Array;
  y: Uint8Array;
  count: number;
}

/** Learning message types (values match the wire layer's `MessageType`). */
export const LearnMessage = {
  Delta: MessageType.Delta,
  SnapshotChunk: MessageType.SnapshotChunk,
  SnapshotRequest: MessageType.SnapshotRequest,
} as const;
/** One of {@linkcode LearnMessage}. */
export type LearnMessage = typeof LearnMessage[keyof typeof LearnMessage];

/** A body to broadcast. */
export interface OutgoingMessage {
  type: LearnMessage;
  /** DEFLATEd body, at most the budget passed to `outgoing`. */
  body: Uint8Array;
  /** Size before DEFLATE. */
  rawSize: number;
  /** Coordinates carried (0 for requests). */
  coordinates: number;
}

/**
 * Why a message was not (fully) used. `norm-bound` and `validation` no longer exclude anyone: a
 * too-fast change is applied at the bounded rate and counted under `norm-bound`; a peer failing the
 * validation check is merged with a tighter clip and counted under `validation`.
 */
export type RejectReason =
  | "decode"
  | "model-mismatch"
  | "non-finite"
  | "value-bound"
  | "norm-bound"
  | "stale"
  | "self"
  | "validation";

/** Outcome of `onMessage`. `limited`: the change was applied at the bounded rate (see `normFactor`). */
export type MessageOutcome =
  | { accepted: true; applied: number; limited?: boolean }
  | { accepted: false; reason: RejectReason; detail: string };

/** Per-peer status for `agent status` and metrics. */
/**
 * Why a peer is left out of the merge: its score fell below the threshold after failed checks ("score"),
 * or no values came from it within the peer timeout ("silent").
 */
export type IgnoreReason = "score" | "silent";

export interface PeerStatus {
  key: string;
  epoch: number;
  score: number;
  ignored: boolean;
  /** Why it is ignored (see {@linkcode IgnoreReason}); absent while it is merged. */
  ignoredBecause?: IgnoreReason;
  /**
   * Merged with almost no pull for now: its model moves faster than the change-size bound allows while
   * its copy lies far from the others (or it is new at the swarm's start); its pull comes back as soon as
   * it slows down or its copy comes within the clip radius.
   */
  damped?: boolean;
  inSync: boolean;
  coverage: number;
  accepted: number;
  /** Rejections by reason, plus `norm-bound` (rate-limited, still applied) and `validation` (tighter clip). */
  rejected: Partial<Record<RejectReason, number>>;
  lastStamp: number;
  /** Last measured rise of our local validation loss caused by merging this peer (null = not measured). */
  harm: number | null;
  /** Failed the last validation check: merged with a tighter clip radius until it passes. */
  suspect?: boolean;
}

/** Counters for status and metrics. */
export interface LearnerStats {
  rounds: number;
  steps: number;
  lastLoss: number;
  epoch: number;
  stamp: number;
  joining: boolean;
  /** Holds a committee seat: trains and publishes (always true without bounded fan-in). */
  member: boolean;
  /** Hex keys of the committee's seat holders (bounded fan-in), or null while every board publishes. */
  committee: string[] | null;
  messagesSent: number;
  bytesSent: number;
  coordinatesSent: number;
  largestBody: number;
  received: number;
  accepted: number;
  rejected: Partial<Record<RejectReason, number>>;
  /** RMS of the residual r (local progress not yet published). */
  residualRms: number;
  /** Learning rate of the last round (0 = the model's own). */
  learningRate: number;
  /**
   * Local training: rows skipped as non-finite or off scale, rows left out because the model contradicted
   * their label (`lossTrim`), rounds whose update was clipped, rounds dropped.
   */
  localGuard?: { skippedRows: number; trimmedRows: number; clippedRounds: number; droppedRounds: number };
  peers: PeerStatus[];
}
