/**
 * `agent status`: what the daemon is doing. Asks the running daemon (`GET /v1/status` on `api.listen`);
 * when it is down, reads the snapshot it last wrote into the state directory and says how old it is.
 *
 * @module
 */
import type { StatusReport } from "../api/mod.ts";
import { STATUS_FORMAT, statusProblem } from "../api/mod.ts";
import { readCheckedJson, type StateLayout } from "../state/mod.ts";
import { fingerprint, readPublicKey } from "../identity/mod.ts";
import { CorruptStateError } from "../errors.ts";
import { localUrl, parseListen } from "../api/mod.ts";
import { UsageError } from "../errors.ts";
import type { Command, CommandContext } from "./command.ts";
import { intOpt } from "./command.ts";

/** Where a report came from. */
export type StatusSource = { kind: "live"; api: string } | { kind: "snapshot"; path: string; reason: string };

/** The `status` command. */
export const statusCommand: Command = {
  name: "status",
  summary: "Show the node's model, accuracy, rounds and peers",
  usage: ["status [--watch [--interval S] [--count N]]", "status --open"],
  description:
    "Asks the running agent over its local API (api.listen). When it is not running, shows the last status\n" +
    "snapshot it saved in the state directory, and says so. --open prints the address of the agent's\n" +
    "dashboard page (charts, peers, pairing QR code) and opens it with xdg-open when there is one.",
  options: {
    watch: { type: "boolean", short: "w", help: "Refresh until interrupted (Ctrl-C)" },
    interval: { type: "string", arg: "S", help: "Seconds between refreshes with --watch (default 2)" },
    count: { type: "string", arg: "N", help: "With --watch: stop after N refreshes" },
    open: { type: "boolean", short: "o", help: "Print the dashboard's URL and open it in a browser" },
  },
  positionals: [0, 0],
  examples: [
    "agent status",
    "agent status --json",
    "agent status --watch --interval 1",
    "agent status --open",
  ],
  run: runStatus,
};

async function runStatus(ctx: CommandContext): Promise<number> {
  const interval = intOpt(ctx, "interval", 1, 3600, "status") ?? 2;
  const count = intOpt(ctx, "count", 1, 1_000_000, "status");
  const watch = ctx.values.watch === true;
  if (ctx.values.open === true && watch) {
    throw new UsageError("Options --open and --watch do not go together", "Use one of them");
  }
  const config = await ctx.config();
  const api = config.api.listen;
  if (ctx.values.open === true) return await openDashboard(ctx, api);
  if (!watch) return await showOnce(ctx, api, false);
  for (let i = 0; count === undefined || i < count; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, interval * 1000));
    await showOnce(ctx, api, ctx.io.isTerminal && !ctx.global.json);
  }
  return 0;
}

async function showOnce(ctx: CommandContext, api: string, clear: boolean): Promise<number> {
  const got = await fetchStatus(api, ctx.state.status, {
    expectFingerprint: await ownFingerprint(ctx.state),
  });
  if ("error" in got) {
    ctx.io.stderr(`agent: error: ${got.error}\n  hint: ${got.hint}\n`);
    return 1;
  }
  const { report, source } = got;
  const text = formatStatus(report, source, Date.now());
  ctx.print((clear ? "\x1b[H\x1b[2J" : "") + text, {
    ...report,
    fingerprint: report.node.fingerprint,
    source: source.kind,
  });
  return 0;
}

/** `--open`: checks the agent answers, prints the page's URL and hands it to xdg-open if there is one. */
async function openDashboard(ctx: CommandContext, api: string): Promise<number> {
  const got = await fetchStatus(api, ctx.state.status, {
    expectFingerprint: await ownFingerprint(ctx.state),
  });
  const why = "error" in got ? got.error : got.source.kind === "live" ? undefined : got.source.reason;
  if (why !== undefined) {
    ctx.io.stderr(
      `agent: error: no dashboard to open: ${why}\n  hint: The page is served by the running agent: ` +
        "start it with 'agent run'\n",
    );
    return 1;
  }
  const url = localUrl(api);
  const opener = findOnPath("xdg-open", ctx.io.env.PATH);
  let opened = false;
  let note = "";
  if (opener === undefined) {
    note = "No xdg-open here: open the address in a browser on this machine (or through an SSH tunnel)";
  } else {
    // By name (the launcher's --allow-run lists "xdg-open"); the PATH lookup above found it.
    const out = await new Deno.Command("xdg-open", {
      args: [url],
      ...(ctx.io.env.PATH === undefined ? {} : { env: { PATH: ctx.io.env.PATH } }),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    })
      .output();
    opened = out.success;
    const err = new TextDecoder().decode(out.stderr).trim().split("\n")[0];
    note = opened
      ? `Opened with ${opener}`
      : `xdg-open could not open it (exit ${out.code}${err ? `: ${err}` : ""}): open the address yourself`;
  }
  ctx.print(`Dashboard: ${url}\n${note}\n`, { dashboard: url, opened });
  return 0;
}

/** The first executable file called `name` in the `PATH` list, or undefined. */
function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? "").split(":")) {
    if (dir === "") continue;
    const file = `${dir}/${name}`;
    try {
      const info = Deno.statSync(file);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * This state directory's fingerprint, to tell its own agent from another answering on the same port;
 * undefined without a readable identity (a missing or damaged key is reported by the commands that use it).
 */
export async function ownFingerprint(state: StateLayout): Promise<string | undefined> {
  try {
    const publicKey = await readPublicKey(state);
    return publicKey ? fingerprint(publicKey) : undefined;
  } catch {
    return undefined;
  }
}

/** Options for {@linkcode fetchStatus}. */
export interface FetchStatusOptions {
  timeoutMs?: number;
  /**
   * This state directory's fingerprint: an agent answering on `api` with another fingerprint is some
   * other node (another state directory on the same port), so its report is not shown as ours.
   */
  expectFingerprint?: string;
}

/** Gets a report from the daemon at `api`, else from the snapshot at `snapshotPath`. */
export async function fetchStatus(
  api: string,
  snapshotPath: string,
  options: FetchStatusOptions = {},
): Promise<{ report: StatusReport; source: StatusSource } | { error: string; hint: string }> {
  const { timeoutMs = 2000, expectFingerprint } = options;
  const { hostname, port } = parseListen(api);
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  let reason: string;
  try {
    const res = await fetch(`http://${host}:${port}/v1/status`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.json().catch(() => undefined);
    const problem = res.ok ? statusProblem(body) : `HTTP ${res.status}`;
    const other = (body as StatusReport | undefined)?.node?.fingerprint;
    if (problem === undefined && expectFingerprint !== undefined && other !== expectFingerprint) {
      reason = `the agent answering on ${api} is another node (${
        (body as StatusReport).node.name
      }, ${other}), not this state directory's (${expectFingerprint}); give this agent its own api.listen`;
    } else if (problem === undefined) {
      return { report: body as StatusReport, source: { kind: "live", api } };
    } else reason = `something answers on ${api} but not with an agent status (${problem})`;
  } catch (e) {
    reason = (e as Error).name === "TimeoutError"
      ? `no answer from ${api} within ${timeoutMs / 1000} s`
      : `the agent is not running (nothing answers on ${api})`;
  }
  let snapshot: unknown;
  try {
    snapshot = await readCheckedJson(snapshotPath, STATUS_FORMAT);
  } catch (e) {
    if (!(e instanceof CorruptStateError)) throw e;
    return { error: `${reason}, and ${e.message}`, hint: "Start the agent with 'agent run'" };
  }
  if (snapshot === undefined) {
    return {
      error: `${reason}, and it has saved no status yet in ${JSON.stringify(snapshotPath)}`,
      hint: "Start the agent with 'agent run' (check --state and api.listen if it is running)",
    };
  }
  const problem = statusProblem(snapshot);
  if (problem) {
    return {
      error: `${reason}, and the snapshot ${JSON.stringify(snapshotPath)} is unusable: ${problem}`,
      hint: "Start the agent with 'agent run'",
    };
  }
  return { report: snapshot as StatusReport, source: { kind: "snapshot", path: snapshotPath, reason } };
}

/** The human-readable status table. `now` is wall-clock milliseconds. */
export function formatStatus(r: StatusReport, source: StatusSource, now: number): string {
  const lines: string[] = [];
  if (source.kind === "live") {
    lines.push(
      `Live from the agent on ${source.api} (PID ${r.pid}, up ${duration(now - Date.parse(r.startedAt))})`,
    );
  } else {
    lines.push(
      `Not live: ${source.reason}. Last snapshot from ${ago(now, r.updatedAt)} (${source.path})`,
    );
  }
  const g = r.gossip;
  const rejected = Object.entries(g.rejected).filter(([, n]) => n > 0);
  const rows: [string, string][] = [
    ["Node", `${r.node.name}  ${r.node.fingerprint}`],
    [
      "Model",
      `${r.model.id} (${r.model.parameters.toLocaleString("en-US")} parameters, hash ${
        r.model.hash.slice(0, 12)
      })`,
    ],
    ...(r.model.classes ? [["Classes", r.model.classes.join(", ")] as [string, string]] : []),
    ["Backend", r.backend],
    [
      "Accuracy",
      r.accuracy === null
        ? `- (no held-out samples yet)`
        : `${(r.accuracy * 100).toFixed(1)}% on ${r.heldOut} held-out samples`,
    ],
    ["Rounds", `${r.rounds}${r.loss === null ? "" : `  (last loss ${r.loss.toFixed(3)})`}`],
    ["Samples", `${r.samples} for training`],
    [
      "Gossip",
      `in ${g.datagramsIn} datagrams (${bytes(g.bytesIn)}; ${g.accepted} accepted), ` +
      `out ${g.datagramsOut} (${bytes(g.bytesOut)}), largest ${g.largestDatagram} B`,
    ],
    ["Rejected", rejected.length ? rejected.map(([k, n]) => `${k} ${n}`).join(", ") : "none"],
    ...(r.transport ? transportRows(r.transport) : []),
    ...(r.airtime ? airtimeRows(r.airtime) : []),
    ["API", r.api],
    ...(source.kind === "live"
      ? [["Page", `${localUrl(source.api)} (agent status --open)`] as [string, string]]
      : []),
    ["Memory", `${bytes(r.rss)} resident`],
  ];
  const st = r.storage;
  if (st) {
    const free = st.freeBytes === null ? "" : `${bytes(st.freeBytes)} free of ${bytes(st.totalBytes ?? 0)}`;
    rows.push([
      "State",
      st.ok
        ? `saved${free ? ` (${free})` : ""}`
        : `CANNOT BE SAVED since ${st.failingSince}: ${st.lastError}${free ? `; ${free}` : ""}`,
    ]);
  }
  for (const [k, v] of rows) lines.push(`${k.padEnd(9)} ${v}`);
  const alive = r.peers.filter((p) => p.alive).length;
  lines.push("", `Peers: ${r.peers.length} trusted, ${alive} alive`);
  if (r.peers.length > 0) {
    const table = [
      ["FINGERPRINT", "NAME", "VIA", "ADDRESS", "LAST SEEN", "SCORE", "MODEL", "DATAGRAMS IN", "REJECTS"],
      ...r.peers.map((p) => [
        p.fingerprint,
        p.name,
        p.transport === "lan"
          ? "LAN"
          : p.transport === "broker"
          ? "broker"
          : p.transport === "both"
          ? "both"
          : "-",
        p.address ?? "-",
        p.lastSeen === null ? "never" : ago(now, p.lastSeen) + (p.alive ? "" : " (down)"),
        p.score === null ? "-" : p.score.toFixed(2),
        peerModel(p),
        String(p.datagramsIn),
        Object.entries(p.rejects).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ") || "-",
      ]),
    ];
    const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
    for (const row of table) {
      lines.push("  " + row.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd());
    }
    for (const p of r.peers) if (p.unusable) lines.push(`  ! ${p.name || p.fingerprint}: ${p.unusable}`);
  }
  return lines.join("\n") + "\n";
}

/** The Transport row (and Broker / Bridge rows when a broker is used). */
function transportRows(t: NonNullable<StatusReport["transport"]>): [string, string][] {
  const mode = t.mode === "udp"
    ? "udp (LAN broadcast)"
    : t.mode === "mqtt"
    ? "mqtt (broker only)"
    : "both (bridges the LAN and the broker)";
  const rows: [string, string][] = [["Transport", mode]];
  const b = t.broker;
  if (b) {
    const state = b.state === "connected"
      ? `connected for ${duration(b.forSeconds * 1000)}`
      : b.state === "down"
      ? `DOWN for ${duration(b.forSeconds * 1000)}, reconnecting${b.lastError ? ` (${b.lastError})` : ""}`
      : b.state;
    rows.push([
      "Broker",
      `${b.url} topic ${b.topic}: ${state}; in ${b.messagesIn}, out ${b.messagesOut}, ` +
      `${b.connects} connect${b.connects === 1 ? "" : "s"}, ${b.failures} failure${
        b.failures === 1 ? "" : "s"
      }`,
    ]);
  }
  if (t.forwarded) {
    rows.push([
      "Bridge",
      `forwarded ${t.forwarded.toBroker} LAN → broker, ${t.forwarded.toLan} broker → LAN` +
      (t.forwarded.failed ? `, ${t.forwarded.failed} not sent` : ""),
    ]);
  }
  return rows;
}

/** The Swarm and Airtime rows: estimated size, intervals, measured and planned bytes/s vs the budget. */
function airtimeRows(a: NonNullable<StatusReport["airtime"]>): [string, string][] {
  const rate = (n: number) => `${bytes(Math.round(n))}/s`;
  const share = (n: number) => `${Math.round((n / a.budgetBytesPerSecond) * 100)}%`;
  return [
    [
      "Swarm",
      `${a.swarmSize} board${a.swarmSize === 1 ? "" : "s"} heard` +
      (a.publishers !== undefined && a.publishers < a.swarmSize
        ? `, ${a.publishers} publish at a time (learning.fanIn)`
        : "") +
      `; round every ${duration(a.roundMs)}, ` +
      `Hello every ${duration(a.helloMs)}`,
    ],
    [
      "Airtime",
      `this board ${rate(a.ownBytesPerSecond)}, swarm ${rate(a.swarmBytesPerSecond)} heard ` +
      `(${share(a.swarmBytesPerSecond)} of the ${rate(a.budgetBytesPerSecond)} budget; planned ` +
      `${rate(a.plannedBytesPerSecond)})`,
    ],
  ];
}

/** Whether the peer's model is in our swarm model: "merged", "out (84% known)" or "-" (no values yet). */
function peerModel(p: StatusReport["peers"][number]): string {
  if (p.merged) return "merged";
  if (p.coverage === null || p.coverage === undefined) return "-";
  return `out (${Math.floor(p.coverage * 100)}% known)`;
}

function ago(now: number, iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : `${duration(Math.max(0, now - t))} ago`;
}

function duration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  return `${(n / 1024 / 1024).toFixed(2)} MB`;
}
