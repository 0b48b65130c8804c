//===- GpuRuntime.cpp - CUDA driver runtime for GPU-compiled models -------===//
//
// See include/parsimony/Runtime/GpuRuntime.h: the run brackets, MLIR's
// mgpu* ABI and the kernel launchers. The driver, errors and the allocator
// are in GpuDriver.cpp; how work reaches the GPU in WorkQueue.cpp.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Runtime/GpuRuntime.h"

#include "GpuDriver.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

extern "C" const unsigned char parsimony_gpu_kernels_fatbin[];
extern "C" const size_t parsimony_gpu_kernels_fatbin_size;

namespace {

using namespace parsimony::gpu;

CUfunction libraryFunction(const char *name) {
  if (!enter() || !ok())
    return nullptr;
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (!s.library &&
      !check(drv().cuModuleLoadData(&s.library, parsimony_gpu_kernels_fatbin),
             "loading the GPU kernel library"))
    return nullptr;
  auto it = s.functions.find(name);
  if (it != s.functions.end())
    return it->second;
  CUfunction f = nullptr;
  if (!check(drv().cuModuleGetFunction(&f, s.library, name),
             "cuModuleGetFunction"))
    return nullptr;
  s.functions[name] = f;
  return f;
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Launches library kernel `name` with `threads` threads per block.
template <typename... Args>
void launchBlocks(const char *name, Dim3 grid, unsigned threads, Args... args) {
  if (grid.x <= 0 || grid.y <= 0 || grid.z <= 0)
    return;
  CUfunction f = libraryFunction(name);
  if (!f)
    return;
  if (grid.x > 0x7fffffff || grid.y > 65535 || grid.z > 65535) {
    fail(std::string(name) + ": problem too large for one launch");
    return;
  }
  void *params[] = {static_cast<void *>(&args)..., nullptr};
  size_t sizes[] = {sizeof(Args)..., 0};
  submitLaunch(f, name, grid, {threads}, 0, params, sizes, sizeof...(Args));
}

/// The same with 256 threads per block (most kernels).
template <typename... Args>
void launch(const char *name, Dim3 grid, Args... args) {
  launchBlocks(name, grid, 256, args...);
}

/// Threads per block of the top-k kernels (kBlock in GpuKernels.cu).
constexpr unsigned kTopkBlock = 1024;
/// Longest row parsimony_gpu_predict_topk selects from (kStagedKeys).
constexpr int64_t kPredictTopkMax = 4096;
/// Limits of parsimony_gpu_support_ffn (kFusedTokens, kFusedFloats).
constexpr int64_t kFusedTokens = 8, kFusedFloats = 8192;

/// `n` device counters that are zero whenever no kernel runs: a kernel
/// that counts finished blocks in one resets it before it ends. Grown on
/// demand; all work is on one stream, so the old buffer can be recycled.
unsigned *launchCounters(int64_t n) {
  State &s = state();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.counterCount >= n)
      return static_cast<unsigned *>(s.counters);
  }
  void *p = allocate(size_t(n) * sizeof(unsigned), /*runScoped=*/false);
  if (!p)
    return nullptr;
  submitMemset(reinterpret_cast<CUdeviceptr>(p), 0, 4, size_t(n));
  release(s.counters);
  std::lock_guard<std::mutex> lock(s.mutex);
  s.counters = p;
  s.counterCount = n;
  return static_cast<unsigned *>(p);
}

/// Device-side twin of GpuKernels.cu's Weight.
struct Weight {
  const void *w;
  const void *scales;
  int32_t layout;
  int32_t bits;
  int64_t group;
  int32_t scalesF16;
  int32_t padding; // explicit and zero: launches are compared bytewise
  int64_t K, N;
};

#define WEIGHT(prefix, k, n)                                                   \
  Weight {                                                                     \
    prefix##_w, prefix##_scales, prefix##_layout, prefix##_bits,               \
        prefix##_group, prefix##_scales_f16, 0, (k), (n)                       \
  }

/// Scratch device memory for one launcher call.
struct Scratch {
  std::vector<void *> blocks;
  template <typename T> T *get(int64_t n) {
    void *p = allocate(sizeof(T) * size_t(std::max<int64_t>(n, 1)));
    blocks.push_back(p);
    return static_cast<T *>(p);
  }
  bool valid() const {
    return std::all_of(blocks.begin(), blocks.end(),
                       [](void *p) { return p != nullptr; });
  }
  ~Scratch() {
    for (void *p : blocks)
      release(p);
  }
};

/// Threads per block of the tensor-core kernels (kMmaThreads), their tile
/// (kMmaTile), and the fewest rows for which they beat the row kernels.
constexpr unsigned kMmaThreads = 128;
constexpr int64_t kMmaTile = 64, kMmaMinRows = 9;

/// Whether products of many rows run on tensor cores (3xTF32, about f32
/// accuracy). PARSIMONY_GPU_TENSOR_CORES=0 selects the f32 SIMT kernels.
bool tensorCores(int64_t rows) {
  if (rows < kMmaMinRows)
    return false;
  const char *env = std::getenv("PARSIMONY_GPU_TENSOR_CORES");
  return !env || std::strcmp(env, "0") != 0;
}

/// A product of T rows with weight w: runs the tensor-core kernel `mma`
/// for many rows, else the warp-per-output kernel `warp` on nk weights or
/// the thread-per-output kernel `columns` (GpuKernels.cu's matmulMma,
/// matmulWarp, matmulColumns), each with the arguments `args`.
template <typename... Args>
void launchProduct(const char *mma, const char *warp, const char *columns,
                   int64_t T, const Weight &w, Args... args) {
  if (tensorCores(T))
    launchBlocks(mma, {ceilDiv(w.N, kMmaTile), ceilDiv(T, kMmaTile)},
                 kMmaThreads, args...);
  else if (w.layout == 1)
    launch(warp, {ceilDiv(w.N, 8), T}, args...);
  else
    launch(columns, {ceilDiv(w.N, 256), T}, args...);
}

/// out[T, N] = in[T, K] * W (+ bias).
void matmul(const float *in, int64_t T, const Weight &w, const float *bias,
            float *out) {
  launchProduct("parsimony_gpu_matmul_mma", "parsimony_gpu_matmul_warp",
                "parsimony_gpu_matmul_columns", T, w, in, T, w, bias, out);
}

/// out[T, N] = bias + in * W reading only W's rows for nonzero inputs.
void sparseRows(const float *in, int64_t T, const Weight &w, const float *bias,
                float *out) {
  launch("parsimony_gpu_init_rows", {ceilDiv(T * w.N, 256)}, out, T, w.N, bias);
  // Enough chunks over K to fill the GPU when T is small; at most 256 rows
  // each (the kernel stages a chunk in shared memory).
  int64_t chunks = std::clamp<int64_t>(ceilDiv(512, ceilDiv(w.N, 256) * T), 1,
                                       std::max<int64_t>(w.K / 16, 1));
  int64_t kChunk = std::min<int64_t>(ceilDiv(w.K, chunks), 256);
  launch("parsimony_gpu_sparse_rows",
         {ceilDiv(w.N, 256), T, ceilDiv(w.K, kChunk)}, in, T, w, kChunk, out);
}

} // namespace

//===----------------------------------------------------------------------===//
// Run brackets, constants.
//===----------------------------------------------------------------------===//

extern "C" {

int32_t parsimony_gpu_available(void) { return initialise() ? 1 : 0; }

int32_t parsimony_gpu_begin_run(void) {
  State &s = state();
  if (!initialise()) {
    s.runError = s.initError;
    return 1;
  }
  beginQueueing(); // waits for another thread's run to end
  s.runError.clear();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.runAllocations = 0;
    s.runLive.clear();
  }
  if (!enter()) {
    endQueueing();
    return 1;
  }
  return 0;
}

void parsimony_gpu_release_run_buffers(void) {
  State &s = state();
  std::vector<CUdeviceptr> live;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    live.assign(s.runLive.begin(), s.runLive.end());
  }
  for (CUdeviceptr p : live)
    release(reinterpret_cast<void *>(p));
}

int32_t parsimony_gpu_end_run(void) {
  State &s = state();
  endQueueing();
  if (!s.initError.empty() && s.runError.empty())
    s.runError = s.initError;
  return s.runError.empty() ? 0 : 1;
}

void parsimony_gpu_replay_counts(int64_t *captured, int64_t *replayed) {
  ReplayCounts counts = replayCounts();
  if (captured)
    *captured = counts.captured;
  if (replayed)
    *replayed = counts.replayed;
}

const char *parsimony_gpu_last_error(void) { return state().runError.c_str(); }

void *parsimony_gpu_constant(const void *host, int64_t bytes) {
  if (!enter() || !ok())
    return nullptr;
  State &s = state();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.constants.find({host, bytes});
    if (it != s.constants.end())
      return reinterpret_cast<void *>(it->second);
  }
  void *device = allocate(size_t(bytes), /*runScoped=*/false);
  if (!device)
    return nullptr;
  // Straight to the stream (after the queued work): constants are uploaded
  // by a run's first use only, so they are no part of what repeats.
  flushWork();
  if (!check(drv().cuMemcpyHtoDAsync(reinterpret_cast<CUdeviceptr>(device),
                                     host, size_t(bytes), state().stream),
             "uploading a constant"))
    return nullptr;
  std::lock_guard<std::mutex> lock(s.mutex);
  s.liveBlocks.erase(reinterpret_cast<CUdeviceptr>(device)); // never recycled
  s.constants[{host, bytes}] = reinterpret_cast<CUdeviceptr>(device);
  return device;
}

//===----------------------------------------------------------------------===//
// MLIR's gpu-to-llvm ABI (mgpu*), over the driver.
//===----------------------------------------------------------------------===//

void *mgpuModuleLoad(void *data, size_t /*size*/) {
  // Runs from the model library's constructor: on failure record it, so
  // the first run reports it.
  if (!enter())
    return nullptr;
  CUmodule module = nullptr;
  CUresult r = drv().cuModuleLoadData(&module, data);
  if (r != CUDA_SUCCESS) {
    State &s = state();
    s.runError.clear();
    check(r, "loading the model's GPU kernels");
    s.initError = s.runError;
    return nullptr;
  }
  return module;
}

/// Kernels embedded as PTX (--gpu-binary=ptx): the driver compiles them
/// for the GPU at hand (cuModuleLoadData takes NUL-terminated PTX too).
void *mgpuModuleLoadJIT(void *data, int /*optLevel*/) {
  return mgpuModuleLoad(data, 0);
}

void mgpuModuleUnload(void *module) {
  if (module && state().initError.empty())
    drv().cuModuleUnload(static_cast<CUmodule>(module));
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  if (!module || !enter())
    return nullptr;
  CUfunction f = nullptr;
  check(drv().cuModuleGetFunction(&f, static_cast<CUmodule>(module), name),
        name);
  return f;
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void * /*stream*/,
                      void **params, void **extra, size_t paramsCount) {
  if (!function || !ok())
    return;
  if (gridX <= 0 || gridY <= 0 || gridZ <= 0)
    return; // an empty iteration space
  auto f = static_cast<CUfunction>(function);
  const char *what = "launching a generated kernel";
  Dim3 grid{gridX, gridY, gridZ}, block{blockX, blockY, blockZ};
  const size_t *sizes = extra ? nullptr : generatedParamSizes(f, paramsCount);
  if (sizes)
    submitLaunch(f, what, grid, block, unsigned(smem), params, sizes,
                 paramsCount);
  else
    submitUnsizedLaunch(f, what, grid, block, unsigned(smem), params, extra);
}

// The runtime's one stream serves every mgpu stream. The host only reads
// device memory through mgpuMemcpy, which waits, so stream synchronisation
// is not needed between kernels.
void *mgpuStreamCreate() { return nullptr; }
void mgpuStreamDestroy(void *) {}
void mgpuStreamSynchronize(void *) {}
void mgpuStreamWaitEvent(void *, void *) {}
void *mgpuEventCreate() { return nullptr; }
void mgpuEventDestroy(void *) {}
void mgpuEventSynchronize(void *) {}
void mgpuEventRecord(void *, void *) {}

void *mgpuMemAlloc(uint64_t sizeBytes, void * /*stream*/,
                   bool /*isHostShared*/) {
  return allocate(size_t(sizeBytes));
}

void mgpuMemFree(void *ptr, void * /*stream*/) { release(ptr); }

void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void * /*stream*/) {
  if (!sizeBytes || !enter() || !ok() || !dst || !src)
    return;
  auto dstDevice = reinterpret_cast<CUdeviceptr>(dst);
  auto srcDevice = reinterpret_cast<CUdeviceptr>(src);
  bool toDevice = isDevicePointer(dst), fromDevice = isDevicePointer(src);
  if (toDevice && fromDevice) {
    submitCopyOnDevice(dstDevice, srcDevice, sizeBytes);
  } else if (toDevice) {
    submitCopyToDevice(dstDevice, src, sizeBytes);
  } else if (fromDevice) {
    copyToHost(dst, srcDevice, sizeBytes);
  } else {
    synchronize();
    std::memmove(dst, src, sizeBytes);
  }
}

void mgpuMemset32(void *dst, unsigned value, size_t count, void *) {
  if (count && dst && enter() && ok())
    submitMemset(reinterpret_cast<CUdeviceptr>(dst), value, 4, count);
}

void mgpuMemset16(void *dst, unsigned short value, size_t count, void *) {
  if (count && dst && enter() && ok())
    submitMemset(reinterpret_cast<CUdeviceptr>(dst), value, 2, count);
}

void mgpuSetDefaultDevice(int32_t) {}

//===----------------------------------------------------------------------===//
// Kernel launchers.
//===----------------------------------------------------------------------===//

void parsimony_gpu_sgemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K,
                                 float alpha, const float *A, int64_t lda,
                                 int64_t strideA, int32_t transA,
                                 const float *B, int64_t ldb, int64_t strideB,
                                 int32_t transB, float beta, float *C,
                                 int64_t ldc, int64_t strideC) {
  if (batch <= 0 || M <= 0 || N <= 0)
    return;
  if (tensorCores(M)) {
    launchBlocks("parsimony_gpu_sgemm_mma",
                 {ceilDiv(N, kMmaTile), ceilDiv(M, kMmaTile), batch},
                 kMmaThreads, M, N, K, alpha, A, lda, strideA, transA, B, ldb,
                 strideB, transB, beta, C, ldc, strideC);
    return;
  }
  if (M > 8) {
    launch("parsimony_gpu_sgemm_tiled", {ceilDiv(N, 64), ceilDiv(M, 64), batch},
           M, N, K, alpha, A, lda, strideA, transA, B, ldb, strideB, transB,
           beta, C, ldc, strideC);
    return;
  }
  if (transB) {
    launch("parsimony_gpu_sgemm_rows_nk", {ceilDiv(N, 8), M, batch}, M, N, K,
           alpha, A, lda, strideA, transA, B, ldb, strideB, beta, C, ldc,
           strideC);
    return;
  }
  if (beta != 1.0f)
    launch("parsimony_gpu_scale", {ceilDiv(M * N, 256), batch}, C, M, N, ldc,
           strideC, beta);
  if (K <= 0)
    return;
  int64_t chunks = std::clamp<int64_t>(ceilDiv(1024, ceilDiv(N, 256) * batch),
                                       1, std::max<int64_t>(K / 32, 1));
  int64_t kChunk = ceilDiv(K, chunks);
  launch("parsimony_gpu_sgemm_rows",
         {ceilDiv(N, 256), ceilDiv(K, kChunk), batch}, M, N, K, alpha, A, lda,
         strideA, transA, B, ldb, strideB, transB, C, ldc, strideC, kChunk);
}

void parsimony_gpu_quant_matmul_f32(const float *in, int64_t T, int64_t K,
                                    int64_t N, PARSIMONY_WEIGHT_PARAMS(weight),
                                    float *out) {
  if (T <= 0 || N <= 0)
    return;
  matmul(in, T, WEIGHT(weight, K, N), nullptr, out);
}

void parsimony_gpu_quant_matmul_u8_f32(const uint8_t *in, int64_t T, int64_t K,
                                       int64_t N,
                                       PARSIMONY_WEIGHT_PARAMS(weight),
                                       int32_t in_signed, int32_t zero_point,
                                       const void *zero_point_at,
                                       const float *bias, int32_t activation,
                                       const float *residual, float *out) {
  if (T <= 0 || N <= 0)
    return;
  Weight w = WEIGHT(weight, K, N);
  int32_t isSigned = in_signed != 0;
  // The exact tensor-core kernel sums integers of at most 255 * 128 in
  // int32: a per-channel quantized weight, a zero point in the
  // activations' range (a byte at zero_point_at is) and K <= 65536 keep
  // every sum in range. Otherwise the weights are dequantized as they are
  // staged (f32 accuracy).
  bool perChannel = w.bits != 32 && !(w.group > 0 && K % w.group == 0);
  bool zeroPointInRange =
      zero_point_at || (isSigned ? zero_point >= -128 && zero_point <= 127
                                 : zero_point >= 0 && zero_point <= 255);
  const char *mma = perChannel && zeroPointInRange && K <= 65536
                        ? "parsimony_gpu_quant_matmul_u8_mma"
                        : "parsimony_gpu_quant_matmul_u8_mma_dequant";
  launchProduct(mma, "parsimony_gpu_quant_matmul_u8_warp",
                "parsimony_gpu_quant_matmul_u8_columns", T, w, in, isSigned,
                zero_point, zero_point_at, T, w, bias, activation, residual,
                out);
}

void parsimony_gpu_topk_activation_f32(const float *in, float *out,
                                       int64_t outer, int64_t axis,
                                       int64_t inner, int64_t k,
                                       int32_t /*approx*/,
                                       float /*recall_target*/) {
  // The radix select is exact, which satisfies any recall target.
  if (outer <= 0 || axis <= 0 || inner <= 0)
    return;
  launchBlocks("parsimony_gpu_topk_activation", {outer * inner}, kTopkBlock, in,
               out, outer, axis, inner, k);
}

void parsimony_gpu_sparse_matmul_f32(const float *in, int64_t T, int64_t K,
                                     int64_t N, PARSIMONY_WEIGHT_PARAMS(weight),
                                     float *out) {
  if (T <= 0 || N <= 0)
    return;
  sparseRows(in, T, WEIGHT(weight, K, N), nullptr, out);
}

void parsimony_gpu_support_matmul_f32(const float *in, int64_t T, int64_t K,
                                      int64_t N,
                                      PARSIMONY_WEIGHT_PARAMS(weight),
                                      const void *support, int32_t support_i64,
                                      int64_t S, int32_t side, float *out) {
  if (T <= 0)
    return;
  Weight w = WEIGHT(weight, K, N);
  if (side == 0)
    launch("parsimony_gpu_support_out", {ceilDiv(S, 8), T}, in, T, w, support,
           support_i64, S, out);
  else
    launch("parsimony_gpu_support_in", {ceilDiv(N, 256), T}, in, T, w, support,
           support_i64, S, out);
}

void parsimony_gpu_predict_support_f32(const float *x, int64_t T, int64_t K,
                                       int64_t N,
                                       PARSIMONY_WEIGHT_PARAMS(weight),
                                       const float *factor, int64_t rank,
                                       const float *bias, int64_t k, void *out,
                                       int32_t out_i64) {
  if (T <= 0 || k <= 0)
    return;
  Scratch scratch;
  float *scores = scratch.get<float>(T * N);
  if (factor) {
    float *mid = scratch.get<float>(T * rank);
    if (!scratch.valid())
      return;
    matmul(x, T, WEIGHT(weight, K, rank), nullptr, mid);
    parsimony_gpu_sgemm_batched(1, T, N, rank, 1.0f, mid, rank, 0, 0, factor, N,
                                0, 0, 0.0f, scores, N, 0);
    if (bias)
      launch("parsimony_gpu_add_bias", {ceilDiv(T * N, 256)}, scores, T, N,
             bias);
  } else {
    if (!scratch.valid())
      return;
    Weight w = WEIGHT(weight, K, N);
    if (w.layout == 1 && N <= kPredictTopkMax) {
      // Decode-sized rows: scores and selection in one launch.
      unsigned *counters = launchCounters(T);
      if (counters)
        launch("parsimony_gpu_predict_topk", {ceilDiv(N, 8), T}, x, T, w, bias,
               k, scores, counters, out, out_i64);
      return;
    }
    if (w.layout == 1)
      launch("parsimony_gpu_predictor_scores", {ceilDiv(N, 8), T}, x, w, bias,
             scores);
    else
      matmul(x, T, w, bias, scores);
  }
  launchBlocks("parsimony_gpu_topk_indices", {T}, kTopkBlock,
               static_cast<const float *>(scores), N, k, out, out_i64);
}

void parsimony_gpu_sparse_ffn_f32(
    const float *x, int64_t T, int64_t D, int64_t F,
    PARSIMONY_WEIGHT_PARAMS(up), const float *up_bias,
    PARSIMONY_WEIGHT_PARAMS(gate), PARSIMONY_WEIGHT_PARAMS(down),
    const float *down_bias, const void *support, int32_t support_i64, int64_t S,
    int64_t support_block, int32_t activation, int64_t topk,
    const float *residual, float *y) {
  if (T <= 0 || D <= 0)
    return;
  Scratch scratch;
  int64_t block = std::max<int64_t>(support_block, 1);
  Weight upW = WEIGHT(up, D, F), gateW = WEIGHT(gate, D, F);
  int32_t gated = gate_w != nullptr;
  // Explicit supports go through one fused launch when the token rows of a
  // block fit in shared memory and the top-k, if any, only zeroes h <= 0:
  // that holds when the block's union U (<= tokens * S) has |U| <= topk
  // and at least topk unsupported zeros beside it.
  int64_t rows = std::min(block, T);
  int64_t unionBound = std::min(rows * S, F);
  bool ranks = topk > 0 && topk < F;
  if (support && rows <= kFusedTokens && rows * D <= kFusedFloats &&
      (!ranks || (unionBound <= topk && F - unionBound >= topk))) {
    int64_t tokenBlocks = ceilDiv(T, block);
    int64_t perBlock = std::clamp<int64_t>(ceilDiv(rows * S, 8), 1, 32);
    float *partials = scratch.get<float>(tokenBlocks * perBlock * rows * D);
    unsigned *counters = launchCounters(tokenBlocks);
    if (!scratch.valid() || !counters)
      return;
    launch("parsimony_gpu_support_ffn", {perBlock, tokenBlocks}, x, T, upW,
           up_bias, gateW, gated, WEIGHT(down, F, D), down_bias, support,
           support_i64, S, block, activation, int32_t(ranks), residual,
           partials, counters, y);
    return;
  }
  float *h = scratch.get<float>(T * F);
  uint8_t *mask =
      support ? scratch.get<uint8_t>(ceilDiv(T, block) * F) : nullptr;
  if (!scratch.valid())
    return;
  if (mask) {
    submitMemset(reinterpret_cast<CUdeviceptr>(mask), 0, 1,
                 size_t(ceilDiv(T, block) * F));
    launch("parsimony_gpu_support_mask", {ceilDiv(T * S, 256)}, support,
           support_i64, T, S, F, block, mask);
  }
  launch("parsimony_gpu_ffn_hidden", {ceilDiv(F, 8)}, x, T, upW, up_bias, gateW,
         gated, static_cast<const uint8_t *>(mask), block, activation, h);
  if (topk > 0 && topk < F)
    launchBlocks("parsimony_gpu_topk_rows", {T}, kTopkBlock, h, F, topk);
  sparseRows(h, T, WEIGHT(down, F, D), down_bias, y);
  if (residual)
    launch("parsimony_gpu_add_rows", {ceilDiv(T * D, 256)}, y, T * D, residual);
}

void parsimony_gpu_route_f32(const float *x, int64_t T, int64_t D,
                             const float *router_w, const float *router_b,
                             int64_t E, int64_t k, int32_t normalize,
                             float *gates, void *experts, int32_t experts_i64) {
  if (T <= 0 || E <= 0)
    return;
  Scratch scratch;
  float *p = scratch.get<float>(T * E);
  if (!scratch.valid())
    return;
  launch("parsimony_gpu_route", {T}, x, D, router_w, router_b, E, k, normalize,
         gates, experts, experts_i64, p);
}

void parsimony_gpu_dispatch_f32(const float *x, int64_t T, int64_t D,
                                const void *experts, int32_t experts_i64,
                                int64_t k, int64_t E, int32_t mode,
                                int64_t capacity, float *rows, int64_t R,
                                int64_t *offsets, int64_t *sizes,
                                int64_t *slots) {
  if (E <= 0)
    return;
  Scratch scratch;
  int64_t *rowSource = scratch.get<int64_t>(R);
  if (!scratch.valid())
    return;
  Dim3 one;
  launch("parsimony_gpu_dispatch_plan", one, experts, experts_i64, T, k, E,
         mode, capacity, R, offsets, sizes, slots, rowSource);
  launch("parsimony_gpu_gather_rows", {ceilDiv(R * D, 256)}, x, D,
         static_cast<const int64_t *>(rowSource), R, rows);
}

void parsimony_gpu_expert_ffn_f32(
    const float *rows, int64_t R, int64_t D, const int64_t *offsets,
    const int64_t *sizes, int64_t E, int64_t F, PARSIMONY_WEIGHT_PARAMS(fc1),
    const float *fc1_bias, PARSIMONY_WEIGHT_PARAMS(fc2), const float *fc2_bias,
    PARSIMONY_WEIGHT_PARAMS(fc3), const float *fc3_bias, int32_t activation,
    int32_t swiglu_fusion, float alpha, float beta, float swiglu_limit,
    float *out) {
  if (R <= 0 || D <= 0)
    return;
  bool fused = activation == 6 && (swiglu_fusion == 1 || swiglu_fusion == 2);
  Scratch scratch;
  int64_t *rowExpert = scratch.get<int64_t>(R);
  float *hidden = scratch.get<float>(R * F);
  if (!scratch.valid())
    return;
  launch("parsimony_gpu_row_experts", {ceilDiv(R, 256)}, offsets, sizes, E, R,
         rowExpert);
  Weight fc1 = WEIGHT(fc1, D, fused ? 2 * F : F);
  Weight fc2 = WEIGHT(fc2, F, D);
  Weight fc3 = WEIGHT(fc3, D, F);
  int32_t hasFc3 = fc3_w != nullptr && !fused;
  const int64_t *rowExpert64 = rowExpert;
  if (!tensorCores(R)) {
    launch("parsimony_gpu_expert_hidden", {ceilDiv(F, 256), R}, rows, D,
           rowExpert64, F, fc1, fc1_bias, fc3, hasFc3, fc3_bias, activation,
           swiglu_fusion, alpha, beta, swiglu_limit, hidden);
    launch("parsimony_gpu_expert_out", {ceilDiv(D, 256), R},
           static_cast<const float *>(hidden), F, rowExpert64, fc2, fc2_bias,
           out);
    return;
  }
  // Grouped GEMMs over the experts' row groups, whose sizes are on the
  // device: the grid covers every way R rows can split into E groups.
  float *pre1 = scratch.get<float>(R * fc1.N);
  float *pre3 = hasFc3 ? scratch.get<float>(R * F) : nullptr;
  if (!scratch.valid())
    return;
  auto grouped = [&](const float *in, const Weight &w, const float *bias,
                     float *y) {
    launchBlocks("parsimony_gpu_expert_matmul_mma",
                 {ceilDiv(w.N, kMmaTile), ceilDiv(R, kMmaTile) + E},
                 kMmaThreads, in, R, offsets, sizes, E, w, bias, y);
  };
  grouped(rows, fc1, nullptr, pre1);
  if (hasFc3)
    grouped(rows, fc3, nullptr, pre3);
  launch("parsimony_gpu_expert_activation", {ceilDiv(R * F, 256)},
         static_cast<const float *>(pre1), static_cast<const float *>(pre3),
         rowExpert64, R, F, fc1.N, fc1_bias, hasFc3, fc3_bias, activation,
         swiglu_fusion, alpha, beta, swiglu_limit, hidden);
  // Rows of no group (dropped by capacity) are zero.
  submitMemset(reinterpret_cast<CUdeviceptr>(out), 0, 4, size_t(R * D));
  grouped(hidden, fc2, fc2_bias, out);
}

void parsimony_gpu_combine_f32(const float *expert_out, int64_t R, int64_t D,
                               const void *slots, int32_t slots_i64, int64_t T,
                               int64_t k, const float *gates,
                               const float *residual, float *out) {
  if (T <= 0 || D <= 0)
    return;
  launch("parsimony_gpu_combine", {ceilDiv(T * D, 256)}, expert_out, R, D,
         slots, slots_i64, T, k, gates, residual, out);
}

} // extern "C"
