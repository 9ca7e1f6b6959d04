/**
 * `agent clone user@host`, the whole procedure: probe the target, build (or reuse) the release for its
 * architecture, upload what it lacks, install atomically, seed its state (config and model checkpoints,
 * never the private key), let it create its own identity, make parent and child trust each other, and
 * install the systemd service when the login may.
 *
 * The local agent (identity, trust store) is reached through {@linkcode LocalAgent}, passed in by the CLI;
 * the remote one through its own `agent` commands run over SSH.
 *
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { SERVICE_STATE_DIR, unitPrefixProblem } from "../service/systemd.ts";
import { CloneError, CloneFailure } from "./errors.ts";
import { installFailure, type InstallPlan, installScript, uploadScript } from "./install.ts";
import { assessTarget, parseProbe, probeScript } from "./probe.ts";
import { appRoot, buildRelease, type Release } from "./release.ts";
import { hostArch, resolveRuntime } from "./runtime.ts";
import { describeTarget, shQuote, Ssh, type SshOptions } from "./ssh.ts";

/** An agent's public identity, as `agent id --json` prints it. */
export interface AgentIdentity {
  name: string;
  fingerprint: string;
  publicKey: string;
  payload: string;
}

/** One trust store entry, as `agent trust list --json` prints it. */
export interface TrustEntry {
  name: string;
  fingerprint: string;
  publicKey?: string;
  payload: string;
  revoked?: boolean;
}

/** The agent running the clone. */
export interface LocalAgent {
  identity(): Promise<AgentIdentity>;
  trusted(): Promise<TrustEntry[]>;
  /** Adds a peer (by its pairing payload) to the local trust store. */
  trust(payload: string): Promise<void>;
  /** Path of the config file (may not exist). */
  configPath: string;
  /** Directory of model checkpoints (may not exist). */
  checkpointsDir: string;
  /** Directory of this board's own model specs, `<state>/models` (may not exist). */
  modelsDir?: string;
}

/** What to do. */
export interface CloneOptions {
  ssh: SshOptions;
  /** Install prefix on the target (default /opt/agent for root, ~/.local/lib/agent otherwise). */
  prefix?: string;
  /** State directory on the target (default /var/lib/agent for root, ~/.local/state/agent otherwise). */
  remoteState?: string;
  /** The child's node name (default: its host name). */
  name?: string;
  /** Install and start the systemd unit when possible. */
  service: boolean;
  dryRun: boolean;
  cacheDir: string;
  /** A Deno runtime binary for the target's architecture (instead of the cache / npm). */
  runtimeFile?: string;
  /** A compiled agent binary for the target's architecture (ship it instead of the source tree). */
  binary?: string;
  /** Upload rate limit in bytes per second. */
  rateLimit?: number;
  signal?: AbortSignal;
  /** Human progress lines. */
  log: (line: string) => void;
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
  /** "installed", "switched" (already unpacked) or "up-to-date". */
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
  startCommand: string;
  changed: boolean;
  plan: string[];
}

/** Runs the clone; throws {@linkcode CloneError} with a kind and a hint on every failure. */
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

  // 1. Probe.
  opts.log(`Probing ${who} …`);
  const probeOut = await guard(
    ssh.check(probeScript(opts.prefix, opts.remoteState, opts.service), "the probe"),
  );
  const info = parseProbe(probeOut.stdout);
  opts.debug?.(`probe: ${JSON.stringify(info)}`);
  // Host checks that need no release yet (OS, arch, page size, tools).
  assessTarget(info, who, 0);
  const arch = info.arch!;
  const system = info.uid === 0 || (info.sudo && info.systemd && opts.service);
  ssh.sudo = info.uid !== 0 && system;
  const serviceProblem = servicePlanProblem({
    service: opts.service && system && info.systemd,
    prefix: info.prefix,
    state: info.state,
  });
  if (serviceProblem) throw serviceProblem;
  opts.log(
    `  ${info.os || info.kernel} on ${info.machine}, ${info.pageSize / 1024} KiB pages, ${
      Math.floor(info.freeKiB / 1024)
    } MiB free, systemd ${info.systemd ? "running" : "not running"}, installed: ${
      info.installedVersion || "none"
    }`,
  );

  // 2. The release for its architecture.
  const release = await guard(prepareRelease(opts, arch));
  interrupted(); // Ctrl-C while packaging locally: stop before touching the target.
  const totalUpload = release.parts.reduce((a, p) => a + p.bytes, 0);
  const upToDate = info.currentRelease === release.id;
  const alreadyUnpacked = !upToDate && info.releases.includes(release.id);
  // Parts whose content the current release already has are copied there instead of uploaded.
  const reuse = release.parts
    .filter((p) => p.name !== "app" && info.currentParts[p.name] === p.key)
    .map((p) => p.name as "runtime" | "deps");
  const uploads = upToDate || alreadyUnpacked
    ? []
    : release.parts.filter((p) => !(reuse as string[]).includes(p.name));
  const uploadBytes = uploads.reduce((a, u) => a + u.bytes, 0);
  const upload = (u: { name: string; bytes: number }) => `${u.name} ${mib(u.bytes)}`;
  if (uploads.length > 0) {
    // Tarballs + unpacked tree + 10% slack.
    assessTarget(info, who, Math.ceil((uploadBytes + release.unpackedBytes * 1.1) / 1024));
  }
  const agentCmd = (args: string[]) =>
    [`"$prefix"/current/agent`, ...args.map(shQuote), "--state", `"$state"`].join(" ");
  const stateVars = `prefix=${shQuote(info.prefix)}\nstate=${shQuote(info.state)}\n`;
  const startCommand = system && info.systemd
    ? `${ssh.sudo ? "sudo " : ""}${shQuote(`${info.prefix}/current/agent`)} service install --prefix ${
      shQuote(info.prefix)
    }`
    : `${shQuote(`${info.prefix}/current/agent`)} run --state ${shQuote(info.state)}`;

  const plan: string[] = [];
  plan.push(
    `target: ${who}: ${info.os || info.kernel}, ${info.machine}, ${info.pageSize} B pages, ${
      Math.floor(info.freeKiB / 1024)
    } MiB free`,
  );
  plan.push(
    `release: ${release.id} (${release.kind}, ${arch}, ${mib(totalUpload)} compressed, ${
      mib(release.unpackedBytes)
    } unpacked, ${release.fileCount} files)`,
  );
  if (upToDate) plan.push(`install: up to date (${info.prefix}/current -> releases/${release.id})`);
  else if (alreadyUnpacked) {
    plan.push(`install: switch ${info.prefix}/current to the unpacked releases/${release.id}`);
  } else {
    plan.push(
      `upload: ${uploads.map(upload).join(" + ")}${
        reuse.length ? ` (${reuse.join(" and ")} reused from the current release)` : ""
      } to ${info.prefix}/.incoming`,
    );
    plan.push(
      `install: ${info.prefix}/releases/${release.id}, switch current${
        info.currentRelease ? `, keep previous ${info.currentRelease}` : ""
      }`,
    );
  }
  const seedConfig = !info.stateHas.includes("config") && await exists(local.configPath);
  const seedCheckpoints = !info.stateHas.includes("checkpoints") && await nonEmptyDir(local.checkpointsDir);
  // The board's own specs travel with it (specs the child already has are kept as they are).
  const seedModels = local.modelsDir !== undefined && await nonEmptyDir(local.modelsDir);
  plan.push(
    `state: ${info.state}: ${
      [
        seedConfig ? "copy config (node.name changed)" : "",
        seedCheckpoints ? "copy model checkpoints" : "",
        seedModels ? "copy its own model specs" : "",
        info.stateHas.includes("identity") ? "keep its identity" : "create its own identity",
      ].filter((x) => x).join(", ")
    }; the private key is never copied`,
  );
  plan.push("trust: child trusts this agent and everything it trusts; this agent trusts the child");
  plan.push(
    `service: ${
      !opts.service
        ? "skipped (--no-service)"
        : system && info.systemd
        ? "install and start agent.service"
        : `not possible (${!info.systemd ? "systemd is not running" : "needs root or passwordless sudo"})`
    }`,
  );

  const report: CloneReport = {
    target: who,
    arch,
    os: info.os,
    prefix: info.prefix,
    state: info.state,
    release: release.id,
    previousRelease: info.currentRelease,
    action: opts.dryRun ? "dry-run" : upToDate ? "up-to-date" : alreadyUnpacked ? "switched" : "installed",
    uploadedBytes: 0,
    uploaded: [],
    reused: upToDate || alreadyUnpacked ? [] : reuse,
    uploadMs: 0,
    releaseBytes: totalUpload,
    seeded: [],
    trustAdded: { onChild: [], onParent: [] },
    service: "skipped",
    startCommand,
    changed: false,
    plan,
  };
  if (opts.dryRun) return report;

  // 3. Upload and install.
  if (!upToDate) {
    const started = Date.now();
    let first = true;
    for (const u of uploads) {
      interrupted();
      opts.log(`Uploading ${u.name} (${mib(u.bytes)}) …`);
      await guard(
        ssh.upload(u.tarball, uploadScript(info.prefix, u.uploadName, first), `the upload of the ${u.name}`, {
          rateLimit: opts.rateLimit,
          onProgress: (sent) => opts.progress?.(u.name, sent, u.bytes),
        }),
      );
      first = false;
      report.uploadedBytes += u.bytes;
      report.uploaded.push(u.name);
    }
    report.uploadMs = Date.now() - started;
    const installPlan: InstallPlan = {
      prefix: info.prefix,
      id: release.id,
      unpack: uploads.map((u) => ({ name: u.uploadName, sha256: u.sha256 })),
      reuse,
      alreadyUnpacked,
    };
    interrupted();
    opts.log(alreadyUnpacked ? "Switching to the unpacked release …" : "Verifying and installing …");
    const r = await guard(ssh.run(installScript(installPlan), "the install"));
    if (r.code !== 0) throw installError(r.code, r.stderr, who, ssh, info.prefix);
    report.changed = true;
    opts.log(`Installed ${release.id} in ${info.prefix}/releases; ${info.prefix}/current switched`);
  } else {
    opts.log(`Release ${release.id} is already installed: up to date`);
  }

  // 4. State: seed config and checkpoints on first contact; never the private key.
  if (seedConfig || seedCheckpoints || seedModels) {
    const bundle = await stateBundle(local, seedConfig, seedCheckpoints, opts.name, seedModels);
    const script = [
      "set -eu",
      stateVars,
      `umask 077`,
      `mkdir -p "$state"`,
      `tmp="$state/.seed-$$"`,
      `rm -rf "$tmp"; mkdir "$tmp"`,
      `tar -xzf - -C "$tmp" --no-same-owner`,
      `if [ -f "$tmp/agent.yaml" ] && [ ! -e "$state/agent.yaml" ]; then mv "$tmp/agent.yaml" "$state/agent.yaml"; echo seeded=config; fi`,
      `if [ -d "$tmp/checkpoints" ] && { [ ! -d "$state/checkpoints" ] || [ -z "$(ls -A "$state/checkpoints")" ]; }; then rm -rf "$state/checkpoints"; mv "$tmp/checkpoints" "$state/checkpoints"; echo seeded=checkpoints; fi`,
      `if [ -d "$tmp/models" ]; then mkdir -p "$state/models"; for f in "$tmp"/models/*.yaml; do [ -e "$state/models/$(basename "$f")" ] || mv "$f" "$state/models/"; done; echo seeded=models; fi`,
      `rm -rf "$tmp"`,
    ].join("\n");
    const r = await guard(ssh.check(script, "copying the state", bundle));
    report.seeded = [...r.stdout.matchAll(/^seeded=(\w+)/gm)].map((m) => m[1]);
    if (report.seeded.length) report.changed = true;
  }

  // 5. The child's own identity, then mutual trust (one SSH session to read, one to write).
  const remoteScript = (commands: string[]) => ["set -eu", stateVars, ...commands].join("\n") + "\n";
  const needInit = !info.stateHas.includes("identity") || !info.stateHas.includes("config");
  const readOut = (await guard(ssh.check(
    remoteScript([
      ...(needInit
        ? [`${agentCmd(opts.name && !seedConfig ? ["init", "--name", opts.name] : ["init"])} >&2`]
        : []),
      "echo @@id",
      agentCmd(["id", "--json"]),
      "echo @@trust",
      agentCmd(["trust", "list", "--json"]),
    ]),
    "reading the target's identity",
  ))).stdout;
  if (needInit) report.changed = true;
  const [, idText = "", trustText = ""] = readOut.split(/^@@(?:id|trust)$/m);
  const child = parseJson<AgentIdentity>(idText, "agent id");
  const parent = await local.identity();
  report.child = child;
  report.parent = parent;
  if (child.fingerprint === parent.fingerprint) {
    throw new CloneError(
      CloneFailure.RemoteCommandFailed,
      `The target's agent has the same identity as this one (${parent.fingerprint})`,
      "A private key was copied by hand; remove <state>/identity on the target and run the clone again",
    );
  }
  const childTrust = parseJson<TrustEntry[]>(trustText, "agent trust list");
  // Peers the child already has (trusted, or revoked there on purpose) are left as they are.
  const childKnows = new Set(childTrust.map((t) => t.fingerprint));
  const parentTrust = (await local.trusted()).filter((t) => !t.revoked);
  const toChild = [
    { name: parent.name, fingerprint: parent.fingerprint, payload: parent.payload },
    ...parentTrust.filter((t) => t.fingerprint !== child.fingerprint),
  ].filter((t) => !childKnows.has(t.fingerprint));
  if (toChild.length > 0) {
    const out = (await guard(ssh.check(
      remoteScript(toChild.map((t) => agentCmd(["trust", t.payload, "--yes"]))),
      "agent trust on the target",
    ))).stdout;
    for (const line of out.split("\n").filter((l) => /^Trusted /.test(l))) {
      opts.log(`  [${opts.ssh.target.host}] ${line}`);
    }
    report.trustAdded.onChild.push(...toChild.map((t) => t.fingerprint));
  }
  if (!parentTrust.some((t) => t.fingerprint === child.fingerprint)) {
    await local.trust(child.payload);
    report.trustAdded.onParent.push(child.fingerprint);
  }
  if (report.trustAdded.onChild.length || report.trustAdded.onParent.length) report.changed = true;

  // 6. Service.
  if (!opts.service) {
    report.service = "skipped";
  } else if (!(system && info.systemd)) {
    report.service = "unavailable";
  } else {
    const out = (await guard(ssh.check(
      remoteScript([
        agentCmd([
          "service",
          "install",
          "--prefix",
          info.prefix,
          ...(report.changed ? ["--restart"] : []),
          "--json",
        ]),
      ]),
      "installing the service",
    ))).stdout;
    const s = parseJson<{ changed: boolean; started: boolean; restarted: boolean }>(
      out,
      "agent service install",
    );
    report.service = s.restarted ? "restarted" : s.started ? "started" : "unchanged";
    if (s.changed) report.changed = true;
  }
  return report;
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

async function prepareRelease(opts: CloneOptions, arch: "x86_64" | "aarch64"): Promise<Release> {
  const note = (n: string) => opts.log(`  ${n}`);
  if (opts.binary) {
    return await buildRelease({ arch, binary: opts.binary, cacheDir: opts.cacheDir, onNote: note });
  }
  if (!appRoot()) {
    // A compiled binary: ship itself when the architecture matches.
    if (hostArch() !== arch) {
      throw new CloneError(
        CloneFailure.UnsupportedTarget,
        `This agent is a compiled ${hostArch()} binary; the target is ${arch}`,
        `Pass --binary FILE with the ${arch} build (deno task compile), or clone from a source checkout`,
      );
    }
    return await buildRelease({ arch, binary: Deno.execPath(), cacheDir: opts.cacheDir, onNote: note });
  }
  const runtime = await resolveRuntime(arch, {
    cacheDir: opts.cacheDir,
    file: opts.runtimeFile,
    onNote: note,
  });
  return await buildRelease({ arch, runtime, cacheDir: opts.cacheDir, onNote: note });
}

function installError(code: number, stderr: string, who: string, ssh: Ssh, prefix: string): CloneError {
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
    `Install on ${who} failed: ${f.message}`,
    kind === CloneFailure.NoSpace
      ? `Free some space under ${prefix} (or use another --prefix) and run again; the target is on its previous release`
      : "The target is still on its previous release; run the clone again (with --log-level debug for details)",
  );
}

/** A gzip'd tar of the state to seed: the config (with the child's node name) and the checkpoints. */
async function stateBundle(
  local: LocalAgent,
  config: boolean,
  checkpoints: boolean,
  name: string | undefined,
  models = false,
): Promise<Uint8Array> {
  const stage = await Deno.makeTempDir({ prefix: "agent-seed-" });
  try {
    const names: string[] = [];
    if (config) {
      const { parseDocument } = await import("yaml");
      const doc = parseDocument(await Deno.readTextFile(local.configPath));
      doc.setIn(["node", "name"], name ?? "");
      // model.spec is a path on this machine; the child runs the copy in its <state>/models by id.
      const specPath = doc.getIn(["model", "spec"]);
      if (typeof specPath === "string" && specPath !== "") {
        const { readSpecFile } = await import("../model/catalog.ts");
        // (Gone here too: this agent runs its <state>/models copy named by model.id, and so will the child.)
        const spec = await readSpecFile(specPath).then((r) => r.spec, () => undefined);
        if (spec) doc.setIn(["model", "id"], spec.id);
        doc.setIn(["model", "spec"], "");
      }
      await Deno.writeTextFile(join(stage, "agent.yaml"), doc.toString(), { mode: 0o600 });
      names.push("agent.yaml");
    }
    if (checkpoints) {
      await copyTree(local.checkpointsDir, join(stage, "checkpoints"));
      names.push("checkpoints");
    }
    if (models && local.modelsDir) {
      await copyTree(local.modelsDir, join(stage, "models"));
      names.push("models");
    }
    const out = await new Deno.Command("tar", {
      args: ["-czf", "-", "--owner=0", "--group=0", "--numeric-owner", "-C", stage, ...names],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`tar of the state failed: ${new TextDecoder().decode(out.stderr)}`);
    return out.stdout;
  } finally {
    await Deno.remove(stage, { recursive: true });
  }
}

/** Copies regular files and directories (symlinks and anything else are skipped). */
async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true, mode: 0o700 });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyTree(join(from, e.name), join(to, e.name));
    else if (e.isFile && !/\.tmp-\d+-[0-9a-f]{8}$/.test(e.name)) {
      await Deno.copyFile(join(from, e.name), join(to, e.name));
    }
  }
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CloneError(
      CloneFailure.RemoteCommandFailed,
      `'${what} --json' on the target printed something that is not JSON: ${
        JSON.stringify(text.slice(0, 200))
      }`,
      "The installed release may be damaged; run the clone again",
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function nonEmptyDir(path: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(path)) return true;
  } catch { /* missing */ }
  return false;
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** A one-line progress bar (pure): `[#####-----]  42% 12.3/29.0 MiB 8.1 MiB/s`. */
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
