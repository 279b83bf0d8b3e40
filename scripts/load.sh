#!/usr/bin/env bash
# Load figures for `cordon serve`: runs/s and latency (p50/p99) of POST /v1/tenants/t/runs at
# 1, 8 and 32 connections, measured from outside with wrk (installed from Debian if missing).
#
#   scripts/load.sh BINARY [BINARY...]     e.g. scripts/load.sh old/cordon target/release/cordon
#
# Each binary serves a fresh data directory on its own port; one tenant (unattended runs, up to
# 64 at once) runs the hello-fs guest (build/guests/hello-fs.wasm, from
# scripts/build-guests.sh) under the allow-all bundle: it reads hello.txt and overwrites it, so
# each run makes two decisions, logs both and makes the write's durable before writing. Binaries are measured one after the
# other in one invocation, so their figures compare. DURATION (seconds per point, default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n 2,12p "$0"; exit 2; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
GUEST=build/guests/hello-fs.wasm
[ -f "$GUEST" ] || { echo "missing $GUEST: run scripts/build-guests.sh" >&2; exit 2; }
DURATION=${DURATION:-10}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
port=18300
printf '%-40s %6s %10s %10s %10s %8s\n' binary conns runs/s p50 p99 non-2xx
for bin in "$@"; do
    port=$((port + 1))
    data="$WORK/data-$port"
    mkdir -p "$data"
    cp -r examples/hello-fs/root "$WORK/root-$port"
    "$bin" --data "$data" serve --bind "127.0.0.1:$port" 2>"$WORK/serve-$port.log" &
    server=$!
    api="http://127.0.0.1:$port"
    for _ in $(seq 1 200); do curl -fsS "$api/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    admin=$(cat "$data/admin.token")
    a() { curl -fsS -H "Authorization: Bearer $admin" -H 'content-type: application/json' "$@"; }
    a -X PUT "$api/v1/admin/tenants/t" -d "$(jq -n --arg root "$WORK/root-$port" \
        '{allow_unattended: true, root: $root, limits: {max_concurrent_runs: 64}}')" >/dev/null
    token=$(a -X POST "$api/v1/admin/tenants/t/tokens" | jq -r .token)
    a -X POST "$api/v1/admin/tenants/t/bundles" -d "$(jq -n --rawfile p policies/examples/allow-all.cedar \
        '{files: {"allow-all.cedar": $p}, activate: true}')" >/dev/null
    digest=$(curl -fsS -H "Authorization: Bearer $token" --data-binary "@$GUEST" \
        "$api/v1/tenants/t/components" | jq -r .digest)
    body=$(jq -cn --arg c "$digest" '{component: $c, purpose: "load", engagement: "bench"}')
    cat > "$WORK/run.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
    # One warm-up run (compiles nothing: the upload did; fills caches).
    curl -fsS -H "Authorization: Bearer $token" -H 'content-type: application/json' -d "$body" \
        "$api/v1/tenants/t/runs" | jq -e '.status == "ok"' >/dev/null
    for c in 1 8 32; do
        out=$(wrk -t "$(( c < 2 ? c : 2 ))" -c "$c" -d "${DURATION}s" --latency -s "$WORK/run.lua" \
            "$api/v1/tenants/t/runs")
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
        p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
        bad=$(awk '/Non-2xx/ {print $5}' <<<"$out")
        printf '%-40s %6s %10s %10s %10s %8s\n' "$bin" "$c" "$rps" "$p50" "$p99" "${bad:-0}"
    done
    kill -INT "$server"; wait "$server" || true
done
