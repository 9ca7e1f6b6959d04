/**
 * Start step: the node's local data. Temporary files left by an interrupted write are removed (the state
 * lock is held by then), `data.source` and `data.test` are read (bad rows skipped and reported), and the
 * store of samples posted to the API is opened. Every row is checked against the spec's input range and
 * normalised as it says before it can reach training; posted samples are stored raw (checked) on disk
 * and normalised into the node's one in-memory copy ({@linkcode SampleTable}) as they arrive.
 * {@linkcode LocalDataSet} hands the learner the current training and held-out rows.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { type BadRow, type Samples, summariseBadRows } from "../learn/mod.ts";
import type { Logger } from "../log.ts";
import { InputCheck, type TrainableModel } from "../model/mod.ts";
import { removeStaleTempFiles, type StateLayout } from "../state/mod.ts";
import { loadLocalSamples, type LocalData } from "./data.ts";
import { SampleStore } from "./samples.ts";
import { SampleTable } from "./_sample_table.ts";

/** Bad data rows shown in full in the log (the rest are counted by reason). */
const BAD_ROWS_SHOWN = 5;

/** Removes the temp files an interrupted checkpoint or sample write left (call with the state lock held). */
export async function removeLeftoverTempFiles(state: StateLayout, logger: Logger): Promise<void> {
  for (const dir of [state.checkpoints, state.samples]) {
    const n = await removeStaleTempFiles(dir).catch((e) => {
      if (e instanceof Deno.errors.NotFound) return 0;
      throw e;
    });
    if (n > 0) logger.info("Removed temporary files left by an interrupted write", { dir, count: n });
  }
}

/** The rows a node learns from and is judged on, kept current as samples are posted. */
export class LocalDataSet {
  /** The spec's input check (ranges and normalisation), shared with the API. */
  readonly input: InputCheck;
  readonly store: SampleStore;
  #table: SampleTable;
  #test: Samples | undefined;
  #hook: ((train: Samples) => Samples) | undefined;
  #version: number;
  #current: LocalData;

  constructor(o: {
    input: InputCheck;
    store: SampleStore;
    table: SampleTable;
    test: Samples | undefined;
    /** Rewrites the training rows (the agent's training-data hook), if set. */
    trainingHook?: (train: Samples) => Samples;
  }) {
    this.input = o.input;
    this.store = o.store;
    this.#table = o.table;
    this.#test = o.test;
    this.#hook = o.trainingHook;
    this.#version = o.table.version;
    this.#current = this.#views();
  }

  /** Training and held-out rows now. */
  get current(): LocalData {
    return this.#current;
  }

  /** The rows the learner trains on: the training rows, through the training-data hook if any. */
  training(): Samples {
    return this.#hook?.(this.#current.train) ?? this.#current.train;
  }

  /** Takes up rows posted (or dropped) since the last call; true if there were any. */
  refresh(): boolean {
    if (this.#table.version === this.#version) return false;
    this.#version = this.#table.version;
    this.#current = this.#views();
    return true;
  }

  #views(): LocalData {
    return { train: this.#table.train, heldOut: this.#test ?? this.#table.heldOut };
  }
}

/** Reads `data.source` and `data.test` and opens the sample store; warns when there is nothing to train on. */
export async function loadLocalData(
  model: Pick<TrainableModel, "spec" | "inputSize" | "classes">,
  o: { config: Config; state: StateLayout; logger: Logger; trainingHook?: (train: Samples) => Samples },
): Promise<LocalDataSet> {
  const { config, logger } = o;
  const input = new InputCheck(model.spec.shape, model.spec.norm);
  const shape = { features: model.inputSize, classes: model.classes, input };
  const read = async (path: string): Promise<Samples> => {
    const parsed = await loadLocalSamples(path, shape);
    reportBadRows(logger, path, parsed.bad);
    return parsed.samples.view();
  };
  const test = config.data.test !== "" ? copySamples(await read(config.data.test)) : undefined;
  const source = config.data.source !== "" ? await read(config.data.source) : undefined;
  if (source) {
    logger.info("Loaded local data", { source: config.data.source, samples: source.count });
  }
  const maxStored = storedSampleBound(config, model.inputSize);
  if (maxStored < config.data.maxSamples) {
    logger.info("Posted samples are bounded by memory", {
      maxSamples: maxStored,
      configured: config.data.maxSamples,
      hint:
        `data.maxSampleMiB ${config.data.maxSampleMiB} MiB holds ${maxStored} rows of ${model.inputSize} values`,
    });
  }
  const table = new SampleTable({
    features: model.inputSize,
    heldOutFraction: test ? 0 : config.data.heldOut,
    normalise: (x, count) => input.normalise(x, count),
    expectedRows: (source?.count ?? 0) + maxStored,
  });
  if (source) table.addSource(source);
  const store = await SampleStore.open(o.state.samples, { ...shape, input: input.rangeOnly() }, {
    maxSamples: maxStored,
    logger: logger.child({ component: "samples" }),
    sink: table,
  });
  if (table.train.count + table.heldOut.count === 0) {
    logger.warn("This node has no training samples: it serves what its peers learn but adds nothing", {
      source: config.data.source || "(none)",
      hint: config.data.source
        ? `none of the rows in ${JSON.stringify(config.data.source)} could be used; see the bad rows above`
        : "set data.source to a JSONL/CSV file, or POST labelled rows to /v1/samples",
    });
  }
  return new LocalDataSet({ input, store, table, test, trainingHook: o.trainingHook });
}

/** Most posted rows kept: `data.maxSamples`, or fewer when their float32 values would pass `data.maxSampleMiB`. */
export function storedSampleBound(config: Config, features: number): number {
  const byMemory = Math.floor((config.data.maxSampleMiB * 1024 * 1024) / (features * 4));
  return Math.max(1, Math.min(config.data.maxSamples, byMemory));
}

function copySamples(s: Samples): Samples {
  return { x: s.x.slice(), y: s.y.slice(), count: s.count };
}

function reportBadRows(logger: Logger, path: string, bad: BadRow[]): void {
  if (bad.length === 0) return;
  const summary = summariseBadRows(bad, BAD_ROWS_SHOWN);
  logger.warn("Skipped bad rows in the data", {
    path,
    count: summary.count,
    byReason: Object.entries(summary.byReason).map(([k, n]) => `${k}: ${n}`).join(", "),
    first: summary.first.join("; "),
    hint: "fix or remove these rows; values must match the model spec's input (see 'agent models')",
  });
}
