/**
 * What `Agent.start` is given: the config, the state directory, the logger and, for tests and the
 * development-only attack benchmark, an injected clock, transport and {@linkcode AgentHooks}.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import type { Transport } from "../gossip/mod.ts";
import type { Samples, SwarmLearner } from "../learn/mod.ts";
import type { Logger } from "../log.ts";
import type { StateLayout } from "../state/mod.ts";
import type { Clock } from "../time.ts";

/** What `Agent.start` needs. */
export interface AgentOptions {
  config: Config;
  state: StateLayout;
  /** Config file path (watched for live changes; may not exist). */
  configPath: string;
  /** Re-reads and validates the config file (for reloads). */
  loadConfig(): Promise<Config>;
  logger: Logger;
  /** Applies a new logging.level to `logger`. */
  setLogLevel?(level: Config["logging"]["level"]): void;
  version: string;
  clock?: Clock;
  /** Transport instead of UDP (in-memory tests). */
  transport?: Transport;
  /** Wall clock in ms (default `Date.now`). */
  wallClock?: () => number;
  /** Hooks around the learner (none in a normal agent; see {@linkcode AgentHooks}). */
  hooks?: AgentHooks;
}

/**
 * Hooks around the learner, composed by the caller: the agent itself knows no attack. `agent run`
 * installs them only for the real-network robustness benchmark (AGENT_DEV_ATTACK, development only),
 * from the simulation's attacks.
 */
export interface AgentHooks {
  /** Rewrites one round's outgoing messages before they are signed and sent. */
  outgoing?(
    out: { type: number; body: Uint8Array }[],
    ctx: { learner: SwarmLearner; now: number; budget: number },
  ): { type: number; body: Uint8Array }[];
  /** The rows the learner trains on, from the node's own training rows. */
  trainingData?(train: Samples): Samples;
}
