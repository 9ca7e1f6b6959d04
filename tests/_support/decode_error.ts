/** Asserting that hostile bytes are refused the way the house says: a `DecodeError`, with its code. */
import assert from "node:assert/strict";
import { DecodeError, type DecodeErrorCode } from "../../src/errors.ts";

/** Runs `fn`, expects a {@linkcode DecodeError} (with `code` when given), and returns it. */
export function expectDecodeError(fn: () => unknown, code?: DecodeErrorCode): DecodeError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${(e as Error)?.constructor?.name}: ${e}`);
    if (code !== undefined) assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail("expected a DecodeError");
}
