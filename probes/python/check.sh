#!/usr/bin/env bash
# Say whether the Python probe toolchain is installed: its version on stdout (exit 0),
# or what is missing on stderr (exit 1). Installs nothing; probes/python/setup.sh does.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${VIGIL_PYTHON_VENV:-${CARGO_TARGET_DIR:-$root/target}/guest-toolchains/python}
if [ -x "$venv/bin/componentize-py" ]; then
    echo "$("$venv/bin/componentize-py" --version) ($venv)"
elif command -v componentize-py >/dev/null 2>&1; then
    echo "$(componentize-py --version) ($(command -v componentize-py))"
else
    echo "componentize-py not found in $venv or on PATH" >&2
    exit 1
fi
