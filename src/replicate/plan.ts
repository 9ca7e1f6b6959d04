/**
 * Clone, the planning half: {@linkcode planClone} turns what the probe found on the target, the release
 * for its architecture and what the local agent has into a {@linkcode ClonePlan} — what to upload, what
 * to reuse, how to install, what state to seed, which service steps to take and whether to check the
 * service's health and roll back — with no I/O at all, so every decision is unit-tested. `clone.ts`
 * carries the plan out over SSH.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { SERVICE_STATE_DIR, unitPrefixProblem } from "../systemd/mod.ts";
import { assessTarget, type TargetInfo } from "./probe.ts";
import type { InstallPlan } from "./install.ts";
import type { Release, ReleasePart } from "./release.ts";
import { shQuote } from "./ssh.ts";

/** What the local agent could seed the target with. */
export interface LocalFacts {
  /** The local config file exists. */
  hasConfig: boolean;
  /** The local checkpoint directory holds at least one file. */
  hasCheckpoints: boolean;
  /** This board has model specs of its own (`<state>/models`), which travel with every clone. */
  hasModels?: boolean;
}

/** What the user asked for. */
export interface PlanOptions {
  /** The target as people write it (`root@board (port 2222)`). */
  who: string;
  /** Install and start the systemd service when the target can run it. */
  service: boolean;
  /** The child's node name (`--name`). */
  name?: string;
  /** Seconds the health check waits for the service to answer (shown in the plan). */
  healthTimeoutS: number;
}

/** How the release gets onto the target. */
export type InstallAction = "installed" | "switched" | "up-to-date";

/** What {@linkcode planClone} decided. */
export interface ClonePlan {
  who: string;
  arch: Release["arch"];
  /** Absolute prefix and state directory on the target. */
  prefix: string;
  state: string;
  /** Remote scripts run through `sudo -n` (a non-root login installing system-wide). */
  sudo: boolean;
  action: InstallAction;
  releaseId: string;
  /** The release `current` points at before the clone ("" on a fresh board). */
  previousRelease: string;
  /** Tarballs to upload, in order (empty when up to date or already unpacked). */
  uploads: ReleasePart[];
  /** Parts copied from the target's current release instead of uploaded. */
  reuse: ("runtime" | "deps")[];
  uploadBytes: number;
  /** Compressed size of the whole release. */
  releaseBytes: number;
  /** The remote install (undefined when up to date). */
  install: InstallPlan | undefined;
  /** State to copy on first contact (never the private key). */
  seed: { config: boolean; checkpoints: boolean; models: boolean };
  /** `agent init` arguments to run on the target, or undefined when it has an identity and config. */
  init: string[] | undefined;
  /** "install": install (or restart) agent.service; "skip": --no-service; "unavailable": cannot. */
  service: "install" | "skip" | "unavailable";
  /**
   * The release `current` goes back to when the service does not become healthy on the new one
   * (undefined when nothing changes or there is no earlier release).
   */
  rollbackTo: string | undefined;
  /** How to start the agent by hand when there is no service. */
  startCommand: string;
  /** The plan in words, one step a line (printed by `--dry-run`). */
  lines: string[];
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/**
 * Checks that the service will see what clone installs (pure): the hardened unit runs
 * `<prefix>/current/agent` with `ProtectHome=yes` and keeps its state in /var/lib/agent.
 */
export function servicePlanProblem(
  p: { service: boolean; prefix: string; state: string },
): UsageError | undefined {
  if (!p.service) return undefined;
  const problem = unitPrefixProblem(p.prefix);
  if (problem) {
    return new UsageError(
      `The service cannot run from this prefix: ${problem}`,
      "Use --prefix /opt/agent (the default for root), or --no-service to install without the service",
    );
  }
  if (p.state !== SERVICE_STATE_DIR) {
    return new UsageError(
      `The service keeps its state in ${SERVICE_STATE_DIR}, not ${JSON.stringify(p.state)}`,
      "Drop --remote-state, or add --no-service to run the agent yourself with that state directory",
    );
  }
  return undefined;
}

/** True when the login installs system-wide (root, or passwordless sudo with systemd and the service wanted). */
export function installsSystemWide(info: TargetInfo, wantService: boolean): boolean {
  return info.uid === 0 || (info.sudo && info.systemd && wantService);
}

/**
 * Decides the whole clone (pure). Throws a {@linkcode CloneError} when the target cannot take the
 * release (OS, architecture, tools, disk) and a {@linkcode UsageError} when the options cannot work
 * together (a service with a prefix it cannot see).
 */
export function planClone(
  info: TargetInfo,
  release: Release,
  local: LocalFacts,
  opts: PlanOptions,
): ClonePlan {
  assessTarget(info, opts.who, 0);
  const system = installsSystemWide(info, opts.service);
  const serviceable = system && info.systemd;
  const problem = servicePlanProblem({
    service: opts.service && serviceable,
    prefix: info.prefix,
    state: info.state,
  });
  if (problem) throw problem;

  const releaseBytes = release.parts.reduce((a, p) => a + p.bytes, 0);
  const upToDate = info.currentRelease === release.id;
  const alreadyUnpacked = !upToDate && info.releases.includes(release.id);
  const action: InstallAction = upToDate ? "up-to-date" : alreadyUnpacked ? "switched" : "installed";
  // Parts whose content the current release already has are copied there instead of uploaded.
  const reuse = action === "installed"
    ? release.parts
      .filter((p) => p.name !== "app" && info.currentParts[p.name] === p.key)
      .map((p) => p.name as "runtime" | "deps")
    : [];
  const uploads = action === "installed"
    ? release.parts.filter((p) => !(reuse as string[]).includes(p.name))
    : [];
  const uploadBytes = uploads.reduce((a, u) => a + u.bytes, 0);
  // Tarballs + unpacked tree + 10% slack.
  if (uploads.length > 0) {
    assessTarget(info, opts.who, Math.ceil((uploadBytes + release.unpackedBytes * 1.1) / 1024));
  }

  const install: InstallPlan | undefined = action === "up-to-date" ? undefined : {
    prefix: info.prefix,
    id: release.id,
    unpack: uploads.map((u) => ({ name: u.uploadName, sha256: u.sha256 })),
    reuse,
    alreadyUnpacked,
  };
  const seed = {
    config: !info.stateHas.includes("config") && local.hasConfig,
    checkpoints: !info.stateHas.includes("checkpoints") && local.hasCheckpoints,
    // Specs the child already has are kept (the seed script only adds missing files).
    models: local.hasModels ?? false,
  };
  const needInit = !info.stateHas.includes("identity") || !info.stateHas.includes("config");
  const init = needInit ? (opts.name && !seed.config ? ["init", "--name", opts.name] : ["init"]) : undefined;
  const service = !opts.service ? "skip" : serviceable ? "install" : "unavailable";
  const rollbackTo = service === "install" && action !== "up-to-date" && info.currentRelease !== ""
    ? info.currentRelease
    : undefined;
  const sudo = info.uid !== 0 && system;
  const startCommand = serviceable
    ? `${sudo ? "sudo " : ""}${shQuote(`${info.prefix}/current/agent`)} service install --prefix ${
      shQuote(info.prefix)
    }`
    : `${shQuote(`${info.prefix}/current/agent`)} run --state ${shQuote(info.state)}`;

  const lines = [
    `target: ${opts.who}: ${info.os || info.kernel}, ${info.machine}, ${info.pageSize} B pages, ${
      Math.floor(info.freeKiB / 1024)
    } MiB free`,
    `release: ${release.id} (${release.kind}, ${release.arch}, ${mib(releaseBytes)} compressed, ${
      mib(release.unpackedBytes)
    } unpacked, ${release.fileCount} files)`,
  ];
  if (action === "up-to-date") {
    lines.push(`install: up to date (${info.prefix}/current -> releases/${release.id})`);
  } else if (action === "switched") {
    lines.push(`install: switch ${info.prefix}/current to the unpacked releases/${release.id}`);
  } else {
    lines.push(
      `upload: ${uploads.map((u) => `${u.name} ${mib(u.bytes)}`).join(" + ")}${
        reuse.length ? ` (${reuse.join(" and ")} reused from the current release)` : ""
      } to ${info.prefix}/.incoming`,
      `install: ${info.prefix}/releases/${release.id}, switch current${
        info.currentRelease ? `, keep previous ${info.currentRelease}` : ""
      }`,
    );
  }
  lines.push(
    `state: ${info.state}: ${
      [
        seed.config ? "copy config (node.name changed)" : "",
        seed.checkpoints ? "copy model checkpoints" : "",
        seed.models ? "copy its own model specs" : "",
        info.stateHas.includes("identity") ? "keep its identity" : "create its own identity",
      ].filter((x) => x).join(", ")
    }; the private key is never copied`,
    "trust: child trusts this agent and everything it trusts; this agent trusts the child",
    `service: ${
      service === "skip"
        ? "skipped (--no-service)"
        : service === "install"
        ? `install and start agent.service, then wait up to ${opts.healthTimeoutS} s for it to answer${
          rollbackTo ? `; if it does not, switch back to ${rollbackTo}` : ""
        }`
        : `not possible (${!info.systemd ? "systemd is not running" : "needs root or passwordless sudo"})`
    }`,
  );
  return {
    who: opts.who,
    arch: release.arch,
    prefix: info.prefix,
    state: info.state,
    sudo,
    action,
    releaseId: release.id,
    previousRelease: info.currentRelease,
    uploads,
    reuse,
    uploadBytes,
    releaseBytes,
    install,
    seed,
    init,
    service,
    rollbackTo,
    startCommand,
    lines,
  };
}
