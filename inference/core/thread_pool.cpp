// Thread pool with a shared atomic chunk counter: workers and the caller pull chunks until none are left.
//
// Hand-off. The caller writes the job, then opens it by storing an odd m_state. A worker that sees a new
// open state registers (m_active + 1) and re-reads m_state: only if the job is still open does it read
// the job and take chunks. The caller, once every chunk is handed out, closes the job (even m_state) and
// waits for m_active to drain. All of these are seq_cst, so a worker either registered before the close
// (and the caller waits for it) or sees the close and backs off without touching the job. The caller
// therefore never waits for a worker that did not take part: a worker the OS has descheduled costs its
// share of the chunks, not the whole job, which matters on a desktop whose cores are shared.
//
// Idle workers poll m_state with pause for a short while, then poll with yield (another runnable thread
// on the core goes first), then sleep on m_start. m_sleepers and m_state are both seq_cst, so either the
// caller sees a sleeper and notifies under the mutex, or the sleeper sees the new state before it waits.
#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tessera {

namespace {

thread_local const ThreadPool* t_pool = nullptr;  // the pool this thread is working for, if any
thread_local int t_index = 0;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

// Polling windows of an idle worker. A decode step is hundreds of parallel_for calls separated by a few
// microseconds of single-threaded glue (norms, rope, sampling): a futex wake-up per call would cost more
// than many of the jobs. After the hot window the worker yields between polls; after the whole window it
// sleeps, so an idle engine does not burn a core.
constexpr auto kHotSpin = std::chrono::microseconds(100);
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
        const int64_t c = m_next.fetch_add(1, std::memory_order_relaxed);
        if (c >= m_chunks) break;
        fn(c * m_chunk, std::min(m_n, (c + 1) * m_chunk));
    }
}

void ThreadPool::parallel_for(int64_t n, int64_t min_chunk, FunctionRef<void(int64_t, int64_t)> fn) {
    if (n <= 0) return;
    min_chunk = std::max<int64_t>(1, min_chunk);
    const int64_t threads = int64_t(size());
    // About four chunks per thread: enough to even out a thread that was descheduled, few enough that
    // the shared counter is not contended.
    const int64_t chunk = std::max(min_chunk, (n + threads * 4 - 1) / (threads * 4));
    const int64_t chunks = (n + chunk - 1) / chunk;
    if (chunks <= 1 || m_workers.empty() || t_pool == this) {
        fn(0, n);  // one chunk, no workers, or a nested call from our own job (would deadlock)
        return;
    }
    std::lock_guard<std::mutex> call_lock(m_call_mutex);
    const ThreadPool* saved_pool = t_pool;
    const int saved_index = t_index;
    t_pool = this;
    t_index = 0;

    m_fn = &fn;
    m_n = n;
    m_chunk = chunk;
    m_chunks = chunks;
    m_next.store(0, std::memory_order_relaxed);
    const uint64_t open = (m_state.load(std::memory_order_relaxed) | 1u) + 2u;  // next job number, odd
    m_state.store(open);
    if (m_sleepers.load() > 0) {
        { std::lock_guard<std::mutex> lock(m_mutex); }
        m_start.notify_all();
    }
    run_chunks();
    m_state.store(open - 1);  // closed: nobody registers any more
    for (int spins = 0; m_active.load(std::memory_order_acquire) != 0; ++spins) {
        if (spins < 2048)
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
    auto idle_since = std::chrono::steady_clock::now();
    for (int polls = 0;; ++polls) {
        const uint64_t s = m_state.load(std::memory_order_acquire);
        if ((s & 1u) && s != seen) {
            seen = s;
            m_active.fetch_add(1);
            if (m_state.load() == s) run_chunks();
            m_active.fetch_sub(1, std::memory_order_release);
            idle_since = std::chrono::steady_clock::now();
            polls = 0;
            continue;
        }
        if (m_stop.load(std::memory_order_relaxed)) return;
        // Reading the clock costs more than a poll: look at it every 64 polls only.
        const auto idle = (polls & 63) == 63 ? std::chrono::steady_clock::now() - idle_since
                                             : std::chrono::steady_clock::duration::zero();
        if (idle > kSpinTime) {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_sleepers.fetch_add(1);
            m_start.wait(lock, [&] {
                const uint64_t st = m_state.load();
                return m_stop.load() || ((st & 1u) && st != seen);
            });
            m_sleepers.fetch_sub(1);
            idle_since = std::chrono::steady_clock::now();
        } else if (idle > kHotSpin || polls > (1 << 20)) {
            std::this_thread::yield();
        } else {
            cpu_relax();
        }
    }
}

}  // namespace tessera
