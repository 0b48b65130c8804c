//===- BenchGpuFfn.cpp - GPU sparse-FFN decode benchmark ------------------===//
//
//   parsimony-bench-gpu [--layers 12] [--d 768] [--ff 3072] [--k 128]
//                       [--iters 200] [--mode dense|exact|int8|int4|int4g]
//
// A stack of ReLU FFN layers at one token (decode), weights far above the
// GPU's L2 with the default 12 layers (226 MB f32), run through the GPU
// runtime's kernels (the same launchers compiled models call):
//   dense    up GEMV + ReLU + activation-sparse down (parsimony_gpu_sparse_ffn
//            without top-k; ReLU zeros are skipped)
//   exact    the same with Top-k 128 (the down projection reads 128 rows)
//   int8     predicted support: int8 predictor GEMV, top-k 128, then only
//            the 128 chosen up columns and down rows
//   int4     the same with an int4 predictor (stored one value per byte)
//   int4g    the predictor format spx-build-predictors emits: int4 packed
//            two per byte, one f16 scale per 32 values
// and a device-to-device copy as the bandwidth reference. Prints one line
// per mode: bytes the kernels must read per token (all layers), then ms per
// token and GB/s = bytes / time three ways, host wall-clock over `iters`
// tokens, launch overhead included:
//   streamed  tokens launched back to back, one synchronisation at the end
//             (PARSIMONY_GPU_GRAPHS=0);
//   runs      each token its own run, as a compiled model's run is
//             (parsimony_gpu_begin_run ... _end_run, which waits), without
//             CUDA graphs;
//   graphs    the same with graphs: from the third token on, each run
//             replays the token's work from one CUDA graph.
//
//===----------------------------------------------------------------------===//

#include "BenchGpuCommon.h"
#include "parsimony/Runtime/GpuRuntime.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using bench_gpu::now;
using bench_gpu::upload;

struct Layer {
  void *upNk, *downKn;                     // f32 [F, D] both (neuron-major)
  void *pred8, *pred4, *scales8, *scales4; // [F, D] int8 / int4-in-int8
  void *pred4g, *scales4g; // [F, D / 2] packed int4, [F, D / 32] f16
};

/// f32 to f16 bits, rounding to nearest.
uint16_t toHalf(float v) {
  _Float16 h = static_cast<_Float16>(v);
  uint16_t bits;
  std::memcpy(&bits, &h, 2);
  return bits;
}

} // namespace

int main(int argc, char **argv) {
  int64_t L = 12, D = 768, F = 3072, K = 128, iters = 200;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--mode") {
      only = argv[i + 1];
      continue;
    }
    int64_t v = std::atoll(argv[i + 1]);
    if (a == "--layers")
      L = v;
    else if (a == "--d")
      D = v;
    else if (a == "--ff")
      F = v;
    else if (a == "--k")
      K = v;
    else if (a == "--iters")
      iters = v;
  }
  if (parsimony_gpu_begin_run()) {
    std::printf("skipped: no GPU (%s)\n", parsimony_gpu_last_error());
    return 0;
  }
  std::mt19937 rng(0);
  std::normal_distribution<float> normal(0.0f, 1.0f / std::sqrt(float(D)));
  std::vector<Layer> layers(L);
  std::vector<float> w(static_cast<size_t>(F * D));
  std::vector<int8_t> q(static_cast<size_t>(F * D));
  std::vector<float> s(static_cast<size_t>(F));
  for (Layer &layer : layers) {
    for (float &v : w)
      v = normal(rng);
    layer.upNk = upload(w.data(), w.size() * 4);
    // Predictors from the up weights: symmetric per neuron.
    for (int bits : {8, 4}) {
      float qmax = bits == 8 ? 127.0f : 7.0f;
      for (int64_t f = 0; f < F; ++f) {
        float m = 0;
        for (int64_t d = 0; d < D; ++d)
          m = std::max(m, std::fabs(w[f * D + d]));
        s[f] = m > 0 ? m / qmax : 1.0f;
        for (int64_t d = 0; d < D; ++d)
          q[f * D + d] = int8_t(std::lrint(w[f * D + d] / s[f]));
      }
      (bits == 8 ? layer.pred8 : layer.pred4) = upload(q.data(), q.size());
      (bits == 8 ? layer.scales8 : layer.scales4) =
          upload(s.data(), s.size() * 4);
    }
    // Grouped packed int4 (PARSIMONY_INT4_PACKED): byte i of a 32-value
    // block holds value i in its low nibble and value i + 16 in its high.
    std::vector<uint8_t> packed(static_cast<size_t>(F * ((D + 1) / 2)), 0);
    std::vector<uint16_t> halves(static_cast<size_t>(F * D / 32));
    for (int64_t f = 0; f < F; ++f)
      for (int64_t g = 0; g < D / 32; ++g) {
        const float *v = &w[size_t(f * D + g * 32)];
        float m = 0;
        for (int i = 0; i < 32; ++i)
          m = std::max(m, std::fabs(v[i]));
        float scale = m > 0 ? m / 7.0f : 1.0f;
        halves[size_t(f * (D / 32) + g)] = toHalf(scale);
        for (int i = 0; i < 32; ++i) {
          int n = std::max(-8, std::min(7, int(std::lrint(v[i] / scale))));
          uint8_t nibble = uint8_t(n) & 15;
          packed[size_t(f * D / 2 + g * 16 + i % 16)] |=
              i < 16 ? nibble : uint8_t(nibble << 4);
        }
      }
    layer.pred4g = upload(packed.data(), packed.size());
    layer.scales4g = upload(halves.data(), halves.size() * 2);
    for (float &v : w)
      v = normal(rng);
    layer.downKn = upload(w.data(), w.size() * 4);
  }
  std::vector<float> x(static_cast<size_t>(D));
  for (float &v : x)
    v = normal(rng) * std::sqrt(float(D));
  float *act[2] = {static_cast<float *>(upload(x.data(), x.size() * 4)),
                   static_cast<float *>(upload(x.data(), x.size() * 4))};
  int64_t *support =
      static_cast<int64_t *>(mgpuMemAlloc(size_t(K) * 8, nullptr, false));
  if (parsimony_gpu_end_run()) {
    std::printf("error: %s\n", parsimony_gpu_last_error());
    return 1;
  }

  auto token = [&](const std::string &mode) {
    for (int64_t l = 0; l < L; ++l) {
      const Layer &ly = layers[size_t(l)];
      float *in = act[l % 2], *out = act[(l + 1) % 2];
      if (mode == "dense" || mode == "exact") {
        parsimony_gpu_sparse_ffn_f32(
            in, 1, D, F, ly.upNk, nullptr, 1, 32, 0, 0, nullptr, nullptr,
            nullptr, 0, 32, 0, 0, ly.downKn, nullptr, 0, 32, 0, 0, nullptr,
            nullptr, 1, 0, 1, /*relu*/ 1, mode == "exact" ? K : 0,
            /*residual=*/nullptr, out);
      } else {
        if (mode == "int4g")
          parsimony_gpu_predict_support_f32(in, 1, D, F, ly.pred4g, ly.scales4g,
                                            1, 4 | 0x100, 32, 1, nullptr, 0,
                                            nullptr, K, support, 1);
        else if (mode == "int8")
          parsimony_gpu_predict_support_f32(in, 1, D, F, ly.pred8, ly.scales8,
                                            1, 8, 0, 0, nullptr, 0, nullptr, K,
                                            support, 1);
        else
          parsimony_gpu_predict_support_f32(in, 1, D, F, ly.pred4, ly.scales4,
                                            1, 4, 0, 0, nullptr, 0, nullptr, K,
                                            support, 1);
        parsimony_gpu_sparse_ffn_f32(in, 1, D, F, ly.upNk, nullptr, 1, 32, 0, 0,
                                     nullptr, nullptr, nullptr, 0, 32, 0, 0,
                                     ly.downKn, nullptr, 0, 32, 0, 0, nullptr,
                                     support, 1, K, 1, /*relu*/ 1, 0,
                                     /*residual=*/nullptr, out);
      }
    }
  };
  // Bytes each mode must read per token (weights; activations are tiny).
  double fullLayer = 2.0 * double(F) * double(D) * 4;
  double relu = 0.5; // ReLU of a symmetric pre-activation keeps about half
  double bytes[] = {
      L * (F * D * 4.0 + relu * F * D * 4.0),          // dense (ReLU rows)
      L * (F * D * 4.0 + K * D * 4.0),                 // exact top-k
      L * (F * D * 1.0 + F * 4.0 + 2.0 * K * D * 4.0), // int8 predictor
      L * (F * D * 1.0 + F * 4.0 + 2.0 * K * D * 4.0), // int4 (byte each)
      L * (F * D * 0.5 + F * D / 32 * 2.0 + 2.0 * K * D * 4.0)}; // int4g
  (void)fullLayer;
  const char *modes[] = {"dense", "exact", "int8", "int4", "int4g"};

  // The bandwidth reference: a device-to-device copy of 1 GiB.
  size_t copyBytes = size_t(1) << 30;
  void *a = mgpuMemAlloc(copyBytes, nullptr, false);
  void *b = mgpuMemAlloc(copyBytes, nullptr, false);
  parsimony_gpu_begin_run();
  mgpuMemcpy(b, a, copyBytes, nullptr);
  double t0 = now();
  for (int i = 0; i < 5; ++i)
    mgpuMemcpy(b, a, copyBytes, nullptr);
  parsimony_gpu_end_run();
  double copyGBs = 5.0 * 2.0 * double(copyBytes) / (now() - t0) / 1e9;
  std::printf("device copy: %.0f GB/s (read + write)\n", copyGBs);
  std::printf("layers %lld, d %lld, ff %lld, k %lld, %lld tokens per mode\n",
              (long long)L, (long long)D, (long long)F, (long long)K,
              (long long)iters);
  enum class Timing { Streamed, Runs, Graphs };
  // ms per token; negative on a runtime error.
  auto time = [&](const char *mode, Timing how) {
    setenv("PARSIMONY_GPU_GRAPHS", how == Timing::Graphs ? "1" : "0", 1);
    auto runs = [&](int64_t n) {
      bool ok = true;
      if (how == Timing::Streamed) {
        parsimony_gpu_begin_run();
        for (int64_t i = 0; i < n; ++i)
          token(mode);
        return parsimony_gpu_end_run() == 0;
      }
      for (int64_t i = 0; i < n; ++i) {
        parsimony_gpu_begin_run();
        token(mode);
        ok &= parsimony_gpu_end_run() == 0;
      }
      return ok;
    };
    if (!runs(5))
      return -1.0;
    double start = now();
    if (!runs(iters))
      return -1.0;
    return (now() - start) * 1e3 / double(iters);
  };
  std::printf("%-6s %8s  %-18s %-18s %-18s\n", "mode", "MB read",
              "streamed ms GB/s", "runs ms GB/s", "graphs ms GB/s");
  for (int m = 0; m < 5; ++m) {
    if (!only.empty() && only != modes[m])
      continue;
    if (m == 4 && D % 32) {
      std::printf("int4g  skipped: d must be a multiple of 32\n");
      continue;
    }
    std::printf("%-6s %8.1f", modes[m], bytes[m] / 1e6);
    for (Timing how : {Timing::Streamed, Timing::Runs, Timing::Graphs}) {
      double ms = time(modes[m], how);
      if (ms < 0) {
        std::printf("\nerror: %s\n", parsimony_gpu_last_error());
        return 1;
      }
      std::printf("  %8.4f %7.1f", ms, bytes[m] / (ms * 1e-3) / 1e9);
    }
    std::printf("\n");
  }
  int64_t captured, replayed;
  parsimony_gpu_replay_counts(&captured, &replayed);
  std::printf("CUDA graphs captured %lld, launched %lld\n", (long long)captured,
              (long long)replayed);
  return 0;
}
