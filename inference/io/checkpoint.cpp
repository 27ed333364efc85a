// Checkpoint: the name -> tensor table shared by every format reader, and the folder probe that picks a
// reader (safetensors before PyTorch pickles, single file before an index).
#include "io/checkpoint.h"

#include <system_error>

#include "io/gguf.h"
#include "io/reader_util.h"

namespace tessera {

namespace {

bool is_file(const std::filesystem::path& p) {
    std::error_code ec;
    return std::filesystem::is_regular_file(p, ec);
}

Result<std::unique_ptr<Checkpoint>> open_checkpoint(const std::filesystem::path& dir) {
    TESSERA_ASSIGN(std::optional<std::filesystem::path> gguf, gguf_model_file(dir));
    if (gguf) {
        auto ckpt = std::make_unique<Checkpoint>();
        ckpt->set_format("gguf");
        TESSERA_TRY(read_gguf_file(*gguf, *ckpt));
        if (ckpt->tensors().empty()) return make_error(ErrorCode::Format, gguf->string() + ": holds no tensors");
        return ckpt;
    }
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        return make_error(ErrorCode::Io, dir.string() + ": not a directory");

    auto ckpt = std::make_unique<Checkpoint>();
    // The same order as transformers: a single file wins over an index, safetensors over pickles
    // (safetensors needs no unpickler and maps without any copy).
    if (is_file(dir / "model.safetensors")) {
        ckpt->set_format("safetensors");
        TESSERA_TRY(read_safetensors_file(dir / "model.safetensors", *ckpt));
    } else if (is_file(dir / "model.safetensors.index.json")) {
        ckpt->set_format("safetensors");
        TESSERA_TRY(read_sharded(dir / "model.safetensors.index.json", *ckpt));
    } else if (is_file(dir / "pytorch_model.bin")) {
        ckpt->set_format("pytorch");
        TESSERA_TRY(read_pytorch_file(dir / "pytorch_model.bin", *ckpt));
    } else if (is_file(dir / "pytorch_model.bin.index.json")) {
        ckpt->set_format("pytorch");
        TESSERA_TRY(read_sharded(dir / "pytorch_model.bin.index.json", *ckpt));
    } else {
        return make_error(ErrorCode::Io, dir.string() +
                                             ": no checkpoint found (looked for model.safetensors, "
                                             "model.safetensors.index.json, pytorch_model.bin, "
                                             "pytorch_model.bin.index.json)");
    }
    if (ckpt->tensors().empty())
        return make_error(ErrorCode::Format, dir.string() + ": the checkpoint holds no tensors");
    return ckpt;
}

}  // namespace

Result<std::unique_ptr<Checkpoint>> Checkpoint::open(const std::filesystem::path& dir) {
    return exception_guard(dir.string(), [&] { return open_checkpoint(dir); });
}

const TensorEntry* Checkpoint::find(std::string_view name) const {
    auto it = m_index.find(std::string(name));
    return it == m_index.end() ? nullptr : &m_tensors[it->second];
}

uint64_t Checkpoint::total_bytes() const {
    uint64_t total = 0;
    for (const TensorEntry& e : m_tensors) total += e.stored_bytes();
    return total;
}

Result<Tensor> Checkpoint::get(std::string_view name, const Shape& expected) const {
    const TensorEntry* e = find(name);
    if (!e)
        return make_error(ErrorCode::Format, std::string(name) + ": tensor not found in the checkpoint (" +
                                                 std::to_string(m_tensors.size()) + " " + m_format + " tensors)");
    if (!(e->tensor.shape == expected))
        return make_error(ErrorCode::Shape, std::string(name) + ": expected shape " + expected.to_string() +
                                                ", file has " + e->tensor.shape.to_string() + " (" + e->file + ")");
    return e->tensor;
}

Status Checkpoint::add(TensorEntry entry) {
    auto [it, inserted] = m_index.emplace(entry.name, m_tensors.size());
    if (!inserted) {
        const TensorEntry& first = m_tensors[it->second];
        return make_error(ErrorCode::Format, entry.name + ": tensor appears twice (" + first.file + " and " +
                                                 entry.file + ")");
    }
    m_tensors.push_back(std::move(entry));
    return {};
}

}  // namespace tessera
