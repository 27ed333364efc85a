// A fixed pool of worker threads for the CPU backend. parallel_for splits [0, n) into contiguous chunks,
// runs them on the workers and the calling thread, and returns when all are done. No allocation per call.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tessera {

class ThreadPool {
public:
    // threads == 0: one per hardware thread.
    explicit ThreadPool(int threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return int(m_workers.size()) + 1; }

    // fn(begin, end) over chunks of [0, n); each chunk at least min_chunk long (except the last).
    void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn);

    // A process-wide pool sized to the machine, created on first use.
    static ThreadPool& global();

private:
    void worker_loop(int index);

    std::vector<std::thread> m_workers;
    std::mutex m_mutex;
    std::condition_variable m_start;
    std::condition_variable m_done;
    const std::function<void(int64_t, int64_t)>* m_fn = nullptr;
    int64_t m_n = 0;
    int64_t m_chunk = 0;
    int64_t m_chunks = 0;
    int64_t m_next = 0;
    int m_pending = 0;
    uint64_t m_generation = 0;
    bool m_stop = false;
};

}  // namespace tessera
