// GGUF behind the Checkpoint interface: every tensor with a Hugging Face name (gguf_to_hf_name) becomes an
// entry; float types as Tensor views into the mapping, block types as their raw rows (TensorEntry::quant).
// llama's q/k projections are stored with their rows permuted for llama.cpp's RoPE; they are gathered back
// into Hugging Face order into a buffer the Checkpoint owns. Whole rows move, so this is valid for block
// types too (each row is a run of whole blocks).
#include <algorithm>
#include <cctype>
#include <cstring>
#include <system_error>

#include "io/checkpoint.h"
#include "io/gguf.h"

namespace tessera {

Result<std::optional<std::filesystem::path>> gguf_model_file(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    auto is_gguf = [](const fs::path& p) {
        std::string ext = p.extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        return ext == ".gguf";
    };
    if (fs::is_regular_file(path, ec)) {
        if (is_gguf(path)) return std::optional<fs::path>(path);
        return std::optional<fs::path>();
    }
    if (!fs::is_directory(path, ec) || fs::exists(path / "config.json", ec)) return std::optional<fs::path>();
    std::vector<fs::path> found;
    for (const fs::directory_entry& e : fs::directory_iterator(path, ec))
        if (e.is_regular_file(ec) && is_gguf(e.path())) found.push_back(e.path());
    if (found.empty()) return std::optional<fs::path>();
    if (found.size() > 1) {
        std::sort(found.begin(), found.end());
        std::string names;
        for (const fs::path& p : found) names += (names.empty() ? "" : ", ") + p.filename().string();
        return make_error(ErrorCode::InvalidArgument, path.string() + ": holds several GGUF files (" + names +
                                                          "); open one of them by its path");
    }
    return std::optional<fs::path>(found.front());
}

Status read_gguf_file(const std::filesystem::path& path, Checkpoint& out) {
    TESSERA_ASSIGN(std::unique_ptr<GgufFile> file, GgufFile::open(path));
    const std::string fname = file->file_name();
    const std::string arch(file->architecture());
    int64_t head_dim = 0;
    if (arch == "llama") {
        auto cfg = gguf_llm_config(*file);
        if (!cfg.ok()) return cfg.error();
        head_dim = cfg.value().head_dim;
    }
    for (const GgufTensor& t : file->tensors()) {
        auto hf = gguf_to_hf_name(t.name);
        if (!hf) {
            // llama.cpp writes precomputed RoPE factors for some models; we compute our own.
            if (t.name == "rope_freqs.weight") continue;
            return make_error(ErrorCode::Unsupported, fname + ": tensor '" + t.name + "' " + t.shape.to_string() +
                                                          " has no equivalent in the supported architectures");
        }
        if (!quant_supported(t.type))
            return make_error(ErrorCode::Unsupported, fname + ": tensor '" + t.name + "' has type " +
                                                          std::string(quant_name(t.type)) +
                                                          ", which the CPU kernels do not read");
        TensorEntry e;
        e.name = std::move(*hf);
        e.file = fname;
        e.tensor.shape = t.shape;
        e.tensor.device = DeviceKind::Cpu;
        const std::byte* data = t.data;
        if (gguf_needs_qk_unpermute(arch, t.name)) {
            const int64_t rows = t.rows();
            if (head_dim <= 0 || head_dim % 2 != 0 || rows % head_dim != 0)
                return make_error(ErrorCode::Shape, fname + ": tensor '" + t.name + "': " + std::to_string(rows) +
                                                        " rows are not whole heads of " + std::to_string(head_dim));
            const uint64_t rb = t.row_bytes();
            TESSERA_ASSIGN(HostBuffer buf, HostBuffer::allocate(t.nbytes, /*zero=*/false));
            std::byte* dst = buf.as<std::byte>();
            for (int64_t r = 0; r < rows; ++r)
                std::memcpy(dst + uint64_t(r) * rb, data + uint64_t(gguf_llama_qk_row(r, head_dim)) * rb, rb);
            data = dst;
            out.keep_alive(std::move(buf));
        }
        if (auto dt = quant_float_dtype(t.type)) {
            e.tensor.dtype = *dt;
            e.tensor.data = const_cast<std::byte*>(data);  // Tensor is a mutable view; the mapping is read-only
        } else {
            if (t.shape.ndim != 2)
                return make_error(ErrorCode::Shape, fname + ": tensor '" + t.name + "' has block type " +
                                                        std::string(quant_name(t.type)) + " but shape " +
                                                        t.shape.to_string() + " (only matrices are block-quantized)");
            e.tensor.dtype = DType::F32;
            e.quant = t.type;
            e.quant_data = data;
            e.quant_bytes = t.nbytes;
        }
        TESSERA_TRY(out.add(std::move(e)));
    }
    out.keep_alive(file->mapped_file());
    return {};
}

}  // namespace tessera
