#!/usr/bin/env bash
# Build the Python hello probe: probes/python/hello/build.sh OUT.wasm
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 OUT.wasm" >&2
    exit 2
fi
here=$(dirname "$0")
exec "$here/../build-probe.sh" "$here" "$1" app
