/**
 * A real, non-digit example: the daily readings of the Seattle weather station, 2012–2015, shipped by
 * npm `vega-datasets@3.2.1` as `data/seattle-weather.csv` (1,461 days: precipitation in mm, maximum and
 * minimum temperature in °C, wind in m/s, and the day's weather label). Nothing is downloaded at run
 * time: the file comes with the package.
 *
 * Two views of it, both with the raw (unnormalised) readings, since the model spec normalises:
 *
 * - `day`: 4 features per day → that day's weather (`models/weather-mlp.yaml`);
 * - `window`: the last {@linkcode WEATHER_WINDOW} days (oldest first, the day itself last) as a
 *   sequence of 7 steps × 4 channels → the last day's weather (`models/weather-cnn.yaml`,
 *   `models/weather-transformer.yaml`). The first 6 days of the record have no full window and are left out.
 *
 * The train/test split is a seeded, stratified 80/20 split of the days (as for MNIST).
 *
 * @module
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { type Dataset, shuffle } from "../sim/mod.ts";
import { SeededRandom } from "../time.ts";

/** The weather labels, in class-index order (as the weather specs name them). */
export const WEATHER_CLASSES = ["drizzle", "rain", "sun", "snow", "fog"] as const;
/** Readings per day, in channel order. */
export const WEATHER_CHANNELS = ["precipitation", "temp_max", "temp_min", "wind"] as const;
/** Days per window of the sequence view. */
export const WEATHER_WINDOW = 7;

/** One day of the record. */
export interface WeatherDay {
  date: string;
  values: number[];
  label: number;
}

/** Parses `seattle-weather.csv`; any malformed line is an error (this file is a fixed, known input). */
export function parseWeatherCsv(text: string): WeatherDay[] {
  const lines = text.trim().split("\n");
  const header = lines[0].trim().split(",");
  const expected = ["date", ...WEATHER_CHANNELS, "weather"];
  if (header.join(",") !== expected.join(",")) {
    throw new Error(`Bug: seattle-weather.csv header is ${JSON.stringify(header)}, expected ${expected}`);
  }
  return lines.slice(1).map((line, i) => {
    const f = line.trim().split(",");
    const values = f.slice(1, 5).map(Number);
    const label = (WEATHER_CLASSES as readonly string[]).indexOf(f[5]);
    if (f.length !== 6 || values.some((v) => !Number.isFinite(v)) || label < 0) {
      throw new Error(`Bug: seattle-weather.csv line ${i + 2} is malformed: ${JSON.stringify(line)}`);
    }
    return { date: f[0], values, label };
  });
}

let cache: WeatherDay[] | undefined;

/** The days of the record, read from the installed npm package (cached for the process). */
export async function loadWeatherDays(): Promise<WeatherDay[]> {
  if (cache) return cache;
  // Importing the package makes Deno install it (it is only data to us); its exports map hides data/,
  // but its entry point (build/index.js) sits next to it.
  await import("vega-datasets");
  const entry = createRequire(import.meta.url).resolve("vega-datasets");
  const path = join(dirname(entry), "..", "data", "seattle-weather.csv");
  cache = parseWeatherCsv(await Deno.readTextFile(path));
  return cache;
}

/** Rows of one view: `day` (4 features) or `window` (7 × 4, time-major). */
export function weatherRows(days: WeatherDay[], view: "day" | "window"): Dataset & { features: number } {
  const k = view === "day" ? 1 : WEATHER_WINDOW;
  const c = WEATHER_CHANNELS.length;
  const count = days.length - (k - 1);
  const x = new Float32Array(count * k * c);
  const y = new Uint8Array(count);
  for (let r = 0; r < count; r++) {
    for (let t = 0; t < k; t++) x.set(days[r + t].values, (r * k + t) * c);
    y[r] = days[r + k - 1].label;
  }
  return { x, y, count, features: k * c };
}

/** A seeded stratified split of `data` into train and test (`testFraction` of each class). */
export function stratifiedSplit(
  data: Dataset,
  features: number,
  seed: number,
  testFraction = 0.2,
): { train: Dataset; test: Dataset } {
  const rng = new SeededRandom(seed);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < data.count; i++) {
    const list = byClass.get(data.y[i]) ?? [];
    list.push(i);
    byClass.set(data.y[i], list);
  }
  const train: number[] = [];
  const test: number[] = [];
  for (const cls of [...byClass.keys()].sort((a, b) => a - b)) {
    const rows = byClass.get(cls)!;
    shuffle(rows, rng);
    const nTest = Math.round(rows.length * testFraction);
    rows.forEach((r, i) => (i < nTest ? test : train).push(r));
  }
  shuffle(train, rng);
  shuffle(test, rng);
  const pick = (rows: number[]): Dataset => {
    const x = new Float32Array(rows.length * features);
    const y = new Uint8Array(rows.length);
    rows.forEach((r, i) => {
      x.set(data.x.subarray(r * features, (r + 1) * features), i * features);
      y[i] = data.y[r];
    });
    return { x, y, count: rows.length };
  };
  return { train: pick(train), test: pick(test) };
}
