// ThreadPool: every index is visited exactly once, chunks respect min_chunk, thread_index() is a valid
// and exclusive slot per running chunk, nested and concurrent calls are safe, and jobs still start after
// the workers have gone from spinning to sleeping.
#include <QtTest/QtTest>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

using tessera::ThreadPool;

class TestThreadPool : public QObject {
    Q_OBJECT

private slots:
    void coversEveryIndexOnce_data() {
        QTest::addColumn<int>("threads");
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("min_chunk");
        for (int threads : {1, 2, 5})
            for (int n : {0, 1, 2, 7, 64, 1000, 100003})
                for (int min_chunk : {0, 1, 3, 64})
                    QTest::newRow(qPrintable(QString("t%1 n%2 c%3").arg(threads).arg(n).arg(min_chunk)))
                        << threads << n << min_chunk;
    }

    void coversEveryIndexOnce() {
        QFETCH(int, threads);
        QFETCH(int, n);
        QFETCH(int, min_chunk);
        ThreadPool pool(threads);
        QCOMPARE(pool.size(), threads);
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> short_chunks{0};
        pool.parallel_for(n, min_chunk, [&](int64_t b, int64_t e) {
            if (e - b < min_chunk && e != n) short_chunks.fetch_add(1);
            for (int64_t i = b; i < e; ++i) hits[size_t(i)].fetch_add(1);
        });
        for (int i = 0; i < n; ++i) QCOMPARE(hits[size_t(i)].load(), 1);
        QCOMPARE(short_chunks.load(), 0);
    }

    // Per-thread scratch relies on this: the slot is in range and no two chunks running at the same time
    // share it.
    void threadIndexIsExclusive() {
        ThreadPool pool(4);
        std::vector<std::atomic<int>> busy(static_cast<size_t>(pool.size()));
        std::atomic<int> bad{0};
        std::atomic<int> seen_mask{0};
        for (int rep = 0; rep < 50; ++rep) {
            pool.parallel_for(64, 1, [&](int64_t, int64_t) {
                const int t = pool.thread_index();
                if (t < 0 || t >= pool.size()) {
                    bad.fetch_add(1);
                    return;
                }
                seen_mask.fetch_or(1 << t);
                if (busy[size_t(t)].fetch_add(1) != 0) bad.fetch_add(1);
                std::this_thread::sleep_for(std::chrono::microseconds(20));
                busy[size_t(t)].fetch_sub(1);
            });
        }
        QCOMPARE(bad.load(), 0);
        QVERIFY(seen_mask.load() & 1);  // the caller takes part
        QCOMPARE(pool.thread_index(), 0);  // outside a job
    }

    void nestedCallRunsInline() {
        ThreadPool pool(3);
        std::atomic<int64_t> total{0};
        pool.parallel_for(8, 1, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i)
                pool.parallel_for(100, 1, [&](int64_t bb, int64_t ee) { total.fetch_add(ee - bb); });
        });
        QCOMPARE(total.load(), int64_t(800));
    }

    // Two threads sharing a pool: calls are serialised, neither loses work.
    void concurrentCallers() {
        ThreadPool pool(3);
        std::atomic<int64_t> sum_a{0}, sum_b{0};
        auto caller = [&](std::atomic<int64_t>& sum) {
            for (int rep = 0; rep < 300; ++rep)
                pool.parallel_for(1000, 1, [&](int64_t b, int64_t e) {
                    int64_t s = 0;
                    for (int64_t i = b; i < e; ++i) s += i;
                    sum.fetch_add(s);
                });
        };
        std::thread other([&] { caller(sum_b); });
        caller(sum_a);
        other.join();
        const int64_t expect = 300 * (999 * 1000 / 2);
        QCOMPARE(sum_a.load(), expect);
        QCOMPARE(sum_b.load(), expect);
    }

    // Thousands of tiny jobs back to back (the decode pattern) and jobs issued after the workers have
    // given up spinning and gone to sleep.
    void manySmallJobsAndWakeFromSleep() {
        ThreadPool pool(2);
        std::atomic<int64_t> count{0};
        for (int rep = 0; rep < 20000; ++rep)
            pool.parallel_for(4, 1, [&](int64_t b, int64_t e) { count.fetch_add(e - b); });
        QCOMPARE(count.load(), int64_t(80000));
        for (int rep = 0; rep < 3; ++rep) {
            std::this_thread::sleep_for(std::chrono::milliseconds(15));  // well past the spin window
            pool.parallel_for(4, 1, [&](int64_t b, int64_t e) { count.fetch_add(e - b); });
        }
        QCOMPARE(count.load(), int64_t(80012));
    }

    void destroyWhileIdle() {
        for (int i = 0; i < 20; ++i) {
            ThreadPool pool(3);
            if (i % 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
};

QTEST_APPLESS_MAIN(TestThreadPool)
#include "test_thread_pool.moc"
