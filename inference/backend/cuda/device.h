// The CUDA device as the engine sees it: discovery (never an error when there is no GPU), a context with
// its stream and cuBLAS handle, owning device and pinned host buffers, and the bf16 GEMM used for prefill.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>
#include <string>

#include "backend/cuda/cuda_ops.h"
#include "tessera/error.h"

namespace tessera::cuda {
class LtGemms;
}

namespace tessera::cuda {

struct DeviceInfo {
    int index = 0;
    std::string name;
    size_t total_bytes = 0;
    size_t free_bytes = 0;
    int sm_major = 0, sm_minor = 0;
    int multiprocessors = 0;
};

// Number of usable devices; 0 when there is no driver or no GPU.
int device_count();
Result<DeviceInfo> device_info(int index);

// Owning handle to memory from the CUDA runtime; Free gives it back (cudaFree or cudaFreeHost).
template <cudaError_t (*Free)(void*)>
class CudaBuffer {
public:
    CudaBuffer() = default;
    CudaBuffer(void* ptr, size_t size) : m_ptr(ptr), m_size(size) {}
    CudaBuffer(CudaBuffer&& o) noexcept : m_ptr(o.m_ptr), m_size(o.m_size) {
        o.m_ptr = nullptr;
        o.m_size = 0;
    }
    CudaBuffer& operator=(CudaBuffer&& o) noexcept {
        if (this != &o) {
            if (m_ptr) Free(m_ptr);
            m_ptr = o.m_ptr;
            m_size = o.m_size;
            o.m_ptr = nullptr;
            o.m_size = 0;
        }
        return *this;
    }
    CudaBuffer(const CudaBuffer&) = delete;
    CudaBuffer& operator=(const CudaBuffer&) = delete;
    ~CudaBuffer() {
        if (m_ptr) Free(m_ptr);
    }
    void* data() const { return m_ptr; }
    size_t size() const { return m_size; }
    template <class T>
    T* as() const {
        return static_cast<T*>(m_ptr);
    }

private:
    void* m_ptr = nullptr;
    size_t m_size = 0;
};

class DeviceBuffer : public CudaBuffer<cudaFree> {
public:
    using CudaBuffer::CudaBuffer;
    static Result<DeviceBuffer> allocate(size_t bytes, const char* what);
};

class PinnedBuffer : public CudaBuffer<cudaFreeHost> {
public:
    using CudaBuffer::CudaBuffer;
    static Result<PinnedBuffer> allocate(size_t bytes);
};

class CudaContext {
public:
    static Result<std::unique_ptr<CudaContext>> create(int device);
    ~CudaContext();
    CudaContext(const CudaContext&) = delete;
    CudaContext& operator=(const CudaContext&) = delete;

    int device() const { return m_device; }
    cudaStream_t stream() const { return m_stream; }
    cublasHandle_t cublas() const { return m_cublas; }
    // Gives cuBLAS back the context's workspace after a call that ran without it.
    Status restore_cublas_workspace();
    void* workspace() const { return m_cublas_workspace.data(); }
    size_t workspace_bytes() const { return m_cublas_workspace.size(); }
    LtGemms& lt() const { return *m_lt; }
    // Times the decode-batch products first met while a graph was captured (gemm_lt.h); true when any was,
    // and the graph should then be captured again to use the tuned algorithms.
    Result<bool> tune_pending_gemms();
    Status synchronize();

private:
    CudaContext() = default;
    int m_device = 0;
    cudaStream_t m_stream = nullptr;
    cublasHandle_t m_cublas = nullptr;
    DeviceBuffer m_cublas_workspace;
    std::unique_ptr<LtGemms> m_lt;
};

Status check_cublas(cublasStatus_t status, const char* what);

// y[M, N] = alpha · x[M, K] · W[N, K]ᵀ + beta · y, row-major; W and x bf16, y f32 (y_is_f32) or bf16.
// Decode batches (M ≤ kLtMaxRows) go through cuBLASLt with a timed choice of algorithm (gemm_lt.h).
Status gemm_bf16(CudaContext& ctx, const bf16_t* W, const bf16_t* x, void* y, bool y_is_f32, int M, int N,
                 int K, float alpha = 1.f, float beta = 0.f);

// Row-major C[M, N] = alpha · op(A)[M, K] · op(B)[K, N] + beta · C with bf16 A and B (leading dimensions
// as stored), C f32 or bf16. A row-major matrix is the column-major view of its transpose, so this is
// cuBLAS's C' = op(B)' · op(A)' with the same transpose flags.
Status gemm_rm(CudaContext& ctx, bool trans_a, bool trans_b, int M, int N, int K, const bf16_t* A, int lda,
               const bf16_t* B, int ldb, void* C, bool c_is_f32, int ldc, float alpha = 1.f,
               float beta = 0.f);

}  // namespace tessera::cuda
