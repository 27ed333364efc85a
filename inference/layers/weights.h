// Name -> weight wiring with load-time validation: every weight a model asks for is looked up by its
// checkpoint name and checked for shape (Checkpoint::get) and for a dtype the CPU kernels read, so the
// forward pass can trust its inputs. It also remembers what was taken, so a checkpoint carrying tensors
// the model would silently ignore (an unsupported bias, say) is reported instead of run wrongly.
// Matrices that GGUF files may store block-quantized are taken as a Weight (get_weight); everything else
// (norms, biases) must be a float Tensor.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>

#include "core/tensor.h"
#include "io/checkpoint.h"
#include "tessera/error.h"

namespace tessera {

// A projection or embedding matrix [rows, cols] as stored: a float Tensor (f32/bf16/f16, read by
// cpu::matmul / cpu::embedding) or rows of GGML blocks (read by quant_matmul / dequantize_row, never
// expanded). layers/linear.h dispatches on which.
struct Weight {
    Tensor dense;                      // float storage; empty when quantized
    QuantType quant = QuantType::F32;  // block type when blocks != nullptr
    const std::byte* blocks = nullptr;
    int64_t rows = 0, cols = 0;

    bool quantized() const { return blocks != nullptr; }
    bool empty() const { return dense.empty() && blocks == nullptr; }
};

class WeightLoader {
public:
    explicit WeightLoader(const Checkpoint& checkpoint) : m_checkpoint(checkpoint) {}

    // The tensor `name` with shape `shape`; errors name the tensor and its file.
    Result<Tensor> get(const std::string& name, const Shape& shape);
    // A matrix [rows, cols] that may also be block-quantized (GGUF).
    Result<Weight> get_weight(const std::string& name, const Shape& shape);
    bool has(std::string_view name) const { return m_checkpoint.find(name) != nullptr; }
    // Marks a tensor as deliberately unused (a tied lm_head.weight, a stale rotary inv_freq buffer).
    void ignore(const std::string& name) { m_used.insert(name); }
    // Marks every tensor whose name starts with `prefix` as deliberately unused (a part of a multimodal
    // checkpoint this engine never runs, e.g. the VQ encoder of Janus).
    void ignore_prefix(std::string_view prefix);
    // For models that read their structure from the stored shapes (the VQ decoder's channel widths).
    const Checkpoint& checkpoint() const { return m_checkpoint; }

    // Error (Unsupported) naming the first checkpoint tensor no get()/ignore() accounted for.
    Status check_all_used() const;

private:
    const Checkpoint& m_checkpoint;
    std::unordered_set<std::string> m_used;
};

}  // namespace tessera
