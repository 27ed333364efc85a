// One interface over every checkpoint format (safetensors single/sharded, PyTorch zip+pickle
// single/sharded; GGUF later): a name -> tensor table whose data points into memory the Checkpoint keeps
// alive (usually a read-only mmap of the file).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/buffer.h"
#include "core/tensor.h"
#include "tessera/error.h"

namespace tessera {

struct TensorEntry {
    std::string name;
    Tensor tensor;       // CPU view, contiguous row-major, data valid while the Checkpoint lives
    std::string file;    // file name (not the full path) the tensor came from, for error messages
};

class Checkpoint {
public:
    // Opens a checkpoint folder: model.safetensors, model.safetensors.index.json (+ shards),
    // pytorch_model.bin, pytorch_model.bin.index.json (+ shards). Prefers safetensors when both exist.
    static Result<std::unique_ptr<Checkpoint>> open(const std::filesystem::path& dir);

    const TensorEntry* find(std::string_view name) const;
    const std::vector<TensorEntry>& tensors() const { return m_tensors; }
    const std::string& format() const { return m_format; }  // "safetensors" | "pytorch"
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
// Reads an index.json ("weight_map": name -> shard file) and every shard it names; checks that each
// shard provides exactly the tensors the index assigns to it.
Status read_sharded(const std::filesystem::path& index_json, Checkpoint& out);

}  // namespace tessera
