#!/usr/bin/env bash
# Whole-process comparison of `cordon run` with Rex (AWS Trusted Remote Execution: `rex-runner`
# running a Rhai script under a Cedar policy), scenario by scenario, both sides timed in ONE
# hyperfine invocation each (same machine, same minute), then a table of medians with their
# spread and the ratio Cordon/Rex, and peak RSS (/usr/bin/time) of each side.
#
#   scripts/bench-compare.sh [SCENARIO...]   default: empty read-one cat-one read-many loop
#
#   empty      start-up: an empty Rhai script / the bench-ops guest returning at once
#   read-one   10,000 gated reads of one file (Rex: one open, then 10,000 authorized reads)
#   cat-one    10,000 `cat`s of one file from a Rhai script (Rex: open the directory, open and read
#              the file, each checked, per `cat`); Cordon's Rust guest reads the file 10,000 times
#   read-many  one gated read of each of 10,000 files (Rex: authorized open + read of each)
#   loop       a 1M-iteration loop adding up its counter, no host call
#
# Where the scenario is a Rhai script Cordon's Rhai runner can run (empty, cat-one, loop), a third
# command, `rhai`, runs the same script and Rex policy with `cordon run --rex-root`, in the same
# hyperfine invocation (the runner compiled into the cache first).
# Cordon side: the guest examples/bench-ops (built by scripts/build-guests.sh), compiled into
# the cache before timing (`cordon compile`), one data directory per scenario kept across the
# runs as a user's would be (the decision log grows by every run's decisions), default limits
# and durability. Rex side: its release `rex-runner`, built from REX_SRC or a clone of its
# public repository. What it needs is installed or built first: hyperfine, jq and time from
# Debian (apt-get), the guest toolchain (scripts/install-guest-toolchain.sh --no-python --no-js),
# a release `cordon`, the guest, `rex-runner`. Environment:
#   CORDON=PATH       a cordon binary to measure (default: cargo build --release -p cordon-cli)
#   CORDON_BASE=PATH  an older cordon binary (a baseline) timed in the same hyperfine call: its
#                     runs of the same commands are `cordon-base` / `rhai-base`, and a line per
#                     scenario gives new / base (each side its own data directory)
#   REX_RUNNER=PATH   a rex-runner binary (default: built from REX_SRC)
#   REX_SRC=DIR       a Rex checkout (default: cloned into BENCH_DIR/rex-src)
#   REX_TARGET=DIR    cargo target dir for Rex (default BENCH_DIR/rex-target)
#   BENCH_DIR=DIR     work files, guest, fixtures, JSON exports (default target/bench-compare)
#   RUNS=20 WARMUP=3  hyperfine runs and warm-ups per command; RSS_RUNS=5 runs for peak RSS
#   READS=10000 LOOP=1000000  the sizes of the scenarios
# hyperfine runs all of one side's runs, then the other's: on a shared, noisy machine the ratio
# drifts with the load (printed at the end); re-run, and read the IQR beside the median.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ALL=(empty read-one cat-one read-many loop)
scenarios=()
for arg in "$@"; do
    case $arg in
        -h | --help) sed -n 2,37p "$0"; exit 0 ;;
        empty | read-one | cat-one | read-many | loop) scenarios+=("$arg") ;;
        *) echo "bench-compare: unknown scenario \`$arg\` (one of: ${ALL[*]})" >&2; exit 2 ;;
    esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=("${ALL[@]}")

BENCH_DIR=${BENCH_DIR:-$ROOT/target/bench-compare}
RUNS=${RUNS:-20} WARMUP=${WARMUP:-3} RSS_RUNS=${RSS_RUNS:-5}
READS=${READS:-10000} LOOP=${LOOP:-1000000}
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)

NAME=bench-compare
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

# --- tools, cordon and its guest -----------------------------------------------------------------
need_tools git
need_cordon
GUEST=$BENCH_DIR/guests/bench-ops.wasm
log "building the bench-ops guest"
scripts/install-guest-toolchain.sh --no-python --no-js >&2
CORDON_GUEST_OUT=$BENCH_DIR/guests scripts/build-guests.sh --no-python --no-js bench-ops >&2
log "building the rhai runner"
RUNNERS=$BENCH_DIR/runners
CORDON_RUNNER_OUT=$RUNNERS scripts/build-guests.sh --no-python --no-js runners >&2
export CORDON_RUNNERS=$RUNNERS

# --- rex ---------------------------------------------------------------------------------------
if [ -z "${REX_RUNNER:-}" ]; then
    if [ -z "${REX_SRC:-}" ]; then
        REX_SRC=$BENCH_DIR/rex-src
        [ -d "$REX_SRC/.git" ] || git clone --depth 1 \
            https://github.com/trusted-remote-execution/trusted-remote-execution "$REX_SRC" >&2
    fi
    log "building rex-runner (release) from $REX_SRC"
    REX_TARGET=${REX_TARGET:-$BENCH_DIR/rex-target}
    (cd "$REX_SRC" && CARGO_TARGET_DIR=$REX_TARGET cargo build --release -p rex-runner >&2)
    REX_RUNNER=$REX_TARGET/release/rex-runner
fi
[ -x "$REX_RUNNER" ] || die "no rex-runner binary at \`$REX_RUNNER\`"

# --- fixtures: the files both sides read, the Rhai scripts, the policies -----------------------
FILES=$BENCH_DIR/root
if [ ! -f "$FILES/.made-$READS" ]; then
    log "writing $READS files under $FILES"
    rm -rf "$FILES" && mkdir -p "$FILES/files"
    printf 'the one file both sides read, 64 bytes long, over and over.....\n' >"$FILES/one.txt"
    for ((i = 0; i < READS; i++)); do printf 'file %d\n' "$i" >"$FILES/files/f$i"; done
    touch "$FILES/.made-$READS"
fi
REX=$BENCH_DIR/rex
mkdir -p "$REX"
# Rex: the policy names absolute paths; File entities are `in` their directory.
cat >"$REX/policy.cedar" <<EOF
permit (principal, action == file_system::Action::"open", resource == file_system::Dir::"$FILES");
permit (principal, action == file_system::Action::"open", resource == file_system::Dir::"$FILES/files");
permit (
  principal,
  action in [file_system::Action::"open", file_system::Action::"read"],
  resource == file_system::File::"$FILES/one.txt"
);
permit (
  principal,
  action in [file_system::Action::"open", file_system::Action::"read"],
  resource in file_system::Dir::"$FILES/files"
);
EOF
cat >"$REX/args.json" <<EOF
{
  "root": { "stringValue": "$FILES" },
  "files": { "stringValue": "$FILES/files" },
  "reads": { "longValue": $READS },
  "iterations": { "longValue": $LOOP }
}
EOF
printf '0\n' >"$REX/empty.rhai"
cat >"$REX/read-one.rhai" <<'EOF'
let dir = DirConfig().path(root).build().open(OpenDirOptions().build());
let file = dir.open_file("one.txt", OpenFileOptions().read(true).build());
let bytes = 0;
for i in 0..reads { bytes += file.read().len(); }
bytes
EOF
cat >"$REX/read-many.rhai" <<'EOF'
let dir = DirConfig().path(files).build().open(OpenDirOptions().build());
let bytes = 0;
for i in 0..reads {
    let file = dir.open_file("f" + i, OpenFileOptions().read(true).build());
    bytes += file.read().len();
}
bytes
EOF
cat >"$REX/cat-one.rhai" <<'EOF'
let bytes = 0;
for i in 0..reads { bytes += cat(root + "/one.txt").len(); }
bytes
EOF
cat >"$REX/loop.rhai" <<'EOF'
let sum = 0;
for i in 0..iterations { sum += i; }
sum
EOF
# Cordon: paths are relative to --root.
cat >"$BENCH_DIR/cordon-policy.cedar" <<'EOF'
@id("read-one")
permit (principal, action == Cordon::Action::"fs:read", resource == Cordon::File::"/one.txt");
@id("read-files")
permit (principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/files");
EOF

cordon_input() {
    case $1 in
        empty) echo '{"op":"none"}' ;;
        read-one | cat-one) echo "{\"op\":\"read\",\"path\":\"one.txt\",\"times\":$READS}" ;;
        read-many) echo "{\"op\":\"read-each\",\"dir\":\"files\",\"count\":$READS}" ;;
        loop) echo "{\"op\":\"loop\",\"iterations\":$LOOP}" ;;
    esac
}
# The command lines, as arrays (for checking and /usr/bin/time) and as one quoted string (hyperfine).
cordon_cmd() {
    local max=$((READS > 10000 ? READS : 10000))
    CMD=("${BIN:-$CORDON}" --data "$BENCH_DIR/data${BIN:+-base}-$1" run "$GUEST" --policy "$BENCH_DIR/cordon-policy.cedar"
        --root "$FILES" --max-host-calls "$max" --input "$(cordon_input "$1")")
}
# The same Rhai script and Rex policy, by Cordon's Rhai runner (scenarios with a plain script);
# a `cat` makes Rex's three checks, three host calls.
rhai_cmd() {
    local max=$((READS * 3 > 10000 ? READS * 3 : 10000))
    CMD=("${BIN:-$CORDON}" --data "$BENCH_DIR/data${BIN:+-base}-rhai-$1" run "$REX/$1.rhai" --policy "$REX/policy.cedar"
        --rex-root "$FILES" --max-host-calls "$max" --input-file "$REX/args.json")
}
has_rhai() { case $1 in empty | cat-one | loop) return 0 ;; *) return 1 ;; esac; }
rex_cmd() {
    CMD=("$REX_RUNNER" --script-file "$REX/$1.rhai" --policy-file "$REX/policy.cedar"
        --script-arguments-file "$REX/args.json")
}
quoted() { printf '%q ' "${CMD[@]}"; }

# What each side must answer, so that a failing or short-cut run is never timed.
expect() {
    case $1 in
        empty) echo 0 ;;
        read-one | cat-one) echo $((READS * $(stat -c %s "$FILES/one.txt"))) ;;
        read-many) local n=0 i; for ((i = 0; i < READS; i++)); do n=$((n + 6 + ${#i})); done; echo $n ;;
        loop) echo $((LOOP * (LOOP - 1) / 2)) ;;
    esac
}
check() {
    local s=$1 want out got
    want=$(expect "$s")
    cordon_cmd "$s"
    out=$("${CMD[@]}") || die "$s: cordon run failed: $out"
    got=$(jq -r 'select(.status == "ok") | .output | .bytes // .sum // 0' <<<"$out")
    [ "$got" = "$want" ] || die "$s: cordon answered \`$(jq -c 'del(.decisions)' <<<"$out")\`, not $want"
    if has_rhai "$s"; then
        rhai_cmd "$s"
        out=$("${CMD[@]}" 2>/dev/null) || die "$s: cordon run of the rhai script failed: $out"
        got=$(jq -r 'select(.status == "ok") | .output' <<<"$out")
        [ "$got" = "$want" ] || die "$s: the rhai runner answered \`$(jq -c 'del(.decisions)' <<<"$out")\`, not $want"
    fi
    rex_cmd "$s"
    out=$("${CMD[@]}") || die "$s: rex-runner failed: $out"
    got=$(jq -r 'select(.status == "SUCCESS") | .output' <<<"$out")
    [ "$got" = "$want" ] || die "$s: rex-runner answered \`$(cut -c1-300 <<<"$out")\`, not $want"
}

peak_rss_mib() {
    local i
    for ((i = 0; i < RSS_RUNS; i++)); do
        /usr/bin/time -f %M "${CMD[@]}" 2>&1 >/dev/null | tail -n 1
    done | sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] / 1024 }'
}

# --- measure -----------------------------------------------------------------------------------
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rows=() bases=()
for s in "${scenarios[@]}"; do
    log "$s: preparing (compile into the cache, one checked run of each side)"
    rm -rf "$BENCH_DIR/data-$s"
    "$CORDON" --data "$BENCH_DIR/data-$s" compile "$GUEST" >/dev/null
    check "$s"
    cordon_cmd "$s"; c=$(quoted); c_rss=$(peak_rss_mib)
    rex_cmd "$s"; r=$(quoted); r_rss=$(peak_rss_mib)
    h=() h_rss=-
    if has_rhai "$s"; then rhai_cmd "$s"; h=(-n rhai "$(quoted)"); h_rss=$(peak_rss_mib); fi
    if [ -n "${CORDON_BASE:-}" ]; then
        rm -rf "$BENCH_DIR/data-base-$s" "$BENCH_DIR/data-base-rhai-$s"
        "$CORDON_BASE" --data "$BENCH_DIR/data-base-$s" compile "$GUEST" >/dev/null
        BIN=$CORDON_BASE cordon_cmd "$s"; h+=(-n cordon-base "$(quoted)")
        if has_rhai "$s"; then BIN=$CORDON_BASE rhai_cmd "$s"; h+=(-n rhai-base "$(quoted)"); fi
    fi
    log "$s: hyperfine, $RUNS runs of each after $WARMUP warm-ups"
    hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$BENCH_DIR/$s.json" \
        -n cordon "$c" "${h[@]}" -n rex "$r" >"$BENCH_DIR/$s.hyperfine.txt"
    rows+=("$(jq -r --arg s "$s" --arg crss "$c_rss" --arg hrss "$h_rss" --arg rrss "$r_rss" '
        def ms: . * 1000 | (. * 10 | round) / 10;
        def q($p): (.times | sort) as $t | $t[(($t | length) - 1) * $p | floor];
        def cell: "\(.median | ms) [\(q(0.25) | ms)–\(q(0.75) | ms)] (\(.min | ms)–\(.max | ms))";
        def ratio($a; $b): ($a.median / $b.median) * 100 | round / 100 | tostring;
        (.results[] | select(.command == "cordon")) as $c | (.results[] | select(.command == "rex")) as $r
        | ([.results[] | select(.command == "rhai")] | first) as $h
        | [$s, ($c | cell), (if $h then ($h | cell) else "-" end), ($r | cell), ratio($c; $r),
           (if $h then ratio($h; $r) else "-" end), "\($crss) / \($hrss) / \($rrss)"]
        | join("\t")' "$BENCH_DIR/$s.json")")
    if [ -n "${CORDON_BASE:-}" ]; then
        bases+=("$(jq -r --arg s "$s" '
            def med($n): [.results[] | select(.command == $n) | .median] | first;
            def ratio($a; $b): if $a and $b then ($a / $b * 100 | round / 100 | tostring) else "-" end;
            def ms($v): if $v then ($v * 10000 | round / 10 | tostring) else "-" end;
            "\($s): cordon \(ms(med("cordon"))) vs base \(ms(med("cordon-base"))) ms (new/base \(ratio(med("cordon"); med("cordon-base")))); rhai \(ms(med("rhai"))) vs base \(ms(med("rhai-base"))) ms (new/base \(ratio(med("rhai"); med("rhai-base"))))"' \
            "$BENCH_DIR/$s.json")")
    fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

printf '\nwall ms: median [p25–p75] (min–max) of %s runs each; peak RSS MiB: median of %s runs\n' "$RUNS" "$RSS_RUNS"
row() { printf '%-10s %-34s %-34s %-34s %-11s %-9s %s\n' "$@"; }
row scenario cordon rhai rex cordon/rex rhai/rex 'peak RSS cordon / rhai / rex'
for line in "${rows[@]}"; do IFS=$'\t' read -r -a cells <<<"$line"; row "${cells[@]}"; done
if [ ${#bases[@]} -gt 0 ]; then
    printf '\nbaseline %s, medians in the same hyperfine calls:\n' "$CORDON_BASE"
    printf '%s\n' "${bases[@]}"
fi
printf '\nmachine: %s, %s cores; load average before %s, after %s\n' \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" "$(nproc)" "$load_before" "$load_after"
printf 'cordon: %s; rex-runner: %s; JSON exports in %s\n' "$CORDON" "$REX_RUNNER" "$BENCH_DIR"
