// Where Janus-Pro understanding runs, decided without a GPU: janus_take_chat_lm swaps the CPU language model
// for the GPU one when it loaded and otherwise keeps the CPU model with the reason noted; the GPU memory
// estimate of a model sharing another's weights leaves the weights out; and with no usable GPU the image
// encoder and the whole conversation stay on the CPU.
#include <QtTest/QtTest>

#include "io/checkpoint.h"
#include "models/causal_lm_gpu.h"
#include "models/janus.h"
#include "runtime/model_state.h"
#include "support/test_support.h"
#include "tessera/engine.h"

using namespace tessera;
using namespace tessera::test;

namespace {

// A language model that only says which one it is.
class TaggedLm final : public CausalLm {
public:
    explicit TaggedLm(std::string tag) : m_tag(std::move(tag)) {}
    const LlmConfig& config() const override { return m_config; }
    uint64_t state_bytes(int, int, int) const override { return 0; }
    Result<std::unique_ptr<ForwardState>> new_state(int, int, int) const override {
        return make_error(ErrorCode::Unsupported, "tagged model");
    }
    Status forward(ForwardState&, const int32_t*, int, int, float*, bool, ThreadPool&) const override {
        return make_error(ErrorCode::Unsupported, "tagged model");
    }
    const std::string& tag() const { return m_tag; }

private:
    std::string m_tag;
    LlmConfig m_config;
};

std::string tag_of(const ModelState& st) {
    const auto* lm = dynamic_cast<const TaggedLm*>(st.lm.get());
    return lm ? lm->tag() : std::string();
}

}  // namespace

class TestJanusChatDevice : public QObject {
    Q_OBJECT

private slots:
    void gpuModelReplacesTheCpuModel() {
        ModelState st;
        st.lm = std::make_unique<TaggedLm>("cpu");
        st.device_name = "NVIDIA H200 · 139 GiB";
        st.janus_cpu_chat_reason = "stale";
        janus_take_chat_lm(st, std::unique_ptr<CausalLm>(std::make_unique<TaggedLm>("gpu")));
        QCOMPARE(tag_of(st), std::string("gpu"));
        QVERIFY(st.janus_cpu_chat_reason.empty());
        QCOMPARE(st.device_name, std::string("NVIDIA H200 · 139 GiB"));
    }

    void failureKeepsTheCpuModelWithTheReason() {
        ModelState st;
        st.lm = std::make_unique<TaggedLm>("cpu");
        st.device_name = "NVIDIA H200 · 139 GiB";
        janus_take_chat_lm(st, make_error(ErrorCode::OutOfMemory, "the KV cache does not fit"));
        QCOMPARE(tag_of(st), std::string("cpu"));
        QVERIFY2(st.janus_cpu_chat_reason.find("the KV cache does not fit") != std::string::npos,
                 st.janus_cpu_chat_reason.c_str());
        QVERIFY2(st.device_name.find("NVIDIA H200") == 0 &&
                     st.device_name.find("(image understanding on the CPU)") != std::string::npos,
                 st.device_name.c_str());
    }

    // The understanding model's reservation (janus_gpu_max_images' `reserve`) counts its cache and scratch
    // only: at least the bf16 embedding table less than a model of its own.
    void sharedEstimateLeavesTheWeightsOut() {
        auto cfg = load_janus_config(fixture("janus/tiny"));
        QVERIFY2(cfg.ok(), cfg.ok() ? "" : cfg.error().to_string().c_str());
        const LlmConfig& llm = cfg->llm;
        CudaLmOptions o;
        o.max_seq = 1024;
        o.sessions = 2;
        const uint64_t own = cuda_memory_estimate(llm, o), shared = cuda_shared_memory_estimate(llm, o);
        QVERIFY(shared <= own);
        if (own > 0) {  // a build with the CUDA backend
            QVERIFY(own - shared >= uint64_t(llm.vocab_size) * uint64_t(llm.hidden_size) * 2);
            CudaLmOptions more = o;
            more.sessions = 4;
            QVERIFY(cuda_shared_memory_estimate(llm, more) > shared);  // the KV cache grows with the sessions
        }
    }

    // The image encoder stays on the CPU when it cannot be put on the GPU (here: there is none).
    void visionWithoutGpuStaysOnTheCpu() {
        if (cuda_device_count() > 0)
            QSKIP("a GPU is present: tests/gpu/check_cuda_janus_understand covers it");
        auto cfg = load_janus_config(fixture("janus/tiny"));
        auto ck = Checkpoint::open(fixture("janus/tiny"));
        QVERIFY(cfg.ok() && ck.ok());
        ModelState st;
        auto janus = JanusModel::load(*cfg, std::shared_ptr<const Checkpoint>(std::move(*ck)), st.lm);
        QVERIFY2(janus.ok(), janus.ok() ? "" : janus.error().to_string().c_str());
        st.janus = std::move(*janus);
        QVERIFY(!janus_load_gpu_vision(st, 0));
        QVERIFY(!st.janus_vision_gpu);
        QVERIFY(st.lm != nullptr);
    }

    // Without a usable GPU the conversation runs on the CPU model and nothing mentions a fallback.
    void noGpuMeansCpu() {
        if (cuda_device_count() > 0)
            QSKIP("a GPU is present: tests/gpu/check_cuda_janus_understand covers it");
        auto model = Model::load(fixture("janus/tiny"), LoadOptions{Device::Auto, 1});
        QVERIFY2(model.ok(), model.ok() ? "" : model.error().to_string().c_str());
        QCOMPARE((*model)->device(), Device::Cpu);
        QCOMPARE((*model)->device_name(), std::string("CPU"));
        auto gpu = Model::load(fixture("janus/tiny"), LoadOptions{Device::Cuda, 1});
        QVERIFY(!gpu.ok());
    }
};

QTEST_GUILESS_MAIN(TestJanusChatDevice)
#include "test_janus_chat_device.moc"
