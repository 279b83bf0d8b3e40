#!/usr/bin/env bash
# Build every example guest from source into build/guests/<name>.wasm, and the source runners
# into build/runners/<language>.wasm, and print sizes and times.
#
#   Rust    examples/<name>/Cargo.toml  cargo (wasm32-unknown-unknown, release) + wasm-tools
#                                       component new; must import nothing but cordon:agent/*
#                                       and the SDK's stdout/stderr
#   Python  examples/<name>/agent.py    guest-sdk/python/componentize.sh (componentize-py)
#   JS      examples/<name>/agent.js    guest-sdk/js/componentize.mjs (componentize-js)
#   runners build/runners/python.wasm   guest-sdk/python/cordon_runner.py, componentize.sh
#           build/runners/javascript.wasm guest-sdk/js/cordon-runner.js, componentize.mjs
#           build/runners/rhai.wasm     guest-sdk/rhai-runner (Rust, the rhai crate) + wasm-tools
#                                       (they run agent source sent as text, issue #15)
#
# Usage: scripts/build-guests.sh [--no-python] [--no-js] [--force] [NAME...]
#        scripts/build-guests.sh --agent DIR -o OUT.wasm
#
# --agent builds one Rust agent folder anywhere (its Cargo.toml depends on guest-sdk), as it
# builds the Rust examples, into OUT.wasm; `cordon build` uses it. Its cargo output goes to
# DIR/target, and DIR's path is not in the component.
#
# NAME is an example, or `runners` for both runners; without NAME everything is built.
# A second run is fast: cargo rebuilds only what changed, and a Python or JS component newer than
# its sources (the example, the SDK helper and wit/) is kept (--force rebuilds it). Run
# scripts/install-guest-toolchain.sh first. Environment:
#   CORDON_GUEST_RUST=rustup|debian  which Rust to use (default: rustup if it has the wasm32
#                                    target, else Debian's rustc-web with -Zbuild-std)
#   CORDON_GUEST_TOOLS               where the installer put wasm-tools, componentize-py/-js
#   CORDON_GUEST_OUT                 output folder (default build/guests)
#   CORDON_RUNNER_OUT                output folder of the runners (default build/runners)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${CORDON_GUEST_TOOLS:-$ROOT/build/tools}
OUT=${CORDON_GUEST_OUT:-$ROOT/build/guests}
RUNNER_OUT=${CORDON_RUNNER_OUT:-$ROOT/build/runners}
WIT=${CORDON_WIT_DIR:-$ROOT/wit}
EXAMPLES=$ROOT/examples
TARGET=wasm32-unknown-unknown

want_python=1 want_js=1 force=0
only=()
agent='' agent_out=''
while [ $# -gt 0 ]; do
    arg=$1
    shift
    case $arg in
        --agent) agent=${1:-}; shift ;;
        -o) agent_out=${1:-}; shift ;;
        --no-python) want_python=0 ;;
        --no-js) want_js=0 ;;
        --force) force=1 ;;
        -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
        -*) echo "build-guests: unknown option \`$arg\`" >&2; exit 2 ;;
        runners) only+=("$arg") ;;
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
[ -n "$agent" ] || mkdir -p "$OUT"

results=()
record() { results+=("$(printf '%-16s %-7s %10s bytes  %6ss  %s' "$1" "$2" "$3" "$4" "$5")"); }

# --- Rust --------------------------------------------------------------------------------------
rust_names=()
for manifest in "$EXAMPLES"/*/Cargo.toml; do
    [ -f "$manifest" ] || continue
    name=$(basename "$(dirname "$manifest")")
    selected "$name" && rust_names+=("$name")
done

# Builds Rust guests for $TARGET: `cargo_wasm MANIFEST TARGET_DIR [-p NAME...]`, with rustup's
# prebuilt std, or Debian's rustc-web building std (CORDON_GUEST_RUST picks; default: rustup
# when it has the target). Sets `route`.
cargo_wasm() {
    local manifest=$1 target_dir=$2
    shift 2
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
    # An agent folder is named last: rustc applies the last prefix that matches.
    local flags="${RUSTFLAGS:+$RUSTFLAGS }--remap-path-prefix=$ROOT=/cordon --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo${REMAP_AGENT:+ --remap-path-prefix=$REMAP_AGENT=/agent}"
    local locked=(--locked)
    [ "${UNLOCKED:-0}" = 0 ] || locked=()
    local args=(build --release --target "$TARGET" --manifest-path "$manifest" "${locked[@]}"
        --target-dir "$target_dir" "$@")
    case $route in
        rustup)
            log "rust: $(rustc --version) (rustup, prebuilt std)"
            RUSTFLAGS=$flags cargo "${args[@]}"
            ;;
        debian)
            # Debian's rustc-web has no prebuilt wasm32 std: build it from rust-web-src, with our
            # size profile (which also makes the guests smaller). ~/.cargo/bin must not shadow it.
            log "rust: $(/usr/bin/rustc --version) (Debian, -Zbuild-std)"
            PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS=$flags \
                /usr/bin/cargo "${args[@]}" -Zbuild-std=std,panic_abort
            ;;
        *) die "CORDON_GUEST_RUST must be rustup or debian, not \`$route\`" ;;
    esac
}

# A Rust guest needs no WASI but the output streams the SDK writes (its println!/eprintln! and
# panic hook: wasi:cli/stdout, wasi:cli/stderr and the wasi:io stream types they use); anything
# else means std pulled it in.
check_imports() {
    local stray
    stray=$("$WASM_TOOLS" component wit "$2" | awk '$1 == "import" && $2 !~ /^(cordon:agent\/|wasi:cli\/std(out|err)@|wasi:io\/(streams|error)@)/ { print $2 }')
    [ -z "$stray" ] || die "$1 imports more than cordon:agent and stdout/stderr: $stray"
}

# --- One Rust agent folder (cordon build) ------------------------------------------------------
if [ -n "$agent" ]; then
    [ -n "$agent_out" ] || die "--agent needs -o OUT.wasm"
    [ -f "$agent/Cargo.toml" ] || die "no Cargo.toml in \`$agent\`"
    agent=$(cd "$agent" && pwd)
    # The package's name, from the first `name = "..."` of its [package] table.
    crate=$(awk '/^\[/ { in_pkg = ($0 == "[package]") } in_pkg && /^name[[:space:]]*=/ { gsub(/^name[[:space:]]*=[[:space:]]*"|".*$/, ""); print; exit }' "$agent/Cargo.toml")
    [ -n "$crate" ] || die "no package name in \`$agent/Cargo.toml\`"
    # Its Cargo.lock is its own: the first build may add the agent to it.
    UNLOCKED=1 REMAP_AGENT=$agent cargo_wasm "$agent/Cargo.toml" "$agent/target"
    core=$agent/target/$TARGET/release/${crate//-/_}.wasm
    [ -f "$core" ] || die "$crate: cargo produced no $core (is it a cdylib?)"
    mkdir -p "$(dirname "$agent_out")"
    "$WASM_TOOLS" component new "$core" -o "$agent_out"
    check_imports "$crate" "$agent_out"
    exit 0
fi

if [ ${#rust_names[@]} -gt 0 ]; then
    pkgs=()
    for name in "${rust_names[@]}"; do pkgs+=(-p "$name"); done
    start=$(now)
    cargo_wasm "$EXAMPLES/Cargo.toml" "$EXAMPLES/target" "${pkgs[@]}"
    cargo_time=$(elapsed "$start")
    for name in "${rust_names[@]}"; do
        start=$(now)
        core=$EXAMPLES/target/$TARGET/release/${name//-/_}.wasm
        out=$OUT/$name.wasm
        [ -f "$core" ] || die "$name: cargo produced no $core"
        if ! up_to_date "$out" "$core"; then
            "$WASM_TOOLS" component new "$core" -o "$out"
        fi
        check_imports "$name" "$out"
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
    if up_to_date "$out" "$(dirname "$agent")" "$ROOT/guest-sdk/python/cordon_guest" \
        "$ROOT/guest-sdk/python/componentize.sh" "$WIT"; then
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
    if up_to_date "$out" "$(dirname "$agent")" "$ROOT/guest-sdk/js/cordon-guest.js" \
        "$ROOT/guest-sdk/js/cordon-uncaught.js" "$ROOT/guest-sdk/js/componentize.mjs" "$WIT"; then
        note="(up to date)"
    else
        log "js: $name"
        node "$ROOT/guest-sdk/js/componentize.mjs" "$agent" -o "$out" --wit "$WIT"
        note=""
    fi
    record "$name" js "$(stat -c %s "$out")" "$(elapsed "$start")" "$note"
done

# --- Runners -----------------------------------------------------------------------------------
# One component per language that runs agent source sent as text. Each is rebuilt when anything
# of its SDK (which holds the runner module) or wit/ is newer.
runner_results=()
if selected runners; then
    mkdir -p "$RUNNER_OUT"
    if [ "$want_python" = 1 ]; then
        out=$RUNNER_OUT/python.wasm
        start=$(now)
        if up_to_date "$out" "$ROOT/guest-sdk/python" "$WIT"; then
            note="(up to date)"
        else
            log "runner: python"
            CORDON_WIT_DIR=$WIT "$ROOT/guest-sdk/python/componentize.sh" \
                "$ROOT/guest-sdk/python/cordon_runner.py" -o "$out" >/dev/null
            note=""
        fi
        runner_results+=("$(printf '%-16s %-7s %10s bytes  %6ss  %s' python runner "$(stat -c %s "$out")" "$(elapsed "$start")" "$note")")
    fi
    if [ "$want_js" = 1 ]; then
        out=$RUNNER_OUT/javascript.wasm
        start=$(now)
        if up_to_date "$out" "$ROOT/guest-sdk/js" "$WIT"; then
            note="(up to date)"
        else
            log "runner: javascript"
            node "$ROOT/guest-sdk/js/componentize.mjs" "$ROOT/guest-sdk/js/cordon-runner.js" -o "$out" --wit "$WIT"
            note=""
        fi
        runner_results+=("$(printf '%-16s %-7s %10s bytes  %6ss  %s' javascript runner "$(stat -c %s "$out")" "$(elapsed "$start")" "$note")")
    fi
    # Rhai (Rex's language): a Rust guest embedding the rhai crate; cargo decides what to rebuild.
    out=$RUNNER_OUT/rhai.wasm
    start=$(now)
    crate=$ROOT/guest-sdk/rhai-runner
    cargo_wasm "$crate/Cargo.toml" "$crate/target"
    core=$crate/target/$TARGET/release/cordon_rhai_runner.wasm
    [ -f "$core" ] || die "rhai runner: cargo produced no $core"
    up_to_date "$out" "$core" || "$WASM_TOOLS" component new "$core" -o "$out"
    check_imports "rhai runner" "$out"
    runner_results+=("$(printf '%-16s %-7s %10s bytes  %6ss  %s' rhai runner "$(stat -c %s "$out")" "$(elapsed "$start")" "($route)")")
fi

[ ${#results[@]} -gt 0 ] || [ ${#runner_results[@]} -gt 0 ] || die "nothing to build"
[ ${#results[@]} -eq 0 ] || printf '%s\n' "built into ${OUT#"$ROOT"/}:" "${results[@]}"
[ ${#runner_results[@]} -eq 0 ] || printf '%s\n' "built into ${RUNNER_OUT#"$ROOT"/}:" "${runner_results[@]}"
