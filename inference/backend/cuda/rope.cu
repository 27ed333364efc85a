// Rotate-half RoPE (models.md §1.6 layout A) fused with writing k and v into the KV cache, so the rotated
// keys never take a round trip through memory.
#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

// One block column per row r; threads walk (head, i) pairs for i < hd/2 over the q, k and v heads.
__global__ void rope_kv_kernel(const float* qkv, const uint16_t* __restrict__ bias,
                               const int32_t* __restrict__ pos, const int32_t* __restrict__ slot,
                               const float* __restrict__ inv_freq, int nh, int nkv, int hd, int max_seq,
                               uint16_t* __restrict__ q_out, uint16_t* __restrict__ k_cache,
                               uint16_t* __restrict__ v_cache) {
    pdl_trigger();
    pdl_wait();
    const int r = blockIdx.y;
    const int half = hd / 2;
    const float* row = qkv + size_t(r) * (nh + 2 * nkv) * hd;
    const QkvDest d =
        qkv_dest(q_out + size_t(r) * nh * hd, k_cache, v_cache, slot[r], pos[r], nh, nkv, hd, max_seq);
    const int first = blockIdx.x * blockDim.x + threadIdx.x, stride = gridDim.x * blockDim.x;
    for (int idx = first; idx < (nh + 2 * nkv) * half; idx += stride) {
        const int head = idx / half, i = idx % half;
        const float* src = row + size_t(head) * hd;
        float a = __ldcg(src + i), b = __ldcg(src + i + half);
        if (bias) {
            a += bf16_bits_to_f32(bias[size_t(head) * hd + i]);
            b += bf16_bits_to_f32(bias[size_t(head) * hd + i + half]);
        }
        store_qkv_pair(d, head, i, a, b, inv_freq);
    }
}

}  // namespace

Status rope_kv_write(const float* qkv, const bf16_t* bias, const int32_t* pos, const int32_t* slot,
                     const float* inv_freq, int R, int nh, int nkv, int hd, int max_seq, bf16_t* q_out,
                     bf16_t* k_cache, bf16_t* v_cache, cudaStream_t stream) {
    if (R < 1 || hd % 2 != 0 || nh < 1 || nkv < 1 || nh % nkv != 0)
        return make_error(ErrorCode::InvalidArgument, "rope_kv_write: bad shape");
    // Enough blocks per row that a single decode row does not run on one multiprocessor.
    const int pairs = (nh + 2 * nkv) * hd / 2;
    const dim3 grid((pairs + 127) / 128, R);
    launch_kernel(rope_kv_kernel, grid, dim3(128), 0, stream, qkv, bias, pos, slot, inv_freq, nh, nkv, hd,
                  max_seq, q_out, k_cache, v_cache);
    return TESSERA_LAUNCH_CHECK("rope_kv_write");
}

}  // namespace tessera::cuda
