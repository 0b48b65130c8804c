//===- GpuKernelsTest.cpp - the GPU kernel library against the CPU kernels ===//
//
// Runs every parsimony_gpu_* launcher of GpuRuntime.h, unchanged, on the
// emulated CUDA driver (GpuEmulator/): the kernels of GpuKernels.cu run as
// host code on fibers, with "device" memory in host memory, so the
// launchers get host buffers. Each result is compared with the CPU kernel
// of the same name (SpxKernels.h, Kernels.h), which SpxKernelsTest.cpp
// checks against double-precision references.
//
// Tolerances: continuous random data agrees to 2e-5 of the output's
// largest magnitude (f32 sums of a few hundred terms in another order).
// Anything that selects (top-k, predicted supports, routing, dispatch)
// runs on small-integer data with power-of-two scales, where f32 is exact,
// and must match exactly, ties included.
//
// What this cannot check: timing, memory coalescing, and races between
// blocks (blocks run one after another).
//
//===----------------------------------------------------------------------===//

#include "parsimony/Runtime/GpuRuntime.h"
#include "parsimony/Runtime/Kernels.h"

#include "KernelTestData.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern "C" int64_t parsimony_emulator_launches();
extern "C" int32_t parsimony_emulator_has_kernel(const char *name);
extern "C" int64_t parsimony_emulator_graph_launches();
extern "C" void *mgpuMemAlloc(uint64_t, void *, bool);
extern "C" void mgpuMemFree(void *, void *);
extern "C" void mgpuMemcpy(void *, void *, size_t, void *);

namespace {

using namespace kernel_test;

constexpr float NaN = std::numeric_limits<float>::quiet_NaN();

/// Runs `body` between the GPU runtime's run brackets and fails with the
/// runtime's first error if a launch failed.
void onGpu(const std::string &what, const std::function<void()> &body) {
  ASSERT_EQ(parsimony_gpu_begin_run(), 0) << parsimony_gpu_last_error();
  body();
  EXPECT_EQ(parsimony_gpu_end_run(), 0)
      << what << ": " << parsimony_gpu_last_error();
}

/// Selects the tensor-core kernels (the default) or the f32 SIMT ones for
/// products of many rows, for the scope.
class TensorCores {
public:
  explicit TensorCores(bool on) {
    setenv("PARSIMONY_GPU_TENSOR_CORES", on ? "1" : "0", 1);
  }
  ~TensorCores() { unsetenv("PARSIMONY_GPU_TENSOR_CORES"); }
  TensorCores(const TensorCores &) = delete;
  TensorCores &operator=(const TensorCores &) = delete;
};

/// |gpu - cpu| <= tol * max(1, largest |cpu|), NaN where the CPU has NaN,
/// the same infinity where it has one.
void expectNear(const std::vector<float> &gpu, const std::vector<float> &cpu,
                const std::string &what, double tol = 2e-5) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  double scale = 1.0;
  for (float v : cpu)
    if (std::isfinite(v))
      scale = std::max(scale, double(std::fabs(v)));
  int failures = 0;
  for (size_t i = 0; i < cpu.size() && failures < 5; ++i) {
    bool good = std::isnan(cpu[i]) ? std::isnan(gpu[i])
                : std::isinf(cpu[i])
                    ? gpu[i] == cpu[i]
                    : std::fabs(double(gpu[i]) - cpu[i]) <= tol * scale;
    if (!good) {
      ADD_FAILURE() << what << ": element " << i << " gpu " << gpu[i] << " cpu "
                    << cpu[i];
      ++failures;
    }
  }
}

/// Bitwise equality (NaN included).
template <typename T>
void expectSame(const std::vector<T> &gpu, const std::vector<T> &cpu,
                const std::string &what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < cpu.size() && failures < 5; ++i)
    if (std::memcmp(&gpu[i], &cpu[i], sizeof(T)) != 0) {
      ADD_FAILURE() << what << ": element " << i << " gpu " << gpu[i] << " cpu "
                    << cpu[i];
      ++failures;
    }
}

TEST(GpuKernels, EmulatorRunsEveryLibraryKernel) {
  std::ifstream ptx(PARSIMONY_GPU_KERNELS_PTX);
  ASSERT_TRUE(ptx) << "missing " << PARSIMONY_GPU_KERNELS_PTX;
  std::stringstream text;
  text << ptx.rdbuf();
  std::string s = text.str();
  std::regex entry(R"(\.entry\s+([A-Za-z_][A-Za-z0-9_]*))");
  int count = 0;
  for (std::sregex_iterator it(s.begin(), s.end(), entry), end; it != end;
       ++it, ++count)
    EXPECT_EQ(parsimony_emulator_has_kernel((*it)[1].str().c_str()), 1)
        << (*it)[1].str() << " is in the kernel library but not in "
        << "unittests/GpuEmulator/EmulatedDriver.cpp's table";
  EXPECT_GT(count, 20);
}

TEST(GpuKernels, SgemmEveryKernelAndTransposition) {
  std::mt19937 rng(1);
  for (int64_t M : {1, 3, 8, 9, 67})
    for (int64_t N : {1, 40, 130})
      for (int64_t K : {1, 23, 70})
        for (int transA : {0, 1})
          for (int transB : {0, 1})
            for (float beta : {0.0f, 0.5f})
              for (bool tensorCores : {true, false}) {
                if (!tensorCores && M <= 8)
                  continue; // the same kernels either way
                TensorCores scope(tensorCores);
                const int64_t batch = 2;
                int64_t lda = transA ? M : K, ldb = transB ? K : N;
                // B is shared by both batch items when M is odd.
                int64_t strideB = M % 2 ? 0 : K * N;
                std::vector<float> A = uniform(rng, size_t(batch * M * K));
                std::vector<float> B = uniform(rng, size_t(batch * K * N));
                std::vector<float> cpu = uniform(rng, size_t(batch * M * N));
                std::vector<float> gpu = cpu;
                parsimony_sgemm_batched(batch, M, N, K, 0.75f, A.data(), lda,
                                        M * K, transA, B.data(), ldb, strideB,
                                        transB, beta, cpu.data(), N, M * N);
                std::string what =
                    "M=" + std::to_string(M) + " N=" + std::to_string(N) +
                    " K=" + std::to_string(K) + " trans " +
                    std::to_string(transA) + std::to_string(transB) +
                    " beta=" + std::to_string(beta) +
                    (tensorCores ? " tensor cores" : " SIMT");
                onGpu(what, [&] {
                  parsimony_gpu_sgemm_batched(batch, M, N, K, 0.75f, A.data(),
                                              lda, M * K, transA, B.data(), ldb,
                                              strideB, transB, beta, gpu.data(),
                                              N, M * N);
                });
                expectNear(gpu, cpu, what);
              }
}

TEST(GpuKernels, TensorCoreGemmIsF32AccurateWithInfAndNaN) {
  // 3xTF32 must stay within the f32 tolerance where a single TF32 product
  // (10-bit mantissas) would not: operands span 2^-8..2^8 and K is long.
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> exponent(-8, 8);
  const int64_t M = 130, N = 72, K = 333;
  auto spread = [&](size_t n) {
    std::vector<float> v = uniform(rng, n);
    for (float &x : v)
      x = std::ldexp(x, exponent(rng));
    return v;
  };
  std::vector<float> A = spread(size_t(M * K)), B = spread(size_t(K * N));
  for (bool special : {false, true}) {
    if (special) {
      // The partners of the infinities are exact in TF32 (their low half is
      // 0), where hi(inf) lo(b) would be inf * 0 = NaN.
      for (int64_t n = 0; n < N; ++n)
        B[size_t(17 * N + n)] = n % 2 ? 1.5f : -2.0f;
      for (int64_t m = 0; m < M; ++m)
        A[size_t(m * K + 3)] = m % 2 ? 0.75f : -4.0f;
      A[size_t(5 * K + 17)] = std::numeric_limits<float>::infinity();
      B[size_t(3 * N + 40)] = -std::numeric_limits<float>::infinity();
      A[size_t(100 * K + 2)] = NaN;
    }
    std::vector<float> cpu(size_t(M * N)), gpu(size_t(M * N), 7.0f);
    parsimony_sgemm_batched(1, M, N, K, 1.0f, A.data(), K, 0, 0, B.data(), N, 0,
                            0, 0.0f, cpu.data(), N, 0);
    std::string what = special ? "with inf and NaN" : "finite";
    onGpu(what, [&] {
      parsimony_gpu_sgemm_batched(1, M, N, K, 1.0f, A.data(), K, 0, 0, B.data(),
                                  N, 0, 0, 0.0f, gpu.data(), N, 0);
    });
    expectNear(gpu, cpu, what);
    if (special) {
      EXPECT_TRUE(std::isinf(gpu[size_t(5 * N)])) << gpu[size_t(5 * N)];
      EXPECT_TRUE(std::isnan(gpu[size_t(100 * N + 1)]));
    }
  }
}

std::vector<Format> everyFormat() {
  std::vector<Format> formats = allFormats();
  for (const Format &f : quantFormats())
    if (f.packed)
      formats.push_back(f);
  return formats;
}

using MatmulKernel = void (*)(const float *, int64_t, int64_t, int64_t,
                              PARSIMONY_WEIGHT_PARAMS(weight), float *);

/// A [T, K] x [K, N] product kernel against its CPU twin on every weight
/// format, with `zeros` of the inputs zeroed, for each token count.
void compareMatmulEveryFormat(MatmulKernel cpuKernel, MatmulKernel gpuKernel,
                              unsigned seed, int64_t K, int64_t N, double zeros,
                              std::vector<int64_t> tokens) {
  std::mt19937 rng(seed);
  for (const Format &fmt : everyFormat()) {
    TestWeight w = makeWeight(rng, fmt, 1, K, N, false);
    for (int64_t T : tokens) {
      std::vector<float> in = uniform(rng, size_t(T * K));
      if (zeros > 0)
        sparsify(rng, in, zeros);
      std::vector<float> cpu(size_t(T * N)), gpu(size_t(T * N), NaN);
      cpuKernel(in.data(), T, K, N, TW_ARGS(w), cpu.data());
      std::string what = fmt.name() + " T=" + std::to_string(T);
      onGpu(what,
            [&] { gpuKernel(in.data(), T, K, N, TW_ARGS(w), gpu.data()); });
      expectNear(gpu, cpu, what);
    }
  }
}

TEST(GpuKernels, QuantMatmulEveryFormat) {
  compareMatmulEveryFormat(parsimony_quant_matmul_f32,
                           parsimony_gpu_quant_matmul_f32, 2, 64, 96, 0.0,
                           {1, 3, 70}); // 70: tensor cores
}

/// 8-bit activations for parsimony_quant_matmul_u8_f32: T x K random bytes
/// (read as uint8 or int8).
std::vector<uint8_t> randomBytes(std::mt19937 &rng, size_t n, int lo = 0,
                                 int hi = 255) {
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<uint8_t> v(n);
  for (uint8_t &b : v)
    b = uint8_t(dist(rng));
  return v;
}

/// sum over k in [k0, k1) of (x[t, k] - zp) * q(k, n), exactly: the integer
/// part of the u8 product for a quantized weight.
int64_t integerSum(const TestWeight &w, const std::vector<uint8_t> &x,
                   bool isSigned, int zp, int64_t t, int64_t n, int64_t k0,
                   int64_t k1) {
  int64_t sum = 0;
  for (int64_t k = k0; k < k1; ++k) {
    uint8_t byte = x[size_t(t * w.K + k)];
    int xv = isSigned ? int(int8_t(byte)) : int(byte);
    int q = w.q[size_t(w.storedIndex(0, k, n))];
    if (w.fmt.bits == 4) // sign-extended or a raw nibble
      q = (q & 8) ? (q & 7) - 8 : (q & 7);
    sum += int64_t(xv - zp) * q;
  }
  return sum;
}

float scaleOf(const TestWeight &w, int64_t k, int64_t n) {
  int64_t s = w.scaleIndex(0, k, n);
  return w.fmt.f16 ? float(refHalf(w.s16[size_t(s)])) : w.s32[size_t(s)];
}

/// The u8 product against its exact integer sums: with a per-channel
/// quantized weight, float(sum) * scale bit for bit; with groups, the
/// groups' scaled sums to f32 rounding (1e-6 of the largest output).
void expectIntegerProduct(const std::vector<float> &gpu, const TestWeight &w,
                          const std::vector<uint8_t> &x, bool isSigned, int zp,
                          int64_t T, const std::string &what) {
  int64_t K = w.K, N = w.N;
  std::vector<float> ref(size_t(T * N));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      if (w.fmt.group == 0) {
        ref[size_t(t * N + n)] =
            float(integerSum(w, x, isSigned, zp, t, n, 0, K)) *
            scaleOf(w, 0, n);
        continue;
      }
      double v = 0.0;
      for (int64_t g0 = 0; g0 < K; g0 += w.fmt.group)
        v +=
            double(integerSum(w, x, isSigned, zp, t, n, g0, g0 + w.fmt.group)) *
            scaleOf(w, g0, n);
      ref[size_t(t * N + n)] = float(v);
    }
  if (w.fmt.group == 0)
    expectSame(gpu, ref, what + " (exact integer sums)");
  else
    expectNear(gpu, ref, what + " (integer sums per group)", 1e-6);
}

/// One u8 product on the GPU and the CPU: the GPU's integer part is checked
/// exactly (quantized weights, no epilogue), the whole against the CPU
/// kernel (2e-5 of the largest output: the CPU's f32 fallback rounds its
/// sums, and its epilogue's erf/exp differ in the last bits). With
/// zpInMemory the GPU reads the zero point from a byte (zero_point_at) and
/// its zero_point argument is a wrong value that must not be used.
void compareU8Product(std::mt19937 &rng, const TestWeight &w, int64_t T,
                      bool isSigned, int zp, bool zpInMemory,
                      int32_t activation, bool epilogue,
                      const std::string &what) {
  int64_t K = w.K, N = w.N;
  std::vector<uint8_t> x = randomBytes(rng, size_t(T * K));
  std::vector<float> bias, residual;
  if (epilogue) {
    bias = uniform(rng, size_t(N), -20.0f, 20.0f);
    residual = uniform(rng, size_t(T * N), -20.0f, 20.0f);
  }
  const float *b = epilogue ? bias.data() : nullptr;
  const float *r = epilogue ? residual.data() : nullptr;
  std::vector<float> cpu(size_t(T * N)), gpu(size_t(T * N), NaN);
  parsimony_quant_matmul_u8_f32(x.data(), T, K, N, TW_ARGS(w), isSigned, zp, b,
                                activation, r, cpu.data());
  // Read when the run's queued work runs, at its end.
  uint8_t zpByte = uint8_t(zp);
  onGpu(what, [&] {
    parsimony_gpu_quant_matmul_u8_f32(
        x.data(), T, K, N, TW_ARGS(w), isSigned, zpInMemory ? 77 : zp,
        zpInMemory ? &zpByte : nullptr, b, activation, r, gpu.data());
  });
  expectNear(gpu, cpu, what);
  if (!epilogue && activation == 0 && w.fmt.bits != 32)
    expectIntegerProduct(gpu, w, x, isSigned, zp, T, what);
}

TEST(GpuKernels, QuantMatmulU8EveryFormat) {
  // Every weight format at K = 48 (vector loads, groups of 16), 70 (not a
  // multiple of 4: element by element) and 96 (packed int4, groups of 32
  // and 64); T = 1 and 3 (warp / thread per output), 17 and 64 (tensor
  // cores) and 17 on the SIMT kernels. The runs alternate u8 and s8
  // activations and cycle their zero points over each type's range, three
  // in seven read from memory (zero_point_at); every fifth has a bias, an
  // activation (codes 0-5 in turn) and a residual.
  std::mt19937 rng(31);
  const int64_t N = 96;
  const int u8Points[] = {0, 131, 255}, s8Points[] = {0, -128, 127};
  struct Run {
    int64_t T;
    bool tensorCores;
  };
  int count = 0;
  for (const Format &fmt : everyFormat())
    for (int64_t K : {48, 70, 96}) {
      if ((fmt.group && K % fmt.group) || (fmt.packed && K != 96))
        continue;
      TestWeight w = makeWeight(rng, fmt, 1, K, N, false,
                                /*rawNibbles=*/fmt.bits == 4 && !fmt.packed);
      for (Run run : {Run{1, true}, Run{3, true}, Run{17, true}, Run{17, false},
                      Run{64, true}}) {
        TensorCores scope(run.tensorCores);
        bool isSigned = count % 2;
        int zp = (isSigned ? s8Points : u8Points)[count / 2 % 3];
        bool zpInMemory = count % 7 < 3;
        bool epilogue = count % 5 == 4;
        int32_t activation = epilogue ? int32_t(count / 5 % 6) : 0;
        std::string what =
            fmt.name() + " K=" + std::to_string(K) +
            " T=" + std::to_string(run.T) + (isSigned ? " s8" : " u8") +
            " zp=" + std::to_string(zp) + (zpInMemory ? " at" : "") +
            (run.tensorCores ? "" : " SIMT") +
            (epilogue ? " epilogue act " + std::to_string(activation) : "");
        compareU8Product(rng, w, run.T, isSigned, zp, zpInMemory, activation,
                         epilogue, what);
        ++count;
      }
    }
}

TEST(GpuKernels, QuantMatmulU8IntegerSumsPastF32) {
  // Same-signed products whose sums pass 2^24 (f32 would round them): the
  // GPU's integer sums stay exact on every kernel (int8 weights nk and
  // kn), the tensor-core one across several moves of its f32 accumulators
  // into int32 (K = 1056 is 66 slices of 16).
  std::mt19937 rng(32);
  const int64_t K = 1056, N = 40;
  for (Format fmt : {Format{8, 0, false, true}, Format{8, 0, true, false}})
    for (bool isSigned : {false, true}) {
      TestWeight w = makeWeight(rng, fmt, 1, K, N, false);
      std::uniform_int_distribution<int> big(100, 127);
      for (int8_t &q : w.q)
        q = int8_t(big(rng));
      // x - zp in [200, 255] (u8, zp 0) or [-255, -200] (s8, zp 127).
      int zp = isSigned ? 127 : 0;
      for (int64_t T : {1, 3, 70}) {
        std::vector<uint8_t> x =
            isSigned ? randomBytes(rng, size_t(T * K), 128, 183)
                     : randomBytes(rng, size_t(T * K), 200, 255);
        std::vector<float> gpu(size_t(T * N), NaN);
        std::string what =
            fmt.name() + (isSigned ? " s8" : " u8") + " T=" + std::to_string(T);
        onGpu(what, [&] {
          parsimony_gpu_quant_matmul_u8_f32(x.data(), T, K, N, TW_ARGS(w),
                                            isSigned, zp, nullptr, nullptr, 0,
                                            nullptr, gpu.data());
        });
        EXPECT_GT(std::fabs(integerSum(w, x, isSigned, zp, 0, 0, 0, K)),
                  double(1 << 24))
            << what;
        expectIntegerProduct(gpu, w, x, isSigned, zp, T, what);
      }
    }
}

TEST(GpuKernels, TopkActivationTiesNaNAndLongRows) {
  std::mt19937 rng(3);
  struct Case {
    int64_t outer, axis, inner, k;
  };
  for (Case c : {Case{2, 37, 3, 5}, Case{1, 37, 1, 1}, Case{3, 64, 1, 63},
                 Case{2, 64, 1, 64}, Case{2, 30, 2, 0}, Case{1, 5000, 1, 100},
                 Case{1, 3072, 2, 128}}) {
    size_t n = size_t(c.outer * c.axis * c.inner);
    // Few distinct values: many ties at the cut.
    std::vector<float> in = integers(rng, n, -4, 4);
    in[1] = NaN;
    in[2] = -0.0f;
    std::vector<float> cpu(n), gpu(n, NaN);
    parsimony_topk_activation_f32(in.data(), cpu.data(), c.outer, c.axis,
                                  c.inner, c.k, 0, 1.0f);
    std::string what = "outer " + std::to_string(c.outer) + " axis " +
                       std::to_string(c.axis) + " inner " +
                       std::to_string(c.inner) + " k " + std::to_string(c.k);
    onGpu(what, [&] {
      parsimony_gpu_topk_activation_f32(in.data(), gpu.data(), c.outer, c.axis,
                                        c.inner, c.k, 0, 1.0f);
    });
    expectSame(gpu, cpu, what);
  }
}

TEST(GpuKernels, SparseMatmulEveryFormat) {
  compareMatmulEveryFormat(parsimony_sparse_matmul_f32,
                           parsimony_gpu_sparse_matmul_f32, 4, 320, 64, 0.7,
                           {1, 3});
}

/// Indices in [-1, range + 2): out-of-range ones and duplicates included.
std::vector<int64_t> randomSupport(std::mt19937 &rng, size_t n, int64_t range) {
  std::uniform_int_distribution<int64_t> pick(-1, range + 1);
  std::vector<int64_t> v(n);
  for (int64_t &x : v)
    x = pick(rng);
  return v;
}

template <typename T> std::vector<T> narrow(const std::vector<int64_t> &v) {
  return std::vector<T>(v.begin(), v.end());
}

TEST(GpuKernels, SupportMatmulBothSides) {
  std::mt19937 rng(5);
  const int64_t K = 64, N = 96, S = 12, T = 3;
  for (const Format &fmt : everyFormat())
    for (int side : {0, 1})
      for (int i64 : {0, 1}) {
        TestWeight w = makeWeight(rng, fmt, 1, K, N, false);
        std::vector<int64_t> support =
            randomSupport(rng, size_t(T * S), side == 0 ? N : K);
        std::vector<int32_t> support32 = narrow<int32_t>(support);
        const void *sup = i64 ? static_cast<const void *>(support.data())
                              : static_cast<const void *>(support32.data());
        std::vector<float> in = uniform(rng, size_t(T * (side == 0 ? K : S)));
        size_t outN = size_t(T * (side == 0 ? S : N));
        std::vector<float> cpu(outN), gpu(outN, NaN);
        parsimony_support_matmul_f32(in.data(), T, K, N, TW_ARGS(w), sup, i64,
                                     S, side, cpu.data());
        std::string what = fmt.name() + " side " + std::to_string(side) +
                           " i64 " + std::to_string(i64);
        onGpu(what, [&] {
          parsimony_gpu_support_matmul_f32(in.data(), T, K, N, TW_ARGS(w), sup,
                                           i64, S, side, gpu.data());
        });
        expectNear(gpu, cpu, what);
      }
}

TEST(GpuKernels, PredictSupportQuantizedAndLowRank) {
  std::mt19937 rng(6);
  const int64_t K = 64, N = 96, rank = 8;
  std::vector<Format> predictors = {{8, 0, false, true},
                                    {8, 32, true, true},
                                    {4, 32, true, true, true},
                                    {4, 0, false, false},
                                    {32, 0, false, false}};
  for (const Format &fmt : predictors)
    for (bool lowRank : {false, true})
      for (int64_t T : {1, 4})
        for (int64_t k : {int64_t(7), int64_t(40), N + 2})
          for (int i64 : {0, 1}) {
            if (lowRank && fmt.bits != 32)
              continue;
            TestWeight w = makeWeight(rng, fmt, 1, K, lowRank ? rank : N, true);
            std::vector<float> factor = integers(rng, size_t(rank * N), -2, 2);
            std::vector<float> bias = integers(rng, size_t(N), -3, 3);
            std::vector<float> x = integers(rng, size_t(T * K), -2, 2);
            size_t n = size_t(T * k);
            std::vector<int64_t> cpu(n), gpu(n, -7);
            std::vector<int32_t> cpu32(n), gpu32(n, -7);
            void *cpuOut = i64 ? static_cast<void *>(cpu.data()) : cpu32.data();
            void *gpuOut = i64 ? static_cast<void *>(gpu.data()) : gpu32.data();
            const float *f = lowRank ? factor.data() : nullptr;
            parsimony_predict_support_f32(x.data(), T, K, N, TW_ARGS(w), f,
                                          rank, bias.data(), k, cpuOut, i64);
            std::string what = fmt.name() + (lowRank ? " low rank" : "") +
                               " T=" + std::to_string(T) +
                               " k=" + std::to_string(k);
            onGpu(what, [&] {
              parsimony_gpu_predict_support_f32(x.data(), T, K, N, TW_ARGS(w),
                                                f, rank, bias.data(), k, gpuOut,
                                                i64);
            });
            if (i64)
              expectSame(gpu, cpu, what);
            else
              expectSame(gpu32, cpu32, what);
          }
}

TEST(GpuKernels, PredictorRoundsActivationsLikeTheCpu) {
  // On CPUs with AVX-512 VNNI a quantized predictor scores 8-bit rounded
  // activations on exact integer dot products; the GPU does the same, so
  // continuous activations pick the same supports. A token with a NaN is
  // scored in f32 on both (checked alone: the CPU then scores every token
  // of the call in f32, the GPU only that token).
  if (!cpuHasVnni())
    GTEST_SKIP() << "the CPU scores predictors in f32 without AVX-512 VNNI";
  std::mt19937 rng(9);
  const int64_t K = 128, N = 200, k = 24;
  for (const Format &fmt :
       {Format{8, 0, false, true}, Format{8, 0, true, true},
        Format{4, 0, false, true, true}, Format{4, 32, true, true, true},
        Format{4, 32, false, true, true}, Format{4, 64, true, true, true},
        Format{4, 128, false, true, true}})
    for (int64_t T : {1, 3}) {
      TestWeight w = makeWeight(rng, fmt, 1, K, N, false);
      std::vector<float> x = uniform(rng, size_t(T * K), -3.0f, 3.0f);
      std::vector<float> bias = uniform(rng, size_t(N), -0.1f, 0.1f);
      std::vector<int64_t> cpu(size_t(T * k)), gpu(size_t(T * k), -7);
      parsimony_predict_support_f32(x.data(), T, K, N, TW_ARGS(w), nullptr, 0,
                                    bias.data(), k, cpu.data(), 1);
      std::string what = fmt.name() + " T=" + std::to_string(T);
      onGpu(what, [&] {
        parsimony_gpu_predict_support_f32(x.data(), T, K, N, TW_ARGS(w),
                                          nullptr, 0, bias.data(), k,
                                          gpu.data(), 1);
      });
      expectSame(gpu, cpu, what);
      if (T == 1) {
        x[5] = NaN; // every score NaN: the lowest k indices, on both
        parsimony_predict_support_f32(x.data(), T, K, N, TW_ARGS(w), nullptr, 0,
                                      bias.data(), k, cpu.data(), 1);
        onGpu(what + " NaN", [&] {
          parsimony_gpu_predict_support_f32(x.data(), T, K, N, TW_ARGS(w),
                                            nullptr, 0, bias.data(), k,
                                            gpu.data(), 1);
        });
        expectSame(gpu, cpu, what + " NaN");
      }
    }
}

TEST(GpuKernels, SparseFfnEveryMode) {
  std::mt19937 rng(7);
  const int64_t D = 64, F = 96;
  struct WeightPair {
    Format up, down;
  };
  std::vector<WeightPair> pairs = {
      {{32, 0, false, true}, {32, 0, false, false}},
      {{32, 0, false, false}, {32, 0, false, true}},
      {{8, 0, true, true}, {8, 32, false, false}},
      {{4, 32, true, true, true}, {4, 32, true, false, true}},
  };
  for (const WeightPair &p : pairs)
    // Every activation on the f32 pair; the quantized pairs with ReLU.
    for (int activation : {1, 2, 4})
      if (&p == &pairs[0] || activation == 1)
        for (bool gated : {false, true})
          for (int supportMode : {0, 1, 2}) // none, block 1 i32, block 3 i64
            for (int64_t topk : {int64_t(0), int64_t(9), int64_t(60)})
              for (int64_t T : {1, 5}) {
                TestWeight up = makeWeight(rng, p.up, 1, D, F, false);
                TestWeight gate = makeWeight(rng, p.up, 1, D, F, false);
                TestWeight down = makeWeight(rng, p.down, 1, F, D, false);
                std::vector<float> upBias =
                    uniform(rng, size_t(F), -0.2f, 0.2f);
                std::vector<float> downBias = uniform(rng, size_t(D));
                std::vector<float> residual = uniform(rng, size_t(T * D));
                std::vector<float> x = uniform(rng, size_t(T * D));
                const int64_t S = 20;
                std::vector<int64_t> support =
                    randomSupport(rng, size_t(T * S), F);
                std::vector<int32_t> support32 = narrow<int32_t>(support);
                const void *sup =
                    supportMode == 0 ? nullptr
                    : supportMode == 1
                        ? static_cast<const void *>(support32.data())
                        : static_cast<const void *>(support.data());
                int64_t block = supportMode == 2 ? 3 : 1;
                int32_t i64 = supportMode == 2;
                const float *res = T == 5 ? residual.data() : nullptr;
                std::vector<float> cpu(size_t(T * D)), gpu(size_t(T * D), NaN);
                auto run = [&](auto kernel, float *y) {
                  kernel(x.data(), T, D, F, TW_ARGS(up), upBias.data(),
                         gated ? gate.w() : nullptr, gate.scales(),
                         gate.layout(), gate.fmt.abiBits(), gate.fmt.group,
                         gate.fmt.f16 ? 1 : 0, TW_ARGS(down), downBias.data(),
                         sup, i64, S, block, activation, topk, res, y);
                };
                run(parsimony_sparse_ffn_f32, cpu.data());
                std::string what =
                    p.up.name() + "/" + p.down.name() + " act " +
                    std::to_string(activation) + (gated ? " gated" : "") +
                    " support " + std::to_string(supportMode) + " topk " +
                    std::to_string(topk) + " T=" + std::to_string(T);
                onGpu(what,
                      [&] { run(parsimony_gpu_sparse_ffn_f32, gpu.data()); });
                expectNear(gpu, cpu, what);
              }
}

/// One expert_ffn configuration: ORT activation, SwiGLU fusion mode, and
/// whether fc3 is given.
struct ExpertAct {
  int activation, fusion;
  bool fc3;
};

struct ExpertOutputs {
  std::vector<float> cpu, gpu;
};

/// expert_ffn over `rows` grouped by offsets/sizes, with random weights of
/// `fmt`, on the CPU and the GPU; the outputs are compared.
ExpertOutputs compareExpertFfn(std::mt19937 &rng,
                               const std::vector<float> &rows, int64_t R,
                               int64_t D, int64_t F,
                               const std::vector<int64_t> &offsets,
                               const std::vector<int64_t> &sizes, ExpertAct a,
                               Format fmt, const std::string &what) {
  int64_t E = int64_t(offsets.size());
  int64_t fc1N = a.fusion ? 2 * F : F;
  TestWeight fc1 = makeWeight(rng, fmt, E, D, fc1N, false);
  TestWeight fc2 = makeWeight(rng, fmt, E, F, D, false);
  TestWeight fc3 = makeWeight(rng, fmt, E, D, F, false);
  std::vector<float> b1 = uniform(rng, size_t(E * fc1N));
  std::vector<float> b2 = uniform(rng, size_t(E * D));
  std::vector<float> b3 = uniform(rng, size_t(E * F));
  ExpertOutputs out{std::vector<float>(size_t(R * D)),
                    std::vector<float>(size_t(R * D), NaN)};
  auto run = [&](auto kernel, float *y) {
    kernel(rows.data(), R, D, offsets.data(), sizes.data(), E, F, TW_ARGS(fc1),
           b1.data(), TW_ARGS(fc2), b2.data(), a.fc3 ? fc3.w() : nullptr,
           fc3.scales(), fc3.layout(), fc3.fmt.abiBits(), fc3.fmt.group,
           fc3.fmt.f16 ? 1 : 0, b3.data(), a.activation, a.fusion, 1.702f, 1.0f,
           7.0f, y);
  };
  run(parsimony_expert_ffn_f32, out.cpu.data());
  std::string stage = what + " expert_ffn act " + std::to_string(a.activation) +
                      " fusion " + std::to_string(a.fusion) + " " + fmt.name();
  onGpu(stage, [&] { run(parsimony_gpu_expert_ffn_f32, out.gpu.data()); });
  expectNear(out.gpu, out.cpu, stage);
  return out;
}

TEST(GpuKernels, MixtureOfExpertsStages) {
  std::mt19937 rng(8);
  const int64_t T = 7, D = 32, F = 64, E = 4;
  for (int64_t k : {1, 2})
    for (int normalize : {0, 1})
      for (int mode : {0, 1}) {
        // route: integer logits, so the choice is exact (ties included).
        std::vector<float> x = integers(rng, size_t(T * D), -2, 2);
        std::vector<float> routerW = integers(rng, size_t(D * E), -1, 1);
        std::vector<float> routerB = integers(rng, size_t(E), -1, 1);
        std::vector<float> gates(size_t(T * k)), gatesGpu(size_t(T * k), NaN);
        std::vector<int64_t> experts(size_t(T * k)),
            expertsGpu(size_t(T * k), -7);
        parsimony_route_f32(x.data(), T, D, routerW.data(), routerB.data(), E,
                            k, normalize, gates.data(), experts.data(), 1);
        std::string what = "k=" + std::to_string(k) +
                           " normalize=" + std::to_string(normalize) +
                           " mode=" + std::to_string(mode);
        onGpu(what + " route", [&] {
          parsimony_gpu_route_f32(x.data(), T, D, routerW.data(),
                                  routerB.data(), E, k, normalize,
                                  gatesGpu.data(), expertsGpu.data(), 1);
        });
        expectSame(expertsGpu, experts, what + " experts");
        expectNear(gatesGpu, gates, what + " gates");

        // dispatch: capacity 2 drops assignments.
        const int64_t capacity = 2;
        int64_t R = mode == 0 ? T * k : E * capacity;
        std::vector<float> rows(size_t(R * D)), rowsGpu(size_t(R * D), NaN);
        std::vector<int64_t> offsets(static_cast<size_t>(E)),
            sizes(static_cast<size_t>(E)), slots(size_t(T * k));
        std::vector<int64_t> offsetsGpu(size_t(E), -7), sizesGpu(size_t(E), -7),
            slotsGpu(size_t(T * k), -7);
        parsimony_dispatch_f32(x.data(), T, D, experts.data(), 1, k, E, mode,
                               capacity, rows.data(), R, offsets.data(),
                               sizes.data(), slots.data());
        onGpu(what + " dispatch", [&] {
          parsimony_gpu_dispatch_f32(x.data(), T, D, experts.data(), 1, k, E,
                                     mode, capacity, rowsGpu.data(), R,
                                     offsetsGpu.data(), sizesGpu.data(),
                                     slotsGpu.data());
        });
        expectSame(rowsGpu, rows, what + " rows");
        expectSame(offsetsGpu, offsets, what + " offsets");
        expectSame(sizesGpu, sizes, what + " sizes");
        expectSame(slotsGpu, slots, what + " slots");

        // expert_ffn over those groups: every activation and SwiGLU form.
        std::vector<float> rowsIn = uniform(rng, size_t(R * D));
        std::vector<float> combineIn;
        for (ExpertAct a : {ExpertAct{1, 0, false}, ExpertAct{2, 0, true},
                            ExpertAct{4, 0, false}, ExpertAct{6, 0, true},
                            ExpertAct{6, 1, false}, ExpertAct{6, 2, false}})
          for (Format fmt :
               {Format{32, 0, false, false}, Format{8, 32, true, true},
                Format{4, 32, false, true, true}}) {
            combineIn = compareExpertFfn(rng, rowsIn, R, D, F, offsets, sizes,
                                         a, fmt, what)
                            .cpu;
          }

        // combine with a residual.
        std::vector<float> residual = uniform(rng, size_t(T * D));
        std::vector<float> y(size_t(T * D)), yGpu(size_t(T * D), NaN);
        parsimony_combine_f32(combineIn.data(), R, D, slots.data(), 1, T, k,
                              gates.data(), residual.data(), y.data());
        onGpu(what + " combine", [&] {
          parsimony_gpu_combine_f32(combineIn.data(), R, D, slots.data(), 1, T,
                                    k, gates.data(), residual.data(),
                                    yGpu.data());
        });
        expectNear(yGpu, y, what + " combine");
      }
}

TEST(GpuKernels, ExpertFfnGroupedOverRaggedGroups) {
  // Enough rows for the grouped tensor-core GEMMs: groups of 70 (two row
  // tiles, the second partial), 0, 25 and 40 rows and one of 10, with rows
  // 95-99 in no group (as capacity drops leave them) and must be zero.
  std::mt19937 rng(12);
  const int64_t R = 150, D = 64, F = 96;
  std::vector<int64_t> offsets = {0, 70, 70, 100, 140};
  std::vector<int64_t> sizes = {70, 0, 25, 40, 10};
  std::vector<float> rows = uniform(rng, size_t(R * D));
  for (ExpertAct a :
       {ExpertAct{1, 0, false}, ExpertAct{2, 0, true}, ExpertAct{6, 0, true},
        ExpertAct{6, 1, false}, ExpertAct{6, 2, false}})
    for (Format fmt : {Format{32, 0, false, false}, Format{32, 0, false, true},
                       Format{8, 32, true, true}, Format{4, 0, false, false},
                       Format{4, 64, true, true, true}})
      for (bool tensorCores : {true, false}) {
        TensorCores scope(tensorCores);
        std::string what = tensorCores ? "tensor cores" : "SIMT";
        std::vector<float> outGpu =
            compareExpertFfn(rng, rows, R, D, F, offsets, sizes, a, fmt, what)
                .gpu;
        for (int64_t r = 95; r < 100; ++r)
          EXPECT_EQ(outGpu[size_t(r * D)], 0.0f) << what << " row " << r;
      }
}

/// One decode-like run as a model's generated code does it: device
/// buffers from mgpuMemAlloc, the input copied in (and the host buffer
/// overwritten right after: the copy must have read it), dense up
/// projection, top-k, sparse down projection, the output copied out.
std::vector<float> decodeRun(std::vector<float> input, int64_t T,
                             const std::vector<float> &up,
                             const std::vector<float> &down) {
  const int64_t D = 48, F = 160, k = 16;
  std::vector<float> out(size_t(T * D), NaN);
  onGpu("decode run", [&] {
    auto *x = static_cast<float *>(mgpuMemAlloc(T * D * 4, nullptr, false));
    auto *h = static_cast<float *>(mgpuMemAlloc(T * F * 4, nullptr, false));
    auto *y = static_cast<float *>(mgpuMemAlloc(T * D * 4, nullptr, false));
    mgpuMemcpy(x, input.data(), input.size() * 4, nullptr);
    std::fill(input.begin(), input.end(), NaN);
    parsimony_gpu_quant_matmul_f32(x, T, D, F, up.data(), nullptr, 0, 32, 0, 0,
                                   h);
    parsimony_gpu_topk_activation_f32(h, h, T, F, 1, k, 0, 1.0f);
    parsimony_gpu_sparse_matmul_f32(h, T, F, D, down.data(), nullptr, 0, 32, 0,
                                    0, y);
    mgpuMemcpy(out.data(), y, out.size() * 4, nullptr);
    mgpuMemFree(y, nullptr);
    mgpuMemFree(h, nullptr);
    mgpuMemFree(x, nullptr);
  });
  return out;
}

/// Selects whether runs replay from CUDA graphs, for the scope.
class Graphs {
public:
  explicit Graphs(bool on) {
    setenv("PARSIMONY_GPU_GRAPHS", on ? "1" : "0", 1);
  }
  ~Graphs() { unsetenv("PARSIMONY_GPU_GRAPHS"); }
  Graphs(const Graphs &) = delete;
  Graphs &operator=(const Graphs &) = delete;
};

TEST(GpuKernels, RepeatedRunsReplayFromAGraph) {
  std::mt19937 rng(21);
  const int64_t D = 48, F = 160, T = 2;
  std::vector<float> up = uniform(rng, size_t(D * F));
  std::vector<float> down = uniform(rng, size_t(F * D));
  std::vector<std::vector<float>> inputs, eager;
  for (int i = 0; i < 5; ++i)
    inputs.push_back(uniform(rng, size_t(T * D)));
  {
    Graphs off(false);
    for (const std::vector<float> &in : inputs)
      eager.push_back(decodeRun(in, T, up, down));
  }
  int64_t captured0, replayed0;
  parsimony_gpu_replay_counts(&captured0, &replayed0);
  int64_t graphLaunches0 = parsimony_emulator_graph_launches();
  // The first run is issued directly, the second is captured and launched
  // as a graph, the rest replay it; each with its own input.
  for (size_t i = 0; i < inputs.size(); ++i)
    expectSame(decodeRun(inputs[i], T, up, down), eager[i],
               "run " + std::to_string(i));
  int64_t captured, replayed;
  parsimony_gpu_replay_counts(&captured, &replayed);
  EXPECT_EQ(captured - captured0, 1);
  EXPECT_EQ(replayed - replayed0, 4);
  EXPECT_EQ(parsimony_emulator_graph_launches() - graphLaunches0, 4);
  // Other work (another token count) does not match the graph: it runs
  // directly, with the right result.
  std::vector<float> three = uniform(rng, size_t(3 * D));
  std::vector<float> threeEager;
  {
    Graphs off(false);
    threeEager = decodeRun(three, 3, up, down);
  }
  expectSame(decodeRun(three, 3, up, down), threeEager, "T = 3");
  parsimony_gpu_replay_counts(&captured, &replayed);
  EXPECT_EQ(replayed - replayed0, 4);
  // Back to the first shape: replayed again.
  expectSame(decodeRun(inputs[0], T, up, down), eager[0], "run 0 again");
  parsimony_gpu_replay_counts(&captured, &replayed);
  EXPECT_EQ(captured - captured0, 1);
  EXPECT_EQ(replayed - replayed0, 5);
}

TEST(GpuKernels, RunsFromTwoThreadsTakeTurns) {
  std::mt19937 rng(22);
  const int64_t D = 48, F = 160, T = 2;
  std::vector<float> up = uniform(rng, size_t(D * F));
  std::vector<float> down = uniform(rng, size_t(F * D));
  std::vector<float> inputs[2] = {uniform(rng, size_t(T * D)),
                                  uniform(rng, size_t(T * D))};
  std::vector<float> expected[2];
  for (int t = 0; t < 2; ++t)
    expected[t] = decodeRun(inputs[t], T, up, down);
  std::vector<float> got[2][3];
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i)
        got[t][i] = decodeRun(inputs[t], T, up, down);
    });
  for (std::thread &thread : threads)
    thread.join();
  for (int t = 0; t < 2; ++t)
    for (int i = 0; i < 3; ++i)
      expectSame(got[t][i], expected[t],
                 "thread " + std::to_string(t) + " run " + std::to_string(i));
}

TEST(GpuKernels, OversizedLaunchIsAnErrorNotACrash) {
  int64_t before = parsimony_emulator_launches();
  ASSERT_EQ(parsimony_gpu_begin_run(), 0);
  // 2^32 slices: more blocks than one launch can have; nothing is read.
  parsimony_gpu_topk_activation_f32(nullptr, nullptr, int64_t(1) << 20, 4,
                                    int64_t(1) << 12, 2, 0, 1.0f);
  EXPECT_EQ(parsimony_gpu_end_run(), 1);
  EXPECT_NE(std::string(parsimony_gpu_last_error()).find("too large"),
            std::string::npos)
      << parsimony_gpu_last_error();
  EXPECT_EQ(parsimony_emulator_launches(), before);
  // The next run starts clean.
  ASSERT_EQ(parsimony_gpu_begin_run(), 0);
  EXPECT_EQ(parsimony_gpu_end_run(), 0);
}

} // namespace
