/**
 * Cloning the agent to other boards over SSH: {@linkcode planClone} decides (pure), {@linkcode cloneAgent}
 * acts (probe → release → plan → upload → atomic install → state seed → mutual trust → service with
 * health check and rollback), {@linkcode cloneFleet} runs many with bounded parallelism; the parts are
 * usable on their own: the SSH client wrapper ({@linkcode Ssh}), the target probe
 * ({@linkcode probeScript}, {@linkcode parseProbe}, {@linkcode assessTarget}), release packaging
 * ({@linkcode buildRelease}, {@linkcode resolveRuntime}) and the remote install scripts
 * ({@linkcode installScript}, {@linkcode uploadScript}). Failures are {@linkcode CloneError}s.
 *
 * @module
 */
export * from "./arch.ts";
export * from "./clone.ts";
export * from "./errors.ts";
export * from "./fleet.ts";
export * from "./install.ts";
export * from "./inventory.ts";
export * from "./plan.ts";
export * from "./probe.ts";
export * from "./release.ts";
export * from "./remote.ts";
export * from "./runtime.ts";
export * from "./seed.ts";
export * from "./source.ts";
export * from "./ssh.ts";
export * from "./trust.ts";
export * from "./upgrade.ts";
