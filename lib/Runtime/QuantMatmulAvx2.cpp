//===- QuantMatmulAvx2.cpp - quantized GEMV, AVX2 + FMA ------------------===//
//
// Compiled with -mavx2 -mfma; only called after the CPU check.
//
//===----------------------------------------------------------------------===//

#include "SpxKernelsInternal.h"

#include <algorithm>
#include <immintrin.h>

#include "QuantMatmulKernels.inc"

namespace {

struct Vec256 {
  // An 8-lane permute cannot index 16 int4 values.
  static constexpr bool HasInt4Table = false;
  using F = __m256;
  static constexpr int W = 8;
  static F zero() { return _mm256_setzero_ps(); }
  static F load(const float *p) { return _mm256_loadu_ps(p); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static float reduce(F v) {
    __m128 s =
        _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static __m256i bytes(const int8_t *p) {
    return _mm256_cvtepi8_epi32(
        _mm_loadl_epi64(reinterpret_cast<const __m128i *>(p)));
  }
  static F i8(const int8_t *p) { return _mm256_cvtepi32_ps(bytes(p)); }
  static F i4(const int8_t *p) {
    return _mm256_cvtepi32_ps(
        _mm256_srai_epi32(_mm256_slli_epi32(bytes(p), 28), 28));
  }
  static void p4(const int8_t *p, F &lo, F &hi) {
    __m256i v = bytes(p);
    lo = _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(v, 28), 28));
    hi = _mm256_cvtepi32_ps(_mm256_srai_epi32(v, 4));
  }
};

} // namespace

const parsimony::runtime::spx::QuantSimd &
parsimony::runtime::spx::getQuantSimdAvx2() {
  static const QuantSimd table = {"avx2", dotRowsVec<Vec256>};
  return table;
}
