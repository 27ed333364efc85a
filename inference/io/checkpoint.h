// One interface over every checkpoint format (safetensors single/sharded, PyTorch zip+pickle
// single/sharded, GGUF): a name -> tensor table whose data points into memory the Checkpoint keeps
// alive (usually a read-only mmap of the file). GGUF block-quantized tensors (Q4_K, ...) have no Tensor
// dtype: their entries carry the block type and bytes instead (TensorEntry::quant).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backend/cpu/quant.h"
#include "core/buffer.h"
#include "core/tensor.h"
#include "tessera/error.h"

namespace tessera {

struct TensorEntry {
    std::string name;
    Tensor tensor;       // CPU view, contiguous row-major, data valid while the Checkpoint lives
    std::string file;    // file name (not the full path) the tensor came from, for error messages
    // GGUF block types: tensor.shape is the logical [rows, cols] shape, tensor.data is null, and the
    // rows of blocks (quant_row_bytes(quant, cols) bytes each) start at quant_data.
    std::optional<QuantType> quant;
    const std::byte* quant_data = nullptr;
    uint64_t quant_bytes = 0;
    uint64_t stored_bytes() const { return quant ? quant_bytes : tensor.nbytes(); }
};

class Checkpoint {
public:
    // Opens a checkpoint folder: model.safetensors, model.safetensors.index.json (+ shards),
    // pytorch_model.bin, pytorch_model.bin.index.json (+ shards). Prefers safetensors when both exist.
    // A .gguf file, or a folder without config.json holding exactly one .gguf, opens as GGUF
    // (gguf_model_file in io/gguf.h).
    static Result<std::unique_ptr<Checkpoint>> open(const std::filesystem::path& dir);

    const TensorEntry* find(std::string_view name) const;
    const std::vector<TensorEntry>& tensors() const { return m_tensors; }
    const std::string& format() const { return m_format; }  // "safetensors" | "pytorch" | "gguf"
    uint64_t total_bytes() const;

    // Looks up a tensor and checks its shape; the dtype may be any float type (the backend converts).
    // Error: "model.layers.3.self_attn.q_proj.weight: expected shape [64, 64], file has [64, 63]
    // (model-00001-of-00002.safetensors)".
    Result<Tensor> get(std::string_view name, const Shape& expected) const;

    // Used by the format readers.
    void set_format(std::string f) { m_format = std::move(f); }
    Status add(TensorEntry entry);  // error on a duplicate name
    void keep_alive(std::shared_ptr<MappedFile> file) { m_files.push_back(std::move(file)); }
    void keep_alive(HostBuffer buffer) { m_buffers.push_back(std::move(buffer)); }

private:
    std::string m_format;
    std::vector<TensorEntry> m_tensors;
    std::unordered_map<std::string, size_t> m_index;
    std::vector<std::shared_ptr<MappedFile>> m_files;
    std::vector<HostBuffer> m_buffers;
};

// Format readers: each appends the tensors of one file to `out`.
Status read_safetensors_file(const std::filesystem::path& path, Checkpoint& out);
Status read_pytorch_file(const std::filesystem::path& path, Checkpoint& out);
// GGUF: tensors under their Hugging Face names (gguf_to_hf_name), llama's q/k rows put back in HF order.
Status read_gguf_file(const std::filesystem::path& path, Checkpoint& out);
// Reads an index.json ("weight_map": name -> shard file) and every shard it names; checks that each
// shard provides exactly the tensors the index assigns to it.
Status read_sharded(const std::filesystem::path& index_json, Checkpoint& out);

}  // namespace tessera
