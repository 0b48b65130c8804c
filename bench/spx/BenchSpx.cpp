//===- BenchSpx.cpp - spx kernel benchmark --------------------------------===//
//
// Times the spx runtime kernels on BERT-base FFN shapes (d = 768, ff = 3072)
// with weights far beyond the L3 cache:
//
//  * FFN stack: 12 layers (226 MB of f32 up/down weights), ReLU, T = 1, 16,
//    128 tokens: dense (sgemm + bias/ReLU + sgemm) vs exact top-128
//    (parsimony_sparse_ffn_f32, no support) vs predicted support of 128
//    neurons (supports given, nk up-projection), and the predicted FFN plus
//    an int8 predictor (parsimony_predict_support_f32) in front of it.
//  * MoE layer: E = 8 and 64 experts of the same FFN shape (nk, ONNX
//    Runtime layout), k = 1, 2, T = 1, 16, 128: route -> dispatch (dropless)
//    -> expert_ffn -> combine, against one dense FFN of the same shape.
//  * --crossover: sparse vs dense down-projection time against the union
//    density, the measurement behind the crossover constants in
//    SpxKernels.cpp.
//  * --topk: the top-k selection on FFN hidden rows (one thread, warm)
//    against a copy of the rows and the up-projection GEMM.
//
//   parsimony-bench-spx [--samples=S] [--crossover] [--quant] [--topk]
//                       [--no-ffn] [--no-moe]
//
// Each figure is the median of S samples (default 7) of one pass over all
// layers (the stack) or of one MoE layer call, each sample starting with
// the caches flushed (a 96 MB read) so that weights come from DRAM. "GB/s" is
// the distinct weight bytes the path reads per call divided by the time.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Runtime/Kernels.h"
#include "parsimony/Runtime/SpxKernels.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t D = 768, F = 3072, Layers = 12, TopK = 128;

/// 64-byte aligned array.
template <typename T> struct Array {
  T *data = nullptr;
  size_t size = 0;
  explicit Array(size_t n = 0) { resize(n); }
  ~Array() { std::free(data); }
  Array(const Array &) = delete;
  Array &operator=(const Array &) = delete;
  Array(Array &&o) noexcept : data(o.data), size(o.size) {
    o.data = nullptr;
    o.size = 0;
  }
  void resize(size_t n) {
    std::free(data);
    size = n;
    size_t bytes = ((n * sizeof(T)) + 63) & ~size_t(63);
    data = static_cast<T *>(std::aligned_alloc(64, bytes ? bytes : 64));
    if (!data) {
      std::fprintf(stderr, "out of memory allocating %zu bytes\n", bytes);
      std::exit(1);
    }
  }
  T &operator[](size_t i) { return data[i]; }
};

/// Fast deterministic fill (xorshift), uniform in [-scale, scale).
void fill(float *p, size_t n, uint64_t seed, float scale) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    p[i] = scale * (float(s >> 40) * (2.0f / 16777216.0f) - 1.0f);
  }
}

int Samples = 7;

/// Evicts the caches (reads 3x the L3 size) so that every sample starts
/// cold, as a forward pass through a model far larger than L3 does.
void flushCaches() {
  static Array<float> junk(size_t(24) << 20);
  static bool filled = false;
  if (!filled) {
    fill(junk.data, junk.size, 1, 1.0f);
    filled = true;
  }
  volatile float sink = 0.0f;
  float acc = 0.0f;
  for (size_t i = 0; i < junk.size; i += 16)
    acc += junk[i];
  sink = acc;
  (void)sink;
}

/// Median seconds of `Samples` runs of fn (after one warm-up run), each
/// from cold caches.
double timeMedian(const std::function<void()> &fn) {
  fn();
  std::vector<double> t;
  for (int s = 0; s < Samples; ++s) {
    flushCaches();
    auto a = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(Clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void reluBias(float *h, int64_t T, int64_t n, const float *b) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < n; ++i) {
      float v = h[t * n + i] + b[i];
      h[t * n + i] = v > 0.0f ? v : 0.0f;
    }
}

/// Ascending indices of the k largest entries of v.
void topIndices(const float *v, int64_t n, int64_t k, int32_t *out) {
  std::vector<int32_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    idx[i] = int32_t(i);
  std::nth_element(
      idx.begin(), idx.begin() + k, idx.end(),
      [&](int32_t a, int32_t b) { return v[a] != v[b] ? v[a] > v[b] : a < b; });
  std::sort(idx.begin(), idx.begin() + k);
  std::copy(idx.begin(), idx.begin() + k, out);
}

/// Distinct neurons in the union of the supports of all T tokens.
int64_t distinctNeurons(const int32_t *sup, int64_t T, int64_t S) {
  std::vector<char> seen(static_cast<size_t>(F), 0);
  int64_t n = 0;
  for (int64_t i = 0; i < T * S; ++i)
    if (!seen[sup[i]]) {
      seen[sup[i]] = 1;
      ++n;
    }
  return n;
}

//===----------------------------------------------------------------------===//
// FFN stack.
//===----------------------------------------------------------------------===//

struct Layer {
  Array<float> upKn, upNk, down, bUp, bDown;
  Array<int8_t> predQ; // int8 per-channel kn copy of W_up (the predictor)
  Array<float> predS;  // its scales [F]
};

void benchFfn() {
  std::printf("## FFN stack: %lld layers, d = %lld, ff = %lld, ReLU, "
              "top-k / support = %lld, %d threads\n\n",
              (long long)Layers, (long long)D, (long long)F, (long long)TopK,
              parsimony_get_num_threads());
  std::vector<Layer> layers(Layers);
  float scale = 1.0f / std::sqrt(float(D));
  for (int64_t l = 0; l < Layers; ++l) {
    Layer &L = layers[l];
    L.upKn.resize(D * F);
    L.upNk.resize(F * D);
    L.down.resize(F * D);
    L.bUp.resize(F);
    L.bDown.resize(D);
    fill(L.upKn.data, D * F, 10 + l, scale);
    for (int64_t i = 0; i < D; ++i)
      for (int64_t j = 0; j < F; ++j)
        L.upNk[j * D + i] = L.upKn[i * F + j];
    fill(L.down.data, F * D, 100 + l, scale);
    fill(L.bUp.data, F, 200 + l, 0.1f);
    fill(L.bDown.data, D, 300 + l, 0.1f);
    // int8 per-channel predictor: q = round(w / s), s = max|w_col| / 127.
    L.predQ.resize(D * F);
    L.predS.resize(F);
    for (int64_t j = 0; j < F; ++j) {
      float mx = 0.0f;
      for (int64_t i = 0; i < D; ++i)
        mx = std::max(mx, std::fabs(L.upKn[i * F + j]));
      L.predS[j] = mx > 0 ? mx / 127.0f : 1.0f;
      for (int64_t i = 0; i < D; ++i)
        L.predQ[i * F + j] =
            int8_t(std::lround(L.upKn[i * F + j] / L.predS[j]));
    }
  }
  const double denseBytes = double(Layers) * 2 * D * F * 4;

  std::printf("| T | path | ms / stack | ms / token | weight MB read / token "
              "| GB/s | speedup vs dense |\n"
              "|---|---|---|---|---|---|---|\n");
  for (int64_t T : {1, 16, 128}) {
    Array<float> x(T * D), h(T * F), y(T * D);
    fill(x.data, T * D, 7, 1.0f);
    // True top-k supports per layer (what a perfect predictor returns).
    std::vector<Array<int32_t>> sup;
    double supRows = 0, exactDownRows = 0;
    for (int64_t l = 0; l < Layers; ++l) {
      parsimony_sgemm(T, F, D, 1.0f, x.data, D, 0, layers[l].upKn.data, F, 0,
                      0.0f, h.data, F);
      reluBias(h.data, T, F, layers[l].bUp.data);
      sup.emplace_back(T * TopK);
      for (int64_t t = 0; t < T; ++t)
        topIndices(h.data + t * F, F, TopK, sup.back().data + t * TopK);
      int64_t distinct = distinctNeurons(sup.back().data, T, TopK);
      supRows += distinct;
      // Exact mode takes the sparse path when the 4-token unions stay under
      // the crossover; then it reads the same rows as the support.
      double work = 0;
      for (int64_t t0 = 0; t0 < T; t0 += 4) {
        int64_t tb = std::min<int64_t>(4, T - t0);
        work +=
            double(tb) * distinctNeurons(sup.back().data + t0 * TopK, tb, TopK);
      }
      double crossover = T <= 4 ? 0.7 : T <= 16 ? 0.5 : 0.3;
      exactDownRows += work <= crossover * T * F ? distinct : F;
    }

    auto dense = [&] {
      for (int64_t l = 0; l < Layers; ++l) {
        parsimony_sgemm(T, F, D, 1.0f, x.data, D, 0, layers[l].upKn.data, F, 0,
                        0.0f, h.data, F);
        reluBias(h.data, T, F, layers[l].bUp.data);
        parsimony_sgemm(T, D, F, 1.0f, h.data, F, 0, layers[l].down.data, D, 0,
                        0.0f, y.data, D);
        for (int64_t t = 0; t < T; ++t)
          for (int64_t d = 0; d < D; ++d)
            y[t * D + d] += layers[l].bDown[d];
      }
    };
    auto exact = [&] {
      for (int64_t l = 0; l < Layers; ++l)
        parsimony_sparse_ffn_f32(x.data, T, D, F, layers[l].upKn.data, nullptr,
                                 0, 32, 0, 0, layers[l].bUp.data, nullptr,
                                 nullptr, 0, 32, 0, 0, layers[l].down.data,
                                 nullptr, 0, 32, 0, 0, layers[l].bDown.data,
                                 nullptr, 0, 0, 1, 1, TopK, nullptr, y.data);
    };
    auto predicted = [&] {
      for (int64_t l = 0; l < Layers; ++l)
        parsimony_sparse_ffn_f32(
            x.data, T, D, F, layers[l].upNk.data, nullptr, 1, 32, 0, 0,
            layers[l].bUp.data, nullptr, nullptr, 0, 32, 0, 0,
            layers[l].down.data, nullptr, 0, 32, 0, 0, layers[l].bDown.data,
            sup[l].data, 0, TopK, 1, 1, 0, nullptr, y.data);
    };
    Array<int32_t> predicted32(T * TopK);
    auto withPredictor = [&] {
      for (int64_t l = 0; l < Layers; ++l) {
        parsimony_predict_support_f32(
            x.data, T, D, F, layers[l].predQ.data, layers[l].predS.data, 0, 8,
            0, 0, nullptr, 0, layers[l].bUp.data, TopK, predicted32.data, 0);
        parsimony_sparse_ffn_f32(
            x.data, T, D, F, layers[l].upNk.data, nullptr, 1, 32, 0, 0,
            layers[l].bUp.data, nullptr, nullptr, 0, 32, 0, 0,
            layers[l].down.data, nullptr, 0, 32, 0, 0, layers[l].bDown.data,
            predicted32.data, 0, TopK, 1, 1, 0, nullptr, y.data);
      }
    };

    double tDense = timeMedian(dense);
    struct Row {
      const char *name;
      double seconds, bytes;
    } rows[] = {
        {"dense (sgemm)", tDense, denseBytes},
        {"exact top-128", timeMedian(exact),
         Layers * double(D) * F * 4 + exactDownRows * D * 4},
        {"predicted support 128", timeMedian(predicted), 2 * supRows * D * 4},
        {"int8 predictor + predicted", timeMedian(withPredictor),
         2 * supRows * D * 4 + Layers * double(D) * F},
    };
    for (const Row &r : rows)
      std::printf("| %lld | %s | %.3f | %.4f | %.2f | %.1f | %.2fx |\n",
                  (long long)T, r.name, r.seconds * 1e3, r.seconds * 1e3 / T,
                  r.bytes / T / 1e6, r.bytes / r.seconds / 1e9,
                  tDense / r.seconds);
  }
  std::printf("\n");
}

//===----------------------------------------------------------------------===//
// MoE layer.
//===----------------------------------------------------------------------===//

void benchMoe() {
  std::printf("## MoE layer: d = %lld, ff = %lld, ReLU experts (nk), "
              "dropless, %d threads\n\n",
              (long long)D, (long long)F, parsimony_get_num_threads());
  std::printf("| E | k | T | ms / layer | ms / token | experts touched | "
              "expert MB read | GB/s | vs dense FFN (same T) |\n"
              "|---|---|---|---|---|---|---|---|---|\n");
  const double expertBytes = 2.0 * D * F * 4;
  for (int64_t E : {8, 64}) {
    Array<float> fc1(E * F * D), fc2(E * D * F);
    fill(fc1.data, E * F * D, 500, 1.0f / std::sqrt(float(D)));
    fill(fc2.data, E * D * F, 600, 1.0f / std::sqrt(float(F)));
    // Expert 0 transposed to kn: the dense FFN baseline (sgemm NN).
    Array<float> up0(D * F), down0(F * D);
    for (int64_t j = 0; j < F; ++j)
      for (int64_t i = 0; i < D; ++i) {
        up0[i * F + j] = fc1[j * D + i];
        down0[j * D + i] = fc2[i * F + j];
      }
    Array<float> router(D * E), b1(E * F), b2(E * D);
    fill(router.data, D * E, 700, 1.0f);
    fill(b1.data, E * F, 701, 0.1f);
    fill(b2.data, E * D, 702, 0.1f);
    for (int64_t k : {1, 2})
      for (int64_t T : {1, 16, 128}) {
        Array<float> x(T * D), rows(T * k * D), eo(T * k * D), y(T * D),
            gates(T * k);
        Array<int32_t> experts(T * k);
        Array<int64_t> off(E), size(E), slots(T * k);
        fill(x.data, T * D, 800 + T, 1.0f);
        auto layer = [&] {
          parsimony_route_f32(x.data, T, D, router.data, nullptr, E, k, 1,
                              gates.data, experts.data, 0);
          parsimony_dispatch_f32(x.data, T, D, experts.data, 0, k, E, 0, 0,
                                 rows.data, T * k, off.data, size.data,
                                 slots.data);
          parsimony_expert_ffn_f32(rows.data, T * k, D, off.data, size.data, E,
                                   F, fc1.data, nullptr, 1, 32, 0, 0, b1.data,
                                   fc2.data, nullptr, 1, 32, 0, 0, b2.data,
                                   nullptr, nullptr, 1, 32, 0, 0, nullptr, 1, 0,
                                   1.0f, 0.0f, NAN, eo.data);
          parsimony_combine_f32(eo.data, T * k, D, slots.data, 1, T, k,
                                gates.data, nullptr, y.data);
        };
        double t = timeMedian(layer);
        int64_t touched = 0;
        for (int64_t e = 0; e < E; ++e)
          touched += size[e] > 0;
        // Dense FFN of the same shape (one expert's weights, all tokens).
        Array<float> h(T * F);
        auto dense = [&] {
          parsimony_sgemm(T, F, D, 1.0f, x.data, D, 0, up0.data, F, 0, 0.0f,
                          h.data, F);
          reluBias(h.data, T, F, b1.data);
          parsimony_sgemm(T, D, F, 1.0f, h.data, F, 0, down0.data, D, 0, 0.0f,
                          y.data, D);
        };
        double td = timeMedian(dense);
        double bytes = touched * expertBytes;
        std::printf("| %lld | %lld | %lld | %.3f | %.4f | %lld | %.1f | %.1f "
                    "| %.2fx |\n",
                    (long long)E, (long long)k, (long long)T, t * 1e3,
                    t * 1e3 / T, (long long)touched, bytes / 1e6,
                    bytes / t / 1e9, t / td);
      }
  }
  std::printf("\n(last column: MoE layer time / dense FFN time; k = 1 reads "
              "min(T, E) experts.)\n\n");
}

//===----------------------------------------------------------------------===//
// Crossover.
//===----------------------------------------------------------------------===//

void benchCrossover() {
  std::printf("## Sparse vs dense down-projection (K = %lld -> N = %lld, "
              "f32 kn, %lld cold layers)\n\n",
              (long long)F, (long long)D, (long long)Layers);
  std::vector<Array<float>> w;
  for (int64_t l = 0; l < Layers; ++l) {
    w.emplace_back(F * D);
    fill(w.back().data, F * D, 900 + l, 0.03f);
  }
  std::printf("| T | union density | sparse ms | dense ms | sparse / dense |\n"
              "|---|---|---|---|---|\n");
  for (int64_t T : {1, 4, 16, 128}) {
    Array<float> h(T * F), y(T * D);
    for (double density : {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8}) {
      // Every 4-token block shares one random support of the given density
      // (so the union density is exactly that).
      std::memset(h.data, 0, sizeof(float) * T * F);
      uint64_t s = 12345;
      for (int64_t t0 = 0; t0 < T; t0 += 4)
        for (int64_t i = 0; i < F; ++i) {
          s = s * 6364136223846793005ull + 1442695040888963407ull;
          if (double(s >> 11) / 9007199254740992.0 < density)
            for (int64_t t = t0; t < std::min(T, t0 + 4); ++t)
              h[t * F + i] = 0.5f + float(i % 7) * 0.1f;
        }
      auto run = [&] {
        for (int64_t l = 0; l < Layers; ++l)
          parsimony_sparse_matmul_f32(h.data, T, F, D, w[l].data, nullptr, 0,
                                      32, 0, 0, y.data);
      };
      setenv("PARSIMONY_SPX_CROSSOVER", "1e9", 1);
      double ts = timeMedian(run);
      setenv("PARSIMONY_SPX_CROSSOVER", "0", 1);
      double td = timeMedian(run);
      unsetenv("PARSIMONY_SPX_CROSSOVER");
      std::printf("| %lld | %.2f | %.3f | %.3f | %.2f |\n", (long long)T,
                  density, ts * 1e3, td * 1e3, ts / td);
    }
  }
  std::printf("\n");
}

//===----------------------------------------------------------------------===//
// Weight-only quantized projections (--quant).
//===----------------------------------------------------------------------===//

/// One [N, K] nk weight per layer and projection, f32 or quantized.
struct QuantWeight {
  int bits = 32; // 32, 8, PARSIMONY_INT4_PACKED
  int64_t group = 0, k = 0, n = 0;
  Array<float> f32;
  Array<int8_t> q;
  Array<float> scales;
  size_t bytes() const {
    return bits == 32 ? f32.size * 4 : q.size + scales.size * 4;
  }
};

QuantWeight makeQuant(int bits, int64_t group, int64_t k, int64_t n,
                      uint64_t seed) {
  QuantWeight w;
  w.bits = bits;
  w.group = group;
  w.k = k;
  w.n = n;
  if (bits == 32) {
    w.f32.resize(size_t(k * n));
    fill(w.f32.data, w.f32.size, seed, 0.05f);
    return w;
  }
  // Random bytes are valid int8 and packed int4 values alike.
  w.q.resize(size_t(bits == 8 ? k * n : k * n / 2));
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < w.q.size; ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    w.q[i] = int8_t(s >> 56);
  }
  w.scales.resize(size_t(group ? n * (k / group) : n));
  fill(w.scales.data, w.scales.size, seed + 1, 0.01f);
  return w;
}

void quantMatmul(const float *x, int64_t T, const QuantWeight &w, float *y) {
  if (w.bits == 32) {
    parsimony_sgemm(T, w.n, w.k, 1.0f, x, w.k, 0, w.f32.data, w.k, 1, 0.0f, y,
                    w.n);
    return;
  }
  parsimony_quant_matmul_f32(x, T, w.k, w.n, w.q.data, w.scales.data, 1, w.bits,
                             w.group, 0, y);
}

void benchQuant() {
  std::printf("## Weight-only quantized FFN projections: %lld layers, "
              "d = %lld, ff = %lld, nk weights, %d threads\n\n",
              (long long)Layers, (long long)D, (long long)F,
              parsimony_get_num_threads());
  std::printf("| T | weights | MB / stack | ms / stack | GB/s | speedup vs "
              "f32 |\n|---|---|---|---|---|---|\n");
  struct Format {
    const char *name;
    int bits;
    int64_t group;
  } formats[] = {{"f32 (sgemm)", 32, 0},
                 {"int8 per channel", 8, 0},
                 {"int4 packed, g64", PARSIMONY_INT4_PACKED, 64},
                 {"int4 packed, g32", PARSIMONY_INT4_PACKED, 32},
                 {"int4 packed, g128", PARSIMONY_INT4_PACKED, 128}};
  for (int64_t T : {int64_t(1), int64_t(4), int64_t(16)}) {
    double base = 0.0;
    Array<float> x, h, y;
    x.resize(size_t(T * D));
    h.resize(size_t(T * F));
    y.resize(size_t(T * D));
    fill(x.data, x.size, 7, 1.0f);
    for (const Format &f : formats) {
      std::vector<QuantWeight> up, down;
      size_t bytes = 0;
      for (int64_t l = 0; l < Layers; ++l) {
        up.push_back(makeQuant(f.bits, f.group, D, F, 100 + l));
        down.push_back(makeQuant(f.bits, f.group, F, D, 200 + l));
        bytes += up.back().bytes() + down.back().bytes();
      }
      double t = timeMedian([&] {
        for (int64_t l = 0; l < Layers; ++l) {
          quantMatmul(x.data, T, up[l], h.data);
          quantMatmul(h.data, T, down[l], y.data);
        }
      });
      if (f.bits == 32)
        base = t;
      std::printf("| %lld | %s | %.1f | %.3f | %.1f | %.2fx |\n", (long long)T,
                  f.name, bytes / 1e6, t * 1e3, bytes / t / 1e9, base / t);
    }
  }
  std::printf("\n");
}

//===----------------------------------------------------------------------===//
// Top-k selection.
//===----------------------------------------------------------------------===//

/// parsimony_topk_activation_f32 on FFN hidden rows (F = 3072 wide, ReLU of
/// a normal sample: about 38% nonzero), k = 128, one thread, against one
/// pass that copies the rows (the least any top-k must cost) and one
/// sgemm of an FFN projection for the same tokens (what the selection sits
/// between). Warm caches: the rows of 16 tokens fit in L2.
void benchTopk() {
  std::printf("## Top-k activation (F = %lld, k = %lld, one thread)\n\n",
              (long long)F, (long long)TopK);
  std::printf("| tokens | top-k (ms) | per row (us) | row copy (ms) | "
              "up-projection sgemm (ms) |\n|---|---|---|---|---|\n");
  parsimony_set_num_threads(1);
  for (int64_t T : {16, 128, 1536}) {
    Array<float> h(size_t(T * F)), out(size_t(T * F)), x(size_t(T * D)),
        w(size_t(D * F)), u(size_t(T * F));
    // Box-Muller-free "normal-ish" values: a sum of uniforms, shifted so
    // that ReLU keeps about 38% of them.
    Array<float> a(size_t(T * F)), b(size_t(T * F));
    fill(a.data, a.size, 5, 1.0f);
    fill(b.data, b.size, 6, 1.0f);
    for (size_t i = 0; i < h.size; ++i)
      h[i] = std::max(0.0f, (a[i] + b[i]) * 1.2f - 0.3f);
    fill(x.data, x.size, 7, 1.0f);
    fill(w.data, w.size, 8, 0.05f);
    auto best = [](const std::function<void()> &fn) {
      fn();
      double t = 1e30;
      for (int s = 0; s < Samples; ++s) {
        auto start = Clock::now();
        fn();
        t = std::min(
            t, std::chrono::duration<double>(Clock::now() - start).count());
      }
      return t;
    };
    double topk = best([&] {
      parsimony_topk_activation_f32(h.data, out.data, T, F, 1, TopK, 0, 0.95f);
    });
    double copy =
        best([&] { std::memcpy(out.data, h.data, sizeof(float) * h.size); });
    double gemm = best([&] {
      parsimony_sgemm(T, F, D, 1.0f, x.data, D, 0, w.data, F, 0, 0.0f, u.data,
                      F);
    });
    std::printf("| %lld | %.3f | %.2f | %.3f | %.3f |\n", (long long)T,
                topk * 1e3, topk * 1e6 / double(T), copy * 1e3, gemm * 1e3);
  }
  parsimony_set_num_threads(0);
  std::printf("\n");
}

} // namespace

int main(int argc, char **argv) {
  bool ffn = true, moe = true, crossover = false, quant = false, topk = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--samples=", 0) == 0)
      Samples = std::max(1, std::atoi(a.c_str() + 10));
    else if (a == "--crossover")
      crossover = true;
    else if (a == "--quant")
      quant = true;
    else if (a == "--topk")
      topk = true;
    else if (a == "--no-ffn")
      ffn = false;
    else if (a == "--no-moe")
      moe = false;
    else {
      std::fprintf(stderr,
                   "usage: parsimony-bench-spx [--samples=S] [--crossover] "
                   "[--quant] [--topk] [--no-ffn] [--no-moe]\n");
      return 2;
    }
  }
  if (crossover)
    benchCrossover();
  if (quant)
    benchQuant();
  if (topk)
    benchTopk();
  if (ffn)
    benchFfn();
  if (moe)
    benchMoe();
  return 0;
}
