// Name -> weight wiring with load-time validation: every weight a model asks for is looked up by its
// checkpoint name and checked for shape (Checkpoint::get) and for a dtype the CPU kernels read, so the
// forward pass can trust its inputs. It also remembers what was taken, so a checkpoint carrying tensors
// the model would silently ignore (an unsupported bias, say) is reported instead of run wrongly.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>

#include "core/tensor.h"
#include "io/checkpoint.h"
#include "tessera/error.h"

namespace tessera {

class WeightLoader {
public:
    explicit WeightLoader(const Checkpoint& checkpoint) : m_checkpoint(checkpoint) {}

    // The tensor `name` with shape `shape`; errors name the tensor and its file.
    Result<Tensor> get(const std::string& name, const Shape& shape);
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
