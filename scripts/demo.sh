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
