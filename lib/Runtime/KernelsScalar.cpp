//===- KernelsScalar.cpp - portable GEMM kernels --------------------------===//
//
// The fallback for CPUs without AVX2 + FMA. Plain C++ on scalar "vectors" of
// one lane, compiled with the baseline target flags (the compiler may still
// auto-vectorize it with SSE2).
//
//===----------------------------------------------------------------------===//

#include "KernelSet.h"

#include <cstdint>
#include <cstring>

namespace parsimony {
namespace runtime {
namespace {
namespace scalar {

/// Vector traits for one float lane.
struct Vec {
  using T = float;
  static constexpr int W = 1;
  static T zero() { return 0.0f; }
  static T set1(float x) { return x; }
  static T load(const float *p) { return *p; }
  static void store(float *p, T v) { *p = v; }
  static T fma(T a, T b, T c) { return a * b + c; }
  static T mul(T a, T b) { return a * b; }
  static T add(T a, T b) { return a + b; }
  static T loadPartial(const float *p, int64_t n) { return n > 0 ? *p : 0.0f; }
  static void storePartial(float *p, T v, int64_t n) {
    if (n > 0)
      *p = v;
  }
  static float reduceAdd(T v) { return v; }
  static void transposeTile(const float *src, int64_t, float *dst, int64_t) {
    *dst = *src;
  }
};

#include "GemmEpilogue.inc"
#include "GemmKernels.inc"

} // namespace scalar
} // namespace

const KernelSet &getScalarKernels() {
  static const KernelSet Set = scalar::makeKernelSet<4, 4>(
      "scalar", /*kc=*/256, /*mc=*/64, /*maxStreamRows=*/4);
  return Set;
}

} // namespace runtime
} // namespace parsimony
