//===- QuantMatmulVnni.cpp - exact u8 x s8 dot products, AVX-512 VNNI ----===//
//
// Compiled with -mavx512f -mavx512bw -mavx512vnni; only called after the
// CPU check (integerDotSupported). vpdpbusd multiplies 64 unsigned
// activation bytes with 64 signed weight bytes and adds each group of four
// products to one of 16 int32 lanes: the sums are exact, and a 64-byte
// step costs one instruction per (row, token) instead of the widen,
// convert and FMA of four f32 vectors.
//
//===----------------------------------------------------------------------===//

#include "QuantRowPrefetch.h"
#include "SpxKernelsInternal.h"

#include <algorithm>
#include <cstring>
#include <immintrin.h>
#include <type_traits>

namespace {

using parsimony::runtime::spx::IntegerRows;

/// acc + the u8 x s8 dot products of x and w (vpdpbusd). GCC 12 copies the
/// accumulator of _mm512_dpbusd_epi32 through a temporary register on every
/// use (two extra moves per instruction in the kernels below); the asm ties
/// it in place.
inline __m512i dpbusd(__m512i acc, __m512i x, __m512i w) {
#if defined(__GNUC__) && !defined(__clang__)
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
  return acc;
#else
  return _mm512_dpbusd_epi32(acc, x, w);
#endif
}

/// fn(std::integral_constant<int, tb>) for a token count tb in 1..4 (more
/// reads as 4): the kernels are specialized per count.
template <class Fn> void withTokenCount(int tb, Fn &&fn) {
  switch (tb) {
  case 1:
    return fn(std::integral_constant<int, 1>());
  case 2:
    return fn(std::integral_constant<int, 2>());
  case 3:
    return fn(std::integral_constant<int, 3>());
  default:
    return fn(std::integral_constant<int, 4>());
  }
}

/// Lane i of the result is the sum of the 16 lanes of v[i].
__m512i reduce16(const __m512i v[16]) {
  // Pairs: per 128-bit lane [a0+a2, b0+b2, a1+a3, b1+b3].
  __m512i t[8];
  for (int i = 0; i < 8; ++i)
    t[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                            _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
  // Quads: per 128-bit lane [a, b, c, d] partial sums.
  __m512i u[4];
  for (int i = 0; i < 4; ++i)
    u[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(t[2 * i], t[2 * i + 1]),
                            _mm512_unpackhi_epi64(t[2 * i], t[2 * i + 1]));
  // The four 128-bit lanes of each quad, added across.
  __m512i w[2];
  for (int i = 0; i < 2; ++i)
    w[i] = _mm512_add_epi32(
        _mm512_shuffle_i32x4(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
        _mm512_shuffle_i32x4(u[2 * i], u[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_epi32(
      _mm512_shuffle_i32x4(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),
      _mm512_shuffle_i32x4(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/// out[t * ldo + r] = sum_c x[t * ldx + c] * q(r0 + r, c) for R rows and
/// TB tokens; with Sums also rowSums[r] = sum_c q(r0 + r, c).
template <int R, int TB, bool Sums>
void dotRowsT(const IntegerRows &w, int64_t r0, const uint8_t *x, int64_t ldx,
              int32_t *out, int64_t ldo, int32_t *rowSums) {
  const int64_t K = w.k;
  const int8_t *rows[R];
  for (int r = 0; r < R; ++r)
    rows[r] = w.q + (r0 + r) * w.rowBytes;
  const int64_t ahead = prefetchAhead(w.rowBytes, R);
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i acc[R][TB], sums[R];
  for (int r = 0; r < R; ++r) {
    sums[r] = _mm512_setzero_si512();
    for (int t = 0; t < TB; ++t)
      acc[r][t] = _mm512_setzero_si512();
  }
  // Written out twice (full steps, then the masked tail) rather than as a
  // lambda: GCC keeps the accumulators of a capturing lambda in memory.
  int64_t c = 0;
  for (; c + 64 <= K; c += 64) {
    __m512i wv[R];
    for (int r = 0; r < R; ++r) {
      __builtin_prefetch(rows[r] + c + ahead);
      wv[r] = _mm512_loadu_si512(rows[r] + c);
      if (Sums)
        sums[r] = dpbusd(sums[r], ones, wv[r]);
    }
    for (int t = 0; t < TB; ++t) {
      __m512i xv = _mm512_loadu_si512(x + t * ldx + c);
      for (int r = 0; r < R; ++r)
        acc[r][t] = dpbusd(acc[r][t], xv, wv[r]);
    }
  }
  // The tail: masked loads read zeros past K, whose products are zero.
  if (c < K) {
    __mmask64 mask = _cvtu64_mask64((uint64_t(1) << (K - c)) - 1);
    __m512i wv[R];
    for (int r = 0; r < R; ++r) {
      wv[r] = _mm512_maskz_loadu_epi8(mask, rows[r] + c);
      if (Sums)
        sums[r] = dpbusd(sums[r], ones, wv[r]);
    }
    for (int t = 0; t < TB; ++t) {
      __m512i xv = _mm512_maskz_loadu_epi8(mask, x + t * ldx + c);
      for (int r = 0; r < R; ++r)
        acc[r][t] = dpbusd(acc[r][t], xv, wv[r]);
    }
  }
  if constexpr (R == 4) {
    __m512i v[16];
    for (int t = 0; t < 4; ++t)
      for (int r = 0; r < 4; ++r)
        v[t * 4 + r] = t < TB ? acc[r][t] : _mm512_setzero_si512();
    __m512i total = reduce16(v);
    alignas(64) int32_t lanes[16];
    _mm512_store_si512(lanes, total);
    for (int t = 0; t < TB; ++t)
      for (int r = 0; r < 4; ++r)
        out[t * ldo + r] = lanes[t * 4 + r];
  } else {
    for (int t = 0; t < TB; ++t)
      for (int r = 0; r < R; ++r)
        out[t * ldo + r] = _mm512_reduce_add_epi32(acc[r][t]);
  }
  if (Sums)
    for (int r = 0; r < R; ++r)
      rowSums[r] = _mm512_reduce_add_epi32(sums[r]);
}

template <int TB, bool Sums>
void dotRowsTB(const IntegerRows &w, int64_t r0, int64_t m, const uint8_t *x,
               int64_t ldx, int32_t *out, int64_t ldo, int32_t *rowSums) {
  int64_t i = 0;
  for (; i + 4 <= m; i += 4)
    dotRowsT<4, TB, Sums>(w, r0 + i, x, ldx, out + i, ldo,
                          Sums ? rowSums + i : nullptr);
  for (; i < m; ++i)
    dotRowsT<1, TB, Sums>(w, r0 + i, x, ldx, out + i, ldo,
                          Sums ? rowSums + i : nullptr);
}

template <bool Sums>
void dotRowsSums(const IntegerRows &w, int64_t r0, int64_t m, int tb,
                 const uint8_t *x, int64_t ldx, int32_t *out, int64_t ldo,
                 int32_t *rowSums) {
  withTokenCount(tb, [&](auto TB) {
    dotRowsTB<TB(), Sums>(w, r0, m, x, ldx, out, ldo, rowSums);
  });
}

void dotRows(const IntegerRows &w, int64_t r0, int64_t m, int tb,
             const uint8_t *x, int64_t ldx, int32_t *out, int64_t ldo,
             int32_t *rowSums) {
  if (rowSums)
    dotRowsSums<true>(w, r0, m, tb, x, ldx, out, ldo, rowSums);
  else
    dotRowsSums<false>(w, r0, m, tb, x, ldx, out, ldo, nullptr);
}

//===----------------------------------------------------------------------===//
// Packed int4 rows against int8 activations (the quantized predictor).
//===----------------------------------------------------------------------===//

using parsimony::runtime::spx::QuantRows;

/// The 64 int4 values of 32 packed bytes (two 32-value blocks: values i
/// and i + 16 of a block in the low and high nibbles of its byte i) as
/// unsigned bytes q + 8, ordered [0, 16), [32, 48), [16, 32), [48, 64).
inline __m512i unpackInt4(const int8_t *p) {
  __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p));
  __m512i z =
      _mm512_inserti64x4(_mm512_castsi256_si512(y), _mm256_srli_epi16(y, 4), 1);
  // (z & 0x0F) ^ 0x08: the nibble's two's complement value plus 8.
  return _mm512_ternarylogic_epi32(z, _mm512_set1_epi8(0x0F),
                                   _mm512_set1_epi8(0x08), 0x6A);
}

/// The last 32 values of a row whose length is 32 mod 64, in order, then
/// zero bytes (which read as +8 but meet zero activations).
inline __m512i unpackInt4Half(const int8_t *p) {
  __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
  __m256i z = _mm256_inserti128_si256(_mm256_castsi128_si256(y),
                                      _mm_srli_epi16(y, 4), 1);
  return _mm512_ternarylogic_epi32(_mm512_zextsi256_si512(z),
                                   _mm512_set1_epi8(0x0F),
                                   _mm512_set1_epi8(0x08), 0x6A);
}

/// p[0], p[1] in lanes 0 and 1.
inline __m512 loadPair(const float *p) {
  double d;
  std::memcpy(&d, p, sizeof(d));
  return _mm512_castpd_ps(_mm512_set1_pd(d));
}

/// The f16 p[0], p[1] widened into lanes 0 and 1.
inline __m512 loadPair(const uint16_t *p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return _mm512_cvtph_ps(_mm256_set1_epi32(v));
}

inline __m512 broadcastScale(const float *p) { return _mm512_set1_ps(*p); }
inline __m512 broadcastScale(const uint16_t *p) {
  return _mm512_cvtph_ps(_mm256_set1_epi16(int16_t(*p)));
}

/// acc[r][t] += scales sv[r] * (the unpacked step wv[r] . token t's step
/// x[t * ldx, +64), started from its correction corr[t * ldx / 4, +16)).
/// Always inlined, so that the accumulators stay in registers.
template <int R, int TB>
__attribute__((always_inline)) inline void
int4Step(__m512 (&acc)[R][TB], const __m512i (&wv)[R], const __m512 (&sv)[R],
         const int8_t *x, const int32_t *corr, int64_t ldx) {
  for (int t = 0; t < TB; ++t) {
    __m512i xv = _mm512_loadu_si512(x + t * ldx);
    __m512i cv = _mm512_loadu_si512(corr + t * (ldx / 4));
    for (int r = 0; r < R; ++r)
      acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dpbusd(cv, wv[r], xv)),
                                  sv[r], acc[r][t]);
  }
}

/// out[t * ldo + r] for R rows and TB tokens (see dotInt4Rows). Each 64-
/// value step is one vpdpbusd per (row, token), started from the token's
/// +8 correction, then converted and multiplied by the step's scales
/// (Scale: float or f16 bits): with 32-value groups the two groups' scales
/// sit in the lanes that hold them.
template <int R, int TB, bool Group32, typename Scale>
void dotInt4T(const QuantRows &w, int64_t r0, const int8_t *x,
              const int32_t *corr, int64_t ldx, float *out, int64_t ldo) {
  const int64_t K = w.k, full = K / 64, groups = w.groups();
  const int64_t span = w.group > 0 ? w.group : K;
  const int8_t *rows[R];
  const Scale *scales[R];
  for (int r = 0; r < R; ++r) {
    rows[r] = w.q + (r0 + r) * w.rowBytes;
    scales[r] = static_cast<const Scale *>(w.scales) + (r0 + r) * groups;
  }
  const int64_t ahead = prefetchAhead(w.rowBytes, R);
  // Lanes of the 64-value step that belong to its second 32-value group.
  const __m512i pairIdx =
      _mm512_set_epi32(1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0);
  __m512 acc[R][TB];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < TB; ++t)
      acc[r][t] = _mm512_setzero_ps();
  for (int64_t s = 0; s < full; ++s) {
    __m512i wv[R];
    __m512 sv[R];
    for (int r = 0; r < R; ++r) {
      __builtin_prefetch(rows[r] + s * 32 + ahead);
      wv[r] = unpackInt4(rows[r] + s * 32);
      if (Group32)
        sv[r] = _mm512_permutexvar_ps(pairIdx, loadPair(scales[r] + 2 * s));
      else
        sv[r] = broadcastScale(scales[r] + s * 64 / span);
    }
    int4Step<R, TB>(acc, wv, sv, x + s * 64, corr + s * 16, ldx);
  }
  if (K % 64) {
    // One 32-value group (or part of a larger one) remains.
    __m512i wv[R];
    __m512 sv[R];
    for (int r = 0; r < R; ++r) {
      wv[r] = unpackInt4Half(rows[r] + full * 32);
      sv[r] = broadcastScale(scales[r] + full * 64 / span);
    }
    int4Step<R, TB>(acc, wv, sv, x + full * 64, corr + full * 16, ldx);
  }
  for (int t = 0; t < TB; ++t)
    for (int r = 0; r < R; ++r)
      out[t * ldo + r] = _mm512_reduce_add_ps(acc[r][t]);
}

template <int TB, bool Group32, typename Scale>
void dotInt4TB(const QuantRows &w, int64_t r0, int64_t m, const int8_t *x,
               const int32_t *corr, int64_t ldx, float *out, int64_t ldo) {
  constexpr int R = 4;
  int64_t i = 0;
  for (; i + R <= m; i += R)
    dotInt4T<R, TB, Group32, Scale>(w, r0 + i, x, corr, ldx, out + i, ldo);
  for (; i < m; ++i)
    dotInt4T<1, TB, Group32, Scale>(w, r0 + i, x, corr, ldx, out + i, ldo);
}

template <bool Group32, typename Scale>
void dotInt4Group(const QuantRows &w, int64_t r0, int64_t m, int tb,
                  const int8_t *x, const int32_t *corr, int64_t ldx, float *out,
                  int64_t ldo) {
  withTokenCount(tb, [&](auto TB) {
    dotInt4TB<TB(), Group32, Scale>(w, r0, m, x, corr, ldx, out, ldo);
  });
}

template <typename Scale>
void dotInt4Scales(const QuantRows &w, int64_t r0, int64_t m, int tb,
                   const int8_t *x, const int32_t *corr, int64_t ldx,
                   float *out, int64_t ldo) {
  if (w.group == 32)
    dotInt4Group<true, Scale>(w, r0, m, tb, x, corr, ldx, out, ldo);
  else
    dotInt4Group<false, Scale>(w, r0, m, tb, x, corr, ldx, out, ldo);
}

void dotInt4Rows(const QuantRows &w, int64_t r0, int64_t m, int tb,
                 const int8_t *x, const int32_t *corr, int64_t ldx, float *out,
                 int64_t ldo) {
  if (w.scalesF16)
    dotInt4Scales<uint16_t>(w, r0, m, tb, x, corr, ldx, out, ldo);
  else
    dotInt4Scales<float>(w, r0, m, tb, x, corr, ldx, out, ldo);
}

void widenHalves(const uint16_t *h, int64_t n, float *f) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(f + i, _mm512_cvtph_ps(_mm256_loadu_si256(
                                reinterpret_cast<const __m256i *>(h + i))));
  for (; i < n; ++i)
    f[i] = parsimony::runtime::spx::halfToFloat(h[i]);
}

} // namespace

const parsimony::runtime::spx::IntegerDotSimd &
parsimony::runtime::spx::getIntegerDotVnni() {
  static const IntegerDotSimd table = {"avx512-vnni", dotRows, dotInt4Rows,
                                       widenHalves};
  return table;
}
