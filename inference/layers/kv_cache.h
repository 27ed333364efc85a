// The per-session key/value cache of a multi-head / grouped-query attention stack, kept in f32 on the host
// (the CPU attention kernel reads it directly). Layer l holds K and V as [max_seq, n_kv_heads, head_dim].
#pragma once

#include <cstdint>

#include "core/buffer.h"
#include "tessera/error.h"

namespace tessera {

class KvCache {
public:
    static uint64_t bytes_needed(int layers, int max_seq, int kv_heads, int head_dim) {
        return 2ull * uint64_t(layers) * uint64_t(max_seq) * uint64_t(kv_heads) * uint64_t(head_dim) * sizeof(float);
    }
    static Result<KvCache> allocate(int layers, int max_seq, int kv_heads, int head_dim);

    float* k(int layer) const { return m_buffer.as<float>() + size_t(2 * layer) * layer_floats(); }
    float* v(int layer) const { return m_buffer.as<float>() + size_t(2 * layer + 1) * layer_floats(); }
    int max_seq() const { return m_max_seq; }
    int64_t row_floats() const { return int64_t(m_kv_heads) * m_head_dim; }  // one position of one layer

private:
    size_t layer_floats() const { return size_t(m_max_seq) * size_t(row_floats()); }
    HostBuffer m_buffer;
    int m_layers = 0;
    int m_max_seq = 0;
    int m_kv_heads = 0;
    int m_head_dim = 0;
};

}  // namespace tessera
