/*===- GpuRuntime.h - the host side of GPU-compiled models -----*- C -*-===*\
|*                                                                          *|
|* Models compiled with --target=nvptx link libParsimonyGpuRuntime.a, a     *|
|* small runtime over the CUDA driver API. libcuda.so.1 is opened at run    *|
|* time (dlopen), so a library built here loads on machines without a GPU  *|
|* and reports "no CUDA driver" instead of failing to load.                 *|
|*                                                                          *|
|* It provides:                                                             *|
|*  - the mgpu* entry points that MLIR's gpu-to-llvm lowering calls         *|
|*    (module load, launch, alloc, copy), implemented here instead of       *|
|*    MLIR's own CUDA runtime wrappers (which Debian does not ship);        *|
|*  - parsimony_gpu_<kernel>: device-pointer versions of the CPU kernels    *|
|*    of Kernels.h and SpxKernels.h, same arguments and semantics, running  *|
|*    the kernel library of lib/Runtime/Gpu/GpuKernels.cu;                  *|
|*  - run brackets and constants for the generated code.                    *|
|*                                                                          *|
|* All work is ordered on one stream of the runtime's; device memory is    *|
|* recycled through a caching allocator. Within a run, work is queued until *|
|* the host waits (a copy to the host, the end of the run); a queued        *|
|* segment that repeats (a decode step) is captured into a CUDA graph once  *|
|* and replayed from it (PARSIMONY_GPU_GRAPHS=0 turns this off). Runs from  *|
|* several threads are serialised. Errors never abort: the first one of a   *|
|* run is recorded and returned by parsimony_gpu_end_run.                   *|
\*===----------------------------------------------------------------------===*/

#ifndef PARSIMONY_RUNTIME_GPURUNTIME_H
#define PARSIMONY_RUNTIME_GPURUNTIME_H

#include "parsimony/Runtime/Kernels.h"
#include "parsimony/Runtime/SpxKernels.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Starts a model run: initialises the driver and context on first use.
 * Returns 0, or non-zero when no GPU can be used (message in
 * parsimony_gpu_last_error). */
PARSIMONY_RUNTIME_API int32_t parsimony_gpu_begin_run(void);
/* Waits for the run's work and returns 0, or non-zero if any driver call or
 * kernel of the run failed. */
PARSIMONY_RUNTIME_API int32_t parsimony_gpu_end_run(void);
/* Frees (into the device buffer cache) the device buffers the open run
   allocated and has not freed: a run that a failed runtime check ended
   early never frees its temporaries. Call before parsimony_gpu_end_run. */
PARSIMONY_RUNTIME_API void parsimony_gpu_release_run_buffers(void);
/* The first error since the last parsimony_gpu_begin_run ("" if none). */
PARSIMONY_RUNTIME_API const char *parsimony_gpu_last_error(void);
/* Segments of run work captured into CUDA graphs, and graph launches,
 * since the process started (either pointer may be null). */
PARSIMONY_RUNTIME_API void parsimony_gpu_replay_counts(int64_t *captured,
                                                       int64_t *replayed);
/* 1 if a CUDA driver and at least one GPU are present. */
PARSIMONY_RUNTIME_API int32_t parsimony_gpu_available(void);

/* Device copy of a host constant (a weight), uploaded on first use and
 * kept for the life of the process; keyed by address and size. */
PARSIMONY_RUNTIME_API void *parsimony_gpu_constant(const void *host,
                                                   int64_t bytes);

/* Device-pointer kernels: same contracts as the CPU versions. */
PARSIMONY_RUNTIME_API void
parsimony_gpu_sgemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K,
                            float alpha, const float *A, int64_t lda,
                            int64_t strideA, int32_t transA, const float *B,
                            int64_t ldb, int64_t strideB, int32_t transB,
                            float beta, float *C, int64_t ldc, int64_t strideC);

PARSIMONY_RUNTIME_API void
parsimony_gpu_quant_matmul_f32(const float *in, int64_t T, int64_t K, int64_t N,
                               PARSIMONY_WEIGHT_PARAMS(weight), float *out);

/* parsimony_quant_matmul_u8_f32 with one more argument: the zero point is
 * the byte at zero_point_at (device memory, of the activations' type), or
 * `zero_point` when zero_point_at is null. A zero point the model computes
 * (DynamicQuantizeLinear) stays on the device this way
 * (--parsimony-offload-to-gpu passes its address). The integer sums are
 * exact where the weight has one scale per output feature, and exact per
 * group where it has grouped scales (the groups' scaled sums in f32). */
PARSIMONY_RUNTIME_API void parsimony_gpu_quant_matmul_u8_f32(
    const uint8_t *in, int64_t T, int64_t K, int64_t N,
    PARSIMONY_WEIGHT_PARAMS(weight), int32_t in_signed, int32_t zero_point,
    const void *zero_point_at, const float *bias, int32_t activation,
    const float *residual, float *out);

PARSIMONY_RUNTIME_API void
parsimony_gpu_topk_activation_f32(const float *in, float *out, int64_t outer,
                                  int64_t axis, int64_t inner, int64_t k,
                                  int32_t approx, float recall_target);

PARSIMONY_RUNTIME_API void
parsimony_gpu_sparse_matmul_f32(const float *in, int64_t T, int64_t K,
                                int64_t N, PARSIMONY_WEIGHT_PARAMS(weight),
                                float *out);

PARSIMONY_RUNTIME_API void
parsimony_gpu_support_matmul_f32(const float *in, int64_t T, int64_t K,
                                 int64_t N, PARSIMONY_WEIGHT_PARAMS(weight),
                                 const void *support, int32_t support_i64,
                                 int64_t S, int32_t side, float *out);

PARSIMONY_RUNTIME_API void parsimony_gpu_predict_support_f32(
    const float *x, int64_t T, int64_t K, int64_t N,
    PARSIMONY_WEIGHT_PARAMS(weight), const float *factor, int64_t rank,
    const float *bias, int64_t k, void *out, int32_t out_i64);

PARSIMONY_RUNTIME_API void parsimony_gpu_sparse_ffn_f32(
    const float *x, int64_t T, int64_t D, int64_t F,
    PARSIMONY_WEIGHT_PARAMS(up), const float *up_bias,
    PARSIMONY_WEIGHT_PARAMS(gate), PARSIMONY_WEIGHT_PARAMS(down),
    const float *down_bias, const void *support, int32_t support_i64, int64_t S,
    int64_t support_block, int32_t activation, int64_t topk,
    const float *residual, float *y);

PARSIMONY_RUNTIME_API void
parsimony_gpu_route_f32(const float *x, int64_t T, int64_t D,
                        const float *router_w, const float *router_b, int64_t E,
                        int64_t k, int32_t normalize, float *gates,
                        void *experts, int32_t experts_i64);

PARSIMONY_RUNTIME_API void parsimony_gpu_dispatch_f32(
    const float *x, int64_t T, int64_t D, const void *experts,
    int32_t experts_i64, int64_t k, int64_t E, int32_t mode, int64_t capacity,
    float *rows, int64_t R, int64_t *offsets, int64_t *sizes, int64_t *slots);

PARSIMONY_RUNTIME_API void parsimony_gpu_expert_ffn_f32(
    const float *rows, int64_t R, int64_t D, const int64_t *offsets,
    const int64_t *sizes, int64_t E, int64_t F, PARSIMONY_WEIGHT_PARAMS(fc1),
    const float *fc1_bias, PARSIMONY_WEIGHT_PARAMS(fc2), const float *fc2_bias,
    PARSIMONY_WEIGHT_PARAMS(fc3), const float *fc3_bias, int32_t activation,
    int32_t swiglu_fusion, float alpha, float beta, float swiglu_limit,
    float *out);

PARSIMONY_RUNTIME_API void
parsimony_gpu_combine_f32(const float *expert_out, int64_t R, int64_t D,
                          const void *slots, int32_t slots_i64, int64_t T,
                          int64_t k, const float *gates, const float *residual,
                          float *out);

#ifdef __cplusplus
}
#endif

#endif /* PARSIMONY_RUNTIME_GPURUNTIME_H */
