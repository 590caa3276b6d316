#!/usr/bin/env bash
# Say whether the JavaScript probe toolchain is installed: versions on stdout (exit 0), or
# what is missing on stderr (exit 1). Installs nothing; probes/js/setup.sh does.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
sdk=$root/guest-sdk/js
if ! command -v node >/dev/null 2>&1; then
    echo "node not found" >&2
    exit 1
fi
if [ ! -f "$sdk/node_modules/@bytecodealliance/componentize-js/package.json" ] || [ ! -f "$sdk/node_modules/esbuild/package.json" ]; then
    echo "componentize-js or esbuild missing from $sdk/node_modules" >&2
    exit 1
fi
cd "$sdk/node_modules"
node -e '
const fs = require("fs");
const version = (dir) => JSON.parse(fs.readFileSync(dir + "/package.json", "utf8")).version;
console.log(`componentize-js ${version("@bytecodealliance/componentize-js")}, esbuild ${version("esbuild")}, node ${process.versions.node}`);
'
