//===- BenchGpuGemm.cpp - GPU prefill GEMM benchmark ----------------------===//
//
//   parsimony-bench-gpu-gemm [--tokens 512] [--d 768] [--ff 3072]
//                            [--experts 8] [--iters 50]
//
// The many-row products of a prefill, through the GPU runtime's launchers
// (the ones compiled models call), each on tensor cores (mma.sync TF32,
// 3xTF32 for f32 accuracy) and on the f32 SIMT kernels
// (PARSIMONY_GPU_TENSOR_CORES=0), measured in the same run:
//   sgemm    f32 [tokens, d] x [d, ff] (parsimony_gpu_sgemm_batched)
//   int8     the same with int8 per-channel weights dequantized in the
//            kernel (parsimony_gpu_quant_matmul_f32)
//   moe      a top-2 ReLU expert FFN over `experts` experts, rows split
//            evenly (parsimony_gpu_expert_ffn_f32: grouped GEMMs)
// Prints ms per call and TFLOP/s (2 * multiply-adds / time). Timings are
// host wall-clock over `iters` calls with one synchronisation at the end.
// bench/gpu/cublas_gemm.py times cuBLAS on the sgemm shape.
//
//===----------------------------------------------------------------------===//

#include "BenchGpuCommon.h"
#include "parsimony/Runtime/GpuRuntime.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

using bench_gpu::now;
using bench_gpu::upload;

std::vector<float> normals(std::mt19937 &rng, size_t n, float scale) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float &x : v)
    x = normal(rng);
  return v;
}

} // namespace

int main(int argc, char **argv) {
  int64_t T = 512, D = 768, F = 3072, E = 8, iters = 50;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    int64_t v = std::atoll(argv[i + 1]);
    if (a == "--tokens")
      T = v;
    else if (a == "--d")
      D = v;
    else if (a == "--ff")
      F = v;
    else if (a == "--experts")
      E = v;
    else if (a == "--iters")
      iters = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (T <= 0 || D <= 0 || F <= 0 || E <= 0 || iters <= 0) {
    std::fprintf(stderr, "sizes and --iters must be positive\n");
    return 2;
  }
  // Kernel throughput: launches go straight to the stream (no queueing or
  // CUDA graph replay, which only saves launch overhead).
  setenv("PARSIMONY_GPU_GRAPHS", "0", 1);
  if (parsimony_gpu_begin_run()) {
    std::printf("skipped: no GPU (%s)\n", parsimony_gpu_last_error());
    return 0;
  }
  std::mt19937 rng(0);
  float ws = 1.0f / std::sqrt(float(D));
  std::vector<float> x = normals(rng, size_t(T * D), 1.0f);
  std::vector<float> w = normals(rng, size_t(D * F), ws);
  // int8 per output channel, [D, F] (kn).
  std::vector<int8_t> q(w.size());
  std::vector<float> scales(static_cast<size_t>(F));
  for (int64_t n = 0; n < F; ++n) {
    float m = 0;
    for (int64_t k = 0; k < D; ++k)
      m = std::max(m, std::fabs(w[size_t(k * F + n)]));
    scales[size_t(n)] = m > 0 ? m / 127.0f : 1.0f;
    for (int64_t k = 0; k < D; ++k)
      q[size_t(k * F + n)] =
          int8_t(std::lrint(w[size_t(k * F + n)] / scales[size_t(n)]));
  }
  // MoE: 2 rows per token, R / E rows per expert.
  int64_t R = 2 * T;
  std::vector<int64_t> offsets(static_cast<size_t>(E)),
      sizes(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) {
    offsets[size_t(e)] = e * R / E;
    sizes[size_t(e)] = (e + 1) * R / E - e * R / E;
  }
  std::vector<float> rows = normals(rng, size_t(R * D), 1.0f);
  std::vector<float> fc1 = normals(rng, size_t(E * D * F), ws);
  std::vector<float> fc2 =
      normals(rng, size_t(E * F * D), 1.0f / std::sqrt(float(F)));

  auto *dx = static_cast<float *>(upload(x.data(), x.size() * 4));
  auto *dw = static_cast<float *>(upload(w.data(), w.size() * 4));
  void *dq = upload(q.data(), q.size());
  void *ds = upload(scales.data(), scales.size() * 4);
  auto *dy = static_cast<float *>(
      mgpuMemAlloc(size_t(std::max(T * F, R * D)) * 4, nullptr, false));
  auto *doff = static_cast<int64_t *>(upload(offsets.data(), size_t(E) * 8));
  auto *dsz = static_cast<int64_t *>(upload(sizes.data(), size_t(E) * 8));
  auto *drows = static_cast<float *>(upload(rows.data(), rows.size() * 4));
  void *dfc1 = upload(fc1.data(), fc1.size() * 4);
  void *dfc2 = upload(fc2.data(), fc2.size() * 4);
  if (parsimony_gpu_end_run()) {
    std::printf("error: %s\n", parsimony_gpu_last_error());
    return 1;
  }

  struct Case {
    const char *name;
    double flops;
    std::function<void()> call;
  };
  std::vector<Case> cases = {
      {"sgemm", 2.0 * T * D * F,
       [&] {
         parsimony_gpu_sgemm_batched(1, T, F, D, 1.0f, dx, D, 0, 0, dw, F, 0, 0,
                                     0.0f, dy, F, 0);
       }},
      {"int8", 2.0 * T * D * F,
       [&] {
         parsimony_gpu_quant_matmul_f32(dx, T, D, F, dq, ds, 0, 8, 0, 0, dy);
       }},
      {"moe", 2.0 * 2.0 * R * D * F, [&] {
         parsimony_gpu_expert_ffn_f32(
             drows, R, D, doff, dsz, E, F, dfc1, nullptr, 0, 32, 0, 0, nullptr,
             dfc2, nullptr, 0, 32, 0, 0, nullptr, nullptr, nullptr, 0, 32, 0, 0,
             nullptr, /*relu*/ 1, 0, 1.0f, 0.0f, NAN, dy);
       }}};
  std::printf("tokens %lld, d %lld, ff %lld, experts %lld (top-2), %lld "
              "calls per case\n",
              (long long)T, (long long)D, (long long)F, (long long)E,
              (long long)iters);
  for (const Case &c : cases) {
    double ms[2];
    for (int tc = 0; tc < 2; ++tc) {
      setenv("PARSIMONY_GPU_TENSOR_CORES", tc ? "1" : "0", 1);
      parsimony_gpu_begin_run();
      for (int i = 0; i < 3; ++i)
        c.call();
      parsimony_gpu_end_run();
      double start = now();
      parsimony_gpu_begin_run();
      for (int64_t i = 0; i < iters; ++i)
        c.call();
      if (parsimony_gpu_end_run()) {
        std::printf("error: %s\n", parsimony_gpu_last_error());
        return 1;
      }
      ms[tc] = (now() - start) * 1e3 / double(iters);
    }
    std::printf("%-6s simt %8.3f ms %6.2f TFLOP/s   tensor cores %8.3f ms "
                "%6.2f TFLOP/s   speedup %.2fx\n",
                c.name, ms[0], c.flops / (ms[0] * 1e-3) / 1e12, ms[1],
                c.flops / (ms[1] * 1e-3) / 1e12, ms[0] / ms[1]);
  }
  return 0;
}
