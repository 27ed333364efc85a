// Load-time weight validation (see weights.h).
#include "layers/weights.h"

namespace tessera {

Result<Tensor> WeightLoader::get(const std::string& name, const Shape& shape) {
    TESSERA_ASSIGN(Tensor t, m_checkpoint.get(name, shape));
    const TensorEntry* entry = m_checkpoint.find(name);
    const std::string file = entry ? entry->file : std::string("?");
    if (entry && entry->quant)
        return make_error(ErrorCode::DType, name + ": stored as " + std::string(quant_name(*entry->quant)) +
                                                " blocks, but this weight must be a float type (" + file + ")");
    // The CPU backend reads f32/bf16/f16 weights in place from the mapped file.
    if (t.dtype != DType::F32 && t.dtype != DType::BF16 && t.dtype != DType::F16)
        return make_error(ErrorCode::DType, name + ": dtype " + std::string(dtype_name(t.dtype)) +
                                                " is not a float type the CPU backend reads (" + file + ")");
    if (t.device != DeviceKind::Cpu || (t.data == nullptr && t.numel() > 0))
        return make_error(ErrorCode::Internal, name + ": tensor data is not mapped in host memory (" + file + ")");
    m_used.insert(name);
    return t;
}

Result<Weight> WeightLoader::get_weight(const std::string& name, const Shape& shape) {
    Weight w;
    w.rows = shape.ndim == 2 ? shape[0] : 0;
    w.cols = shape.ndim == 2 ? shape[1] : 0;
    const TensorEntry* entry = m_checkpoint.find(name);
    if (!entry || !entry->quant) {
        TESSERA_ASSIGN(w.dense, get(name, shape));
        return w;
    }
    TESSERA_ASSIGN(Tensor t, m_checkpoint.get(name, shape));  // shape check and its error message
    (void)t;
    const auto row_bytes = quant_row_bytes(*entry->quant, w.cols);
    if (shape.ndim != 2 || !quant_supported(*entry->quant) || !row_bytes ||
        *row_bytes * uint64_t(w.rows) != entry->quant_bytes || entry->quant_data == nullptr)
        return make_error(ErrorCode::DType, name + ": " + std::string(quant_name(*entry->quant)) + " blocks of shape " +
                                                shape.to_string() + " are not readable by the CPU kernels (" +
                                                entry->file + ")");
    w.quant = *entry->quant;
    w.blocks = entry->quant_data;
    m_used.insert(name);
    return w;
}

void WeightLoader::ignore_prefix(std::string_view prefix) {
    for (const TensorEntry& e : m_checkpoint.tensors())
        if (std::string_view(e.name).starts_with(prefix)) m_used.insert(e.name);
}

Status WeightLoader::check_all_used() const {
    for (const TensorEntry& e : m_checkpoint.tensors()) {
        if (m_used.count(e.name)) continue;
        // Some Llama checkpoints carry the rotary buffer; the engine recomputes it (models.md §2.2).
        if (e.name.ends_with("rotary_emb.inv_freq")) continue;
        return make_error(ErrorCode::Unsupported,
                          e.name + ": tensor " + e.tensor.shape.to_string() + " in " + e.file +
                              " is not used by this model (unsupported variant of the architecture?)");
    }
    return {};
}

}  // namespace tessera
