#!/usr/bin/env bash
# Turn a Python module with a `run(input)` function into a Cordon component:
#
#   guest-sdk/python/componentize.sh path/to/agent.py -o agent.wasm [--wit DIR]
#
# The module may `import cordon_guest` (this folder) and any module beside it. componentize-py
# comes from $CORDON_GUEST_TOOLS/venv (scripts/install-guest-toolchain.sh) or from PATH.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TOOLS=${CORDON_GUEST_TOOLS:-$ROOT/build/tools}
WIT=${CORDON_WIT_DIR:-$ROOT/wit}
WORLD=cordon:agent/agent

usage() { echo "usage: $0 AGENT.py -o OUT.wasm [--wit DIR]" >&2; exit 2; }
src='' out=''
while [ $# -gt 0 ]; do
    case $1 in
        -o) out=${2:-}; shift 2 ;;
        --wit) WIT=${2:-}; shift 2 ;;
        -h | --help) usage ;;
        *) [ -z "$src" ] || usage; src=$1; shift ;;
    esac
done
[ -n "$src" ] && [ -n "$out" ] || usage
[ -f "$src" ] || { echo "componentize: no such file \`$src\`" >&2; exit 1; }

CPY=$TOOLS/venv/bin/componentize-py
[ -x "$CPY" ] || CPY=$(command -v componentize-py) ||
    { echo "componentize: componentize-py not found; run scripts/install-guest-toolchain.sh" >&2; exit 1; }

src_dir=$(cd "$(dirname "$src")" && pwd)
module=$(basename "$src" .py)
case $module in cordon_guest | cordon_entry) echo "componentize: rename \`$src\`" >&2; exit 1 ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/cordon_entry.py" <<PY
import $module
from cordon_guest import export_run

WitWorld = export_run($module.run)
PY
mkdir -p "$(dirname "$out")"
"$CPY" -d "$WIT" -w "$WORLD" componentize -p "$work" -p "$HERE" -p "$src_dir" cordon_entry -o "$out"
