#!/usr/bin/env bash
# Property-based fuzzing of `cordon serve`'s HTTP API from its OpenAPI document, with
# schemathesis: every operation is called with generated requests (as the operator, whose token
# reaches every route) for a bounded time; the run fails on any 5xx or on a response that does
# not match the document's schema.
#
#   scripts/api-fuzz.sh [SECONDS]      (default 120; needs python3 and pip)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
budget="${1:-120}"

venv="${CORDON_FUZZ_VENV:-target/api-fuzz-venv}"
if [ ! -x "$venv/bin/st" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==4.32.5"
fi

# The binary the test step built (the same features: building `-p cordon-cli` alone would
# resolve features differently and rebuild every dependency).
cargo test --workspace --locked --no-run --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/cordon"
data="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
# No runners (an empty folder): compiling them would take the bounded time's CPU; source
# requests are still generated and answered (501 `no-runner`).
"$bin" --data "$data" serve --bind 127.0.0.1:0 --runners "$data/no-runners" 2>"$data/serve.log" &
pid=$!
for _ in $(seq 100); do
    addr="$(sed -n 's|.*listening on \(http://[^ ]*\).*|\1|p' "$data/serve.log")"
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "${addr:-}" ] || { cat "$data/serve.log"; exit 1; }
token="$(cat "$data/admin.token")"
# A tenant for the generated requests to find. The two upload routes take raw bodies (wasm,
# JSON lines) that schemathesis cannot generate; the server's own tests cover them.
curl -fsS -H "Authorization: Bearer $token" -H "Content-Type: application/json" -X PUT -d '{}' "$addr/v1/admin/tenants/acme" >/dev/null

timeout --signal=INT "$budget" "$venv/bin/st" run "$addr/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,response_schema_conformance \
    --max-examples 50 \
    --exclude-name 'POST /v1/tenants/{tenant}/components' \
    --exclude-name 'POST /v1/admin/tenants/{tenant}/collections/{collection}/records' \
    || status=$?
status="${status:-0}"
# `timeout` stopping a run that found nothing is the bounded time running out, not a failure.
if [ "$status" -eq 124 ] || [ "$status" -eq 130 ]; then status=0; fi
exit "$status"
