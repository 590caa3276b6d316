#!/usr/bin/env bash
# Install the toolchain for Python probes: componentize-py, pinned, in a venv under
# target/ (nothing system-wide, no --break-system-packages). Idempotent: a second run
# with the right version in place does nothing. Needs python3 with the venv module.
#
#   probes/python/setup.sh            # -> target/guest-toolchains/python/bin/componentize-py
#
# VIGIL_PYTHON_VENV overrides where the venv goes (build-probe.sh reads it too).
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${VIGIL_PYTHON_VENV:-${CARGO_TARGET_DIR:-$root/target}/guest-toolchains/python}

if ! command -v python3 >/dev/null 2>&1; then
    echo "error: python3 not found: install Python 3.9+ with venv (Debian/Ubuntu: apt-get install -y python3 python3-venv)" >&2
    exit 1
fi

want="componentize-py $COMPONENTIZE_PY_VERSION"
if [ -x "$venv/bin/componentize-py" ] && [ "$("$venv/bin/componentize-py" --version 2>/dev/null)" = "$want" ]; then
    echo "$want already installed in $venv"
    exit 0
fi

# A venv left by another python3 (or half-made by a failed run) is rebuilt from scratch.
if [ -e "$venv" ] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$venv"
fi
if [ ! -x "$venv/bin/python" ]; then
    mkdir -p "$(dirname "$venv")"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        echo "error: 'python3 -m venv' failed: install the venv module (Debian/Ubuntu: apt-get install -y python3-venv)" >&2
        exit 1
    fi
fi
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    echo "error: the venv in $venv has no pip: install python3-venv with ensurepip (Debian/Ubuntu: apt-get install -y python3-venv python3-pip)" >&2
    exit 1
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "componentize-py==$COMPONENTIZE_PY_VERSION"
echo "installed $("$venv/bin/componentize-py" --version) in $venv"
