//===- SpxKernelsSimd.cpp - vector inner loops of the spx kernels ---------===//
//
// The two loops the sparse paths spend their time in, for AVX-512, AVX2+FMA
// and portable C++:
//
//  * rowsFma: y[t] += sum_u a[t][u] * row_u over a list of scattered weight
//    rows (the sparse down-projection). Column blocks are held in registers
//    for up to 4 tokens while every row streams through once, so y is loaded
//    and stored once per block instead of once per row, and the next rows
//    are prefetched (the hardware prefetchers do not follow a row list).
//  * dotRows: dot products of up to 4 tokens with a list of contiguous
//    neuron rows (the predicted-support up-projection on nk weights).
//
// The ISA paths use function-level target attributes so that this file
// needs no special compile flags; they are only called after the CPU check
// in SpxKernels.cpp.
//
//===----------------------------------------------------------------------===//

#include "SpxKernelsInternal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PARSIMONY_SPX_X86 1
#endif

// GCC 12 reports its own _mm512_undefined_* idiom (inside the reduction
// intrinsics) as uninitialised use; a false positive.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

using namespace parsimony::runtime::spx;

namespace {

/// Rows ahead of the current one that rowsFma prefetches. One column block
/// of a row is only a few cache lines, so the distance must cover a DRAM
/// round trip over several rows.
constexpr int64_t RowPrefetchDistance = 16;

//===----------------------------------------------------------------------===//
// Portable C++.
//===----------------------------------------------------------------------===//

void rowsFmaScalar(int64_t n, int tb, int64_t m, const float *a, int64_t lda,
                   const float *const *rows, float *y, int64_t ldy) {
  for (int t = 0; t < tb; ++t) {
    float *yt = y + t * ldy;
    for (int64_t u = 0; u < m; ++u) {
      float s = a[t * lda + u];
      if (s == 0.0f)
        continue;
      const float *r = rows[u];
      for (int64_t c = 0; c < n; ++c)
        yt[c] += s * r[c];
    }
  }
}

void dotRowsScalar(int64_t n, int tb, const float *x, int64_t ldx, int64_t m,
                   const float *const *rows, float *out, int64_t ldo) {
  for (int64_t u = 0; u < m; ++u)
    for (int t = 0; t < tb; ++t) {
      const float *xt = x + t * ldx;
      float s = 0.0f;
      for (int64_t c = 0; c < n; ++c)
        s += xt[c] * rows[u][c];
      out[t * ldo + u] = s;
    }
}

void nonzeroBitsScalar(const float *x, int64_t n, uint64_t *bits) {
  for (int64_t i0 = 0; i0 < n; i0 += 64) {
    int64_t len = n - i0 < 64 ? n - i0 : 64;
    uint64_t word = 0;
    for (int64_t b = 0; b < len; ++b)
      word |= uint64_t(x[i0 + b] != 0.0f) << b;
    bits[i0 / 64] |= word;
  }
}

#ifdef PARSIMONY_SPX_X86

//===----------------------------------------------------------------------===//
// AVX-512.
//===----------------------------------------------------------------------===//

#define SPX_AVX512 __attribute__((target("avx512f,fma")))

/// One column block of NV vectors at column `col` (mask applies to the last
/// vector only; all ones for full blocks).
template <int TB, int NV>
SPX_AVX512 inline void rowsBlock512(int64_t m, const float *a, int64_t lda,
                                    const float *const *rows, int64_t col,
                                    float *y, int64_t ldy, __mmask16 mask) {
  __m512 acc[TB][NV];
  for (int t = 0; t < TB; ++t)
    for (int v = 0; v < NV; ++v)
      acc[t][v] = v == NV - 1
                      ? _mm512_maskz_loadu_ps(mask, y + t * ldy + col + 16 * v)
                      : _mm512_loadu_ps(y + t * ldy + col + 16 * v);
  for (int64_t u = 0; u < m; ++u) {
    if (u + RowPrefetchDistance < m) {
      const char *p =
          reinterpret_cast<const char *>(rows[u + RowPrefetchDistance] + col);
      for (int v = 0; v < NV; ++v)
        _mm_prefetch(p + 64 * v, _MM_HINT_T0);
    }
    const float *r = rows[u] + col;
    __m512 w[NV];
    for (int v = 0; v < NV; ++v)
      w[v] = v == NV - 1 ? _mm512_maskz_loadu_ps(mask, r + 16 * v)
                         : _mm512_loadu_ps(r + 16 * v);
    for (int t = 0; t < TB; ++t) {
      __m512 s = _mm512_set1_ps(a[t * lda + u]);
      for (int v = 0; v < NV; ++v)
        acc[t][v] = _mm512_fmadd_ps(s, w[v], acc[t][v]);
    }
  }
  for (int t = 0; t < TB; ++t)
    for (int v = 0; v < NV; ++v) {
      if (v == NV - 1)
        _mm512_mask_storeu_ps(y + t * ldy + col + 16 * v, mask, acc[t][v]);
      else
        _mm512_storeu_ps(y + t * ldy + col + 16 * v, acc[t][v]);
    }
}

template <int TB>
SPX_AVX512 void rowsFma512T(int64_t n, int64_t m, const float *a, int64_t lda,
                            const float *const *rows, float *y, int64_t ldy) {
  // Wide blocks for few tokens (fewer passes over the row list), narrower
  // ones when more tokens share the 32 registers.
  constexpr int NV = TB <= 2 ? 8 : 4;
  int64_t c = 0;
  for (; c + 16 * NV <= n; c += 16 * NV)
    rowsBlock512<TB, NV>(m, a, lda, rows, c, y, ldy, 0xFFFF);
  for (; c + 16 <= n; c += 16)
    rowsBlock512<TB, 1>(m, a, lda, rows, c, y, ldy, 0xFFFF);
  if (c < n)
    rowsBlock512<TB, 1>(m, a, lda, rows, c, y, ldy,
                        __mmask16((1u << (n - c)) - 1));
}

SPX_AVX512 void rowsFma512(int64_t n, int tb, int64_t m, const float *a,
                           int64_t lda, const float *const *rows, float *y,
                           int64_t ldy) {
  switch (tb) {
  case 1:
    return rowsFma512T<1>(n, m, a, lda, rows, y, ldy);
  case 2:
    return rowsFma512T<2>(n, m, a, lda, rows, y, ldy);
  case 3:
    return rowsFma512T<3>(n, m, a, lda, rows, y, ldy);
  default:
    return rowsFma512T<4>(n, m, a, lda, rows, y, ldy);
  }
}

template <int TB>
SPX_AVX512 void dotRows512T(int64_t n, const float *x, int64_t ldx, int64_t m,
                            const float *const *rows, float *out, int64_t ldo) {
  for (int64_t u = 0; u < m; ++u) {
    const float *r = rows[u];
    // Prefetch the next row a line at a time while this one streams: one
    // row ahead is a few KiB, enough to hide most of the DRAM latency.
    const char *next =
        reinterpret_cast<const char *>(u + 2 < m ? rows[u + 2] : rows[u]);
    __m512 acc[TB][2];
    for (int t = 0; t < TB; ++t)
      acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + 32 <= n; c += 32) {
      _mm_prefetch(next + 4 * c, _MM_HINT_T0);
      _mm_prefetch(next + 4 * c + 64, _MM_HINT_T0);
      __m512 w0 = _mm512_loadu_ps(r + c), w1 = _mm512_loadu_ps(r + c + 16);
      for (int t = 0; t < TB; ++t) {
        acc[t][0] =
            _mm512_fmadd_ps(_mm512_loadu_ps(x + t * ldx + c), w0, acc[t][0]);
        acc[t][1] = _mm512_fmadd_ps(_mm512_loadu_ps(x + t * ldx + c + 16), w1,
                                    acc[t][1]);
      }
    }
    for (; c < n; c += 16) {
      __mmask16 mask =
          n - c >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - c)) - 1);
      __m512 w0 = _mm512_maskz_loadu_ps(mask, r + c);
      for (int t = 0; t < TB; ++t)
        acc[t][0] = _mm512_fmadd_ps(
            _mm512_maskz_loadu_ps(mask, x + t * ldx + c), w0, acc[t][0]);
    }
    for (int t = 0; t < TB; ++t)
      out[t * ldo + u] =
          _mm512_reduce_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]));
  }
}

SPX_AVX512 void dotRows512(int64_t n, int tb, const float *x, int64_t ldx,
                           int64_t m, const float *const *rows, float *out,
                           int64_t ldo) {
  switch (tb) {
  case 1:
    return dotRows512T<1>(n, x, ldx, m, rows, out, ldo);
  case 2:
    return dotRows512T<2>(n, x, ldx, m, rows, out, ldo);
  case 3:
    return dotRows512T<3>(n, x, ldx, m, rows, out, ldo);
  default:
    return dotRows512T<4>(n, x, ldx, m, rows, out, ldo);
  }
}

SPX_AVX512 void nonzeroBits512(const float *x, int64_t n, uint64_t *bits) {
  const __m512 zero = _mm512_setzero_ps();
  int64_t i0 = 0;
  for (; i0 + 64 <= n; i0 += 64) {
    uint64_t word = 0;
    for (int q = 0; q < 4; ++q)
      word |= uint64_t(_mm512_cmp_ps_mask(_mm512_loadu_ps(x + i0 + 16 * q),
                                          zero, _CMP_NEQ_UQ))
              << (16 * q);
    bits[i0 / 64] |= word;
  }
  if (i0 < n)
    nonzeroBitsScalar(x + i0, n - i0, bits + i0 / 64);
}

//===----------------------------------------------------------------------===//
// AVX2 + FMA.
//===----------------------------------------------------------------------===//

#define SPX_AVX2 __attribute__((target("avx2,fma")))

template <int TB, int NV>
SPX_AVX2 inline void rowsBlock256(int64_t m, const float *a, int64_t lda,
                                  const float *const *rows, int64_t col,
                                  float *y, int64_t ldy) {
  __m256 acc[TB][NV];
  for (int t = 0; t < TB; ++t)
    for (int v = 0; v < NV; ++v)
      acc[t][v] = _mm256_loadu_ps(y + t * ldy + col + 8 * v);
  for (int64_t u = 0; u < m; ++u) {
    if (u + RowPrefetchDistance < m) {
      const char *p =
          reinterpret_cast<const char *>(rows[u + RowPrefetchDistance] + col);
      for (int v = 0; v < NV; v += 2)
        _mm_prefetch(p + 32 * v, _MM_HINT_T0);
    }
    const float *r = rows[u] + col;
    __m256 w[NV];
    for (int v = 0; v < NV; ++v)
      w[v] = _mm256_loadu_ps(r + 8 * v);
    for (int t = 0; t < TB; ++t) {
      __m256 s = _mm256_broadcast_ss(a + t * lda + u);
      for (int v = 0; v < NV; ++v)
        acc[t][v] = _mm256_fmadd_ps(s, w[v], acc[t][v]);
    }
  }
  for (int t = 0; t < TB; ++t)
    for (int v = 0; v < NV; ++v)
      _mm256_storeu_ps(y + t * ldy + col + 8 * v, acc[t][v]);
}

template <int TB>
SPX_AVX2 void rowsFma256T(int64_t n, int64_t m, const float *a, int64_t lda,
                          const float *const *rows, float *y, int64_t ldy) {
  constexpr int NV = TB <= 2 ? 4 : 2;
  int64_t c = 0;
  for (; c + 8 * NV <= n; c += 8 * NV)
    rowsBlock256<TB, NV>(m, a, lda, rows, c, y, ldy);
  for (; c + 8 <= n; c += 8)
    rowsBlock256<TB, 1>(m, a, lda, rows, c, y, ldy);
  if (c < n) {
    // Column tail (< 8): the portable loop on offset row pointers.
    const float *shifted[64];
    for (int64_t u0 = 0; u0 < m; u0 += 64) {
      int64_t mm = m - u0 < 64 ? m - u0 : 64;
      for (int64_t u = 0; u < mm; ++u)
        shifted[u] = rows[u0 + u] + c;
      rowsFmaScalar(n - c, TB, mm, a + u0, lda, shifted, y + c, ldy);
    }
  }
}

SPX_AVX2 void rowsFma256(int64_t n, int tb, int64_t m, const float *a,
                         int64_t lda, const float *const *rows, float *y,
                         int64_t ldy) {
  switch (tb) {
  case 1:
    return rowsFma256T<1>(n, m, a, lda, rows, y, ldy);
  case 2:
    return rowsFma256T<2>(n, m, a, lda, rows, y, ldy);
  case 3:
    return rowsFma256T<3>(n, m, a, lda, rows, y, ldy);
  default:
    return rowsFma256T<4>(n, m, a, lda, rows, y, ldy);
  }
}

SPX_AVX2 inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int TB>
SPX_AVX2 void dotRows256T(int64_t n, const float *x, int64_t ldx, int64_t m,
                          const float *const *rows, float *out, int64_t ldo) {
  for (int64_t u = 0; u < m; ++u) {
    const float *r = rows[u];
    const char *next =
        reinterpret_cast<const char *>(u + 2 < m ? rows[u + 2] : rows[u]);
    __m256 acc[TB][2];
    for (int t = 0; t < TB; ++t)
      acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 16 <= n; c += 16) {
      _mm_prefetch(next + 4 * c, _MM_HINT_T0);
      __m256 w0 = _mm256_loadu_ps(r + c), w1 = _mm256_loadu_ps(r + c + 8);
      for (int t = 0; t < TB; ++t) {
        acc[t][0] =
            _mm256_fmadd_ps(_mm256_loadu_ps(x + t * ldx + c), w0, acc[t][0]);
        acc[t][1] = _mm256_fmadd_ps(_mm256_loadu_ps(x + t * ldx + c + 8), w1,
                                    acc[t][1]);
      }
    }
    for (int t = 0; t < TB; ++t) {
      float s = hsum256(_mm256_add_ps(acc[t][0], acc[t][1]));
      for (int64_t cc = c; cc < n; ++cc)
        s += x[t * ldx + cc] * r[cc];
      out[t * ldo + u] = s;
    }
  }
}

SPX_AVX2 void dotRows256(int64_t n, int tb, const float *x, int64_t ldx,
                         int64_t m, const float *const *rows, float *out,
                         int64_t ldo) {
  switch (tb) {
  case 1:
    return dotRows256T<1>(n, x, ldx, m, rows, out, ldo);
  case 2:
    return dotRows256T<2>(n, x, ldx, m, rows, out, ldo);
  case 3:
    return dotRows256T<3>(n, x, ldx, m, rows, out, ldo);
  default:
    return dotRows256T<4>(n, x, ldx, m, rows, out, ldo);
  }
}

SPX_AVX2 void nonzeroBits256(const float *x, int64_t n, uint64_t *bits) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t i0 = 0;
  for (; i0 + 64 <= n; i0 += 64) {
    uint64_t word = 0;
    for (int q = 0; q < 8; ++q)
      word |= uint64_t(_mm256_movemask_ps(_mm256_cmp_ps(
                  _mm256_loadu_ps(x + i0 + 8 * q), zero, _CMP_NEQ_UQ)))
              << (8 * q);
    bits[i0 / 64] |= word;
  }
  if (i0 < n)
    nonzeroBitsScalar(x + i0, n - i0, bits + i0 / 64);
}

#endif // PARSIMONY_SPX_X86

} // namespace

const SpxSimd &parsimony::runtime::spx::getSpxSimdScalar() {
  static const SpxSimd Set = {"scalar", rowsFmaScalar, dotRowsScalar,
                              nonzeroBitsScalar};
  return Set;
}

const SpxSimd &parsimony::runtime::spx::getSpxSimdAvx2() {
#ifdef PARSIMONY_SPX_X86
  static const SpxSimd Set = {"avx2", rowsFma256, dotRows256, nonzeroBits256};
  return Set;
#else
  return getSpxSimdScalar();
#endif
}

const SpxSimd &parsimony::runtime::spx::getSpxSimdAvx512() {
#ifdef PARSIMONY_SPX_X86
  static const SpxSimd Set = {"avx512", rowsFma512, dotRows512, nonzeroBits512};
  return Set;
#else
  return getSpxSimdScalar();
#endif
}
