//===- QuantMatmulAvx512.cpp - quantized GEMV, AVX-512F ------------------===//
//
// Compiled with -mavx512f -mfma; only called after the CPU check.
//
//===----------------------------------------------------------------------===//

#include "SpxKernelsInternal.h"

#include <algorithm>
#include <immintrin.h>

#include "QuantMatmulKernels.inc"

namespace {

struct Vec512 {
  using F = __m512;
  static constexpr int W = 16;
  static F zero() { return _mm512_setzero_ps(); }
  static F load(const float *p) { return _mm512_loadu_ps(p); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static float reduce(F v) { return _mm512_reduce_add_ps(v); }
  static __m512i bytes(const int8_t *p) {
    return _mm512_cvtepi8_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
  }
  static F i8(const int8_t *p) { return _mm512_cvtepi32_ps(bytes(p)); }
  static F i4(const int8_t *p) {
    return _mm512_cvtepi32_ps(
        _mm512_srai_epi32(_mm512_slli_epi32(bytes(p), 28), 28));
  }
  static void p4(const int8_t *p, F &lo, F &hi) {
    __m512i v = bytes(p);
    lo = _mm512_cvtepi32_ps(_mm512_srai_epi32(_mm512_slli_epi32(v, 28), 28));
    hi = _mm512_cvtepi32_ps(_mm512_srai_epi32(v, 4));
  }
  /// The 16 int4 values -8..7 indexed by their nibble (0..7, then -8..-1),
  /// times `scale`: a 16-lane permute table.
  static constexpr bool HasInt4Table = true;
  static F int4Table(float scale) {
    return _mm512_mul_ps(
        _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1),
        _mm512_set1_ps(scale));
  }
  /// p4 with the values looked up (already scaled) in an int4Table: the
  /// permute reads only the low four bits of each index, so neither nibble
  /// needs masking, sign extension or conversion.
  static void p4Table(const int8_t *p, F table, F &lo, F &hi) {
    __m512i v = _mm512_cvtepu8_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
    lo = _mm512_permutexvar_ps(v, table);
    hi = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table);
  }
};

} // namespace

const parsimony::runtime::spx::QuantSimd &
parsimony::runtime::spx::getQuantSimdAvx512() {
  static const QuantSimd table = {"avx512", dotRowsVec<Vec512>};
  return table;
}
