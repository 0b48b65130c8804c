//===- KernelsAvx512.cpp - AVX-512F GEMM kernels --------------------------===//
//
// Compiled with -mavx512f -mfma (see CMakeLists.txt); only called after the
// driver has checked __builtin_cpu_supports("avx512f").
//
// Micro-kernel: 14 x 32 (28 zmm accumulators, 2 zmm of B, A broadcast from
// memory), which keeps both FMA pipes busy through the 4-cycle FMA latency.
//
//===----------------------------------------------------------------------===//

#include "KernelSet.h"

#include <cstdint>
#include <cstring>
#include <immintrin.h>

namespace parsimony {
namespace runtime {
namespace {
namespace avx512 {

/// Vector traits for AVX-512F: 16 floats per zmm register.
struct Vec {
  using T = __m512;
  static constexpr int W = 16;
  static T zero() { return _mm512_setzero_ps(); }
  static T set1(float x) { return _mm512_set1_ps(x); }
  static T load(const float *p) { return _mm512_loadu_ps(p); }
  static void store(float *p, T v) { _mm512_storeu_ps(p, v); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static __mmask16 mask(int64_t n) {
    return n >= W ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u);
  }
  static T loadPartial(const float *p, int64_t n) {
    return _mm512_maskz_loadu_ps(mask(n), p);
  }
  static void storePartial(float *p, T v, int64_t n) {
    _mm512_mask_storeu_ps(p, mask(n), v);
  }
  static float reduceAdd(T v) {
    // Fold 512 -> 128 bits with lane shuffles, then finish in SSE.
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0xB1));
    __m128 s = _mm512_castps512_ps128(v);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  /// dst[p * ldd + j] = src[j * lds + p] for a 16 x 16 tile.
  static void transposeTile(const float *src, int64_t lds, float *dst,
                            int64_t ldd) {
    T r[16], t[16];
    for (int i = 0; i < 16; ++i)
      r[i] = _mm512_loadu_ps(src + i * lds);
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
      r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
      r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
      r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
      r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int h = 0; h < 16; h += 8)
      for (int i = 0; i < 4; ++i) {
        t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
        t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xDD);
      }
    for (int i = 0; i < 8; ++i) {
      r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
      r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
    for (int i = 0; i < 16; ++i)
      _mm512_storeu_ps(dst + i * ldd, r[i]);
  }
};

#include "GemmEpilogue.inc"
#include "GemmKernels.inc"

} // namespace avx512
} // namespace

const KernelSet &getAvx512Kernels() {
  // kc = 256: a 256 x 32 packed B panel is 32 KiB of the 48 KiB L1D.
  // mc = 252: the A block (252 x 256 floats, 252 KiB) stays in the 1 MiB L2.
  static const KernelSet Set = avx512::makeKernelSet<14, 2>(
      "avx512", /*kc=*/256, /*mc=*/252, /*maxStreamRows=*/8);
  return Set;
}

} // namespace runtime
} // namespace parsimony
