#!/usr/bin/env bash
# Build the JavaScript hello probe: probes/js/hello/build.sh OUT.wasm
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 OUT.wasm" >&2
    exit 2
fi
here=$(dirname "$0")
exec "$here/../build-probe.sh" "$here/hello.js" "$1"
