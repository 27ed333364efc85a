// CPU backend operations against naive double-precision references written here, on seeded random
// inputs, at odd and even sizes, for every weight dtype, on both the portable scalar path and the AVX2 path
// (set_force_scalar), with a multi-threaded pool so the work splitting is exercised too.
#include <QtTest/QtTest>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "backend/cpu/ops.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "support/test_support.h"

using namespace tessera;

namespace {

// Weights stored in a dtype plus their exact decoded values, which the reference uses.
struct Weights {
    DType dtype = DType::F32;
    std::vector<float> f32;
    std::vector<uint16_t> half;
    std::vector<double> value;
    Tensor tensor;
};

Weights make_weights(DType dt, Shape shape, std::mt19937& rng, float scale = 1.0f) {
    Weights w;
    w.dtype = dt;
    const int64_t n = shape.numel();
    std::uniform_real_distribution<float> dist(-scale, scale);
    w.value.resize(size_t(n));
    if (dt == DType::F32) {
        w.f32.resize(size_t(n));
        for (int64_t i = 0; i < n; ++i) w.value[size_t(i)] = w.f32[size_t(i)] = dist(rng);
    } else {
        w.half.resize(size_t(n));
        for (int64_t i = 0; i < n; ++i) {
            const float f = dist(rng);
            const uint16_t h = dt == DType::BF16 ? f32_to_bf16(f) : f32_to_f16(f);
            w.half[size_t(i)] = h;
            w.value[size_t(i)] = dt == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
        }
    }
    w.tensor.dtype = dt;
    w.tensor.shape = shape;
    // An empty vector's data() may be null; the ops must not read it then (K == 0, N == 0).
    w.tensor.data = dt == DType::F32 ? static_cast<void*>(w.f32.data()) : static_cast<void*>(w.half.data());
    return w;
}

std::vector<float> random_vec(int64_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = dist(rng);
    return v;
}

const char* path_name(bool scalar) { return scalar ? "scalar" : "avx2"; }

// Sets the kernel path for one test row and restores the default afterwards.
struct PathGuard {
    explicit PathGuard(bool scalar) { cpu::set_force_scalar(scalar); }
    ~PathGuard() { cpu::set_force_scalar(false); }
};

bool skip_path(bool scalar) {
    if (scalar) return false;
    cpu::set_force_scalar(false);
    return !cpu::simd_enabled();
}

}  // namespace

class TestCpuOps : public QObject {
    Q_OBJECT

private:
    ThreadPool m_pool{3};  // more threads than this machine may have: uneven chunks, real hand-offs

private slots:
    void initTestCase() {
        cpu::set_force_scalar(false);
        qInfo("AVX2 kernels %s on this CPU", cpu::simd_enabled() ? "available" : "NOT available (skipped)");
    }

    void matmul_data() {
        QTest::addColumn<int>("M");
        QTest::addColumn<int>("K");
        QTest::addColumn<int>("N");
        QTest::addColumn<int>("dtype");
        QTest::addColumn<bool>("bias");
        QTest::addColumn<bool>("scalar");
        const int shapes[][3] = {{1, 1, 1},   {1, 7, 5},     {1, 16, 4},   {1, 33, 9},    {1, 1537, 67},
                                 {1, 256, 1}, {2, 17, 3},    {7, 300, 37}, {6, 256, 16},  {13, 517, 50},
                                 {64, 96, 33}, {5, 8, 17},   {1, 0, 6},    {3, 0, 20},    {33, 1031, 129},
                                 {3, 7, 18},   {6, 1, 40},    {2, 4099, 7}};
        for (bool scalar : {true, false})
            for (DType dt : {DType::F32, DType::BF16, DType::F16})
                for (const auto& s : shapes)
                    for (bool bias : {false, true}) {
                        QByteArray name = QByteArray(path_name(scalar)) + " " + dtype_name(dt).data() + " M" +
                                          QByteArray::number(s[0]) + " K" + QByteArray::number(s[1]) + " N" +
                                          QByteArray::number(s[2]) + (bias ? " bias" : "");
                        QTest::newRow(name.constData()) << s[0] << s[1] << s[2] << int(dt) << bias << scalar;
                    }
    }

    void matmul() {
        QFETCH(int, M);
        QFETCH(int, K);
        QFETCH(int, N);
        QFETCH(int, dtype);
        QFETCH(bool, bias);
        QFETCH(bool, scalar);
        if (skip_path(scalar)) QSKIP("no AVX2 on this CPU");
        PathGuard guard(scalar);
        std::mt19937 rng{uint32_t(M * 1000003 + K * 1009 + N * 7 + dtype)};
        const DType dt = DType(dtype);
        Weights W = make_weights(dt, {N, K}, rng);
        Weights B = make_weights(dt, {N}, rng);
        Tensor no_bias;
        auto x = random_vec(int64_t(M) * K, rng);
        std::vector<float> y(size_t(M) * size_t(N), std::numeric_limits<float>::quiet_NaN());
        cpu::matmul(x.data(), M, K, W.tensor, bias ? B.tensor : no_bias, y.data(), m_pool);

        // Error is judged against Σ|x·w| (the scale of the rounding noise), at a bound a little above
        // f32 accumulation noise but far below the effect of one missing or wrong term.
        double worst = 0.0;
        for (int m = 0; m < M; ++m)
            for (int n = 0; n < N; ++n) {
                double ref = bias ? B.value[size_t(n)] : 0.0, mag = std::abs(ref);
                for (int k = 0; k < K; ++k) {
                    const double p = double(x[size_t(m) * size_t(K) + size_t(k)]) *
                                     W.value[size_t(n) * size_t(K) + size_t(k)];
                    ref += p;
                    mag += std::abs(p);
                }
                const double got = y[size_t(m) * size_t(N) + size_t(n)];
                const double err = std::abs(got - ref) / std::max(mag, 1e-30);
                if (!(err <= 2e-6 * std::sqrt(double(K) + 1.0)))
                    QFAIL(qPrintable(QString("y[%1,%2] = %3, reference %4 (rel. err %5)")
                                         .arg(m).arg(n).arg(got).arg(ref).arg(err)));
                worst = std::max(worst, err);
            }
        QVERIFY(worst < 1e-3);
    }

    // The same product through the scalar and the AVX2 kernels, and with 1 and 3 threads, must agree to
    // rounding: the split over threads must not change which terms are summed.
    void matmulPathsAgree() {
        if (skip_path(false)) QSKIP("no AVX2 on this CPU");
        std::mt19937 rng(7);
        ThreadPool single(1);
        for (int M : {1, 4, 19})
            for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
                const int K = 777, N = 301;
                Weights W = make_weights(dt, {N, K}, rng);
                auto x = random_vec(int64_t(M) * K, rng);
                std::vector<float> ys(size_t(M * N)), yv(size_t(M * N)), y1(size_t(M * N));
                cpu::set_force_scalar(true);
                cpu::matmul(x.data(), M, K, W.tensor, Tensor{}, ys.data(), m_pool);
                cpu::set_force_scalar(false);
                cpu::matmul(x.data(), M, K, W.tensor, Tensor{}, yv.data(), m_pool);
                cpu::matmul(x.data(), M, K, W.tensor, Tensor{}, y1.data(), single);
                QVERIFY(test::max_rel_error(yv, ys) < 1e-5);
                QCOMPARE(y1, yv);  // same kernel, different split: bitwise equal
            }
    }

    void rmsNorm_data() {
        QTest::addColumn<int>("dim");
        QTest::addColumn<int>("dtype");
        QTest::addColumn<bool>("scalar");
        QTest::addColumn<bool>("inplace");
        for (bool scalar : {true, false})
            for (DType dt : {DType::F32, DType::BF16, DType::F16})
                for (int dim : {1, 7, 16, 64, 1536, 1537})
                    for (bool inplace : {false, true})
                        QTest::newRow(qPrintable(QString("%1 %2 dim%3%4")
                                                     .arg(path_name(scalar), dtype_name(dt).data())
                                                     .arg(dim)
                                                     .arg(inplace ? " in-place" : "")))
                            << dim << int(dt) << scalar << inplace;
    }

    void rmsNorm() {
        QFETCH(int, dim);
        QFETCH(int, dtype);
        QFETCH(bool, scalar);
        QFETCH(bool, inplace);
        if (skip_path(scalar)) QSKIP("no AVX2 on this CPU");
        PathGuard guard(scalar);
        std::mt19937 rng{uint32_t(dim * 31 + dtype)};
        const int rows = 3;
        const float eps = 1e-6f;
        Weights w = make_weights(DType(dtype), {dim}, rng, 2.0f);
        auto x = random_vec(int64_t(rows) * dim, rng, -3.0f, 3.0f);
        std::vector<float> y(x.size(), std::numeric_limits<float>::quiet_NaN());
        const auto x0 = x;
        if (inplace)
            cpu::rms_norm(x.data(), w.tensor, rows, dim, eps, x.data());
        else
            cpu::rms_norm(x.data(), w.tensor, rows, dim, eps, y.data());
        const auto& out = inplace ? x : y;
        for (int r = 0; r < rows; ++r) {
            double ss = 0.0;
            for (int i = 0; i < dim; ++i) ss += double(x0[size_t(r * dim + i)]) * double(x0[size_t(r * dim + i)]);
            const double inv = 1.0 / std::sqrt(ss / dim + double(eps));
            for (int i = 0; i < dim; ++i) {
                const double ref = double(x0[size_t(r * dim + i)]) * inv * w.value[size_t(i)];
                const double got = out[size_t(r * dim + i)];
                if (!(std::abs(got - ref) <= 2e-6 * std::abs(ref) + 1e-7))
                    QFAIL(qPrintable(QString("row %1 [%2]: %3 vs %4").arg(r).arg(i).arg(got).arg(ref)));
            }
        }
    }

    void addRmsNorm() {
        for (bool scalar : {true, false}) {
            if (skip_path(scalar)) continue;
            PathGuard guard(scalar);
            std::mt19937 rng(11);
            const int rows = 4, dim = 333;
            Weights w = make_weights(DType::BF16, {dim}, rng);
            auto x = random_vec(rows * dim, rng), d = random_vec(rows * dim, rng);
            auto x_ref = x;
            for (size_t i = 0; i < x.size(); ++i) x_ref[i] += d[i];
            std::vector<float> y(x.size()), y_ref(x.size());
            cpu::rms_norm(x_ref.data(), w.tensor, rows, dim, 1e-6f, y_ref.data());
            cpu::add_rms_norm(x.data(), d.data(), w.tensor, rows, dim, 1e-6f, y.data());
            QCOMPARE(x, x_ref);
            QCOMPARE(y, y_ref);  // same kernels underneath: identical bits
        }
    }

    void ropeRotateHalf_data() {
        QTest::addColumn<int>("head_dim");
        for (int hd : {2, 8, 64, 128, 130, 258}) QTest::newRow(qPrintable(QString("hd%1").arg(hd))) << hd;
    }

    void ropeRotateHalf() {
        QFETCH(int, head_dim);
        std::mt19937 rng{uint32_t(head_dim)};
        const int T = 4, H = 3, half = head_dim / 2;
        const int32_t pos[T] = {0, 1, 77, 4095};
        std::vector<float> inv_freq(static_cast<size_t>(half));
        for (int i = 0; i < half; ++i)
            inv_freq[size_t(i)] = float(1.0 / std::pow(10000.0, 2.0 * i / head_dim));
        auto x = random_vec(int64_t(T) * H * head_dim, rng);
        const auto x0 = x;
        cpu::rope_rotate_half(x.data(), T, H, head_dim, pos, inv_freq.data());
        for (int t = 0; t < T; ++t)
            for (int h = 0; h < H; ++h)
                for (int i = 0; i < half; ++i) {
                    const size_t base = size_t((t * H + h) * head_dim);
                    // The angle is the fp32 product (models.md §1.6); cos/sin of it in double.
                    const double phi = double(float(pos[t]) * inv_freq[size_t(i)]);
                    const double a = x0[base + size_t(i)], b = x0[base + size_t(i + half)];
                    const double r0 = a * std::cos(phi) - b * std::sin(phi);
                    const double r1 = b * std::cos(phi) + a * std::sin(phi);
                    QVERIFY2(std::abs(double(x[base + size_t(i)]) - r0) < 1e-6, qPrintable(QString("t%1 h%2 i%3").arg(t).arg(h).arg(i)));
                    QVERIFY2(std::abs(double(x[base + size_t(i + half)]) - r1) < 1e-6, qPrintable(QString("t%1 h%2 i%3+").arg(t).arg(h).arg(i)));
                }
    }

    void attention_data() {
        QTest::addColumn<int>("T");
        QTest::addColumn<int>("pos0");
        QTest::addColumn<int>("n_heads");
        QTest::addColumn<int>("n_kv");
        QTest::addColumn<int>("head_dim");
        QTest::addColumn<bool>("scalar");
        const int cases[][5] = {{1, 0, 1, 1, 4},   {1, 9, 4, 2, 16},   {5, 0, 4, 4, 8},    {7, 3, 6, 2, 33},
                                {1, 300, 12, 2, 128}, {16, 20, 8, 1, 64}, {3, 1, 2, 2, 1},  {9, 0, 12, 2, 128},
                                {70, 0, 4, 2, 32},    {2, 1000, 12, 2, 128}, {2, 5, 20, 1, 16}, {1, 129, 3, 3, 72}};
        for (bool scalar : {true, false})
            for (const auto& c : cases)
                QTest::newRow(qPrintable(QString("%1 T%2 pos0 %3 h%4/%5 hd%6")
                                             .arg(path_name(scalar))
                                             .arg(c[0]).arg(c[1]).arg(c[2]).arg(c[3]).arg(c[4])))
                    << c[0] << c[1] << c[2] << c[3] << c[4] << scalar;
    }

    void attention() {
        QFETCH(int, T);
        QFETCH(int, pos0);
        QFETCH(int, n_heads);
        QFETCH(int, n_kv);
        QFETCH(int, head_dim);
        QFETCH(bool, scalar);
        if (skip_path(scalar)) QSKIP("no AVX2 on this CPU");
        PathGuard guard(scalar);
        std::mt19937 rng{uint32_t(T * 100 + pos0 + head_dim)};
        const int S = pos0 + T, max_seq = S + 5;
        const int kv_row = n_kv * head_dim, q_row = n_heads * head_dim;
        const float scale = 1.0f / std::sqrt(float(head_dim));
        // Large-ish q/k so the softmax is peaked and the max subtraction matters.
        auto q = random_vec(int64_t(T) * q_row, rng, -3.0f, 3.0f);
        auto k = random_vec(int64_t(max_seq) * kv_row, rng, -3.0f, 3.0f);
        auto v = random_vec(int64_t(max_seq) * kv_row, rng);
        // Cache rows past pos0 + T are not valid yet: poison them so reading one shows up.
        for (size_t i = size_t(S) * size_t(kv_row); i < k.size(); ++i) k[i] = v[i] = std::numeric_limits<float>::quiet_NaN();
        std::vector<float> out(size_t(T) * size_t(q_row), std::numeric_limits<float>::quiet_NaN());
        std::vector<float> scratch(size_t(m_pool.size()) * size_t(S));
        cpu::attention(q.data(), k.data(), v.data(), T, pos0, n_heads, n_kv, head_dim, scale, out.data(),
                       scratch.data(), m_pool);

        const int group = n_heads / n_kv;
        std::vector<double> p(static_cast<size_t>(S));
        for (int t = 0; t < T; ++t)
            for (int h = 0; h < n_heads; ++h) {
                const int kvh = h / group, L = pos0 + t + 1;
                double mx = -INFINITY;
                for (int j = 0; j < L; ++j) {
                    double s = 0.0;
                    for (int d = 0; d < head_dim; ++d)
                        s += double(q[size_t(t * q_row + h * head_dim + d)]) * double(k[size_t(j * kv_row + kvh * head_dim + d)]);
                    p[size_t(j)] = s * double(scale);
                    mx = std::max(mx, p[size_t(j)]);
                }
                double sum = 0.0;
                for (int j = 0; j < L; ++j) sum += p[size_t(j)] = std::exp(p[size_t(j)] - mx);
                for (int d = 0; d < head_dim; ++d) {
                    double ref = 0.0;
                    for (int j = 0; j < L; ++j) ref += p[size_t(j)] / sum * double(v[size_t(j * kv_row + kvh * head_dim + d)]);
                    const double got = out[size_t(t * q_row + h * head_dim + d)];
                    if (!(std::abs(got - ref) < 2e-6))  // |v| <= 1, so this is relative to the value scale
                        QFAIL(qPrintable(QString("t%1 h%2 d%3: %4 vs %5").arg(t).arg(h).arg(d).arg(got).arg(ref)));
                }
            }
    }

    void siluMul_data() {
        QTest::addColumn<bool>("scalar");
        QTest::newRow("scalar") << true;
        QTest::newRow("avx2") << false;
    }

    void siluMul() {
        QFETCH(bool, scalar);
        if (skip_path(scalar)) QSKIP("no AVX2 on this CPU");
        PathGuard guard(scalar);
        std::mt19937 rng(5);
        for (int n : {1, 7, 8, 9, 1000, 8960}) {
            auto g = random_vec(n, rng, -12.0f, 12.0f), u = random_vec(n, rng, -2.0f, 2.0f);
            if (n > 8) {  // extremes: exp(-g) overflows / underflows in a naive f32 formula
                g[0] = -100.0f;
                g[1] = 100.0f;
                g[2] = -88.5f;
                g[3] = 0.0f;
            }
            std::vector<float> out(static_cast<size_t>(n));
            cpu::silu_mul(g.data(), u.data(), n, out.data());
            auto in_place = g;  // the MLP writes the product over gate
            cpu::silu_mul(in_place.data(), u.data(), n, in_place.data());
            QCOMPARE(in_place, out);
            for (int i = 0; i < n; ++i) {
                const double gd = g[size_t(i)];
                const double ref = gd / (1.0 + std::exp(-gd)) * double(u[size_t(i)]);
                QVERIFY2(std::isfinite(out[size_t(i)]), qPrintable(QString("n%1 [%2]").arg(n).arg(i)));
                QVERIFY2(std::abs(double(out[size_t(i)]) - ref) <= 1e-6 * std::abs(ref) + 1e-30,
                         qPrintable(QString("n%1 [%2]: g %3 got %4 ref %5").arg(n).arg(i).arg(gd).arg(out[size_t(i)]).arg(ref)));
            }
        }
    }

    void embedding() {
        std::mt19937 rng(9);
        for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
            const int V = 50, D = 37;
            Weights table = make_weights(dt, {V, D}, rng);
            const int32_t ids[] = {0, 49, 7, 7, 23};
            const int T = 5;
            std::vector<float> out(static_cast<size_t>(T * D));
            cpu::embedding(table.tensor, ids, T, out.data());
            for (int t = 0; t < T; ++t)
                for (int d = 0; d < D; ++d)
                    QCOMPARE(double(out[size_t(t * D + d)]), table.value[size_t(ids[t] * D + d)]);
        }
    }

    void addInplace() {
        for (bool scalar : {true, false}) {
            if (skip_path(scalar)) continue;
            PathGuard guard(scalar);
            std::mt19937 rng(3);
            for (int n : {0, 1, 7, 8, 17, 1536}) {
                auto x = random_vec(n, rng), y = random_vec(n, rng);
                auto ref = x;
                for (int i = 0; i < n; ++i) ref[size_t(i)] += y[size_t(i)];
                cpu::add_inplace(x.data(), y.data(), n);
                QCOMPARE(x, ref);  // one f32 add per element either way: exact
            }
        }
    }

    void softmax() {
        for (bool scalar : {true, false}) {
            if (skip_path(scalar)) continue;
            PathGuard guard(scalar);
            std::mt19937 rng(13);
            for (int n : {1, 5, 8, 31, 151936}) {
                const int rows = 2;
                auto x = random_vec(int64_t(rows) * n, rng, -30.0f, 30.0f);
                if (n >= 5) {
                    x[0] = 1e4f;  // would overflow exp without the max subtraction
                    x[1] = -std::numeric_limits<float>::infinity();  // a masked logit: probability 0
                }
                const auto x0 = x;
                cpu::softmax(x.data(), rows, n);
                for (int r = 0; r < rows; ++r) {
                    double mx = -INFINITY, sum = 0.0;
                    for (int i = 0; i < n; ++i) mx = std::max(mx, double(x0[size_t(r * n + i)]));
                    for (int i = 0; i < n; ++i) sum += std::exp(double(x0[size_t(r * n + i)]) - mx);
                    for (int i = 0; i < n; ++i) {
                        const double arg = double(x0[size_t(r * n + i)]) - mx;
                        const double ref = std::exp(arg) / sum;
                        // x - max is itself rounded to f32: that alone moves exp by |x - max|·2⁻²⁴.
                        const double tol = ref == 0.0 ? 1e-30 : (2e-6 + std::abs(arg) * 6e-8) * ref + 1e-30;
                        QVERIFY2(std::abs(double(x[size_t(r * n + i)]) - ref) <= tol,
                                 qPrintable(QString("%1 n%2 r%3 [%4]: %5 vs %6").arg(path_name(scalar)).arg(n).arg(r).arg(i).arg(x[size_t(r * n + i)]).arg(ref)));
                    }
                }
            }
        }
    }

    void argmax() {
        const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
        QCOMPARE(cpu::argmax(nullptr, 0), int64_t(-1));
        std::vector<float> a = {1.0f, 3.0f, 2.0f, 3.0f};
        QCOMPARE(cpu::argmax(a.data(), 4), int64_t(1));  // first of a tie
        std::vector<float> b = {nan, -inf, nan};
        QCOMPARE(cpu::argmax(b.data(), 3), int64_t(1));
        std::vector<float> c = {nan, nan};
        QCOMPARE(cpu::argmax(c.data(), 2), int64_t(-1));
        std::vector<float> d = {-5.0f, nan, inf, 1e30f};
        QCOMPARE(cpu::argmax(d.data(), 4), int64_t(2));
    }
};

QTEST_APPLESS_MAIN(TestCpuOps)
#include "test_cpu_ops.moc"
