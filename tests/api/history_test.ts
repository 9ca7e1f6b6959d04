import assert from "node:assert/strict";
import { type HistoryPoint, MetricHistory, OTHER_REASON } from "../../src/api/history.ts";

function point(t: number, extra: Partial<HistoryPoint> = {}): HistoryPoint {
  return {
    t,
    accuracy: t / 1000,
    loss: 2 - t / 1000,
    bytesIn: t * 10,
    bytesOut: t * 20,
    rss: 50e6 + t,
    rejects: {},
    ...extra,
  };
}

Deno.test("MetricHistory returns samples oldest first until it is full", () => {
  const h = new MetricHistory({ capacity: 4 });
  assert.equal(h.size, 0);
  assert.equal(h.lastTime, undefined);
  assert.deepEqual(h.series().t, []);
  for (const t of [100, 200, 300]) h.record(point(t));
  const s = h.series();
  assert.deepEqual(s.t, [100, 200, 300]);
  assert.deepEqual(s.bytesIn, [1000, 2000, 3000]);
  assert.deepEqual(s.bytesOut, [2000, 4000, 6000]);
  assert.equal(s.capacity, 4);
  assert.equal(s.intervalMs, 10_000);
  assert.equal(h.lastTime, 300);
});

Deno.test("MetricHistory overwrites the oldest sample when full and keeps its memory fixed", () => {
  const h = new MetricHistory({ capacity: 3, maxReasons: 2 });
  h.record(point(1, { rejects: { untrusted: 1 } }));
  const bytes = h.byteLength;
  for (let t = 2; t <= 1000; t++) h.record(point(t, { rejects: { untrusted: t } }));
  assert.equal(h.size, 3);
  assert.equal(h.byteLength, bytes);
  const s = h.series();
  assert.deepEqual(s.t, [998, 999, 1000]);
  assert.deepEqual(s.rejects.untrusted, [998, 999, 1000]);
});

Deno.test("MetricHistory default ring holds 24 h at 10 s in under 1 MB", () => {
  const h = new MetricHistory();
  assert.equal(h.capacity * h.intervalMs, 24 * 3600 * 1000);
  const reasons = Object.fromEntries(["a", "b", "c", "d", "e", "f", "g", "h", "i"].map((r) => [r, 1]));
  h.record(point(0, { rejects: reasons }));
  assert.ok(h.byteLength < 1_000_000, `${h.byteLength} bytes`);
});

Deno.test("MetricHistory series(since) returns only newer samples", () => {
  const h = new MetricHistory({ capacity: 5 });
  for (let t = 1; t <= 7; t++) h.record(point(t * 10));
  assert.deepEqual(h.series(50).t, [60, 70]);
  assert.deepEqual(h.series(70).t, []);
  assert.deepEqual(h.series(0).t, [30, 40, 50, 60, 70]);
});

Deno.test("MetricHistory keeps unknown accuracy and loss as null", () => {
  const h = new MetricHistory({ capacity: 2 });
  h.record(point(1, { accuracy: null, loss: NaN }));
  h.record(point(2, { accuracy: 0.5, loss: 0.25 }));
  const s = h.series();
  assert.deepEqual(s.accuracy, [null, 0.5]);
  assert.deepEqual(s.loss, [null, 0.25]);
});

Deno.test("MetricHistory gives a reject reason seen late zeros before it, and folds extra reasons into other", () => {
  const h = new MetricHistory({ capacity: 4, maxReasons: 2 });
  h.record(point(1, { rejects: { untrusted: 2 } }));
  h.record(point(2, { rejects: { untrusted: 3, replay: 1 } }));
  h.record(point(3, { rejects: { untrusted: 3, replay: 1, "bad-signature": 4, oversize: 1, own: 0 } }));
  const s = h.series();
  assert.deepEqual(Object.keys(s.rejects).sort(), [OTHER_REASON, "replay", "untrusted"]);
  assert.deepEqual(s.rejects.untrusted, [2, 3, 3]);
  assert.deepEqual(s.rejects.replay, [0, 1, 1]);
  assert.deepEqual(s.rejects[OTHER_REASON], [0, 0, 5]);
});

Deno.test("MetricHistory refuses samples out of time order", () => {
  const h = new MetricHistory({ capacity: 2 });
  h.record(point(10));
  assert.throws(() => h.record(point(9)), /not after the newest/);
  assert.throws(() => h.record(point(NaN)), /not after the newest/);
  assert.throws(() => new MetricHistory({ capacity: 0 }), /positive integer/);
});

Deno.test("MetricHistory answers accuracy and loss to five decimals, not with float32 noise", () => {
  const h = new MetricHistory({ capacity: 1 });
  h.record(point(1, { accuracy: 0.9123, loss: 0.123456789 }));
  const s = h.series();
  assert.deepEqual(s.accuracy, [0.9123]);
  assert.deepEqual(s.loss, [0.12346]);
});
