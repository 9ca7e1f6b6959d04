/**
 * The remote side of an atomic install, as POSIX `sh` scripts (pure functions returning text):
 *
 * 1. {@linkcode uploadScript}: stores stdin as `<prefix>/.incoming/<name>.part`, renames it to `<name>`
 *    only when complete (an interrupted upload leaves only a `.part`, removed by the next clone).
 * 2. {@linkcode installScript}: checks the sha256 of each tarball, unpacks into
 *    `<prefix>/releases/.tmp-<id>`, checks every file against MANIFEST (`sha256sum -c`), runs
 *    `./agent --version`, renames the directory to `releases/<id>`, then switches `current` with
 *    `ln -s` + `mv -T` (one atomic rename), keeps the previous release and removes older ones.
 *
 * Until the final `mv -T`, `current` points at the previous release; after it, at the new one. Any
 * failure before it leaves the target on its previous release.
 *
 * Failures the user can act on are printed as `agent-install: <kind>: <message>` on stderr.
 *
 * @module
 */
import { shQuote } from "./ssh.ts";

/** Exit codes of the install scripts (besides 0). */
export const INSTALL_EXIT = { checksum: 65, broken: 66, space: 67 } as const;

/** A shell expression for `prefix` (which may start with `~/`). */
export function prefixExpr(prefix: string): string {
  return prefix.startsWith("~/") ? `"$HOME"/${shQuote(prefix.slice(2))}` : shQuote(prefix);
}

/** Removes stale partial uploads, then stores stdin as `.incoming/<name>` (atomically renamed). */
export function uploadScript(prefix: string, name: string, cleanIncoming: boolean): string {
  return [
    "set -eu",
    "umask 022",
    `prefix=${prefixExpr(prefix)}`,
    `inc="$prefix/.incoming"`,
    cleanIncoming ? `rm -rf "$inc"` : ":",
    `mkdir -p "$inc"`,
    `cat > "$inc/${name}.part"`,
    `mv -f "$inc/${name}.part" "$inc/${name}"`,
  ].join("\n");
}

/** What {@linkcode installScript} installs. */
export interface InstallPlan {
  prefix: string;
  id: string;
  /** Uploaded tarballs (in `<prefix>/.incoming`) to check and unpack, in order. */
  unpack: { name: string; sha256: string }[];
  /** Parts taken from the current release instead: `deno` is hard-linked, `node_modules` hard-link copied. */
  reuse: ("runtime" | "deps")[];
  /** The release is already unpacked under releases/ (only switch `current`). */
  alreadyUnpacked: boolean;
}

/** The install script for `plan` (pure). Prints `installed=<id>` and `previous=<id>` on success. */
export function installScript(plan: InstallPlan): string {
  const id = shQuote(plan.id);
  const lines = [
    "set -eu",
    // Releases must be readable by the service user whatever the login's umask is.
    "umask 022",
    `prefix=${prefixExpr(plan.prefix)}`,
    `id=${id}`,
    `inc="$prefix/.incoming"`,
    `rel="$prefix/releases"`,
    `fail() { echo "agent-install: $1: $2" >&2; exit "$3"; }`,
    `nospace() { if [ "$(df -Pk "$prefix" | awk 'NR==2 {print $4}')" -lt 1024 ]; then fail no-space "No space left on device under $prefix" ${INSTALL_EXIT.space}; fi; }`,
    `check() { got=$(sha256sum "$1" | cut -d' ' -f1); [ "$got" = "$2" ] || fail checksum "$1 has sha256 $got, expected $2 (corrupted in transfer)" ${INSTALL_EXIT.checksum}; }`,
    `prev=$(readlink "$prefix/current" 2>/dev/null || true); prev=\${prev##*/}`,
    `mkdir -p "$rel"`,
  ];
  if (!plan.alreadyUnpacked) {
    lines.push(
      ...plan.unpack.map((u) => `check "$inc/${u.name}" ${shQuote(u.sha256)}`),
      `tmp="$rel/.tmp-$id"`,
      `rm -rf "$tmp"`,
      `mkdir "$tmp"`,
      ...plan.unpack.map((u) =>
        `tar -xzf "$inc/${u.name}" -C "$tmp" --no-same-owner || { nospace; fail unpack "could not unpack ${u.name}" 1; }`
      ),
      ...(plan.reuse.includes("runtime")
        ? [
          `ln "$prefix/current/deno" "$tmp/deno" 2>/dev/null || cp -p "$prefix/current/deno" "$tmp/deno" || { nospace; fail unpack "could not copy the runtime" 1; }`,
        ]
        : []),
      ...(plan.reuse.includes("deps")
        ? [
          `cp -al "$prefix/current/node_modules" "$tmp/" 2>/dev/null || { rm -rf "$tmp/node_modules"; cp -a "$prefix/current/node_modules" "$tmp/"; } || { nospace; fail unpack "could not copy node_modules" 1; }`,
        ]
        : []),
      // Symlinks recorded in LINKS must match what tar created.
      `if [ -f "$tmp/LINKS" ]; then while IFS= read -r line; do p=\${line%% -> *}; t=\${line#* -> }; [ "$(readlink "$tmp/$p")" = "$t" ] || fail checksum "symlink $p does not point to $t" ${INSTALL_EXIT.checksum}; done < "$tmp/LINKS"; fi`,
      `(cd "$tmp" && sha256sum -c --quiet --strict MANIFEST >/dev/null 2>&1) || fail checksum "unpacked files do not match MANIFEST" ${INSTALL_EXIT.checksum}`,
      `out=$("$tmp/agent" --version 2>&1) || fail broken "the new release does not start on this board: $(printf '%s' "$out" | tail -n 3 | tr '\\n' ' ')" ${INSTALL_EXIT.broken}`,
      `sync 2>/dev/null || true`,
      `if [ -d "$rel/$id" ]; then rm -rf "$tmp"; else mv -T "$tmp" "$rel/$id"; fi`,
    );
  } else {
    lines.push(
      `[ -x "$rel/$id/agent" ] || fail broken "release $id is incomplete" ${INSTALL_EXIT.broken}`,
    );
  }
  lines.push(
    `ln -sfn "releases/$id" "$prefix/.current.new"`,
    `mv -T "$prefix/.current.new" "$prefix/current"`,
    `sync 2>/dev/null || true`,
    `rm -rf "$inc"`,
    // Keep the new and the previous release; remove older ones and leftovers of interrupted installs.
    `for d in "$rel"/* "$rel"/.tmp-*; do [ -e "$d" ] || continue; b=\${d##*/}; [ "$b" = "$id" ] || [ "$b" = "$prev" ] || rm -rf "$d"; done`,
    `echo "installed=$id"`,
    `echo "previous=$prev"`,
  );
  return lines.join("\n") + "\n";
}

/** Reads `agent-install: <kind>: <message>` from stderr, if present. */
export function installFailure(stderr: string): { kind: string; message: string } | undefined {
  const m = stderr.match(/agent-install: ([a-z-]+): (.*)/);
  return m ? { kind: m[1], message: m[2].trim() } : undefined;
}

/**
 * Switches `current` back to the release `previous` after `failed` did not become healthy (pure):
 * clears systemd's start limit for the unit, renames `current` atomically, removes the failed release,
 * prints `rolledBack=<previous>`. Fails (exit 66) when `previous` is not a complete release.
 */
export function rollbackScript(prefix: string, previous: string, failed: string): string {
  return [
    "set -eu",
    "umask 022",
    `prefix=${prefixExpr(prefix)}`,
    `prev=${shQuote(previous)}`,
    `bad=${shQuote(failed)}`,
    `rel="$prefix/releases"`,
    `[ -x "$rel/$prev/agent" ] || { echo "agent-install: broken: the previous release $prev is not complete; cannot switch back" >&2; exit ${INSTALL_EXIT.broken}; }`,
    `if command -v systemctl >/dev/null 2>&1; then systemctl reset-failed agent.service 2>/dev/null || true; fi`,
    `ln -sfn "releases/$prev" "$prefix/.current.new"`,
    `mv -T "$prefix/.current.new" "$prefix/current"`,
    `sync 2>/dev/null || true`,
    `[ "$bad" = "$prev" ] || rm -rf "$rel/$bad"`,
    `echo "rolledBack=$prev"`,
  ].join("\n") + "\n";
}
