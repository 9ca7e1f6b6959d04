/**
 * What an attacker's outgoing hook works with: a message as sent, what the hook sees, and the one
 * helper that fits crafted values into a Delta body of the budget. Shared by the basic and the crafted
 * attacks (kept apart so neither imports the other).
 *
 * @module
 */
import { encodeDelta, type SwarmLearner, type ValueEncoding, type ValuesBody } from "../learn/mod.ts";

/** A message as sent: type and DEFLATEd body. */
export interface WireMessage {
  type: number;
  body: Uint8Array;
}

/** What an outgoing hook sees: the node's own learner, the clock reading and the body budget. */
export interface HookContext {
  learner: SwarmLearner;
  now: number;
  budget: number;
}

/**
 * Encodes `values` at `indices` in `d`'s header with `encoding`, dropping trailing coordinates until
 * the DEFLATEd body fits `budget`.
 */
export function fitDelta(
  d: ValuesBody,
  indices: Uint32Array,
  values: Float32Array,
  encoding: ValueEncoding,
  deflate: (raw: Uint8Array) => Uint8Array,
  budget: number,
): Uint8Array {
  for (let k = values.length;; k = Math.max(1, Math.floor(k * 0.8))) {
    const body = deflate(
      encodeDelta({ ...d, encoding, indices: indices.subarray(0, k), values: values.subarray(0, k) }).body,
    );
    if (body.length <= budget || k === 1) return body;
  }
}
