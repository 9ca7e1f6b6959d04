/**
 * `agent service health [--timeout S] [--settle S]`: does agent.service run and answer? The check an
 * upgrade waits for before it keeps a new release (`agent clone` runs it on the board over SSH and
 * switches back to the previous release when it fails). Healthy means: systemd reports the unit
 * `active (running)`, `GET /v1/status` on `api.listen` answers with an agent status from the unit's
 * main process, and that stays so for `--settle` seconds without a restart. A crash loop (the unit
 * `failed`, or restarted twice while waiting) fails at once; otherwise the check fails at `--timeout`.
 * Exit 0 healthy, 1 not.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { parseListen } from "../api/mod.ts";
import { statusProblem } from "../api/mod.ts";
import { UNIT_NAME } from "../systemd/mod.ts";
import type { CommandContext } from "./command.ts";
import { intOpt } from "./command.ts";

/** The unit as `systemctl show` reports it. */
export interface UnitState {
  activeState: string;
  subState: string;
  mainPid: number;
  restarts: number;
}

/** What `GET /v1/status` gave: the answering process's PID, or why there was no agent status. */
export type StatusAnswer = { pid: number } | { problem: string };

/** One look at the service (pure): healthy now, not yet (and why), or failed for good. */
export type HealthVerdict = { kind: "ok"; pid: number } | { kind: "waiting"; reason: string } | {
  kind: "failed";
  reason: string;
};

/** Judges one sample (pure). `restartsAtStart` is the unit's restart count when the check began. */
export function judgeHealth(unit: UnitState, status: StatusAnswer, restartsAtStart: number): HealthVerdict {
  const restarted = unit.restarts - restartsAtStart;
  if (unit.activeState === "failed") {
    return {
      kind: "failed",
      reason: `${UNIT_NAME} failed (${unit.subState}) after ${unit.restarts} restart(s)`,
    };
  }
  if (restarted >= 2) {
    return {
      kind: "failed",
      reason: `${UNIT_NAME} restarted ${restarted} times while waiting: it crashes on start`,
    };
  }
  if (unit.activeState !== "active" || unit.subState !== "running" || unit.mainPid <= 0) {
    return { kind: "waiting", reason: `${UNIT_NAME} is ${unit.activeState} (${unit.subState})` };
  }
  if ("problem" in status) return { kind: "waiting", reason: status.problem };
  if (status.pid !== unit.mainPid) {
    return {
      kind: "waiting",
      reason:
        `/v1/status answered from PID ${status.pid}, not from the service's main process ${unit.mainPid}`,
    };
  }
  return { kind: "ok", pid: unit.mainPid };
}

/** Parses `systemctl show -p ActiveState,SubState,MainPID,NRestarts` output (pure). */
export function parseUnitState(text: string): UnitState {
  const kv: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) kv[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return {
    activeState: kv.ActiveState || "unknown",
    subState: kv.SubState || "unknown",
    mainPid: Number(kv.MainPID) || 0,
    restarts: Number(kv.NRestarts) || 0,
  };
}

async function unitState(): Promise<UnitState> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("systemctl", {
      args: ["show", UNIT_NAME, "-p", "ActiveState,SubState,MainPID,NRestarts"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    throw new UsageError(
      `Cannot ask systemd about ${UNIT_NAME}: ${(e as Error).message}`,
      "Is systemctl installed?",
    );
  }
  return parseUnitState(new TextDecoder().decode(out.stdout));
}

async function askStatus(api: string): Promise<StatusAnswer> {
  const { hostname, port } = parseListen(api);
  const host = hostname === "0.0.0.0"
    ? "127.0.0.1"
    : hostname === "::"
    ? "[::1]"
    : hostname.includes(":")
    ? `[${hostname}]`
    : hostname;
  try {
    const res = await fetch(`http://${host}:${port}/v1/status`, { signal: AbortSignal.timeout(2000) });
    const body = await res.json().catch(() => undefined);
    const problem = res.ok ? statusProblem(body) : `HTTP ${res.status}`;
    if (problem !== undefined) {
      return { problem: `something answers on ${api} but not with an agent status (${problem})` };
    }
    return { pid: (body as { pid: number }).pid };
  } catch (e) {
    return {
      problem: (e as Error).name === "TimeoutError"
        ? `no answer from ${api} within 2 s`
        : `nothing answers on ${api} (/v1/status)`,
    };
  }
}

/** Runs the check; prints the verdict (JSON with --json). */
export async function runHealth(ctx: CommandContext): Promise<number> {
  const timeoutS = intOpt(ctx, "timeout", 1, 3600, "service") ?? 60;
  const settleS = intOpt(ctx, "settle", 0, 600, "service") ?? 3;
  try {
    if (!Deno.statSync("/run/systemd/system").isDirectory) throw new Error();
  } catch {
    throw new UsageError(
      "systemd is not running on this machine, so there is no service to check",
      "Use 'agent status' for an agent started by hand",
    );
  }
  const api = (await ctx.config()).api.listen;
  const started = Date.now();
  const deadline = started + timeoutS * 1000;
  const restartsAtStart = (await unitState()).restarts;
  let okSince: { pid: number; at: number } | undefined;
  let verdict: HealthVerdict = { kind: "waiting", reason: "not checked yet" };
  while (true) {
    const unit = await unitState();
    verdict = judgeHealth(
      unit,
      unit.mainPid > 0 ? await askStatus(api) : { problem: "no main process" },
      restartsAtStart,
    );
    const now = Date.now();
    if (verdict.kind === "failed") break;
    if (verdict.kind === "ok") {
      if (okSince?.pid !== verdict.pid) okSince = { pid: verdict.pid, at: now };
      if (now - okSince.at >= settleS * 1000) break;
    } else okSince = undefined;
    if (now >= deadline) {
      verdict = {
        kind: "failed",
        reason: `not healthy within ${timeoutS} s: ${
          verdict.kind === "ok" ? "it did not stay up" : verdict.reason
        }`,
      };
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const healthy = verdict.kind === "ok";
  const waitedMs = Date.now() - started;
  const reason = healthy
    ? `${UNIT_NAME} is running and answers on ${api} (PID ${(verdict as { pid: number }).pid})`
    : (verdict as { reason: string }).reason;
  ctx.print(`${healthy ? "Healthy" : "Not healthy"}: ${reason}`, { healthy, reason, waitedMs, api });
  return healthy ? 0 : 1;
}
