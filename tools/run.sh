#!/usr/bin/env bash
# Builds Tessera (optimised) and starts the desktop app. Extra arguments go to the app.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup-deps.sh
# ccache hits across checkouts in different folders (CI clones afresh each time).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
# RelWithDebInfo: the optimisation level CI builds and tests (-O2), with symbols for crash reports.
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build/release -j "$(nproc)" --target tessera tessera-cli
exec build/release/app/tessera "$@"
