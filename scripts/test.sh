#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this): installs the guest toolchain, builds
# every example guest from source, checks formatting and lints, then runs every test, including
# the end-to-end tests that need the built guests (marked #[ignore] so a plain `cargo test`
# stays hermetic), then fuzzes the log's readers and the HTTP API for a bounded time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "guest toolchain"
scripts/install-guest-toolchain.sh
step "guests from source"
scripts/build-guests.sh
step "format"
cargo fmt --all -- --check
step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "tests"
cargo test --workspace --locked -- --include-ignored
step "fuzz the decision log's readers (bounded)"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}" scripts/fuzz.sh
step "fuzz the HTTP API from its OpenAPI document (bounded)"
scripts/api-fuzz.sh "${API_FUZZ_SECONDS:-60}"
step "guest SDK tests"
cargo test --manifest-path guest-sdk/Cargo.toml --locked
