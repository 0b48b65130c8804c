//===- GpuKernels.cu - the GPU kernel library behind spx ops and GEMMs ----===//
//
// Device code only. Compiled by clang through LLVM's NVPTX (NVVM) backend to
// PTX, assembled by ptxas for sm_80 and sm_90 and packed into one fatbin
// (PTX included, so newer GPUs JIT it) that the host launchers in
// GpuRuntime.cpp load with the CUDA driver API. Every kernel mirrors a CPU
// kernel of include/parsimony/Runtime/SpxKernels.h (same semantics, same
// weight formats); the launchers document the grid shapes.
//
// Rows are processed by one thread block, a warp or a thread; reductions
// use warp shuffles; selection (top-k) is a block-wide radix select.
//
//===----------------------------------------------------------------------===//

#include <stdint.h>

typedef long long i64;

namespace {

/// One weight operand (PARSIMONY_WEIGHT_PARAMS plus its shape), by value.
struct Weight {
  const void *w;
  const void *scales;
  int32_t layout; // 0 kn ([K, N]), 1 nk ([N, K])
  int32_t bits;   // 32, 8, 4 or kInt4Packed
  i64 group;      // 0: per output channel
  int32_t scalesF16;
  int32_t padding; // the host zeroes it (its launches compare bytewise)
  i64 K, N;
};

__device__ __forceinline__ float halfToFloat(uint16_t h) {
#ifdef __CUDA_ARCH__
  // One exact conversion instruction (subnormals included).
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
#else
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400u)) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  return __int_as_float((int)bits);
#endif
}

/// Scale s of weight w (f32 or f16 storage).
__device__ __forceinline__ float scaleAt(const Weight &w, i64 s) {
  return w.scalesF16 ? halfToFloat(static_cast<const uint16_t *>(w.scales)[s])
                     : static_cast<const float *>(w.scales)[s];
}

/// PARSIMONY_INT4_PACKED: int4 two per byte, in 32-value blocks of 16
/// bytes (byte i: value i low nibble, value i + 16 high nibble).
constexpr int32_t kInt4Packed = 4 | 0x100;

/// The signed int4 in the low / high nibble of a byte.
__device__ __forceinline__ int lowNibbleOf(int byte) {
  return (int)(int8_t)(byte << 4) >> 4;
}
__device__ __forceinline__ int highNibbleOf(int byte) {
  return (int)(int8_t)byte >> 4;
}

/// Whether w has one scale per group of K values (else one per output
/// feature; a group that does not divide K counts as per channel).
__device__ __forceinline__ bool isGrouped(const Weight &w) {
  return w.group > 0 && w.K % w.group == 0;
}

/// Where element (k, n) of expert `e` of weight `w` is stored.
__device__ __forceinline__ i64 storedIndex(const Weight &w, i64 k, i64 n,
                                           i64 e = 0) {
  return (w.layout == 0 ? k * w.N + n : n * w.K + k) + e * w.K * w.N;
}

/// The integer stored at `idx` (storedIndex) of a quantized weight.
__device__ __forceinline__ int quantAt(const Weight &w, i64 idx) {
  if (w.bits == kInt4Packed) {
    // Element idx of the stored row-major matrix; rows hold a multiple of
    // 32 values, so blocks never straddle rows.
    uint64_t block = (uint64_t)idx / 32, lane = (uint64_t)idx % 32;
    int byte = static_cast<const int8_t *>(w.w)[block * 16 + lane % 16];
    return lane < 16 ? lowNibbleOf(byte) : highNibbleOf(byte);
  }
  int v = static_cast<const int8_t *>(w.w)[idx];
  return w.bits == 4 ? lowNibbleOf(v) : v;
}

/// The index of the scale of element (k, n) of expert `e`.
__device__ __forceinline__ i64 scaleIndex(const Weight &w, i64 k, i64 n,
                                          i64 e = 0) {
  bool grouped = isGrouped(w);
  i64 groups = grouped ? w.K / w.group : 1;
  // K and the group size fit in 32 bits: a 32-bit division is far cheaper.
  i64 kGroup = grouped ? (i64)((uint32_t)k / (uint32_t)w.group) : 0;
  i64 s = !grouped ? n : w.layout == 0 ? kGroup * w.N + n : n * groups + kGroup;
  return s + e * groups * w.N;
}

/// Element (k, n) of expert `e` of weight `w`, dequantized.
__device__ __forceinline__ float weightAt(const Weight &w, i64 k, i64 n,
                                          i64 e = 0) {
  i64 idx = storedIndex(w, k, n, e);
  if (w.bits == 32)
    return __ldg(static_cast<const float *>(w.w) + idx);
  return (float)quantAt(w, idx) * scaleAt(w, scaleIndex(w, k, n, e));
}

/// Expert e of stacked weight w as a weight of its own (weightAt(w, k, n, e)
/// == weightAt(expertWeight(w, e), k, n)), for loops that index one expert.
__device__ __forceinline__ Weight expertWeight(Weight w, i64 e) {
  i64 values = e * w.K * w.N;
  i64 bytes = w.bits == 32            ? 4 * values
              : w.bits == kInt4Packed ? values / 2
                                      : values;
  i64 scales = e * (isGrouped(w) ? w.K / w.group : 1) * w.N;
  w.w = static_cast<const char *>(w.w) + bytes;
  w.scales = static_cast<const char *>(w.scales) +
             (w.bits == 32 ? 0 : scales * (w.scalesF16 ? 2 : 4));
  return w;
}

__device__ __forceinline__ float sigmoidf_(float v) {
  return 1.0f / (1.0f + __expf(-v));
}

__device__ __forceinline__ float activate(int code, float v) {
  switch (code) {
  case 1:
    return v < 0.0f ? 0.0f : v;
  case 2:
    return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
  case 3:
    return 0.5f * v *
           (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
  case 4:
  case 6:
    return v / (1.0f + expf(-v));
  case 5:
    return 1.0f / (1.0f + expf(-v));
  default:
    return v;
  }
}

template <typename T> __device__ __forceinline__ T warpSum(T v) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ i64 loadIndex(const void *p, int i64Flag, i64 i) {
  return i64Flag ? static_cast<const i64 *>(p)[i]
                 : (i64) static_cast<const int32_t *>(p)[i];
}

__device__ __forceinline__ void storeIndex(void *p, int i64Flag, i64 i, i64 v) {
  if (i64Flag)
    static_cast<i64 *>(p)[i] = v;
  else
    static_cast<int32_t *>(p)[i] = (int32_t)v;
}

/// Unsigned key with the order of the floats: NaN above +inf, -0 == +0.
__device__ __forceinline__ uint32_t orderKey(float v) {
  uint32_t b = (uint32_t)__float_as_int(v);
  uint32_t mag = b & 0x7fffffffu;
  uint32_t key = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  key = mag == 0 ? 0x80000000u : key;
  return mag > 0x7f800000u ? 0xffffffffu : key;
}

/// Threads per block of the top-k kernels: one block selects a row, so a
/// large block hides the latency of its passes.
constexpr int kBlock = 1024;

/// Block-wide top-k cut of `n` values at row[i * stride]: after the call,
/// an element is selected iff its key > *cutKey, or key == *cutKey and it is
/// among the first *takeEqual such elements in index order. Needs
/// 0 < k < n and blockDim.x == kBlock.
constexpr int kStagedKeys = 4096;

struct TopkShared {
  // The row's keys when it has at most kStagedKeys entries: every pass
  // then reads shared memory instead of waiting on global loads.
  uint32_t keys[kStagedKeys];
  uint32_t hist[256];
  uint32_t prefix, mask, remaining;
  uint32_t chunkCount[kBlock];
  uint32_t warpTotals[kBlock / 32];
};

/// Stages the keys of row[i * stride], i < n, in sh.keys if they fit;
/// returns whether they did.
__device__ bool stageKeys(const float *row, i64 n, i64 stride, TopkShared &sh) {
  if (n > kStagedKeys)
    return false;
  for (i64 i = threadIdx.x; i < n; i += blockDim.x)
    sh.keys[i] = orderKey(row[i * stride]);
  __syncthreads();
  return true;
}

__device__ __forceinline__ uint32_t keyAt(const float *row, i64 i, i64 stride,
                                          const TopkShared &sh, bool staged) {
  return staged ? sh.keys[i] : orderKey(row[i * stride]);
}

__device__ void blockTopkCut(const float *row, i64 n, i64 stride, i64 k,
                             TopkShared &sh, bool staged) {
  int tid = threadIdx.x;
  if (tid == 0) {
    sh.prefix = 0;
    sh.mask = 0;
    sh.remaining = (uint32_t)k;
  }
  __syncthreads();
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = tid; i < 256; i += blockDim.x)
      sh.hist[i] = 0;
    __syncthreads();
    uint32_t prefix = sh.prefix, mask = sh.mask;
    // Activations cluster in a few bins (a shared exponent): lanes of a
    // warp that hit the same bin add once, through their leader.
    for (i64 base = tid - tid % 32; base < n; base += blockDim.x) {
      i64 i = base + tid % 32;
      uint32_t bin = 256; // no bin
      if (i < n) {
        uint32_t key = keyAt(row, i, stride, sh, staged);
        if ((key & mask) == prefix)
          bin = (key >> shift) & 255u;
      }
      unsigned peers = __match_any_sync(0xffffffffu, bin);
      if (bin < 256 && (int)(tid % 32) == __ffs(peers) - 1)
        atomicAdd(&sh.hist[bin], (uint32_t)__popc(peers));
    }
    __syncthreads();
    // Warp 0 finds the digit: lane l owns bins [8l, 8l + 8); a suffix scan
    // over lanes gives the count above each lane's bins.
    if (tid < 32) {
      uint32_t remaining = sh.remaining;
      uint32_t own = 0;
      for (int i = 0; i < 8; ++i)
        own += sh.hist[8 * tid + i];
      uint32_t suffix = own;
      for (int o = 1; o < 32; o <<= 1) {
        uint32_t v = __shfl_down_sync(0xffffffffu, suffix, o);
        if (tid + o < 32)
          suffix += v;
      }
      uint32_t above = suffix - own;
      if (above < remaining && remaining <= suffix) {
        int d = 8 * tid + 7;
        for (; d > 8 * tid; --d) {
          if (above + sh.hist[d] >= remaining)
            break;
          above += sh.hist[d];
        }
        sh.remaining = remaining - above;
        sh.prefix = prefix | ((uint32_t)d << shift);
        sh.mask = mask | (255u << shift);
      }
    }
    __syncthreads();
  }
}

/// Whether element i (in a chunked pass) is selected; `equalBefore` counts
/// the cut-equal elements before it in index order.
__device__ __forceinline__ bool selected(uint32_t key, uint32_t cut,
                                         uint32_t &equalBefore,
                                         uint32_t takeEqual) {
  if (key > cut)
    return true;
  if (key == cut)
    return equalBefore++ < takeEqual;
  return false;
}

/// Exclusive prefix sums of sh.chunkCount (one entry per thread): warp
/// scans by shuffles, then a scan of the warp totals.
__device__ void blockExclusiveScan(TopkShared &sh) {
  __syncthreads();
  int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  uint32_t own = sh.chunkCount[tid], inclusive = own;
  for (int o = 1; o < 32; o <<= 1) {
    uint32_t v = __shfl_up_sync(0xffffffffu, inclusive, o);
    if (lane >= o)
      inclusive += v;
  }
  if (lane == 31)
    sh.warpTotals[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    int warps = blockDim.x / 32;
    uint32_t total = lane < warps ? sh.warpTotals[lane] : 0, scan = total;
    for (int o = 1; o < 32; o <<= 1) {
      uint32_t v = __shfl_up_sync(0xffffffffu, scan, o);
      if (lane >= o)
        scan += v;
    }
    if (lane < warps)
      sh.warpTotals[lane] = scan - total;
  }
  __syncthreads();
  sh.chunkCount[tid] = inclusive - own + sh.warpTotals[warp];
  __syncthreads();
}

/// The signed low / high nibble of byte `byte` of a little-endian word.
__device__ __forceinline__ float lowNibble(uint32_t word, int byte) {
  return (float)((int)(word << (28 - 8 * byte)) >> 28);
}
__device__ __forceinline__ float highNibble(uint32_t word, int byte) {
  return (float)((int)(word << (24 - 8 * byte)) >> 28);
}

/// The signed low nibbles of a word's four bytes, as four signed bytes (bit
/// 3 of a nibble times 0x1e sets bits 4-7 of its byte, without carries).
__device__ __forceinline__ uint32_t lowNibbles(uint32_t word) {
  uint32_t t = word & 0x0f0f0f0fu;
  return t | ((t & 0x08080808u) * 0x1eu);
}
__device__ __forceinline__ uint32_t highNibbles(uint32_t word) {
  return lowNibbles(word >> 4);
}

/// Signed byte j of a little-endian word.
__device__ __forceinline__ int byteOf(uint32_t word, int j) {
  return (int)(int8_t)(word >> (8 * j));
}

/// c + the dot product of the four bytes of a (signed when aSigned, else
/// unsigned) with the four signed bytes of b (dp4a).
__device__ __forceinline__ int dp4a(uint32_t a, uint32_t b, int c,
                                    bool aSigned) {
#ifdef __CUDA_ARCH__
  int d;
  if (aSigned)
    asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  else
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
#else
  for (int j = 0; j < 4; ++j)
    c +=
        (aSigned ? byteOf(a, j) : (int)((a >> (8 * j)) & 0xffu)) * byteOf(b, j);
  return c;
#endif
}

/// Whether p is a multiple of `bytes` (a power of two).
__device__ __forceinline__ bool isAligned(const void *p, int bytes) {
  return ((uintptr_t)p & (uintptr_t)(bytes - 1)) == 0;
}

/// The activations of one token as the products with a weight read them.
/// Products with quantized weights multiply the stored integers and apply
/// the scales afterwards: a chunk of values sums in Acc, a row in Sum.
///
/// FloatRow: f32 activations.
struct FloatRow {
  using Acc = float;
  using Sum = float;
  static constexpr bool kF32 = true;
  /// Alignment dot4's load needs.
  static constexpr int kQuadBytes = 16;
  const float *x;

  __device__ FloatRow plus(i64 offset) const { return {x + offset}; }
  __device__ float at(i64 k) const { return x[k]; }
  __device__ float mac(float acc, i64 k, int q) const {
    return fmaf(x[k], (float)q, acc);
  }
  /// acc + sum_j x[4i + j] q_j over the signed bytes q_j of q.
  __device__ float dot4(i64 i, uint32_t q, float acc) const {
    float4 b = reinterpret_cast<const float4 *>(x)[i];
    return fmaf((float)byteOf(q, 0), b.x,
                fmaf((float)byteOf(q, 1), b.y,
                     fmaf((float)byteOf(q, 2), b.z,
                          fmaf((float)byteOf(q, 3), b.w, acc))));
  }
  /// acc + x[32b:32b + 32] times the packed int4 block q (byte i: value i
  /// in the low nibble, value i + 16 in the high one).
  __device__ float dotPacked(i64 b, uint4 q, float acc) const {
    const float4 *xv = reinterpret_cast<const float4 *>(x + b * 32);
    uint32_t words[4] = {q.x, q.y, q.z, q.w};
    float part = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      float4 lo = xv[j], hi = xv[4 + j];
      uint32_t v = words[j];
      part = fmaf(lowNibble(v, 0), lo.x, part);
      part = fmaf(lowNibble(v, 1), lo.y, part);
      part = fmaf(lowNibble(v, 2), lo.z, part);
      part = fmaf(lowNibble(v, 3), lo.w, part);
      part = fmaf(highNibble(v, 0), hi.x, part);
      part = fmaf(highNibble(v, 1), hi.y, part);
      part = fmaf(highNibble(v, 2), hi.z, part);
      part = fmaf(highNibble(v, 3), hi.w, part);
    }
    return acc + part;
  }
};

/// ByteRow: 8-bit activations (int8 when isSigned, else uint8) minus a
/// zero point in their range. Their products with quantized weights are
/// integers of at most 255 * 128 in magnitude, summed exactly: dp4a over
/// four bytes at a time, int32 per chunk, int64 per row.
struct ByteRow {
  using Acc = int32_t;
  using Sum = i64;
  static constexpr bool kF32 = false;
  static constexpr int kQuadBytes = 4;
  const uint8_t *x;
  int32_t isSigned;
  int32_t zeroPoint;

  /// The zero point is the byte at zeroPointAt when that is not null.
  __device__ static ByteRow of(const uint8_t *x, int32_t isSigned,
                               int32_t zeroPoint, const void *zeroPointAt) {
    if (zeroPointAt) {
      uint8_t byte = *static_cast<const uint8_t *>(zeroPointAt);
      zeroPoint = isSigned ? (int)(int8_t)byte : (int)byte;
    }
    return {x, isSigned, zeroPoint};
  }
  __device__ ByteRow plus(i64 offset) const {
    return {x + offset, isSigned, zeroPoint};
  }
  __device__ int at(i64 k) const {
    return (isSigned ? (int)(int8_t)x[k] : (int)x[k]) - zeroPoint;
  }
  __device__ i64 mac(i64 acc, i64 k, int q) const { return acc + at(k) * q; }
  /// acc + sum_j (x_j - zeroPoint) q_j over the bytes of xw and q.
  __device__ int dotBytes(uint32_t xw, uint32_t q, int acc) const {
    acc = dp4a(xw, q, acc, isSigned);
    return zeroPoint ? acc - zeroPoint * dp4a(0x01010101u, q, 0, true) : acc;
  }
  __device__ int dot4(i64 i, uint32_t q, int acc) const {
    return dotBytes(reinterpret_cast<const uint32_t *>(x)[i], q, acc);
  }
  __device__ int dotPacked(i64 b, uint4 q, int acc) const {
    const uint4 *xv = reinterpret_cast<const uint4 *>(x + b * 32);
    uint4 lo = xv[0], hi = xv[1];
    uint32_t words[4] = {q.x, q.y, q.z, q.w};
    uint32_t low[4] = {lo.x, lo.y, lo.z, lo.w};
    uint32_t high[4] = {hi.x, hi.y, hi.z, hi.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      acc = dotBytes(low[j], lowNibbles(words[j]), acc);
      acc = dotBytes(high[j], highNibbles(words[j]), acc);
    }
    return acc;
  }
};

/// x . W(:, n), or one lane's share of it: `sum` collects the products
/// with a per-channel quantized weight's integers, to be multiplied by
/// `scale`; `scaled` the rest (f32 weights, grouped scales).
template <typename Sum> struct DotParts {
  Sum sum = 0;
  float scale = 1.0f;
  float scaled = 0.0f;
};

template <typename Sum>
__device__ __forceinline__ float dotValue(const DotParts<Sum> &p) {
  return (float)p.sum * p.scale + p.scaled;
}

/// The total of the warp's lanes' parts, in every lane. f32 activations:
/// the lanes' values. Integer ones: the integer sums of a per-channel
/// quantized weight (`perChannel`) are reduced exactly before their scale
/// applies; with other weights everything is in `scaled`.
__device__ __forceinline__ float warpDot(const DotParts<float> &p,
                                         bool /*perChannel*/) {
  return warpSum(dotValue(p));
}
__device__ __forceinline__ float warpDot(const DotParts<i64> &p,
                                         bool perChannel) {
  return perChannel ? (float)warpSum(p.sum) * p.scale : warpSum(p.scaled);
}

/// Adds chunks c = lane, lane + 32, ... < chunks, of `per` values within
/// one scale group each, to p; dot(c, acc) returns acc plus chunk c's
/// products with the stored integers.
template <typename Row, typename Dot>
__device__ __forceinline__ void laneChunks(DotParts<typename Row::Sum> &p,
                                           const Weight &w, i64 n, i64 chunks,
                                           uint32_t per, int lane, Dot dot) {
  using Acc = typename Row::Acc;
  bool grouped = isGrouped(w);
  i64 groups = grouped ? w.K / w.group : 1;
  for (i64 c = lane; c < chunks; c += 32) {
    if (grouped)
      p.scaled =
          fmaf((float)dot(c, Acc(0)),
               scaleAt(w, n * groups + (uint32_t)c * per / (uint32_t)w.group),
               p.scaled);
    else if constexpr (Row::kF32)
      p.sum = dot(c, p.sum);
    else
      p.sum += dot(c, Acc(0)); // int32 per chunk, int64 per row
  }
  if (!grouped)
    p.scale = scaleAt(w, n);
}

/// Adds x . W(:, n) over k = first, first + step, ... < K, element by
/// element, to p: f32 activations (or weights) times each dequantized
/// weight; integer activations times a quantized weight's integers, summed
/// exactly per scale group (per row with one scale per output feature).
template <typename Row>
__device__ __forceinline__ void stridedDot(DotParts<typename Row::Sum> &p,
                                           const Row &x, const Weight &w, i64 n,
                                           i64 first, i64 step) {
  i64 K = w.K;
  if (Row::kF32 || w.bits == 32) {
    float acc = 0.0f;
    for (i64 k = first; k < K; k += step)
      acc = fmaf((float)x.at(k), weightAt(w, k, n), acc);
    p.scaled += acc;
    return;
  }
  bool grouped = isGrouped(w);
  i64 span = grouped ? w.group : K;
  for (i64 g0 = 0; g0 < K; g0 += span) {
    typename Row::Sum part = 0;
    for (i64 k = g0 + first; k < g0 + span; k += step)
      part = x.mac(part, k, quantAt(w, storedIndex(w, k, n)));
    if (grouped)
      p.scaled = fmaf((float)part, scaleAt(w, scaleIndex(w, g0, n)), p.scaled);
    else
      p.sum += part;
  }
  if (!grouped)
    p.scale = scaleAt(w, n);
}

/// One lane's share of x . W(:, n) (the caller reduces the warp).
/// Neuron-major rows read 16 bytes per lane and step (f32: 4 values;
/// packed int4: 32) or 4 bytes (int8, int4: 4 values), where a step stays
/// within a scale group; other layouts and groupings go element by element.
template <typename Row>
__device__ __forceinline__ DotParts<typename Row::Sum>
laneDotParts(const Row &x, const Weight &w, i64 n, int lane) {
  using Acc = typename Row::Acc;
  DotParts<typename Row::Sum> p;
  i64 K = w.K;
  bool rows = w.layout == 1 && isAligned(w.w, 16);
  bool grouped = isGrouped(w);
  if constexpr (Row::kF32) {
    if (rows && w.bits == 32 && (K & 3) == 0 && isAligned(x.x, 16)) {
      const float4 *row = reinterpret_cast<const float4 *>(
          static_cast<const float *>(w.w) + n * K);
      const float4 *xv = reinterpret_cast<const float4 *>(x.x);
      float acc = 0.0f;
      for (i64 i = lane; i < K / 4; i += 32) {
        float4 a = __ldg(row + i), b = xv[i];
        acc =
            fmaf(a.x, b.x, fmaf(a.y, b.y, fmaf(a.z, b.z, fmaf(a.w, b.w, acc))));
      }
      p.scaled = acc;
      return p;
    }
  }
  if (rows && (w.bits == 8 || w.bits == 4) && (K & 3) == 0 &&
      isAligned(x.x, Row::kQuadBytes) && (!grouped || w.group % 4 == 0)) {
    const uint32_t *row = reinterpret_cast<const uint32_t *>(
        static_cast<const int8_t *>(w.w) + n * K);
    bool nibble = w.bits == 4;
    laneChunks<Row>(p, w, n, K / 4, 4, lane, [&](i64 i, Acc acc) {
      uint32_t q = __ldg(row + i);
      return x.dot4(i, nibble ? lowNibbles(q) : q, acc);
    });
    return p;
  }
  if (rows && w.bits == kInt4Packed && (K & 31) == 0 && isAligned(x.x, 16) &&
      (!grouped || w.group % 32 == 0)) {
    const uint4 *row = reinterpret_cast<const uint4 *>(
        static_cast<const uint8_t *>(w.w) + n * (K / 2));
    laneChunks<Row>(p, w, n, K / 32, 32, lane, [&](i64 b, Acc acc) {
      return x.dotPacked(b, __ldg(row + b), acc);
    });
    return p;
  }
  stridedDot(p, x, w, n, lane, 32);
  return p;
}

/// One lane's share of x . W(:, n) for f32 activations.
__device__ __forceinline__ float laneDot(const float *x, const Weight &w, i64 n,
                                         int lane) {
  return dotValue(laneDotParts(FloatRow{x}, w, n, lane));
}

/// The output epilogue of the product kernels: act(v + bias[n]) +
/// residual[t, n], bias and residual optional (activation codes as in
/// parsimony_sgemm_epilogue).
struct Epilogue {
  const float *bias;
  int32_t activation;
  const float *residual;

  __device__ float apply(float v, i64 t, i64 n, i64 N) const {
    v = activate(activation, v + (bias ? bias[n] : 0.0f));
    return residual ? v + residual[t * N + n] : v;
  }
};

//===----------------------------------------------------------------------===//
// Tensor-core tiles: mma.sync m16n8k8 on TF32 (sm_80 and later), with f32
// accuracy by the 3xTF32 split: a = hi(a) + lo(a) with both halves TF32,
// and a b ~= hi(a) hi(b) + hi(a) lo(b) + lo(a) hi(b), an error near 2^-21
// relative instead of TF32's 2^-11.
//===----------------------------------------------------------------------===//

/// cvt.rna.tf32.f32.
__device__ __forceinline__ uint32_t tf32Of(float v) {
#ifdef __CUDA_ARCH__
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
  return r;
#else
  return cvtRnaTf32(v);
#endif
}

/// d += a b for one 16x8x8 tile; a and b hold this lane's TF32 fragments.
__device__ __forceinline__ void mmaTf32(float d[4], const uint32_t a[4],
                                        const uint32_t b[2]) {
#ifdef __CUDA_ARCH__
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]),
                 "r"(b[1]));
#else
  mmaSyncM16N8K8Tf32(d, a, b);
#endif
}

/// v = hi + lo as two TF32 values. hi truncates v (it never rounds up to
/// infinity, and v - hi is exact); non-finite v has lo = 0.
__device__ __forceinline__ void splitTf32(float v, uint32_t &hi, uint32_t &lo) {
  uint32_t b = __float_as_uint(v);
  if ((b & 0x7f800000u) == 0x7f800000u) {
    hi = (b & 0x7fffffu) ? 0x7fffffffu : b;
    lo = 0;
    return;
  }
  hi = b & 0xffffe000u;
  lo = tf32Of(v - __uint_as_float(hi));
}

/// hi with inf and NaN replaced by 0, for the cross terms hi(a) lo(b) and
/// lo(a) hi(b): a non-finite operand then reaches the result only through
/// hi(a) hi(b), as inf b and not inf * 0 = NaN when lo(b) is 0.
__device__ __forceinline__ uint32_t finiteTf32(uint32_t hi) {
  return (hi & 0x7f800000u) == 0x7f800000u ? 0u : hi;
}

/// Shape of mmaTile: a 64x64 tile per block of 4 warps (32x32 each), K
/// staged through shared memory 16 at a time.
constexpr int kMmaTile = 64, kMmaK = 16, kMmaThreads = 128;

/// One 64x64 tile of C = A B, C[m, n] for m in [m0, min(m0 + 64, mEnd)) and
/// n in [n0, min(n0 + 64, N)), on tensor cores. loadA(m, k) and loadB(k, n)
/// read in-range elements; aKContiguous / bKContiguous say which index is
/// contiguous in memory, so that global loads coalesce. store(m, n, v)
/// writes one result. The next K slice is loaded into registers while the
/// current one is multiplied.
///
/// kIntegers: the loads return integers of magnitude below 2^11, which are
/// exact TF32 values, so one TF32 product per tile (not three) is exact,
/// and every partial sum the tensor core forms below 2^24 is exact too
/// whatever its internal rounding. With |a| <= 255 and |b| <= 128 a slice
/// adds at most 16 * 32640 to a sum, so the f32 accumulators move into
/// int32 every kExactSlices slices (below 2^23), and store(m, n, v) gets
/// the exact int32 sum (the caller keeps it in range: K <= 65536).
constexpr int kExactSlices = 16;

template <bool kIntegers = false, typename LoadA, typename LoadB,
          typename Store>
__device__ __forceinline__ void mmaTile(i64 m0, i64 mEnd, i64 n0, i64 N, i64 K,
                                        bool aKContiguous, bool bKContiguous,
                                        LoadA loadA, LoadB loadB, Store store) {
  // [m][k] and [n][k]; the padding makes a warp's fragment reads
  // (rows g = 0..7, columns t = 0..3) hit 32 different banks.
  __shared__ float As[kMmaTile][kMmaK + 4];
  __shared__ float Bs[kMmaTile][kMmaK + 4];
  constexpr int kPerThread = kMmaTile * kMmaK / kMmaThreads;
  int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  int g = lane / 4, t = lane % 4;
  int wm = warp / 2 * 32, wn = warp % 2 * 32;
  // Element j of this thread's share: (row, k) of the A tile / B tile.
  auto aAt = [&](int j, int &row, int &kk) {
    int e = tid + kMmaThreads * j;
    row = aKContiguous ? e / kMmaK : e % kMmaTile;
    kk = aKContiguous ? e % kMmaK : e / kMmaTile;
  };
  auto bAt = [&](int j, int &col, int &kk) {
    int e = tid + kMmaThreads * j;
    col = bKContiguous ? e / kMmaK : e % kMmaTile;
    kk = bKContiguous ? e % kMmaK : e / kMmaTile;
  };
  float ra[kPerThread], rb[kPerThread];
  // Inlined, so that ra and rb stay in registers.
  auto fetch = [&](i64 k0) __attribute__((always_inline)) {
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      int row, col, kk;
      aAt(j, row, kk);
      i64 m = m0 + row, k = k0 + kk;
      ra[j] = m < mEnd && k < K ? loadA(m, k) : 0.0f;
      bAt(j, col, kk);
      i64 n = n0 + col;
      k = k0 + kk;
      rb[j] = n < N && k < K ? loadB(k, n) : 0.0f;
    }
  };
  float acc[2][4][4] = {};
  // kIntegers: the sums moved out of acc, and the slices since.
  [[maybe_unused]] int32_t whole[2][4][4] = {};
  [[maybe_unused]] int slices = 0;
  fetch(0);
  for (i64 k0 = 0; k0 < K; k0 += kMmaK) {
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      int row, col, kk;
      aAt(j, row, kk);
      As[row][kk] = ra[j];
      bAt(j, col, kk);
      Bs[col][kk] = rb[j];
    }
    __syncthreads();
    if (k0 + kMmaK < K)
      fetch(k0 + kMmaK);
#pragma unroll
    for (int ks = 0; ks < kMmaK; ks += 8) {
      if constexpr (kIntegers) {
        uint32_t a[2][4], b[4][2];
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
          for (int r = 0; r < 4; ++r)
            a[i][r] = __float_as_uint(
                As[wm + 16 * i + g + 8 * (r % 2)][ks + t + 4 * (r / 2)]);
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
          for (int r = 0; r < 2; ++r)
            b[j][r] = __float_as_uint(Bs[wn + 8 * j + g][ks + t + 4 * r]);
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j)
            mmaTf32(acc[i][j], a[i], b[j]);
        continue;
      }
      uint32_t aHi[2][4], aLo[2][4], bHi[4][2], bLo[4][2];
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int r = 0; r < 4; ++r)
          splitTf32(As[wm + 16 * i + g + 8 * (r % 2)][ks + t + 4 * (r / 2)],
                    aHi[i][r], aLo[i][r]);
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int r = 0; r < 2; ++r)
          splitTf32(Bs[wn + 8 * j + g][ks + t + 4 * r], bHi[j][r], bLo[j][r]);
      uint32_t aHiF[2][4], bHiF[4][2];
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int r = 0; r < 4; ++r)
          aHiF[i][r] = finiteTf32(aHi[i][r]);
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int r = 0; r < 2; ++r)
          bHiF[j][r] = finiteTf32(bHi[j][r]);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          // The small terms first, so they are not lost against the big one.
          mmaTf32(acc[i][j], aLo[i], bHiF[j]);
          mmaTf32(acc[i][j], aHiF[i], bLo[j]);
          mmaTf32(acc[i][j], aHi[i], bHi[j]);
        }
    }
    __syncthreads();
    if constexpr (kIntegers) {
      if (++slices == kExactSlices) {
        slices = 0;
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int r = 0; r < 4; ++r) {
              whole[i][j][r] += (int32_t)acc[i][j][r];
              acc[i][j][r] = 0.0f;
            }
      }
    }
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        i64 m = m0 + wm + 16 * i + g + 8 * (r / 2);
        i64 n = n0 + wn + 8 * j + 2 * t + r % 2;
        if (m < mEnd && n < N) {
          if constexpr (kIntegers)
            store(m, n, whole[i][j][r] + (int32_t)acc[i][j][r]);
          else
            store(m, n, acc[i][j][r]);
        }
      }
}

/// The expert whose group tile blockIdx.y is, for a grouped product over
/// rows [offsets[e], offsets[e] + sizes[e]) (clipped to [0, R)) in tiles of
/// kMmaTile rows: sets e, the tile's first row and its group's end; false
/// for the spare blocks of the grid's upper bound.
__device__ __forceinline__ bool groupTile(const i64 *offsets, const i64 *sizes,
                                          i64 E, i64 R, i64 &e, i64 &m0,
                                          i64 &mEnd) {
  i64 tile = blockIdx.y;
  for (e = 0; e < E; ++e) {
    i64 begin = offsets[e] < 0 ? 0 : offsets[e];
    i64 end = offsets[e] + (sizes[e] > 0 ? sizes[e] : 0);
    end = end > R ? R : end;
    i64 tiles = end > begin ? (end - begin + kMmaTile - 1) / kMmaTile : 0;
    if (tile < tiles) {
      m0 = begin + tile * kMmaTile;
      mEnd = end;
      return true;
    }
    tile -= tiles;
  }
  return false;
}

/// Hidden activation i of a row routed to expert e, with ORT's activation
/// and SwiGLU fusion modes: fc1At(n) / fc3At(n) give the row's product with
/// column n of fc1 / fc3, before the bias.
template <typename Fc1, typename Fc3>
__device__ __forceinline__ float
expertHiddenValue(i64 i, i64 e, i64 F, i64 F1, Fc1 fc1At, const float *fc1Bias,
                  Fc3 fc3At, int hasFc3, const float *fc3Bias, int activation,
                  int swigluFusion, float alpha, float beta, float limit) {
  auto fc1 = [&](i64 n) {
    return fc1At(n) + (fc1Bias ? fc1Bias[e * F1 + n] : 0.0f);
  };
  auto fc3 = [&](i64 n) {
    return fc3At(n) + (fc3Bias ? fc3Bias[e * F + n] : 0.0f);
  };
  if (activation != 6) {
    float v = activate(activation, fc1(i));
    return hasFc3 ? v * fc3(i) : v;
  }
  float gt, val;
  if (swigluFusion == 1 || swigluFusion == 2) {
    gt = fc1(swigluFusion == 1 ? 2 * i : i);
    val = fc1(swigluFusion == 1 ? 2 * i + 1 : F + i);
  } else {
    gt = fc1(i);
    val = hasFc3 ? fc3(i) : 1.0f;
  }
  if (limit == limit) {
    gt = fminf(gt, limit);
    val = fminf(fmaxf(val, -limit), limit);
  }
  return gt * (1.0f / (1.0f + expf(-alpha * gt))) * (val + beta);
}

// The products with one weight operand, for f32 (FloatRow) or 8-bit
// (ByteRow) activations; the kernels below instantiate them.

/// out[t, n] = epilogue(in[t, :] . W(:, n)) (expert 0): one warp per (t, n),
/// lanes over k; best for nk (neuron-major) weights. Grid: (ceil(N / 8), T).
template <typename Row>
__device__ __forceinline__ void matmulWarp(const Row &in, const Weight &w,
                                           const Epilogue &epilogue,
                                           float *out) {
  int lane = threadIdx.x % 32;
  i64 n = (i64)blockIdx.x * 8 + threadIdx.x / 32;
  i64 t = blockIdx.y;
  if (n >= w.N)
    return;
  float v = warpDot(laneDotParts(in.plus(t * w.K), w, n, lane),
                    w.bits != 32 && !isGrouped(w));
  if (lane == 0)
    out[t * w.N + n] = epilogue.apply(v, t, n, w.N);
}

/// The same product with one thread per (t, n): coalesced for kn weights.
/// Grid: (ceil(N / 256), T).
template <typename Row>
__device__ __forceinline__ void matmulColumns(const Row &in, const Weight &w,
                                              const Epilogue &epilogue,
                                              float *out) {
  i64 n = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  i64 t = blockIdx.y;
  if (n >= w.N)
    return;
  DotParts<typename Row::Sum> p;
  stridedDot(p, in.plus(t * w.K), w, n, 0, 1);
  out[t * w.N + n] = epilogue.apply(dotValue(p), t, n, w.N);
}

/// The same product on tensor cores for many tokens, W dequantized as it is
/// staged (3xTF32); with kIntegers (integer activations, a per-channel
/// quantized W) the stored integers instead, summed exactly (mmaTile) and
/// then scaled. Grid: (ceil(N/64), ceil(T/64)).
template <bool kIntegers, typename Row>
__device__ __forceinline__ void matmulMma(const Row &in, i64 T, const Weight &w,
                                          const Epilogue &epilogue,
                                          float *out) {
  i64 K = w.K, N = w.N;
  auto loadA = [&](i64 m, i64 k) { return (float)in.at(m * K + k); };
  i64 m0 = (i64)blockIdx.y * kMmaTile, n0 = (i64)blockIdx.x * kMmaTile;
  if constexpr (kIntegers)
    mmaTile<true>(
        m0, T, n0, N, K, true, w.layout == 1, loadA,
        [&](i64 k, i64 n) { return (float)quantAt(w, storedIndex(w, k, n)); },
        [&](i64 m, i64 n, int32_t sum) {
          out[m * N + n] = epilogue.apply((float)sum * scaleAt(w, n), m, n, N);
        });
  else
    mmaTile(
        m0, T, n0, N, K, true, w.layout == 1, loadA,
        [&](i64 k, i64 n) { return weightAt(w, k, n); },
        [&](i64 m, i64 n, float v) {
          out[m * N + n] = epilogue.apply(v, m, n, N);
        });
}

} // namespace

extern "C" {

//===----------------------------------------------------------------------===//
// Dense GEMM: C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b].
//===----------------------------------------------------------------------===//

/// 64x64 output tile per block of 256 threads, 4x4 per thread, K staged
/// through shared memory 16 at a time. Grid: (ceil(N/64), ceil(M/64), batch).
__global__ void __launch_bounds__(256)
    parsimony_gpu_sgemm_tiled(i64 M, i64 N, i64 K, float alpha, const float *A,
                              i64 lda, i64 strideA, int transA, const float *B,
                              i64 ldb, i64 strideB, int transB, float beta,
                              float *C, i64 ldc, i64 strideC) {
  __shared__ float As[16][64 + 4];
  __shared__ float Bs[16][64 + 4];
  A += blockIdx.z * strideA;
  B += blockIdx.z * strideB;
  C += blockIdx.z * strideC;
  i64 m0 = (i64)blockIdx.y * 64, n0 = (i64)blockIdx.x * 64;
  int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[4][4] = {};
  for (i64 k0 = 0; k0 < K; k0 += 16) {
    // 1024 elements of each tile, 4 per thread.
    for (int l = threadIdx.x; l < 1024; l += 256) {
      int kk = transA ? l / 64 : l % 16;
      int mm = transA ? l % 64 : l / 16;
      i64 m = m0 + mm, k = k0 + kk;
      As[kk][mm] =
          (m < M && k < K) ? (transA ? A[k * lda + m] : A[m * lda + k]) : 0.0f;
      int kb = transB ? l % 16 : l / 64;
      int nb = transB ? l / 16 : l % 64;
      i64 n = n0 + nb, kq = k0 + kb;
      Bs[kb][nb] = (n < N && kq < K)
                       ? (transB ? B[n * ldb + kq] : B[kq * ldb + n])
                       : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < 16; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        a[i] = As[kk][ty * 4 + i];
        b[i] = Bs[kk][tx * 4 + i];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
          acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; ++i) {
    i64 m = m0 + ty * 4 + i;
    if (m >= M)
      continue;
    for (int j = 0; j < 4; ++j) {
      i64 n = n0 + tx * 4 + j;
      if (n >= N)
        continue;
      float *c = C + m * ldc + n;
      *c = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *c;
    }
  }
}

/// The same product on tensor cores (3xTF32, see mmaTile): a 64x64 tile per
/// block of 128 threads. Grid: (ceil(N/64), ceil(M/64), batch).
__global__ void __launch_bounds__(kMmaThreads)
    parsimony_gpu_sgemm_mma(i64 M, i64 N, i64 K, float alpha, const float *A,
                            i64 lda, i64 strideA, int transA, const float *B,
                            i64 ldb, i64 strideB, int transB, float beta,
                            float *C, i64 ldc, i64 strideC) {
  A += blockIdx.z * strideA;
  B += blockIdx.z * strideB;
  C += blockIdx.z * strideC;
  mmaTile(
      (i64)blockIdx.y * kMmaTile, M, (i64)blockIdx.x * kMmaTile, N, K, !transA,
      transB != 0,
      [&](i64 m, i64 k) { return transA ? A[k * lda + m] : A[m * lda + k]; },
      [&](i64 k, i64 n) { return transB ? B[n * ldb + k] : B[k * ldb + n]; },
      [&](i64 m, i64 n, float v) {
        float *c = C + m * ldc + n;
        *c = beta == 0.0f ? alpha * v : alpha * v + beta * *c;
      });
}

/// Few rows (decode): thread per output column, K split over gridDim.y
/// chunks accumulated with atomics into C, which the launcher has scaled by
/// beta first. Coalesced when B is [K, N] row-major.
/// Grid: (ceil(N/256), splits, batch).
__global__ void __launch_bounds__(256)
    parsimony_gpu_sgemm_rows(i64 M, i64 N, i64 K, float alpha, const float *A,
                             i64 lda, i64 strideA, int transA, const float *B,
                             i64 ldb, i64 strideB, int transB, float *C,
                             i64 ldc, i64 strideC, i64 kChunk) {
  A += blockIdx.z * strideA;
  B += blockIdx.z * strideB;
  C += blockIdx.z * strideC;
  i64 n = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  i64 k0 = (i64)blockIdx.y * kChunk;
  i64 k1 = k0 + kChunk < K ? k0 + kChunk : K;
  if (n >= N)
    return;
  for (i64 m = 0; m < M; ++m) {
    float acc = 0.0f;
    for (i64 k = k0; k < k1; ++k) {
      float a = transA ? A[k * lda + m] : A[m * lda + k];
      float b = transB ? B[n * ldb + k] : B[k * ldb + n];
      acc = fmaf(a, b, acc);
    }
    atomicAdd(C + m * ldc + n, alpha * acc);
  }
}

/// Few rows with B stored [N, K]: one warp per output column, lanes over K.
/// Grid: (ceil(N / 8), M, batch) with 256 threads (8 warps).
__global__ void __launch_bounds__(256)
    parsimony_gpu_sgemm_rows_nk(i64 M, i64 N, i64 K, float alpha,
                                const float *A, i64 lda, i64 strideA,
                                int transA, const float *B, i64 ldb,
                                i64 strideB, float beta, float *C, i64 ldc,
                                i64 strideC) {
  A += blockIdx.z * strideA;
  B += blockIdx.z * strideB;
  C += blockIdx.z * strideC;
  int lane = threadIdx.x % 32;
  i64 n = (i64)blockIdx.x * 8 + threadIdx.x / 32;
  i64 m = blockIdx.y;
  if (n >= N)
    return;
  float acc = 0.0f;
  for (i64 k = lane; k < K; k += 32)
    acc = fmaf(transA ? A[k * lda + m] : A[m * lda + k], B[n * ldb + k], acc);
  acc = warpSum(acc);
  if (lane == 0) {
    float *c = C + m * ldc + n;
    *c = beta == 0.0f ? alpha * acc : alpha * acc + beta * *c;
  }
}

/// x[i] *= s (s == 0 writes zeros, dropping NaNs as BLAS does).
__global__ void parsimony_gpu_scale(float *x, i64 rows, i64 cols, i64 ld,
                                    i64 batchStride, float s) {
  i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows * cols)
    return;
  float *p = x + blockIdx.y * batchStride + (i / cols) * ld + i % cols;
  *p = s == 0.0f ? 0.0f : *p * s;
}

//===----------------------------------------------------------------------===//
// Weight-operand products shared by the spx kernels.
//===----------------------------------------------------------------------===//

/// out[t, n] = sum_k in[t, k] * W(k, n) (+ bias[n]) for f32 activations
/// (matmulWarp, matmulColumns, matmulMma).
__global__ void __launch_bounds__(256)
    parsimony_gpu_matmul_warp(const float *in, i64 T, Weight w,
                              const float *bias, float *out) {
  matmulWarp(FloatRow{in}, w, Epilogue{bias, 0, nullptr}, out);
}

__global__ void __launch_bounds__(256)
    parsimony_gpu_matmul_columns(const float *in, i64 T, Weight w,
                                 const float *bias, float *out) {
  matmulColumns(FloatRow{in}, w, Epilogue{bias, 0, nullptr}, out);
}

__global__ void __launch_bounds__(kMmaThreads)
    parsimony_gpu_matmul_mma(const float *in, i64 T, Weight w,
                             const float *bias, float *out) {
  matmulMma<false>(FloatRow{in}, T, w, Epilogue{bias, 0, nullptr}, out);
}

/// spx.quant_matmul on 8-bit activations (parsimony_quant_matmul_u8_f32):
/// out[t, n] = act(sum_k (in[t, k] - zp) W(k, n) + bias[n]) + residual[t, n],
/// `in` int8 when inSigned, else uint8, zp the byte at zeroPointAt (of the
/// same type) or else zeroPoint. Per-channel quantized weights: the integer
/// sums are exact and then scaled; grouped ones: exact per group, the
/// groups' scaled sums added in f32.
#define PARSIMONY_U8_PARAMS                                                    \
  const uint8_t *in, int32_t inSigned, int32_t zeroPoint,                      \
      const void *zeroPointAt, i64 T, Weight w, const float *bias,             \
      int32_t activation, const float *residual, float *out
#define PARSIMONY_U8_ROW ByteRow::of(in, inSigned, zeroPoint, zeroPointAt)
#define PARSIMONY_U8_EPILOGUE                                                  \
  Epilogue { bias, activation, residual }

__global__ void __launch_bounds__(256)
    parsimony_gpu_quant_matmul_u8_warp(PARSIMONY_U8_PARAMS) {
  matmulWarp(PARSIMONY_U8_ROW, w, PARSIMONY_U8_EPILOGUE, out);
}

__global__ void __launch_bounds__(256)
    parsimony_gpu_quant_matmul_u8_columns(PARSIMONY_U8_PARAMS) {
  matmulColumns(PARSIMONY_U8_ROW, w, PARSIMONY_U8_EPILOGUE, out);
}

/// Tensor cores, exact: per-channel quantized weights, K <= 65536.
__global__ void __launch_bounds__(kMmaThreads)
    parsimony_gpu_quant_matmul_u8_mma(PARSIMONY_U8_PARAMS) {
  matmulMma<true>(PARSIMONY_U8_ROW, T, w, PARSIMONY_U8_EPILOGUE, out);
}

/// Tensor cores on dequantized weights (grouped scales, f32 weights).
__global__ void __launch_bounds__(kMmaThreads)
    parsimony_gpu_quant_matmul_u8_mma_dequant(PARSIMONY_U8_PARAMS) {
  matmulMma<false>(PARSIMONY_U8_ROW, T, w, PARSIMONY_U8_EPILOGUE, out);
}

#undef PARSIMONY_U8_PARAMS
#undef PARSIMONY_U8_ROW
#undef PARSIMONY_U8_EPILOGUE

/// out[t, :] = bias (or 0): the start of atomically accumulated products.
__global__ void parsimony_gpu_init_rows(float *out, i64 T, i64 N,
                                        const float *bias) {
  i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < T * N)
    out[i] = bias ? bias[i % N] : 0.0f;
}

/// Activation-sparse product: out[t, :] += sum over k in this block's chunk
/// (at most 256 long) with in[t, k] != 0 of in[t, k] * W(k, :). The chunk
/// of activations is staged in shared memory and compacted, so rows of
/// inactive neurons are never read and the rows that are read are loaded
/// back to back. `out` starts at the bias (parsimony_gpu_init_rows).
/// Grid: (ceil(N / 256), T, chunks).
__global__ void __launch_bounds__(256)
    parsimony_gpu_sparse_rows(const float *in, i64 T, Weight w, i64 kChunk,
                              float *out) {
  __shared__ float values[256];
  __shared__ int rows[256];
  __shared__ int count;
  i64 n = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  i64 t = blockIdx.y;
  i64 k0 = (i64)blockIdx.z * kChunk;
  i64 k1 = k0 + kChunk < w.K ? k0 + kChunk : w.K;
  if (threadIdx.x == 0)
    count = 0;
  __syncthreads();
  i64 k = k0 + threadIdx.x;
  if (k < k1) {
    float a = in[t * w.K + k];
    if (a != 0.0f) {
      int slot = atomicAdd(&count, 1);
      values[slot] = a;
      rows[slot] = (int)(k - k0);
    }
  }
  __syncthreads();
  int m = count;
  if (m == 0 || n >= w.N)
    return;
  float acc = 0.0f;
  int j = 0;
  for (; j + 4 <= m; j += 4) {
    float w0 = weightAt(w, k0 + rows[j], n);
    float w1 = weightAt(w, k0 + rows[j + 1], n);
    float w2 = weightAt(w, k0 + rows[j + 2], n);
    float w3 = weightAt(w, k0 + rows[j + 3], n);
    acc = fmaf(values[j], w0, acc);
    acc = fmaf(values[j + 1], w1, acc);
    acc = fmaf(values[j + 2], w2, acc);
    acc = fmaf(values[j + 3], w3, acc);
  }
  for (; j < m; ++j)
    acc = fmaf(values[j], weightAt(w, k0 + rows[j], n), acc);
  atomicAdd(out + t * w.N + n, acc);
}

//===----------------------------------------------------------------------===//
// Top-k.
//===----------------------------------------------------------------------===//

/// spx.topk_activation over slices of an [outer, axis, inner] view: one
/// block per slice. Grid: outer * inner blocks.
__global__ void __launch_bounds__(kBlock)
    parsimony_gpu_topk_activation(const float *in, float *out, i64 outer,
                                  i64 axis, i64 inner, i64 k) {
  __shared__ TopkShared sh;
  i64 slice = blockIdx.x;
  i64 base = (slice / inner) * axis * inner + slice % inner;
  const float *row = in + base;
  float *dst = out + base;
  if (k <= 0 || k >= axis) {
    for (i64 i = threadIdx.x; i < axis; i += blockDim.x)
      dst[i * inner] = k <= 0 ? 0.0f : row[i * inner];
    return;
  }
  bool staged = stageKeys(row, axis, inner, sh);
  blockTopkCut(row, axis, inner, k, sh, staged);
  uint32_t cut = sh.prefix, takeEqual = sh.remaining;
  // Index-ordered chunks: count cut-equal entries per chunk, scan, select.
  i64 chunk = (axis + blockDim.x - 1) / blockDim.x;
  i64 c0 = threadIdx.x * chunk, c1 = c0 + chunk < axis ? c0 + chunk : axis;
  uint32_t eq = 0;
  for (i64 i = c0; i < c1; ++i)
    eq += keyAt(row, i, inner, sh, staged) == cut;
  sh.chunkCount[threadIdx.x] = eq;
  blockExclusiveScan(sh);
  uint32_t before = sh.chunkCount[threadIdx.x];
  for (i64 i = c0; i < c1; ++i) {
    float v = row[i * inner];
    dst[i * inner] =
        selected(keyAt(row, i, inner, sh, staged), cut, before, takeEqual)
            ? v
            : 0.0f;
  }
}

/// Writes the k best indices of row[0, N) to out[t * k, t * k + k) in
/// ascending order (-1 past N); the whole block calls it, keys staged or
/// not.
__device__ void blockTopkIndices(const float *row, i64 N, i64 k, void *out,
                                 int outI64, i64 t, TopkShared &sh,
                                 bool staged) {
  i64 kk = k < N ? k : N;
  uint32_t cut = 0, takeEqual = (uint32_t)N;
  if (kk < N && kk > 0) {
    blockTopkCut(row, N, 1, kk, sh, staged);
    cut = sh.prefix;
    takeEqual = sh.remaining;
  }
  i64 chunk = (N + blockDim.x - 1) / blockDim.x;
  i64 c0 = threadIdx.x * chunk, c1 = c0 + chunk < N ? c0 + chunk : N;
  uint32_t eq = 0, sel = 0;
  for (i64 i = c0; i < c1; ++i) {
    eq += keyAt(row, i, 1, sh, staged) == cut;
  }
  // First pass: cut-equal counts; second: selected counts.
  sh.chunkCount[threadIdx.x] = eq;
  blockExclusiveScan(sh);
  uint32_t before = sh.chunkCount[threadIdx.x];
  __syncthreads();
  {
    uint32_t b = before;
    for (i64 i = c0; i < c1; ++i)
      sel +=
          kk > 0 && selected(keyAt(row, i, 1, sh, staged), cut, b, takeEqual);
  }
  sh.chunkCount[threadIdx.x] = sel;
  blockExclusiveScan(sh);
  i64 pos = sh.chunkCount[threadIdx.x];
  for (i64 i = c0; i < c1; ++i)
    if (kk > 0 &&
        selected(keyAt(row, i, 1, sh, staged), cut, before, takeEqual))
      storeIndex(out, outI64, t * k + pos++, i);
  for (i64 j = kk + threadIdx.x; j < k; j += blockDim.x)
    storeIndex(out, outI64, t * k + j, -1);
}

/// Whether predictor weight w scores on integers against 8-bit
/// activations, as on the CPU (SpxKernels.cpp, integerPredictorApplies):
/// neuron-major int8 with one scale per row, or packed int4 per row or in
/// groups of 32 or of a multiple of 64; K <= 32768.
__device__ __forceinline__ bool integerPredictor(const Weight &w) {
  if (w.layout != 1 || w.K <= 0 || w.K > 32768 || !w.scales)
    return false;
  bool perRow = w.group == 0 || w.group == w.K;
  if (w.bits == 8)
    return perRow;
  return w.bits == kInt4Packed && w.K % 32 == 0 &&
         (perRow || w.group == 32 || w.group % 64 == 0);
}

/// The CPU's int8ActivationScale of x[0, K): the power of two p with
/// max |x| / p <= 127 (1 for all zeros), or 0 if x has a non-finite value.
/// The whole block calls it.
__device__ float blockActivationScale(const float *x, i64 K) {
  __shared__ unsigned maxBits;
  if (threadIdx.x == 0)
    maxBits = 0;
  __syncthreads();
  unsigned bits = 0; // |x| as bits: ordered like the values, NaN largest
  for (i64 i = threadIdx.x; i < K; i += blockDim.x) {
    unsigned b = __float_as_uint(x[i]) & 0x7fffffffu;
    bits = b > bits ? b : bits;
  }
  atomicMax(&maxBits, bits);
  __syncthreads();
  unsigned m = maxBits;
  __syncthreads(); // maxBits is reused by the next call
  if (m >= 0x7f800000u)
    return 0.0f;
  float maxAbs = __uint_as_float(m);
  if (maxAbs == 0.0f)
    return 1.0f;
  int e = 0;
  frexpf(maxAbs / 127.0f, &e);
  float scale = ldexpf(1.0f, e);
  while (maxAbs / scale > 127.0f)
    scale *= 2.0f;
  return scale;
}

__device__ __forceinline__ int warpSumInt(int v) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/// x[k] rounded to 8 bits at scale 1 / inv (round half to even).
__device__ __forceinline__ int roundedActivation(const float *x, i64 k,
                                                 float inv) {
  return (int)rintf(x[k] * inv);
}

/// Integer dot product of 8-bit x (at scale 1 / inv) with the int4 values
/// of packed block b of a row.
__device__ __forceinline__ int int4BlockDot(const uint8_t *row, i64 b,
                                            const float *x, float inv) {
  int sum = 0;
  for (int i = 0; i < 16; ++i) {
    int byte = row[b * 16 + i];
    sum += lowNibbleOf(byte) * roundedActivation(x, b * 32 + i, inv) +
           highNibbleOf(byte) * roundedActivation(x, b * 32 + 16 + i, inv);
  }
  return sum;
}

/// score(x, n) without the bias for an integerPredictor weight, with x
/// rounded to 8 bits at `xScale`: exact integer sums, scaled per row or per
/// group, times xScale, in the CPU's order of operations. Every lane gets
/// it.
__device__ float integerPredictorScore(const float *x, float xScale,
                                       const Weight &w, i64 n, int lane) {
  float inv = 1.0f / xScale; // a power of two: x * inv is exact
  i64 K = w.K;
  if (w.group == 0 || w.group == K) {
    int sum = 0;
    if (w.bits == 8) {
      const int8_t *row = static_cast<const int8_t *>(w.w) + n * K;
      for (i64 k = lane; k < K; k += 32)
        sum += row[k] * roundedActivation(x, k, inv);
    } else {
      const uint8_t *row = static_cast<const uint8_t *>(w.w) + n * (K / 2);
      for (i64 b = lane; b < K / 32; b += 32)
        sum += int4BlockDot(row, b, x, inv);
    }
    return (float)warpSumInt(sum) * scaleAt(w, n) * xScale;
  }
  // Packed int4 in groups of 32 or of a multiple of 64: a lane per group.
  const uint8_t *row = static_cast<const uint8_t *>(w.w) + n * (K / 2);
  i64 groups = K / w.group, blocks = w.group / 32;
  float acc = 0.0f;
  for (i64 g = lane; g < groups; g += 32) {
    int sum = 0;
    for (i64 b = g * blocks; b < (g + 1) * blocks; ++b)
      sum += int4BlockDot(row, b, x, inv);
    acc = fmaf((float)sum, scaleAt(w, n * groups + g), acc);
  }
  return warpSum(acc) * xScale;
}

/// scores[t, n] for this block's 8 neurons (a warp each) of token
/// blockIdx.y: x[t] . W(:, n) + bias[n], on integers with 8-bit
/// activations where the CPU does so (integerPredictor and x[t] finite).
__device__ void blockPredictorScores(const float *x, Weight w,
                                     const float *bias, float *scores) {
  int lane = threadIdx.x % 32;
  i64 n = (i64)blockIdx.x * 8 + threadIdx.x / 32;
  i64 t = blockIdx.y;
  const float *xt = x + t * w.K;
  float xScale = integerPredictor(w) ? blockActivationScale(xt, w.K) : 0.0f;
  if (n >= w.N)
    return;
  float acc = xScale != 0.0f ? integerPredictorScore(xt, xScale, w, n, lane)
                             : warpSum(laneDot(xt, w, n, lane));
  if (lane == 0)
    scores[t * w.N + n] = acc + (bias ? bias[n] : 0.0f);
}

/// Whether this block is the last of `blocks` to get here, for a step that
/// needs every block's results (written before the call). The last block
/// resets the counter, so counters stay zero between launches. Every
/// thread of the block calls it.
__device__ bool lastBlockOf(unsigned *counter, unsigned blocks) {
  __shared__ unsigned ticket;
  __threadfence(); // this block's results are visible before the ticket
  __syncthreads();
  if (threadIdx.x == 0) {
    ticket = atomicAdd(counter, 1u);
    if (ticket == blocks - 1)
      *counter = 0;
  }
  __syncthreads();
  return ticket == blocks - 1;
}

/// Writes the k best indices of each row of scores [T, N] in ascending
/// order (-1 past N). Grid: T blocks.
__global__ void __launch_bounds__(kBlock)
    parsimony_gpu_topk_indices(const float *scores, i64 N, i64 k, void *out,
                               int outI64) {
  __shared__ TopkShared sh;
  i64 t = blockIdx.x;
  const float *row = scores + t * N;
  bool staged = stageKeys(row, N, 1, sh);
  blockTopkIndices(row, N, k, out, outI64, t, sh, staged);
}

/// Predictor scores alone (rows longer than predict_topk takes).
/// Grid: (ceil(N / 8), T) blocks of 256.
__global__ void __launch_bounds__(256)
    parsimony_gpu_predictor_scores(const float *x, Weight w, const float *bias,
                                   float *scores) {
  blockPredictorScores(x, w, bias, scores);
}

/// spx.predict_support in one launch (decode): warps compute scores[t, n] =
/// x[t] . W(:, n) + bias[n] (blockPredictorScores); the last block of token t
/// to finish (counters[t]) selects the row's k best. Needs N <= kStagedKeys.
/// Grid: (ceil(N / 8), T) blocks of 256.
__global__ void __launch_bounds__(256)
    parsimony_gpu_predict_topk(const float *x, i64 T, Weight w,
                               const float *bias, i64 k, float *scores,
                               unsigned *counters, void *out, int outI64) {
  __shared__ TopkShared sh;
  i64 t = blockIdx.y;
  blockPredictorScores(x, w, bias, scores);
  if (!lastBlockOf(counters + t, gridDim.x))
    return;
  // Other blocks' scores: read through L2 (__ldcg), not a stale L1.
  const float *row = scores + t * w.N;
  for (i64 i = threadIdx.x; i < w.N; i += blockDim.x)
    sh.keys[i] = orderKey(__ldcg(row + i));
  __syncthreads();
  blockTopkIndices(row, w.N, k, out, outI64, t, sh, true);
}

/// Row-wise top-k mask in place over h [T, F] (sparse FFN). Grid: T blocks.
__global__ void __launch_bounds__(kBlock)
    parsimony_gpu_topk_rows(float *h, i64 F, i64 k) {
  __shared__ TopkShared sh;
  float *row = h + (i64)blockIdx.x * F;
  bool staged = stageKeys(row, F, 1, sh);
  blockTopkCut(row, F, 1, k, sh, staged);
  uint32_t cut = sh.prefix, takeEqual = sh.remaining;
  i64 chunk = (F + blockDim.x - 1) / blockDim.x;
  i64 c0 = threadIdx.x * chunk, c1 = c0 + chunk < F ? c0 + chunk : F;
  uint32_t eq = 0;
  for (i64 i = c0; i < c1; ++i)
    eq += keyAt(row, i, 1, sh, staged) == cut;
  sh.chunkCount[threadIdx.x] = eq;
  blockExclusiveScan(sh);
  uint32_t before = sh.chunkCount[threadIdx.x];
  __syncthreads();
  for (i64 i = c0; i < c1; ++i)
    if (!selected(keyAt(row, i, 1, sh, staged), cut, before, takeEqual))
      row[i] = 0.0f;
}

//===----------------------------------------------------------------------===//
// Sparse FFN and support products.
//===----------------------------------------------------------------------===//

/// mask[block, f] = 1 for every supported neuron of a token block.
/// Grid: ceil(T * S / 256).
__global__ void parsimony_gpu_support_mask(const void *support, int i64Flag,
                                           i64 T, i64 S, i64 F, i64 blockSize,
                                           uint8_t *mask) {
  i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= T * S)
    return;
  i64 f = loadIndex(support, i64Flag, i);
  if (f >= 0 && f < F)
    mask[(i / S / blockSize) * F + f] = 1;
}

/// Hidden activations of the sparse FFN: one warp per neuron f, looping
/// over tokens; neurons outside a token block's support are zero and their
/// weights are not read. h[t, f] = act(u) or act(g) * u with u = x W_up +
/// b_up. Grid: ceil(F / 8) blocks of 256.
__global__ void __launch_bounds__(256)
    parsimony_gpu_ffn_hidden(const float *x, i64 T, Weight up,
                             const float *upBias, Weight gate, int gated,
                             const uint8_t *mask, i64 blockSize, int activation,
                             float *h) {
  int lane = threadIdx.x % 32;
  i64 f = (i64)blockIdx.x * 8 + threadIdx.x / 32;
  if (f >= up.N)
    return;
  i64 F = up.N, D = up.K;
  for (i64 t = 0; t < T; ++t) {
    if (mask && !mask[(t / blockSize) * F + f]) {
      if (lane == 0)
        h[t * F + f] = 0.0f;
      continue;
    }
    const float *xt = x + t * D;
    float u = warpSum(laneDot(xt, up, f, lane));
    float g = gated ? warpSum(laneDot(xt, gate, f, lane)) : 0.0f;
    if (lane == 0) {
      u += upBias ? upBias[f] : 0.0f;
      h[t * F + f] =
          gated ? activate(activation, g) * u : activate(activation, u);
    }
  }
}

/// Token rows and floats of y that parsimony_gpu_support_ffn keeps per
/// block (GpuRuntime.cpp checks them before choosing it).
constexpr int kFusedTokens = 8;
constexpr int kFusedFloats = 8192;

/// spx.sparse_ffn over explicit supports in one launch. The tokens of a
/// token block (blockSize tokens sharing the union of their supports) are
/// served by gridDim.x blocks whose warps take the block's support entries
/// in turn, skip indices outside [0, F) and repeats of an earlier entry,
/// compute h for the block's tokens from the neuron's up (and gate) row and
/// add h * W_down(n, :) into the block's y in shared memory; neurons whose
/// h is zero for every token read no down row. Each block stores its
/// partial y; the last to finish sums them in block order with the bias
/// and residual into y. keepPositive zeroes h <= 0: a top-k that keeps
/// every positive supported value (the launcher checks that it does).
/// Grid: (blocks per token block, token blocks) of 256 threads.
__global__ void __launch_bounds__(256) parsimony_gpu_support_ffn(
    const float *x, i64 T, Weight up, const float *upBias, Weight gate,
    int gated, Weight down, const float *downBias, const void *support,
    int i64Flag, i64 S, i64 blockSize, int activation, int keepPositive,
    const float *residual, float *partials, unsigned *counters, float *y) {
  __shared__ float part[kFusedFloats];
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  i64 F = up.N, D = up.K;
  i64 t0 = (i64)blockIdx.y * blockSize;
  int tokens = (int)(T - t0 < blockSize ? T - t0 : blockSize);
  i64 stride = (blockSize < T ? blockSize : T) * D; // partial y per block
  for (i64 i = threadIdx.x; i < tokens * D; i += blockDim.x)
    part[i] = 0.0f;
  __syncthreads();
  i64 entries = tokens * S, first = t0 * S;
  for (i64 e = (i64)blockIdx.x * 8 + warp; e < entries;
       e += (i64)gridDim.x * 8) {
    i64 n = loadIndex(support, i64Flag, first + e);
    if (n < 0 || n >= F)
      continue;
    bool repeat = false;
    for (i64 base = 0; base < e && !repeat; base += 32) {
      i64 j = base + lane;
      bool same = j < e && loadIndex(support, i64Flag, first + j) == n;
      repeat = __ballot_sync(0xffffffffu, same) != 0;
    }
    if (repeat)
      continue;
    float h[kFusedTokens];
    bool any = false;
    for (int t = 0; t < tokens; ++t) {
      const float *xt = x + (t0 + t) * D;
      float u = warpSum(laneDot(xt, up, n, lane)) + (upBias ? upBias[n] : 0.0f);
      float v =
          gated ? activate(activation, warpSum(laneDot(xt, gate, n, lane))) * u
                : activate(activation, u);
      if (keepPositive && v <= 0.0f)
        v = 0.0f; // NaN ranks largest: kept
      h[t] = v;
      any |= v != 0.0f;
    }
    if (!any)
      continue;
    for (i64 d = lane; d < D; d += 32) {
      float wv = weightAt(down, n, d);
      for (int t = 0; t < tokens; ++t)
        if (h[t] != 0.0f)
          atomicAdd(&part[t * D + d], h[t] * wv);
    }
  }
  __syncthreads();
  float *all = partials + (i64)blockIdx.y * gridDim.x * stride;
  for (i64 i = threadIdx.x; i < tokens * D; i += blockDim.x)
    all[blockIdx.x * stride + i] = part[i];
  if (!lastBlockOf(counters + blockIdx.y, gridDim.x))
    return;
  for (i64 i = threadIdx.x; i < tokens * D; i += blockDim.x) {
    float acc = downBias ? downBias[i % D] : 0.0f;
    for (unsigned b = 0; b < gridDim.x; ++b)
      acc += __ldcg(all + b * stride + i);
    y[t0 * D + i] = acc + (residual ? residual[t0 * D + i] : 0.0f);
  }
}

/// spx.support_matmul side 0: out[t, s] = in[t, :] . W(:, support[t, s]).
/// One warp per (t, s). Grid: (ceil(S / 8), T).
__global__ void __launch_bounds__(256)
    parsimony_gpu_support_out(const float *in, i64 T, Weight w,
                              const void *support, int i64Flag, i64 S,
                              float *out) {
  int lane = threadIdx.x % 32;
  i64 s = (i64)blockIdx.x * 8 + threadIdx.x / 32;
  i64 t = blockIdx.y;
  if (s >= S)
    return;
  i64 n = loadIndex(support, i64Flag, t * S + s);
  float acc =
      n >= 0 && n < w.N ? warpSum(laneDot(in + t * w.K, w, n, lane)) : 0.0f;
  if (lane == 0)
    out[t * S + s] = acc;
}

/// spx.support_matmul side 1: out[t, n] = sum_j in[t, j] W(support[t, j], n).
/// Grid: (ceil(N / 256), T).
__global__ void __launch_bounds__(256)
    parsimony_gpu_support_in(const float *in, i64 T, Weight w,
                             const void *support, int i64Flag, i64 S,
                             float *out) {
  i64 n = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  i64 t = blockIdx.y;
  if (n >= w.N)
    return;
  float acc = 0.0f;
  for (i64 j = 0; j < S; ++j) {
    i64 k = loadIndex(support, i64Flag, t * S + j);
    if (k >= 0 && k < w.K)
      acc = fmaf(in[t * S + j], weightAt(w, k, n), acc);
  }
  out[t * w.N + n] = acc;
}

/// scores[t, n] += bias[n] (low-rank predictor path).
__global__ void parsimony_gpu_add_bias(float *x, i64 T, i64 N,
                                       const float *bias) {
  i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < T * N)
    x[i] += bias[i % N];
}

/// x[i] += residual[i] for i < n (a fused skip connection).
__global__ void parsimony_gpu_add_rows(float *x, i64 n, const float *residual) {
  i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    x[i] += residual[i];
}

//===----------------------------------------------------------------------===//
// Mixture of experts.
//===----------------------------------------------------------------------===//

/// spx.route: one block per token. logits = x W (+ b) or x itself.
__global__ void __launch_bounds__(256)
    parsimony_gpu_route(const float *x, i64 D, const float *routerW,
                        const float *routerB, i64 E, i64 k, int normalize,
                        float *gates, void *experts, int expertsI64,
                        float *scratch) {
  i64 t = blockIdx.x;
  float *p = scratch + t * E;
  for (i64 e = threadIdx.x; e < E; e += blockDim.x) {
    float l;
    if (routerW) {
      l = 0.0f;
      for (i64 d = 0; d < D; ++d)
        l = fmaf(x[t * D + d], routerW[d * E + e], l);
      l += routerB ? routerB[e] : 0.0f;
    } else {
      l = x[t * E + e];
    }
    p[e] = l;
  }
  __syncthreads();
  if (threadIdx.x != 0)
    return;
  float mx = -__int_as_float(0x7f800000);
  for (i64 e = 0; e < E; ++e)
    mx = fmaxf(mx, p[e]);
  // A NaN logit makes every probability NaN, as on the CPU.
  bool nan = false;
  for (i64 e = 0; e < E; ++e)
    nan |= p[e] != p[e];
  float sum = 0.0f;
  for (i64 e = 0; e < E; ++e) {
    p[e] = nan ? __int_as_float(0x7fc00000) : expf(p[e] - mx);
    sum += p[e];
  }
  for (i64 e = 0; e < E; ++e)
    p[e] /= sum;
  i64 kk = k < E ? k : E;
  float sel = 0.0f;
  // Selection by repeated arg-max: descending, ties to the lower index.
  for (i64 j = 0; j < kk; ++j) {
    i64 best = -1;
    uint32_t bestKey = 0;
    for (i64 e = 0; e < E; ++e) {
      bool taken = false;
      for (i64 q = 0; q < j; ++q)
        taken |= loadIndex(experts, expertsI64, t * k + q) == e;
      if (taken)
        continue;
      uint32_t key = orderKey(p[e]);
      if (best < 0 || key > bestKey) {
        best = e;
        bestKey = key;
      }
    }
    storeIndex(experts, expertsI64, t * k + j, best);
    sel += p[best];
  }
  for (i64 j = 0; j < k; ++j) {
    float g = j < kk ? p[loadIndex(experts, expertsI64, t * k + j)] : 0.0f;
    gates[t * k + j] = normalize && j < kk ? g / sel : g;
    if (j >= kk)
      storeIndex(experts, expertsI64, t * k + j, -1);
  }
}

/// spx.dispatch bookkeeping, sequential (token order, then choice order):
/// offsets, sizes, slots and rowSource[r] (the token of row r, or -1).
/// One thread.
__global__ void parsimony_gpu_dispatch_plan(const void *experts, int expertsI64,
                                            i64 T, i64 k, i64 E, int mode,
                                            i64 capacity, i64 R, i64 *offsets,
                                            i64 *sizes, i64 *slots,
                                            i64 *rowSource) {
  if (threadIdx.x != 0 || blockIdx.x != 0)
    return; // sequential by definition (token order)
  bool dropless = mode == 0;
  i64 C = capacity > 0 ? capacity : 0;
  for (i64 e = 0; e < E; ++e)
    sizes[e] = 0;
  for (i64 r = 0; r < R; ++r)
    rowSource[r] = -1;
  if (dropless) {
    for (i64 i = 0; i < T * k; ++i) {
      i64 e = loadIndex(experts, expertsI64, i);
      if (e >= 0 && e < E)
        ++sizes[e];
    }
    for (i64 e = 0, off = 0; e < E; ++e) {
      offsets[e] = off;
      off += sizes[e];
      sizes[e] = 0; // refilled below as the fill count
    }
  } else {
    for (i64 e = 0; e < E; ++e)
      offsets[e] = e * C;
  }
  for (i64 i = 0; i < T * k; ++i) {
    i64 e = loadIndex(experts, expertsI64, i);
    i64 slot = -1;
    if (e >= 0 && e < E && (dropless || sizes[e] < C)) {
      i64 r = offsets[e] + sizes[e];
      if (r < R) {
        slot = r;
        ++sizes[e];
        rowSource[r] = i / k;
      }
    }
    slots[i] = slot;
  }
}

/// rows[r, :] = x[rowSource[r], :] or 0. Grid: ceil(R * D / 256).
__global__ void parsimony_gpu_gather_rows(const float *x, i64 D,
                                          const i64 *rowSource, i64 R,
                                          float *rows) {
  i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= R * D)
    return;
  i64 src = rowSource[i / D];
  rows[i] = src < 0 ? 0.0f : x[src * D + i % D];
}

/// rowExpert[r] = the expert whose (clipped) group holds row r, or -1.
__global__ void parsimony_gpu_row_experts(const i64 *offsets, const i64 *sizes,
                                          i64 E, i64 R, i64 *rowExpert) {
  i64 r = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= R)
    return;
  i64 found = -1;
  for (i64 e = 0; e < E; ++e) {
    i64 size = sizes[e] > 0 ? sizes[e] : 0;
    if (r >= offsets[e] && r < offsets[e] + size) {
      found = e;
      break;
    }
  }
  rowExpert[r] = found;
}

/// Expert hidden activations, one thread per (row, neuron).
/// Grid: (ceil(F / 256), R).
__global__ void __launch_bounds__(256)
    parsimony_gpu_expert_hidden(const float *rows, i64 D, const i64 *rowExpert,
                                i64 F, Weight fc1, const float *fc1Bias,
                                Weight fc3, int hasFc3, const float *fc3Bias,
                                int activation, int swigluFusion, float alpha,
                                float beta, float limit, float *hidden) {
  i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  i64 r = blockIdx.y;
  if (i >= F)
    return;
  i64 e = rowExpert[r];
  if (e < 0) {
    hidden[r * F + i] = 0.0f;
    return;
  }
  const float *x = rows + r * D;
  auto dot = [&](const Weight &w, i64 n) {
    float acc = 0.0f;
    for (i64 d = 0; d < D; ++d)
      acc = fmaf(x[d], weightAt(w, d, n, e), acc);
    return acc;
  };
  hidden[r * F + i] = expertHiddenValue(
      i, e, F, fc1.N, [&](i64 n) { return dot(fc1, n); }, fc1Bias,
      [&](i64 n) { return dot(fc3, n); }, hasFc3, fc3Bias, activation,
      swigluFusion, alpha, beta, limit);
}

/// Grouped product over ragged expert groups on tensor cores:
/// out[r, n] = rows[r, :] W_e(:, n) (+ bias_e[n]) for the rows r of expert
/// e's group; rows of no group are not written. Grid: (ceil(N/64),
/// ceil(R/64) + E), an upper bound on the groups' tiles.
__global__ void __launch_bounds__(kMmaThreads)
    parsimony_gpu_expert_matmul_mma(const float *rows, i64 R,
                                    const i64 *offsets, const i64 *sizes, i64 E,
                                    Weight w, const float *bias, float *out) {
  i64 e, m0, mEnd;
  if (!groupTile(offsets, sizes, E, R, e, m0, mEnd))
    return;
  i64 K = w.K, N = w.N;
  Weight we = expertWeight(w, e);
  mmaTile(
      m0, mEnd, (i64)blockIdx.x * kMmaTile, N, K, true, w.layout == 1,
      [&](i64 m, i64 k) { return rows[m * K + k]; },
      [&](i64 k, i64 n) { return weightAt(we, k, n); },
      [&](i64 m, i64 n, float v) {
        out[m * N + n] = v + (bias ? bias[e * N + n] : 0.0f);
      });
}

/// hidden from the grouped products pre1 = rows fc1_e ([R, F1]) and
/// pre3 = rows fc3_e ([R, F], when hasFc3), biases not yet added; 0 for
/// rows of no expert. Grid: ceil(R * F / 256).
__global__ void parsimony_gpu_expert_activation(
    const float *pre1, const float *pre3, const i64 *rowExpert, i64 R, i64 F,
    i64 F1, const float *fc1Bias, int hasFc3, const float *fc3Bias,
    int activation, int swigluFusion, float alpha, float beta, float limit,
    float *hidden) {
  i64 idx = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= R * F)
    return;
  i64 r = idx / F, i = idx % F, e = rowExpert[r];
  hidden[idx] =
      e < 0 ? 0.0f
            : expertHiddenValue(
                  i, e, F, F1, [&](i64 n) { return pre1[r * F1 + n]; }, fc1Bias,
                  [&](i64 n) { return pre3[r * F + n]; }, hasFc3, fc3Bias,
                  activation, swigluFusion, alpha, beta, limit);
}

/// out[r, d] = hidden[r, :] . fc2_e(:, d) + b2 (0 for rows of no expert).
/// Grid: (ceil(D / 256), R).
__global__ void __launch_bounds__(256)
    parsimony_gpu_expert_out(const float *hidden, i64 F, const i64 *rowExpert,
                             Weight fc2, const float *fc2Bias, float *out) {
  i64 d = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  i64 r = blockIdx.y;
  i64 D = fc2.N;
  if (d >= D)
    return;
  i64 e = rowExpert[r];
  float acc = 0.0f;
  if (e >= 0) {
    const float *h = hidden + r * F;
    for (i64 f = 0; f < F; ++f)
      acc = fmaf(h[f], weightAt(fc2, f, d, e), acc);
    acc += fc2Bias ? fc2Bias[e * D + d] : 0.0f;
  }
  out[r * D + d] = acc;
}

/// spx.combine: out[t, d] = sum_j gates[t, j] expert_out[slots[t, j], d].
__global__ void parsimony_gpu_combine(const float *expertOut, i64 R, i64 D,
                                      const void *slots, int slotsI64, i64 T,
                                      i64 k, const float *gates,
                                      const float *residual, float *out) {
  i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= T * D)
    return;
  i64 t = i / D, d = i % D;
  float acc = residual ? residual[i] : 0.0f;
  for (i64 j = 0; j < k; ++j) {
    i64 s = loadIndex(slots, slotsI64, t * k + j);
    if (s >= 0 && s < R)
      acc += gates[t * k + j] * expertOut[s * D + d];
  }
  out[i] = acc;
}

} // extern "C"
