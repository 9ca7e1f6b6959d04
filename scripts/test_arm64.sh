#!/usr/bin/env bash
# `deno task test:arm64`: runs scripts/arm64_check.ts natively and with the arm64 build of Deno
# 2.9.5 under qemu-aarch64-static, and checks that both architectures give the same seeded initial
# weights (SHA-256) and the same predictions (within 1e-5) on the JavaScript, wasm and cpu paths.
#
# Needs (Debian): dpkg --add-architecture arm64 && apt-get update &&
#   apt-get install -y qemu-user-static libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64
# The arm64 Deno comes from npm (@deno/linux-arm64-glibc) and is cached in $AGENT_ARM64_CACHE
# (default ~/.cache/agent-arm64). About a minute; qemu runs Deno ~50x slower than native.
set -euo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=2.9.5
CACHE="${AGENT_ARM64_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-arm64}"
ARM_DENO="$CACHE/deno-$DENO_VERSION/deno"
QEMU="$(command -v qemu-aarch64-static || true)"

if [[ -z "$QEMU" || ! -e /lib/aarch64-linux-gnu/libc.so.6 ]]; then
  echo "test:arm64: needs qemu-aarch64-static and the arm64 C libraries. Install them with:" >&2
  echo "  dpkg --add-architecture arm64 && apt-get update && apt-get install -y qemu-user-static libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64" >&2
  exit 1
fi

if [[ ! -x "$ARM_DENO" ]]; then
  echo "test:arm64: fetching @deno/linux-arm64-glibc@$DENO_VERSION from npm into $CACHE" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "@deno/linux-arm64-glibc@$DENO_VERSION" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$(dirname "$ARM_DENO")"
  install -m 0755 "$tmp/package/deno" "$ARM_DENO"
fi

out="$(mktemp -d)"
trap 'rm -rf "$out" ${tmp:+"$tmp"}' EXIT
"$QEMU" "$ARM_DENO" --version | head -1 >&2
deno run --quiet --allow-read --allow-env --allow-write --allow-sys scripts/arm64_check.ts >"$out/x86_64.json"
"$QEMU" "$ARM_DENO" run --quiet --allow-read --allow-env --allow-write --allow-sys scripts/arm64_check.ts >"$out/aarch64.json"
deno run --quiet --allow-read scripts/arm64_check.ts --compare "$out/x86_64.json" "$out/aarch64.json"
