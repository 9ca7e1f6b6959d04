import assert from "node:assert/strict";
import { decodeState, encodeState, type LearnerState } from "../../src/learn/_state.ts";
import { newCopy } from "../../src/learn/_peers.ts";
import { DecodeError } from "../../src/errors.ts";

const HASH = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
const P = 6;

function state(): LearnerState {
  const f = (k: number) => Float32Array.from({ length: P }, (_, i) => k + i / 10);
  const copy = newCopy(new Uint8Array(32).fill(7), "07".repeat(32), 9, true, f(3));
  Object.assign(copy, {
    accepted: 412,
    pace: 0.25,
    far: true,
    early: true,
    suspect: true,
    harm: 0.125,
    lastStamp: 77,
  });
  copy.known = P;
  return {
    modelHash: HASH,
    epoch: 5,
    stamp: 100,
    cursor: 2,
    rounds: 300,
    steps: 600,
    x: f(0),
    contrib: f(1),
    resid: f(2),
    genesis: f(4),
    peers: [copy],
    standby: [{
      key: new Uint8Array(32).fill(8),
      hex: "08".repeat(32),
      epoch: 3,
      score: 0.5,
      pace: 0.9,
      far: false,
      early: true,
      suspect: false,
      harm: null,
      lastHeard: 0,
      lastStamp: 12,
      accepted: 150,
      rejected: {},
    }],
  };
}

Deno.test("encodeState()/decodeState() keep the peers' standing and the standby peers (version 3)", () => {
  const s = state();
  const back = decodeState(encodeState(s), HASH, P, 1234);
  const [p] = back.peers;
  assert.deepEqual(
    [p.accepted, p.pace, p.far, p.early, p.suspect, p.harm, p.lastStamp, p.score, p.lastHeard],
    [412, 0.25, true, true, true, 0.125, 77, 1, 1234],
  );
  assert.deepEqual(p.values, s.peers[0].values);
  assert.equal(back.standby.length, 1);
  const b = back.standby[0];
  assert.deepEqual(
    [b.hex, b.epoch, b.score, b.accepted, b.pace, b.early, b.harm, b.lastStamp, b.lastHeard],
    ["08".repeat(32), 3, 0.5, 150, Math.fround(0.9), true, null, 12, 1234],
  );
});

Deno.test("decodeState() still reads version 2 checkpoints (no standing, no standby peers)", () => {
  const s = { ...state(), peers: [], standby: [] };
  const v3 = encodeState(s);
  // Version 2 was the same layout without the standby count (and without standing per peer).
  const v2 = v3.slice(0, v3.length - 4);
  new DataView(v2.buffer).setUint32(4, 2, true);
  const back = decodeState(v2, HASH, P, 0);
  assert.deepEqual(back.x, s.x);
  assert.deepEqual(back.standby, []);
  new DataView(v2.buffer).setUint32(4, 4, true);
  assert.throws(() => decodeState(v2, HASH, P, 0), DecodeError);
});

Deno.test("decodeState() turns every truncation of a version 3 checkpoint into a DecodeError", () => {
  const bytes = encodeState(state());
  for (let len = 0; len < bytes.length; len += 7) {
    assert.throws(() => decodeState(bytes.subarray(0, len), HASH, P, 0), DecodeError, `cut at ${len}`);
  }
});
