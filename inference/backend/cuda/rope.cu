// Rotate-half RoPE (models.md §1.6 layout A) fused with writing k and v into the KV cache, so the rotated
// keys never take a round trip through memory.
#include "backend/cuda/cuda_common.cuh"

namespace tessera::cuda {
namespace {

// One block per row r; threads walk (head, i) pairs for i < hd/2.
__global__ void rope_kv_kernel(const float* qkv, const uint16_t* __restrict__ bias,
                               const int32_t* __restrict__ pos, const int32_t* __restrict__ slot,
                               const float* __restrict__ inv_freq, int nh, int nkv, int hd, int max_seq,
                               uint16_t* __restrict__ q_out, uint16_t* __restrict__ k_cache,
                               uint16_t* __restrict__ v_cache) {
    pdl_trigger();
    pdl_wait();
    const int r = blockIdx.y;
    const int p = pos[r];
    const int half = hd / 2;
    const float* row = qkv + size_t(r) * (nh + 2 * nkv) * hd;
    // Cache layout [slots, nkv, max_seq, hd]: each head's keys are contiguous for the attention kernels.
    const size_t head_stride = size_t(max_seq) * hd;
    const size_t cache_row = size_t(slot[r]) * nkv * head_stride + size_t(p) * hd;
    // q and k heads are rotated; v heads copied.
    const int first = blockIdx.x * blockDim.x + threadIdx.x, stride = gridDim.x * blockDim.x;
    for (int idx = first; idx < (nh + nkv) * half; idx += stride) {
        const int head = idx / half, i = idx % half;
        // §1.6: angle = f32(p) · inv_freq[i] in f32; cos/sin rounded to bf16 as the references do.
        float s, c;
        sincosf(float(p) * inv_freq[i], &s, &c);
        c = bf16_bits_to_f32(f32_to_bf16_bits(c));
        s = bf16_bits_to_f32(f32_to_bf16_bits(s));
        const float* src = row + size_t(head) * hd;
        float a = __ldcg(src + i), b = __ldcg(src + i + half);
        if (bias) {
            a += bf16_bits_to_f32(bias[size_t(head) * hd + i]);
            b += bf16_bits_to_f32(bias[size_t(head) * hd + i + half]);
        }
        const uint16_t o1 = f32_to_bf16_bits(a * c - b * s), o2 = f32_to_bf16_bits(b * c + a * s);
        if (head < nh) {
            uint16_t* dst = q_out + (size_t(r) * nh + head) * hd;
            dst[i] = o1;
            dst[i + half] = o2;
        } else {
            uint16_t* dst = k_cache + cache_row + size_t(head - nh) * head_stride;
            dst[i] = o1;
            dst[i + half] = o2;
        }
    }
    const float* v = row + size_t(nh + nkv) * hd;
    const uint16_t* vbias = bias ? bias + size_t(nh + nkv) * hd : nullptr;
    for (int idx = first; idx < nkv * hd; idx += stride)
        v_cache[cache_row + size_t(idx / hd) * head_stride + idx % hd] =
            f32_to_bf16_bits(v[idx] + (vbias ? bf16_bits_to_f32(vbias[idx]) : 0.f));
}

}  // namespace

Status rope_kv_write(const float* qkv, const bf16_t* bias, const int32_t* pos, const int32_t* slot,
                     const float* inv_freq, int R, int nh, int nkv, int hd, int max_seq, bf16_t* q_out,
                     bf16_t* k_cache, bf16_t* v_cache, cudaStream_t stream) {
    if (R < 1 || hd % 2 != 0 || nh < 1 || nkv < 1 || nh % nkv != 0)
        return make_error(ErrorCode::InvalidArgument, "rope_kv_write: bad shape");
    // Enough blocks per row that a single decode row does not run on one multiprocessor.
    const int pairs = (nh + nkv) * hd / 2;
    const dim3 grid((pairs + 127) / 128, R);
    launch_kernel(rope_kv_kernel, grid, dim3(128), 0, stream, qkv, bias, pos, slot, inv_freq, nh, nkv, hd,
                  max_seq, q_out, k_cache, v_cache);
    return TESSERA_LAUNCH_CHECK("rope_kv_write");
}

}  // namespace tessera::cuda
