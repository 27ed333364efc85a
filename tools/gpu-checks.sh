#!/usr/bin/env bash
# On a GPU machine: builds the engine-only tree (no Qt, SQLite or OpenCV needed) with the CUDA backend for
# the local GPU, runs every GPU check (CTest label gpu), and with --bench the GPU benchmarks, our engine and
# the PyTorch baseline in the same run. Outputs go to $OUT (or build/gpu-results) as well as stdout.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu-results}
mkdir -p "$out"
# A headless GPU machine without the Debian -dev packages can bring unpacked copies (see docs/gpu.md).
if [[ -d .device/sysroot ]]; then export CMAKE_PREFIX_PATH=$PWD/.device/sysroot/usr; fi
arch=${CUDA_ARCH:-native}
cmake -S . -B build/gpu -G Ninja -DTESSERA_ENGINE_ONLY=ON -DTESSERA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" \
  -DCMAKE_BUILD_TYPE=Release -DTESSERA_WERROR=OFF >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
cmake --build build/gpu -j "$(nproc)" >"$out/build.log" 2>&1 || { grep -E 'error|FAILED' "$out/build.log" | head -40; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$out/device.txt"
ctest --test-dir build/gpu -L gpu -V --timeout "${TESSERA_CHECK_TIMEOUT:-600}" 2>&1 | tee "$out/checks.log"
status=${PIPESTATUS[0]}
if [[ "${1:-}" == --bench ]]; then
  shift
  # TESSERA_BENCH picks the benchmarks: "llm", "janus" or both (default).
  for b in ${TESSERA_BENCH:-llm janus}; do
    build/gpu/bench/cuda_bench_$b "$@" 2>&1 | tee "$out/bench_${b}_tessera.jsonl"
    if [[ "${TESSERA_SKIP_PYTORCH:-0}" != 1 ]]; then
      PYTHONUNBUFFERED=1 python3 tools/bench/pytorch_$b.py "$@" 2>&1 | grep -v -i warn | tee "$out/bench_${b}_pytorch.jsonl"
    fi
  done
fi
exit "$status"
