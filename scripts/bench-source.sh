#!/usr/bin/env bash
# Whole-process figures for source runs: `cordon run const.py` and `cordon run const.js` (a
# `main` returning a constant, run by Cordon's runners) beside `cordon run bench-ops.wasm` with
# `{"op": "none"}` (the Rust component that returns at once: the baseline), all three timed in
# ONE hyperfine invocation with a warm compile cache, then peak RSS of each (/usr/bin/time).
#
#   scripts/bench-source.sh
#
# What it needs is installed or built first: hyperfine, jq and time from Debian (apt-get), the
# guest toolchain (scripts/install-guest-toolchain.sh), the runners and the bench-ops guest
# (scripts/build-guests.sh), a release `cordon`. Environment:
#   CORDON=PATH       the cordon binary to measure (default: cargo build --release -p cordon-cli)
#   BENCH_DIR=DIR     work files and the JSON export (default target/bench-source)
#   RUNS=30 WARMUP=3  hyperfine runs and warm-ups per command; RSS_RUNS=5 runs for peak RSS
# The source bench in benches/ (cargo bench -p cordon-benches --bench source) gives the
# in-process figures; scripts/load.sh with WORKLOADS="bench-none python javascript" the HTTP ones.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
case ${1:-} in
    -h | --help) sed -n 2,16p "$0"; exit 0 ;;
    "") ;;
    *) echo "bench-source: takes no argument (see --help)" >&2; exit 2 ;;
esac
BENCH_DIR=${BENCH_DIR:-$ROOT/target/bench-source}
RUNS=${RUNS:-30} WARMUP=${WARMUP:-3} RSS_RUNS=${RSS_RUNS:-5}
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
NAME=bench-source
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
need_tools
need_cordon

[ -x build/tools/bin/wasm-tools ] || scripts/install-guest-toolchain.sh >&2
scripts/build-guests.sh bench-ops runners >&2
GUEST=$ROOT/build/guests/bench-ops.wasm
RUNNERS=$ROOT/build/runners

# One data directory (and so one compile cache and one decision log) for all three, warmed by
# the first run of each, as a developer's would be.
DATA=$BENCH_DIR/data
rm -rf "$DATA"
mkdir -p "$DATA"
cp policies/examples/allow-all.cedar "$BENCH_DIR/policy.cedar"
printf 'def main(input):\n    return 42\n' > "$BENCH_DIR/const.py"
printf 'function main(input) {\n  return 42;\n}\n' > "$BENCH_DIR/const.js"
run=("$CORDON" --data "$DATA" run --policy "$BENCH_DIR/policy.cedar" --runners "$RUNNERS")
log "compiling the runners and the guest into the cache (first run of each)"
for cmd in "$GUEST --input {\"op\":\"none\"}" "$BENCH_DIR/const.py" "$BENCH_DIR/const.js"; do
    # shellcheck disable=SC2086 # the guest's command carries its input as a second word
    out=$("${run[@]}" $cmd) || die "cordon run $cmd failed: $out"
    jq -e '.status == "ok"' >/dev/null <<<"$out" || die "cordon run $cmd: $out"
done

q() { printf '%q ' "$@"; }
base=$(q "${run[@]}")
hyperfine -N --style basic --runs "$RUNS" --warmup "$WARMUP" \
    --export-json "$BENCH_DIR/hyperfine.json" \
    -n "rust component (baseline)" "$base $(q "$GUEST" --input '{"op":"none"}')" \
    -n "python source" "$base $(q "$BENCH_DIR/const.py")" \
    -n "javascript source" "$base $(q "$BENCH_DIR/const.js")" >&2

rss() {
    local max=0 kb
    for _ in $(seq "$RSS_RUNS"); do
        /usr/bin/time -f '%M' -o "$BENCH_DIR/rss" "$@" >/dev/null 2>&1
        kb=$(tail -1 "$BENCH_DIR/rss")
        [ "$kb" -gt "$max" ] && max=$kb
    done
    echo "$max"
}
rss_of=(
    "$(rss "${run[@]}" "$GUEST" --input '{"op":"none"}')"
    "$(rss "${run[@]}" "$BENCH_DIR/const.py")"
    "$(rss "${run[@]}" "$BENCH_DIR/const.js")"
)
printf '\n%-28s %10s %10s %10s %12s\n' command median_ms q1_ms q3_ms peak_rss_MiB
i=0
jq -r '.results[] | [.command, (.median*1000), (.times|sort|.[(length/4|floor)]*1000),
    (.times|sort|.[(length*3/4|floor)]*1000)] | @tsv' "$BENCH_DIR/hyperfine.json" |
while IFS=$'\t' read -r name median q1 q3; do
    printf '%-28s %10.1f %10.1f %10.1f %12.1f\n' "$name" "$median" "$q1" "$q3" \
        "$(awk -v k="${rss_of[$i]}" 'BEGIN { print k / 1024 }')"
    i=$((i + 1))
done
printf 'cordon: %s; JSON export in %s/hyperfine.json\n' "$CORDON" "$BENCH_DIR"
