/**
 * Start step: the node's local data. Temporary files left by an interrupted write are removed (the state
 * lock is held by then), `data.source` and `data.test` are read (bad rows skipped and reported), and the
 * store of samples posted to the API is opened. Every row is checked against the spec's input range and
 * normalised as it says before it can reach training; posted samples are stored raw (checked) and
 * normalised when they are used. {@linkcode LocalDataSet} keeps the training / held-out split current as
 * samples are posted.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { type BadRow, type Samples, summariseBadRows } from "../learn/mod.ts";
import type { Logger } from "../log.ts";
import { InputCheck, type TrainableModel } from "../model/mod.ts";
import { removeStaleTempFiles, type StateLayout } from "../state/mod.ts";
import { concatSamples, loadLocalSamples, type LocalData, splitHeldOut } from "./data.ts";
import { SampleStore } from "./samples.ts";

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
  #source: Samples;
  #test: Samples | undefined;
  #features: number;
  #heldOutFraction: number;
  #hook: ((train: Samples) => Samples) | undefined;
  #storeVersion: number;
  #current: LocalData;

  constructor(o: {
    input: InputCheck;
    store: SampleStore;
    source: Samples;
    test: Samples | undefined;
    features: number;
    heldOutFraction: number;
    /** Rewrites the training rows (the agent's training-data hook), if set. */
    trainingHook?: (train: Samples) => Samples;
  }) {
    this.input = o.input;
    this.store = o.store;
    this.#source = o.source;
    this.#test = o.test;
    this.#features = o.features;
    this.#heldOutFraction = o.heldOutFraction;
    this.#hook = o.trainingHook;
    this.#storeVersion = o.store.version;
    this.#current = this.#split();
  }

  /** Training and held-out rows now. */
  get current(): LocalData {
    return this.#current;
  }

  /** The rows the learner trains on: the training rows, through the training-data hook if any. */
  training(): Samples {
    return this.#hook?.(this.#current.train) ?? this.#current.train;
  }

  /** Splits again if samples were posted since the last split; true if it did. */
  refresh(): boolean {
    if (this.store.version === this.#storeVersion) return false;
    this.#storeVersion = this.store.version;
    this.#current = this.#split();
    return true;
  }

  #split(): LocalData {
    // Only one side present: used as it is (no second copy: each is N rows × features floats, and the
    // copy made at every change of the stored samples lingers until V8 collects it).
    const all = this.store.count === 0
      ? this.#source
      : this.#source.count === 0
      ? this.#storedSamples()
      : concatSamples([this.#source, this.#storedSamples()], this.#features);
    if (this.#test) return { train: all, heldOut: this.#test };
    return splitHeldOut(all, this.#heldOutFraction, this.#features);
  }

  /** The posted samples (kept raw on disk), normalised as the spec says. */
  #storedSamples(): Samples {
    const raw = this.store.samples();
    return { ...raw, x: this.input.normalise(raw.x, raw.count) };
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
    return copySamples(parsed.samples.view());
  };
  let source: Samples = { x: new Float32Array(0), y: new Uint8Array(0), count: 0 };
  if (config.data.source !== "") {
    source = await read(config.data.source);
    logger.info("Loaded local data", { source: config.data.source, samples: source.count });
  }
  const test = config.data.test !== "" ? await read(config.data.test) : undefined;
  const store = await SampleStore.open(o.state.samples, { ...shape, input: input.rangeOnly() }, {
    maxSamples: config.data.maxSamples,
    logger: logger.child({ component: "samples" }),
  });
  if (source.count + store.count === 0) {
    logger.warn("This node has no training samples: it serves what its peers learn but adds nothing", {
      source: config.data.source || "(none)",
      hint: config.data.source
        ? `none of the rows in ${JSON.stringify(config.data.source)} could be used; see the bad rows above`
        : "set data.source to a JSONL/CSV file, or POST labelled rows to /v1/samples",
    });
  }
  return new LocalDataSet({
    input,
    store,
    source,
    test,
    features: model.inputSize,
    heldOutFraction: config.data.heldOut,
    trainingHook: o.trainingHook,
  });
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
