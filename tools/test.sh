#!/usr/bin/env bash
# Builds Tessera and runs the whole test suite: the full build (engine, storage, app; CUDA code compiled
# when nvcc is present) with every CTest test, then an ASan+UBSan build of the unit and storage tests.
# GPU checks report skipped on machines without an NVIDIA GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup-deps.sh
# ccache hits across checkouts in different folders (CI clones afresh each time).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true

jobs=$(nproc)
cuda_args=()
if [[ "${CI:-}" == true ]]; then
  # One architecture keeps CI's CUDA compile short; release builds take the full list.
  cuda_args+=(-DCMAKE_CUDA_ARCHITECTURES=90)
fi

cmake -S . -B build/test -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${cuda_args[@]}"
cmake --build build/test -j "$jobs"
ctest --test-dir build/test --output-on-failure -j "$jobs"

if [[ "${TESSERA_SKIP_SANITIZERS:-0}" != 1 ]]; then
  # The sanitizer build covers the library code the unit and storage tests reach; the app, CUDA and
  # benchmarks stay out of it to keep CI within its time.
  cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTESSERA_SANITIZE=ON -DTESSERA_CUDA=OFF
  # Test targets are named <area>_<file> (tests/CMakeLists.txt).
  targets=$(for f in tests/inference/test_*.cpp tests/storage/test_*.cpp; do
              area=$(basename "$(dirname "$f")"); echo "${area}_$(basename "$f" .cpp)"; done)
  # test_cli runs the built tessera-cli.
  targets="$targets tessera-cli"
  # shellcheck disable=SC2086
  cmake --build build/asan -j "$jobs" --target $targets
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build/asan --output-on-failure -j "$jobs" -L 'unit|storage'
fi
