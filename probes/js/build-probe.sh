#!/usr/bin/env bash
# Build one JavaScript probe into a WebAssembly component.
#
#   probes/js/build-probe.sh SOURCE.js OUT.wasm
#
# SOURCE.js imports the SDK as 'vigil' (guest-sdk/js) and exports `run`. The toolchain
# (componentize-js, esbuild) lives in guest-sdk/js/node_modules: probes/js/setup.sh.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 SOURCE.js OUT.wasm" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
sdk=$root/guest-sdk/js

if ! command -v node >/dev/null 2>&1; then
    echo "error: node not found: install Node.js 18+ and npm (Debian/Ubuntu: apt-get install -y nodejs npm), then run probes/js/setup.sh" >&2
    exit 1
fi
if [ ! -d "$sdk/node_modules/@bytecodealliance/componentize-js" ] || [ ! -d "$sdk/node_modules/esbuild" ]; then
    echo "error: componentize-js is not installed in $sdk/node_modules: run probes/js/setup.sh" >&2
    exit 1
fi
mkdir -p "$(dirname "$2")"
out=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
src_dir=$(cd "$(dirname "$1")" && pwd)

# componentize-js output differs from build to build (it embeds its temporary paths), and
# vigil keys its compiled-probe cache by content: so skip the build when nothing that goes
# into it changed, and the probe keeps its cache entry. VIGIL_REBUILD=1 forces a build.
inputs=$( {
    find "$src_dir" "$sdk/vigil.js" "$sdk/lib" "$sdk/componentize.mjs" "$sdk/package-lock.json" \
        "$root/wit" -type f ! -path '*/node_modules/*' -print0 | sort -z | xargs -0 sha256sum
    node --version
} | sha256sum | cut -d' ' -f1)
stamp=$out.inputs
if [ "${VIGIL_REBUILD:-0}" != 1 ] && [ -f "$out" ] && [ -f "$stamp" ] \
    && [ "$(cat "$stamp")" = "$inputs $(sha256sum < "$out" | cut -d' ' -f1)" ]; then
    echo "$out is up to date (inputs unchanged; VIGIL_REBUILD=1 forces a build)" >&2
    exit 0
fi
rm -f "$stamp"
node "$sdk/componentize.mjs" --wit "$root/wit" --world probe -o "$out" "$1"
echo "$inputs $(sha256sum < "$out" | cut -d' ' -f1)" > "$stamp"
