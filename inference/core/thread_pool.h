// A fixed pool of worker threads for the CPU backend. parallel_for splits [0, n) into contiguous chunks,
// runs them on the workers and the calling thread, and returns when all are done. No allocation per call.
// Workers spin briefly after each job before sleeping, because a decode step issues hundreds of small
// parallel_for calls back to back and a condition-variable wake-up per call would cost more than the work.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "core/function_ref.h"

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
    // Calls from several threads are serialised; a call made from inside fn runs inline on that thread.
    void parallel_for(int64_t n, int64_t min_chunk, FunctionRef<void(int64_t, int64_t)> fn);

    // Inside fn: which of the size() threads runs this chunk, in [0, size()). The calling thread is 0, so
    // per-thread scratch can be indexed by it. Outside this pool's jobs it returns 0.
    int thread_index() const;

    // A process-wide pool sized to the machine, created on first use.
    static ThreadPool& global();

private:
    void worker_loop(int index);
    void run_chunks();

    std::vector<std::thread> m_workers;
    std::mutex m_call_mutex;  // one parallel_for at a time
    std::mutex m_mutex;       // guards sleeping on m_start
    std::condition_variable m_start;
    // The job. Written by the caller only while no job is open and no worker is registered.
    const FunctionRef<void(int64_t, int64_t)>* m_fn = nullptr;
    int64_t m_n = 0;
    int64_t m_chunk = 0;
    int64_t m_chunks = 0;
    std::atomic<int64_t> m_next{0};     // next chunk to hand out
    std::atomic<uint64_t> m_state{0};   // 2·job number + 1 while that job is open, + 0 once closed
    std::atomic<int> m_active{0};       // workers registered on the open job
    std::atomic<int> m_sleepers{0};
    std::atomic<bool> m_stop{false};
};

}  // namespace tessera
