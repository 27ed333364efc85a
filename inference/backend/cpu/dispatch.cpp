// Chooses between the portable kernels and the AVX2 ones: a runtime CPU check (the AVX2 files are built
// with -mavx2 -mfma -mf16c and must never run on a CPU without them) plus a switch tests use to force the
// scalar path, so both paths are checked on the same machine.
#include <atomic>

#include "backend/cpu/kernels.h"
#include "backend/cpu/ops.h"

namespace tessera::cpu {

namespace {

std::atomic<bool> g_force_scalar{false};

bool cpu_has_avx2() {
#if TESSERA_CPU_X86
    static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("f16c");
    }();
    return has;
#else
    return false;
#endif
}

}  // namespace

void set_force_scalar(bool force) { g_force_scalar.store(force, std::memory_order_relaxed); }

bool simd_enabled() { return detail::use_avx2(); }

namespace detail {

bool use_avx2() { return !g_force_scalar.load(std::memory_order_relaxed) && cpu_has_avx2(); }

}  // namespace detail

}  // namespace tessera::cpu
