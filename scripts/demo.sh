#!/usr/bin/env bash
# The Cordon demo: build `cordon` and two example agents from source, run them under their
# policies (real fs calls allowed and denied, every decision logged), then verify the log.
# State goes to build/demo/ (the embedded store: a redb decision log and signing key), made
# fresh each time; the example files are copied, never changed in place.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

step "Installing the guest toolchain and building the example agents from source"
scripts/install-guest-toolchain.sh --no-python --no-js
scripts/build-guests.sh --no-python --no-js hello-fs log-summarizer
cargo build --locked -q -p cordon-cli
CORDON=$PWD/target/debug/cordon

DEMO=$PWD/build/demo
rm -rf "$DEMO"
mkdir -p "$DEMO"
cp -r examples/hello-fs/root "$DEMO/hello-root"
cp -r examples/log-summarizer/root "$DEMO/logs-root"
export CORDON_DATA=$DEMO/cordon-data

step "1. hello-fs reads hello.txt (permitted) and tries to overwrite it (forbidden)"
show "$CORDON" run build/guests/hello-fs.wasm --policy examples/hello-fs/policy.cedar \
    --root "$DEMO/hello-root" --user alice --purpose demo --engagement readme
echo "hello.txt after the run: $(cat "$DEMO/hello-root/hello.txt")"

step "2. log-summarizer reads every log it may; the credentials file next to them is refused"
show "$CORDON" run build/guests/log-summarizer.wasm --policy examples/log-summarizer/policy.cedar \
    --root "$DEMO/logs-root" --user alice --purpose incident-review --engagement INC-42

step "3. A policy with a typo is refused when it is loaded, naming the typo"
printf 'permit(principal, action == Cordon::Action::"fs:raed", resource);\n' > "$DEMO/typo.cedar"
show "$CORDON" policy check "$DEMO/typo.cedar" || true

step "4. The decision log: every call above, hash-chained and signed; verify it"
show "$CORDON" audit verify

step "5. cordon serve: hello-fs as a service, run on behalf of a signed-in user"
# The service keeps its own state (server.redb, audit.redb, admin.token) in build/demo/serve-data.
# The identity provider here is `cordon token`, a development stand-in: it makes an ed25519 key
# and signs on-behalf-of JWTs with it; a real deployment registers its IdP's PEM or JWKS.
SERVE_DATA=$DEMO/serve-data
PORT=${CORDON_DEMO_PORT:-18080}
API=http://127.0.0.1:$PORT
cp -r examples/hello-fs/root "$DEMO/serve-root"
"$CORDON" --data "$SERVE_DATA" serve --bind "127.0.0.1:$PORT" 2> "$DEMO/serve.log" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fsS "$API/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$API/healthz"; echo
ADMIN=$(cat "$SERVE_DATA/admin.token")
admin() { curl -fsS -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' "$@"; }

echo "create tenant demo (runs need an on-behalf-of token; fs calls see a copy of hello-fs/root)"
admin -X PUT "$API/v1/admin/tenants/demo" \
    -d "$(jq -n --arg root "$DEMO/serve-root" '{allow_unattended: false, root: $root}')" | jq -c .
TENANT_TOKEN=$(admin -X POST "$API/v1/admin/tenants/demo/tokens" | jq -r .token)

echo "upload the policy bundle (validated against the schema) and make it active"
admin -X POST "$API/v1/admin/tenants/demo/bundles" \
    -d "$(jq -n --rawfile p examples/hello-fs/policy.cedar '{files: {"policy.cedar": $p}, activate: true}')" | jq -c .

echo "register the identity provider's public key"
"$CORDON" token keygen "$DEMO/idp" >/dev/null
admin -X POST "$API/v1/admin/tenants/demo/identity-keys" \
    -d "$(jq -n --rawfile pem "$DEMO/idp.pub" '{issuer: "https://idp.example", audience: "cordon", pem: $pem, algorithm: "EdDSA"}')" | jq -c .

echo "upload the component (as the tenant)"
DIGEST=$(curl -fsS -H "Authorization: Bearer $TENANT_TOKEN" --data-binary @build/guests/hello-fs.wasm \
    "$API/v1/tenants/demo/components" | jq -r .digest)
echo "component $DIGEST"

echo "without an on-behalf-of token the run is refused:"
curl -sS -H "Authorization: Bearer $TENANT_TOKEN" -H 'content-type: application/json' \
    -d "$(jq -n --arg c "$DIGEST" '{component: $c, purpose: "demo", engagement: "readme"}')" \
    "$API/v1/tenants/demo/runs" | jq -c .

echo "with alice's signed token: the read is allowed, the write denied"
JWT=$("$CORDON" token sign --key "$DEMO/idp.key" --sub alice --role analyst --purpose demo --engagement readme)
curl -fsS -H "Authorization: Bearer $TENANT_TOKEN" -H 'content-type: application/json' \
    -d "$(jq -n --arg c "$DIGEST" --arg t "$JWT" '{component: $c, token: $t, purpose: "demo", engagement: "readme"}')" \
    "$API/v1/tenants/demo/runs" \
    | jq '{status, user, output: .report.output, decisions: [.report.decisions[] | {seq, action, resource, decision, policy_ids}], audit: .report.audit}'

echo "stop the server (ctrl-c: stop accepting, finish runs, close the log), then verify its log"
kill -INT "$SERVER"
wait "$SERVER"
trap - EXIT
show "$CORDON" --data "$SERVE_DATA" audit verify
