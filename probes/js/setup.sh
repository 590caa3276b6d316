#!/usr/bin/env bash
# Install the toolchain for JavaScript probes: the exact versions in
# guest-sdk/js/package-lock.json (componentize-js, esbuild) into guest-sdk/js/node_modules
# (gitignored), with `npm ci`. Idempotent: when node_modules already matches the lockfile
# (a stamp records its hash and the node version) it does nothing. Needs node 18+ and npm.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
sdk=$root/guest-sdk/js

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "error: node and npm are needed: install Node.js 18+ with npm (Debian/Ubuntu: apt-get install -y nodejs npm)" >&2
    exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
    echo "error: node $(node --version) is too old: install Node.js 18 or newer" >&2
    exit 1
fi

stamp=$sdk/node_modules/.vigil-setup
want="$(cat "$sdk/package.json" "$sdk/package-lock.json" | sha256sum | cut -d' ' -f1) node-$major"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && [ -d "$sdk/node_modules/@bytecodealliance/componentize-js" ] && [ -d "$sdk/node_modules/esbuild" ]; then
    echo "JavaScript probe toolchain already installed in $sdk/node_modules"
    exit 0
fi

# --ignore-scripts: no package here needs its install script to build probes (esbuild
# finds its platform binary without it), and scripts would reach beyond the registry.
(cd "$sdk" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
echo "$want" > "$stamp"
echo "installed $(bash "$root/probes/js/check.sh") in $sdk/node_modules"
