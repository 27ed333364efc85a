// with_value (backend/cuda/dispatch.h), which maps run-time sizes to the CUDA kernels' template arguments:
// each listed value reaches its own instantiation, anything else the last one, and f's result comes back.
#include <QtTest/QtTest>

#include <vector>

#include "backend/cuda/dispatch.h"

using tessera::cuda::with_value;

class TestDispatch : public QObject {
    Q_OBJECT

private slots:
    void listedValuesReachTheirInstantiation() {
        for (int v : {1, 2, 3, 4, 5, 6, 7, 8})
            QCOMPARE((with_value<1, 2, 3, 4, 5, 6, 7, 8>(v, [](auto c) { return decltype(c)::value; })), v);
        for (int v : {2, 8, 4}) QCOMPARE((with_value<2, 8, 4>(v, [](auto c) { return int(c); })), v);
    }

    void otherValuesTakeTheLast() {
        for (int v : {-1, 0, 9, 64})
            QCOMPARE((with_value<1, 2, 3, 4, 5, 6, 7, 8>(v, [](auto c) { return int(c); })), 8);
        for (int v : {0, 3, 8}) QCOMPARE((with_value<1, 2, 4>(v, [](auto c) { return int(c); })), 4);
        // A fallback that is also listed earlier is still reached by its own value first.
        QCOMPARE((with_value<3, 5, 6, 7, 4>(4, [](auto c) { return int(c); })), 4);
        QCOMPARE((with_value<3, 5, 6, 7, 8>(1, [](auto c) { return int(c); })), 8);
    }

    void callsExactlyOnce() {
        std::vector<int> seen;
        with_value<1, 2, 4, 8>(4, [&](auto c) { seen.push_back(c); });
        with_value<1, 2, 4, 8>(5, [&](auto c) { seen.push_back(c); });
        QCOMPARE(seen, (std::vector<int>{4, 8}));
    }
};

QTEST_APPLESS_MAIN(TestDispatch)
#include "test_dispatch.moc"
