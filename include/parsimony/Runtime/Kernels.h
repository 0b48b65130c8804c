/*===- Kernels.h - Parsimony CPU runtime micro-kernel C ABI -------*- C -*-===*\
|*                                                                            *|
|* The dense linear-algebra entry points that MLIR-generated CPU code calls.  *|
|* The compiler lowers linalg.matmul / batch_matmul / matvec (and the dense   *|
|* parts of spx ops) onto these functions; they are implemented by the        *|
|* self-contained static library `ParsimonyRuntime` (and its shared twin      *|
|* libparsimony_runtime.so), which depends only on the C++17 standard library *|
|* and pthreads. See docs/runtime-kernels.md.                                 *|
|*                                                                            *|
|* Conventions shared by every function:                                      *|
|*  - Matrices are row-major; a leading dimension (lda/ldb/ldc) is the        *|
|*    distance in elements between consecutive rows of the matrix *as stored* *|
|*    and must be >= the stored row length (K or M for A, N or K for B, N     *|
|*    for C); it is not validated.                                            *|
|*  - transA != 0 means A is stored as a K x M matrix and op(A) = A^T;        *|
|*    transB != 0 means B is stored as an N x K matrix and op(B) = B^T.       *|
|*  - beta == 0 means C is write-only: it is never read, so it may hold       *|
|*    uninitialised values or NaN. Any M, N, K >= 0 is valid; K == 0 yields   *|
|*    C = beta * C. Negative sizes make the call a no-op.                     *|
|*  - All functions are thread-safe: concurrent calls from different threads  *|
|*    are allowed (a call that finds the worker pool busy runs on its calling *|
|*    thread alone). They never throw and never allocate per call beyond a    *|
|*    per-thread packing arena that is reused across calls.                   *|
|*  - Results are deterministic for a fixed thread count and ISA.             *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef PARSIMONY_RUNTIME_KERNELS_H
#define PARSIMONY_RUNTIME_KERNELS_H

#include <stdint.h>

/* Entry points stay visible when the library is built with hidden visibility
   (libparsimony_runtime.so, or a model .so that links the static archive). */
#if defined(__GNUC__) || defined(__clang__)
#define PARSIMONY_RUNTIME_API __attribute__((visibility("default")))
#else
#define PARSIMONY_RUNTIME_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C.
PARSIMONY_RUNTIME_API void
parsimony_sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                int64_t lda, int32_t transA, const float *B, int64_t ldb,
                int32_t transB, float beta, float *C, int64_t ldc);

/// Batched sgemm: for b in [0, batch):
///   C + b*strideC = alpha * op(A + b*strideA) * op(B + b*strideB)
///                   + beta * (C + b*strideC).
/// Strides are in elements. A stride of 0 broadcasts that operand to every
/// batch item (e.g. one weight matrix shared by all items). strideC must not
/// make different batch items' outputs overlap.
PARSIMONY_RUNTIME_API void
parsimony_sgemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K,
                        float alpha, const float *A, int64_t lda,
                        int64_t strideA, int32_t transA, const float *B,
                        int64_t ldb, int64_t strideB, int32_t transB,
                        float beta, float *C, int64_t ldc, int64_t strideC);

/// Single GEMM with a fused epilogue (spx.matmul):
///   C = act(A * op(B) + bias) + R
/// A is M x K row-major (lda), op(B) is B (K x N, ldb) or, with transB, the
/// transpose of B stored N x K. bias (N values) and R (M x N, row stride
/// ldr) are optional (null). activation: 0 identity, 1 relu, 2 gelu (erf),
/// 3 gelu_tanh, 4 silu, 5 sigmoid. The epilogue is applied to each block of
/// C as soon as its accumulation is complete, while it is in cache.
PARSIMONY_RUNTIME_API void
parsimony_sgemm_epilogue(int64_t M, int64_t N, int64_t K, const float *A,
                         int64_t lda, const float *B, int64_t ldb,
                         int32_t transB, const float *bias, int32_t activation,
                         const float *R, int64_t ldr, float *C, int64_t ldc);

/// Sets the number of threads (the calling thread included) that later calls
/// may use. n <= 0 restores the default: the number of CPUs this process may
/// run on (sched_getaffinity), or the PARSIMONY_NUM_THREADS environment
/// variable when set.
PARSIMONY_RUNTIME_API void parsimony_set_num_threads(int32_t n);

/// Joins the runtime's worker threads, if any were started. A library
/// embedding the runtime calls it before it is unloaded (dlclose), so that
/// no worker is left running code that is no longer mapped.
PARSIMONY_RUNTIME_API void parsimony_runtime_shutdown(void);

/// Returns the current thread count.
PARSIMONY_RUNTIME_API int32_t parsimony_get_num_threads(void);

/*===------------------------------------------------------------------===*\
|* Diagnostics and testing hooks.                                         *|
\*===------------------------------------------------------------------===*/

/// Instruction-set paths of the kernels, from slowest to fastest.
enum {
  PARSIMONY_ISA_SCALAR = 0, /* portable C++, no explicit SIMD */
  PARSIMONY_ISA_AVX2 = 1,   /* AVX2 + FMA, 6x16 micro-kernel */
  PARSIMONY_ISA_AVX512 = 2  /* AVX-512F, 14x32 micro-kernel */
};

/// Returns the ISA path in use. At start-up it is the best one the CPU
/// supports, or the one named by the PARSIMONY_ISA environment variable
/// ("scalar", "avx2", "avx512") when that is supported.
PARSIMONY_RUNTIME_API int32_t parsimony_get_isa(void);

/// Forces an ISA path (one of PARSIMONY_ISA_*); a request the CPU cannot run
/// is lowered to the best supported path below it. Returns the path now in
/// use. Intended for tests and benchmarks; not synchronised with concurrent
/// sgemm calls.
PARSIMONY_RUNTIME_API int32_t parsimony_set_isa(int32_t isa);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PARSIMONY_RUNTIME_KERNELS_H */
