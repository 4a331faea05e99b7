/*
 * kernels/kcommon.cuh — what every kernel file shares: the launch and
 * shared-memory spellings, grid helpers and deterministic reductions.
 *
 * The .cu files are compiled two ways:
 *   - by nvcc for the CUDA backend (kernels/sources.cmake);
 *   - as plain C++ with AWQ_CUDA_EMU defined, against the CPU emulation of
 *     the CUDA execution model in tests/unit/cuda_emu/ (threads, barriers,
 *     shared memory, warp shuffles), so tests run every kernel's indexing
 *     and arithmetic on machines without a GPU.
 * So kernels use only what both provide: no <<< >>> outside AWQ_LAUNCH,
 * dynamic shared memory through AWQ_DYN_SMEM, no float4 outside AWQ_LD4,
 * and single-parameter templates in launches.
 *
 * Reductions are deterministic: fixed trees, warp butterflies (every lane
 * ends with the same bits: fp32/fp64 addition is commutative), integer
 * atomics only for error flags and counts.
 */
#ifndef AWQ_KERNELS_KCOMMON_CUH
#define AWQ_KERNELS_KCOMMON_CUH

#include <stdint.h>

#ifdef AWQ_CUDA_EMU
#include "cuda_emu_device.h"
#define AWQ_LAUNCH(kern, grid, block, smem, stream, ...)                       \
    awq_emu_launch_fn((const void *)kern, (grid), (block), (size_t)(smem),       \
                      [=]() { kern(__VA_ARGS__); })
#define AWQ_DYN_SMEM(T, name) T *name = (T *)awq_emu_dyn_smem()
#else
#include <cuda_runtime.h>
#define AWQ_LAUNCH(kern, grid, block, smem, stream, ...)                       \
    kern<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#define AWQ_DYN_SMEM(T, name)                                                  \
    extern __shared__ __align__(16) unsigned char awq_dyn_smem_[];             \
    T *name = reinterpret_cast<T *>(awq_dyn_smem_)
#endif

/* 4 consecutive floats from 16-byte aligned shared memory. */
#if defined(__CUDA_ARCH__)
#define AWQ_LD4(dst, p)                                                        \
    do {                                                                       \
        float4 awq_v4_ = *reinterpret_cast<const float4 *>(p);                 \
        (dst)[0] = awq_v4_.x;                                                  \
        (dst)[1] = awq_v4_.y;                                                  \
        (dst)[2] = awq_v4_.z;                                                  \
        (dst)[3] = awq_v4_.w;                                                  \
    } while (0)
#else
#define AWQ_LD4(dst, p)                                                        \
    do {                                                                       \
        (dst)[0] = (p)[0];                                                     \
        (dst)[1] = (p)[1];                                                     \
        (dst)[2] = (p)[2];                                                     \
        (dst)[3] = (p)[3];                                                     \
    } while (0)
#endif

#define AWQ_FULL_MASK 0xffffffffu

/* Grid of a grid-stride loop over n items with `threads` per block: enough
 * blocks to fill any current GPU, capped so gridDim.x stays small. */
static inline unsigned awq_grid_for(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > 65535) b = 65535;
    return (unsigned)b;
}

static __device__ __forceinline__ int64_t awq_gtid(void) {
    return (int64_t)blockIdx.x * (int64_t)blockDim.x + (int64_t)threadIdx.x;
}

static __device__ __forceinline__ int64_t awq_gstride(void) {
    return (int64_t)gridDim.x * (int64_t)blockDim.x;
}

static __device__ __forceinline__ float awq_warp_max(float v) {
    for (int m = 16; m > 0; m >>= 1) v = fmaxf(v, __shfl_xor_sync(AWQ_FULL_MASK, v, m));
    return v;
}

static __device__ __forceinline__ float awq_warp_min(float v) {
    for (int m = 16; m > 0; m >>= 1) v = fminf(v, __shfl_xor_sync(AWQ_FULL_MASK, v, m));
    return v;
}

static __device__ __forceinline__ float awq_warp_sum(float v) {
    for (int m = 16; m > 0; m >>= 1) v = __fadd_rn(v, __shfl_xor_sync(AWQ_FULL_MASK, v, m));
    return v;
}

static __device__ __forceinline__ int awq_warp_or(int v) {
    for (int m = 16; m > 0; m >>= 1) v |= __shfl_xor_sync(AWQ_FULL_MASK, v, m);
    return v;
}

/* Sum of one double per thread over a block of exactly NT threads (a power
 * of two), in a fixed tree; the result is returned to every thread. `sh`
 * is NT doubles of shared memory; the block must call this convergently. */
template <int NT>
static __device__ __forceinline__ double awq_block_sum_d(double v, double *sh) {
    const int t = (int)threadIdx.x;
    sh[t] = v;
    __syncthreads();
    for (int s = NT / 2; s > 0; s >>= 1) {
        if (t < s) sh[t] = sh[t] + sh[t + s];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

/* Max of one float per thread over a block of NT threads (exact). */
template <int NT>
static __device__ __forceinline__ float awq_block_max_f(float v, float *sh) {
    const int t = (int)threadIdx.x;
    sh[t] = v;
    __syncthreads();
    for (int s = NT / 2; s > 0; s >>= 1) {
        if (t < s) sh[t] = fmaxf(sh[t], sh[t + s]);
        __syncthreads();
    }
    float r = sh[0];
    __syncthreads();
    return r;
}

#endif /* AWQ_KERNELS_KCOMMON_CUH */
