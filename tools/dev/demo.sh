#!/usr/bin/env bash
# Builds clawd and runs its local demo: tools/dev/demo.sh [demo args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

cmake -G Ninja -S . -B build
cmake --build build --target clawd -j "$(nproc)"
exec build/server/clawd demo "$@"
