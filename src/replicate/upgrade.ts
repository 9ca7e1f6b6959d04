/**
 * The service step of a clone, with greenboot-style upgrade and rollback: install (or restart)
 * `agent.service`, then run the health check ON the board (`agent service health`, which the release
 * carries, so it needs nothing but plain SSH). When a changed release does not become healthy, switch
 * `current` back to the previous release (kept on the board for this), restart, and check again. The
 * state directory is never touched: identity, trust and checkpoints survive both ways.
 *
 * @module
 */
import { CloneError, CloneFailure } from "./errors.ts";
import { rollbackScript } from "./install.ts";
import type { ClonePlan } from "./plan.ts";
import { agentCommand, agentScript, parseRemoteJson } from "./remote.ts";
import type { Ssh } from "./ssh.ts";

/** What `agent service health --json` prints. */
export interface HealthReport {
  healthy: boolean;
  reason: string;
  waitedMs: number;
}

/** What the service step did. */
export interface ServiceOutcome {
  service: "started" | "restarted" | "unchanged";
  /** The unit file changed (or the service was started). */
  changed: boolean;
  /** The health check after a (re)start, if one ran. */
  health?: HealthReport;
}

/** Installs or restarts the service; returns what `agent service install --json` reported. */
async function installService(ssh: Ssh, plan: ClonePlan, restart: boolean): Promise<ServiceOutcome> {
  const out = (await ssh.check(
    agentScript(plan, [
      agentCommand([
        "service",
        "install",
        "--prefix",
        plan.prefix,
        ...(restart ? ["--restart"] : []),
        "--json",
      ]),
    ]),
    "installing the service",
  )).stdout;
  const s = parseRemoteJson<{ changed: boolean; started: boolean; restarted: boolean }>(
    out,
    "agent service install",
  );
  return {
    service: s.restarted ? "restarted" : s.started ? "started" : "unchanged",
    changed: s.changed || s.started || s.restarted,
  };
}

/** Runs the health check on the board (exit 0 healthy, 1 not). */
async function checkHealth(ssh: Ssh, plan: ClonePlan, timeoutS: number): Promise<HealthReport> {
  const r = await ssh.run(
    agentScript(plan, [agentCommand(["service", "health", "--timeout", String(timeoutS), "--json"])]),
    "the health check",
  );
  if (r.code === 255) throw ssh.failure(r.code, r.stderr, "the health check");
  try {
    const h = JSON.parse(r.stdout) as HealthReport;
    if (typeof h.healthy === "boolean") return { ...h, healthy: h.healthy && r.code === 0 };
  } catch { /* not a health report: an older release, or one that does not start at all */ }
  const err = r.stderr.trim().split("\n").filter((l) => l.trim()).slice(-2).join(" | ");
  return {
    healthy: false,
    reason: `the health check itself failed (exit ${r.code})${err ? `: ${err}` : ""}`,
    waitedMs: 0,
  };
}

/** The last lines the unit logged (best effort, for the failure message). */
async function journalTail(ssh: Ssh): Promise<string> {
  const r = await ssh.run(
    "journalctl -u agent.service -n 40 -o cat --no-pager 2>/dev/null | grep -v '^$' | tail -n 2 || true",
    "reading the journal",
  );
  return r.code === 0 ? r.stdout.trim().split("\n").join(" | ") : "";
}

/**
 * The service step: install or restart the unit, check its health after every (re)start, and roll
 * back to `plan.rollbackTo` when the new release is not healthy. Throws {@linkcode CloneError} with
 * kind `rolled-back` (the board runs its previous release again) or `unhealthy` (nothing to go back to,
 * or the previous release is not healthy either).
 */
export async function serviceStep(
  ssh: Ssh,
  plan: ClonePlan,
  opts: { restart: boolean; healthTimeoutS: number; log: (line: string) => void },
): Promise<ServiceOutcome> {
  const outcome = await installService(ssh, plan, opts.restart);
  if (outcome.service === "unchanged") return outcome;
  opts.log(`Waiting up to ${opts.healthTimeoutS} s for agent.service to answer on the board …`);
  const health = await checkHealth(ssh, plan, opts.healthTimeoutS);
  if (health.healthy) return { ...outcome, health };

  const journal = await journalTail(ssh);
  const why = `${health.reason}${journal ? ` (journal: ${journal})` : ""}`;
  if (!plan.rollbackTo) {
    throw new CloneError(
      CloneFailure.Unhealthy,
      `agent.service on ${plan.who} did not become healthy on release ${plan.releaseId}: ${why}`,
      `Look at 'journalctl -u agent' on the board; fix the cause and run the clone again`,
    );
  }
  opts.log(
    `Release ${plan.releaseId} is not healthy (${health.reason}); switching back to ${plan.rollbackTo} …`,
  );
  const r = await ssh.run(rollbackScript(plan.prefix, plan.rollbackTo, plan.releaseId), "the rollback");
  if (r.code !== 0) {
    throw new CloneError(
      CloneFailure.Unhealthy,
      `agent.service on ${plan.who} did not become healthy on release ${plan.releaseId} (${why}), and switching back to ${plan.rollbackTo} failed: ${r.stderr.trim()}`,
      `Log in to the board and point ${plan.prefix}/current at a working release under ${plan.prefix}/releases`,
    );
  }
  await installService(ssh, plan, true);
  const back = await checkHealth(ssh, plan, opts.healthTimeoutS);
  throw new CloneError(
    back.healthy ? CloneFailure.RolledBack : CloneFailure.Unhealthy,
    `Release ${plan.releaseId} did not become healthy on ${plan.who}: ${why}; switched back to ${plan.rollbackTo}${
      back.healthy ? ", which is running again" : `, which is not healthy either: ${back.reason}`
    }`,
    back.healthy
      ? "Nothing learned was lost (the state directory is untouched); fix the release and run the clone again"
      : "Look at 'journalctl -u agent' on the board",
  );
}
