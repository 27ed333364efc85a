// GGUF files (versions 2 and 3, little-endian): a read-only mmap, the metadata key/values and the tensor
// table, validated against the file at open so later code can trust every offset, size and type; the
// mapping of GGUF metadata onto LlmConfig and of GGUF tensor names onto the Hugging Face names our models
// use. Tensor data stays in the file's block format (see backend/cpu/quant.h for the kernels).
//
// GGUF lists dimensions innermost first (ne[0] is the row length); GgufTensor::shape is our row-major
// order, outermost first, so a weight stored as ne = {K, N} has shape [N, K].
#pragma once

#include <cstdint>
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
#include "io/model_config.h"
#include "tessera/error.h"

namespace tessera {

// Metadata value types, with the GGUF ids.
enum class GgufType : uint32_t {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9,
    U64 = 10, I64 = 11, F64 = 12,
};
std::string_view gguf_type_name(GgufType type);

// One metadata value. Scalars are decoded; strings and arrays point into the mapped file (valid while the
// GgufFile lives). Arrays of arrays are rejected at open (no model uses them).
class GgufValue {
public:
    GgufType type() const { return m_type; }
    bool is_integer() const;  // U8..I64 (not Bool)
    bool is_float() const { return m_type == GgufType::F32 || m_type == GgufType::F64; }

    // Exact reads: nullopt when the value has another type (or, for integers, does not fit the target).
    std::optional<int64_t> as_int() const;    // any integer type within int64 range
    std::optional<uint64_t> as_uint() const;  // any non-negative integer
    std::optional<double> as_float() const;   // F32 or F64
    std::optional<bool> as_bool() const;
    std::optional<std::string_view> as_string() const;

    // Arrays.
    GgufType array_type() const { return m_elem; }
    uint64_t array_size() const { return m_count; }
    std::optional<int64_t> int_at(uint64_t i) const;  // integer arrays (and Bool as 0/1)
    std::optional<double> float_at(uint64_t i) const;  // F32/F64 arrays
    const std::vector<std::string_view>& strings() const { return m_strings; }  // String arrays

    std::string to_string() const;  // short display form, arrays abbreviated

private:
    friend class GgufParser;
    GgufType m_type = GgufType::U8;
    uint64_t m_u = 0;  // unsigned payload, or the bit pattern of signed ones
    int64_t m_i = 0;
    double m_f = 0.0;
    std::string_view m_str;
    GgufType m_elem = GgufType::U8;
    uint64_t m_count = 0;
    const std::byte* m_raw = nullptr;  // numeric array elements, little-endian, unaligned
    std::vector<std::string_view> m_strings;
};

struct GgufTensor {
    std::string name;            // as in the file: "blk.0.attn_q.weight"
    QuantType type;
    Shape shape;                 // row-major, outermost first: [rows, cols] for a matrix
    uint64_t offset = 0;         // from the start of the data section
    uint64_t nbytes = 0;
    const std::byte* data = nullptr;  // into the mmap; nullptr only for truncated files opened leniently

    int64_t cols() const { return shape.ndim ? shape[shape.ndim - 1] : 1; }  // GGUF ne[0]
    int64_t rows() const { return shape.ndim ? shape.numel() / cols() : 1; }   // product of the rest
    uint64_t row_bytes() const { return rows() ? nbytes / uint64_t(rows()) : 0; }
    // A Tensor view (what Checkpoint holds) for the plain float types F32/F16/BF16 when the data is
    // present; nullopt for block types, which need quant_matmul / dequantize_row instead.
    std::optional<Tensor> float_view() const;
};

struct GgufOpenOptions {
    // A file whose header is intact but whose data section is cut short (a partial download) opens, and
    // the tensors past the end have data == nullptr. Off by default: then that is an error.
    bool allow_truncated = false;
};

class GgufFile {
public:
    static Result<std::unique_ptr<GgufFile>> open(const std::filesystem::path& path, GgufOpenOptions options = {});

    const std::filesystem::path& path() const { return m_file->path(); }
    std::string file_name() const { return path().filename().string(); }
    uint32_t version() const { return m_version; }
    uint64_t alignment() const { return m_alignment; }
    uint64_t data_offset() const { return m_data_offset; }
    size_t file_size() const { return m_file->size(); }
    bool truncated() const { return m_truncated; }
    // The mapping, for a Checkpoint (or anything else) that hands out pointers into it.
    std::shared_ptr<MappedFile> mapped_file() const { return m_file; }

    // Metadata in file order.
    const std::vector<std::pair<std::string_view, GgufValue>>& metadata() const { return m_kv; }
    const GgufValue* find(std::string_view key) const;
    // Typed reads with errors that name the file and the key ("x.gguf: qwen2.block_count: expected an
    // integer, file has string").
    Result<int64_t> get_int(std::string_view key) const;
    Result<double> get_float(std::string_view key) const;  // F32/F64 (integers accepted too)
    Result<bool> get_bool(std::string_view key) const;
    Result<std::string_view> get_string(std::string_view key) const;
    Result<const GgufValue*> get_array(std::string_view key, GgufType elem) const;
    // general.architecture ("qwen2", "llama"); empty when missing.
    std::string_view architecture() const;

    const std::vector<GgufTensor>& tensors() const { return m_tensors; }
    const GgufTensor* find_tensor(std::string_view name) const;

private:
    friend class GgufParser;
    GgufFile() = default;
    std::shared_ptr<MappedFile> m_file;
    uint32_t m_version = 0;
    uint64_t m_alignment = 32;
    uint64_t m_data_offset = 0;
    bool m_truncated = false;
    std::vector<std::pair<std::string_view, GgufValue>> m_kv;
    std::unordered_map<std::string_view, size_t> m_kv_index;
    std::vector<GgufTensor> m_tensors;
    std::unordered_map<std::string_view, size_t> m_tensor_index;
};

// The model configuration from the metadata of a `qwen2` or `llama` GGUF (models.md §3 for Qwen2):
// {arch}.embedding_length, block_count, attention.head_count(_kv), feed_forward_length, rope.freq_base,
// attention.layer_norm_rms_epsilon, context_length, attention.key_length; vocab size from token_embd's rows
// (else the token list); tie_word_embeddings when there is no output.weight; attention_bias from the
// presence of blk.0.attn_q.bias; bos/eos from tokenizer.ggml.*. dtype is F32 for block-quantized files
// (the compute type) and the tensor type for plain f16/bf16/f32 files.
Result<LlmConfig> gguf_llm_config(const GgufFile& file);

// GGUF tensor name -> the Hugging Face name the models use ("blk.3.attn_q.weight" ->
// "model.layers.3.self_attn.q_proj.weight", "token_embd.weight" -> "model.embed_tokens.weight",
// "output.weight" -> "lm_head.weight"); nullopt for names without an equivalent (e.g. rope_freqs.weight).
std::optional<std::string> gguf_to_hf_name(std::string_view gguf_name);

// llama.cpp's converter permutes the rows of q_proj/k_proj of `llama` models (not `qwen2`) so that its
// RoPE rotates adjacent pairs; our rotate-half RoPE (models.md §1.6 layout A) needs the Hugging Face order.
// Row r of the HF weight is row gguf_llama_qk_row(r, head_dim) of the GGUF one (rows are whole blocks, so
// this is a row gather, valid for every block type). True for attn_q/attn_k weights (and biases) of llama.
bool gguf_needs_qk_unpermute(std::string_view architecture, std::string_view gguf_name);
int64_t gguf_llama_qk_row(int64_t hf_row, int64_t head_dim);

}  // namespace tessera

namespace tessera {

// Where a model path names a GGUF model: the path itself when it is a .gguf file; the one .gguf in a folder
// that has no config.json; nullopt for anything else (a Hugging Face folder). Error for a folder without
// config.json holding several .gguf files (which one is meant is ambiguous).
Result<std::optional<std::filesystem::path>> gguf_model_file(const std::filesystem::path& path);

}  // namespace tessera
