// KV cache allocation (see kv_cache.h).
#include "layers/kv_cache.h"

#include <string>

namespace tessera {

Result<KvCache> KvCache::allocate(int layers, int max_seq, int kv_heads, int head_dim) {
    if (layers <= 0 || max_seq <= 0 || kv_heads <= 0 || head_dim <= 0)
        return make_error(ErrorCode::InvalidArgument, "KV cache: empty dimensions");
    const uint64_t bytes = bytes_needed(layers, max_seq, kv_heads, head_dim);
    // Zeroed so that rows beyond the valid prefix never hold NaN garbage a kernel could touch.
    auto buffer = HostBuffer::allocate(size_t(bytes), /*zero=*/true);
    if (!buffer.ok())
        return make_error(ErrorCode::OutOfMemory, "KV cache of " + std::to_string(max_seq) + " tokens (" +
                                                      std::to_string(bytes >> 20) + " MiB): " +
                                                      buffer.error().message);
    KvCache cache;
    cache.m_buffer = std::move(buffer).value();
    cache.m_layers = layers;
    cache.m_max_seq = max_seq;
    cache.m_kv_heads = kv_heads;
    cache.m_head_dim = head_dim;
    return cache;
}

}  // namespace tessera
