/*
 * tests/unit/cuda_emu/cuda_emu_device.h — the CUDA execution model on the
 * CPU, for compiling the .cu files of kernels/ as C++ (AWQ_CUDA_EMU) in the tests.
 *
 * A launch runs every thread of a block as a fiber (user-level context) on
 * the calling thread, blocks one after another. __syncthreads is a barrier
 * of the block's fibers; warp shuffles exchange values through a per-warp
 * slot array between two barriers of the warp's 32 lanes, so kernels whose
 * threads skip a __syncthreads or a shuffle that others reach are reported
 * as a deadlock (and abort) instead of passing silently.
 * `__shared__` variables are function statics: shared by the block's
 * threads, fine because blocks run one at a time. Arithmetic intrinsics
 * are their IEEE definitions (round to nearest even, never fused), so
 * results are the GPU's bit for bit except the libm-based transcendental
 * functions (expf, exp, log), whose last bits may differ from CUDA's.
 *
 * Test-only; compiled with C++ (g++), never by nvcc.
 */
#ifndef AWQ_CUDA_EMU_DEVICE_H
#define AWQ_CUDA_EMU_DEVICE_H

#ifndef __cplusplus
#error "cuda_emu_device.h is C++"
#endif

#include <functional>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cuda_runtime_api.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

struct awq_emu_uint3 {
    unsigned x, y, z;
};

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

extern awq_emu_uint3 awq_emu_threadIdx;
extern awq_emu_uint3 awq_emu_blockIdx;
extern awq_emu_uint3 awq_emu_blockDim;
extern awq_emu_uint3 awq_emu_gridDim;

#define threadIdx (awq_emu_threadIdx)
#define blockIdx (awq_emu_blockIdx)
#define blockDim (awq_emu_blockDim)
#define gridDim (awq_emu_gridDim)

/* Run fn on grid x block threads; smem bytes of dynamic shared memory;
 * func identifies the kernel (for its shared-memory attribute). */
cudaError_t awq_emu_launch_fn(const void *func, dim3 grid, dim3 block, size_t smem,
                              const std::function<void()> &fn);
void *awq_emu_dyn_smem(void);
void awq_emu_syncthreads(void);
void awq_emu_syncwarp(void);
/* Warp exchange: every lane publishes v, then reads lane `src`'s. */
uint64_t awq_emu_warp_exchange(uint64_t v, int src);
int awq_emu_lane(void);

#define awq_emu_launch(grid, block, smem, lambda)                             \
    awq_emu_launch_fn(nullptr, (grid), (block), (smem), (lambda))

static inline void __syncthreads(void) { awq_emu_syncthreads(); }
static inline void __syncwarp(unsigned mask = 0xffffffffu) {
    (void)mask;
    awq_emu_syncwarp();
}

template <class T>
static inline T awq_emu_shfl(T v, int src) {
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    uint64_t u = 0;
    memcpy(&u, &v, sizeof v);
    uint64_t r = awq_emu_warp_exchange(u, src & 31);
    T out;
    memcpy(&out, &r, sizeof out);
    return out;
}

template <class T>
static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    (void)mask;
    (void)width;
    return awq_emu_shfl(v, awq_emu_lane() ^ lane_mask);
}

template <class T>
static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    (void)mask;
    (void)width;
    return awq_emu_shfl(v, src);
}

template <class T>
static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    (void)mask;
    (void)width;
    int src = awq_emu_lane() + (int)delta;
    return awq_emu_shfl(v, src < 32 ? src : awq_emu_lane());
}

static inline unsigned long long atomicMin(unsigned long long *p, unsigned long long v) {
    unsigned long long old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
    while (v < old &&
           !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    return old;
}

static inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v) {
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}

static inline int atomicAdd(int *p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }

/* Correctly rounded single operations (the host's SSE arithmetic; the
 * tests are built with -ffp-contract=off so nothing fuses). */
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }

static inline unsigned __float_as_uint(float f) {
    unsigned u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float __uint_as_float(unsigned u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#endif /* AWQ_CUDA_EMU_DEVICE_H */
