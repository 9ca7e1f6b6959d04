/**
 * The permissions the agent runs with and the release's launcher script (`<release>/agent`), which runs
 * the bundle `app/main.js` with the Deno runtime shipped beside it, offline, with named permissions.
 *
 * @module
 */
import { BUNDLE_DIR, BUNDLE_ENTRY } from "../resources.ts";

/**
 * V8 flags every agent process runs with (release launcher, `deno task agent`, `deno compile`, the demo
 * and test clusters). A 1 MB young generation: the daemon allocates many short-lived buffers (weights,
 * batches, datagrams) and V8's default semi-spaces grow to 16 MB each, which alone took a training loop
 * (SGD steps and evaluations of the MLP) from ≈ 110 to ≈ 150–190 MB resident, with no difference in time
 * per round.
 */
export const V8_FLAGS = ["--v8-flags=--max-semi-space-size=1"];

/**
 * Every program the agent may run, and who runs it. A released agent can run these and nothing else
 * (`--allow-run=<list>`); tests/replicate/launcher_test.ts fails when the source runs a program that is
 * not here, and tests/replicate/released_cli_test.ts runs every subcommand of a built release.
 */
export const RUN_PROGRAMS = [
  "ssh", // agent clone: every remote step (src/replicate/ssh.ts), uploads included (no scp)
  "tar", // agent clone: packing the release and the seeded state; unpacking a fetched runtime
  "gzip", // agent clone: compressing the release parts
  "npm", // agent clone: 'npm pack' of the pinned Deno runtime for another architecture (runtime.ts)
  "getent", // agent service install: does the service user exist? (src/cli/service.ts)
  "useradd", // agent service install: create the service user
  "chown", // agent service install: give the state directory to the service user
  "systemctl", // agent service install/uninstall/status
  "xdg-open", // agent status --open: the dashboard page in the desktop's browser (src/cli/status.ts)
] as const;

/**
 * Permissions and V8 flags `deno task agent`, `deno compile` and the demo/test clusters run the agent with.
 * (The released launcher, {@linkcode RUN_FLAGS}, names the programs it may run instead of `--allow-run`.)
 */
export const AGENT_PERMISSIONS = [
  "--unstable-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
  "--allow-net",
  "--allow-run",
  ...V8_FLAGS,
];

/** Deno permissions and flags of the released agent, in one place (the launcher uses them). */
export const RUN_FLAGS = [
  "--quiet",
  // Offline and self-contained: no config or lock file from the working directory, nothing fetched.
  "--no-config",
  "--no-lock",
  "--cached-only",
  "--no-remote",
  "--no-npm",
  "--no-prompt",
  // The agent's permissions, with the programs it may run named.
  ...AGENT_PERMISSIONS.map((f) => f === "--allow-run" ? `--allow-run=${RUN_PROGRAMS.join(",")}` : f),
];

/** The launcher script (pure). */
export function launcherScript(): string {
  return `#!/bin/sh
# agent launcher: runs the agent (the bundle in ${BUNDLE_DIR}/) with the Deno runtime shipped next to it,
# offline, with the permissions the agent needs and no others (no FFI, no imports from anywhere).
set -e
self=$(readlink -f "$0")
here=$(dirname "$self")
if [ -z "\${DENO_DIR:-}" ]; then
  if [ -n "\${CACHE_DIRECTORY:-}" ]; then DENO_DIR="\${CACHE_DIRECTORY%%:*}/deno"
  elif [ -n "\${XDG_CACHE_HOME:-}" ]; then DENO_DIR="$XDG_CACHE_HOME/agent/deno"
  elif [ -n "\${HOME:-}" ] && [ "$HOME" != / ]; then DENO_DIR="$HOME/.cache/agent/deno"
  else DENO_DIR="\${TMPDIR:-/tmp}/agent-deno-$(id -u)"
  fi
fi
export DENO_DIR DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 AGENT_RELEASE_DIR="$here"
# Once per bundle and cache directory: let a short-lived process analyse and compile every chunk (see
# src/main.ts), so that the agent itself does not keep that work in memory.
warm="$DENO_DIR/agent-warm-$(cksum < "$here/${BUNDLE_DIR}/${BUNDLE_ENTRY}" | cut -d' ' -f1)"
if [ ! -e "$warm" ]; then
  if AGENT_WARM_UP=1 "$here/deno" run ${
    RUN_FLAGS.join(" ")
  } "$here/${BUNDLE_DIR}/${BUNDLE_ENTRY}" </dev/null >/dev/null 2>&1; then
    mkdir -p "$DENO_DIR" 2>/dev/null && : > "$warm" 2>/dev/null || true
  fi
fi
exec "$here/deno" run ${RUN_FLAGS.join(" ")} "$here/${BUNDLE_DIR}/${BUNDLE_ENTRY}" "$@"
`;
}
