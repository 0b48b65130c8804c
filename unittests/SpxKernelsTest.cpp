//===- SpxKernelsTest.cpp - tests of the spx runtime kernels --------------===//
//
// Compares every entry point of parsimony/Runtime/SpxKernels.h against a
// naive double-precision reference written independently here (its own
// dequantization, half decoding, O(n^2) top-k by counting, softmax, dispatch
// simulation), on every weight format (f32; int8 and int4, per channel and
// grouped, f32 and f16 scales; kn and nk; stacked experts), on every ISA the
// CPU supports and with 1 and 2 threads.
//
// Tolerances: continuous random data is compared with
//   |got - ref| <= 1e-5 * (|ref| + sum of the magnitudes of its terms)
// (f32 accumulation of a few hundred products is good to ~1e-6 of the term
// magnitudes). Anything that selects (top-k, predicted supports, expert
// choice) runs on small-integer data with power-of-two scales, where f32
// arithmetic is exact: then the selection must match the reference
// exactly, ties included, and so must the results.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Runtime/SpxKernels.h"
#include "parsimony/Runtime/Kernels.h"

#include "KernelTestData.h"
#include "ReferenceActivations.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace kernel_test;

constexpr float NaN = std::numeric_limits<float>::quiet_NaN();

//===----------------------------------------------------------------------===//
// Configurations: every ISA path x 1 and 2 threads.
//===----------------------------------------------------------------------===//

void forEachConfig(const std::function<void(const std::string &)> &body) {
  int best = parsimony_set_isa(PARSIMONY_ISA_AVX512);
  for (int isa = PARSIMONY_ISA_SCALAR; isa <= best; ++isa) {
    parsimony_set_isa(isa);
    for (int threads : {1, 2}) {
      parsimony_set_num_threads(threads);
      body("isa " + std::to_string(isa) + " threads " +
           std::to_string(threads));
    }
  }
  parsimony_set_isa(best);
  parsimony_set_num_threads(0);
}

//===----------------------------------------------------------------------===//
// Reference helpers.
//===----------------------------------------------------------------------===//

/// Value and term magnitude of a reference result.
struct Ref {
  std::vector<double> v, mag;
  explicit Ref(size_t n = 0) : v(n, 0.0), mag(n, 0.0) {}
};

void expectClose(const std::vector<float> &got, const Ref &ref,
                 const std::string &what, double tol = 1e-5) {
  ASSERT_EQ(got.size(), ref.v.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < got.size() && failures < 5; ++i) {
    double bound = tol * (std::fabs(ref.v[i]) + ref.mag[i]) + 1e-30;
    if (std::isnan(ref.v[i]) ? !std::isnan(got[i])
                             : !(std::fabs(got[i] - ref.v[i]) <= bound)) {
      ADD_FAILURE() << what << ": element " << i << " got " << got[i]
                    << " want " << ref.v[i] << " (bound " << bound << ")";
      ++failures;
    }
  }
}

/// a precedes b in top-k order: larger first, NaN largest, ties to the
/// lower index.
bool refBeats(double a, int64_t ia, double b, int64_t ib) {
  bool na = std::isnan(a), nb = std::isnan(b);
  if (na || nb)
    return na && nb ? ia < ib : na;
  return a > b || (a == b && ia < ib);
}

/// kept[i]: fewer than k entries beat entry i.
std::vector<bool> refTopk(const std::vector<double> &v, int64_t k) {
  std::vector<bool> kept(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    int64_t beaten = 0;
    for (size_t j = 0; j < v.size(); ++j)
      beaten += j != i && refBeats(v[j], int64_t(j), v[i], int64_t(i));
    kept[i] = beaten < k;
  }
  return kept;
}

/// Magnitude multiplier of an activation's output relative to its input
/// (for the error bound of what follows it).
double refActMag(int code, double v, double mag) {
  return std::fabs(refAct(code, v)) + mag;
}

/// out[t, j] = sum_i in[t, i] * W_e(i, j) for the given weight.
Ref refMatmul(const std::vector<double> &in, int64_t T, const TestWeight &w,
              int64_t e = 0, const std::vector<double> *inMag = nullptr) {
  Ref r(static_cast<size_t>(T * w.N));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < w.N; ++j) {
      double s = 0, m = 0;
      for (int64_t i = 0; i < w.K; ++i) {
        double a = in[t * w.K + i], b = w.at(e, i, j);
        s += a * b;
        m += std::fabs(a * b) +
             (inMag ? (*inMag)[t * w.K + i] * std::fabs(b) : 0.0);
      }
      r.v[t * w.N + j] = s;
      r.mag[t * w.N + j] = m;
    }
  return r;
}

std::vector<double> toDouble(const std::vector<float> &v) {
  return std::vector<double>(v.begin(), v.end());
}

template <typename T> std::vector<T> toIndex(const std::vector<int64_t> &v) {
  return std::vector<T>(v.begin(), v.end());
}

//===----------------------------------------------------------------------===//
// topk_activation
//===----------------------------------------------------------------------===//

void checkTopk(const std::vector<float> &in, int64_t outer, int64_t axis,
               int64_t inner, int64_t k, const std::string &what) {
  for (int approx : {0, 1}) {
    std::vector<float> out(in.size(), 7.0f);
    parsimony_topk_activation_f32(in.data(), out.data(), outer, axis, inner, k,
                                  approx, 0.95f);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        std::vector<double> slice = std::vector<double>(size_t(axis));
        for (int64_t a = 0; a < axis; ++a)
          slice[a] = in[(o * axis + a) * inner + i];
        std::vector<bool> kept = refTopk(slice, k);
        int64_t hits = 0, keptRef = 0;
        for (int64_t a = 0; a < axis; ++a) {
          float got = out[(o * axis + a) * inner + i];
          float want = kept[a] ? float(slice[a]) : 0.0f;
          keptRef += kept[a];
          bool same = std::isnan(want) ? std::isnan(got) : got == want;
          hits += kept[a] && same;
          if (!approx) {
            ASSERT_TRUE(same)
                << what << " k=" << k << " slice (" << o << "," << i
                << ") index " << a << " got " << got << " want " << want;
          } else if (!kept[a]) {
            ASSERT_EQ(got, 0.0f) << what;
          }
        }
        if (approx) {
          EXPECT_GE(double(hits), 0.95 * double(keptRef)) << what;
        }
      }
  }
}

TEST(SpxTopk, RandomTiesNaNAndShapes) {
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(1);
    // Continuous values, inner == 1 and strided slices.
    for (int64_t inner : {1, 5}) {
      std::vector<float> in = uniform(rng, size_t(3 * 200 * inner));
      for (int64_t k : {1, 7, 100, 199, 200, 250})
        checkTopk(in, 3, 200, inner, k, cfg + " uniform");
    }
    // Many ties (few distinct values), +-0, NaN and infinities.
    std::vector<float> ties = integers(rng, 2 * 300, -2, 2);
    ties[3] = -0.0f;
    ties[10] = NaN;
    ties[11] = NaN;
    ties[50] = std::numeric_limits<float>::infinity();
    ties[400] = -std::numeric_limits<float>::infinity();
    ties[401] = NaN;
    for (int64_t k : {1, 2, 3, 30, 150, 299, 300})
      checkTopk(ties, 2, 300, 1, k, cfg + " ties");
    // Every value equal: the k lowest indices survive.
    std::vector<float> same(64, 1.5f);
    checkTopk(same, 1, 64, 1, 5, cfg + " all equal");
    // Axis of one and a large axis (several radix passes with survivors).
    std::vector<float> one = uniform(rng, 4);
    checkTopk(one, 4, 1, 1, 1, cfg + " axis 1");
    std::vector<float> big = uniform(rng, 3000);
    for (float &v : big)
      v = std::ldexp(1.0f, -20) * std::round(v * 64.0f); // tight clusters
    checkTopk(big, 1, 3000, 1, 777, cfg + " big");
  });
}

TEST(SpxTopk, LongRowsSmallK) {
  // Rows of 1024 and more with k <= n / 8 select among the keys above a
  // threshold from a strided sample; the cases below cover a sample that
  // represents the row, one that misses the row's largest values (the
  // selection falls back), ties at the cut, and a tail after the last
  // 16-lane vector.
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(9);
    for (int64_t n : {int64_t(1024), int64_t(1500), int64_t(3072)}) {
      std::vector<int64_t> ks = {1, 16, 128, 255, n / 8};
      // ReLU of a normal sample: mostly zeros, like an FFN's hidden row.
      std::normal_distribution<float> normal(-0.3f, 1.0f);
      std::vector<float> relu(size_t(4 * n));
      for (float &v : relu)
        v = std::max(0.0f, normal(rng));
      // Few distinct values: many keys equal to the cut.
      std::vector<float> ties = integers(rng, size_t(2 * n), -3, 3);
      ties[5] = NaN;
      // Ascending and descending rows.
      std::vector<float> sorted(size_t(2 * n));
      for (int64_t i = 0; i < n; ++i) {
        sorted[size_t(i)] = float(i);
        sorted[size_t(n + i)] = float(n - i);
      }
      // Large values only where a stride of n / 256 never samples.
      std::vector<float> hidden = uniform(rng, size_t(n), -1.0f, 0.0f);
      for (int64_t i = 1; i < n; i += n / 256)
        hidden[size_t(i)] = 10.0f + float(i);
      // The sampled positions (multiples of n / 256) above the rest: for
      // k > 256 fewer than k keys pass the sample's threshold, and the
      // selection falls back to the histogram.
      std::vector<float> sampledHigh = uniform(rng, size_t(n), 0.0f, 1.0f);
      for (int64_t i = 0; i < 256; ++i)
        sampledHigh[size_t(i * (n / 256))] = 5.0f;
      for (int64_t k : ks) {
        std::string what = cfg + " n=" + std::to_string(n);
        checkTopk(relu, 4, n, 1, k, what + " relu");
        checkTopk(ties, 2, n, 1, k, what + " ties");
        checkTopk(sorted, 2, n, 1, k, what + " sorted");
        checkTopk(hidden, 1, n, 1, k, what + " hidden from the sample");
        checkTopk(sampledHigh, 1, n, 1, k, what + " sampled high");
      }
    }
  });
}

//===----------------------------------------------------------------------===//
// sparse_matmul
//===----------------------------------------------------------------------===//

TEST(SpxSparseMatmul, EveryFormatAndDensity) {
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(2);
    const int64_t K = 96, N = 72;
    for (const Format &fmt : allFormats()) {
      TestWeight w = makeWeight(rng, fmt, 1, K, N, false);
      for (int64_t T : {1, 3, 4, 5, 17})
        for (double zeros : {1.0, 0.95, 0.6, 0.0}) {
          std::vector<float> in = uniform(rng, size_t(T * K));
          sparsify(rng, in, zeros);
          std::vector<float> out(size_t(T * N), NaN);
          parsimony_sparse_matmul_f32(in.data(), T, K, N, TW_ARGS(w),
                                      out.data());
          expectClose(out, refMatmul(toDouble(in), T, w),
                      cfg + " " + fmt.name() + " T=" + std::to_string(T) +
                          " zeros=" + std::to_string(zeros));
        }
    }
  });
}

//===----------------------------------------------------------------------===//
// quant_matmul (weight-only quantized dense matmul)
//===----------------------------------------------------------------------===//

TEST(SpxQuantMatmul, EveryFormatShapeAndTokenCount) {
  // Against the double-precision dequantized reference: register
  // dequantization must equal it up to f32 rounding.
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(21);
    for (const Format &fmt : quantFormats())
      for (auto [K, N] : {std::pair<int64_t, int64_t>{64, 96},
                          {192, 64},
                          {128, 5},
                          {200, 32},
                          {8, 64}}) {
        if (fmt.group && K % fmt.group)
          continue;
        if (fmt.packed && (fmt.nk ? K : N) % 32)
          continue;
        TestWeight w = makeWeight(rng, fmt, 1, K, N, false);
        for (int64_t T : {1, 2, 3, 4, 5, 8, 16, 17, 40}) {
          std::vector<float> in = uniform(rng, size_t(T * K));
          std::vector<float> out(size_t(T * N), NaN);
          parsimony_quant_matmul_f32(in.data(), T, K, N, TW_ARGS(w),
                                     out.data());
          expectClose(out, refMatmul(toDouble(in), T, w),
                      cfg + " " + fmt.name() + " K=" + std::to_string(K) +
                          " N=" + std::to_string(N) +
                          " T=" + std::to_string(T));
        }
      }
  });
}

TEST(SpxQuantMatmul, EpilogueBiasActivationResidual) {
  // out = act(in * W + bias) + residual, on both the register-dequantizing
  // (T <= 16) and the tiled paths, with each part present or absent.
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(23);
    const int64_t K = 64, N = 200;
    for (Format fmt :
         {Format{8, 0, false, true}, Format{4, 32, false, true, true},
          Format{8, 0, false, false}}) {
      TestWeight w = makeWeight(rng, fmt, 1, K, N, false);
      std::vector<float> bias = uniform(rng, size_t(N));
      for (int64_t T : {1, 4, 7, 16, 40})
        for (int act = 0; act <= 5; ++act)
          for (int parts = 0; parts < 4; ++parts) {
            bool withBias = parts & 1, withResidual = parts & 2;
            std::vector<float> in = uniform(rng, size_t(T * K));
            std::vector<float> residual = uniform(rng, size_t(T * N));
            std::vector<float> out(size_t(T * N), NaN);
            parsimony_quant_matmul_epilogue_f32(
                in.data(), T, K, N, TW_ARGS(w),
                withBias ? bias.data() : nullptr, act,
                withResidual ? residual.data() : nullptr, out.data());
            Ref ref = refMatmul(toDouble(in), T, w);
            for (int64_t t = 0; t < T; ++t)
              for (int64_t j = 0; j < N; ++j) {
                size_t i = size_t(t * N + j);
                double x = ref.v[i] + (withBias ? bias[j] : 0.0);
                ref.mag[i] = refActMag(act, x, ref.mag[i]) +
                             (withResidual ? std::fabs(residual[i]) : 0.0);
                ref.v[i] = refAct(act, x) + (withResidual ? residual[i] : 0.0);
              }
            // The vectorized exp/erf polynomials are within 2e-7 of libm.
            expectClose(out, ref,
                        cfg + " " + fmt.name() + " T=" + std::to_string(T) +
                            " act=" + std::to_string(act) +
                            " parts=" + std::to_string(parts),
                        2e-5);
          }
    }
  });
}

TEST(SpxQuantMatmul, IntegerActivations) {
  // parsimony_quant_matmul_u8_f32: (x - zp) * W for uint8 and int8 x, with
  // and without a zero point and an epilogue, K with and without a 64-byte
  // tail, T across the 4-token tiles. On AVX-512 VNNI with int8 per-channel
  // nk weights the integer sum is exact: the result must equal
  // float(sum) * scale bit for bit. Everywhere else (other ISAs and
  // formats: the f32 kernels on x - zp) within the f32 tolerance.
  forEachConfig([](const std::string &cfg) {
    bool vnni = cpuHasVnni() && parsimony_get_isa() == PARSIMONY_ISA_AVX512;
    std::mt19937 rng(41);
    for (Format fmt :
         {Format{8, 0, false, true}, Format{8, 0, true, true},
          Format{4, 32, false, true, true}, Format{8, 0, false, false}})
      for (int64_t K : {int64_t(1), int64_t(64), int64_t(96), int64_t(200)})
        for (int64_t N : {int64_t(13), int64_t(40)}) {
          if (fmt.group && K % fmt.group)
            continue;
          TestWeight w = makeWeight(rng, fmt, 1, K, N, false);
          for (int isSigned : {0, 1})
            for (int64_t T : {1, 3, 4, 6, 17})
              for (int variant = 0; variant < 3; ++variant) {
                // 0: zero point 0; 1: a random one; 2: with an epilogue.
                std::uniform_int_distribution<int> byte(0, 255);
                std::vector<uint8_t> in(size_t(T * K));
                for (uint8_t &b : in)
                  b = uint8_t(byte(rng));
                int32_t zp =
                    variant == 0 ? 0 : byte(rng) - (isSigned ? 128 : 0);
                std::vector<double> centered(in.size());
                for (size_t i = 0; i < in.size(); ++i)
                  centered[i] =
                      (isSigned ? int(int8_t(in[i])) : int(in[i])) - zp;
                bool epilogue = variant == 2;
                std::vector<float> bias = uniform(rng, size_t(N));
                std::vector<float> residual = uniform(rng, size_t(T * N));
                std::vector<float> out(size_t(T * N), NaN);
                parsimony_quant_matmul_u8_f32(
                    in.data(), T, K, N, TW_ARGS(w), isSigned, zp,
                    epilogue ? bias.data() : nullptr, epilogue ? 1 : 0,
                    epilogue ? residual.data() : nullptr, out.data());
                std::string what =
                    cfg + " " + fmt.name() + " K=" + std::to_string(K) +
                    " N=" + std::to_string(N) + " T=" + std::to_string(T) +
                    " signed=" + std::to_string(isSigned) +
                    " variant=" + std::to_string(variant);
                Ref ref = refMatmul(centered, T, w);
                if (epilogue)
                  for (int64_t t = 0; t < T; ++t)
                    for (int64_t j = 0; j < N; ++j) {
                      size_t i = size_t(t * N + j);
                      double x = ref.v[i] + bias[j];
                      ref.mag[i] += std::fabs(bias[j]) + std::fabs(residual[i]);
                      ref.v[i] = std::max(x, 0.0) + residual[i];
                    }
                expectClose(out, ref, what);
                if (!vnni || fmt.bits != 8 || !fmt.nk || epilogue)
                  continue;
                for (int64_t t = 0; t < T; ++t)
                  for (int64_t j = 0; j < N; ++j) {
                    int64_t sum = 0;
                    for (int64_t k = 0; k < K; ++k)
                      sum += int64_t(centered[size_t(t * K + k)]) *
                             w.q[size_t(w.storedIndex(0, k, j))];
                    float scale = fmt.f16 ? float(refHalf(w.s16[size_t(j)]))
                                          : w.s32[size_t(j)];
                    ASSERT_EQ(out[size_t(t * N + j)], float(sum) * scale)
                        << what << " t=" << t << " n=" << j;
                  }
              }
        }
  });
}

TEST(SpxQuantMatmul, PackedInt4InEverySpxKernel) {
  // Packed int4 weights read the same as one value per byte in the other
  // kernels (generic dequantization paths).
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(22);
    const int64_t K = 64, N = 96;
    for (bool nk : {false, true})
      for (int64_t group : {int64_t(0), int64_t(32)}) {
        Format fmt{4, group, false, nk, true};
        TestWeight w = makeWeight(rng, fmt, 1, K, N, false);
        for (int64_t T : {1, 5}) {
          std::vector<float> in = uniform(rng, size_t(T * K));
          sparsify(rng, in, 0.8);
          std::vector<float> out(size_t(T * N), NaN);
          parsimony_sparse_matmul_f32(in.data(), T, K, N, TW_ARGS(w),
                                      out.data());
          expectClose(out, refMatmul(toDouble(in), T, w),
                      cfg + " sparse " + fmt.name());
        }
      }
  });
}

TEST(SpxSparseMatmul, RawInt4Nibbles) {
  // i4 given as zero-extended nibbles reads the same as sign-extended.
  std::mt19937 rng(3);
  for (bool nk : {false, true}) {
    TestWeight w = makeWeight(rng, {4, 16, false, nk}, 1, 32, 40, false, true);
    std::vector<float> in = uniform(rng, 2 * 32);
    std::vector<float> out(2 * 40);
    parsimony_sparse_matmul_f32(in.data(), 2, 32, 40, TW_ARGS(w), out.data());
    expectClose(out, refMatmul(toDouble(in), 2, w), "raw nibbles");
  }
}

//===----------------------------------------------------------------------===//
// support_matmul
//===----------------------------------------------------------------------===//

TEST(SpxSupportMatmul, BothSidesEveryFormat) {
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(4);
    const int64_t K = 80, N = 56, T = 5, S = 9;
    for (const Format &fmt : allFormats()) {
      TestWeight w = makeWeight(rng, fmt, 1, K, N, false);
      for (int side : {0, 1}) {
        int64_t neurons = side == 0 ? N : K;
        std::uniform_int_distribution<int64_t> idx(0, neurons - 1);
        std::vector<int64_t> sup = std::vector<int64_t>(size_t(T * S));
        for (int64_t &s : sup)
          s = idx(rng);
        sup[0] = -1;      // out of range
        sup[1] = neurons; // out of range
        sup[2] = 1 << 30; // far out of range
        sup[4] = sup[3];  // duplicate: counts twice
        std::vector<float> in = uniform(rng, size_t(T * (side ? S : K)));
        Ref ref(static_cast<size_t>(T * (side ? N : S)));
        for (int64_t t = 0; t < T; ++t)
          for (int64_t j = 0; j < S; ++j) {
            int64_t s = sup[t * S + j];
            if (s < 0 || s >= neurons)
              continue;
            if (side == 0) {
              for (int64_t i = 0; i < K; ++i) {
                double p = in[t * K + i] * w.at(0, i, s);
                ref.v[t * S + j] += p;
                ref.mag[t * S + j] += std::fabs(p);
              }
            } else {
              for (int64_t n = 0; n < N; ++n) {
                double p = in[t * S + j] * w.at(0, s, n);
                ref.v[t * N + n] += p;
                ref.mag[t * N + n] += std::fabs(p);
              }
            }
          }
        for (int i64 : {0, 1}) {
          std::vector<int32_t> s32 = toIndex<int32_t>(sup);
          std::vector<float> out(ref.v.size(), NaN);
          parsimony_support_matmul_f32(
              in.data(), T, K, N, TW_ARGS(w),
              i64 ? static_cast<const void *>(sup.data()) : s32.data(), i64, S,
              side, out.data());
          expectClose(out, ref,
                      cfg + " " + fmt.name() + " side " + std::to_string(side));
        }
      }
    }
  });
}

//===----------------------------------------------------------------------===//
// predict_support
//===----------------------------------------------------------------------===//

std::vector<int64_t> refSupport(const std::vector<double> &scores, int64_t k) {
  std::vector<bool> kept = refTopk(scores, k);
  std::vector<int64_t> out;
  for (size_t i = 0; i < kept.size(); ++i)
    if (kept[i])
      out.push_back(int64_t(i));
  return out;
}

TEST(SpxPredictSupport, QuantizedAndLowRank) {
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(5);
    const int64_t K = 48, N = 120, T = 6, R = 8;
    std::vector<float> x = integers(rng, size_t(T * K), -2, 2);
    std::vector<float> bias = integers(rng, size_t(N), -1, 1);
    for (const Format &fmt : allFormats())
      for (int64_t k : {int64_t(1), int64_t(17), N})
        for (bool withBias : {false, true}) {
          TestWeight w = makeWeight(rng, fmt, 1, K, N, true);
          Ref scores = refMatmul(toDouble(x), T, w);
          for (int i64 : {0, 1}) {
            std::vector<int64_t> out64(size_t(T * k), -7);
            std::vector<int32_t> out32(size_t(T * k), -7);
            parsimony_predict_support_f32(
                x.data(), T, K, N, TW_ARGS(w), nullptr, 0,
                withBias ? bias.data() : nullptr, k,
                i64 ? static_cast<void *>(out64.data()) : out32.data(), i64);
            for (int64_t t = 0; t < T; ++t) {
              std::vector<double> s(scores.v.begin() + t * N,
                                    scores.v.begin() + (t + 1) * N);
              if (withBias)
                for (int64_t n = 0; n < N; ++n)
                  s[n] += bias[n];
              std::vector<int64_t> want = refSupport(s, k);
              for (int64_t j = 0; j < k; ++j)
                ASSERT_EQ(i64 ? out64[t * k + j] : out32[t * k + j], want[j])
                    << cfg << " " << fmt.name() << " k=" << k << " t=" << t;
            }
          }
        }
    // Low rank: weight [K, R] (kn and nk) times factor [R, N].
    for (bool nk : {false, true}) {
      TestWeight w = makeWeight(rng, {32, 0, false, nk}, 1, K, R, true);
      std::vector<float> factor = integers(rng, size_t(R * N), -2, 2);
      Ref mid = refMatmul(toDouble(x), T, w);
      std::vector<int64_t> out = std::vector<int64_t>(size_t(T * 10));
      parsimony_predict_support_f32(x.data(), T, K, N, TW_ARGS(w),
                                    factor.data(), R, bias.data(), 10,
                                    out.data(), 1);
      for (int64_t t = 0; t < T; ++t) {
        std::vector<double> s = std::vector<double>(size_t(N));
        for (int64_t n = 0; n < N; ++n) {
          s[n] = bias[n];
          for (int64_t r = 0; r < R; ++r)
            s[n] += mid.v[t * R + r] * factor[r * N + n];
        }
        std::vector<int64_t> want = refSupport(s, 10);
        for (int64_t j = 0; j < 10; ++j)
          ASSERT_EQ(out[t * 10 + j], want[j]) << cfg << " lowrank t=" << t;
      }
    }
  });
}

/// The integer-dot predictor (AVX-512 VNNI): packed int4 rows per row and in
/// groups of 32 and 64 (a 32-value tail step included) and int8 rows, with
/// each token's activations rounded to 8 bits by a power-of-two scale.
/// Integer data is exact on every path; continuous data must select the
/// support of the rounded activations' scores, which the f32 kernels (other
/// ISAs) approximate by the unrounded ones.
TEST(SpxPredictSupport, IntegerDotProducts) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  bool vnni = __builtin_cpu_supports("avx512vnni") &&
              __builtin_cpu_supports("avx512bw");
#else
  bool vnni = false;
#endif
  forEachConfig([&](const std::string &cfg) {
    std::mt19937 rng(9);
    const int64_t N = 42, k = 9;
    bool integerPath =
        vnni &&
        cfg.rfind("isa " + std::to_string(PARSIMONY_ISA_AVX512), 0) == 0;
    std::vector<Format> formats = {{8, 0, false, true}};
    for (int64_t group : {int64_t(0), int64_t(32), int64_t(64)})
      for (bool f16 : {false, true})
        formats.push_back({4, group, f16, true, true});
    for (const Format &fmt : formats)
      for (int64_t K : {int64_t(64), int64_t(96), int64_t(160), int64_t(768)})
        for (int64_t T : {int64_t(1), int64_t(3), int64_t(6)})
          for (bool exact : {true, false}) {
            if (fmt.group && K % fmt.group)
              continue;
            TestWeight w = makeWeight(rng, fmt, 1, K, N, exact);
            std::vector<float> x = exact ? integers(rng, size_t(T * K), -2, 2)
                                         : uniform(rng, size_t(T * K));
            // Activations as the integer path rounds them.
            std::vector<double> xr = toDouble(x);
            if (integerPath)
              for (int64_t t = 0; t < T; ++t) {
                double maxAbs = 0;
                for (int64_t c = 0; c < K; ++c)
                  maxAbs = std::max(maxAbs, std::fabs(xr[t * K + c]));
                double scale = 1;
                while (maxAbs / scale > 127)
                  scale *= 2;
                while (maxAbs / (scale / 2) <= 127)
                  scale /= 2;
                for (int64_t c = 0; c < K; ++c)
                  xr[t * K + c] = std::nearbyint(xr[t * K + c] / scale) * scale;
              }
            Ref scores = refMatmul(xr, T, w);
            std::vector<int32_t> out(size_t(T * k), -7);
            parsimony_predict_support_f32(x.data(), T, K, N, TW_ARGS(w),
                                          nullptr, 0, nullptr, k, out.data(),
                                          0);
            std::string what =
                cfg + " " + fmt.name() + " K=" + std::to_string(K) +
                " T=" + std::to_string(T) + (exact ? " exact" : " continuous");
            for (int64_t t = 0; t < T; ++t) {
              std::vector<double> st(scores.v.begin() + t * N,
                                     scores.v.begin() + (t + 1) * N);
              std::vector<int64_t> want = refSupport(st, k);
              if (exact || integerPath) {
                for (int64_t j = 0; j < k; ++j)
                  ASSERT_EQ(out[t * k + j], want[j]) << what << " t=" << t;
                continue;
              }
              // The f32 kernels: every chosen score at least the k-th
              // largest reference score, up to rounding.
              std::vector<double> sorted = st;
              std::sort(sorted.rbegin(), sorted.rend());
              for (int64_t j = 0; j < k; ++j)
                ASSERT_GE(st[size_t(out[t * k + j])],
                          sorted[size_t(k - 1)] - 1e-4)
                    << what << " t=" << t;
            }
          }
  });
}

//===----------------------------------------------------------------------===//
// sparse_ffn
//===----------------------------------------------------------------------===//

struct FfnCase {
  int64_t T = 1, D = 40, F = 160;
  Format upFmt{32, 0, false, false}, gateFmt{32, 0, false, false},
      downFmt{32, 0, false, false};
  bool gated = false, upBias = true, downBias = true;
  bool residual = false; // a fused skip connection
  int act = 1;
  int64_t topk = 0;
  bool exact = false; // integer data (selection-safe)
  // Predicted support (S > 0).
  int64_t S = 0, block = 1;
  bool supportI64 = false;
};

void runFfn(std::mt19937 &rng, const FfnCase &c, const std::string &what) {
  TestWeight up = makeWeight(rng, c.upFmt, 1, c.D, c.F, c.exact);
  TestWeight gate = makeWeight(rng, c.gateFmt, 1, c.D, c.F, c.exact);
  TestWeight down = makeWeight(rng, c.downFmt, 1, c.F, c.D, c.exact);
  std::vector<float> x = c.exact ? integers(rng, size_t(c.T * c.D), -2, 2)
                                 : uniform(rng, size_t(c.T * c.D));
  std::vector<float> bu =
      c.exact ? integers(rng, size_t(c.F), -4, 4) : uniform(rng, size_t(c.F));
  std::vector<float> bd =
      c.exact ? integers(rng, size_t(c.D), -4, 4) : uniform(rng, size_t(c.D));
  std::vector<float> res = c.exact ? integers(rng, size_t(c.T * c.D), -4, 4)
                                   : uniform(rng, size_t(c.T * c.D));
  std::vector<int64_t> sup;
  if (c.S > 0) {
    std::uniform_int_distribution<int64_t> idx(0, c.F - 1);
    sup.resize(static_cast<size_t>(c.T * c.S));
    for (int64_t &s : sup)
      s = idx(rng);
    sup[0] = -3; // out of range: ignored
    if (sup.size() > 2) {
      sup[1] = c.F;        // out of range
      sup[2] = sup.back(); // duplicate
    }
  }

  // Reference.
  Ref u = refMatmul(toDouble(x), c.T, up);
  Ref g = c.gated ? refMatmul(toDouble(x), c.T, gate) : Ref();
  std::vector<double> h(static_cast<size_t>(c.T * c.F)),
      hMag(static_cast<size_t>(c.T * c.F));
  for (int64_t t = 0; t < c.T; ++t) {
    std::vector<bool> inSupport(size_t(c.F), c.S == 0);
    if (c.S > 0) {
      int64_t b0 = (t / c.block) * c.block;
      int64_t b1 = std::min(c.T, b0 + c.block);
      for (int64_t s = b0 * c.S; s < b1 * c.S; ++s)
        if (sup[s] >= 0 && sup[s] < c.F)
          inSupport[sup[s]] = true;
    }
    for (int64_t i = 0; i < c.F; ++i) {
      int64_t at = t * c.F + i;
      double uv = u.v[at] + (c.upBias ? bu[i] : 0.0);
      double um = u.mag[at] + (c.upBias ? std::fabs(bu[i]) : 0.0);
      if (c.gated) {
        double a = refAct(c.act, g.v[at]);
        h[at] = a * uv;
        hMag[at] = std::fabs(a) * um +
                   refActMag(c.act, g.v[at], g.mag[at]) * std::fabs(uv);
      } else {
        h[at] = refAct(c.act, uv);
        hMag[at] = refActMag(c.act, uv, um);
      }
      if (!inSupport[i])
        h[at] = hMag[at] = 0;
    }
    if (c.topk > 0) {
      std::vector<double> row(h.begin() + t * c.F, h.begin() + (t + 1) * c.F);
      std::vector<bool> kept = refTopk(row, c.topk);
      for (int64_t i = 0; i < c.F; ++i)
        if (!kept[i])
          h[t * c.F + i] = hMag[t * c.F + i] = 0;
    }
  }
  Ref y = refMatmul(h, c.T, down, 0, &hMag);
  for (int64_t t = 0; t < c.T; ++t)
    for (int64_t d = 0; d < c.D; ++d) {
      double add = (c.downBias ? bd[d] : 0.0) +
                   (c.residual ? res[size_t(t * c.D + d)] : 0.0);
      y.v[t * c.D + d] += add;
      y.mag[t * c.D + d] += std::fabs(add);
    }

  std::vector<int32_t> sup32 = toIndex<int32_t>(sup);
  const void *supPtr = c.S == 0       ? nullptr
                       : c.supportI64 ? static_cast<const void *>(sup.data())
                                      : sup32.data();
  std::vector<float> out(size_t(c.T * c.D), NaN);
  if (c.gated)
    parsimony_sparse_ffn_f32(x.data(), c.T, c.D, c.F, TW_ARGS(up),
                             c.upBias ? bu.data() : nullptr, TW_ARGS(gate),
                             TW_ARGS(down), c.downBias ? bd.data() : nullptr,
                             supPtr, c.supportI64, c.S, c.block, c.act, c.topk,
                             c.residual ? res.data() : nullptr, out.data());
  else
    parsimony_sparse_ffn_f32(x.data(), c.T, c.D, c.F, TW_ARGS(up),
                             c.upBias ? bu.data() : nullptr, NO_WEIGHT,
                             TW_ARGS(down), c.downBias ? bd.data() : nullptr,
                             supPtr, c.supportI64, c.S, c.block, c.act, c.topk,
                             c.residual ? res.data() : nullptr, out.data());
  expectClose(out, y, what, c.exact ? 1e-6 : 2e-5);
}

TEST(SpxSparseFfn, ExactModeActivations) {
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(6);
    for (int act = 0; act <= 5; ++act)
      for (bool gated : {false, true})
        for (int64_t T : {1, 5, 16}) {
          FfnCase c;
          c.T = T;
          c.act = act;
          c.gated = gated;
          runFfn(rng, c,
                 cfg + " act " + std::to_string(act) + " gated " +
                     std::to_string(gated) + " T " + std::to_string(T));
        }
  });
}

TEST(SpxSparseFfn, ExactTopkAndTies) {
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(7);
    for (int act : {0, 1})
      for (int64_t topk :
           {int64_t(1), int64_t(8), int64_t(40), int64_t(159), int64_t(160)})
        for (int64_t T : {1, 4, 9})
          for (bool gated : {false, true}) {
            FfnCase c;
            c.T = T;
            c.act = act;
            c.topk = topk;
            c.gated = gated;
            c.exact = true;
            c.downBias = T != 4;
            c.upBias = T != 9;
            c.residual = topk != 8;
            runFfn(rng, c,
                   cfg + " topk " + std::to_string(topk) + " act " +
                       std::to_string(act) + " T " + std::to_string(T));
          }
  });
}

TEST(SpxSparseFfn, QuantizedFormats) {
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(8);
    std::vector<Format> formats = allFormats();
    for (size_t i = 0; i < formats.size(); ++i) {
      FfnCase c;
      c.T = 3;
      c.D = 48; // divisible by the group size
      c.upFmt = formats[i];
      c.gateFmt = formats[(i + 5) % formats.size()];
      c.downFmt = formats[(i + 11) % formats.size()];
      c.gated = i % 2;
      c.act = int(i % 6);
      c.residual = i % 3 != 0;
      runFfn(rng, c, cfg + " exact-mode " + c.upFmt.name());
      // The same with a support and with exact top-k.
      c.exact = true;
      c.act = i % 2; // identity or relu: exact on integers
      c.topk = 12;
      c.S = 20;
      c.block = 2;
      runFfn(rng, c, cfg + " predicted " + c.upFmt.name());
      // One support block for all tokens, no top-k: the fused decode path.
      c.topk = 0;
      c.block = 4;
      runFfn(rng, c, cfg + " predicted fused " + c.upFmt.name());
    }
  });
}

TEST(SpxSparseFfn, PredictedSupport) {
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(9);
    for (bool upNk : {true, false})
      for (int64_t block : {1, 3, 16})
        for (int64_t T : {1, 7})
          for (int64_t topk :
               {int64_t(0), int64_t(1), int64_t(10), int64_t(60)})
            for (int act : {0, 1, 4}) {
              FfnCase c;
              c.T = T;
              c.block = block;
              c.topk = topk;
              c.act = act;
              c.S = 24;
              c.upFmt.nk = upNk;
              c.gateFmt.nk = upNk;
              c.gated = act == 4;
              c.exact = act != 4; // silu is inexact: no top-k there
              if (!c.exact)
                c.topk = 0;
              c.supportI64 = block == 3;
              c.residual = T == 7;
              runFfn(rng, c,
                     cfg + " predicted block " + std::to_string(block) + " T " +
                         std::to_string(T) + " topk " + std::to_string(topk) +
                         " act " + std::to_string(act));
            }
  });
}

TEST(SpxSparseFfn, LargerShapesCrossDenseFallback) {
  // Wide enough that the dense fallback and the sparse path both run.
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(10);
    for (int64_t topk : {int64_t(0), int64_t(6), int64_t(100)}) {
      FfnCase c;
      c.T = 12;
      c.D = 64;
      c.F = 384;
      c.topk = topk;
      c.exact = true;
      c.downFmt.nk = topk == 100;
      c.residual = true;
      runFfn(rng, c, cfg + " wide topk " + std::to_string(topk));
    }
  });
}

//===----------------------------------------------------------------------===//
// route
//===----------------------------------------------------------------------===//

TEST(SpxRoute, SoftmaxTopkNormalizeTies) {
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(11);
    const int64_t T = 7, D = 24;
    for (int64_t E : {1, 4, 8})
      for (int64_t k : {int64_t(1), int64_t(2), E})
        for (bool withWeight : {false, true})
          for (int normalize : {0, 1}) {
            if (k > E)
              continue;
            std::vector<float> x =
                uniform(rng, size_t(T * (withWeight ? D : E)), -3.0f, 3.0f);
            std::vector<float> rw = uniform(rng, size_t(D * E));
            std::vector<float> rb = uniform(rng, size_t(E));
            if (!withWeight) {
              // Ties: token 0 all equal, token 1 a tie for second place.
              for (int64_t e = 0; e < E; ++e)
                x[e] = 0.5f;
              if (E >= 4) {
                x[E + 0] = 2.0f;
                x[E + 1] = 1.0f;
                x[E + 2] = 3.0f;
                x[E + 3] = 2.0f;
              }
            }
            std::vector<double> logits = std::vector<double>(size_t(T * E));
            for (int64_t t = 0; t < T; ++t)
              for (int64_t e = 0; e < E; ++e) {
                double l = 0;
                if (withWeight) {
                  for (int64_t d = 0; d < D; ++d)
                    l += double(x[t * D + d]) * rw[d * E + e];
                  l += rb[e];
                } else {
                  l = x[t * E + e];
                }
                logits[t * E + e] = l;
              }
            std::vector<float> gates(size_t(T * k), NaN);
            std::vector<int64_t> ex64(size_t(T * k), -9);
            std::vector<int32_t> ex32(size_t(T * k), -9);
            for (int i64 : {0, 1}) {
              parsimony_route_f32(
                  x.data(), T, withWeight ? D : E,
                  withWeight ? rw.data() : nullptr,
                  withWeight ? rb.data() : nullptr, E, k, normalize,
                  gates.data(),
                  i64 ? static_cast<void *>(ex64.data()) : ex32.data(), i64);
              for (int64_t t = 0; t < T; ++t) {
                double mx = -INFINITY, sum = 0;
                for (int64_t e = 0; e < E; ++e)
                  mx = std::max(mx, logits[t * E + e]);
                std::vector<double> p = std::vector<double>(size_t(E));
                for (int64_t e = 0; e < E; ++e)
                  sum += p[e] = std::exp(logits[t * E + e] - mx);
                std::vector<int64_t> order = std::vector<int64_t>(size_t(E));
                for (int64_t e = 0; e < E; ++e) {
                  p[e] /= sum;
                  order[e] = e;
                }
                std::stable_sort(
                    order.begin(), order.end(),
                    [&](int64_t a, int64_t b) { return p[a] > p[b]; });
                double sel = 0;
                for (int64_t j = 0; j < k; ++j)
                  sel += p[order[j]];
                for (int64_t j = 0; j < k; ++j) {
                  int64_t got = i64 ? ex64[t * k + j] : ex32[t * k + j];
                  ASSERT_EQ(got, order[j])
                      << cfg << " E=" << E << " k=" << k << " t=" << t;
                  double want = p[order[j]] / (normalize ? sel : 1.0);
                  EXPECT_NEAR(gates[t * k + j], want, 1e-6 * (1 + want))
                      << cfg << " E=" << E << " k=" << k << " t=" << t;
                }
              }
            }
          }
  });
}

TEST(SpxRoute, NaNLogitIsLargest) {
  // A NaN logit makes every probability NaN; NaN ranks largest, so the
  // lowest indices win.
  std::vector<float> x = {0.1f, NaN, 0.3f, 0.2f};
  std::vector<float> gates(2);
  std::vector<int32_t> ex(2);
  parsimony_route_f32(x.data(), 1, 4, nullptr, nullptr, 4, 2, 0, gates.data(),
                      ex.data(), 0);
  EXPECT_EQ(ex[0], 0);
  EXPECT_EQ(ex[1], 1);
}

//===----------------------------------------------------------------------===//
// dispatch / combine
//===----------------------------------------------------------------------===//

void checkDispatch(const std::vector<int64_t> &experts, int64_t T, int64_t k,
                   int64_t E, int mode, int64_t C, const std::string &what) {
  const int64_t D = 5;
  std::vector<float> x(static_cast<size_t>(T * D));
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float(i + 1);
  int64_t R = mode == 0 ? T * k : E * C;
  // Reference: walk assignments in token order, then choice order.
  std::vector<int64_t> count(size_t(E), 0);
  for (int64_t e : experts)
    if (e >= 0 && e < E)
      ++count[e];
  std::vector<int64_t> wantOff(static_cast<size_t>(E)),
      wantSize(static_cast<size_t>(E)), wantSlots(size_t(T * k), -1),
      fill(size_t(E), 0);
  for (int64_t e = 0, off = 0; e < E; ++e) {
    wantOff[e] = mode == 0 ? off : e * C;
    off += count[e];
  }
  for (int64_t i = 0; i < T * k; ++i) {
    int64_t e = experts[i];
    if (e < 0 || e >= E || (mode == 1 && fill[e] >= C))
      continue;
    wantSlots[i] = wantOff[e] + fill[e]++;
  }
  for (int64_t e = 0; e < E; ++e)
    wantSize[e] = fill[e];
  std::vector<float> wantRows(size_t(R * D), 0.0f);
  for (int64_t i = 0; i < T * k; ++i)
    if (wantSlots[i] >= 0)
      for (int64_t d = 0; d < D; ++d)
        wantRows[wantSlots[i] * D + d] = x[(i / k) * D + d];

  for (int i64 : {0, 1}) {
    std::vector<int32_t> e32 = toIndex<int32_t>(experts);
    std::vector<float> rows(size_t(R * D), NaN);
    std::vector<int64_t> off(size_t(E), -5), size(size_t(E), -5),
        slots(size_t(T * k), -5);
    parsimony_dispatch_f32(
        x.data(), T, D,
        i64 ? static_cast<const void *>(experts.data()) : e32.data(), i64, k, E,
        mode, C, rows.data(), R, off.data(), size.data(), slots.data());
    EXPECT_EQ(off, wantOff) << what;
    EXPECT_EQ(size, wantSize) << what;
    EXPECT_EQ(slots, wantSlots) << what;
    for (size_t i = 0; i < rows.size(); ++i)
      ASSERT_EQ(rows[i], wantRows[i]) << what << " row element " << i;
  }
}

TEST(SpxDispatch, DroplessAndCapacity) {
  std::mt19937 rng(12);
  const int64_t E = 4;
  auto ceilCap = [](int64_t T, int64_t E, double f) {
    return int64_t(std::ceil(double(T) / double(E) * f));
  };
  for (int mode : {0, 1}) {
    std::string m = mode ? "capacity" : "dropless";
    // Random, k = 2.
    std::uniform_int_distribution<int64_t> pick(0, E - 1);
    std::vector<int64_t> rnd(20);
    for (int64_t &e : rnd)
      e = pick(rng);
    checkDispatch(rnd, 10, 2, E, mode, ceilCap(10, E, 2.0), m + " random");
    // Capacity overflow: factor 1 with an unbalanced router drops late
    // tokens of the busy expert (token order, then choice order).
    std::vector<int64_t> busy = {1, 1, 1, 1, 1, 0, 1, 2};
    checkDispatch(busy, 8, 1, E, mode, ceilCap(8, E, 1.0), m + " overflow");
    std::vector<int64_t> busy2 = {1, 0, 1, 2, 0, 1, 1, 1};
    checkDispatch(busy2, 4, 2, E, mode, ceilCap(4, E, 1.0), m + " overflow k2");
    // T < E, one expert with everything, experts with nothing.
    checkDispatch({3, 3}, 2, 1, E, mode, ceilCap(2, E, 1.0), m + " T<E");
    checkDispatch({2, 2, 2, 2, 2, 2}, 6, 1, E, mode, ceilCap(6, E, 4.0),
                  m + " all to one");
    // Out-of-range expert ids are dropped; k = E.
    checkDispatch({-1, 0, 4, 3, 1, 2, 3, 100}, 2, 4, E, mode,
                  ceilCap(2, E, 4.0), m + " out of range, k=E");
    // T = 1.
    checkDispatch({2}, 1, 1, E, mode, ceilCap(1, E, 1.0), m + " T=1");
  }
}

TEST(SpxCombine, GatesAndDroppedSlots) {
  std::mt19937 rng(13);
  const int64_t R = 6, D = 33, T = 4, k = 3;
  std::vector<float> eo = uniform(rng, size_t(R * D));
  std::vector<float> gates = uniform(rng, size_t(T * k));
  std::vector<int64_t> slots = {0, 5, -1, 2, 2, 6, 1, 3, 4, -1, -1, 100};
  Ref ref(static_cast<size_t>(T * D));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < k; ++j) {
      int64_t s = slots[t * k + j];
      if (s < 0 || s >= R)
        continue;
      for (int64_t d = 0; d < D; ++d) {
        double p = double(gates[t * k + j]) * eo[s * D + d];
        ref.v[t * D + d] += p;
        ref.mag[t * D + d] += std::fabs(p);
      }
    }
  for (int i64 : {0, 1}) {
    std::vector<int32_t> s32 = toIndex<int32_t>(slots);
    std::vector<float> out(size_t(T * D), NaN);
    parsimony_combine_f32(eo.data(), R, D,
                          i64 ? static_cast<const void *>(slots.data())
                              : s32.data(),
                          i64, T, k, gates.data(), nullptr, out.data());
    expectClose(out, ref, "combine");
    // With a residual: the same plus residual[t].
    std::vector<float> residual = uniform(rng, size_t(T * D));
    Ref withResidual = ref;
    for (size_t i = 0; i < residual.size(); ++i) {
      withResidual.v[i] += residual[i];
      withResidual.mag[i] += std::fabs(residual[i]);
    }
    parsimony_combine_f32(eo.data(), R, D,
                          i64 ? static_cast<const void *>(slots.data())
                              : s32.data(),
                          i64, T, k, gates.data(), residual.data(), out.data());
    expectClose(out, withResidual, "combine with residual");
  }
}

//===----------------------------------------------------------------------===//
// expert_ffn
//===----------------------------------------------------------------------===//

struct ExpertCase {
  int64_t E = 4, D = 24, F = 40;
  Format fmt1{32, 0, false, true}, fmt2{32, 0, false, true},
      fmt3{32, 0, false, true};
  int act = 1;
  bool fc3 = false, biases = true;
  int fusion = 0;
  float alpha = 1.0f, beta = 0.0f, limit = NaN;
};

double refSigmoid(double v) { return 1 / (1 + std::exp(-v)); }

void runExperts(std::mt19937 &rng, const ExpertCase &c,
                const std::vector<int64_t> &offsets,
                const std::vector<int64_t> &sizes, int64_t R,
                const std::string &what) {
  int64_t F1 = c.fusion ? 2 * c.F : c.F;
  TestWeight w1 = makeWeight(rng, c.fmt1, c.E, c.D, F1, false);
  TestWeight w2 = makeWeight(rng, c.fmt2, c.E, c.F, c.D, false);
  TestWeight w3 = makeWeight(rng, c.fmt3, c.E, c.D, c.F, false);
  std::vector<float> rows = uniform(rng, size_t(R * c.D), -2.0f, 2.0f);
  std::vector<float> b1 = uniform(rng, size_t(c.E * F1));
  std::vector<float> b2 = uniform(rng, size_t(c.E * c.D));
  std::vector<float> b3 = uniform(rng, size_t(c.E * c.F));

  Ref ref(static_cast<size_t>(R * c.D));
  for (int64_t e = 0; e < c.E; ++e)
    for (int64_t r = offsets[e]; r < offsets[e] + sizes[e]; ++r) {
      std::vector<double> x(rows.begin() + r * c.D,
                            rows.begin() + (r + 1) * c.D);
      Ref u1 = refMatmul(x, 1, w1, e);
      Ref u3 = c.fc3 ? refMatmul(x, 1, w3, e) : Ref(static_cast<size_t>(c.F));
      std::vector<double> h(static_cast<size_t>(c.F)),
          hm(static_cast<size_t>(c.F));
      for (int64_t i = 0; i < F1; ++i)
        u1.v[i] += c.biases ? b1[e * F1 + i] : 0.0;
      for (int64_t i = 0; i < c.F; ++i)
        u3.v[i] += c.biases && c.fc3 ? b3[e * c.F + i] : 0.0;
      for (int64_t i = 0; i < c.F; ++i) {
        if (c.act == 6) {
          double g, v, gm, vm;
          if (c.fusion == 1) {
            g = u1.v[2 * i], v = u1.v[2 * i + 1];
            gm = u1.mag[2 * i], vm = u1.mag[2 * i + 1];
          } else if (c.fusion == 2) {
            g = u1.v[i], v = u1.v[c.F + i];
            gm = u1.mag[i], vm = u1.mag[c.F + i];
          } else {
            g = u1.v[i], v = u3.v[i], gm = u1.mag[i], vm = u3.mag[i];
          }
          if (!std::isnan(c.limit)) {
            g = std::min(g, double(c.limit));
            v = std::max(-double(c.limit), std::min(double(c.limit), v));
          }
          h[i] = g * refSigmoid(c.alpha * g) * (v + c.beta);
          hm[i] = (gm + std::fabs(g)) * (1 + std::fabs(c.alpha) * gm) *
                  (std::fabs(v) + vm + std::fabs(c.beta));
        } else {
          h[i] = refAct(c.act, u1.v[i]);
          hm[i] = refActMag(c.act, u1.v[i], u1.mag[i]);
          if (c.fc3) {
            hm[i] = hm[i] * std::fabs(u3.v[i]) +
                    std::fabs(h[i]) * (u3.mag[i] + std::fabs(u3.v[i]));
            h[i] *= u3.v[i];
          }
        }
      }
      Ref y = refMatmul(h, 1, w2, e, &hm);
      for (int64_t d = 0; d < c.D; ++d) {
        ref.v[r * c.D + d] = y.v[d] + (c.biases ? b2[e * c.D + d] : 0.0);
        ref.mag[r * c.D + d] =
            y.mag[d] + (c.biases ? std::fabs(b2[e * c.D + d]) : 0.0);
      }
    }

  std::vector<float> out(size_t(R * c.D), NaN);
  parsimony_expert_ffn_f32(
      rows.data(), R, c.D, offsets.data(), sizes.data(), c.E, c.F, TW_ARGS(w1),
      c.biases ? b1.data() : nullptr, TW_ARGS(w2),
      c.biases ? b2.data() : nullptr, c.fc3 ? w3.w() : nullptr, w3.scales(),
      w3.layout(), w3.fmt.bits, w3.fmt.group, w3.fmt.f16 ? 1 : 0,
      c.biases && c.fc3 ? b3.data() : nullptr, c.act, c.fusion, c.alpha, c.beta,
      c.limit, out.data());
  expectClose(out, ref, what, 2e-5);
}

TEST(SpxExpertFfn, ActivationsGatesSwiglu) {
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(14);
    // Ragged groups with an empty expert and unused rows (capacity style).
    std::vector<int64_t> offsets = {0, 3, 3, 8}, sizes = {3, 0, 4, 2};
    const int64_t R = 12;
    for (int act = 0; act <= 5; ++act)
      for (bool fc3 : {false, true}) {
        ExpertCase c;
        c.act = act;
        c.fc3 = fc3;
        c.biases = act % 2 == 0;
        runExperts(rng, c, offsets, sizes, R,
                   cfg + " act " + std::to_string(act) + " fc3 " +
                       std::to_string(fc3));
      }
    for (int fusion : {0, 1, 2})
      for (float limit : {NaN, 0.7f}) {
        ExpertCase c;
        c.act = 6;
        c.fusion = fusion;
        c.fc3 = fusion == 0;
        c.alpha = 1.702f;
        c.beta = 1.0f;
        c.limit = limit;
        runExperts(rng, c, offsets, sizes, R,
                   cfg + " swiglu fusion " + std::to_string(fusion) +
                       " limit " + std::to_string(limit));
      }
  });
}

TEST(SpxExpertFfn, QuantizedStackedFormats) {
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(15);
    std::vector<int64_t> offsets = {0, 2, 2, 7}, sizes = {2, 0, 5, 1};
    std::vector<Format> formats = allFormats();
    for (size_t i = 0; i < formats.size(); ++i) {
      ExpertCase c;
      c.D = 32;
      c.F = 48;
      c.fmt1 = formats[i];
      c.fmt2 = formats[(i + 7) % formats.size()];
      c.fmt3 = formats[(i + 3) % formats.size()];
      c.fc3 = i % 2;
      c.act = i % 3 == 0 ? 6 : int(i % 6);
      c.fusion = c.act == 6 && !c.fc3 ? int(1 + i % 2) : 0;
      runExperts(rng, c, offsets, sizes, 8, cfg + " " + formats[i].name());
    }
  });
}

TEST(SpxExpertFfn, DecodeOnFreshThread) {
  // Single-token decode on a thread whose per-thread scratch was never
  // allocated (a fresh thread, one runtime thread) must still compute.
  std::mt19937 rng(17);
  ExpertCase c;
  c.D = 64;
  c.F = 96;
  std::vector<int64_t> offsets = {0, 0, 0, 1}, sizes = {0, 0, 1, 0};
  parsimony_set_num_threads(1);
  std::thread worker([&] { runExperts(rng, c, offsets, sizes, 1, "fresh"); });
  worker.join();
  parsimony_set_num_threads(0);
}

//===----------------------------------------------------------------------===//
// The whole MoE chain: route -> dispatch -> expert_ffn -> combine.
//===----------------------------------------------------------------------===//

TEST(SpxMoE, ChainMatchesDirectMixture) {
  forEachConfig([](const std::string &cfg) {
    std::mt19937 rng(16);
    const int64_t D = 32, F = 64;
    for (int64_t E : {4, 8})
      for (int64_t k : {1, 2})
        for (int64_t T : {1, 3, 16})
          for (int mode : {0, 1}) {
            TestWeight w1 =
                makeWeight(rng, {32, 0, false, true}, E, D, F, false);
            TestWeight w2 =
                makeWeight(rng, {8, 16, true, true}, E, F, D, false);
            std::vector<float> x = uniform(rng, size_t(T * D));
            std::vector<float> rw = uniform(rng, size_t(D * E));
            std::vector<float> gates(static_cast<size_t>(T * k));
            std::vector<int32_t> experts(static_cast<size_t>(T * k));
            parsimony_route_f32(x.data(), T, D, rw.data(), nullptr, E, k, 1,
                                gates.data(), experts.data(), 0);
            int64_t C = int64_t(std::ceil(double(T) / double(E) * 1.0));
            int64_t R = mode == 0 ? T * k : E * C;
            std::vector<float> rows(static_cast<size_t>(R * D));
            std::vector<int64_t> off(static_cast<size_t>(E)),
                size(static_cast<size_t>(E)), slots(static_cast<size_t>(T * k));
            parsimony_dispatch_f32(x.data(), T, D, experts.data(), 0, k, E,
                                   mode, C, rows.data(), R, off.data(),
                                   size.data(), slots.data());
            std::vector<float> eo(static_cast<size_t>(R * D));
            parsimony_expert_ffn_f32(rows.data(), R, D, off.data(), size.data(),
                                     E, F, TW_ARGS(w1), nullptr, TW_ARGS(w2),
                                     nullptr, NO_WEIGHT, nullptr, 4, 0, 1.0f,
                                     0.0f, NaN, eo.data());
            std::vector<float> y(static_cast<size_t>(T * D));
            parsimony_combine_f32(eo.data(), R, D, slots.data(), 1, T, k,
                                  gates.data(), nullptr, y.data());
            // Direct: y_t = sum_j gate_tj * Expert_{e_tj}(x_t), skipping
            // assignments that capacity mode dropped.
            Ref ref(static_cast<size_t>(T * D));
            for (int64_t t = 0; t < T; ++t)
              for (int64_t j = 0; j < k; ++j) {
                if (slots[t * k + j] < 0)
                  continue;
                int64_t e = experts[t * k + j];
                std::vector<double> xt(x.begin() + t * D,
                                       x.begin() + (t + 1) * D);
                Ref u = refMatmul(xt, 1, w1, e);
                std::vector<double> h(static_cast<size_t>(F)),
                    hm(static_cast<size_t>(F));
                for (int64_t i = 0; i < F; ++i) {
                  h[i] = refAct(4, u.v[i]);
                  hm[i] = refActMag(4, u.v[i], u.mag[i]);
                }
                Ref o = refMatmul(h, 1, w2, e, &hm);
                for (int64_t d = 0; d < D; ++d) {
                  ref.v[t * D + d] += gates[t * k + j] * o.v[d];
                  ref.mag[t * D + d] += std::fabs(gates[t * k + j]) * o.mag[d];
                }
              }
            expectClose(
                y, ref,
                cfg + " E=" + std::to_string(E) + " k=" + std::to_string(k) +
                    " T=" + std::to_string(T) + " mode " + std::to_string(mode),
                2e-5);
          }
  });
}

} // namespace
