// Sampler semantics against Hugging Face generate (models.md §1.10): repetition penalty (divide positive,
// multiply negative, once per distinct id, before everything else), greedy = first maximum, temperature
// reshapes the distribution as softmax(z / T), top-k keeps ties at the threshold, top-p keeps the smallest
// prefix reaching the mass (at least one token), and a seed reproduces the same draws.
#include <QtTest/QtTest>

#include <cmath>
#include <vector>

#include "runtime/sampler.h"

using namespace tessera;

namespace {

SamplingParams sampling(float temperature, int top_k = 0, float top_p = 1.0f, uint64_t seed = 7) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.seed = seed;
    return p;
}

// Frequencies of n draws from `logits` (copied per draw, since sample() modifies its input).
std::vector<double> frequencies(Sampler& s, const std::vector<float>& logits, int n) {
    std::vector<double> f(logits.size(), 0.0);
    for (int i = 0; i < n; ++i) {
        std::vector<float> z = logits;
        f[size_t(s.sample(z.data(), nullptr, 0))] += 1.0 / n;
    }
    return f;
}

std::vector<double> softmax(const std::vector<float>& z, double t) {
    std::vector<double> p(z.size());
    double sum = 0;
    for (size_t i = 0; i < z.size(); ++i) sum += p[i] = std::exp(double(z[i]) / t);
    for (double& v : p) v /= sum;
    return p;
}

}  // namespace

class TestSampler : public QObject {
    Q_OBJECT

private slots:
    void repetitionPenaltyDividesPositiveMultipliesNegative() {
        std::vector<float> z = {2.0f, -2.0f, 1.0f, 0.0f};
        const int32_t ids[] = {0, 1, 3};
        apply_repetition_penalty(z.data(), ids, 3, 2.0f);
        QCOMPARE(z, (std::vector<float>{1.0f, -4.0f, 1.0f, 0.0f}));
        apply_repetition_penalty(z.data(), ids, 3, 1.0f);  // 1 = off
        QCOMPARE(z, (std::vector<float>{1.0f, -4.0f, 1.0f, 0.0f}));
    }

    void greedyTakesTheFirstMaximumAfterThePenalty() {
        Sampler s;
        SamplingParams p;
        p.greedy = true;
        QVERIFY(s.configure(p, 4).ok());
        std::vector<float> z = {1.0f, 3.0f, 3.0f, -1.0f};
        QCOMPARE(s.sample(z.data(), nullptr, 0), 1);
        p.repetition_penalty = 2.0f;
        QVERIFY(s.configure(p, 4).ok());
        z = {2.0f, 1.5f, 0.0f, -1.0f};
        const int32_t seen[] = {0};
        QCOMPARE(s.sample(z.data(), seen, 1), 1);  // 2 / 2 = 1 < 1.5
    }

    void temperatureReshapesTheDistribution() {
        const std::vector<float> z = {0.0f, std::log(2.0f), std::log(4.0f), -1.0f};
        for (float t : {1.0f, 0.5f, 2.0f}) {
            Sampler s;
            QVERIFY(s.configure(sampling(t), 4).ok());
            const std::vector<double> f = frequencies(s, z, 40000);
            const std::vector<double> p = softmax(z, double(t));
            for (size_t i = 0; i < z.size(); ++i)
                QVERIFY2(std::fabs(f[i] - p[i]) < 0.012, qPrintable(QString("T %1 id %2: %3 vs %4").arg(t).arg(i).arg(f[i]).arg(p[i])));
        }
        // A very low temperature is practically greedy.
        Sampler cold;
        QVERIFY(cold.configure(sampling(0.01f), 4).ok());
        QCOMPARE(frequencies(cold, z, 500)[2], 1.0);
    }

    void topKKeepsTiesAtTheThreshold() {
        const std::vector<float> z = {3.0f, 2.0f, 2.0f, 1.0f, 0.5f};
        Sampler s;
        QVERIFY(s.configure(sampling(1.0f, 2), 5).ok());
        const std::vector<double> f = frequencies(s, z, 20000);
        QCOMPARE(f[3], 0.0);
        QCOMPARE(f[4], 0.0);
        QVERIFY(f[1] > 0.05 && f[2] > 0.05);  // both tied at the 2nd largest value survive (HF: < threshold removed)
        // Renormalised over the kept three.
        const double e3 = std::exp(3.0), e2 = std::exp(2.0);
        QVERIFY(std::fabs(f[0] - e3 / (e3 + 2 * e2)) < 0.015);
        Sampler one;
        QVERIFY(one.configure(sampling(1.0f, 1), 5).ok());
        QCOMPARE(frequencies(one, z, 200)[0], 1.0);
    }

    void topPKeepsTheSmallestPrefixReachingTheMass() {
        const std::vector<float> z = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
        Sampler a;
        QVERIFY(a.configure(sampling(1.0f, 0, 0.75f), 4).ok());
        std::vector<double> f = frequencies(a, z, 20000);
        QCOMPARE(f[2], 0.0);
        QCOMPARE(f[3], 0.0);
        QVERIFY(std::fabs(f[0] - 0.625) < 0.015);  // 0.5 / 0.8
        Sampler b;
        QVERIFY(b.configure(sampling(1.0f, 0, 0.85f), 4).ok());
        f = frequencies(b, z, 20000);
        QVERIFY(f[2] > 0.1);
        QCOMPARE(f[3], 0.0);
        Sampler c;  // below the top token's own mass: the top token alone
        QVERIFY(c.configure(sampling(1.0f, 0, 0.1f), 4).ok());
        QCOMPARE(frequencies(c, z, 300)[0], 1.0);
        Sampler d;  // top-k first, then top-p over the renormalised survivors
        QVERIFY(d.configure(sampling(1.0f, 3, 0.9f), 4).ok());
        f = frequencies(d, z, 20000);
        QCOMPARE(f[3], 0.0);
        QVERIFY(f[2] > 0.1);  // 0.5/0.95 + 0.3/0.95 = 0.84 < 0.9, so the third stays
    }

    void sameSeedSameDraws() {
        std::vector<float> z(1000);
        for (size_t i = 0; i < z.size(); ++i) z[i] = float(std::sin(double(i) * 0.37) * 3.0);
        auto run = [&](uint64_t seed) {
            Sampler s;
            if (!s.configure(sampling(0.8f, 0, 0.95f, seed), 1000).ok()) return std::vector<int32_t>{};
            std::vector<int32_t> out;
            for (int i = 0; i < 64; ++i) {
                std::vector<float> copy = z;
                out.push_back(s.sample(copy.data(), nullptr, 0));
            }
            return out;
        };
        const auto a = run(42), b = run(42), c = run(43);
        QCOMPARE(a.size(), size_t(64));
        QCOMPARE(a, b);
        QVERIFY(a != c);
        // Reconfiguring reseeds: the same sampler object repeats itself.
        QCOMPARE(run(42), a);
    }

    void invalidParametersAreRefused() {
        Sampler s;
        QVERIFY(!s.configure(sampling(0.0f), 10).ok());
        QVERIFY(!s.configure(sampling(-1.0f), 10).ok());
        QVERIFY(!s.configure(sampling(NAN), 10).ok());
        QVERIFY(!s.configure(sampling(1.0f, -1), 10).ok());
        QVERIFY(!s.configure(sampling(1.0f, 0, 0.0f), 10).ok());
        QVERIFY(!s.configure(sampling(1.0f, 0, 1.5f), 10).ok());
        SamplingParams p = sampling(1.0f);
        p.repetition_penalty = 0.0f;
        auto st = s.configure(p, 10);
        QVERIFY(!st.ok());
        QCOMPARE(st.error().code, ErrorCode::InvalidArgument);
        QVERIFY(!s.configure(sampling(1.0f), 0).ok());
        SamplingParams g;
        g.greedy = true;
        g.temperature = 0.0f;  // ignored when greedy
        QVERIFY(s.configure(g, 10).ok());
        QVERIFY(s.configure(sampling(1.0f, 100, 1.0f), 10).ok());  // k beyond the vocabulary: off
    }
};

QTEST_APPLESS_MAIN(TestSampler)
#include "test_sampler.moc"
