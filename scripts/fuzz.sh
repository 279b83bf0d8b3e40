#!/usr/bin/env bash
# Fuzzes the decision log's readers for a bounded time: each target of host/audit/fuzz runs
# for FUZZ_SECONDS (default 60) from its committed seed corpus (host/audit/fuzz/seeds/<target>).
# What a run discovers goes to a scratch corpus under the fuzz build directory, never into the
# repository; a crash fails the script and leaves the input in host/audit/fuzz/artifacts/.
#
#   scripts/fuzz.sh                  every target, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh bundle
#
# Needs the nightly toolchain (libFuzzer instrumentation); installs cargo-fuzz if missing.
# Build output goes to $FUZZ_TARGET_DIR (default: host/audit/fuzz/target, gitignored).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../host/audit"

seconds="${FUZZ_SECONDS:-60}"
target_dir="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

for target in "${targets[@]}"; do
    corpus="$target_dir/corpus/$target"
    mkdir -p "$corpus"
    echo "==> fuzzing $target for ${seconds}s"
    # The scratch corpus first: libFuzzer adds what it finds to the first directory only.
    cargo +nightly fuzz run --target-dir "$target_dir" "$target" \
        "$corpus" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1
done
