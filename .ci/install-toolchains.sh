#!/usr/bin/env bash
# Installs the guest toolchains for the example probes of every language (placeholder).
set -euo pipefail
