//===- BenchGemm.cpp - runtime sgemm / GEMV benchmark ---------------------===//
//
// Times parsimony_sgemm on BERT-base shapes (M = 128 tokens; N x K in
// 768 x 768, 3072 x 768, 768 x 3072), decode GEMV (M = 1) with weights hot
// in L3 and (M = 1, 4, 16, 32) with 12 layers of distinct weights (~255 MB, far
// beyond L3), and probes the machine: per-core FMA peak (inline-asm FMA chains)
// and STREAM triad / read bandwidth over arrays of 4x the L3 size. Prints
// Markdown tables; docs/runtime-kernels.md records a run.
//
//   parsimony-bench-gemm [--threads=N] [--samples=S] [--no-stream]
//                        [--dram-only]
//
// Every figure is the median over S samples (default 15) of a timed batch of
// calls sized to take about 20 ms; the best sample is printed next to it.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Runtime/Kernels.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

/// 64-byte aligned float array, first-touched by the caller's pattern.
struct Buffer {
  float *data = nullptr;
  size_t size = 0;
  explicit Buffer(size_t n) : size(n) {
    size_t bytes = ((n * sizeof(float)) + 63) & ~size_t(63);
    data = static_cast<float *>(std::aligned_alloc(64, bytes ? bytes : 64));
    if (!data) {
      std::fprintf(stderr, "out of memory allocating %zu bytes\n", bytes);
      std::exit(1);
    }
  }
  ~Buffer() { std::free(data); }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  void randomize(unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (size_t i = 0; i < size; ++i)
      data[i] = dist(rng);
  }
};

struct Stats {
  double median, best; // seconds per call
};

/// Times `fn`: one warm-up call, calibrates a batch of about 20 ms, then
/// returns the median and best per-call time over `samples` batches.
Stats timeIt(const std::function<void()> &fn, int samples) {
  fn();
  auto t0 = Clock::now();
  fn();
  double once = std::max(seconds(t0, Clock::now()), 1e-7);
  int calls = std::max(1, int(0.02 / once));
  std::vector<double> per;
  for (int s = 0; s < samples; ++s) {
    auto a = Clock::now();
    for (int c = 0; c < calls; ++c)
      fn();
    per.push_back(seconds(a, Clock::now()) / calls);
  }
  std::sort(per.begin(), per.end());
  return {per[per.size() / 2], per.front()};
}

/// Runs body(t) on `threads` threads at once and returns the wall time.
double runThreads(int threads, const std::function<void(int)> &body) {
  std::vector<std::thread> pool;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load())
        std::this_thread::yield();
      body(t);
    });
  while (ready.load() != threads)
    std::this_thread::yield();
  auto a = Clock::now();
  go.store(true);
  for (std::thread &th : pool)
    th.join();
  return seconds(a, Clock::now());
}

//===----------------------------------------------------------------------===//
// Machine probes.
//===----------------------------------------------------------------------===//

/// Independent FMA chains on zmm/ymm registers: 12 chains cover the FMA
/// latency (4 cycles) times the two FMA pipes. Returns FMA instructions run.
int64_t fmaChains(bool zmm, int64_t iterations) {
#define PARSIMONY_FMA12(R)                                                     \
  "vfmadd231ps %%" R "14, %%" R "15, %%" R "0\n\t"                             \
  "vfmadd231ps %%" R "14, %%" R "15, %%" R "1\n\t"                             \
  "vfmadd231ps %%" R "14, %%" R "15, %%" R "2\n\t"                             \
  "vfmadd231ps %%" R "14, %%" R "15, %%" R "3\n\t"                             \
  "vfmadd231ps %%" R "14, %%" R "15, %%" R "4\n\t"                             \
  "vfmadd231ps %%" R "14, %%" R "15, %%" R "5\n\t"                             \
  "vfmadd231ps %%" R "14, %%" R "15, %%" R "6\n\t"                             \
  "vfmadd231ps %%" R "14, %%" R "15, %%" R "7\n\t"                             \
  "vfmadd231ps %%" R "14, %%" R "15, %%" R "8\n\t"                             \
  "vfmadd231ps %%" R "14, %%" R "15, %%" R "9\n\t"                             \
  "vfmadd231ps %%" R "14, %%" R "15, %%" R "10\n\t"                            \
  "vfmadd231ps %%" R "14, %%" R "15, %%" R "11\n\t"
#define PARSIMONY_FMA_CLOBBERS                                                 \
  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",      \
      "xmm9", "xmm10", "xmm11", "xmm14", "xmm15"
  // Zero the registers (VEX xor clears the full zmm) so no denormals occur.
  asm volatile("vxorps %%xmm0, %%xmm0, %%xmm0\n\tvmovaps %%xmm0, %%xmm1\n\t"
               "vmovaps %%xmm0, %%xmm2\n\tvmovaps %%xmm0, %%xmm3\n\t"
               "vmovaps %%xmm0, %%xmm4\n\tvmovaps %%xmm0, %%xmm5\n\t"
               "vmovaps %%xmm0, %%xmm6\n\tvmovaps %%xmm0, %%xmm7\n\t"
               "vmovaps %%xmm0, %%xmm8\n\tvmovaps %%xmm0, %%xmm9\n\t"
               "vmovaps %%xmm0, %%xmm10\n\tvmovaps %%xmm0, %%xmm11\n\t"
               "vmovaps %%xmm0, %%xmm14\n\tvmovaps %%xmm0, %%xmm15\n\t" ::
                   : PARSIMONY_FMA_CLOBBERS);
  for (int64_t i = 0; i < iterations; ++i) {
    if (zmm)
      asm volatile(PARSIMONY_FMA12("zmm")::: PARSIMONY_FMA_CLOBBERS);
    else
      asm volatile(PARSIMONY_FMA12("ymm")::: PARSIMONY_FMA_CLOBBERS);
  }
  asm volatile("vzeroupper" ::: PARSIMONY_FMA_CLOBBERS);
#undef PARSIMONY_FMA12
#undef PARSIMONY_FMA_CLOBBERS
  return iterations * 12;
}

/// Measured single-precision FMA peak in GFLOP/s per core (the slowest
/// thread's rate) with `threads` cores busy at once.
double measurePeakPerCore(bool zmm, int threads) {
  const int64_t iterations = 20000000;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    double t = runThreads(threads, [&](int) { fmaChains(zmm, iterations); });
    double flops = double(iterations) * 12 * (zmm ? 16 : 8) * 2;
    best = std::max(best, flops / t / 1e9);
  }
  return best;
}

/// Estimates the core clock (GHz) from a chain of dependent integer adds
/// (one per cycle on every x86 core of the last decade).
double measureClockGHz() {
  const int64_t iterations = 200000000;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    int64_t x = 0;
    auto a = Clock::now();
    for (int64_t i = 0; i < iterations; ++i)
      asm volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
                   : "+r"(x));
    best = std::max(best, iterations * 4.0 / seconds(a, Clock::now()) / 1e9);
  }
  return best;
}

/// L3 size from sysfs (what this VM/CPU exposes to us; sysconf may report
/// the host's), 32 MiB when unknown.
size_t l3Bytes() {
  if (FILE *f =
          std::fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r")) {
    unsigned long kib = 0;
    char unit = 0;
    int got = std::fscanf(f, "%lu%c", &kib, &unit);
    std::fclose(f);
    if (got >= 1 && kib > 0)
      return size_t(kib) << (unit == 'M' ? 20 : 10);
  }
  return size_t(32) << 20;
}

/// STREAM kernels, compiled for AVX2 so that the probe is not limited by
/// baseline SSE2 code generation (the bench only runs them on AVX2 CPUs).
__attribute__((target("avx2"))) void triadAvx2(float *__restrict a,
                                               const float *__restrict b,
                                               const float *__restrict c,
                                               size_t lo, size_t hi) {
  for (size_t i = lo; i < hi; ++i)
    a[i] = b[i] + 3.0f * c[i];
}

__attribute__((target("avx2"))) float sumAvx2(const float *__restrict b,
                                              size_t lo, size_t hi) {
  // 32 partial sums (four ymm accumulators) so the adds pipeline.
  float acc[32] = {};
  size_t i = lo;
  for (; i + 32 <= hi; i += 32)
    for (int u = 0; u < 32; ++u)
      acc[u] += b[i + u];
  for (; i < hi; ++i)
    acc[0] += b[i];
  float sum = 0;
  for (float v : acc)
    sum += v;
  return sum;
}

struct Bandwidth {
  double triad, read; // GB/s (median of samples)
};

/// STREAM triad a = b + s * c (3 x 4 bytes per element, STREAM's counting,
/// no write-allocate traffic) and a read-only sum over `b`, with each thread
/// working on a contiguous slice. Arrays are 4x the L3 size each.
Bandwidth measureBandwidth(int threads, int samples) {
  size_t n = 4 * l3Bytes() / sizeof(float);
  Buffer a(n), b(n), c(n);
  auto slice = [&](int t, size_t &lo, size_t &hi) {
    lo = n * t / threads;
    hi = n * (t + 1) / threads;
  };
  runThreads(threads, [&](int t) {
    size_t lo, hi;
    slice(t, lo, hi);
    for (size_t i = lo; i < hi; ++i) {
      a.data[i] = 0.0f;
      b.data[i] = 1.0f;
      c.data[i] = 2.0f;
    }
  });
  std::vector<double> triad, read;
  std::vector<float> sinks(threads);
  for (int s = 0; s < samples; ++s) {
    double t = runThreads(threads, [&](int th) {
      size_t lo, hi;
      slice(th, lo, hi);
      triadAvx2(a.data, b.data, c.data, lo, hi);
    });
    triad.push_back(3.0 * n * sizeof(float) / t / 1e9);
    t = runThreads(threads, [&](int th) {
      size_t lo, hi;
      slice(th, lo, hi);
      float sum = sumAvx2(b.data, lo, hi);
      sinks[th] = sum;
    });
    read.push_back(double(n) * sizeof(float) / t / 1e9);
  }
  std::sort(triad.begin(), triad.end());
  std::sort(read.begin(), read.end());
  if (sinks[0] == 12345.0f)
    std::puts("");
  return {triad[triad.size() / 2], read[read.size() / 2]};
}

//===----------------------------------------------------------------------===//
// GEMM / GEMV benchmarks.
//===----------------------------------------------------------------------===//

struct Shape {
  int64_t m, n, k;
  const char *what;
};

const Shape BertShapes[] = {
    {128, 768, 768, "attention Q/K/V/O projection"},
    {128, 3072, 768, "FFN up (768 -> 3072)"},
    {128, 768, 3072, "FFN down (3072 -> 768)"},
};

void benchGemm(int threads, int samples, double peakPerCore) {
  std::printf("\n### sgemm, M = 128 (BERT-base layer, seq 128), %d thread%s\n\n"
              "| M | N | K | layout | GFLOP/s (median) | best | %% of peak "
              "(%.0f GFLOP/s) |\n|---|---|---|---|---|---|---|\n",
              threads, threads > 1 ? "s" : "", peakPerCore * threads);
  parsimony_set_num_threads(threads);
  for (const Shape &s : BertShapes)
    for (int transB = 0; transB < 2; ++transB) {
      Buffer a(s.m * s.k), b(s.k * s.n), c(s.m * s.n);
      a.randomize(1);
      b.randomize(2);
      int64_t ldb = transB ? s.k : s.n;
      Stats st = timeIt(
          [&] {
            parsimony_sgemm(s.m, s.n, s.k, 1.0f, a.data, s.k, 0, b.data, ldb,
                            transB, 0.0f, c.data, s.n);
          },
          samples);
      double flops = 2.0 * s.m * s.n * s.k;
      std::printf("| %lld | %lld | %lld | %s | %.1f | %.1f | %.0f%% |\n",
                  (long long)s.m, (long long)s.n, (long long)s.k,
                  transB ? "B^T (N x K)" : "B (K x N)", flops / st.median / 1e9,
                  flops / st.best / 1e9,
                  100.0 * flops / st.median / 1e9 / (peakPerCore * threads));
    }
}

void benchAttention(int threads, int samples) {
  // Per-head attention products of BERT-base at seq 128 (12 heads, d = 64).
  std::printf("\n### batched sgemm: attention, 12 heads, seq 128, %d "
              "thread%s\n\n| product | batch x M x N x K | GFLOP/s (median) "
              "|\n|---|---|---|\n",
              threads, threads > 1 ? "s" : "");
  parsimony_set_num_threads(threads);
  const int64_t h = 12, s = 128, d = 64;
  Buffer q(h * s * d), k(h * s * d), v(h * s * d), scores(h * s * s),
      out(h * s * d);
  q.randomize(3);
  k.randomize(4);
  v.randomize(5);
  scores.randomize(6);
  Stats qk = timeIt(
      [&] {
        parsimony_sgemm_batched(h, s, s, d, 0.125f, q.data, d, s * d, 0, k.data,
                                d, s * d, 1, 0.0f, scores.data, s, s * s);
      },
      samples);
  Stats pv = timeIt(
      [&] {
        parsimony_sgemm_batched(h, s, d, s, 1.0f, scores.data, s, s * s, 0,
                                v.data, d, s * d, 0, 0.0f, out.data, d, s * d);
      },
      samples);
  double flops = 2.0 * h * s * s * d;
  std::printf("| Q K^T | 12 x 128 x 128 x 64 | %.1f |\n",
              flops / qk.median / 1e9);
  std::printf("| P V | 12 x 128 x 64 x 128 | %.1f |\n",
              flops / pv.median / 1e9);
}

void benchGemvHot(int threads, int samples, const Bandwidth &bw) {
  std::printf("\n### decode GEMV (M = 1), weights hot in L3, %d thread%s\n\n"
              "| N | K | layout | GB/s (median) | best | GFLOP/s | %% of "
              "triad | %% of read |\n|---|---|---|---|---|---|---|---|\n",
              threads, threads > 1 ? "s" : "");
  parsimony_set_num_threads(threads);
  for (const Shape &s : BertShapes)
    for (int transB = 0; transB < 2; ++transB) {
      Buffer x(s.k), b(s.k * s.n), y(s.n);
      x.randomize(1);
      b.randomize(2);
      int64_t ldb = transB ? s.k : s.n;
      Stats st = timeIt(
          [&] {
            parsimony_sgemm(1, s.n, s.k, 1.0f, x.data, s.k, 0, b.data, ldb,
                            transB, 0.0f, y.data, s.n);
          },
          samples);
      double bytes = 4.0 * s.n * s.k, gbs = bytes / st.median / 1e9;
      std::printf("| %lld | %lld | %s | %.1f | %.1f | %.1f | %.0f%% | %.0f%% "
                  "|\n",
                  (long long)s.n, (long long)s.k,
                  transB ? "B^T (N x K)" : "B (K x N)", gbs,
                  bytes / st.best / 1e9, 2.0 * s.n * s.k / st.median / 1e9,
                  100.0 * gbs / bw.triad, 100.0 * gbs / bw.read);
    }
}

void benchGemvCold(int threads, int samples, const Bandwidth &bw,
                   int64_t rows) {
  // 12 layers x (768x768 + 3072x768 + 768x3072) distinct weights = 255 MB.
  const int layers = 12;
  std::vector<Buffer *> weights;
  for (int l = 0; l < layers; ++l)
    for (const Shape &s : BertShapes) {
      weights.push_back(new Buffer(s.n * s.k));
      weights.back()->randomize(unsigned(100 + weights.size()));
    }
  double bytes = 0;
  for (Buffer *w : weights)
    bytes += 4.0 * w->size;
  Buffer x(rows * 3072), y(rows * 3072);
  x.randomize(7);
  parsimony_set_num_threads(threads);
  for (int transB = 0; transB < 2; ++transB) {
    Stats st = timeIt(
        [&] {
          size_t w = 0;
          for (int l = 0; l < layers; ++l)
            for (const Shape &s : BertShapes) {
              int64_t ldb = transB ? s.k : s.n;
              parsimony_sgemm(rows, s.n, s.k, 1.0f, x.data, s.k, 0,
                              weights[w++]->data, ldb, transB, 0.0f, y.data,
                              s.n);
            }
        },
        samples);
    double gbs = bytes / st.median / 1e9;
    std::printf(
        "| M = %lld, 12 layers (%.0f MB) | %s | %.1f | %.1f | %.0f%% "
        "| %.0f%% |\n",
        (long long)rows, bytes / 1e6, transB ? "B^T (N x K)" : "B (K x N)", gbs,
        bytes / st.best / 1e9, 100.0 * gbs / bw.triad, 100.0 * gbs / bw.read);
  }
  for (Buffer *w : weights)
    delete w;
}

} // namespace

int main(int argc, char **argv) {
  int threads = parsimony_get_num_threads();
  int samples = 15;
  bool stream = true, dramOnly = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strncmp(argv[i], "--threads=", 10))
      threads = std::max(1, std::atoi(argv[i] + 10));
    else if (!std::strncmp(argv[i], "--samples=", 10))
      samples = std::max(1, std::atoi(argv[i] + 10));
    else if (!std::strcmp(argv[i], "--no-stream"))
      stream = false;
    else if (!std::strcmp(argv[i], "--dram-only"))
      dramOnly = true;
    else {
      std::fprintf(stderr,
                   "usage: %s [--threads=N] [--samples=S] [--no-stream] "
                   "[--dram-only]\n",
                   argv[0]);
      return 2;
    }
  }
  static const char *const IsaNames[] = {"scalar", "avx2", "avx512"};
  int isa = parsimony_get_isa();
  bool zmm = isa == PARSIMONY_ISA_AVX512;

  std::printf("## Machine\n\n");
  double ghz = measureClockGHz();
  double peak1 = measurePeakPerCore(zmm, 1);
  double peakN = measurePeakPerCore(zmm, threads);
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  std::printf("- load average at start: %.2f %.2f %.2f (other processes "
              "share these cores)\n",
              load[0], load[1], load[2]);
  std::printf("- kernel ISA: %s; threads: %d; L3: %zu MiB\n", IsaNames[isa],
              threads, l3Bytes() >> 20);
  std::printf("- core clock (dependent-add chain): %.2f GHz\n", ghz);
  std::printf("- measured %s FMA peak: %.1f GFLOP/s on 1 core, %.1f GFLOP/s "
              "per core with %d busy (%.1f flops/cycle at %.2f GHz)\n",
              zmm ? "zmm" : "ymm", peak1, peakN, threads, peak1 / ghz, ghz);
  Bandwidth bw{0, 0}, bw1{0, 0};
  if (stream && !__builtin_cpu_supports("avx2")) {
    std::printf("- STREAM probe skipped: it needs AVX2\n");
    stream = false;
  }
  if (stream) {
    bw = measureBandwidth(threads, std::max(5, samples / 2));
    bw1 = measureBandwidth(1, std::max(5, samples / 2));
    std::printf("- STREAM triad (3 arrays x %zu MiB): %.1f GB/s with %d "
                "threads, %.1f GB/s with 1; read-only sum: %.1f GB/s with %d "
                "threads, %.1f GB/s with 1\n",
                4 * l3Bytes() >> 20, bw.triad, threads, bw1.triad, bw.read,
                threads, bw1.read);
  } else {
    bw = bw1 = {1, 1};
  }

  if (!dramOnly) {
    benchGemm(1, samples, peak1);
    if (threads > 1)
      benchGemm(threads, samples, peakN);
    benchAttention(threads, samples);
    benchGemvHot(threads, samples, bw);
    if (threads > 1)
      benchGemvHot(1, samples, bw1);
  }
  std::printf("\n### GEMV and small-M GEMM, weights streamed from DRAM, %d "
              "thread%s\n\n"
              "| case | layout | GB/s (median) | best | %% of triad | %% of "
              "read |\n|---|---|---|---|---|---|\n",
              threads, threads > 1 ? "s" : "");
  // M = 16 and 32: prefill chunks and MoE expert token groups, where the
  // weights are still read from DRAM once per call.
  for (int64_t rows : {1, 4, 16, 32})
    benchGemvCold(threads, std::max(5, samples / 3), bw, rows);
  return 0;
}
