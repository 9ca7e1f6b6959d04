/**
 * Why a clone stopped: one error class with a `kind` from a fixed list, a message naming the host and
 * value, and a hint saying what to do. The CLI prints `agent: error: <message>` and `  hint: <hint>` and
 * exits 1 (not 2: the command line was fine, the target or the network was not).
 *
 * @module
 */

/** Every reason a clone can fail for, stable strings (they appear in `--json` output). */
export const CloneFailure = {
  UnknownHostKey: "unknown-host-key",
  ChangedHostKey: "changed-host-key",
  AuthFailed: "auth-failed",
  Unreachable: "unreachable",
  ConnectionLost: "connection-lost",
  NoSpace: "no-space",
  UnsupportedTarget: "unsupported-target",
  ChecksumMismatch: "checksum-mismatch",
  RemoteCommandFailed: "remote-command-failed",
  MissingRuntime: "missing-runtime",
  Interrupted: "interrupted",
  /** The service did not become healthy (and there was no earlier release to switch back to). */
  Unhealthy: "unhealthy",
  /** The service did not become healthy on the new release; the board runs its previous release again. */
  RolledBack: "rolled-back",
  /** Something on this machine failed (packing the release or the state). */
  LocalFailure: "local-failure",
} as const;

/** One of the values of {@linkcode CloneFailure}. */
export type CloneFailure = typeof CloneFailure[keyof typeof CloneFailure];

/** A clone (or remote step) failed for a reason the user can act on. */
export class CloneError extends Error {
  override name = "CloneError";
  readonly kind: CloneFailure;
  readonly hint: string | undefined;
  constructor(kind: CloneFailure, message: string, hint?: string) {
    super(message);
    this.kind = kind;
    this.hint = hint;
  }
}
