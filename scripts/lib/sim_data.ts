/**
 * Data for the swarm simulation beyond MNIST: an example dataset (`src/data/datasets.ts`) checked and
 * normalised by the model spec's input check, exactly as a board's data loader does, so the simulated
 * swarm sees what a real one would.
 *
 * @module
 */
import { DATASETS, exampleDataset } from "../../src/data/datasets.ts";
import { UsageError } from "../../src/errors.ts";
import type { Dataset } from "../../src/sim/mnist.ts";
import { InputCheck } from "../../src/model/input.ts";
import { loadModelSpec } from "../../src/model/spec.ts";

/** Spec ids the simulation can run besides the built-in MNIST ones (every dataset's specs). */
export const DATASET_MODELS: string[] = Object.values(DATASETS).flatMap((d) => d.specs);

/**
 * Checks `--dataset` and `--model` go together (a {@linkcode UsageError} otherwise), so a bad pair is
 * refused with the command-line errors, before anything runs.
 */
export function checkSimDataset(dataset: string | undefined, model: string): void {
  if (dataset === undefined) return;
  const d = exampleDataset(dataset);
  const fits = d.specs.includes(model) ||
    (dataset === "mnist" && ["mlp", "mnist-mlp", "mnist-vit"].includes(model));
  if (!fits) {
    throw new UsageError(
      `Model ${JSON.stringify(model)} is not made for the ${dataset} dataset`,
      `Use --model ${d.specs.join(" or ")}`,
    );
  }
}

/** Train/test rows of `dataset` for the spec `modelId`, normalised by its input check. */
export async function loadSimData(
  dataset: string,
  modelId: string,
  seed: number,
): Promise<{ train: Dataset; test: Dataset; features: number; classes: number }> {
  const d = exampleDataset(dataset);
  const spec = await loadModelSpec(modelId);
  if (spec.input !== d.features) {
    throw new UsageError(
      `Model ${modelId} takes ${spec.input} values per row, dataset ${dataset} has ${d.features}`,
      `Use one of the models made for ${dataset}: ${d.specs.join(", ")}`,
    );
  }
  const check = new InputCheck(spec.shape, spec.norm);
  const { train, test } = await d.load(seed);
  const prepare = (data: Dataset): Dataset => {
    const x = new Float32Array(data.x.length);
    for (let r = 0; r < data.count; r++) {
      const p = check.prepare(data.x.subarray(r * d.features, (r + 1) * d.features), x, r * d.features);
      if (p) throw new UsageError(`Dataset ${dataset} row ${r + 1}: ${check.explain(p)}`);
    }
    return { ...data, x };
  };
  return { train: prepare(train), test: prepare(test), features: d.features, classes: spec.classes };
}
