//===- KernelsAvx2.cpp - AVX2 + FMA GEMM kernels --------------------------===//
//
// Compiled with -mavx2 -mfma (see CMakeLists.txt); only called after the
// driver has checked __builtin_cpu_supports("avx2") and ("fma").
//
// Micro-kernel: 6 x 16 (12 ymm accumulators, 2 ymm of B, 1 broadcast), the
// classic Haswell-class shape for 16 architectural vector registers.
//
//===----------------------------------------------------------------------===//

#include "KernelSet.h"

#include <cstdint>
#include <cstring>
#include <immintrin.h>

namespace parsimony {
namespace runtime {
namespace {
namespace avx2 {

/// Vector traits for AVX2: 8 floats per ymm register.
struct Vec {
  using T = __m256;
  static constexpr int W = 8;
  static T zero() { return _mm256_setzero_ps(); }
  static T set1(float x) { return _mm256_set1_ps(x); }
  static T load(const float *p) { return _mm256_loadu_ps(p); }
  static void store(float *p, T v) { _mm256_storeu_ps(p, v); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static __m256i mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static T loadPartial(const float *p, int64_t n) {
    return _mm256_maskload_ps(p, mask(n));
  }
  static void storePartial(float *p, T v, int64_t n) {
    _mm256_maskstore_ps(p, mask(n), v);
  }
  static float reduceAdd(T v) {
    __m128 s =
        _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  /// dst[p * ldd + j] = src[j * lds + p] for an 8 x 8 tile.
  static void transposeTile(const float *src, int64_t lds, float *dst,
                            int64_t ldd) {
    T r[8], t[8];
    for (int i = 0; i < 8; ++i)
      r[i] = _mm256_loadu_ps(src + i * lds);
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
      r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
      r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
      r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
      r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; ++i) {
      t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
      t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
    }
    for (int i = 0; i < 8; ++i)
      _mm256_storeu_ps(dst + i * ldd, t[i]);
  }
};

#include "GemmEpilogue.inc"
#include "GemmKernels.inc"

} // namespace avx2
} // namespace

const KernelSet &getAvx2Kernels() {
  // kc = 256: a 256 x 16 packed B panel is 16 KiB, comfortably inside any L1D
  // that comes with AVX2; mc = 96 keeps the A block (96 KiB) in L2.
  static const KernelSet Set = avx2::makeKernelSet<6, 2>(
      "avx2", /*kc=*/256, /*mc=*/96, /*maxStreamRows=*/4);
  return Set;
}

} // namespace runtime
} // namespace parsimony
