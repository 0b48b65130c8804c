//===- Gemm.cpp - sgemm driver: dispatch, blocking, threading -------------===//
//
// Implements the C ABI of parsimony/Runtime/Kernels.h on top of the ISA
// kernels of KernelSet.h. Two algorithms:
//
//  * Blocked (BLIS/GotoBLAS): the output is cut into tasks of at most
//    mc x nTile elements, run by the thread pool. A task walks K in kc
//    blocks; for each it packs its kc x nTile slice of op(B) into NR-wide
//    panels (thread-local, reused across calls) and runs the MR x NR
//    micro-kernel over every (panel, row tile) pair, so a packed panel stays
//    in L1 while the A block streams from L2. A is never packed: the
//    micro-kernel broadcasts it straight from its row-major or transposed
//    storage, which is as fast as a packed copy on the targeted cores and
//    saves a pass over A per task.
//
//  * Streaming (GEMV / small M or small N): when one side has at most
//    KernelSet::maxStreamRows rows (8 with AVX-512), the product is
//    bandwidth-bound on the other operand. That operand is streamed once, front
//    to back, without packing: row-wise (axpy form, the K range split over
//    threads with per-thread partial sums that are reduced at the end) when it
//    is K-major, or as dot products (its rows split over threads) when it is
//    stored transposed.
//
//  * Row-group streaming: up to MaxGroupedStreamRows rows against a B stored
//    transposed (N x K, e.g. a token group of one expert against its
//    weight) run the dot-product streams of maxStreamRows rows each over
//    chunks of B's rows, so B is read from memory once and never packed.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Runtime/Kernels.h"

#include "KernelSet.h"
#include "ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

using namespace parsimony::runtime;

namespace {

//===----------------------------------------------------------------------===//
// ISA selection.
//===----------------------------------------------------------------------===//

int detectBestIsa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    return PARSIMONY_ISA_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return PARSIMONY_ISA_AVX2;
#endif
  return PARSIMONY_ISA_SCALAR;
}

int bestIsa() {
  static const int Best = detectBestIsa();
  return Best;
}

/// Lowers a requested ISA to the best one the CPU can run.
int clampIsa(int isa) {
  if (isa > PARSIMONY_ISA_AVX512)
    isa = PARSIMONY_ISA_AVX512;
  if (isa < PARSIMONY_ISA_SCALAR)
    isa = PARSIMONY_ISA_SCALAR;
  return std::min(isa, bestIsa());
}

int initialIsa() {
  int isa = bestIsa();
  if (const char *env = std::getenv("PARSIMONY_ISA")) {
    if (!std::strcmp(env, "scalar"))
      isa = clampIsa(PARSIMONY_ISA_SCALAR);
    else if (!std::strcmp(env, "avx2"))
      isa = clampIsa(PARSIMONY_ISA_AVX2);
    else if (!std::strcmp(env, "avx512"))
      isa = clampIsa(PARSIMONY_ISA_AVX512);
  }
  return isa;
}

std::atomic<int> &activeIsa() {
  static std::atomic<int> Isa{initialIsa()};
  return Isa;
}

const KernelSet &kernelsFor(int isa) {
  switch (isa) {
  case PARSIMONY_ISA_AVX512:
    return getAvx512Kernels();
  case PARSIMONY_ISA_AVX2:
    return getAvx2Kernels();
  default:
    return getScalarKernels();
  }
}

//===----------------------------------------------------------------------===//
// Scratch memory.
//===----------------------------------------------------------------------===//

/// A growable, 64-byte aligned float buffer that is kept between calls.
class Arena {
public:
  Arena() = default;
  Arena(const Arena &) = delete;
  Arena &operator=(const Arena &) = delete;
  ~Arena() { std::free(data); }

  /// Returns room for n floats (contents unspecified), or null when out of
  /// memory.
  float *get(int64_t n) {
    if (n > capacity) {
      std::free(data);
      // Round up to whole cache lines and grow geometrically.
      int64_t want = std::max<int64_t>(n, capacity + capacity / 2);
      want = (want + 15) & ~int64_t(15);
      data = static_cast<float *>(
          std::aligned_alloc(64, size_t(want) * sizeof(float)));
      capacity = data ? want : 0;
    }
    return data;
  }

private:
  float *data = nullptr;
  int64_t capacity = 0;
};

/// Scratch of task bodies (packed B, stream temporaries of serial runs).
thread_local Arena TaskArena;
/// Scratch that a dispatching call shares with the tasks it runs.
thread_local Arena CallArena;

//===----------------------------------------------------------------------===//
// Problem description and small helpers.
//===----------------------------------------------------------------------===//

/// A fused epilogue: C = act(C + bias) + residual (see EpilogueFn).
struct GemmEpilogue {
  const float *bias;
  int32_t activation;
  const float *residual;
  int64_t ldr, strideR;
};

struct GemmProblem {
  int64_t batch, m, n, k;
  float alpha, beta;
  const float *a;
  int64_t lda, strideA;
  bool transA;
  const float *b;
  int64_t ldb, strideB;
  bool transB;
  float *c;
  int64_t ldc, strideC;
  const GemmEpilogue *epilogue = nullptr;
};

/// Applies p's epilogue, if any, to rows [m0, m1) x columns [n0, n1) of
/// batch item `item`'s C, once their accumulation is complete.
void applyEpilogue(const GemmProblem &p, const KernelSet &ks, int64_t item,
                   int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const GemmEpilogue *e = p.epilogue;
  if (!e || m1 <= m0 || n1 <= n0)
    return;
  const float *residual =
      e->residual ? e->residual + item * e->strideR + m0 * e->ldr + n0
                  : nullptr;
  ks.epilogue(m1 - m0, n1 - n0, p.c + item * p.strideC + m0 * p.ldc + n0, p.ldc,
              e->bias ? e->bias + n0 : nullptr, e->activation, residual,
              e->ldr);
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Problems below this many multiply-adds run on the calling thread alone:
/// waking a worker costs more than it saves.
constexpr int64_t SerialFmaThreshold = int64_t(1) << 20;

/// C = beta * C over an m x n block (beta == 0 writes zeros without reading).
void scaleC(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
  if (beta == 1.0f)
    return;
  for (int64_t i = 0; i < m; ++i) {
    float *row = c + i * ldc;
    if (beta == 0.0f)
      std::memset(row, 0, sizeof(float) * n);
    else
      for (int64_t j = 0; j < n; ++j)
        row[j] *= beta;
  }
}

//===----------------------------------------------------------------------===//
// Blocked algorithm.
//===----------------------------------------------------------------------===//

struct BlockedJob {
  const GemmProblem *p;
  const KernelSet *ks;
  int64_t mTile, mTiles; // rows per task, tasks along M
  int64_t nTile, nTiles; // columns per task (multiple of nr), tasks along N
};

/// Runs the micro-kernel over rows [m0, m1) of one packed kc x nc block of B.
/// Rows are split into ceil(rows / mr) nearly equal tiles (e.g. 128 rows on a
/// 14-row kernel become 8 x 13 + 2 x 12, not 9 x 14 + 2), so no tile is so
/// short that its few accumulator chains leave the FMA pipes idle.
void runBlock(const KernelSet &ks, int64_t m0, int64_t m1, int64_t kc,
              int64_t nc, const float *a, int64_t rsA, int64_t csA,
              const float *bp, float *c, int64_t ldc, float alpha, float beta) {
  int64_t rows = m1 - m0;
  int64_t tiles = ceilDiv(rows, ks.mr);
  int64_t base = rows / tiles, extra = rows % tiles;
  for (int64_t jr = 0, q = 0; jr < nc; jr += ks.nr, ++q) {
    const float *panel = bp + q * kc * ks.nr;
    int64_t i = m0;
    for (int64_t t = 0; t < tiles; ++t) {
      int64_t mr = base + (t < extra ? 1 : 0);
      ks.microKernels[mr](kc, a + i * rsA, rsA, csA, panel, ks.nr,
                          c + i * ldc + jr, ldc, nc - jr, alpha, beta);
      i += mr;
    }
  }
}

void blockedTask(void *ctx, int64_t task, int /*thread*/) {
  const BlockedJob &job = *static_cast<const BlockedJob *>(ctx);
  const GemmProblem &p = *job.p;
  const KernelSet &ks = *job.ks;
  int64_t perItem = job.mTiles * job.nTiles;
  int64_t item = task / perItem, r = task % perItem;
  int64_t m0 = (r / job.nTiles) * job.mTile;
  int64_t m1 = std::min(p.m, m0 + job.mTile);
  int64_t n0 = (r % job.nTiles) * job.nTile;
  int64_t nc = std::min(p.n, n0 + job.nTile) - n0;

  const float *a = p.a + item * p.strideA;
  const float *b = p.b + item * p.strideB;
  float *c = p.c + item * p.strideC + n0;
  int64_t rsA = p.transA ? 1 : p.lda, csA = p.transA ? p.lda : 1;

  // K blocks of nearly equal size, none larger than ks.kc.
  int64_t kBlocks = ceilDiv(p.k, ks.kc);
  int64_t kcMax = ceilDiv(p.k, kBlocks);
  float *bp = TaskArena.get(ceilDiv(nc, ks.nr) * ks.nr * kcMax);
  if (!bp)
    return; // Out of memory: nothing sensible left to do without exceptions.

  for (int64_t pc = 0; pc < p.k; pc += kcMax) {
    int64_t kc = std::min(kcMax, p.k - pc);
    const float *bSrc = p.transB ? b + n0 * p.ldb + pc : b + pc * p.ldb + n0;
    ks.packB(kc, nc, bSrc, p.ldb, p.transB, bp);
    // Later K blocks accumulate onto the first one's result.
    float beta = pc == 0 ? p.beta : 1.0f;
    runBlock(ks, m0, m1, kc, nc, a + pc * csA, rsA, csA, bp, c, p.ldc, p.alpha,
             beta);
  }
  applyEpilogue(p, ks, item, m0, m1, n0, n0 + nc);
}

void runBlocked(const GemmProblem &p, const KernelSet &ks, int threads) {
  BlockedJob job;
  job.p = &p;
  job.ks = &ks;
  job.mTiles = ceilDiv(p.m, ks.mc);
  job.mTile = ceilDiv(p.m, job.mTiles);
  // Aim for about four tasks per thread (dynamic scheduling then absorbs
  // cores that other processes slow down), but keep at least two panels per
  // task and bound the packed block (kc x nTile) to a few hundred KiB so it
  // stays in L2 next to the A block.
  int64_t panels = ceilDiv(p.n, ks.nr);
  int64_t maxPanelsPerTask = std::max<int64_t>(2, 512 / ks.nr);
  int64_t wanted = threads > 1 ? ceilDiv(4 * threads, p.batch * job.mTiles) : 1;
  int64_t nTiles = std::max(wanted, ceilDiv(panels, maxPanelsPerTask));
  nTiles = std::max<int64_t>(1, std::min(nTiles, panels / 2));
  int64_t panelsPerTile = ceilDiv(panels, nTiles);
  job.nTile = panelsPerTile * ks.nr;
  job.nTiles = ceilDiv(panels, panelsPerTile);
  ThreadPool::get().parallelFor(p.batch * job.mTiles * job.nTiles, threads,
                                blockedTask, &job);
}

//===----------------------------------------------------------------------===//
// Unpacked algorithm: a few dozen rows against a row-major B.
//===----------------------------------------------------------------------===//

/// Products with MinUnpackedRows..MaxUnpackedRows rows against a row-major
/// (K x N) B run the micro-kernels on B in place instead of packing it: at
/// these heights B is read from DRAM about once, and packing it first
/// serializes that read with the multiply. Measured
/// (AVX-512, 2 threads, 24 distinct weights from DRAM): 768 x 3072 at 16
/// rows 0.33 vs 0.49-0.55 ms packed, 64 rows 0.85 vs 1.0 ms; even at 96.
constexpr int64_t MaxUnpackedRows = 64;

/// From this many rows on the unpacked kernels also beat the axpy-form
/// streaming kernel (streamNN), whose row updates of y go through L1 stores:
/// 6-8 rows against 768 x 3072 took 0.27 ms unpacked vs 0.45 streamed, while
/// up to 4 rows streamNN is as fast or faster.
constexpr int64_t MinUnpackedRows = 5;

/// K rows per block: short blocks keep the first row tile's prefetches
/// running while the other tiles compute on the block (in L1).
constexpr int64_t UnpackedKc = 64;

struct UnpackedJob {
  const GemmProblem *p;
  const KernelSet *ks;
  int64_t panelsPerTask, tasksPerItem;
};

/// Runs every row of one batch item against a range of whole NR-wide panels
/// of B: the first row tile streams each K block of a panel from memory
/// (prefetching ahead), the others find the block in L1. A partial last
/// panel is packed (zero padded) so that no kernel reads past the end of B's
/// rows.
void unpackedTask(void *ctx, int64_t task, int /*thread*/) {
  const UnpackedJob &job = *static_cast<const UnpackedJob *>(ctx);
  const GemmProblem &p = *job.p;
  const KernelSet &ks = *job.ks;
  int64_t item = task / job.tasksPerItem;
  int64_t n0 = (task % job.tasksPerItem) * job.panelsPerTask * ks.nr;
  int64_t n1 = std::min(p.n, n0 + job.panelsPerTask * ks.nr);
  const float *a = p.a + item * p.strideA;
  const float *b = p.b + item * p.strideB;
  float *c = p.c + item * p.strideC;
  int64_t rsA = p.transA ? 1 : p.lda, csA = p.transA ? p.lda : 1;
  int64_t tiles = ceilDiv(p.m, ks.mr);
  int64_t base = p.m / tiles, extra = p.m % tiles;
  for (int64_t j = n0; j < n1; j += ks.nr) {
    const float *panel = b + j;
    int64_t ldPanel = p.ldb;
    const MicroKernelFn *first = ks.unpackedKernels;
    if (n1 - j < ks.nr) {
      float *bp = TaskArena.get(p.k * ks.nr);
      if (!bp)
        return; // Out of memory: nothing sensible left to do.
      ks.packB(p.k, n1 - j, panel, p.ldb, /*trans=*/false, bp);
      panel = bp;
      ldPanel = ks.nr;
      first = ks.microKernels;
    }
    // K blocks: the other row tiles find the block the first one streamed in
    // L1, and the first tile's prefetches run into the next block, so the
    // panel streams from DRAM without pauses.
    for (int64_t pc = 0; pc < p.k; pc += UnpackedKc) {
      int64_t kc = std::min<int64_t>(UnpackedKc, p.k - pc);
      float beta = pc == 0 ? p.beta : 1.0f;
      for (int64_t t = 0, i = 0; t < tiles; ++t) {
        int64_t mr = base + (t < extra ? 1 : 0);
        const MicroKernelFn *kernels = t == 0 ? first : ks.microKernels;
        kernels[mr](kc, a + i * rsA + pc * csA, rsA, csA, panel + pc * ldPanel,
                    ldPanel, c + i * p.ldc + j, p.ldc, n1 - j, p.alpha, beta);
        i += mr;
      }
    }
  }
  applyEpilogue(p, ks, item, 0, p.m, n0, n1);
}

/// C = alpha op(A) B + beta C for a row-major B and few rows: tasks over
/// ranges of B's panels, each running all of op(A) against them.
void runUnpacked(const GemmProblem &p, const KernelSet &ks, int threads) {
  UnpackedJob job;
  job.p = &p;
  job.ks = &ks;
  int64_t panels = ceilDiv(p.n, ks.nr);
  // About four tasks per thread over the whole batch (dynamic scheduling
  // absorbs a core slowed by another process), each a contiguous range.
  int64_t wantedPerItem = ceilDiv(4 * int64_t(threads), p.batch);
  job.panelsPerTask = std::max<int64_t>(
      1, ceilDiv(panels, std::max<int64_t>(1, wantedPerItem)));
  job.tasksPerItem = ceilDiv(panels, job.panelsPerTask);
  ThreadPool::get().parallelFor(p.batch * job.tasksPerItem, threads,
                                unpackedTask, &job);
}

//===----------------------------------------------------------------------===//
// Streaming algorithm.
//===----------------------------------------------------------------------===//

/// One batch item in canonical streaming form:
///   out(i, j) = alpha * sum_p small(i, p) * big(p, j) + beta * out(i, j)
/// for i < rows (<= maxStreamRows), j < cols, with out(i, j) at
/// out[i * rsOut + j * csOut]. big(p, j) is big[j * ldBig + p] when bigIsNT,
/// else big[p * ldBig + j]. small(i, p) is small[i * ldSmall + p] unless
/// smallIsT, in which case it is small[p * ldSmall + i] and gets copied.
struct StreamItem {
  /// The problem and batch item this is, and whether rows/cols are its N/M
  /// (for the epilogue).
  const GemmProblem *p;
  int64_t item;
  bool swapped;
  int64_t rows, cols, k;
  const float *small;
  int64_t ldSmall;
  bool smallIsT;
  const float *big;
  int64_t ldBig;
  bool bigIsNT;
  float *out;
  int64_t rsOut, csOut;
  float alpha, beta;
};

StreamItem makeStreamItem(const GemmProblem &p, int64_t item, int64_t maxRows) {
  StreamItem s;
  s.p = &p;
  s.item = item;
  s.swapped = p.m > maxRows;
  const float *a = p.a + item * p.strideA, *b = p.b + item * p.strideB;
  s.k = p.k;
  s.out = p.c + item * p.strideC;
  s.alpha = p.alpha;
  s.beta = p.beta;
  if (p.m <= maxRows) {
    // op(A) is the small side, op(B) is streamed.
    s.rows = p.m;
    s.cols = p.n;
    s.small = a;
    s.ldSmall = p.lda;
    s.smallIsT = p.transA;
    s.big = b;
    s.ldBig = p.ldb;
    s.bigIsNT = p.transB;
    s.rsOut = p.ldc;
    s.csOut = 1;
  } else {
    // C^T = op(B)^T op(A)^T: op(B)^T is the small side, op(A) is streamed.
    s.rows = p.n;
    s.cols = p.m;
    s.small = b;
    s.ldSmall = p.ldb;
    s.smallIsT = !p.transB;
    s.big = a;
    s.ldBig = p.lda;
    s.bigIsNT = !p.transA;
    s.rsOut = 1;
    s.csOut = p.ldc;
  }
  return s;
}

/// Returns small() as a row-major rows x k matrix, copying into `tmp` when it
/// is stored transposed.
const float *contiguousSmall(const StreamItem &s, float *tmp, int64_t &ld) {
  if (!s.smallIsT) {
    ld = s.ldSmall;
    return s.small;
  }
  for (int64_t i = 0; i < s.rows; ++i)
    for (int64_t p = 0; p < s.k; ++p)
      tmp[i * s.k + p] = s.small[p * s.ldSmall + i];
  ld = s.k;
  return tmp;
}

/// out = alpha * sum_t partial_t + beta * out, partials of rows x cols at
/// `partials + t * rows * cols`.
void reducePartials(const StreamItem &s, const float *partials, int64_t count) {
  int64_t plane = s.rows * s.cols;
  for (int64_t i = 0; i < s.rows; ++i)
    for (int64_t j = 0; j < s.cols; ++j) {
      const float *src = partials + i * s.cols + j;
      float sum = src[0];
      for (int64_t t = 1; t < count; ++t)
        sum += src[t * plane];
      float &dst = s.out[i * s.rsOut + j * s.csOut];
      dst = s.beta == 0.0f ? s.alpha * sum : s.alpha * sum + s.beta * dst;
    }
}

/// Applies the epilogue to columns [j0, j1) of a stream item (all of its
/// rows).
void applyStreamEpilogue(const StreamItem &s, const KernelSet &ks, int64_t j0,
                         int64_t j1) {
  const GemmProblem &p = *s.p;
  if (s.swapped)
    applyEpilogue(p, ks, s.item, j0, j1, 0, p.n);
  else
    applyEpilogue(p, ks, s.item, 0, p.m, j0, j1);
}

/// Runs one item on the calling thread.
void runStreamSerial(const StreamItem &s, const KernelSet &ks) {
  int64_t tmpSize = s.smallIsT ? s.rows * s.k : 0;
  int64_t partialSize = s.bigIsNT ? 0 : s.rows * s.cols;
  // The NT path with a row-major small side needs no scratch at all: only a
  // failed non-empty allocation is an error.
  float *scratch = TaskArena.get(tmpSize + partialSize);
  if (!scratch && tmpSize + partialSize > 0)
    return;
  int64_t ld;
  const float *small = contiguousSmall(s, scratch, ld);
  if (s.bigIsNT) {
    ks.streamNT(s.rows, s.k, s.cols, small, ld, s.big, s.ldBig, s.out, s.rsOut,
                s.csOut, s.alpha, s.beta);
  } else {
    float *partial = scratch + tmpSize;
    ks.streamNN(s.rows, s.k, s.cols, small, ld, s.big, s.ldBig, partial,
                s.cols);
    reducePartials(s, partial, 1);
  }
  applyStreamEpilogue(s, ks, 0, s.cols);
}

struct StreamJob {
  const StreamItem *s;
  const KernelSet *ks;
  const float *small; // contiguous rows x k
  int64_t ldSmall;
  int64_t chunk;   // columns (NT) or K rows (NN) per task
  float *partials; // NN only: one rows x cols plane per task
};

void streamNTTask(void *ctx, int64_t task, int) {
  const StreamJob &job = *static_cast<const StreamJob *>(ctx);
  const StreamItem &s = *job.s;
  int64_t j0 = task * job.chunk, nj = std::min(job.chunk, s.cols - j0);
  job.ks->streamNT(s.rows, s.k, nj, job.small, job.ldSmall,
                   s.big + j0 * s.ldBig, s.ldBig, s.out + j0 * s.csOut, s.rsOut,
                   s.csOut, s.alpha, s.beta);
  applyStreamEpilogue(s, *job.ks, j0, j0 + nj);
}

void streamNNTask(void *ctx, int64_t task, int) {
  const StreamJob &job = *static_cast<const StreamJob *>(ctx);
  const StreamItem &s = *job.s;
  int64_t p0 = task * job.chunk, kp = std::min(job.chunk, s.k - p0);
  job.ks->streamNN(s.rows, kp, s.cols, job.small + p0, job.ldSmall,
                   s.big + p0 * s.ldBig, s.ldBig,
                   job.partials + task * s.rows * s.cols, s.cols);
}

/// Runs one item on up to `threads` threads.
void runStreamParallel(const StreamItem &s, const KernelSet &ks, int threads) {
  StreamJob job;
  job.s = &s;
  job.ks = &ks;
  // Two contiguous chunks per thread: long sequential streams, and some
  // slack when a core is busy with another process.
  int64_t tasks = 2 * int64_t(threads);
  if (s.bigIsNT) {
    job.chunk = std::max<int64_t>(8, ceilDiv(s.cols, tasks));
    tasks = ceilDiv(s.cols, job.chunk);
  } else {
    job.chunk = std::max<int64_t>(64, ceilDiv(s.k, tasks));
    tasks = ceilDiv(s.k, job.chunk);
  }
  int64_t tmpSize = s.smallIsT ? s.rows * s.k : 0;
  int64_t partialSize = s.bigIsNT ? 0 : tasks * s.rows * s.cols;
  float *scratch = CallArena.get(tmpSize + partialSize);
  if (!scratch && tmpSize + partialSize > 0)
    return;
  job.small = contiguousSmall(s, scratch, job.ldSmall);
  job.partials = scratch + tmpSize;
  ThreadPool::get().parallelFor(tasks, threads,
                                s.bigIsNT ? streamNTTask : streamNNTask, &job);
  if (!s.bigIsNT) {
    reducePartials(s, job.partials, tasks);
    applyStreamEpilogue(s, ks, 0, s.cols);
  }
}

//===----------------------------------------------------------------------===//
// Row-group streaming: a few dozen rows against a transposed operand.
//===----------------------------------------------------------------------===//

/// Products with at most this many rows against a transposed (N x K) B run
/// as groups of maxStreamRows-row dot-product streams instead of the blocked
/// algorithm, whose packing of B^T (a transpose of the whole matrix, on
/// every call) costs more than the multiply here: an 8-expert MoE layer at
/// 128 tokens (16-32 per expert) spent 60% of its time transposing.
/// Measured on AVX-512 (a loop of parsimony_sgemm calls over 16 distinct
/// weights, docs/runtime-kernels.md), N = 3072, K = 768, B from DRAM: 16 rows
/// 0.44 vs 0.63 ms, 32 rows 0.68 vs 0.85 ms, 48 rows even.
constexpr int64_t MaxGroupedStreamRows = 40;

/// ... and only while one row group of A stays in L1 (32 KiB) while B
/// streams past it: at K = 3072 the grouped path re-reads A from L2 for
/// every chunk of B and loses from 24 rows on.
constexpr int64_t GroupedStreamMaxGroupBytes = 32 * 1024;

/// Bytes of B one row-group task keeps in L2 while every row group of A
/// streams past it.
constexpr int64_t GroupedStreamChunkBytes = 96 * 1024;

struct GroupedStreamJob {
  const StreamItem *s;
  const KernelSet *ks;
  const float *small; // contiguous rows x k
  int64_t ldSmall;
  int64_t chunk; // columns of big per task
};

void groupedStreamTask(void *ctx, int64_t task, int) {
  const GroupedStreamJob &job = *static_cast<const GroupedStreamJob *>(ctx);
  const StreamItem &s = *job.s;
  const KernelSet &ks = *job.ks;
  int64_t j0 = task * job.chunk, nj = std::min(job.chunk, s.cols - j0);
  // The chunk of big is read from memory by the first row group and from
  // L2 by the others.
  for (int64_t i0 = 0; i0 < s.rows; i0 += ks.maxStreamRows) {
    int64_t rows = std::min<int64_t>(ks.maxStreamRows, s.rows - i0);
    ks.streamNT(rows, s.k, nj, job.small + i0 * job.ldSmall, job.ldSmall,
                s.big + j0 * s.ldBig, s.ldBig, s.out + i0 * s.rsOut + j0,
                s.rsOut, 1, s.alpha, s.beta);
  }
  applyStreamEpilogue(s, ks, j0, j0 + nj);
}

/// C = alpha op(A) B^T + beta C for p.m <= MaxGroupedStreamRows, B stored
/// N x K: tasks over chunks of B's rows, each running every row group of A.
void runGroupedStream(const GemmProblem &p, const KernelSet &ks, int threads) {
  for (int64_t item = 0; item < p.batch; ++item) {
    StreamItem s = makeStreamItem(p, item, p.m);
    GroupedStreamJob job;
    job.s = &s;
    job.ks = &ks;
    int64_t rowBytes = std::max<int64_t>(1, s.k * int64_t(sizeof(float)));
    job.chunk = std::max<int64_t>(8, GroupedStreamChunkBytes / rowBytes);
    // At least two tasks per thread, for balance.
    job.chunk =
        std::min(job.chunk, std::max<int64_t>(8, ceilDiv(s.cols, 2 * threads)));
    int64_t tasks = ceilDiv(s.cols, job.chunk);
    float *scratch = s.smallIsT ? CallArena.get(s.rows * s.k) : nullptr;
    if (s.smallIsT && !scratch)
      return;
    job.small = contiguousSmall(s, scratch, job.ldSmall);
    // One thread runs the tasks inline.
    ThreadPool::get().parallelFor(tasks, threads, groupedStreamTask, &job);
  }
}

struct StreamBatchJob {
  const GemmProblem *p;
  const KernelSet *ks;
};

void streamItemTask(void *ctx, int64_t item, int) {
  const StreamBatchJob &job = *static_cast<const StreamBatchJob *>(ctx);
  runStreamSerial(makeStreamItem(*job.p, item, job.ks->maxStreamRows), *job.ks);
}

void runStream(const GemmProblem &p, const KernelSet &ks, int threads) {
  int64_t itemFmas = p.m * p.n * p.k;
  if (threads > 1 && (p.batch >= threads || itemFmas < SerialFmaThreshold)) {
    // Many (or tiny) items: one item per task.
    StreamBatchJob job{&p, &ks};
    ThreadPool::get().parallelFor(p.batch, threads, streamItemTask, &job);
    return;
  }
  for (int64_t item = 0; item < p.batch; ++item) {
    StreamItem s = makeStreamItem(p, item, ks.maxStreamRows);
    if (threads > 1)
      runStreamParallel(s, ks, threads);
    else
      runStreamSerial(s, ks);
  }
}

//===----------------------------------------------------------------------===//
// Entry point.
//===----------------------------------------------------------------------===//

void gemm(const GemmProblem &p) {
  if (p.batch <= 0 || p.m <= 0 || p.n <= 0 || p.k < 0)
    return;
  const KernelSet &ks = kernelsFor(activeIsa().load(std::memory_order_relaxed));
  if (p.k == 0 || p.alpha == 0.0f) {
    for (int64_t item = 0; item < p.batch; ++item) {
      scaleC(p.m, p.n, p.beta, p.c + item * p.strideC, p.ldc);
      applyEpilogue(p, ks, item, 0, p.m, 0, p.n);
    }
    return;
  }
  int64_t fmas = p.batch * p.m * p.n * p.k;
  int threads =
      fmas < SerialFmaThreshold ? 1 : ThreadPool::get().getNumThreads();
  if (!p.transB && p.m >= MinUnpackedRows && p.m <= MaxUnpackedRows &&
      p.n > ks.maxStreamRows)
    runUnpacked(p, ks, threads);
  else if (p.m <= ks.maxStreamRows || p.n <= ks.maxStreamRows)
    runStream(p, ks, threads);
  else if (p.transB && p.m <= MaxGroupedStreamRows &&
           p.k * int64_t(sizeof(float)) * ks.maxStreamRows <=
               GroupedStreamMaxGroupBytes)
    runGroupedStream(p, ks, threads);
  else
    runBlocked(p, ks, threads);
}

} // namespace

void parsimony::runtime::applyGemmEpilogue(int64_t rows, int64_t cols, float *c,
                                           int64_t ldc, const float *bias,
                                           int32_t activation,
                                           const float *residual, int64_t ldr) {
  if (rows <= 0 || cols <= 0)
    return;
  kernelsFor(activeIsa().load(std::memory_order_relaxed))
      .epilogue(rows, cols, c, ldc, bias, activation, residual, ldr);
}

//===----------------------------------------------------------------------===//
// C ABI.
//===----------------------------------------------------------------------===//

extern "C" {

void parsimony_sgemm(int64_t M, int64_t N, int64_t K, float alpha,
                     const float *A, int64_t lda, int32_t transA,
                     const float *B, int64_t ldb, int32_t transB, float beta,
                     float *C, int64_t ldc) {
  gemm(GemmProblem{1, M, N, K, alpha, beta, A, lda, 0, transA != 0, B, ldb, 0,
                   transB != 0, C, ldc, 0});
}

void parsimony_sgemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K,
                             float alpha, const float *A, int64_t lda,
                             int64_t strideA, int32_t transA, const float *B,
                             int64_t ldb, int64_t strideB, int32_t transB,
                             float beta, float *C, int64_t ldc,
                             int64_t strideC) {
  gemm(GemmProblem{batch, M, N, K, alpha, beta, A, lda, strideA, transA != 0, B,
                   ldb, strideB, transB != 0, C, ldc, strideC});
}

void parsimony_sgemm_epilogue(int64_t M, int64_t N, int64_t K, const float *A,
                              int64_t lda, const float *B, int64_t ldb,
                              int32_t transB, const float *bias,
                              int32_t activation, const float *R, int64_t ldr,
                              float *C, int64_t ldc) {
  GemmEpilogue epilogue{bias, activation, R, ldr, 0};
  GemmProblem p{1,     M, N,   K, 1.0f,        0.0f, A,   lda, 0,
                false, B, ldb, 0, transB != 0, C,    ldc, 0};
  p.epilogue = &epilogue;
  gemm(p);
}

void parsimony_set_num_threads(int32_t n) {
  ThreadPool::get().setNumThreads(n);
}

void parsimony_runtime_shutdown(void) { ThreadPool::stopWorkers(); }

int32_t parsimony_get_num_threads(void) {
  return ThreadPool::get().getNumThreads();
}

int32_t parsimony_get_isa(void) {
  return activeIsa().load(std::memory_order_relaxed);
}

int32_t parsimony_set_isa(int32_t isa) {
  int chosen = clampIsa(isa);
  activeIsa().store(chosen, std::memory_order_relaxed);
  return chosen;
}

} // extern "C"
