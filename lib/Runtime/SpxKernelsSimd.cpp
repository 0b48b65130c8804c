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

#include <algorithm>

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

void qaxpyScalar(int64_t n, int tb, int64_t m, const float *a, int64_t lda,
                 const int8_t *q, int64_t ldq, bool nibble, float *y,
                 int64_t ldy) {
  for (int t = 0; t < tb; ++t)
    for (int64_t u = 0; u < m; ++u) {
      float s = a[t * lda + u];
      const int8_t *row = q + u * ldq;
      float *yt = y + t * ldy;
      if (nibble)
        for (int64_t c = 0; c < n; ++c)
          yt[c] += s * float(int8_t(uint8_t(row[c]) << 4) >> 4);
      else
        for (int64_t c = 0; c < n; ++c)
          yt[c] += s * float(row[c]);
    }
}

int64_t keysAtLeastScalar(const uint32_t *keys, int64_t n, uint32_t threshold,
                          uint32_t *out) {
  // Branch-free: the comparison is unpredictable (a few percent pass).
  int64_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[m] = keys[i];
    m += keys[i] >= threshold;
  }
  return m;
}

int64_t indicesAtLeastScalar(const uint32_t *keys, int64_t n,
                             uint32_t threshold, uint32_t *out) {
  int64_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[m] = uint32_t(i);
    m += keys[i] >= threshold;
  }
  return m;
}

void applyCutScalar(float *v, const uint32_t *keys, int64_t n, uint32_t key,
                    int64_t takeEqual) {
  int64_t eq = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool equal = keys[i] == key;
    bool keep = keys[i] > key || (equal && eq < takeEqual);
    eq += equal;
    v[i] = keep ? v[i] : 0.0f;
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

/// min(left, 16) quantized values at q as floats, zeros past them (no
/// AVX-512BW byte masks: the tail goes through a stack copy).
SPX_AVX512 inline __m512 loadQ512(const int8_t *q, int64_t left, bool nibble) {
  __m128i bytes;
  if (left >= 16) {
    bytes = _mm_loadu_si128(reinterpret_cast<const __m128i *>(q));
  } else {
    alignas(16) int8_t tail[16] = {};
    if (left > 0)
      std::memcpy(tail, q, size_t(left));
    bytes = _mm_load_si128(reinterpret_cast<const __m128i *>(tail));
  }
  __m512i v = _mm512_cvtepi8_epi32(bytes);
  if (nibble)
    v = _mm512_srai_epi32(_mm512_slli_epi32(v, 28), 28);
  return _mm512_cvtepi32_ps(v);
}

template <int TB>
SPX_AVX512 void qaxpy512T(int64_t n, int64_t m, const float *a, int64_t lda,
                          const int8_t *q, int64_t ldq, bool nibble, float *y,
                          int64_t ldy) {
  // Column blocks of 64 held in registers while the m rows stream through.
  for (int64_t c = 0; c < n; c += 64) {
    __mmask16 masks[4];
    for (int v = 0; v < 4; ++v) {
      int64_t left = n - c - 16 * v;
      masks[v] = left >= 16  ? __mmask16(0xFFFF)
                 : left <= 0 ? __mmask16(0)
                             : __mmask16((1u << left) - 1);
    }
    __m512 acc[TB][4];
    for (int t = 0; t < TB; ++t)
      for (int v = 0; v < 4; ++v)
        acc[t][v] = _mm512_maskz_loadu_ps(masks[v], y + t * ldy + c + 16 * v);
    for (int64_t u = 0; u < m; ++u) {
      const int8_t *row = q + u * ldq + c;
      // The block is one cache line of each row: fetch rows ahead.
      if (u + RowPrefetchDistance < m)
        _mm_prefetch(
            reinterpret_cast<const char *>(row + RowPrefetchDistance * ldq),
            _MM_HINT_T0);
      __m512 w[4];
      for (int v = 0; v < 4; ++v)
        w[v] = loadQ512(row + 16 * v, n - c - 16 * v, nibble);
      for (int t = 0; t < TB; ++t) {
        __m512 s = _mm512_set1_ps(a[t * lda + u]);
        for (int v = 0; v < 4; ++v)
          acc[t][v] = _mm512_fmadd_ps(s, w[v], acc[t][v]);
      }
    }
    for (int t = 0; t < TB; ++t)
      for (int v = 0; v < 4; ++v)
        _mm512_mask_storeu_ps(y + t * ldy + c + 16 * v, masks[v], acc[t][v]);
  }
}

SPX_AVX512 void qaxpy512(int64_t n, int tb, int64_t m, const float *a,
                         int64_t lda, const int8_t *q, int64_t ldq, bool nibble,
                         float *y, int64_t ldy) {
  switch (tb) {
  case 1:
    return qaxpy512T<1>(n, m, a, lda, q, ldq, nibble, y, ldy);
  case 2:
    return qaxpy512T<2>(n, m, a, lda, q, ldq, nibble, y, ldy);
  case 3:
    return qaxpy512T<3>(n, m, a, lda, q, ldq, nibble, y, ldy);
  default:
    return qaxpy512T<4>(n, m, a, lda, q, ldq, nibble, y, ldy);
  }
}

/// keysAtLeast: 16 keys per step, the passing ones compressed in a
/// register and stored unaligned (a compressing store to memory is slow
/// on some cores).
SPX_AVX512 int64_t keysAtLeast512(const uint32_t *keys, int64_t n,
                                  uint32_t threshold, uint32_t *out) {
  const __m512i t = _mm512_set1_epi32(int32_t(threshold));
  int64_t m = 0, i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i k = _mm512_loadu_si512(keys + i);
    __mmask16 pass = _mm512_cmpge_epu32_mask(k, t);
    if (!pass)
      continue;
    _mm512_storeu_si512(out + m, _mm512_maskz_compress_epi32(pass, k));
    m += __builtin_popcount(pass);
  }
  // The last full store may have written past m (within n): fine, out has
  // room for n keys and only [0, m) is read.
  return m + keysAtLeastScalar(keys + i, n - i, threshold, out + m);
}

/// indicesAtLeast: as keysAtLeast, compressing the lane indices instead.
SPX_AVX512 int64_t indicesAtLeast512(const uint32_t *keys, int64_t n,
                                     uint32_t threshold, uint32_t *out) {
  const __m512i t = _mm512_set1_epi32(int32_t(threshold));
  __m512i idx =
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i step = _mm512_set1_epi32(16);
  int64_t m = 0, i = 0;
  for (; i + 16 <= n; i += 16, idx = _mm512_add_epi32(idx, step)) {
    __mmask16 pass = _mm512_cmpge_epu32_mask(_mm512_loadu_si512(keys + i), t);
    if (!pass)
      continue;
    _mm512_storeu_si512(out + m, _mm512_maskz_compress_epi32(pass, idx));
    m += __builtin_popcount(pass);
  }
  int64_t tail = indicesAtLeastScalar(keys + i, n - i, threshold, out + m);
  for (int64_t j = m; j < m + tail; ++j)
    out[j] += uint32_t(i);
  return m + tail;
}

SPX_AVX512 void applyCut512(float *v, const uint32_t *keys, int64_t n,
                            uint32_t key, int64_t takeEqual) {
  const __m512i kv = _mm512_set1_epi32(int32_t(key));
  int64_t eq = 0, i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i k = _mm512_loadu_si512(keys + i);
    __mmask16 keep = _mm512_cmpgt_epu32_mask(k, kv);
    __mmask16 equal = _mm512_cmpeq_epu32_mask(k, kv);
    // Equal keys are kept in index order while takeEqual lasts.
    while (equal && eq < takeEqual) {
      __mmask16 first = equal & __mmask16(-equal);
      keep |= first;
      equal &= equal - 1;
      ++eq;
    }
    eq += __builtin_popcount(equal);
    _mm512_storeu_ps(v + i, _mm512_maskz_mov_ps(keep, _mm512_loadu_ps(v + i)));
  }
  applyCutScalar(v + i, keys + i, n - i, key,
                 std::max<int64_t>(0, takeEqual - eq));
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

template <int TB>
SPX_AVX2 void qaxpy256T(int64_t n, int64_t m, const float *a, int64_t lda,
                        const int8_t *q, int64_t ldq, bool nibble, float *y,
                        int64_t ldy) {
  int64_t c = 0;
  for (; c + 32 <= n; c += 32) {
    __m256 acc[TB][4];
    for (int t = 0; t < TB; ++t)
      for (int v = 0; v < 4; ++v)
        acc[t][v] = _mm256_loadu_ps(y + t * ldy + c + 8 * v);
    for (int64_t u = 0; u < m; ++u) {
      const int8_t *row = q + u * ldq + c;
      if (u + RowPrefetchDistance < m)
        _mm_prefetch(
            reinterpret_cast<const char *>(row + RowPrefetchDistance * ldq),
            _MM_HINT_T0);
      __m256 w[4];
      for (int v = 0; v < 4; ++v) {
        __m256i x = _mm256_cvtepi8_epi32(
            _mm_loadl_epi64(reinterpret_cast<const __m128i *>(row + 8 * v)));
        if (nibble)
          x = _mm256_srai_epi32(_mm256_slli_epi32(x, 28), 28);
        w[v] = _mm256_cvtepi32_ps(x);
      }
      for (int t = 0; t < TB; ++t) {
        __m256 s = _mm256_broadcast_ss(a + t * lda + u);
        for (int v = 0; v < 4; ++v)
          acc[t][v] = _mm256_fmadd_ps(s, w[v], acc[t][v]);
      }
    }
    for (int t = 0; t < TB; ++t)
      for (int v = 0; v < 4; ++v)
        _mm256_storeu_ps(y + t * ldy + c + 8 * v, acc[t][v]);
  }
  if (c < n)
    qaxpyScalar(n - c, TB, m, a, lda, q + c, ldq, nibble, y + c, ldy);
}

SPX_AVX2 void qaxpy256(int64_t n, int tb, int64_t m, const float *a,
                       int64_t lda, const int8_t *q, int64_t ldq, bool nibble,
                       float *y, int64_t ldy) {
  switch (tb) {
  case 1:
    return qaxpy256T<1>(n, m, a, lda, q, ldq, nibble, y, ldy);
  case 2:
    return qaxpy256T<2>(n, m, a, lda, q, ldq, nibble, y, ldy);
  case 3:
    return qaxpy256T<3>(n, m, a, lda, q, ldq, nibble, y, ldy);
  default:
    return qaxpy256T<4>(n, m, a, lda, q, ldq, nibble, y, ldy);
  }
}

#endif // PARSIMONY_SPX_X86

} // namespace

const SpxSimd &parsimony::runtime::spx::getSpxSimdScalar() {
  static const SpxSimd Set = {
      "scalar",    rowsFmaScalar,     dotRowsScalar,        nonzeroBitsScalar,
      qaxpyScalar, keysAtLeastScalar, indicesAtLeastScalar, applyCutScalar};
  return Set;
}

const SpxSimd &parsimony::runtime::spx::getSpxSimdAvx2() {
#ifdef PARSIMONY_SPX_X86
  static const SpxSimd Set = {
      "avx2",   rowsFma256,        dotRows256,           nonzeroBits256,
      qaxpy256, keysAtLeastScalar, indicesAtLeastScalar, applyCutScalar};
  return Set;
#else
  return getSpxSimdScalar();
#endif
}

const SpxSimd &parsimony::runtime::spx::getSpxSimdAvx512() {
#ifdef PARSIMONY_SPX_X86
  static const SpxSimd Set = {"avx512",          rowsFma512, dotRows512,
                              nonzeroBits512,    qaxpy512,   keysAtLeast512,
                              indicesAtLeast512, applyCut512};
  return Set;
#else
  return getSpxSimdScalar();
#endif
}
