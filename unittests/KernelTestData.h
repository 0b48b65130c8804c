//===- KernelTestData.h - random data and weights for kernel tests -*- C++
//-*-===//
//
// Shared by the CPU kernel tests (SpxKernelsTest.cpp) and the GPU kernel
// tests (GpuKernelsTest.cpp): random activations, and weights in every
// format of PARSIMONY_WEIGHT_PARAMS together with their logical values.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_UNITTESTS_KERNELTESTDATA_H
#define PARSIMONY_UNITTESTS_KERNELTESTDATA_H

#include "parsimony/Runtime/SpxKernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace kernel_test {

//===----------------------------------------------------------------------===//
// Random data.
//===----------------------------------------------------------------------===//

/// Whether the CPU kernels take their AVX-512 VNNI integer paths.
inline bool cpuHasVnni() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512vnni") &&
         __builtin_cpu_supports("avx512bw");
#else
  return false;
#endif
}

inline std::vector<float> uniform(std::mt19937 &rng, size_t n, float lo = -1.0f,
                                  float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

/// Small integers: f32 sums and products of these are exact.
inline std::vector<float> integers(std::mt19937 &rng, size_t n, int lo,
                                   int hi) {
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = float(dist(rng));
  return v;
}

/// Zeroes entries with probability `zeroFraction`.
inline void sparsify(std::mt19937 &rng, std::vector<float> &v,
                     double zeroFraction) {
  std::bernoulli_distribution zero(zeroFraction);
  for (float &x : v)
    if (zero(rng))
      x = 0.0f;
}

//===----------------------------------------------------------------------===//
// Reference weights.
//===----------------------------------------------------------------------===//

/// Independent half decoder (value = mantissa * 2^exponent).
inline double refHalf(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
  double v =
      exp == 0 ? std::ldexp(mant, -24) : std::ldexp(1024 + mant, exp - 25);
  return sign ? -v : v;
}

struct Format {
  int bits;      // 32, 8, 4
  int64_t group; // 0 = per channel
  bool f16;      // f16 scales
  bool nk;
  bool packed = false; // int4 two per byte (PARSIMONY_INT4_PACKED)
  std::string name() const {
    return std::to_string(bits) + (packed ? "p" : "") + (nk ? "nk" : "kn") +
           "g" + std::to_string(group) + (f16 ? "h" : "f");
  }
  int32_t abiBits() const { return packed ? PARSIMONY_INT4_PACKED : bits; }
};

/// f32 both layouts, then int8/int4 x per-channel/grouped(16) x f32/f16
/// scales x both layouts.
inline std::vector<Format> allFormats() {
  std::vector<Format> out = {{32, 0, false, false}, {32, 0, false, true}};
  for (int bits : {8, 4})
    for (int64_t group : {int64_t(0), int64_t(16)})
      for (bool f16 : {false, true})
        for (bool nk : {false, true})
          out.push_back({bits, group, f16, nk});
  return out;
}

/// int8, int4 and packed int4, per channel and grouped (32, 64), f32 and
/// f16 scales, both layouts.
inline std::vector<Format> quantFormats() {
  std::vector<Format> out;
  for (int kind : {0, 1, 2})
    for (int64_t group : {int64_t(0), int64_t(32), int64_t(64)})
      for (bool f16 : {false, true})
        for (bool nk : {false, true})
          out.push_back({kind == 0 ? 8 : 4, group, f16, nk, kind == 2});
  return out;
}

/// A (stack of) weight(s) mapping K inputs to N outputs, and its logical
/// values in double.
struct TestWeight {
  Format fmt{};
  int64_t E = 1, K = 0, N = 0;
  std::vector<float> f32;
  std::vector<int8_t> q;
  std::vector<uint8_t> packedBytes; // q packed two per byte when fmt.packed
  std::vector<float> s32;
  std::vector<uint16_t> s16;

  const void *w() const {
    if (fmt.packed)
      return packedBytes.data();
    return fmt.bits == 32 ? static_cast<const void *>(f32.data())
                          : static_cast<const void *>(q.data());
  }
  const void *scales() const {
    if (fmt.bits == 32)
      return nullptr;
    return fmt.f16 ? static_cast<const void *>(s16.data())
                   : static_cast<const void *>(s32.data());
  }
  int32_t layout() const { return fmt.nk ? 1 : 0; }
  int64_t storedIndex(int64_t e, int64_t i, int64_t j) const {
    return e * K * N + (fmt.nk ? j * K + i : i * N + j);
  }
  int64_t scaleIndex(int64_t e, int64_t i, int64_t j) const {
    if (fmt.group == 0)
      return e * N + j;
    int64_t groups = K / fmt.group;
    return e * groups * N +
           (fmt.nk ? j * groups + i / fmt.group : (i / fmt.group) * N + j);
  }
  double at(int64_t e, int64_t i, int64_t j) const {
    int64_t s = storedIndex(e, i, j);
    if (fmt.bits == 32)
      return f32[s];
    int v = q[s];
    if (fmt.bits == 4) // stored as a raw nibble in some tests
      v = (v & 8) ? (v & 7) - 8 : (v & 7);
    int64_t si = scaleIndex(e, i, j);
    return v * (fmt.f16 ? refHalf(s16[si]) : double(s32[si]));
  }
};

/// Random weight; `exact` uses small integers and power-of-two scales (f32
/// arithmetic on them is exact). rawNibbles stores int4 zero-extended.
inline TestWeight makeWeight(std::mt19937 &rng, Format fmt, int64_t E,
                             int64_t K, int64_t N, bool exact,
                             bool rawNibbles = false) {
  TestWeight w;
  w.fmt = fmt;
  w.E = E;
  w.K = K;
  w.N = N;
  size_t count = size_t(E * K * N);
  if (fmt.bits == 32) {
    w.f32 = exact ? integers(rng, count, -3, 3) : uniform(rng, count);
    return w;
  }
  int qmax = fmt.bits == 8 ? 127 : 7;
  std::uniform_int_distribution<int> qd(-qmax - 1, qmax);
  w.q.resize(count);
  for (int8_t &v : w.q) {
    int x = exact ? std::max(-3, std::min(3, qd(rng) % 4)) : qd(rng);
    if (fmt.bits == 4 && rawNibbles)
      x &= 15;
    v = int8_t(x);
  }
  size_t scales = size_t(E * (fmt.group ? K / fmt.group : 1) * N);
  std::uniform_int_distribution<int> pow2(-3, 1);
  std::uniform_int_distribution<int> mant(0, 1023);
  std::uniform_real_distribution<float> sd(0.001f, 0.05f);
  for (size_t i = 0; i < scales; ++i) {
    if (fmt.f16) {
      // Exponent field 10..16; exact data uses a zero mantissa (2^k).
      int e = 15 + pow2(rng);
      w.s16.push_back(uint16_t((e << 10) | (exact ? 0 : mant(rng))));
    } else {
      w.s32.push_back(exact ? std::ldexp(1.0f, pow2(rng)) : sd(rng));
    }
  }
  if (fmt.f16 && !exact && !w.s16.empty())
    w.s16[0] = 0x0123; // one subnormal half scale
  if (fmt.packed) {
    // Every stored row in 32-value blocks of 16 bytes: byte i holds value i
    // (low nibble) and value i + 16 (high nibble).
    int64_t rowLen = fmt.nk ? K : N, rows = E * (fmt.nk ? N : K);
    w.packedBytes.assign(size_t(rows * rowLen / 2), 0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < rowLen; ++c) {
        uint8_t nibble = uint8_t(w.q[size_t(r * rowLen + c)]) & 15;
        uint8_t &byte =
            w.packedBytes[size_t(r * rowLen / 2 + (c / 32) * 16 + c % 16)];
        byte |= c % 32 < 16 ? nibble : uint8_t(nibble << 4);
      }
  }
  return w;
}

#define TW_ARGS(tw)                                                            \
  (tw).w(), (tw).scales(), (tw).layout(), (tw).fmt.abiBits(), (tw).fmt.group,  \
      (tw).fmt.f16 ? 1 : 0
#define NO_WEIGHT nullptr, nullptr, 0, 32, 0, 0

} // namespace kernel_test

#endif // PARSIMONY_UNITTESTS_KERNELTESTDATA_H
