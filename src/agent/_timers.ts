/**
 * The agent's timers, in one place: a {@linkcode Timers} group starts every periodic task and stops them
 * all (clearing the timers, then waiting for the runs in progress), so a stopped agent leaves no timer
 * behind. {@linkcode startAgentTimers} is the agent's schedule: the learning round (its next interval is
 * asked for after each round, so it can stretch or shrink while running), the held-out evaluation, the
 * status snapshot and the history sample. The gossip daemon's housekeeping runs in its own group
 * (`daemon.ts`), started and stopped with the daemon.
 *
 * @module
 */

/** How a failed task is reported (the timer keeps running); `name` is the task's, e.g. "Learning round". */
export type TaskError = (name: string, error: unknown) => void;

/** A group of timers started together and stopped together. */
export class Timers {
  #handles = new Set<ReturnType<typeof setTimeout>>();
  #running = new Set<Promise<void>>();
  #stopped = false;
  #onError: TaskError;

  constructor(onError: TaskError) {
    this.#onError = onError;
  }

  /** True once {@linkcode stop} was called: tasks in progress should return early. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Runs `task` now, tracked: {@linkcode stop} waits for it. */
  run(name: string, task: () => Promise<void> | void): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const p: Promise<void> = (async () => await task())()
      .catch((e) => this.#onError(name, e))
      .finally(() => this.#running.delete(p));
    this.#running.add(p);
    return p;
  }

  /** Runs `task` every `ms`; a tick is skipped while the previous run is still going. */
  every(name: string, ms: number, task: () => Promise<void> | void): void {
    if (this.#stopped) return;
    let busy: Promise<void> | undefined;
    const handle = setInterval(() => {
      if (busy) return;
      busy = this.run(name, task).finally(() => (busy = undefined));
    }, ms);
    this.#handles.add(handle);
  }

  /**
   * Runs `task` after `nextMs()` ms and again `nextMs()` after each run has ended: runs never overlap, and
   * the interval is read anew each time (a live setting, or a stretch under load).
   */
  chain(name: string, nextMs: () => number, task: () => Promise<void> | void): void {
    const schedule = () => {
      if (this.#stopped) return;
      const handle = setTimeout(() => {
        this.#handles.delete(handle);
        void this.run(name, task).finally(schedule);
      }, nextMs());
      this.#handles.add(handle);
    };
    schedule();
  }

  /** Clears every timer, then waits for the runs in progress. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const h of this.#handles) clearTimeout(h);
    this.#handles.clear();
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }
}

/** Milliseconds between held-out evaluations. */
export const EVAL_MS = 2000;
/** Milliseconds between status snapshots (and checks of peers turning unusable). */
export const STATUS_MS = 5000;

/** The agent's periodic tasks. */
export interface AgentLoops {
  /** Milliseconds until the next learning round (read after each round). */
  nextRoundMs(): number;
  round(): Promise<void>;
  evaluate(): Promise<void>;
  writeStatus(): Promise<void>;
  recordHistory(): void;
  /** Milliseconds between history samples. */
  historyMs: number;
}

/** Starts the agent's timers in `timers`: a first evaluation now, then the schedule above. */
export function startAgentTimers(timers: Timers, loops: AgentLoops): void {
  timers.chain("Learning round", loops.nextRoundMs, loops.round);
  timers.every("Evaluation", EVAL_MS, loops.evaluate);
  timers.every("Status snapshot", STATUS_MS, loops.writeStatus);
  timers.every("History sample", loops.historyMs, loops.recordHistory);
  void timers.run("Evaluation", loops.evaluate);
}
