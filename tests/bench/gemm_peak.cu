/*
 * tests/bench/gemm_peak.cu — measure the cuBLAS GEMM rates awqkit's CUDA
 * backend can reach on this GPU, the ceiling that tests/bench/bench_gpu.sh
 * compares awqkit's achieved TFLOP/s against.
 *
 *   nvcc -O2 -arch=native gemm_peak.cu -lcublas -o gemm_peak
 *   ./gemm_peak [M N K] [--reps R]
 *
 * For each mode it times cublasGemmEx on C[M,N] = A[M,K] B[K,N] (the
 * backend's call shape: fp32 output) with CUDA events after a warm-up, over
 * R repetitions (default 20), and prints the median:
 *   fp32       CUBLAS_COMPUTE_32F, fp32 inputs: what awqkit uses by default
 *   tf32       CUBLAS_COMPUTE_32F_FAST_TF32 (awq_backend_cuda_set_gemm_mode)
 *   fp16       fp16 inputs, fp32 accumulate and output (F16 weights)
 *   bf16       the same with bf16 inputs
 * Inputs are random (never zeros: they can run faster). The last line is
 * machine-readable: "peak fp32=<TFLOP/s> tf32=... fp16=... bf16=...".
 * Every CUDA / cuBLAS call is checked; exit status 1 on any failure.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#define CK(call)                                                                   \
    do {                                                                           \
        cudaError_t e_ = (call);                                                   \
        if (e_ != cudaSuccess) {                                                   \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,          \
                    cudaGetErrorString(e_));                                       \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

#define CB(call)                                                                   \
    do {                                                                           \
        cublasStatus_t s_ = (call);                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                         \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,          \
                    cublasGetStatusString(s_));                                    \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

/* Uniform values in [-1, 1) from a per-element hash, as fp32 or 16-bit. */
__global__ void fill(void *p, size_t n, int kind, uint32_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        uint32_t x = (uint32_t)i * 2654435761u ^ seed;
        x ^= x >> 15;
        x *= 2246822519u;
        x ^= x >> 13;
        float v = (float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
        if (kind == 0) {
            ((float *)p)[i] = v;
        } else if (kind == 1) {
            ((__half_raw *)p)[i] = __half_raw(__float2half_rn(v));
        } else {
            ((__nv_bfloat16_raw *)p)[i] = __nv_bfloat16_raw(__float2bfloat16_rn(v));
        }
    }
}

struct Mode {
    const char *name;
    cudaDataType_t in;
    cublasComputeType_t compute;
    int kind; /* fill kind */
};

int main(int argc, char **argv) {
    long long M = 8192, N = 8192, K = 8192;
    int reps = 20;
    int pos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: gemm_peak [M N K] [--reps R]\n");
            return 0;
        } else {
            long long v = atoll(argv[i]);
            if (v < 1) {
                fprintf(stderr, "bad size %s\n", argv[i]);
                return 2;
            }
            if (pos == 0) M = v;
            else if (pos == 1) N = v;
            else if (pos == 2) K = v;
            pos++;
        }
    }
    if (reps < 1 || M > 65536 || N > 65536 || K > 65536) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    int dev = 0;
    CK(cudaGetDevice(&dev));
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, dev));
    printf("device %d: %s (sm_%d%d, %d SMs)\n", dev, prop.name, prop.major, prop.minor,
           prop.multiProcessorCount);
    printf("shape M=%lld N=%lld K=%lld, %d repetitions, median\n", M, N, K, reps);

    void *A, *B;
    float *C;
    CK(cudaMalloc(&A, (size_t)M * K * 4));
    CK(cudaMalloc(&B, (size_t)K * N * 4));
    CK(cudaMalloc(&C, (size_t)M * N * 4));
    cublasHandle_t h;
    CB(cublasCreate(&h));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));

    const Mode modes[] = {
        {"fp32", CUDA_R_32F, CUBLAS_COMPUTE_32F, 0},
        {"tf32", CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, 0},
        {"fp16", CUDA_R_16F, CUBLAS_COMPUTE_32F, 1},
        {"bf16", CUDA_R_16BF, CUBLAS_COMPUTE_32F, 2},
    };
    double rate[4] = {0, 0, 0, 0};
    const float alpha = 1.0f, beta = 0.0f;
    for (int mi = 0; mi < 4; mi++) {
        const Mode &m = modes[mi];
        fill<<<1024, 256>>>(A, (size_t)M * K, m.kind, 0x1234u + mi);
        CK(cudaGetLastError());
        fill<<<1024, 256>>>(B, (size_t)K * N, m.kind, 0x9876u + mi);
        CK(cudaGetLastError());
        /* row-major C[M,N] = A[M,K] B[K,N] as column-major C^T = B^T A^T */
        auto run = [&]() {
            CB(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)N, (int)M, (int)K, &alpha, B, m.in,
                            (int)N, A, m.in, (int)K, &beta, C, CUDA_R_32F, (int)N, m.compute,
                            CUBLAS_GEMM_DEFAULT));
        };
        for (int w = 0; w < 3; w++) run();
        CK(cudaDeviceSynchronize());
        std::vector<float> ms;
        for (int r = 0; r < reps; r++) {
            CK(cudaEventRecord(e0));
            run();
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            float t = 0;
            CK(cudaEventElapsedTime(&t, e0, e1));
            ms.push_back(t);
        }
        std::sort(ms.begin(), ms.end());
        const double med = ms[ms.size() / 2];
        rate[mi] = 2.0 * (double)M * N * K / (med * 1e-3) / 1e12;
        printf("%-5s  median %8.3f ms  (min %8.3f, max %8.3f)  %8.2f TFLOP/s\n", m.name, med,
               ms.front(), ms.back(), rate[mi]);
    }
    printf("peak fp32=%.2f tf32=%.2f fp16=%.2f bf16=%.2f\n", rate[0], rate[1], rate[2], rate[3]);
    CB(cublasDestroy(h));
    CK(cudaFree(A));
    CK(cudaFree(B));
    CK(cudaFree(C));
    return 0;
}
