/**
 * `agent clone user@host`, the acting half: probe the target over SSH, get the release for its
 * architecture, let {@linkcode planClone} decide everything (pure), then carry the plan out — upload
 * what the target lacks, install atomically, seed its state (never the private key), pair parent and
 * child, and install the service with a health check and automatic rollback.
 *
 * The local agent (identity, trust store) is reached through {@linkcode LocalAgent}, passed in by the CLI;
 * the remote one through its own `agent` commands run over SSH.
 *
 * @module
 */
import { CloneError, CloneFailure } from "./errors.ts";
import { installFailure, installScript, uploadScript } from "./install.ts";
import { type ClonePlan, mib, planClone } from "./plan.ts";
import { assessTarget, parseProbe, probeScript, type TargetInfo } from "./probe.ts";
import { parseSeeded, seedScript, stateBundle } from "./seed.ts";
import type { ReleaseSource } from "./source.ts";
import { describeTarget, Ssh, type SshOptions } from "./ssh.ts";
import { type AgentIdentity, type LocalAgent, pairWithParent } from "./trust.ts";
import { type HealthReport, serviceStep } from "./upgrade.ts";
import { exists } from "./_fs.ts";

/** The steps of a clone, in order (for progress displays). */
export const CLONE_PHASES = [
  "probe",
  "release",
  "upload",
  "install",
  "state",
  "trust",
  "service",
  "done",
] as const;
/** One of {@linkcode CLONE_PHASES}. */
export type ClonePhase = typeof CLONE_PHASES[number];

/** What to do. */
export interface CloneOptions {
  ssh: SshOptions;
  /** Install prefix on the target (default /opt/agent for root, ~/.local/lib/agent otherwise). */
  prefix?: string;
  /** State directory on the target (default /var/lib/agent for root, ~/.local/state/agent otherwise). */
  remoteState?: string;
  /** The child's node name (default: its host name). */
  name?: string;
  /** Install and start the systemd service when possible. */
  service: boolean;
  dryRun: boolean;
  /** The release for the target's architecture. */
  release: ReleaseSource;
  /** Seconds the service may take to answer after a (re)start before the clone rolls back (default 60). */
  healthTimeoutS?: number;
  /** Upload rate limit in bytes per second. */
  rateLimit?: number;
  signal?: AbortSignal;
  /** Human progress lines. */
  log: (line: string) => void;
  /** The step the clone is at. */
  phase?: (phase: ClonePhase) => void;
  /** Upload progress of one file. */
  progress?: (label: string, sent: number, total: number) => void;
  /** Debug detail (remote commands, outputs). */
  debug?: (line: string) => void;
}

/** What happened. */
export interface CloneReport {
  target: string;
  arch: string;
  os: string;
  prefix: string;
  state: string;
  release: string;
  previousRelease: string;
  /** "installed", "switched" (already unpacked), "up-to-date" or "dry-run". */
  action: "installed" | "switched" | "up-to-date" | "dry-run";
  uploadedBytes: number;
  /** Parts uploaded ("app", "deps", "runtime"); the others were reused from the current release. */
  uploaded: string[];
  reused: string[];
  uploadMs: number;
  releaseBytes: number;
  seeded: string[];
  child?: AgentIdentity;
  parent?: AgentIdentity;
  trustAdded: { onChild: string[]; onParent: string[] };
  service: "started" | "restarted" | "unchanged" | "skipped" | "unavailable";
  /** The health check after the service was (re)started. */
  health?: HealthReport;
  startCommand: string;
  changed: boolean;
  plan: string[];
  /** Remote scripts run through `sudo -n`. */
  sudo: boolean;
}

/** Runs the clone; throws {@linkcode CloneError} (or UsageError) with a hint on every failure. */
export async function cloneAgent(opts: CloneOptions, local: LocalAgent): Promise<CloneReport> {
  const ssh = new Ssh(opts.ssh, opts.signal);
  if (opts.debug) {
    ssh.onCommand = (argv, step) => opts.debug!(`${step}: ssh ${argv.slice(0, -1).join(" ")} …`);
  }
  const who = describeTarget(opts.ssh.target, opts.ssh.port);
  const interrupted = () => {
    if (opts.signal?.aborted) {
      throw new CloneError(
        CloneFailure.Interrupted,
        `Clone to ${who} interrupted`,
        "The target keeps its previous release; run the clone again to finish",
      );
    }
  };
  const guard = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p;
    } catch (e) {
      interrupted();
      throw e;
    }
  };

  opts.phase?.("probe");
  const info = await guard(probe(ssh, opts, who));
  opts.phase?.("release");
  const release = await guard(opts.release(info.arch!, opts.log));
  interrupted(); // Ctrl-C while packaging locally: stop before touching the target.
  const plan = planClone(info, release, {
    hasConfig: await exists(local.configPath),
    hasCheckpoints: await nonEmptyDir(local.checkpointsDir),
    hasModels: local.modelsDir !== undefined && await nonEmptyDir(local.modelsDir),
  }, { who, service: opts.service, name: opts.name, healthTimeoutS: opts.healthTimeoutS ?? 60 });
  ssh.sudo = plan.sudo;

  const report: CloneReport = {
    target: who,
    arch: plan.arch,
    os: info.os,
    prefix: plan.prefix,
    state: plan.state,
    release: plan.releaseId,
    previousRelease: plan.previousRelease,
    action: opts.dryRun ? "dry-run" : plan.action,
    uploadedBytes: 0,
    uploaded: [],
    reused: plan.reuse,
    uploadMs: 0,
    releaseBytes: plan.releaseBytes,
    seeded: [],
    trustAdded: { onChild: [], onParent: [] },
    service: plan.service === "install" ? "unchanged" : plan.service === "skip" ? "skipped" : "unavailable",
    startCommand: plan.startCommand,
    changed: false,
    plan: plan.lines,
    sudo: plan.sudo,
  };
  if (opts.dryRun) return report;

  // Upload and install.
  if (plan.install) {
    opts.phase?.("upload");
    const started = Date.now();
    for (const [i, u] of plan.uploads.entries()) {
      interrupted();
      opts.log(`Uploading ${u.name} (${mib(u.bytes)}) …`);
      await guard(
        ssh.upload(
          u.tarball,
          uploadScript(plan.prefix, u.uploadName, i === 0),
          `the upload of the ${u.name}`,
          {
            rateLimit: opts.rateLimit,
            onProgress: (sent) => opts.progress?.(u.name, sent, u.bytes),
          },
        ),
      );
      report.uploadedBytes += u.bytes;
      report.uploaded.push(u.name);
    }
    report.uploadMs = Date.now() - started;
    interrupted();
    opts.phase?.("install");
    opts.log(
      plan.action === "switched" ? "Switching to the unpacked release …" : "Verifying and installing …",
    );
    const r = await guard(ssh.run(installScript(plan.install), "the install"));
    if (r.code !== 0) throw installError(r.code, r.stderr, plan, ssh);
    report.changed = true;
    opts.log(`Installed ${plan.releaseId} in ${plan.prefix}/releases; ${plan.prefix}/current switched`);
  } else {
    opts.log(`Release ${plan.releaseId} is already installed: up to date`);
  }

  // State: seed config and checkpoints on first contact; never the private key.
  opts.phase?.("state");
  if (plan.seed.config || plan.seed.checkpoints || plan.seed.models) {
    const bundle = await stateBundle(local, plan.seed, opts.name);
    const r = await guard(ssh.check(seedScript(plan), "copying the state", bundle));
    report.seeded = parseSeeded(r.stdout);
    if (report.seeded.length) report.changed = true;
  }

  // The child's own identity, then mutual trust.
  opts.phase?.("trust");
  const pairing = await guard(
    pairWithParent(ssh, plan, local, plan.init, (line) => opts.log(`  [${opts.ssh.target.host}] ${line}`)),
  );
  report.child = pairing.child;
  report.parent = pairing.parent;
  report.trustAdded = { onChild: pairing.onChild, onParent: pairing.onParent };
  if (plan.init || pairing.onChild.length || pairing.onParent.length) report.changed = true;

  // Service, health check, rollback.
  if (plan.service === "install") {
    opts.phase?.("service");
    const s = await guard(serviceStep(ssh, plan, {
      restart: report.changed,
      healthTimeoutS: opts.healthTimeoutS ?? 60,
      log: opts.log,
    }));
    report.service = s.service;
    report.health = s.health;
    if (s.changed) report.changed = true;
  }
  opts.phase?.("done");
  return report;
}

async function probe(ssh: Ssh, opts: CloneOptions, who: string): Promise<TargetInfo> {
  opts.log(`Probing ${who} …`);
  const out = await ssh.check(probeScript(opts.prefix, opts.remoteState, opts.service), "the probe");
  const info = parseProbe(out.stdout);
  opts.debug?.(`probe: ${JSON.stringify(info)}`);
  // Host checks that need no release yet (OS, arch, page size, tools).
  assessTarget(info, who, 0);
  opts.log(
    `  ${info.os || info.kernel} on ${info.machine}, ${info.pageSize / 1024} KiB pages, ${
      Math.floor(info.freeKiB / 1024)
    } MiB free, systemd ${info.systemd ? "running" : "not running"}, installed: ${
      info.installedVersion || "none"
    }`,
  );
  return info;
}

function installError(code: number, stderr: string, plan: ClonePlan, ssh: Ssh): CloneError {
  const f = installFailure(stderr);
  if (!f) return ssh.failure(code, stderr, "the install");
  const kind = f.kind === "checksum"
    ? CloneFailure.ChecksumMismatch
    : f.kind === "no-space"
    ? CloneFailure.NoSpace
    : f.kind === "broken"
    ? CloneFailure.UnsupportedTarget
    : CloneFailure.RemoteCommandFailed;
  return new CloneError(
    kind,
    `Install on ${plan.who} failed: ${f.message}`,
    kind === CloneFailure.NoSpace
      ? `Free some space under ${plan.prefix} (or use another --prefix) and run again; the target is on its previous release`
      : "The target is still on its previous release; run the clone again (with --log-level debug for details)",
  );
}

async function nonEmptyDir(path: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(path)) return true;
  } catch { /* missing */ }
  return false;
}
