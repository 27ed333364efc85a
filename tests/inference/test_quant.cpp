// Quantized CPU kernels (backend/cpu/quant.h): hand-built blocks decode to the values the GGML layout
// defines, and quant_matmul on the scalar and the AVX2 path matches a double-precision matmul of the
// dequantized weights at odd sizes. The reference applies the same int8 activation rounding the kernels
// use, so only summation order separates them; a second check bounds the rounding itself against plain x.
// (Decoding against gguf-py's reference dequantization is in test_gguf.cpp, on the fixtures.)
#include <QtTest/QtTest>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/ops.h"
#include "backend/cpu/quant.h"
#include "core/dtype.h"
#include "core/thread_pool.h"

using namespace tessera;
using cpu::QuantIsa;

namespace {

void put_f16(uint8_t* p, float v) {
    uint16_t h = f32_to_f16(v);
    std::memcpy(p, &h, 2);
}

// Random but well-formed rows: random bytes, with every f16 scale replaced by a finite value of a sane
// size (random bits would include NaN and infinity).
std::vector<uint8_t> random_weights(QuantType type, int64_t rows, int64_t k, std::mt19937& rng) {
    const uint64_t rb = *quant_row_bytes(type, k);
    std::vector<uint8_t> w(size_t(rb * uint64_t(rows)));
    std::uniform_int_distribution<int> byte(0, 255);
    for (auto& b : w) b = uint8_t(byte(rng));
    std::uniform_real_distribution<float> scale(0.001f, 0.05f), val(-1.f, 1.f);
    const int64_t bb = quant_traits(type).block_bytes;
    const size_t blocks = w.size() / size_t(bb);
    for (size_t i = 0; i < blocks; ++i) {
        uint8_t* b = w.data() + i * size_t(bb);
        switch (type) {
            case QuantType::Q4_0: case QuantType::Q8_0: put_f16(b, scale(rng) * (byte(rng) & 1 ? 1.f : -1.f)); break;
            case QuantType::Q4_K: case QuantType::Q5_K:
                put_f16(b, scale(rng));
                put_f16(b + 2, scale(rng));
                break;
            case QuantType::Q6_K: put_f16(b + 208, scale(rng) * 0.1f); break;
            case QuantType::F32: {
                float v = val(rng);
                std::memcpy(b, &v, 4);
                break;
            }
            case QuantType::F16: put_f16(b, val(rng)); break;
            case QuantType::BF16: {
                uint16_t h = f32_to_bf16(val(rng));
                std::memcpy(b, &h, 2);
                break;
            }
            default: break;
        }
    }
    return w;
}

std::vector<float> random_activations(int64_t n, std::mt19937& rng) {
    std::normal_distribution<float> dist(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = dist(rng);
    if (n > 40) x[size_t(n / 3)] = 9.f;  // an outlier, as real hidden states have
    return x;
}

QString describe(QuantType t, int64_t M, int64_t N, int64_t K, QuantIsa isa) {
    return QString("%1 M=%2 N=%3 K=%4 %5")
        .arg(QString::fromUtf8(quant_name(t).data(), int(quant_name(t).size())))
        .arg(M).arg(N).arg(K).arg(isa == QuantIsa::Scalar ? "scalar" : "avx2");
}

}  // namespace

class TestQuant : public QObject {
    Q_OBJECT

private slots:
    void traitsAndRowBytes();
    void decodeHandBuiltBlocks();
    void matmulMatchesDequantizedReference_data();
    void matmulMatchesDequantizedReference();
    void scalarAndAvx2Agree();
    void activationRoundingIsIdentical();
    void autoFollowsForceScalar();
    void rejectsBadArguments();
};

void TestQuant::traitsAndRowBytes() {
    QCOMPARE(quant_traits(QuantType::Q4_K).block_bytes, int64_t(144));
    QCOMPARE(quant_traits(QuantType::Q6_K).block_bytes, int64_t(210));
    QCOMPARE(quant_traits(QuantType::Q8_0).block_size, int64_t(32));
    QVERIFY(!quant_traits(uint32_t(4)).has_value());  // Q4_2, removed from GGML long ago
    QVERIFY(!quant_traits(uint32_t(1000)).has_value());
    QCOMPARE(*quant_row_bytes(QuantType::Q4_K, 3584), uint64_t(14 * 144));
    QCOMPARE(*quant_row_bytes(QuantType::BF16, 7), uint64_t(14));
    QVERIFY(!quant_row_bytes(QuantType::Q4_K, 3583).has_value());
    QVERIFY(!quant_row_bytes(QuantType::Q8_0, -32).has_value());
    QVERIFY(quant_supported(QuantType::Q5_K));
    QVERIFY(!quant_supported(QuantType::Q2_K));
    QCOMPARE(*quant_float_dtype(QuantType::BF16), DType::BF16);
    QVERIFY(!quant_float_dtype(QuantType::Q8_0));
}

void TestQuant::decodeHandBuiltBlocks() {
    float y[256];
    {  // Q4_0: d = 0.5; element l from the low nibble of qs[l], l+16 from the high nibble.
        uint8_t b[18] = {};
        put_f16(b, 0.5f);
        b[2] = 0x1F;  // element 0: 15 → 0.5·7, element 16: 1 → 0.5·(−7)
        QVERIFY(cpu::dequantize_row(QuantType::Q4_0, b, y, 32).ok());
        QCOMPARE(y[0], 3.5f);
        QCOMPARE(y[16], -3.5f);
        QCOMPARE(y[1], -4.f);  // nibble 0
    }
    {  // Q8_0
        uint8_t b[34] = {};
        put_f16(b, 0.25f);
        b[2 + 5] = uint8_t(int8_t(-128));
        QVERIFY(cpu::dequantize_row(QuantType::Q8_0, b, y, 32).ok());
        QCOMPARE(y[5], -32.f);
        QCOMPARE(y[6], 0.f);
    }
    {  // Q4_K: scales 4..7 and mins 4..7 carry their top two bits in bytes 0..7.
        uint8_t b[144] = {};
        put_f16(b, 1.f);
        put_f16(b + 2, 0.5f);
        uint8_t* s = b + 4;
        s[0] = 2;                    // sc0 = 2
        s[4] = 3;                    // m0 = 3
        s[1] = uint8_t(3u << 6);     // top bits of sc5 = 3
        s[9] = 0x0F | (0x2u << 4);   // sc5 low = 15, m5 low = 2
        s[5] = uint8_t(1u << 6);     // top bits of m5 = 1
        b[16 + 0] = 0x07;            // sub-block 0 element 0 = 7
        b[16 + 64 + 1] = 0x90;       // sub-block 5 (high nibbles of bytes 64..95) element 1 = 9
        QVERIFY(cpu::dequantize_row(QuantType::Q4_K, b, y, 256).ok());
        QCOMPARE(y[0], 2.f * 7.f - 0.5f * 3.f);
        QCOMPARE(y[5 * 32 + 1], 63.f * 9.f - 0.5f * 18.f);  // sc5 = 15 | 3<<4 = 63, m5 = 2 | 1<<4 = 18
        QCOMPARE(y[5 * 32 + 2], -9.f);
    }
    {  // Q5_K: bit j of qh[l] is bit 4 of element l of sub-block j.
        uint8_t b[176] = {};
        put_f16(b, 1.f);
        b[4] = 1;                 // sc0 = 1
        b[4 + 3] = 1;             // sc3 = 1
        b[16 + 2] = 0x01 | 0x08;  // element 2 of sub-blocks 0 and 3 get +16
        b[48 + 32 + 2] = 0x50;    // sub-block 3: high nibble of byte 32+2 = 5
        QVERIFY(cpu::dequantize_row(QuantType::Q5_K, b, y, 256).ok());
        QCOMPARE(y[2], 16.f);
        QCOMPARE(y[3 * 32 + 2], 21.f);
    }
    {  // Q6_K: element 128 + 64 + 3 (half 1, group 2) = high nibble of ql[64+3] | qh[32+3] bits 4-5.
        uint8_t b[210] = {};
        put_f16(b + 208, 0.5f);
        for (int i = 0; i < 16; ++i) b[192 + i] = uint8_t(int8_t(i - 8));
        b[64 + 3] = 0xA0;             // low 4 bits 10
        b[128 + 32 + 3] = 0x2u << 4;  // high 2 bits 2 → q = 42, minus 32 = 10
        QVERIFY(cpu::dequantize_row(QuantType::Q6_K, b, y, 256).ok());
        // scale index 8·1 + 2·2 + 3/16 = 12 → 12 − 8 = 4
        QCOMPARE(y[128 + 64 + 3], 0.5f * 4.f * 10.f);
        QCOMPARE(y[0], 0.5f * -8.f * -32.f);
    }
}

void TestQuant::matmulMatchesDequantizedReference_data() {
    QTest::addColumn<int>("type");
    QTest::addColumn<int>("M");
    QTest::addColumn<int>("N");
    QTest::addColumn<int>("K");
    struct Case {
        QuantType t;
        int M, N, K;
    };
    const Case cases[] = {
        {QuantType::Q4_K, 1, 37, 512},  {QuantType::Q4_K, 3, 17, 768},  {QuantType::Q4_K, 9, 5, 256},
        {QuantType::Q5_K, 1, 33, 512},  {QuantType::Q5_K, 5, 11, 1024},
        {QuantType::Q6_K, 1, 41, 768},  {QuantType::Q6_K, 7, 13, 256},
        {QuantType::Q8_0, 1, 29, 96},   {QuantType::Q8_0, 11, 7, 544},
        {QuantType::Q4_0, 1, 31, 160},  {QuantType::Q4_0, 3, 19, 32},
        {QuantType::F16, 3, 9, 45},     {QuantType::BF16, 1, 17, 130}, {QuantType::F32, 5, 3, 23},
    };
    for (const auto& c : cases)
        QTest::newRow(qPrintable(describe(c.t, c.M, c.N, c.K, QuantIsa::Scalar).section(' ', 0, 3)))
            << int(c.t) << c.M << c.N << c.K;
}

void TestQuant::matmulMatchesDequantizedReference() {
    QFETCH(int, type);
    QFETCH(int, M);
    QFETCH(int, N);
    QFETCH(int, K);
    const auto t = QuantType(type);
    std::mt19937 rng(uint32_t(type * 1000 + M * 100 + N + K));
    const auto w = random_weights(t, N, K, rng);
    const auto x = random_activations(int64_t(M) * K, rng);
    const uint64_t rb = *quant_row_bytes(t, K);

    std::vector<float> wdq(size_t(N) * size_t(K)), xr(x.size());
    for (int n = 0; n < N; ++n) QVERIFY(cpu::dequantize_row(t, w.data() + n * rb, wdq.data() + size_t(n) * size_t(K), K).ok());
    for (int m = 0; m < M; ++m)
        cpu::quant_round_activations(t, x.data() + size_t(m) * size_t(K), K, xr.data() + size_t(m) * size_t(K));

    ThreadPool pool(3);
    for (QuantIsa isa : {QuantIsa::Scalar, QuantIsa::Avx2}) {
        if (isa == QuantIsa::Avx2 && !cpu::quant_cpu_has_avx2()) continue;
        std::vector<float> y(size_t(M) * size_t(N), NAN);
        Status st = cpu::quant_matmul(x.data(), M, K, w.data(), t, N, y.data(), pool, isa);
        QVERIFY2(st.ok(), st.ok() ? "" : st.error().message.c_str());
        for (int m = 0; m < M; ++m) {
            for (int n = 0; n < N; ++n) {
                double ref = 0, mag = 0, exact = 0, rounding = 0;
                for (int k = 0; k < K; ++k) {
                    double wv = wdq[size_t(n) * size_t(K) + size_t(k)];
                    double xv = xr[size_t(m) * size_t(K) + size_t(k)], x0 = x[size_t(m) * size_t(K) + size_t(k)];
                    ref += wv * xv;
                    exact += wv * x0;
                    mag += std::fabs(wv * xv);
                    rounding += std::fabs(wv) * std::fabs(xv - x0);
                }
                const double got = y[size_t(m) * size_t(N) + size_t(n)];
                // f32 accumulation across blocks: tens of ulps of the summed magnitudes at most; a layout
                // mistake is off by O(1).
                const double tol = 1e-5 * mag + 1e-30;
                if (std::fabs(got - ref) > tol || std::fabs(got - exact) > rounding + tol)
                    QFAIL(qPrintable(describe(t, M, N, K, isa) + QString(": y[%1,%2] = %3, reference %4 (tol %5), "
                                                                        "unrounded x %6 (tol %7)")
                                                                    .arg(m).arg(n).arg(got).arg(ref).arg(tol)
                                                                    .arg(exact).arg(rounding + tol)));
            }
        }
    }
}

void TestQuant::scalarAndAvx2Agree() {
    if (!cpu::quant_cpu_has_avx2()) QSKIP("no AVX2/FMA/F16C on this CPU");
    ThreadPool pool(2);
    std::mt19937 rng(99);
    for (QuantType t : {QuantType::Q4_0, QuantType::Q8_0, QuantType::Q4_K, QuantType::Q5_K, QuantType::Q6_K,
                        QuantType::F16, QuantType::BF16, QuantType::F32}) {
        const int M = 2, N = 64, K = 2048;
        auto w = random_weights(t, N, K, rng);
        auto x = random_activations(M * K, rng);
        std::vector<float> ys(M * N), yv(M * N);
        QVERIFY(cpu::quant_matmul(x.data(), M, K, w.data(), t, N, ys.data(), pool, QuantIsa::Scalar).ok());
        QVERIFY(cpu::quant_matmul(x.data(), M, K, w.data(), t, N, yv.data(), pool, QuantIsa::Avx2).ok());
        double scale = 0;
        for (float v : ys) scale = std::max(scale, double(std::fabs(v)));
        for (size_t i = 0; i < ys.size(); ++i)
            QVERIFY2(std::fabs(double(ys[i]) - double(yv[i])) <= 1e-4 * scale,
                     qPrintable(QString("%1: [%2] scalar %3 avx2 %4").arg(quant_name(t).data()).arg(i).arg(ys[i]).arg(yv[i])));
    }
}

void TestQuant::activationRoundingIsIdentical() {
#if defined(__x86_64__) || defined(__i386__)
    if (!cpu::quant_cpu_has_avx2()) QSKIP("no AVX2/FMA/F16C on this CPU");
    std::mt19937 rng(5);
    const int K = 4096;
    auto x = random_activations(K, rng);
    for (int i = 0; i < 32; ++i) x[size_t(64 + i)] = 0.f;           // a zero block
    for (int i = 0; i < 32; ++i) x[size_t(128 + i)] = float(i) - 15.5f;  // exact .5 products
    std::vector<int8_t> qa(K), qb(K);
    std::vector<float> da(K / 32), db(K / 32), sa(K / 32), sb(K / 32);
    cpu::detail::quantize_act32_scalar(x.data(), K, qa.data(), da.data(), sa.data());
    cpu::detail::quantize_act32_avx2(x.data(), K, qb.data(), db.data(), sb.data());
    QVERIFY(qa == qb);
    QVERIFY(da == db);
    QVERIFY(sa == sb);
    QCOMPARE(da[2], 0.f);
    std::vector<int16_t> ba(K / 16), bb(K / 16);
    std::vector<float> d256a(K / 256), d256b(K / 256);
    cpu::detail::quantize_act256_scalar(x.data(), K, qa.data(), d256a.data(), ba.data());
    cpu::detail::quantize_act256_avx2(x.data(), K, qb.data(), d256b.data(), bb.data());
    QVERIFY(qa == qb);
    QVERIFY(d256a == d256b);
    QVERIFY(ba == bb);
    int sum = 0;
    for (int i = 16; i < 32; ++i) sum += qa[size_t(i)];
    QCOMPARE(int(ba[1]), sum);
#else
    QSKIP("x86 only");
#endif
}

void TestQuant::autoFollowsForceScalar() {
    ThreadPool pool(2);
    std::mt19937 rng(17);
    const int M = 3, N = 21, K = 512;
    auto w = random_weights(QuantType::Q4_K, N, K, rng);
    auto x = random_activations(M * K, rng);
    std::vector<float> ys(M * N), ya(M * N);
    QVERIFY(cpu::quant_matmul(x.data(), M, K, w.data(), QuantType::Q4_K, N, ys.data(), pool, QuantIsa::Scalar).ok());
    cpu::set_force_scalar(true);
    Status st = cpu::quant_matmul(x.data(), M, K, w.data(), QuantType::Q4_K, N, ya.data(), pool);
    cpu::set_force_scalar(false);
    QVERIFY(st.ok());
    QVERIFY(std::memcmp(ys.data(), ya.data(), ys.size() * 4) == 0);  // the very same code ran
}

void TestQuant::rejectsBadArguments() {
    ThreadPool pool(1);
    std::vector<float> x(512, 1.f), y(4);
    std::vector<uint8_t> w(4096);
    Status st = cpu::quant_matmul(x.data(), 1, 256, w.data(), QuantType::Q2_K, 1, y.data(), pool);
    QVERIFY(!st.ok());
    QCOMPARE(st.error().code, ErrorCode::Unsupported);
    QVERIFY(st.error().message.find("Q2_K") != std::string::npos);
    st = cpu::quant_matmul(x.data(), 1, 100, w.data(), QuantType::Q4_K, 1, y.data(), pool);
    QCOMPARE(st.error().code, ErrorCode::InvalidArgument);
    QVERIFY(st.error().message.find("K=100") != std::string::npos);
    st = cpu::quant_matmul(x.data(), -1, 256, w.data(), QuantType::Q4_K, 1, y.data(), pool);
    QCOMPARE(st.error().code, ErrorCode::InvalidArgument);
    QVERIFY(cpu::quant_matmul(x.data(), 0, 256, w.data(), QuantType::Q4_K, 1, y.data(), pool).ok());
    float out[32];
    st = cpu::dequantize_row(QuantType::Q8_0, w.data(), out, 31);
    QCOMPARE(st.error().code, ErrorCode::InvalidArgument);
    st = cpu::dequantize_row(QuantType::IQ2_XXS, w.data(), out, 256);
    QCOMPARE(st.error().code, ErrorCode::Unsupported);
}

QTEST_APPLESS_MAIN(TestQuant)
#include "test_quant.moc"
