/*
 * tests/unit/cuda_emu/cuda_runtime_api.h — the subset of the CUDA runtime
 * API that awqkit's CUDA host glue (lib/backend/cuda.c, cuda_quant.c) and
 * kernel launchers use, implemented on the CPU by cuda_emu.cpp. Test-only:
 * this directory is put first on the include path of test_cuda_emu so the
 * real header is shadowed. C-compatible, like the real one.
 *
 * "Device" memory is host memory from posix_memalign, registered so that
 * copies check which side each pointer is on (a host pointer passed as a
 * device pointer, or the reverse, fails with cudaErrorInvalidValue and a
 * note on stderr), filled with 0xff bytes (NaN) when allocated and freed so
 * reads of unwritten memory show. A device size limit makes out-of-memory
 * testable. With AWQ_EMU_GUARD_DEVICE=1 in the environment each allocation
 * is its own mapping, inaccessible outside emulated device operations
 * (kernels, copies, memsets, GEMMs) and unmapped when freed, so host code
 * that touches device memory directly, or after freeing it, faults as on a
 * GPU (test_cuda_emu and the rehearsal of tests/bench/gpu_check.sh run so).
 */
#ifndef AWQ_CUDA_EMU_RUNTIME_API_H
#define AWQ_CUDA_EMU_RUNTIME_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevice = 101,
    cudaErrorNoDevice = 100,
    cudaErrorNoKernelImageForDevice = 209,
    cudaErrorLaunchFailure = 719
} cudaError_t;

typedef struct awq_emu_stream *cudaStream_t;
typedef struct awq_emu_pool *cudaMemPool_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3
};

enum cudaDeviceAttr { cudaDevAttrMemoryPoolsSupported = 115 };
enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

#define cudaStreamNonBlocking 0x01

struct cudaDeviceProp {
    char name[256];
    int major, minor;
    int multiProcessorCount;
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    size_t sharedMemPerBlockOptin;
};

struct cudaFuncAttributes {
    size_t sharedSizeBytes;
    int maxThreadsPerBlock;
};

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device);
cudaError_t cudaGetLastError(void);
const char *cudaGetErrorName(cudaError_t e);
const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaMalloc(void **p, size_t n);
cudaError_t cudaFree(void *p);
cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t s);
cudaError_t cudaFreeAsync(void *p, cudaStream_t s);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind,
                            cudaStream_t s);
cudaError_t cudaMemsetAsync(void *p, int value, size_t n, cudaStream_t s);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int device);
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, enum cudaMemPoolAttr attr, void *value);
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t keep);
cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes *attr, const void *func);
cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value);

/* ------------------------------------------------ emulation controls */

/* Number of emulated devices (default 1; 0 makes cudaGetDeviceCount fail
 * with cudaErrorNoDevice). */
void awq_emu_set_device_count(int n);
/* Emulated device memory size in bytes (default 1 GiB). */
void awq_emu_set_mem_limit(size_t bytes);
/* Bytes currently allocated on the emulated device; live allocations. */
size_t awq_emu_mem_in_use(void);
size_t awq_emu_live_allocations(void);
/* Number of API misuses seen (wrong-side pointers, bad launches). */
int awq_emu_misuse_count(void);

#ifdef __cplusplus
}
#endif
#endif /* AWQ_CUDA_EMU_RUNTIME_API_H */
