#!/usr/bin/env bash
# Build every example guest from source into build/guests/<name>.wasm and print sizes and times.
#
#   Rust    examples/<name>/Cargo.toml  cargo (wasm32-unknown-unknown, release) + wasm-tools
#                                       component new; must import nothing but cordon:agent/*
#   Python  examples/<name>/agent.py    guest-sdk/python/componentize.sh (componentize-py)
#   JS      examples/<name>/agent.js    guest-sdk/js/componentize.mjs (componentize-js)
#
# Usage: scripts/build-guests.sh [--no-python] [--no-js] [--force] [NAME...]
#
# A second run is fast: cargo rebuilds only what changed, and a Python or JS component newer than
# its sources (the example, the SDK helper and wit/) is kept (--force rebuilds it). Run
# scripts/install-guest-toolchain.sh first. Environment:
#   CORDON_GUEST_RUST=rustup|debian  which Rust to use (default: rustup if it has the wasm32
#                                    target, else Debian's rustc-web with -Zbuild-std)
#   CORDON_GUEST_TOOLS               where the installer put wasm-tools, componentize-py/-js
#   CORDON_GUEST_OUT                 output folder (default build/guests)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${CORDON_GUEST_TOOLS:-$ROOT/build/tools}
OUT=${CORDON_GUEST_OUT:-$ROOT/build/guests}
WIT=${CORDON_WIT_DIR:-$ROOT/wit}
EXAMPLES=$ROOT/examples
TARGET=wasm32-unknown-unknown

want_python=1 want_js=1 force=0
only=()
for arg in "$@"; do
    case $arg in
        --no-python) want_python=0 ;;
        --no-js) want_js=0 ;;
        --force) force=1 ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "build-guests: unknown option \`$arg\`" >&2; exit 2 ;;
        *) [ -d "$EXAMPLES/$arg" ] || { echo "build-guests: no example \`$arg\`" >&2; exit 2; }
           only+=("$arg") ;;
    esac
done

log() { printf 'build-guests: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
selected() {
    [ ${#only[@]} -eq 0 ] && return 0
    local name
    for name in "${only[@]}"; do [ "$name" = "$1" ] && return 0; done
    return 1
}
# True when $1 exists and no file under the other arguments is newer.
up_to_date() {
    local out=$1; shift
    [ "$force" = 0 ] && [ -f "$out" ] &&
        [ -z "$(find "$@" -newer "$out" -type f -not -path "*/__pycache__/*" -print -quit)" ]
}

WASM_TOOLS=$TOOLS/venv/bin/wasm-tools
[ -x "$WASM_TOOLS" ] || WASM_TOOLS=$(command -v wasm-tools) ||
    die "wasm-tools not found; run scripts/install-guest-toolchain.sh"
mkdir -p "$OUT"

results=()
record() { results+=("$(printf '%-16s %-7s %10s bytes  %6ss  %s' "$1" "$2" "$3" "$4" "$5")"); }

# --- Rust --------------------------------------------------------------------------------------
rust_names=()
for manifest in "$EXAMPLES"/*/Cargo.toml; do
    [ -f "$manifest" ] || continue
    name=$(basename "$(dirname "$manifest")")
    selected "$name" && rust_names+=("$name")
done

if [ ${#rust_names[@]} -gt 0 ]; then
    route=${CORDON_GUEST_RUST:-}
    if [ -z "$route" ]; then
        if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx $TARGET; then
            route=rustup
        elif [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ]; then
            route=debian
        else
            die "no Rust for $TARGET; run scripts/install-guest-toolchain.sh"
        fi
    fi
    # The same source gives the same bytes wherever the checkout is: a component's digest names
    # it in policies and the decision log, so no build path may leak into it.
    export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--remap-path-prefix=$ROOT=/cordon --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
    cargo_args=(build --release --target "$TARGET" --manifest-path "$EXAMPLES/Cargo.toml" --locked
        --target-dir "$EXAMPLES/target")
    for name in "${rust_names[@]}"; do cargo_args+=(-p "$name"); done
    start=$(now)
    case $route in
        rustup)
            log "rust: $(rustc --version) (rustup, prebuilt std)"
            cargo "${cargo_args[@]}"
            ;;
        debian)
            # Debian's rustc-web has no prebuilt wasm32 std: build it from rust-web-src, with our
            # size profile (which also makes the guests smaller). ~/.cargo/bin must not shadow it.
            log "rust: $(/usr/bin/rustc --version) (Debian, -Zbuild-std)"
            PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
                /usr/bin/cargo "${cargo_args[@]}" -Zbuild-std=std,panic_abort
            ;;
        *) die "CORDON_GUEST_RUST must be rustup or debian, not \`$route\`" ;;
    esac
    cargo_time=$(elapsed "$start")
    for name in "${rust_names[@]}"; do
        start=$(now)
        core=$EXAMPLES/target/$TARGET/release/${name//-/_}.wasm
        out=$OUT/$name.wasm
        [ -f "$core" ] || die "$name: cargo produced no $core"
        if ! up_to_date "$out" "$core"; then
            "$WASM_TOOLS" component new "$core" -o "$out"
        fi
        # A Rust guest needs no WASI at all: anything but cordon:agent/* means std pulled it in.
        stray=$("$WASM_TOOLS" component wit "$out" | awk '$1 == "import" && $2 !~ /^cordon:agent\// { print $2 }')
        [ -z "$stray" ] || die "$name imports more than cordon:agent: $stray"
        record "$name" rust "$(stat -c %s "$out")" "$(elapsed "$start")" "(cargo for all: ${cargo_time}s, $route)"
    done
fi

# --- Python ------------------------------------------------------------------------------------
for agent in "$EXAMPLES"/*/agent.py; do
    [ -f "$agent" ] && [ "$want_python" = 1 ] || continue
    name=$(basename "$(dirname "$agent")")
    selected "$name" || continue
    out=$OUT/$name.wasm
    start=$(now)
    if up_to_date "$out" "$(dirname "$agent")" "$ROOT/guest-sdk/python" "$WIT"; then
        note="(up to date)"
    else
        log "python: $name"
        CORDON_WIT_DIR=$WIT "$ROOT/guest-sdk/python/componentize.sh" "$agent" -o "$out" >/dev/null
        note=""
    fi
    record "$name" python "$(stat -c %s "$out")" "$(elapsed "$start")" "$note"
done

# --- JS ----------------------------------------------------------------------------------------
for agent in "$EXAMPLES"/*/agent.js; do
    [ -f "$agent" ] && [ "$want_js" = 1 ] || continue
    name=$(basename "$(dirname "$agent")")
    selected "$name" || continue
    out=$OUT/$name.wasm
    start=$(now)
    if up_to_date "$out" "$(dirname "$agent")" "$ROOT/guest-sdk/js" "$WIT"; then
        note="(up to date)"
    else
        log "js: $name"
        node "$ROOT/guest-sdk/js/componentize.mjs" "$agent" -o "$out" --wit "$WIT"
        note=""
    fi
    record "$name" js "$(stat -c %s "$out")" "$(elapsed "$start")" "$note"
done

[ ${#results[@]} -gt 0 ] || die "nothing to build"
printf '%s\n' "built into ${OUT#"$ROOT"/}:" "${results[@]}"
