/**
 * The status snapshot in the state directory (what `agent status` reads when the API is not reachable),
 * written every few seconds through the {@linkcode SaveGuard} and at shutdown. Each snapshot also logs,
 * once, a trusted peer turning unusable for a reason a person must act on, and once when it is used again.
 *
 * @module
 */
import { STATUS_FORMAT, type StatusReport } from "../api/mod.ts";
import type { Logger } from "../log.ts";
import { type SaveGuard, writeCheckedJson } from "../state/mod.ts";
import { reportSaveFailure } from "./_checkpoints.ts";

/** Reasons a person must act on (another model, left out of the merge); the status shows every reason. */
const ACTIONABLE = /^(runs another model|left out)/;

/** Writes status snapshots to `path`. */
export class StatusWriter {
  #o: { path: string; saving: SaveGuard; logger: Logger; status: () => StatusReport };
  /** Last logged reason (its part before the colon) per trusted peer's fingerprint. */
  #unusable = new Map<string, string>();

  constructor(o: { path: string; saving: SaveGuard; logger: Logger; status: () => StatusReport }) {
    this.#o = o;
  }

  /** Refreshes the free-space figure, then writes a snapshot (unless saving backs off). */
  async write(): Promise<void> {
    const { saving, logger } = this.#o;
    await saving.refreshSpace();
    await saving.run(
      "status",
      () => {
        const report = this.#o.status();
        this.#logUnusablePeers(report.peers);
        return writeCheckedJson(this.#o.path, STATUS_FORMAT, report);
      },
      (e, n) => reportSaveFailure(logger, saving, "status snapshot", e, n),
    );
  }

  #logUnusablePeers(peers: StatusReport["peers"]): void {
    for (const p of peers) {
      const reason = p.unusable ?? null;
      const before = this.#unusable.get(p.fingerprint);
      const kind = reason?.split(":")[0];
      if (reason !== null && ACTIONABLE.test(reason) && before !== kind) {
        this.#unusable.set(p.fingerprint, kind!);
        this.#o.logger.warn("Trusted peer is not used", { peer: p.name, fingerprint: p.fingerprint, reason });
      } else if (reason === null && before !== undefined) {
        this.#unusable.delete(p.fingerprint);
        this.#o.logger.info("Trusted peer is used again", { peer: p.name, fingerprint: p.fingerprint });
      }
    }
  }
}
