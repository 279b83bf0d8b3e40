#!/usr/bin/env bash
# Turn a Python module with a `run(input)` function into a Cordon component:
#
#   guest-sdk/python/componentize.sh path/to/agent.py -o agent.wasm [--wit DIR]
#                                    [--requirements FILE --deps-dir DIR]
#
# The module may `import cordon_guest` (this folder) and any module beside it (the .py files of
# its folder and the folders below). componentize-py comes from $CORDON_GUEST_TOOLS/venv
# (scripts/install-guest-toolchain.sh) or from PATH.
#
# Isolated: the component holds the agent's .py files, this SDK and the packages
# `--requirements` declares (pip-installed into --deps-dir, pure-Python wheels only), and no
# site-packages of the machine that builds it.
#
# Reproducible: componentize-py runs on copies of those files staged with a fixed
# modification time (it bundles bytecode whose header holds the source's), so the same source
# gives the same bytes wherever its folder is and whenever it was last touched.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TOOLS=${CORDON_GUEST_TOOLS:-$ROOT/build/tools}
WIT=${CORDON_WIT_DIR:-$ROOT/wit}
WORLD=cordon:agent/agent
# The Python componentize-py embeds: what packages are installed for.
PYTHON_VERSION=3.14

usage() { echo "usage: $0 AGENT.py -o OUT.wasm [--wit DIR] [--requirements FILE --deps-dir DIR]" >&2; exit 2; }
die() { echo "componentize: $*" >&2; exit 1; }
src='' out='' requirements='' deps_dir=''
while [ $# -gt 0 ]; do
    case $1 in
        -o) out=${2:-}; shift 2 ;;
        --wit) WIT=${2:-}; shift 2 ;;
        --requirements) requirements=${2:-}; shift 2 ;;
        --deps-dir) deps_dir=${2:-}; shift 2 ;;
        -h | --help) usage ;;
        *) [ -z "$src" ] || usage; src=$1; shift ;;
    esac
done
[ -n "$src" ] && [ -n "$out" ] || usage
[ -z "$requirements" ] || [ -n "$deps_dir" ] || usage
[ -f "$src" ] || die "no such file \`$src\`"

CPY=$TOOLS/venv/bin/componentize-py
[ -x "$CPY" ] || CPY=$(command -v componentize-py) ||
    die "componentize-py not found; run scripts/install-guest-toolchain.sh"

src_dir=$(cd "$(dirname "$src")" && pwd)
module=$(basename "$src" .py)
case $module in cordon_guest | cordon_entry) die "rename \`$src\`" ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/entry" "$work/sdk" "$work/app" "$work/env/lib/python$PYTHON_VERSION/site-packages"

# The declared packages, installed once per change of the list into --deps-dir.
site=$work/env/lib/python$PYTHON_VERSION/site-packages
if [ -n "$requirements" ] && grep -qvE '^[[:space:]]*(#.*)?$' "$requirements"; then
    if ! cmp -s "$requirements" "$deps_dir/.requirements.txt"; then
        PIP=$TOOLS/venv/bin/pip
        [ -x "$PIP" ] || PIP=$(command -v pip3) || die "pip not found; run scripts/install-guest-toolchain.sh"
        rm -rf "$deps_dir"
        mkdir -p "$deps_dir"
        "$PIP" install --quiet --disable-pip-version-check --no-compile --target "$deps_dir" \
            --only-binary=:all: --platform any --implementation py --python-version "$PYTHON_VERSION" \
            -r "$requirements" >&2 || die "cannot install the packages \`$requirements\` declares"
        cp "$requirements" "$deps_dir/.requirements.txt"
    fi
    (cd "$deps_dir" && find . -not -name .requirements.txt -not -path '*/__pycache__*' \
        -not -path '*/bin/*' -type f -print0 | xargs -0 -r cp --parents -t "$site")
fi

cat >"$work/entry/cordon_entry.py" <<PY
import $module
from cordon_guest import export_run

WitWorld = export_run($module.run)
PY
# The agent's Python files (not a dependency folder or build output kept beside them), and the
# SDK's.
(cd "$src_dir" && find . \( -name __pycache__ -o -name cordon_guest -o -name node_modules \
    -o -name target -o -path ./build -o -name '.*' -not -name . \) -prune -o -name '*.py' -type f \
    -print0 | xargs -0 -r cp --parents -t "$work/app")
(cd "$HERE" && find cordon_guest -name '*.py' -type f -print0 | xargs -0 -r cp --parents -t "$work/sdk")
find "$work" -exec touch -h -d @0 {} +

mkdir -p "$(dirname "$out")"
# componentize-py adds $VIRTUAL_ENV's site-packages to the path (else the host Python's): here
# that is the declared packages only.
VIRTUAL_ENV=$work/env PYTHONHASHSEED=0 SOURCE_DATE_EPOCH=0 \
    "$CPY" -d "$WIT" -w "$WORLD" componentize -p "$work/entry" -p "$work/sdk" -p "$work/app" \
    cordon_entry -o "$out"
