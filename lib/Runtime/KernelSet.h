//===- KernelSet.h - ISA-specific kernel table ------------------*- C++ -*-===//
//
// Internal interface between the ISA-independent GEMM driver (Gemm.cpp) and
// the per-ISA kernel translation units (KernelsScalar.cpp, KernelsAvx2.cpp,
// KernelsAvx512.cpp). Each kernel TU is compiled with its own -m flags and
// exports one KernelSet; the driver picks one at run time.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_LIB_RUNTIME_KERNELSET_H
#define PARSIMONY_LIB_RUNTIME_KERNELSET_H

#include <cstdint>

namespace parsimony {
namespace runtime {

/// Largest register-block height (MR) of any kernel set.
constexpr int MaxMR = 14;
/// Largest number of rows of the small operand any streaming (GEMV-like)
/// kernel handles; each KernelSet states its own limit (maxStreamRows).
constexpr int MaxStreamRows = 8;

/// Register-blocked micro-kernel:
///   C[0:mr, 0:nValid] = alpha * sum_{p<kc} A(i, p) * Bp(p, j) + beta * C
/// where A(i, p) = a[i * rsA + p * csA] (so A may be row-major, transposed or
/// packed) and Bp is a panel of NR columns and kc rows, row p at bp + p *
/// ldbp: a packed panel (ldbp = NR, zero padding past nValid) or, for the
/// unpacked kernels, B itself (ldbp = ldb, all NR columns readable). mr is
/// fixed by the table slot. beta == 0 never reads C.
using MicroKernelFn = void (*)(int64_t kc, const float *a, int64_t rsA,
                               int64_t csA, const float *bp, int64_t ldbp,
                               float *c, int64_t ldc, int64_t nValid,
                               float alpha, float beta);

/// Packs the kc x nc block of op(B) starting at b into ceil(nc / NR) panels
/// of NR columns each (panel q at bp + q * kc * NR), zero padding the last.
/// op(B)(p, j) = trans ? b[j * ldb + p] : b[p * ldb + j].
using PackBFn = void (*)(int64_t kc, int64_t nc, const float *b, int64_t ldb,
                         bool trans, float *bp);

/// Streaming "small x big" product with the big operand row-major K x N:
///   y[i * ldy + j] = sum_{p<k} a[i * lda + p] * b[p * ldb + j]
/// for i < m <= maxStreamRows, j < n. y is overwritten. b is read exactly
/// once, front to back.
using StreamNNFn = void (*)(int64_t m, int64_t k, int64_t n, const float *a,
                            int64_t lda, const float *b, int64_t ldb, float *y,
                            int64_t ldy);

/// Streaming "small x big^T" product with the big operand stored N x K:
///   c[i * rsC + j * csC] = alpha * sum_{p<k} a[i * lda + p] * b[j * ldb + p]
///                          + beta * c[...]
/// for i < m <= maxStreamRows, j < n. beta == 0 never reads c.
using StreamNTFn = void (*)(int64_t m, int64_t k, int64_t n, const float *a,
                            int64_t lda, const float *b, int64_t ldb, float *c,
                            int64_t rsC, int64_t csC, float alpha, float beta);

/// Fused GEMM epilogue over a rows x cols block of C (row stride ldc):
///   c[i][j] = act(c[i][j] + bias[j]) + residual[i * ldr + j]
/// with bias and residual optional (null) and act an spx activation code
/// (0 identity, 1 relu, 2 gelu, 3 gelu_tanh, 4 silu, 5 sigmoid).
using EpilogueFn = void (*)(int64_t rows, int64_t cols, float *c, int64_t ldc,
                            const float *bias, int32_t activation,
                            const float *residual, int64_t ldr);

/// One ISA's kernels and blocking parameters.
struct KernelSet {
  const char *name;
  int mr; ///< micro-kernel rows (<= MaxMR)
  int nr; ///< micro-kernel columns = packed panel width
  int kc; ///< K block: a kc x nr packed panel stays in L1
  int mc; ///< M block (multiple of mr): the A block stays in L2
  /// Products whose M or N is at most this use the streaming kernels.
  int maxStreamRows;
  /// microKernels[m] computes m rows, 1 <= m <= mr.
  MicroKernelFn microKernels[MaxMR + 1];
  /// The same, for B read in place from memory: they prefetch the panel
  /// rows far enough ahead to cover DRAM latency.
  MicroKernelFn unpackedKernels[MaxMR + 1];
  PackBFn packB;
  StreamNNFn streamNN;
  StreamNTFn streamNT;
  EpilogueFn epilogue;
};

const KernelSet &getScalarKernels();

/// The active ISA's epilogue (KernelSet::epilogue) over one block of C, for
/// products computed outside sgemm.
void applyGemmEpilogue(int64_t rows, int64_t cols, float *c, int64_t ldc,
                       const float *bias, int32_t activation,
                       const float *residual, int64_t ldr);
const KernelSet &getAvx2Kernels();
const KernelSet &getAvx512Kernels();

} // namespace runtime
} // namespace parsimony

#endif // PARSIMONY_LIB_RUNTIME_KERNELSET_H
