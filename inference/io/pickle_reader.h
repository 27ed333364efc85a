// A restricted unpickler for the data.pkl of a torch.save state dict. It is a data parser, not Python:
// it knows the opcodes torch.save emits (protocols 2-4) and a fixed allow-list of globals
// (collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter(_with_state) and the
// torch.*Storage type tags), and refuses every other global (os.system, builtins.eval, ...) when it is
// named, so no pickle can ever run anything. Sizes of the stack, marks, memo and objects are bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "tessera/error.h"

namespace tessera {

// Bounds on the work a pickle can make us do; a real state dict pickle stays far below all of them
// (a 2,000-tensor checkpoint uses ~40k objects, a memo of ~20k and a stack of a few thousand).
struct PickleLimits {
    size_t max_stack = size_t(1) << 20;
    size_t max_marks = 4096;
    size_t max_memo_index = size_t(1) << 20;
    size_t max_objects = size_t(1) << 21;
};

// One tensor of the state dict as the pickle describes it: a view into a storage held in the archive
// as data/<storage_key>.
struct PickledTensor {
    std::string name;
    std::string storage_key;
    std::string storage_type;     // "BFloat16Storage", "LongStorage", ...
    std::optional<DType> dtype;   // nullopt when storage_type is not a float type the engine stores
    int64_t storage_numel = 0;    // elements, as recorded in the persistent id
    int64_t storage_offset = 0;   // elements
    std::vector<int64_t> sizes;
    std::vector<int64_t> strides; // elements
};

// Parses a state dict pickle: a (possibly Ordered) dict from tensor names to tensors. `label` names the
// pickle in errors ("pytorch_model.bin:archive/data.pkl").
Result<std::vector<PickledTensor>> read_state_dict_pickle(std::span<const std::byte> bytes, const std::string& label,
                                                          const PickleLimits& limits = {});

}  // namespace tessera
