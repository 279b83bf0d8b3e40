#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this): installs the guest toolchain, builds
# every example guest from source, checks formatting and lints, then runs every test, including
# the end-to-end tests that need the built guests (marked #[ignore] so a plain `cargo test`
# stays hermetic).
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
step "guest SDK tests"
cargo test --manifest-path guest-sdk/Cargo.toml --locked
