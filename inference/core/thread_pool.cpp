// Thread pool with a shared atomic chunk counter: workers and the caller pull chunks until none are left.
// Hand-off protocol: the caller publishes the job, then bumps m_generation (release). Workers spin on the
// generation for a while (cheap wake-up between the back-to-back calls of a decode step), then sleep on
// m_start. m_sleepers and m_generation are both seq_cst, so either the caller sees a sleeper and notifies
// under the mutex, or the sleeper sees the new generation before it waits: no lost wake-up.
#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tessera {

namespace {

thread_local const ThreadPool* t_pool = nullptr;  // the pool this thread works for, if any
thread_local int t_index = 0;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

// How long an idle worker keeps polling before it sleeps. Long enough to bridge the single-threaded
// glue (norms, rope, sampling) between the matmuls of a decode step, short enough not to burn a core
// when the engine is idle.
constexpr auto kSpinTime = std::chrono::microseconds(2000);

}  // namespace

ThreadPool::ThreadPool(int threads) {
    if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
    m_workers.reserve(size_t(threads - 1));
    for (int i = 1; i < threads; ++i) m_workers.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stop.store(true);
    }
    m_start.notify_all();
    for (auto& t : m_workers) t.join();
}

ThreadPool& ThreadPool::global() {
    static ThreadPool pool;
    return pool;
}

int ThreadPool::thread_index() const { return t_pool == this ? t_index : 0; }

void ThreadPool::run_chunks() {
    const auto& fn = *m_fn;
    for (;;) {
        int64_t c = m_next.fetch_add(1, std::memory_order_relaxed);
        if (c >= m_chunks) break;
        fn(c * m_chunk, std::min(m_n, (c + 1) * m_chunk));
    }
}

void ThreadPool::parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    min_chunk = std::max<int64_t>(1, min_chunk);
    int64_t threads = int64_t(size());
    // About four chunks per thread: enough to even out a thread that was descheduled, few enough that
    // the shared counter is not contended.
    int64_t chunk = std::max(min_chunk, (n + threads * 4 - 1) / (threads * 4));
    int64_t chunks = (n + chunk - 1) / chunk;
    if (chunks <= 1 || m_workers.empty() || t_pool == this) {
        fn(0, n);  // one chunk, no workers, or a nested call from our own worker (would deadlock)
        return;
    }
    std::lock_guard<std::mutex> call_lock(m_call_mutex);
    const ThreadPool* saved_pool = t_pool;
    int saved_index = t_index;
    t_pool = this;
    t_index = 0;

    m_fn = &fn;
    m_n = n;
    m_chunk = chunk;
    m_chunks = chunks;
    m_next.store(0, std::memory_order_relaxed);
    m_pending.store(int(m_workers.size()), std::memory_order_relaxed);
    m_generation.fetch_add(1);  // seq_cst: publishes the job fields above
    if (m_sleepers.load() > 0) {
        { std::lock_guard<std::mutex> lock(m_mutex); }
        m_start.notify_all();
    }
    run_chunks();
    // Every worker checks in once per job, so no worker can still be reading the fields we overwrite next.
    for (int spins = 0; m_pending.load(std::memory_order_acquire) != 0; ++spins) {
        if (spins < 4096)
            cpu_relax();
        else
            std::this_thread::yield();
    }
    m_fn = nullptr;
    t_pool = saved_pool;
    t_index = saved_index;
}

void ThreadPool::worker_loop(int index) {
    t_pool = this;
    t_index = index;
    uint64_t seen = 0;
    for (;;) {
        auto spin_start = std::chrono::steady_clock::now();
        int polls = 0;
        for (;;) {
            if (m_stop.load(std::memory_order_relaxed)) return;
            if (m_generation.load(std::memory_order_acquire) != seen) break;
            cpu_relax();
            // Reading the clock costs more than a pause: check it every 64 polls only.
            if ((++polls & 63) == 0 && std::chrono::steady_clock::now() - spin_start > kSpinTime) {
                std::unique_lock<std::mutex> lock(m_mutex);
                m_sleepers.fetch_add(1);
                m_start.wait(lock, [&] { return m_stop.load() || m_generation.load() != seen; });
                m_sleepers.fetch_sub(1);
                spin_start = std::chrono::steady_clock::now();
            }
        }
        seen = m_generation.load(std::memory_order_acquire);
        run_chunks();
        m_pending.fetch_sub(1, std::memory_order_release);
    }
}

}  // namespace tessera
