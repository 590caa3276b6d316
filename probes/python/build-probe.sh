#!/usr/bin/env bash
# Build one Python probe into a WebAssembly component.
#
#   probes/python/build-probe.sh PROBE_DIR OUT.wasm [MODULE]
#
# PROBE_DIR holds the probe's modules; MODULE (default `app`) is the one that defines
# `@vigil.probe def run()`. The vigil SDK (guest-sdk/python) is put on the module path.
# componentize-py comes from the venv probes/python/setup.sh makes, else from PATH.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 PROBE_DIR OUT.wasm [MODULE]" >&2
    exit 2
fi
probe_dir=$(cd "$1" && pwd)
out=$2
module=${3:-app}
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${VIGIL_PYTHON_VENV:-${CARGO_TARGET_DIR:-$root/target}/guest-toolchains/python}

if [ -x "$venv/bin/componentize-py" ]; then
    componentize=$venv/bin/componentize-py
elif command -v componentize-py >/dev/null 2>&1; then
    componentize=$(command -v componentize-py)
else
    echo "error: componentize-py not found (looked in $venv/bin and PATH): run probes/python/setup.sh (needs python3 with pip and venv)" >&2
    exit 1
fi

mkdir -p "$(dirname "$out")"
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

# componentize-py output differs from build to build, and vigil keys its compiled-probe
# cache by content: so skip the build when nothing that goes into it changed, and the
# probe keeps its cache entry. VIGIL_REBUILD=1 forces a build.
inputs=$( {
    find "$probe_dir" "$root/guest-sdk/python/vigil" "$root/wit" -type f \
        ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum
    echo "module $module"
    "$componentize" --version
} | sha256sum | cut -d' ' -f1)
stamp=$out_abs.inputs
if [ "${VIGIL_REBUILD:-0}" != 1 ] && [ -f "$out_abs" ] && [ -f "$stamp" ] \
    && [ "$(cat "$stamp")" = "$inputs $(sha256sum < "$out_abs" | cut -d' ' -f1)" ]; then
    echo "$out_abs is up to date (inputs unchanged; VIGIL_REBUILD=1 forces a build)" >&2
    exit 0
fi
rm -f "$stamp"
# Write to a temporary name first so a failed build never leaves a half-written probe.
tmp=$out_abs.tmp.$$
log=$out_abs.log.$$
trap 'rm -f "$tmp" "$log"' EXIT
# componentize-py shows the -p directories as /0 and /1 in its errors: put the real paths
# back, and leave out the Rust backtrace that would bury the Python one.
if ! RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0 PYTHONDONTWRITEBYTECODE=1 "$componentize" \
    -d "$root/wit" -w probe \
    componentize "$module" \
    -p "$probe_dir" -p "$root/guest-sdk/python" \
    -o "$tmp" >"$log" 2>&1; then
    sed -e "s#\"/0/#\"$probe_dir/#g; s#\"/1/#\"$root/guest-sdk/python/#g" "$log" >&2
    echo "error: componentize-py could not build the probe in $probe_dir (module \`$module\`)" >&2
    if grep -q "has no attribute 'WitWorld'" "$log"; then
        echo "hint: mark the entry point with the SDK's decorator: \`@vigil.probe\` above \`def run():\` in $module.py" >&2
    fi
    exit 1
fi
mv -f "$tmp" "$out_abs"
echo "$inputs $(sha256sum < "$out_abs" | cut -d' ' -f1)" > "$stamp"
