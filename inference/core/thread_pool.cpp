// Thread pool with a shared chunk counter: workers and the caller pull chunks until none are left.
#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>

namespace tessera {

ThreadPool::ThreadPool(int threads) {
    if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 1; i < threads; ++i) m_workers.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stop = true;
    }
    m_start.notify_all();
    for (auto& t : m_workers) t.join();
}

ThreadPool& ThreadPool::global() {
    static ThreadPool pool;
    return pool;
}

void ThreadPool::parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    min_chunk = std::max<int64_t>(1, min_chunk);
    int64_t threads = int64_t(size());
    int64_t chunk = std::max(min_chunk, (n + threads * 4 - 1) / (threads * 4));
    int64_t chunks = (n + chunk - 1) / chunk;
    if (chunks <= 1 || m_workers.empty()) {
        fn(0, n);
        return;
    }
    std::unique_lock<std::mutex> lock(m_mutex);
    m_fn = &fn;
    m_n = n;
    m_chunk = chunk;
    m_chunks = chunks;
    m_next = 0;
    m_pending = int(m_workers.size());
    ++m_generation;
    lock.unlock();
    m_start.notify_all();
    for (;;) {
        lock.lock();
        int64_t c = m_next < m_chunks ? m_next++ : -1;
        lock.unlock();
        if (c < 0) break;
        fn(c * chunk, std::min(n, (c + 1) * chunk));
    }
    lock.lock();
    m_done.wait(lock, [this] { return m_pending == 0; });
    m_fn = nullptr;
}

void ThreadPool::worker_loop(int) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(m_mutex);
    for (;;) {
        m_start.wait(lock, [&] { return m_stop || m_generation != seen; });
        if (m_stop) return;
        seen = m_generation;
        const auto* fn = m_fn;
        for (;;) {
            int64_t c = m_next < m_chunks ? m_next++ : -1;
            if (c < 0) break;
            int64_t begin = c * m_chunk, end = std::min(m_n, (c + 1) * m_chunk);
            lock.unlock();
            (*fn)(begin, end);
            lock.lock();
        }
        if (--m_pending == 0) m_done.notify_one();
    }
}

}  // namespace tessera
