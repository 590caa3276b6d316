#!/usr/bin/env bash
# Build hello as a wasip1 core module: bash build.sh [OUT.wasm]  (default hello-c-core.wasm)
# vigil adapts a core module into a component when it loads it; `cargo xtask probes
# --lang c` also writes the adapted component, target/probes/hello-c.wasm.
# Needs clang, lld, wasi-libc and the wasm32 compiler-rt builtins:
#   apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32
# With a wasi-sdk instead, set WASI_SDK_PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sdk="$here/../../../guest-sdk/c"
out="${1:-hello-c-core.wasm}"
if [ -n "${WASI_SDK_PATH:-}" ]; then
    cc="$WASI_SDK_PATH/bin/clang" sysroot="$WASI_SDK_PATH/share/wasi-sysroot"
else
    cc=clang sysroot=/usr
fi
"$cc" --target=wasm32-wasi --sysroot="$sysroot" -mexec-model=reactor -O2 -Wall \
    -I "$sdk" "$here/hello.c" "$sdk/vigil.c" "$sdk/probe.c" "$sdk/probe_component_type.o" \
    -Wl,--strip-debug -o "$out"
echo "wrote $out"
