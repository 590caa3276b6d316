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
exec node "$sdk/componentize.mjs" --wit "$root/wit" --world probe -o "$2" "$1"
