#!/bin/bash
# bench:clone — clone time on real systemd boards: boots four Debian containers (systemd as PID 1) with
# ../shared/recipes/systemd-boards.sh, then times (1) building the release with a cold cache, (2) a clone to
# one fresh board, (3) a clone to three fresh boards with --parallel 3, (4) all four again (up to date).
# Needs root, systemd-container, mmdebstrap. Run under: flock /tmp/agent-boards.lock deno task bench:clone
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
R=${AGENT_BOARDS_RECIPE:-$here/../shared/recipes/systemd-boards.sh}
[ -f "$R" ] || R=$here/../../shared/recipes/systemd-boards.sh
[ -f "$R" ] || { echo "bench:clone: the recipe systemd-boards.sh is not beside the checkout" >&2; exit 2; }
export SD=/tmp/clonetest-sd
[ -d "$SD/base" ] || { mkdir -p "$SD" && bash "$R" build >/dev/null; } || exit 1
W=$(mktemp -d /tmp/clonetest-bench-XXXXXX); : > "$W/kh"
export XDG_CACHE_HOME=$W/cache HOME=$W
A="deno run --quiet --unstable-net --allow-read --allow-write --allow-env --allow-sys --allow-net --allow-run --v8-flags=--max-semi-space-size=1 $here/src/main.ts"
trap 'for i in 1 2 3 4; do bash "$R" stop clonetest-m$i >/dev/null 2>&1; done; rm -rf "$W"' EXIT
for i in 1 2 3 4; do bash "$R" start clonetest-m$i $((40 + i)) >/dev/null || exit 1; done
C="--port 2222 --identity $SD/id_ed25519 --known-hosts $W/kh --accept-new-host-key --ssh-config /dev/null --state $W/parent"
$A init --state "$W/parent" --name parent >/dev/null 2>&1
s() { date +%s.%N; }
t0=$(s); $A clone root@10.77.0.42 $C --dry-run >/dev/null 2>&1; echo "release build (cold cache): $(echo "$(s)-$t0" | bc) s"
t0=$(s); $A clone root@10.77.0.42 $C --json >"$W/one.json"; echo "one board: rc=$? $(echo "$(s)-$t0" | bc) s"
python3 -c "import json;r=json.load(open('$W/one.json'));print('  ',r['action'],r['service'],'upload',r['uploadedBytes'],'B in',r['uploadMs'],'ms; health',r['health']['waitedMs'],'ms')"
t0=$(s); $A clone root@10.77.0.43 root@10.77.0.44 root@10.77.0.45 $C --parallel 3 --json >"$W/three.json"
echo "three boards --parallel 3: rc=$? $(echo "$(s)-$t0" | bc) s"
python3 -c "import json;r=json.load(open('$W/three.json'));print('   ok',r['ok'],'per board',[(h['status'],h['ms']) for h in r['hosts']])"
t0=$(s); $A clone root@10.77.0.42 root@10.77.0.43 root@10.77.0.44 root@10.77.0.45 $C --json >/dev/null
echo "four boards up to date: rc=$? $(echo "$(s)-$t0" | bc) s"
