/**
 * What the running agent measures about itself, read by the status report, the metrics and the heartbeats:
 * the consensus model's accuracy on the held-out rows ({@linkcode Evaluator}) and the largest datagram
 * sent or received ({@linkcode LargestDatagram}).
 *
 * @module
 */
import type { Samples } from "../learn/mod.ts";
import type { Logger } from "../log.ts";
import type { TrainableModel } from "../model/mod.ts";
import { FRAME_OVERHEAD } from "../wire/mod.ts";

/** Most held-out rows evaluated (bounds the time an evaluation takes). */
export const MAX_EVAL_ROWS = 2000;

/** The serving model's accuracy on the held-out rows, measured by {@linkcode Evaluator.run}. */
export class Evaluator {
  #serving: Pick<TrainableModel, "evaluate" | "inputSize">;
  #heldOut: () => Samples;
  #logger: Logger;
  #accuracy: number | null = null;

  constructor(
    serving: Pick<TrainableModel, "evaluate" | "inputSize">,
    heldOut: () => Samples,
    logger: Logger,
  ) {
    this.#serving = serving;
    this.#heldOut = heldOut;
    this.#logger = logger;
  }

  /** The last measured accuracy (0..1), or null before the first evaluation or without held-out rows. */
  get accuracy(): number | null {
    return this.#accuracy;
  }

  /** Evaluates on at most {@linkcode MAX_EVAL_ROWS} held-out rows; a failure is logged, the last value kept. */
  async run(): Promise<void> {
    const h = this.#heldOut();
    if (h.count === 0) return;
    const n = Math.min(h.count, MAX_EVAL_ROWS);
    const F = this.#serving.inputSize;
    try {
      const r = await this.#serving.evaluate(h.x.subarray(0, n * F), h.y.subarray(0, n), n);
      this.#accuracy = r.accuracy;
    } catch (e) {
      this.#logger.error("Evaluation failed", { error: e });
    }
  }
}

/** The largest datagram seen, in bytes (header and signature included), for status and metrics. */
export class LargestDatagram {
  #largest = 0;

  /** Bytes of the largest datagram so far. */
  get bytes(): number {
    return this.#largest;
  }

  /** Notes a datagram whose body has `bodyLength` bytes (the gossip core enforces the cap). */
  note(bodyLength: number): void {
    const size = bodyLength + FRAME_OVERHEAD;
    if (size > this.#largest) this.#largest = size;
  }
}
