import assert from "node:assert/strict";
import { DATASETS, exampleDataset } from "../../src/data/datasets.ts";
import {
  loadWeatherDays,
  parseWeatherCsv,
  stratifiedSplit,
  WEATHER_CLASSES,
  WEATHER_WINDOW,
  weatherRows,
} from "../../src/data/_weather.ts";
import { UsageError } from "../../src/errors.ts";
import { InputCheck, loadModelSpec } from "../../src/model/mod.ts";

Deno.test("loadWeatherDays() reads the 1,461 real days that npm vega-datasets ships", async () => {
  const days = await loadWeatherDays();
  assert.equal(days.length, 1461);
  assert.deepEqual(days[0], { date: "2012-01-01", values: [0, 12.8, 5, 4.7], label: 0 });
  const counts = WEATHER_CLASSES.map((_, c) => days.filter((d) => d.label === c).length);
  assert.deepEqual(counts, [53, 641, 640, 26, 101]);
});

Deno.test("weatherRows() builds day rows and time-major 7-day windows labelled by their last day", async () => {
  const days = await loadWeatherDays();
  const one = weatherRows(days, "day");
  assert.equal(one.features, 4);
  assert.equal(one.count, 1461);
  const win = weatherRows(days, "window");
  assert.equal(win.features, WEATHER_WINDOW * 4);
  assert.equal(win.count, 1461 - (WEATHER_WINDOW - 1));
  // Row 0 = days 0..6, oldest first; its label is day 6's.
  assert.deepEqual(Array.from(win.x.subarray(0, 4)), days[0].values.map(Math.fround));
  assert.deepEqual(Array.from(win.x.subarray(24, 28)), days[6].values.map(Math.fround));
  assert.equal(win.y[0], days[6].label);
  const { train, test } = stratifiedSplit(one, 4, 1);
  assert.equal(train.count + test.count, 1461);
  assert.equal(test.count, 292);
  assert.deepEqual(stratifiedSplit(one, 4, 1).test.y, test.y);
});

Deno.test("every example dataset's rows pass its specs' input checks", async () => {
  for (const d of Object.values(DATASETS)) {
    const { train } = await d.load(1);
    for (const id of d.specs) {
      const spec = await loadModelSpec(id);
      assert.equal(spec.input, d.features, id);
      const check = new InputCheck(spec.shape, spec.norm);
      const out = new Float32Array(d.features);
      for (let r = 0; r < train.count; r += 7) {
        const p = check.prepare(train.x.subarray(r * d.features, (r + 1) * d.features), out);
        assert.equal(p, undefined, `${id} row ${r}: ${p && check.explain(p)}`);
      }
    }
  }
  assert.throws(() => exampleDataset("fog"), UsageError);
});

Deno.test("parseWeatherCsv() refuses a file that is not the weather table", () => {
  assert.throws(() => parseWeatherCsv("a,b\n1,2\n"), /header/);
  assert.throws(
    () => parseWeatherCsv("date,precipitation,temp_max,temp_min,wind,weather\n2012-01-01,0,1,2,3,hail\n"),
    /line 2 is malformed/,
  );
});
