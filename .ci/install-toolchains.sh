#!/usr/bin/env bash
# Installs the guest toolchains the example probes of every language need, idempotently:
#   C      clang, lld, wasi-libc, the wasm32 compiler-rt builtins (Debian packages)
#   JS     nodejs and npm (Debian), then probes/js/setup.sh (componentize-js, esbuild)
#   Python python3 with venv (Debian), then probes/python/setup.sh (componentize-py)
#   Rust   the wasm32-wasip2 target (rustup)
#   WAT    nothing: the wat and wit-component crates do it inside `cargo xtask`
# Runs as root on Debian in CI (.ci/run calls it); apt-get update only when something is
# missing. Afterwards `cargo xtask toolchains` must report every language ok.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null; then
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
fi

# C: check the files the packages provide, not just the commands, so a half-installed
# toolchain is completed.
need=()
command -v clang >/dev/null || need+=(clang)
command -v wasm-ld >/dev/null || need+=(lld)
[ -e /usr/lib/wasm32-wasi/libc.a ] || need+=(wasi-libc)
ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 \
    || need+=(libclang-rt-dev-wasm32)
# JavaScript: node 18+ and npm for probes/js/setup.sh (Debian 12 ships node 18).
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
# Python: a python3 that can make venvs with pip, for probes/python/setup.sh.
if ! command -v python3 >/dev/null; then
    need+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    need+=(python3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    if [ "$(id -u)" != 0 ]; then
        echo "error: installing ${need[*]} needs root: sudo apt-get install -y ${need[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

for lang in js python; do
    setup=probes/$lang/setup.sh
    if [ -f "$setup" ]; then
        echo "== $lang: $setup"
        bash "$setup"
    else
        echo "== $lang: $setup does not exist yet; nothing to install"
    fi
done
