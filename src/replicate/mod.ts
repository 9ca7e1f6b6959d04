/**
 * Cloning the agent to another board over SSH: {@linkcode cloneAgent} runs the whole procedure
 * (probe → release → upload → atomic install → state seed → mutual trust → service); the parts are
 * usable on their own: the SSH client wrapper ({@linkcode Ssh}), the target probe
 * ({@linkcode probeScript}, {@linkcode parseProbe}, {@linkcode assessTarget}), release packaging
 * ({@linkcode buildRelease}, {@linkcode resolveRuntime}) and the remote install scripts
 * ({@linkcode installScript}, {@linkcode uploadScript}). Failures are {@linkcode CloneError}s.
 *
 * @module
 */
export * from "./clone.ts";
export * from "./errors.ts";
export * from "./install.ts";
export * from "./probe.ts";
export * from "./release.ts";
export * from "./runtime.ts";
export * from "./ssh.ts";
