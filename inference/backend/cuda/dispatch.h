// Run-time integers to template arguments: the CUDA kernels take batch sizes, group buckets, unroll depths
// and the like as compile-time constants (register arrays, unrolled loops), and the launchers pick the
// instantiation from a run-time value. Plain C++ so that the mapping is tested on machines without a GPU.
#pragma once

#include <type_traits>
#include <utility>

namespace tessera::cuda {

// Calls f(std::integral_constant<int, V>{}) for the first V of kVals equal to v, or for the last of kVals
// when none is (the fallback instantiation), and returns what f returns.
template <int kFirst, int... kRest, class F>
decltype(auto) with_value(int v, F&& f) {
    if constexpr (sizeof...(kRest) == 0) {
        (void)v;
        return std::forward<F>(f)(std::integral_constant<int, kFirst>{});
    } else {
        if (v == kFirst) return std::forward<F>(f)(std::integral_constant<int, kFirst>{});
        return with_value<kRest...>(v, std::forward<F>(f));
    }
}

}  // namespace tessera::cuda
