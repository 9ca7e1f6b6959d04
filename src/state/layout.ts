/**
 * Where the state directory is and what lives in it: one place for every state file's name.
 *
 * @module
 */
import { join } from "node:path";

/** Inputs for {@linkcode resolveStateDir}, passed in so the rule is testable without touching the world. */
export interface StateDirInputs {
  /** `--state DIR` from the command line. */
  flag?: string;
  /** The process environment (`STATE_DIRECTORY`, `XDG_STATE_HOME`, `HOME`). */
  env: Record<string, string | undefined>;
  /** Effective user id (0 = root), or null where unknown. */
  uid: number | null;
}

/**
 * `--state`, else `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`; first entry if several),
 * else `/var/lib/agent` for root, else `$XDG_STATE_HOME/agent`, else `~/.local/state/agent`.
 */
export function resolveStateDir({ flag, env, uid }: StateDirInputs): string {
  if (flag) return flag;
  const systemd = env.STATE_DIRECTORY?.split(":")[0];
  if (systemd) return systemd;
  if (uid === 0) return "/var/lib/agent";
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, "agent");
  if (env.HOME) return join(env.HOME, ".local", "state", "agent");
  return join(".", ".agent-state");
}

/** Paths of every file and folder in a state directory. */
export interface StateLayout {
  root: string;
  /** Default config file (`--config` overrides). */
  config: string;
  /** Daemon lock (flock + PID). */
  lock: string;
  /** Ed25519 private key (0600) and public key. */
  privateKey: string;
  publicKey: string;
  /** Trusted peers. */
  trustStore: string;
  /** Lock file serialising read-modify-write of the trust store (flock; never written to). */
  trustLock: string;
  /** Boot epoch counter for datagram sequence numbers (incremented on every start). */
  bootEpoch: string;
  /** Replay windows of peers (highest sequence + bitmap). */
  replay: string;
  /** Model checkpoints. */
  checkpoints: string;
  /** Locally collected training samples. */
  samples: string;
  /** The board's own model specs (`<id>.yaml`), copied here from `model.spec` so the board is self-contained. */
  models: string;
  /** Last status snapshot written by the daemon (read by `agent status` when it is down). */
  status: string;
}

/** The layout of the state directory at `root`. */
export function stateLayout(root: string): StateLayout {
  return {
    root,
    config: join(root, "agent.yaml"),
    lock: join(root, "agent.lock"),
    privateKey: join(root, "identity", "ed25519.key"),
    publicKey: join(root, "identity", "ed25519.pub"),
    trustStore: join(root, "trust.json"),
    trustLock: join(root, "trust.lock"),
    bootEpoch: join(root, "boot-epoch"),
    replay: join(root, "replay.bin"),
    checkpoints: join(root, "checkpoints"),
    samples: join(root, "samples"),
    models: join(root, "models"),
    status: join(root, "status.json"),
  };
}
