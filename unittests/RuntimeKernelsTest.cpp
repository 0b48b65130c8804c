//===- RuntimeKernelsTest.cpp - tests of the runtime sgemm ABI ------------===//
//
// Compares parsimony_sgemm / parsimony_sgemm_batched against a naive
// double-accumulated reference on every ISA path the CPU supports (scalar,
// AVX2, AVX-512, forced with parsimony_set_isa) and with 1 and 2 threads.
//
// Tolerance: |got - ref| <= 1e-5 * sqrt(K + 1) * (|alpha| * sum_p |a_ip b_pj|
// + |beta c_ij|) + 1e-30, i.e. a relative error of 1e-5 * sqrt(K) measured
// against the magnitude of the terms (float summation of K products has a
// worst-case error of about K * 6e-8, well inside this bound for K < 25000).
//
// Operand padding (ld > row length) is filled with NaN, so any read outside
// the logical matrix poisons the result; C padding holds a sentinel that must
// survive; with beta == 0, C starts as NaN and must be overwritten.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Runtime/Kernels.h"

#include "ReferenceActivations.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

constexpr float NaN = std::numeric_limits<float>::quiet_NaN();
constexpr float Sentinel = 12345.0f;

/// A stored row-major matrix with padding columns filled with `pad`.
struct Stored {
  int64_t rows = 0, cols = 0, ld = 0;
  std::vector<float> data;

  Stored(int64_t rows, int64_t cols, int64_t pad, std::mt19937 &rng,
         float padValue = NaN)
      : rows(rows), cols(cols), ld(cols + pad) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    data.assign(size_t(std::max<int64_t>(rows * ld, 1)), padValue);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        data[i * ld + j] = dist(rng);
  }
  float at(int64_t i, int64_t j) const { return data[i * ld + j]; }
};

/// One GEMM problem with its operands and a copy of C's initial contents.
struct Problem {
  int64_t m, n, k;
  bool transA, transB;
  float alpha, beta;
  Stored a, b, c;
  std::vector<float> c0;

  Problem(int64_t m, int64_t n, int64_t k, bool transA, bool transB,
          float alpha, float beta, int64_t pad, std::mt19937 &rng)
      : m(m), n(n), k(k), transA(transA), transB(transB), alpha(alpha),
        beta(beta), a(transA ? k : m, transA ? m : k, pad, rng),
        b(transB ? n : k, transB ? k : n, pad, rng),
        c(m, n, pad, rng, Sentinel) {
    if (beta == 0.0f)
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j)
          c.data[i * c.ld + j] = NaN;
    c0 = c.data;
  }

  float opA(int64_t i, int64_t p) const {
    return transA ? a.at(p, i) : a.at(i, p);
  }
  float opB(int64_t p, int64_t j) const {
    return transB ? b.at(j, p) : b.at(p, j);
  }

  void run() {
    parsimony_sgemm(m, n, k, alpha, a.data.data(), a.ld, transA, b.data.data(),
                    b.ld, transB, beta, c.data.data(), c.ld);
  }

  /// Checks c against the reference; returns the number of mismatches and
  /// reports the first few.
  int check(const std::string &what) const {
    int errors = 0;
    double tol = 1e-5 * std::sqrt(double(k) + 1.0);
    for (int64_t i = 0; i < c.rows; ++i)
      for (int64_t j = 0; j < c.ld; ++j) {
        float got = c.data[i * c.ld + j];
        if (j >= n) {
          if (got != Sentinel && errors++ < 5)
            ADD_FAILURE() << what << ": C padding overwritten at (" << i << ", "
                          << j << ")";
          continue;
        }
        double sum = 0.0, mag = 0.0;
        for (int64_t p = 0; p < k; ++p) {
          double t = double(opA(i, p)) * double(opB(p, j));
          sum += t;
          mag += std::fabs(t);
        }
        double ref = double(alpha) * sum;
        mag *= std::fabs(double(alpha));
        if (beta != 0.0f) {
          double c0ij = c0[i * c.ld + j];
          ref += double(beta) * c0ij;
          mag += std::fabs(double(beta) * c0ij);
        }
        if (!(std::fabs(double(got) - ref) <= tol * mag + 1e-30) &&
            errors++ < 5)
          ADD_FAILURE() << what << ": C(" << i << ", " << j << ") = " << got
                        << ", expected " << ref << " (tolerance " << tol * mag
                        << ")";
      }
    return errors;
  }
};

std::string describe(int64_t m, int64_t n, int64_t k, bool ta, bool tb,
                     float beta, int64_t pad) {
  return "M=" + std::to_string(m) + " N=" + std::to_string(n) +
         " K=" + std::to_string(k) + " transA=" + std::to_string(ta) +
         " transB=" + std::to_string(tb) + " beta=" + std::to_string(beta) +
         " pad=" + std::to_string(pad);
}

/// Test fixture parameterised by (ISA, thread count). Skips ISAs the CPU
/// lacks; restores the defaults afterwards.
class SgemmTest : public ::testing::TestWithParam<std::tuple<int, int>> {
protected:
  void SetUp() override {
    int isa = std::get<0>(GetParam());
    if (parsimony_set_isa(isa) != isa)
      GTEST_SKIP() << "CPU does not support ISA path " << isa;
    parsimony_set_num_threads(std::get<1>(GetParam()));
  }
  void TearDown() override {
    parsimony_set_isa(PARSIMONY_ISA_AVX512);
    parsimony_set_num_threads(0);
  }
};

/// Shapes around every blocking boundary: micro-tile heights (14, 6, 4),
/// panel widths (32, 16), the streaming limits (4 or 8 rows), kc = 256,
/// mc = 252, and the 512-column task width.
const int64_t EdgeSizes[] = {0, 1, 2, 4, 5, 7, 13, 15, 17, 33, 64, 129};

TEST_P(SgemmTest, EdgeShapesAllTransposes) {
  std::mt19937 rng(1234);
  for (int64_t m : EdgeSizes)
    for (int64_t n : EdgeSizes)
      for (int64_t k :
           {int64_t(0), int64_t(1), int64_t(7), int64_t(33), int64_t(129)})
        for (int t = 0; t < 4; ++t) {
          bool ta = t & 1, tb = t & 2;
          float beta = (m + n + k + t) % 3 == 0   ? 0.0f
                       : (m + n + k + t) % 3 == 1 ? 1.0f
                                                  : 0.5f;
          int64_t pad = (m + n + t) % 2 ? 3 : 0;
          Problem p(m, n, k, ta, tb, 1.0f, beta, pad, rng);
          p.run();
          if (p.check(describe(m, n, k, ta, tb, beta, pad)))
            return;
        }
}

TEST_P(SgemmTest, RandomShapes) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> size(1, 300);
  const float betas[] = {0.0f, 1.0f, 0.5f};
  for (int it = 0; it < 40; ++it) {
    int64_t m = size(rng), n = size(rng), k = size(rng);
    bool ta = rng() & 1, tb = rng() & 1;
    float beta = betas[rng() % 3];
    float alpha = (rng() & 1) ? 1.0f : -0.75f;
    int64_t pad = rng() % 5;
    Problem p(m, n, k, ta, tb, alpha, beta, pad, rng);
    p.run();
    if (p.check(describe(m, n, k, ta, tb, beta, pad)))
      return;
  }
}

TEST_P(SgemmTest, LargeBlockedShapes) {
  // Crosses kc (256), mc (252) and the per-task column width, with padding.
  std::mt19937 rng(7);
  struct Shape {
    int64_t m, n, k;
  };
  for (Shape s :
       {Shape{300, 700, 600}, Shape{128, 768, 512}, Shape{520, 96, 300}})
    for (int t = 0; t < 4; ++t) {
      bool ta = t & 1, tb = t & 2;
      Problem p(s.m, s.n, s.k, ta, tb, 0.5f, t == 1 ? 0.0f : 0.25f, 5, rng);
      p.run();
      if (p.check(describe(s.m, s.n, s.k, ta, tb, p.beta, 5)))
        return;
    }
}

TEST_P(SgemmTest, StreamingShapes) {
  // GEMV and small-M / small-N products large enough to run threaded.
  std::mt19937 rng(99);
  struct Shape {
    int64_t m, n, k;
  };
  for (Shape s :
       {Shape{1, 3072, 768}, Shape{1, 768, 3072}, Shape{3, 1000, 900},
        Shape{4, 2049, 513}, Shape{2000, 1, 700}, Shape{1500, 3, 1001},
        Shape{1, 1, 5000}, Shape{5, 1000, 900}, Shape{8, 3072, 768},
        Shape{6, 513, 1025}, Shape{2000, 8, 700}, Shape{9, 700, 600},
        // Row-group streaming (9..40 rows against B^T, K <= 1024).
        Shape{16, 3072, 768}, Shape{23, 1001, 700}, Shape{40, 515, 1024},
        Shape{12, 2049, 96},
        // Unpacked micro-kernels (9..64 rows against a row-major B), with
        // partial last panels and more than one K block.
        Shape{64, 1000, 300}, Shape{41, 33, 2000}, Shape{17, 3072, 1027}})
    for (int t = 0; t < 4; ++t) {
      bool ta = t & 1, tb = t & 2;
      float beta = t == 1 || t == 2 ? 0.5f : 0.0f;
      Problem p(s.m, s.n, s.k, ta, tb, 1.25f, beta, 1, rng);
      p.run();
      if (p.check(describe(s.m, s.n, s.k, ta, tb, beta, 1)))
        return;
    }
}

TEST_P(SgemmTest, ZeroAlphaScalesC) {
  std::mt19937 rng(3);
  for (float beta : {0.0f, 0.5f}) {
    Problem p(9, 40, 17, false, false, 0.0f, beta, 2, rng);
    p.run();
    EXPECT_EQ(p.check("alpha=0"), 0);
  }
}

/// Batched GEMM: distinct, broadcast (stride 0) and padded strides.
TEST_P(SgemmTest, Batched) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  struct Shape {
    int64_t batch, m, n, k;
  };
  for (Shape s :
       {Shape{3, 17, 40, 33}, Shape{12, 128, 64, 128}, Shape{12, 1, 128, 64},
        Shape{5, 70, 3, 50}, Shape{2, 200, 300, 260}, Shape{4, 0, 5, 5}})
    for (int variant = 0; variant < 4; ++variant) {
      bool ta = variant & 1, tb = variant & 2;
      bool broadcastA = variant == 1, broadcastB = variant == 2 || variant == 3;
      int64_t lda = (ta ? s.m : s.k) + 1, ldb = (tb ? s.k : s.n) + 2;
      int64_t ldc = s.n + 3;
      int64_t sizeA = (ta ? s.k : s.m) * lda, sizeB = (tb ? s.n : s.k) * ldb;
      int64_t strideA = broadcastA ? 0 : sizeA + 7;
      int64_t strideB = broadcastB ? 0 : sizeB + 5;
      int64_t strideC = s.m * ldc + 11;
      std::vector<float> a(size_t(strideA * s.batch + sizeA + 1));
      std::vector<float> b(size_t(strideB * s.batch + sizeB + 1));
      for (float &x : a)
        x = dist(rng);
      for (float &x : b)
        x = dist(rng);
      float beta = variant == 3 ? 0.5f : 0.0f;
      std::vector<float> c(size_t(strideC * s.batch + 1), NaN);
      if (beta != 0.0f)
        for (float &x : c)
          x = dist(rng);
      std::vector<float> c0 = c;
      parsimony_sgemm_batched(s.batch, s.m, s.n, s.k, 1.0f, a.data(), lda,
                              strideA, ta, b.data(), ldb, strideB, tb, beta,
                              c.data(), ldc, strideC);
      double tol = 1e-5 * std::sqrt(double(s.k) + 1.0);
      int errors = 0;
      for (int64_t q = 0; q < s.batch; ++q)
        for (int64_t i = 0; i < s.m; ++i)
          for (int64_t j = 0; j < s.n; ++j) {
            double sum = 0.0, mag = 0.0;
            for (int64_t p = 0; p < s.k; ++p) {
              float x = ta ? a[q * strideA + p * lda + i]
                           : a[q * strideA + i * lda + p];
              float y = tb ? b[q * strideB + j * ldb + p]
                           : b[q * strideB + p * ldb + j];
              sum += double(x) * y;
              mag += std::fabs(double(x) * y);
            }
            int64_t at = q * strideC + i * ldc + j;
            if (beta != 0.0f) {
              sum += double(beta) * c0[at];
              mag += std::fabs(double(beta) * c0[at]);
            }
            if (!(std::fabs(c[at] - sum) <= tol * mag + 1e-30) && errors++ < 5)
              ADD_FAILURE() << "batch " << s.batch << " M=" << s.m
                            << " N=" << s.n << " K=" << s.k << " variant "
                            << variant << ": item " << q << " C(" << i << ", "
                            << j << ") = " << c[at] << ", expected " << sum;
          }
      if (errors)
        return;
    }
}

/// parsimony_sgemm_epilogue against act(A B + bias) + R in double, every
/// activation, with and without bias and residual, on shapes that take the
/// streaming (M or N <= 8, both orientations), row-group streaming (9..40
/// rows against B^T), unpacked (9..64 rows against B) and blocked paths. The
/// activations are polynomial approximations: allowed error 2e-6 relative
/// to the magnitude of the terms plus the GEMM tolerance above.
TEST_P(SgemmTest, FusedEpilogue) {
  std::mt19937 rng(99);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const int64_t shapes[][3] = {{1, 37, 64},   {5, 300, 40},   {300, 3, 70},
                               {33, 65, 17},  {130, 520, 96}, {7, 1, 300},
                               {20, 1100, 96}};
  for (const auto &shape : shapes) {
    int64_t m = shape[0], n = shape[1], k = shape[2];
    for (int tb = 0; tb < 2; ++tb)
      for (int code = 0; code <= 5; ++code)
        for (int parts = 0; parts < 4; ++parts) {
          bool withBias = parts & 1, withResidual = parts & 2;
          std::vector<float> a(m * k), b(k * n), bias(n), r(m * (n + 3)),
              c(m * n, NaN);
          for (float &v : a)
            v = dist(rng);
          for (float &v : b)
            v = 2.0f * dist(rng);
          for (float &v : bias)
            v = dist(rng);
          for (float &v : r)
            v = dist(rng);
          parsimony_sgemm_epilogue(m, n, k, a.data(), k, b.data(), tb ? k : n,
                                   tb, withBias ? bias.data() : nullptr, code,
                                   withResidual ? r.data() : nullptr, n + 3,
                                   c.data(), n);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              double sum = 0, mag = 0;
              for (int64_t q = 0; q < k; ++q) {
                double bv = tb ? b[j * k + q] : b[q * n + j];
                sum += double(a[i * k + q]) * bv;
                mag += std::fabs(double(a[i * k + q]) * bv);
              }
              double pre = sum + (withBias ? bias[j] : 0.0);
              double want =
                  refAct(code, pre) + (withResidual ? r[i * (n + 3) + j] : 0.0);
              double tol = 1e-5 * std::sqrt(double(k + 1)) * (mag + 1) +
                           2e-6 * (std::fabs(want) + 1);
              double got = c[i * n + j];
              if (!(std::fabs(got - want) <= tol)) {
                ADD_FAILURE()
                    << "M=" << m << " N=" << n << " K=" << k << " transB=" << tb
                    << " activation=" << code << " bias=" << withBias
                    << " residual=" << withResidual << " at (" << i << ", " << j
                    << "): got " << got << ", want " << want;
                return;
              }
            }
        }
  }
}

std::string
paramName(const ::testing::TestParamInfo<std::tuple<int, int>> &info) {
  static const char *const Names[] = {"Scalar", "Avx2", "Avx512"};
  return std::string(Names[std::get<0>(info.param)]) + "_" +
         std::to_string(std::get<1>(info.param)) + "Threads";
}

INSTANTIATE_TEST_SUITE_P(
    IsaAndThreads, SgemmTest,
    ::testing::Combine(::testing::Values(PARSIMONY_ISA_SCALAR,
                                         PARSIMONY_ISA_AVX2,
                                         PARSIMONY_ISA_AVX512),
                       ::testing::Values(1, 2)),
    paramName);

TEST(RuntimeKernels, ThreadCount) {
  parsimony_set_num_threads(1);
  EXPECT_EQ(parsimony_get_num_threads(), 1);
  parsimony_set_num_threads(3);
  EXPECT_EQ(parsimony_get_num_threads(), 3);
  parsimony_set_num_threads(0);
  EXPECT_GE(parsimony_get_num_threads(), 1);
}

TEST(RuntimeKernels, IsaSelection) {
  int best = parsimony_set_isa(PARSIMONY_ISA_AVX512);
  EXPECT_GE(best, PARSIMONY_ISA_SCALAR);
  EXPECT_LE(best, PARSIMONY_ISA_AVX512);
  EXPECT_EQ(parsimony_get_isa(), best);
  // A request above what the CPU has is lowered, never raised.
  EXPECT_EQ(parsimony_set_isa(PARSIMONY_ISA_SCALAR), PARSIMONY_ISA_SCALAR);
  EXPECT_LE(parsimony_set_isa(PARSIMONY_ISA_AVX2), PARSIMONY_ISA_AVX2);
  parsimony_set_isa(PARSIMONY_ISA_AVX512);
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) {
    EXPECT_EQ(best, PARSIMONY_ISA_AVX512);
  }
#endif
}

TEST(RuntimeKernels, ConcurrentCallers) {
  // Several application threads calling at once: one gets the pool, the
  // others run inline; all must be correct.
  parsimony_set_num_threads(2);
  std::vector<std::thread> callers;
  std::vector<int> errors(4, 0);
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([t, &errors] {
      std::mt19937 rng(100 + t);
      for (int it = 0; it < 6; ++it) {
        int64_t m = t == 0 ? 1 : 60 + 13 * t, n = 200 + 7 * it, k = 150;
        Problem p(m, n, k, it & 1, it & 2, 1.0f, 0.0f, 1, rng);
        p.run();
        errors[t] += p.check("concurrent caller " + std::to_string(t));
      }
    });
  for (std::thread &c : callers)
    c.join();
  for (int e : errors)
    EXPECT_EQ(e, 0);
  parsimony_set_num_threads(0);
}

} // namespace

// Regression: the transposed-B streaming path (decode GEMV against a PyTorch
// Linear weight) needs no scratch; on a thread whose scratch arena was never
// used it returned without computing anything.
TEST(RuntimeKernels, StreamingTransposedBOnAFreshThread) {
  const int64_t m = 1, n = 3072, k = 768;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> a(m * k), b(n * k);
  for (float &v : a)
    v = dist(rng);
  for (float &v : b)
    v = dist(rng);
  for (float beta : {0.0f, 1.0f}) {
    std::vector<float> c(m * n, 0.0f);
    std::thread fresh([&] {
      parsimony_sgemm(m, n, k, 1.0f, a.data(), k, 0, b.data(), k, 1, beta,
                      c.data(), n);
    });
    fresh.join();
    double worst = 0, scale = 0;
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0;
      for (int64_t p = 0; p < k; ++p)
        ref += double(a[p]) * b[j * k + p];
      worst = std::max(worst, std::fabs(ref - c[j]));
      scale = std::max(scale, std::fabs(ref));
    }
    EXPECT_LT(worst, 1e-5 * std::sqrt(double(k)) * scale) << "beta " << beta;
  }
}
