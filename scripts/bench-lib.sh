# Shared by the whole-process bench scripts (sourced, not run): messages, root, the Debian
# tools they time with, and the release `cordon` they measure. Set NAME before sourcing.

log() { printf '%s: %s\n' "$NAME" "$*" >&2; }
die() { log "$*"; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Installs (apt-get) whichever of hyperfine, jq, time and the commands named is missing.
need_tools() {
    local missing=() tool
    command -v hyperfine >/dev/null || missing+=(hyperfine)
    command -v jq >/dev/null || missing+=(jq)
    [ -x /usr/bin/time ] || missing+=(time)
    for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]} (apt-get)"
        as_root apt-get update -qq
        as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# Sets CORDON to the binary to measure: $CORDON if set, else a release build of this tree.
need_cordon() {
    if [ -z "${CORDON:-}" ]; then
        log "building cordon (release)"
        cargo build --release --locked -p cordon-cli >&2
        CORDON=${CARGO_TARGET_DIR:-$ROOT/target}/release/cordon
    fi
    [ -x "$CORDON" ] || die "no cordon binary at $CORDON"
    CORDON=$(cd "$(dirname "$CORDON")" && pwd)/$(basename "$CORDON")
}
