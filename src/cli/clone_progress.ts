/**
 * What `agent clone` draws while it works and prints when done (pure, so each is tested as text): the
 * one-line upload bar of a single clone, the live table of a fleet (one row per board: step, upload,
 * time) and the fleet's summary.
 *
 * @module
 */
import type { ClonePhase } from "../replicate/mod.ts";
import type { HostResult } from "../replicate/mod.ts";

/** A one-line progress bar: `[#####-----]  42% 12.3/29.0 MiB 8.1 MiB/s`. */
export function renderProgress(
  label: string,
  sent: number,
  total: number,
  elapsedMs: number,
  width = 30,
): string {
  const frac = total > 0 ? Math.min(1, sent / total) : 1;
  const filled = Math.round(frac * width);
  const rate = elapsedMs > 0 ? sent / 1048576 / (elapsedMs / 1000) : 0;
  return `${label.padEnd(8)} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${
    String(Math.floor(frac * 100)).padStart(3)
  }% ${(sent / 1048576).toFixed(1)}/${(total / 1048576).toFixed(1)} MiB ${rate.toFixed(1)} MiB/s`;
}

/** One board in the live table. */
export interface FleetRow {
  target: string;
  /** Undefined while waiting for a free slot. */
  phase?: ClonePhase;
  upload?: { label: string; sent: number; total: number };
  startedAt?: number;
  result?: HostResult;
}

const STEP_WORDS: Record<ClonePhase, string> = {
  probe: "probing",
  release: "packaging",
  upload: "uploading",
  install: "installing",
  state: "copying state",
  trust: "pairing",
  service: "service + health",
  done: "finishing",
};

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The live table, one line per board plus a header (pure); `now` in milliseconds. */
export function renderFleetTable(rows: FleetRow[], now: number): string[] {
  const width = Math.max(6, ...rows.map((r) => r.target.length));
  const line = (a: string, b: string, c: string) => `${a.padEnd(width)}  ${b.padEnd(34)}  ${c}`;
  return [
    line("TARGET", "STEP", "TIME"),
    ...rows.map((r) => {
      const time = r.result
        ? seconds(r.result.ms)
        : r.startedAt !== undefined
        ? seconds(now - r.startedAt)
        : "";
      if (r.result) return line(r.target, STATUS_WORDS[r.result.status], time);
      if (r.phase === undefined) return line(r.target, "waiting", time);
      if (r.phase === "upload" && r.upload) {
        const pct = r.upload.total > 0 ? Math.floor((r.upload.sent / r.upload.total) * 100) : 100;
        const bar = "#".repeat(Math.round(pct / 10)).padEnd(10, "-");
        return line(r.target, `uploading ${r.upload.label} [${bar}] ${String(pct).padStart(3)}%`, time);
      }
      return line(r.target, STEP_WORDS[r.phase], time);
    }),
  ];
}

const STATUS_WORDS: Record<HostResult["status"], string> = {
  installed: "installed",
  "up-to-date": "up to date",
  "rolled-back": "rolled back",
  failed: "FAILED",
  "dry-run": "planned",
};

/** The end-of-run summary (pure): one line per board, then the counts. */
export function renderFleetSummary(results: HostResult[]): string {
  const width = Math.max(6, ...results.map((r) => r.target.length));
  const lines = results.map((r) => {
    const detail = r.status === "failed" || r.status === "rolled-back"
      ? `${r.reason ?? ""}${r.hint ? `\n${" ".repeat(width + 26)}hint: ${r.hint}` : ""}`
      : r.report
      ? `release ${r.report.release}, service ${r.report.service}${
        r.report.uploadedBytes ? `, uploaded ${(r.report.uploadedBytes / 1048576).toFixed(1)} MiB` : ""
      }${r.siblingsTrusted.length ? `, trusts ${r.siblingsTrusted.length} new board(s)` : ""}`
      : "";
    return `${r.target.padEnd(width)}  ${STATUS_WORDS[r.status].padEnd(12)}  ${
      seconds(r.ms).padStart(8)
    }  ${detail}`;
  });
  const count = (s: HostResult["status"]) => results.filter((r) => r.status === s).length;
  const parts = [
    `${count("installed")} installed`,
    `${count("up-to-date")} up to date`,
    ...(count("dry-run") ? [`${count("dry-run")} planned`] : []),
    ...(count("rolled-back") ? [`${count("rolled-back")} rolled back`] : []),
    `${count("failed")} failed`,
  ];
  return [...lines, `${results.length} board(s): ${parts.join(", ")}`].join("\n");
}
