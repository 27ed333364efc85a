// Device discovery, context, buffers, and the cuBLAS GEMM wrapper.
#include "backend/cuda/device.h"

#include <cstdlib>

#include "backend/cuda/gemm_lt.h"

namespace tessera::cuda {

int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no driver" error so later calls start clean
        return 0;
    }
    return n;
}

Result<DeviceInfo> device_info(int index) {
    cudaDeviceProp prop{};
    TESSERA_TRY(check(cudaGetDeviceProperties(&prop, index), "cudaGetDeviceProperties"));
    DeviceInfo info;
    info.index = index;
    info.name = prop.name;
    info.sm_major = prop.major;
    info.sm_minor = prop.minor;
    info.multiprocessors = prop.multiProcessorCount;
    int previous = 0;
    TESSERA_TRY(check(cudaGetDevice(&previous), "cudaGetDevice"));
    TESSERA_TRY(check(cudaSetDevice(index), "cudaSetDevice"));
    Status st = check(cudaMemGetInfo(&info.free_bytes, &info.total_bytes), "cudaMemGetInfo");
    cudaSetDevice(previous);
    TESSERA_TRY(st);
    return info;
}

Result<DeviceBuffer> DeviceBuffer::allocate(size_t bytes, const char* what) {
    if (bytes == 0) return DeviceBuffer();
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, bytes);
    if (err != cudaSuccess) {
        cudaGetLastError();
        return make_error(ErrorCode::OutOfMemory,
                          std::string("cannot allocate ") + std::to_string(bytes >> 20) +
                              " MiB of GPU memory for " + what + ": " + cudaGetErrorString(err));
    }
    return DeviceBuffer(p, bytes);
}

Result<PinnedBuffer> PinnedBuffer::allocate(size_t bytes) {
    if (bytes == 0) return PinnedBuffer();
    void* p = nullptr;
    const cudaError_t err = cudaMallocHost(&p, bytes);
    if (err != cudaSuccess) {
        cudaGetLastError();
        return make_error(ErrorCode::OutOfMemory,
                          "cannot allocate " + std::to_string(bytes >> 20) +
                              " MiB of pinned host memory: " + cudaGetErrorString(err));
    }
    return PinnedBuffer(p, bytes);
}

Status check_cublas(cublasStatus_t status, const char* what) {
    if (status == CUBLAS_STATUS_SUCCESS) return {};
    const ErrorCode code = status == CUBLAS_STATUS_ALLOC_FAILED ? ErrorCode::OutOfMemory : ErrorCode::Device;
    return make_error(code, std::string(what) + ": " + cublasGetStatusName(status) + " (" +
                                cublasGetStatusString(status) + ")");
}

Result<std::unique_ptr<CudaContext>> CudaContext::create(int device) {
    const int n = device_count();
    if (n == 0) return make_error(ErrorCode::Device, "no CUDA device found");
    if (device < 0 || device >= n)
        return make_error(
            ErrorCode::InvalidArgument,
            "CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(n) + " found)");
    std::unique_ptr<CudaContext> ctx(new CudaContext());
    ctx->m_device = device;
    TESSERA_TRY(check(cudaSetDevice(device), "cudaSetDevice"));
    TESSERA_TRY(check(cudaStreamCreateWithFlags(&ctx->m_stream, cudaStreamNonBlocking), "cudaStreamCreate"));
    TESSERA_TRY(check_cublas(cublasCreate(&ctx->m_cublas), "cublasCreate"));
    TESSERA_TRY(check_cublas(cublasSetStream(ctx->m_cublas, ctx->m_stream), "cublasSetStream"));
    // A fixed workspace lets cuBLAS calls be captured into CUDA graphs (no allocation during capture).
    TESSERA_ASSIGN(ctx->m_cublas_workspace, DeviceBuffer::allocate(size_t(32) << 20, "cuBLAS workspace"));
    TESSERA_TRY(check_cublas(
        cublasSetWorkspace(ctx->m_cublas, ctx->m_cublas_workspace.data(), ctx->m_cublas_workspace.size()),
        "cublasSetWorkspace"));
    ctx->m_lt = std::make_unique<LtGemms>();
    TESSERA_TRY(ctx->m_lt->init(default_gemm_tuning_cache()));
    return ctx;
}

Result<bool> CudaContext::tune_pending_gemms() {
    return m_lt->tune_pending(*this);
}

Status CudaContext::restore_cublas_workspace() {
    return check_cublas(cublasSetWorkspace(m_cublas, m_cublas_workspace.data(), m_cublas_workspace.size()),
                        "cublasSetWorkspace");
}

CudaContext::~CudaContext() {
    m_lt.reset();
    if (m_cublas) cublasDestroy(m_cublas);
    if (m_stream) cudaStreamDestroy(m_stream);
}

Status CudaContext::synchronize() {
    return check(cudaStreamSynchronize(m_stream), "cudaStreamSynchronize");
}

Status gemm_bf16(CudaContext& ctx, const bf16_t* W, const bf16_t* x, void* y, bool y_is_f32, int M, int N,
                 int K, float alpha, float beta) {
    if (ctx.lt().takes(ctx, M, N, K, y_is_f32, beta != 0.f))
        return ctx.lt().gemm(ctx, W, x, y, y_is_f32, M, N, K, alpha, beta);
    // Row-major y[M,N] = x[M,K]·W[N,K]ᵀ is column-major yᵀ[N,M] = W·xᵀ: A = W (transposed view), B = x.
    // Residual products of up to 64 rows that reach this point (not tuned: outside a graph capture, or
    // TESSERA_GEMM_TUNE=0) run without the workspace: that rules
    // out cuBLAS's split-K with its separate reduction kernel, and the kernels it picks instead measured
    // faster on the H200 (Janus-Pro-7B step 5.00 against 5.07 ms, deepseek-llm-7b batch 16 +1.7%, batch 32
    // +1%: bench/results/2026-11-28-h200-session7.md). TESSERA_GEMM_RESIDUAL_WS=1 keeps the workspace.
    static const bool keep_ws = [] {
        const char* e = std::getenv("TESSERA_GEMM_RESIDUAL_WS");
        return e && std::atoi(e) != 0;
    }();
    const bool bare = !keep_ws && beta != 0.f && M <= 64;
    if (bare) TESSERA_TRY(check_cublas(cublasSetWorkspace(ctx.cublas(), nullptr, 0), "cublasSetWorkspace"));
    const Status st =
        check_cublas(cublasGemmEx(ctx.cublas(), CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha, W, CUDA_R_16BF, K,
                                  x, CUDA_R_16BF, K, &beta, y, y_is_f32 ? CUDA_R_32F : CUDA_R_16BF, N,
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                     "cublasGemmEx");
    if (bare) TESSERA_TRY(ctx.restore_cublas_workspace());
    return st;
}

Status gemm_rm(CudaContext& ctx, bool trans_a, bool trans_b, int M, int N, int K, const bf16_t* A, int lda,
               const bf16_t* B, int ldb, void* C, bool c_is_f32, int ldc, float alpha, float beta) {
    return check_cublas(
        cublasGemmEx(ctx.cublas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                     N, M, K, &alpha, B, CUDA_R_16BF, ldb, A, CUDA_R_16BF, lda, &beta, C,
                     c_is_f32 ? CUDA_R_32F : CUDA_R_16BF, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx");
}

}  // namespace tessera::cuda
