// The generation loop on a real (tiny) model: KV-cache reuse across chat turns gives the same reply as a
// fresh session, max tokens, stop strings, callback stop, cancellation within one token (from the callback
// and from another thread), a full context, seeded sampling reproducible, the repetition penalty covering
// the prompt, and the stop-string matcher on its own.
#include <QtTest/QtTest>

#include <atomic>
#include <cstdlib>
#include <new>
#include <cctype>
#include <chrono>
#include <set>
#include <thread>

#include "core/thread_pool.h"
#include "io/checkpoint.h"
#include "models/llm_reference.h"
#include "models/registry.h"
#include "runtime/sampler.h"
#include "runtime/text_stream.h"
#include "tessera/engine.h"

// Counts heap allocations (any thread) while g_counting is set: the decode step must make none.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
    if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace tessera;
using namespace tessera::test;

namespace {

GenerateOptions greedy(int max_tokens) {
    GenerateOptions o;
    o.sampling.greedy = true;
    o.max_tokens = max_tokens;
    o.stop_at_eos = false;
    return o;
}

}  // namespace

class TestSession : public QObject {
    Q_OBJECT

    std::shared_ptr<Model> m_model;
    LlmReference m_ref;

private slots:
    void initTestCase() {
        m_ref = load_llm_reference("llama_st_single");
        auto model = Model::load(m_ref.dir);
        QVERIFY2(model.ok(), model.ok() ? "" : model.error().to_string().c_str());
        m_model = *model;
    }

    void secondTurnReusesTheCache() {
        auto session = m_model->open_session();
        QVERIFY(session.ok());
        std::vector<Message> messages = {{"user", "Hello there"}};
        std::string answer;
        auto first = (*session)->chat(messages, greedy(6), [&](const TextEvent& e) {
            answer += e.answer;
            return Flow::Continue;
        });
        QVERIFY(first.ok());
        QCOMPARE(first->cached_tokens, 0);
        messages.push_back({"assistant", answer});
        messages.push_back({"user", "And then?"});
        auto second = (*session)->chat(messages, greedy(8));
        QVERIFY(second.ok());
        // Everything up to the first reply is shared with the previous call's history.
        QVERIFY2(second->cached_tokens >= first->prompt_tokens, qPrintable(QString::number(second->cached_tokens)));
        QVERIFY(second->cached_tokens < second->prompt_tokens);

        auto fresh = m_model->open_session();
        QVERIFY(fresh.ok());
        auto again = (*fresh)->chat(messages, greedy(8));
        QVERIFY(again.ok());
        QCOMPARE(again->cached_tokens, 0);
        QCOMPARE(second->tokens, again->tokens);

        // The same context twice: all but the last token come from the cache, the reply is unchanged.
        auto repeat = (*fresh)->chat(messages, greedy(8));
        QVERIFY(repeat.ok());
        QCOMPARE(repeat->cached_tokens, repeat->prompt_tokens - 1);
        QCOMPARE(repeat->tokens, again->tokens);
    }

    void maxTokensAndStats() {
        auto session = m_model->open_session();
        QVERIFY(session.ok());
        auto stats = (*session)->generate(m_ref.greedy_prompt, greedy(5));
        QVERIFY(stats.ok());
        QCOMPARE(stats->generated_tokens, 5);
        QCOMPARE(stats->tokens.size(), size_t(5));
        QCOMPARE(stats->stop_reason, StopReason::MaxTokens);
        QCOMPARE(stats->prompt_tokens, int(m_ref.greedy_prompt.size()));
        QVERIFY(stats->prefill_tokens_per_second > 0);
        QVERIFY(stats->decode_tokens_per_second > 0);
        QCOMPARE((*session)->history().size(), m_ref.greedy_prompt.size() + 5);
        auto none = (*session)->generate(m_ref.greedy_prompt, greedy(0));
        QVERIFY(none.ok());
        QCOMPARE(none->generated_tokens, 0);
    }

    void stopStringEndsTheReplyBeforeIt() {
        auto session = m_model->open_session();
        QVERIFY(session.ok());
        GenerateOptions opt = greedy(32);
        std::string full;
        auto plain = (*session)->generate(m_ref.greedy_prompt, opt, [&](const TextEvent& e) {
            full += e.answer;
            return Flow::Continue;
        });
        QVERIFY(plain.ok());
        QVERIFY(full.size() > 20);
        // A stop string from the middle of the known greedy reply (ASCII, so it is whole characters).
        size_t mid = full.size() / 2;
        while (mid + 3 < full.size() && !(std::isalpha(uint8_t(full[mid])) && std::isalpha(uint8_t(full[mid + 1])))) ++mid;
        const std::string stop = full.substr(mid, 2);
        const size_t at = full.find(stop);
        opt.stop_strings = {"never-appears", stop};
        std::string text;
        auto stats = (*session)->generate(m_ref.greedy_prompt, opt, [&](const TextEvent& e) {
            text += e.answer;
            return Flow::Continue;
        });
        QVERIFY(stats.ok());
        QCOMPARE(stats->stop_reason, StopReason::StopString);
        QCOMPARE(text, full.substr(0, at));
        QVERIFY(stats->generated_tokens < 32);
    }

    void callbackCanStop() {
        auto session = m_model->open_session();
        QVERIFY(session.ok());
        int calls = 0;
        auto stats = (*session)->generate(m_ref.greedy_prompt, greedy(32), [&](const TextEvent&) {
            return ++calls == 3 ? Flow::Stop : Flow::Continue;
        });
        QVERIFY(stats.ok());
        QCOMPARE(stats->stop_reason, StopReason::Callback);
        QCOMPARE(stats->generated_tokens, 3);
        QCOMPARE(calls, 3);
    }

    void cancellationStopsWithinOneToken() {
        auto session = m_model->open_session();
        QVERIFY(session.ok());
        std::atomic<bool> cancel{false};
        GenerateOptions opt = greedy(32);
        opt.cancel = &cancel;
        int calls = 0;
        auto stats = (*session)->generate(m_ref.greedy_prompt, opt, [&](const TextEvent& e) {
            if (e.token >= 0 && ++calls == 5) cancel.store(true);
            return Flow::Continue;
        });
        QVERIFY(stats.ok());
        QCOMPARE(stats->stop_reason, StopReason::Cancelled);
        QCOMPARE(stats->generated_tokens, 5);  // nothing after the token during which it was set

        // Set before the call: no token at all.
        auto before = (*session)->generate(m_ref.greedy_prompt, opt);
        QVERIFY(before.ok());
        QCOMPARE(before->stop_reason, StopReason::Cancelled);
        QCOMPARE(before->generated_tokens, 0);
    }

    void cancellationFromAnotherThread() {
        auto session = m_model->open_session();
        QVERIFY(session.ok());
        std::atomic<bool> cancel{false};
        std::atomic<int> seen{0};
        GenerateOptions opt = greedy(3500);
        opt.cancel = &cancel;
        int after_visible = 0;
        std::thread canceller([&] {
            while (seen.load() < 20) std::this_thread::yield();
            cancel.store(true);
        });
        auto stats = (*session)->generate(m_ref.greedy_prompt, opt, [&](const TextEvent& e) {
            if (e.token < 0) return Flow::Continue;
            if (cancel.load()) ++after_visible;  // the flag was already set when this token was sampled?
            if (seen.fetch_add(1) >= 20) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // let it run
            return Flow::Continue;
        });
        canceller.join();
        QVERIFY(stats.ok());
        QCOMPARE(stats->stop_reason, StopReason::Cancelled);
        QVERIFY(stats->generated_tokens >= 20 && stats->generated_tokens < 3500);
        // Once a callback can see the flag, at most that one token has been emitted after it was set.
        QVERIFY2(after_visible <= 1, qPrintable(QString::number(after_visible)));
    }

    void fullContextStops() {
        SessionOptions so;
        so.context_length = 40;
        auto session = m_model->open_session(so);
        QVERIFY(session.ok());
        QCOMPARE((*session)->context_length(), 40);
        auto stats = (*session)->generate(m_ref.ids, greedy(100));  // 27 prompt tokens
        QVERIFY(stats.ok());
        QCOMPARE(stats->stop_reason, StopReason::ContextFull);
        QCOMPARE(stats->generated_tokens, 40 - 27 + 1);  // the last one is sampled from position 39
        std::vector<int32_t> too_long(41, 5);
        auto refused = (*session)->generate(too_long, greedy(1));
        QVERIFY(!refused.ok());
        QCOMPARE(refused.error().code, ErrorCode::InvalidArgument);
    }

    void seededSamplingIsReproducible() {
        auto session = m_model->open_session();
        QVERIFY(session.ok());
        GenerateOptions opt;
        opt.sampling.temperature = 1.0f;
        opt.sampling.top_k = 50;
        opt.sampling.top_p = 0.9f;
        opt.max_tokens = 24;
        opt.stop_at_eos = false;
        opt.sampling.seed = 1234;
        auto a = (*session)->generate(m_ref.greedy_prompt, opt);
        auto b = (*session)->generate(m_ref.greedy_prompt, opt);
        opt.sampling.seed = 99;
        auto c = (*session)->generate(m_ref.greedy_prompt, opt);
        QVERIFY(a.ok() && b.ok() && c.ok());
        QCOMPARE(a->tokens, b->tokens);
        QVERIFY(a->tokens != c->tokens);
        QVERIFY(a->tokens != m_ref.greedy_continuation);
    }

    void repetitionPenaltyCoversPromptAndReply() {
        auto session = m_model->open_session();
        QVERIFY(session.ok());
        GenerateOptions opt = greedy(32);
        opt.sampling.repetition_penalty = 1000.0f;
        auto stats = (*session)->generate(m_ref.ids, opt);
        QVERIFY(stats.ok());
        std::set<int32_t> seen(m_ref.ids.begin(), m_ref.ids.end());
        for (int32_t t : stats->tokens) {
            QVERIFY2(!seen.count(t), qPrintable(QString("token %1 repeated").arg(t)));
            seen.insert(t);
        }
        QVERIFY(stats->tokens != m_ref.greedy_continuation);
    }

    void badSamplingIsRefused() {
        auto session = m_model->open_session();
        QVERIFY(session.ok());
        GenerateOptions opt;
        opt.sampling.temperature = 0.0f;
        QVERIFY(!(*session)->generate(m_ref.greedy_prompt, opt).ok());
        opt.sampling.temperature = 1.0f;
        opt.sampling.top_p = 0.0f;
        QVERIFY(!(*session)->generate(m_ref.greedy_prompt, opt).ok());
        opt.sampling.top_p = 1.0f;
        opt.max_tokens = -1;
        QVERIFY(!(*session)->generate(m_ref.greedy_prompt, opt).ok());
    }

    void decodeStepDoesNotAllocate() {
        // The hot path: one model step for one token plus the sampler, after the session is set up.
        auto resolved = resolve_model(m_ref.dir);
        QVERIFY(resolved.ok());
        auto checkpoint = Checkpoint::open(m_ref.dir);
        QVERIFY(checkpoint.ok());
        std::shared_ptr<const Checkpoint> ck = std::move(checkpoint).value();
        auto lm = resolved->spec.load(resolved->config, ck);
        QVERIFY(lm.ok());
        ThreadPool pool(2);
        auto state = (*lm)->new_state(256, 64, pool.size());
        QVERIFY(state.ok());
        const int V = resolved->config.vocab_size;
        std::vector<float> logits(size_t(V), 0.0f);
        Sampler sampler;
        SamplingParams p;
        p.temperature = 0.8f;
        p.top_k = 40;
        p.top_p = 0.9f;
        p.repetition_penalty = 1.1f;
        QVERIFY(sampler.configure(p, V).ok());
        const std::set<int32_t> distinct(m_ref.ids.begin(), m_ref.ids.end());
        const std::vector<int32_t> seen(distinct.begin(), distinct.end());
        QVERIFY((*lm)->forward(**state, m_ref.ids.data(), int(m_ref.ids.size()), 0, logits.data(), false, pool).ok());
        int32_t token = 0;
        g_allocations.store(0);
        g_counting.store(true);
        for (int pos = int(m_ref.ids.size()); pos < 60; ++pos) {
            token = sampler.sample(logits.data(), seen.data(), seen.size());
            if (!(*lm)->forward(**state, &token, 1, pos, logits.data(), false, pool).ok()) QFAIL("forward failed");
        }
        g_counting.store(false);
        // The decode hot path allocates nothing: the backend hands the thread pool non-owning FunctionRefs.
        QCOMPARE(g_allocations.load(), 0L);
    }

    void stopMatcherHoldsBackPrefixes() {
        const std::vector<std::string> stops = {"User:", "##"};
        StopMatcher m(stops);
        bool stopped = false;
        QCOMPARE(m.push("Hello U", stopped), std::string("Hello "));  // "U" may start "User:"
        QVERIFY(!stopped);
        QCOMPARE(m.push("nder", stopped), std::string("Under"));
        QCOMPARE(m.push(" #", stopped), std::string(" "));
        QCOMPARE(m.push("x Us", stopped), std::string("#x "));
        QCOMPARE(m.push("er: more", stopped), std::string(""));
        QVERIFY(stopped);
        StopMatcher tail(stops);
        QCOMPARE(tail.push("ends with Use", stopped), std::string("ends with "));
        QCOMPARE(tail.flush(), std::string("Use"));
        const std::vector<std::string> none;
        StopMatcher pass(none);
        QCOMPARE(pass.push("User:", stopped), std::string("User:"));
        QVERIFY(!stopped);
    }
};

QTEST_GUILESS_MAIN(TestSession)
#include "test_session.moc"
