#!/usr/bin/env bash
# Load figures for `cordon serve`: runs/s and latency (p50/p99) of POST /v1/tenants/t/runs at
# 1, 8 and 32 connections, measured from outside with wrk (installed from Debian if missing).
#
#   scripts/load.sh BINARY [BINARY...]     e.g. scripts/load.sh old/cordon target/release/cordon
#
# Each binary serves a fresh data directory on its own port; one tenant (unattended runs, up to
# 64 at once) runs each workload of WORKLOADS (default `hello-fs`) under the allow-all bundle:
#   hello-fs    the hello-fs guest (build/guests/hello-fs.wasm): reads hello.txt and overwrites
#               it, so each run makes two decisions, logs both and makes the write's durable
#               before writing
#   bench-none  the bench-ops guest with {"op": "none"}: returns at once, no decision
#   python      Python source `def main(input): return 42`, sent as text (build/runners)
#   javascript  the same in JavaScript
# (guests and runners from scripts/build-guests.sh). Binaries and workloads are measured one
# after the other in one invocation, so their figures compare. DURATION (seconds per point,
# default 10); CONNS (default "1 8 32").
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n 2,12p "$0"; exit 2; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
WORKLOADS=${WORKLOADS:-hello-fs}
for w in $WORKLOADS; do
    case $w in
        hello-fs | bench-none) need=build/guests/$w.wasm; [ "$w" = bench-none ] && need=build/guests/bench-ops.wasm ;;
        python | javascript) need=build/runners/$w.wasm ;;
        *) echo "load: unknown workload \`$w\` (hello-fs, bench-none, python, javascript)" >&2; exit 2 ;;
    esac
    [ -f "$need" ] || { echo "missing $need: run scripts/build-guests.sh" >&2; exit 2; }
done
DURATION=${DURATION:-10}
CONNS=${CONNS:-1 8 32}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
port=18300
printf '%-40s %-11s %6s %10s %10s %10s %8s\n' binary workload conns runs/s p50 p99 non-2xx
for bin in "$@"; do
    port=$((port + 1))
    data="$WORK/data-$port"
    mkdir -p "$data"
    cp -r examples/hello-fs/root "$WORK/root-$port"
        runners=()
    case " $WORKLOADS " in *" python "* | *" javascript "*) runners=(--runners build/runners) ;; esac
    "$bin" --data "$data" serve --bind "127.0.0.1:$port" "${runners[@]}" 2>"$WORK/serve-$port.log" &
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
    upload() {
        curl -fsS -H "Authorization: Bearer $token" --data-binary "@$1" \
            "$api/v1/tenants/t/components" | jq -r .digest
    }
    for w in $WORKLOADS; do
        case $w in
            hello-fs)
                body=$(jq -cn --arg c "$(upload build/guests/hello-fs.wasm)" \
                    '{component: $c, purpose: "load", engagement: "bench"}') ;;
            bench-none)
                body=$(jq -cn --arg c "$(upload build/guests/bench-ops.wasm)" \
                    '{component: $c, input: {op: "none"}, purpose: "load", engagement: "bench"}') ;;
            python)
                body=$(jq -cn '{source: {language: "python", code: "def main(input):\n    return 42\n"},
                    purpose: "load", engagement: "bench"}') ;;
            javascript)
                body=$(jq -cn '{source: {language: "javascript", code: "function main(input) {\n  return 42;\n}\n"},
                    purpose: "load", engagement: "bench"}') ;;
        esac
        # wrk's Lua takes the body as a long string: no quote of the JSON needs escaping.
        cat > "$WORK/run.lua" <<LUA
wrk.method = "POST"
wrk.body = [==[$body]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
        # Warm-up runs (the first source run of a language may wait for its runner's compile).
        for _ in 1 2 3; do
            curl -fsS -m 300 -H "Authorization: Bearer $token" -H 'content-type: application/json' \
                -d "$body" "$api/v1/tenants/t/runs" | jq -e '.status == "ok"' >/dev/null
        done
        for c in $CONNS; do
            out=$(wrk -t "$(( c < 2 ? c : 2 ))" -c "$c" -d "${DURATION}s" --latency -s "$WORK/run.lua" \
                "$api/v1/tenants/t/runs")
            rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
            p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
            p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
            bad=$(awk '/Non-2xx/ {print $5}' <<<"$out")
            printf '%-40s %-11s %6s %10s %10s %10s %8s\n' "$bin" "$w" "$c" "$rps" "$p50" "$p99" "${bad:-0}"
        done
    done
    kill -INT "$server"; wait "$server" || true
done
