//===- SpxKernels.cpp - runtime kernels behind the spx ops ----------------===//
//
// Implements parsimony/Runtime/SpxKernels.h. Dense products (denseMatmul)
// run on parsimony_sgemm, except for few tokens: nk weights then use dot
// products over contiguous neuron rows (dotRows) and quantized kn weights
// are widened in registers (qaxpy); other quantized shapes are dequantized
// block by block into per-thread scratch for sgemm. The sparse parts use:
//
//  * Top-k by threshold: order-preserving integer keys, a byte-wise radix
//    select for the k-th largest key (one histogram + one compaction pass
//    over the row, then passes over the few survivors), then one pass that
//    keeps keys above the threshold and the lowest-index ties. The row is
//    never sorted.
//  * Sparse down-projection (sparseProject): tokens in blocks of four; only
//    the rows of the weight for their nonzero neurons are read (kn f32 rows
//    in place, others dequantized), accumulated by the register-blocked
//    rowsFma loop, parallel over (token block, column range). Rows two or
//    more tokens of the block use are multiplied into all four at once,
//    rows one token uses into that token alone. Above a measured
//    union-density crossover the dense sgemm wins and is used instead.
//  * Predicted support: per support block the union of the supports; only
//    those neurons' up/gate columns (contiguous rows for nk weights) and
//    down rows are touched.
//
//===----------------------------------------------------------------------===//

// The entry points are the library's public ABI: keep them visible when the
// shared runtime is built with hidden visibility.
#pragma GCC visibility push(default)
#include "parsimony/Runtime/SpxKernels.h"
#pragma GCC visibility pop

#include "parsimony/Runtime/Kernels.h"

#include "KernelSet.h"
#include "ProfileInternal.h"
#include "SpxKernelsInternal.h"
#include "ThreadPool.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

using namespace parsimony::runtime;
using namespace parsimony::runtime::spx;

//===----------------------------------------------------------------------===//
// WeightView dequantization.
//===----------------------------------------------------------------------===//

namespace {

inline float loadScale(const void *s, bool f16, int64_t i) {
  return f16 ? halfToFloat(static_cast<const uint16_t *>(s)[i])
             : static_cast<const float *>(s)[i];
}

/// Bits of the packed int4 storage format in the templates below.
constexpr int PackedInt4 = 5;

/// The signed value of element i of a quantized stored row. int4 sign-extends
/// the low nibble, so both sign- and zero-extended byte storage of i4 read
/// right; packed int4 holds values i and i + 16 of each 32-value block in
/// the low and high nibbles of byte i of the block's 16 bytes.
template <int Bits> inline float quantAt(const int8_t *q, int64_t i) {
  if (Bits == PackedInt4) {
    uint8_t byte = uint8_t(q[(i >> 5) * 16 + (i & 15)]);
    return float(int8_t(i & 16 ? byte : uint8_t(byte << 4)) >> 4);
  }
  if (Bits == 4)
    return float(int8_t(uint8_t(q[i]) << 4) >> 4);
  return float(q[i]);
}

/// dst[c - c0] = the raw value of element c of a quantized stored row, for c
/// in [c0, c1). Plain loops the compiler vectorizes; packed int4 decodes
/// whole 32-value blocks.
template <int Bits>
void decodeRow(const int8_t *q, int64_t c0, int64_t c1, float *dst) {
  if (Bits != PackedInt4) {
    for (int64_t c = c0; c < c1; ++c)
      dst[c - c0] = quantAt<Bits>(q, c);
    return;
  }
  for (int64_t b = c0 / 32; b * 32 < c1; ++b) {
    const uint8_t *bytes = reinterpret_cast<const uint8_t *>(q) + b * 16;
    float block[32];
    for (int i = 0; i < 16; ++i) {
      block[i] = float(int8_t(uint8_t(bytes[i] << 4)) >> 4);
      block[i + 16] = float(int8_t(bytes[i]) >> 4);
    }
    int64_t lo = std::max(c0, b * 32), hi = std::min(c1, b * 32 + 32);
    for (int64_t c = lo; c < hi; ++c)
      dst[c - c0] = block[c - b * 32];
  }
}

template <int Bits>
void storedRowImpl(const WeightView &v, int64_t r, int64_t c0, int64_t c1,
                   float *dst) {
  const int8_t *q = static_cast<const int8_t *>(v.w) + r * v.storedRowBytes();
  decodeRow<Bits>(q, c0, c1, dst);
  if (!v.scales)
    return;
  if (v.nk) {
    // Row r is output feature r: one scale, or one per group along K.
    if (v.group == 0) {
      float s = loadScale(v.scales, v.scalesF16, r);
      for (int64_t c = c0; c < c1; ++c)
        dst[c - c0] *= s;
      return;
    }
    int64_t groups = v.k / v.group;
    for (int64_t c = c0; c < c1;) {
      int64_t g = c / v.group;
      int64_t end = std::min(c1, (g + 1) * v.group);
      float s = loadScale(v.scales, v.scalesF16, r * groups + g);
      for (; c < end; ++c)
        dst[c - c0] *= s;
    }
    return;
  }
  // kn: row r is input feature r; the scale varies along the row.
  int64_t base = v.group == 0 ? 0 : (r / v.group) * v.n;
  if (!v.scalesF16) {
    const float *s = static_cast<const float *>(v.scales) + base;
    for (int64_t c = c0; c < c1; ++c)
      dst[c - c0] *= s[c];
    return;
  }
  for (int64_t c = c0; c < c1; ++c)
    dst[c - c0] *= loadScale(v.scales, true, base + c);
}

template <int Bits>
void storedColImpl(const WeightView &v, int64_t c, int64_t r0, int64_t r1,
                   float *dst) {
  const int8_t *q = static_cast<const int8_t *>(v.w);
  int64_t rowBytes = v.storedRowBytes();
  for (int64_t r = r0; r < r1; ++r) {
    float s = 1.0f;
    if (v.scales) {
      // Logical (i, j) of stored (r, c).
      int64_t i = v.nk ? c : r, j = v.nk ? r : c;
      int64_t idx = v.group == 0 ? j
                    : v.nk       ? j * (v.k / v.group) + i / v.group
                                 : (i / v.group) * v.n + j;
      s = loadScale(v.scales, v.scalesF16, idx);
    }
    dst[r - r0] = quantAt<Bits>(q + r * rowBytes, c) * s;
  }
}

} // namespace

void WeightView::storedRow(int64_t r, int64_t c0, int64_t c1,
                           float *dst) const {
  if (isF32())
    std::memcpy(dst, f32() + r * storedCols() + c0,
                sizeof(float) * size_t(c1 - c0));
  else if (packed)
    storedRowImpl<PackedInt4>(*this, r, c0, c1, dst);
  else if (bits == 4)
    storedRowImpl<4>(*this, r, c0, c1, dst);
  else
    storedRowImpl<8>(*this, r, c0, c1, dst);
}

void WeightView::storedCol(int64_t c, int64_t r0, int64_t r1,
                           float *dst) const {
  if (isF32()) {
    int64_t cols = storedCols();
    for (int64_t r = r0; r < r1; ++r)
      dst[r - r0] = f32()[r * cols + c];
  } else if (packed) {
    storedColImpl<PackedInt4>(*this, c, r0, r1, dst);
  } else if (bits == 4) {
    storedColImpl<4>(*this, c, r0, r1, dst);
  } else {
    storedColImpl<8>(*this, c, r0, r1, dst);
  }
}

float parsimony::runtime::spx::int8ActivationScale(const float *x, int64_t k) {
  float maxAbs = 0.0f;
  for (int64_t c = 0; c < k; ++c) {
    if (!std::isfinite(x[c]))
      return 0.0f;
    maxAbs = std::max(maxAbs, std::fabs(x[c]));
  }
  float scale = 1.0f;
  if (maxAbs > 0.0f) {
    int e = 0;
    std::frexp(maxAbs / 127.0f, &e);
    scale = std::ldexp(1.0f, e);
    while (maxAbs / scale > 127.0f)
      scale *= 2.0f;
  }
  return scale;
}

void parsimony::runtime::spx::prepareInt4Activations(const float *x, int64_t k,
                                                     float scale, int8_t *xq,
                                                     int32_t *corr) {
  if (k <= 0)
    return;
  int64_t steps = (k + 63) / 64;
  std::memset(xq, 0, size_t(steps) * 64);
  for (int64_t s = 0; s < steps; ++s) {
    bool full = (s + 1) * 64 <= k;
    for (int j = 0; j < 64 && s * 64 + j < k; ++j) {
      // Position of value j of the step in the unpacked weight order.
      int pos = !full || j < 16 || j >= 48 ? j : j < 32 ? j + 16 : j - 16;
      xq[s * 64 + pos] = int8_t(std::nearbyint(x[s * 64 + j] / scale));
    }
  }
  for (int64_t i = 0; i < steps * 16; ++i)
    corr[i] = -8 * (int32_t(xq[4 * i]) + xq[4 * i + 1] + xq[4 * i + 2] +
                    xq[4 * i + 3]);
}

namespace {

//===----------------------------------------------------------------------===//
// Scratch memory, ISA and small helpers.
//===----------------------------------------------------------------------===//

/// A growable, 64-byte aligned buffer kept between calls (per thread).
class Buffer {
public:
  Buffer() = default;
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  ~Buffer() { std::free(data); }

  void *get(size_t bytes) {
    if (bytes > capacity) {
      std::free(data);
      size_t want = std::max(bytes, capacity + capacity / 2);
      want = (want + 63) & ~size_t(63);
      data = std::aligned_alloc(64, want);
      if (!data) {
        // No exceptions and no way to report through the C ABI: a partial
        // result would be silently wrong, so stop here.
        std::fputs("parsimony spx kernels: out of memory\n", stderr);
        std::abort();
      }
      capacity = want;
    }
    return data;
  }

private:
  void *data = nullptr;
  size_t capacity = 0;
};

/// Scratch owned by an entry point for the duration of one call.
enum CallSlot {
  CallHidden, // [T, F] hidden activations
  CallGate,   // [T, F] gate pre-activations / second hidden buffer
  CallUnion,  // union index lists
  CallUnionN, // union sizes
  CallBits,   // neuron bitmaps
  CallMisc,   // small per-call tables
  NumCallSlots
};
/// Scratch of one task body (any thread, including the caller's).
enum TaskSlot {
  TaskKeys,
  TaskTmp,
  TaskA,
  TaskRows,
  TaskDequant,
  TaskOut,
  TaskOut2,
  NumTaskSlots
};

thread_local Buffer CallBuffers[NumCallSlots];
thread_local Buffer TaskBuffers[NumTaskSlots];

template <typename T> T *callScratch(CallSlot slot, int64_t n) {
  return static_cast<T *>(
      CallBuffers[slot].get(sizeof(T) * size_t(std::max<int64_t>(n, 1))));
}
template <typename T> T *taskScratch(TaskSlot slot, int64_t n) {
  return static_cast<T *>(
      TaskBuffers[slot].get(sizeof(T) * size_t(std::max<int64_t>(n, 1))));
}

const SpxSimd &simd() {
  switch (parsimony_get_isa()) {
  case PARSIMONY_ISA_AVX512:
    return getSpxSimdAvx512();
  case PARSIMONY_ISA_AVX2:
    return getSpxSimdAvx2();
  default:
    return getSpxSimdScalar();
  }
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int numThreads() { return ThreadPool::get().getNumThreads(); }

/// Runs body(i) for i in [0, n), in parallel when `parallel`.
template <typename Fn> void forEach(int64_t n, bool parallel, Fn &&body) {
  if (n <= 0)
    return;
  if (!parallel || n == 1 || numThreads() == 1) {
    for (int64_t i = 0; i < n; ++i)
      body(i);
    return;
  }
  ThreadPool::get().parallelFor(
      n, numThreads(),
      [](void *ctx, int64_t task, int) { (*static_cast<Fn *>(ctx))(task); },
      &body);
}

inline int64_t loadIndex(const void *p, bool i64, int64_t i) {
  return i64 ? static_cast<const int64_t *>(p)[i]
             : int64_t(static_cast<const int32_t *>(p)[i]);
}
inline void storeIndex(void *p, bool i64, int64_t i, int64_t v) {
  if (i64)
    static_cast<int64_t *>(p)[i] = v;
  else
    static_cast<int32_t *>(p)[i] = int32_t(v);
}

//===----------------------------------------------------------------------===//
// Activations.
//===----------------------------------------------------------------------===//

enum ActivationCode {
  ActIdentity = 0,
  ActRelu = 1,
  ActGelu = 2,
  ActGeluTanh = 3,
  ActSilu = 4,
  ActSigmoid = 5,
  ActSwiglu = 6
};

inline float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

inline float activate(int code, float v) {
  switch (code) {
  case ActRelu:
    return v < 0.0f ? 0.0f : v; // NaN propagates
  case ActGelu:
    return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
  case ActGeluTanh:
    return 0.5f * v *
           (1.0f +
            std::tanh(0.79788456080286536f * (v + 0.044715f * v * v * v)));
  case ActSilu:
  case ActSwiglu: // silu(gate) * up is SwiGLU in a gated sparse_ffn
    return v * sigmoid(v);
  case ActSigmoid:
    return sigmoid(v);
  default:
    return v;
  }
}

/// v[i] = act(v[i] + bias[i]) (bias may be null).
void biasActivate(int code, const float *bias, float *v, int64_t n) {
  if (bias)
    for (int64_t i = 0; i < n; ++i)
      v[i] += bias[i];
  switch (code) {
  case ActIdentity:
    return;
  case ActRelu:
    for (int64_t i = 0; i < n; ++i)
      v[i] = v[i] < 0.0f ? 0.0f : v[i];
    return;
  default:
    for (int64_t i = 0; i < n; ++i)
      v[i] = activate(code, v[i]);
  }
}

//===----------------------------------------------------------------------===//
// Top-k selection.
//===----------------------------------------------------------------------===//

/// Key of +-0: both zeros compare equal, as floats do.
constexpr uint32_t ZeroKey = 0x80000000u;

/// Unsigned key with the order of the floats: NaN above +inf, -0 == +0.
inline uint32_t orderKey(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof(b));
  uint32_t mag = b & 0x7fffffffu;
  uint32_t key = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  key = mag == 0 ? ZeroKey : key;
  return mag > 0x7f800000u ? 0xffffffffu : key;
}

void computeKeys(const float *v, int64_t n, uint32_t *keys) {
  for (int64_t i = 0; i < n; ++i)
    keys[i] = orderKey(v[i]);
}

/// The cut of a top-k: keep keys above `key`, then the first `takeEqual`
/// entries equal to it in index order.
struct Cut {
  uint32_t key;
  int64_t takeEqual;
};

/// The cut at the r-th largest (1-based) of keys[0, m), all of which rank
/// below every key already counted above them; reorders the keys (in
/// place). The keys are bucketed by value into 256 equal ranges between
/// their minimum and maximum, and the selection repeats inside the bucket
/// of the r-th largest: two or three passes over a few hundred keys,
/// without the mispredicted branches of a partitioning select.
Cut selectLargest(uint32_t *keys, int64_t m, int64_t r) {
  for (;;) {
    uint32_t lo = ~uint32_t(0), hi = 0;
    for (int64_t i = 0; i < m; ++i) {
      lo = std::min(lo, keys[i]);
      hi = std::max(hi, keys[i]);
    }
    if (lo == hi)
      return {lo, r};
    // bucket = (key - lo) * 256 / (hi - lo + 1), by a 32.32 reciprocal.
    uint64_t scale = (uint64_t(256) << 32) / (uint64_t(hi - lo) + 1);
    auto bucket = [&](uint32_t key) {
      return uint32_t((uint64_t(key - lo) * scale) >> 32);
    };
    uint32_t hist[256] = {};
    for (int64_t i = 0; i < m; ++i)
      ++hist[bucket(keys[i])];
    uint32_t b = 255;
    for (; b > 0 && hist[b] < r; --b)
      r -= hist[b];
    int64_t w = 0;
    for (int64_t i = 0; i < m; ++i) {
      keys[w] = keys[i];
      w += bucket(keys[i]) == b;
    }
    m = w;
  }
}

/// Selection of the k-th largest of keys[0, n) plus `extraZeros` virtual
/// entries of key ZeroKey. Needs 0 < k < n + extraZeros; tmp holds n keys.
///
/// One histogram pass over the top 11 bits of the keys finds the bin of
/// the cut (sign, exponent and two mantissa bits: a bin spans at most 19%
/// of a value), then the cut is selected among that bin's keys alone.
/// Measured on 3072-wide ReLU rows with k = 128: 13.3 us per row with the
/// earlier four 8-bit radix passes, whose first digit (sign and seven
/// exponent bits) left about a third of the row as candidates, and whose
/// single counter for the row's zeros serialized on store forwarding.
Cut findCut(const uint32_t *keys, int64_t n, int64_t extraZeros, int64_t k,
            uint32_t *tmp) {
  if (extraZeros <= 0 && n >= 1024 && k * 8 <= n) {
    // A small k of a long row: a threshold from a strided sample, a little
    // below where the k-th largest should rank in it, leaves a few hundred
    // candidates in one vector pass; the cut is selected among them. It
    // is exact whenever at least k keys pass (else the histogram runs).
    constexpr int64_t Samples = 256;
    uint32_t sample[Samples];
    int64_t stride = n / Samples;
    for (int64_t j = 0; j < Samples; ++j)
      sample[j] = keys[j * stride];
    double expected = double(k) * Samples / double(n);
    int64_t r = std::min<int64_t>(
        Samples, int64_t(expected + 4.0 * std::sqrt(expected)) + 4);
    uint32_t threshold = selectLargest(sample, Samples, r).key;
    int64_t m = simd().keysAtLeast(keys, n, threshold, tmp);
    if (m >= k)
      return selectLargest(tmp, m, k);
  }
  constexpr int Shift = 21, Bins = 1 << (32 - Shift);
  // Two interleaved histograms: runs of equal keys (a ReLU's zeros) would
  // otherwise wait on one counter's store-to-load forwarding.
  uint32_t hist[2][Bins];
  std::memset(hist, 0, sizeof(hist));
  int64_t i = 0;
  for (; i + 2 <= n; i += 2) {
    ++hist[0][keys[i] >> Shift];
    ++hist[1][keys[i + 1] >> Shift];
  }
  if (i < n)
    ++hist[0][keys[i] >> Shift];
  uint32_t maxKey = 0;
  for (i = 0; i < n; ++i)
    maxKey = std::max(maxKey, keys[i]);
  if (extraZeros > 0) {
    hist[0][ZeroKey >> Shift] += uint32_t(extraZeros);
    maxKey = std::max(maxKey, ZeroKey);
  }
  int64_t remaining = k;
  uint32_t bin = maxKey >> Shift;
  for (;; --bin) {
    int64_t count = int64_t(hist[0][bin]) + hist[1][bin];
    if (count >= remaining || bin == 0)
      break;
    remaining -= count;
  }
  int64_t m = 0;
  for (i = 0; i < n; ++i)
    if ((keys[i] >> Shift) == bin)
      tmp[m++] = keys[i];
  if (extraZeros <= 0 || (ZeroKey >> Shift) != bin)
    return selectLargest(tmp, m, remaining);
  // The virtual zeros share the bin: split it at zero.
  uint32_t *zeros =
      std::partition(tmp, tmp + m, [](uint32_t key) { return key > ZeroKey; });
  uint32_t *below = std::partition(zeros, tmp + m,
                                   [](uint32_t key) { return key == ZeroKey; });
  int64_t above = zeros - tmp;
  int64_t equal = (below - zeros) + extraZeros;
  if (remaining <= above)
    return selectLargest(tmp, above, remaining);
  if (remaining <= above + equal)
    return {ZeroKey, remaining - above};
  return selectLargest(below, (tmp + m) - below, remaining - above - equal);
}

/// Zeroes all but the k largest of v[0, n) (ties to the lower index, NaN
/// largest) in place.
void topkMaskRow(float *v, int64_t n, int64_t k) {
  if (k >= n)
    return;
  if (k <= 0) {
    std::fill(v, v + n, 0.0f);
    return;
  }
  uint32_t *keys = taskScratch<uint32_t>(TaskKeys, n);
  uint32_t *tmp = taskScratch<uint32_t>(TaskTmp, n);
  computeKeys(v, n, keys);
  Cut cut = findCut(keys, n, 0, k, tmp);
  simd().applyCut(v, keys, n, cut.key, cut.takeEqual);
}

/// Writes the indices of the k largest of v[0, n) in ascending order to
/// out[0, min(k, n)).
int64_t topkIndices(const float *v, int64_t n, int64_t k, int64_t *out) {
  if (k >= n) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = i;
    return n;
  }
  if (k <= 0)
    return 0;
  uint32_t *keys = taskScratch<uint32_t>(TaskKeys, n);
  uint32_t *tmp = taskScratch<uint32_t>(TaskTmp, n);
  computeKeys(v, n, keys);
  Cut cut = findCut(keys, n, 0, k, tmp);
  // The candidates at or above the cut (in one vector pass), then the
  // equal ones beyond the first takeEqual dropped.
  int64_t m = simd().indicesAtLeast(keys, n, cut.key, tmp);
  int64_t w = 0, eq = 0;
  for (int64_t p = 0; p < m; ++p)
    if (keys[tmp[p]] > cut.key || eq++ < cut.takeEqual)
      out[w++] = tmp[p];
  return w;
}

//===----------------------------------------------------------------------===//
// Dense matmul on any weight format.
//===----------------------------------------------------------------------===//

/// Tokens that share one union of nonzero neurons (the rowsFma register
/// block height).
constexpr int64_t TokenBlock = 4;

/// Up to this many tokens a dense product on nk weights runs as dot
/// products (dotRows) instead of sgemm. Measured on the expert shapes (768
/// x 3072 and back, cold): equal to sgemm's streaming path for one token,
/// within 1.3x up to 8, slower beyond (sgemm's packed kernels win), so it is
/// kept to the shapes that sgemm streams (<= 8 rows).
constexpr int64_t SmallGemmTokens = 8;

/// Up to this many tokens a quantized kn product widens the int8/int4
/// weights in registers (qaxpy) instead of dequantizing blocks for sgemm.
constexpr int64_t QuantGemvTokens = 32;

/// Floats of dequantized weight one task holds at a time (fits L2).
constexpr int64_t DequantBlockFloats = 32 * 1024;

//===----------------------------------------------------------------------===//
// Weight-only quantized matmul (nk weights).
//===----------------------------------------------------------------------===//

const QuantSimd &quantSimd() {
  switch (parsimony_get_isa()) {
  case PARSIMONY_ISA_AVX512:
    return getQuantSimdAvx512();
  case PARSIMONY_ISA_AVX2:
    return getQuantSimdAvx2();
  default:
    return getQuantSimdScalar();
  }
}

/// Up to this many tokens a quantized nk product runs as register-
/// dequantizing dot products (every weight byte is widened once per 4-token
/// tile, re-read from L2); above it, tiles of rows are dequantized into
/// per-thread scratch for sgemm, whose arithmetic intensity then wins.
constexpr int64_t QuantDotTokens = 16;

/// Bytes of quantized rows one dot-product task covers (re-read from L2 by
/// every 4-token tile).
constexpr int64_t QuantChunkBytes = 96 * 1024;

/// Rows of N (each rowBytes long) per dot-product task: at least ~4 tasks
/// per thread so dynamic scheduling can balance a slowed core, multiples
/// of 4 rows (the kernels' row block), and small enough to stay in L2
/// across token tiles.
int64_t quantRowChunk(int64_t N, int64_t rowBytes) {
  int64_t byBytes = std::max<int64_t>(4, QuantChunkBytes / rowBytes);
  int64_t chunk = std::min(byBytes, ceilDiv(N, 4 * numThreads()));
  return std::max<int64_t>(4, (chunk + 3) & ~int64_t(3));
}

/// What runs on a block of a product's output right after its
/// accumulation: c = act(c + bias) + residual (each part optional).
struct OutputEpilogue {
  const float *bias = nullptr;
  int32_t activation = ActIdentity;
  const float *residual = nullptr;
  int64_t ldr = 0;

  bool empty() const { return !bias && !residual && activation == ActIdentity; }
  /// Applies it to tokens [0, T) x columns [j0, j0 + cols) of c.
  void apply(int64_t T, int64_t j0, int64_t cols, float *c, int64_t ldc) const {
    if (!empty())
      applyGemmEpilogue(T, cols, c + j0, ldc, bias ? bias + j0 : nullptr,
                        activation, residual ? residual + j0 : nullptr, ldr);
  }
};

/// c[t, 0:N] = epilogue(a[t, 0:K] * W) for t < T with W quantized and nk (c
/// is overwritten).
void quantMatmul(const float *a, int64_t lda, int64_t T, const WeightView &w,
                 float *c, int64_t ldc, const OutputEpilogue &epilogue = {}) {
  int64_t K = w.k, N = w.n;
  if (T <= QuantDotTokens) {
    const QuantSimd &vec = quantSimd();
    QuantRows rows(w);
    int64_t chunk = quantRowChunk(N, w.storedRowBytes());
    forEach(ceilDiv(N, chunk), T * K * N > (int64_t(1) << 16),
            [&](int64_t task) {
              int64_t r0 = task * chunk, m = std::min(chunk, N - r0);
              for (int64_t t0 = 0; t0 < T; t0 += TokenBlock)
                vec.dotRows(rows, r0, m, int(std::min(TokenBlock, T - t0)),
                            a + t0 * lda, lda, c + t0 * ldc + r0, ldc);
              epilogue.apply(T, r0, m, c, ldc);
            });
    return;
  }
  // Many tokens: compute-bound. Each task dequantizes a tile of rows (<= 128
  // KiB of f32, resident in L2) and runs sgemm on it inline.
  int64_t nb = std::max<int64_t>(
      16, (DequantBlockFloats / std::max<int64_t>(K, 1)) & ~int64_t(15));
  nb = std::min(nb, N);
  forEach(ceilDiv(N, nb), true, [&](int64_t task) {
    int64_t j0 = task * nb, j1 = std::min(N, j0 + nb), cols = j1 - j0;
    float *s = taskScratch<float>(TaskDequant, cols * K);
    for (int64_t j = j0; j < j1; ++j)
      w.storedRow(j, 0, K, s + (j - j0) * K);
    parsimony_sgemm_epilogue(
        T, cols, K, a, lda, s, K, /*transB=*/1,
        epilogue.bias ? epilogue.bias + j0 : nullptr, epilogue.activation,
        epilogue.residual ? epilogue.residual + j0 : nullptr, epilogue.ldr,
        c + j0, ldc);
  });
}

/// Whether the exact integer kernels (AVX-512 VNNI) run: the CPU has them
/// and the AVX-512 path is selected.
bool integerDotSupported() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool cpu = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") &&
           __builtin_cpu_supports("avx512bw");
  }();
  return cpu && parsimony_get_isa() == PARSIMONY_ISA_AVX512;
#else
  return false;
#endif
}

/// Largest K whose u8 x s8 sums, and their zero-point correction, stay
/// within int32: K * 255 * 128 * 2 < 2^31.
constexpr int64_t MaxIntegerDotK = 32768;

/// Whether integerMatmul runs on `w`: int8 nk rows with one scale per row.
bool integerMatmulApplies(const WeightView &w) {
  return integerDotSupported() && w.nk && w.bits == 8 &&
         (w.group == 0 || w.group == w.k) && w.k > 0 && w.k <= MaxIntegerDotK;
}

/// c[t, 0:N] = epilogue(float(sum_k (x[t, k] - zeroPoint) * q[n, k]) *
/// scale[n]) for unsigned 8-bit activations x (row stride K) and an int8
/// nk weight: the integer sums are exact. Parallel over chunks of rows, as
/// quantMatmul's dot-product path; every 4-token tile re-reads the chunk
/// from L2.
void integerMatmul(const uint8_t *x, int64_t T, int32_t zeroPoint,
                   const WeightView &w, float *c, int64_t ldc,
                   const OutputEpilogue &epilogue) {
  int64_t K = w.k, N = w.n;
  const IntegerDotSimd &dot = getIntegerDotVnni();
  IntegerRows rows{static_cast<const int8_t *>(w.w), w.storedRowBytes(), K};
  QuantRows quant(w);
  int64_t chunk = quantRowChunk(N, rows.rowBytes);
  forEach(ceilDiv(N, chunk), T * K * N > (int64_t(1) << 16), [&](int64_t task) {
    int64_t r0 = task * chunk, m = std::min(chunk, N - r0);
    int32_t *acc = taskScratch<int32_t>(TaskOut, TokenBlock * m);
    int32_t *sums = zeroPoint ? taskScratch<int32_t>(TaskOut2, m) : nullptr;
    float *scales = taskScratch<float>(TaskDequant, m);
    for (int64_t i = 0; i < m; ++i)
      scales[i] = quant.scale(r0 + i, 0);
    for (int64_t t0 = 0; t0 < T; t0 += TokenBlock) {
      int tb = int(std::min(TokenBlock, T - t0));
      // The row sums (for the zero point) come with the first tile.
      dot.dotRows(rows, r0, m, tb, x + t0 * K, K, acc, m,
                  t0 == 0 ? sums : nullptr);
      for (int t = 0; t < tb; ++t) {
        float *ct = c + (t0 + t) * ldc + r0;
        const int32_t *at = acc + t * m;
        if (sums)
          for (int64_t i = 0; i < m; ++i)
            ct[i] = float(at[i] - zeroPoint * sums[i]) * scales[i];
        else
          for (int64_t i = 0; i < m; ++i)
            ct[i] = float(at[i]) * scales[i];
      }
    }
    epilogue.apply(T, r0, m, c, ldc);
  });
}

/// Whether a quantized predictor's scores run on integer dot products
/// (AVX-512 VNNI): int8 nk rows with one scale per row, or packed int4 nk
/// rows with f32 or f16 scales per row or in groups of 32 or of a multiple
/// of 64.
bool integerPredictorApplies(const WeightView &w) {
  if (integerMatmulApplies(w))
    return true;
  return integerDotSupported() && w.nk && w.bits == 4 && w.packed && w.scales &&
         w.k % 32 == 0 && w.k <= MaxIntegerDotK &&
         (w.group == 0 || w.group == w.k || w.group == 32 || w.group % 64 == 0);
}

/// scores[t, 0:N] = x[t] * W + bias for a quantized nk predictor weight
/// (bias may be null), with each token's activations rounded to 8 bits (a
/// power-of-two scale per token, int8ActivationScale) and exact integer dot
/// products. A predictor
/// only ranks neurons; the rounding moves a score by about 0.3% of the
/// token's largest activation times the row's norm. Returns false, having
/// done nothing, where integerPredictorApplies does not hold or x is not
/// finite (the f32 kernels then run).
bool integerPredictorScores(const float *x, int64_t T, const WeightView &w,
                            const float *bias, float *scores) {
  if (!integerPredictorApplies(w))
    return false;
  int64_t K = w.k, N = w.n;
  float *scale = callScratch<float>(CallBits, T);
  for (int64_t t = 0; t < T; ++t) {
    scale[t] = int8ActivationScale(x + t * K, K);
    if (scale[t] == 0.0f)
      return false;
  }
  if (w.bits == 8) {
    // u8 activations (x / scale rounded) + 128 with zero point 128.
    uint8_t *xu = callScratch<uint8_t>(CallMisc, T * K);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < K; ++c)
        xu[t * K + c] =
            uint8_t(int32_t(std::nearbyint(x[t * K + c] / scale[t])) + 128);
    integerMatmul(xu, T, 128, w, scores, N, OutputEpilogue{});
    for (int64_t t = 0; t < T; ++t)
      for (int64_t n = 0; n < N; ++n)
        scores[t * N + n] =
            scores[t * N + n] * scale[t] + (bias ? bias[n] : 0.0f);
  } else {
    int64_t Kp = ceilDiv(K, 64) * 64;
    int8_t *xq = callScratch<int8_t>(CallMisc, T * Kp);
    int32_t *corr = callScratch<int32_t>(CallUnion, T * Kp / 4);
    for (int64_t t = 0; t < T; ++t)
      prepareInt4Activations(x + t * K, K, scale[t], xq + t * Kp,
                             corr + t * (Kp / 4));
    const IntegerDotSimd &dot = getIntegerDotVnni();
    QuantRows rows(w);
    int64_t chunk = quantRowChunk(N, rows.rowBytes);
    forEach(
        ceilDiv(N, chunk), T * K * N > (int64_t(1) << 16), [&](int64_t task) {
          int64_t r0 = task * chunk, m = std::min(chunk, N - r0);
          // With several token blocks, f16 scales are widened once for all
          // of them rather than in every block: the task's rows then run as
          // rows [0, m) of a view with f32 scales.
          const QuantRows *taskRows = &rows;
          int64_t first = r0;
          QuantRows widened = rows;
          if (rows.scalesF16 && T > TokenBlock) {
            int64_t n = m * rows.groups();
            float *wide = taskScratch<float>(TaskDequant, n);
            dot.widenHalves(static_cast<const uint16_t *>(rows.scales) +
                                r0 * rows.groups(),
                            n, wide);
            widened.q += r0 * rows.rowBytes;
            widened.scales = wide;
            widened.scalesF16 = false;
            taskRows = &widened;
            first = 0;
          }
          for (int64_t t0 = 0; t0 < T; t0 += TokenBlock) {
            int tb = int(std::min(TokenBlock, T - t0));
            dot.dotInt4Rows(*taskRows, first, m, tb, xq + t0 * Kp,
                            corr + t0 * (Kp / 4), Kp, scores + t0 * N + r0, N);
          }
          // Scale and bias while the task's scores are in its cache.
          for (int64_t t = 0; t < T; ++t) {
            float *st = scores + t * N + r0;
            for (int64_t n = 0; n < m; ++n)
              st[n] = st[n] * scale[t] + (bias ? bias[r0 + n] : 0.0f);
          }
        });
  }
  return true;
}

bool denseMatmulImpl(const float *a, int64_t lda, int64_t T,
                     const WeightView &w, float *c, int64_t ldc,
                     const float *bias, int32_t activation);

/// c[t, 0:N] = act(a[t, 0:K] * W + bias) for t < T (c is overwritten; bias
/// may be null). On f32 weights that sgemm multiplies, bias and activation
/// run in sgemm's epilogue while the output block is still in cache.
void denseMatmul(const float *a, int64_t lda, int64_t T, const WeightView &w,
                 float *c, int64_t ldc, const float *bias = nullptr,
                 int32_t activation = ActIdentity) {
  if (T <= 0 || w.n <= 0)
    return;
  bool fused = denseMatmulImpl(a, lda, T, w, c, ldc, bias, activation);
  if (fused || (!bias && activation == ActIdentity))
    return;
  int64_t N = w.n;
  forEach(T, T * N > (int64_t(1) << 15),
          [&](int64_t t) { biasActivate(activation, bias, c + t * ldc, N); });
}

/// The product of denseMatmul; returns whether it also applied bias and
/// activation.
bool denseMatmulImpl(const float *a, int64_t lda, int64_t T,
                     const WeightView &w, float *c, int64_t ldc,
                     const float *bias, int32_t activation) {
  int64_t K = w.k, N = w.n;
  if (w.nk && !w.isF32() && K > 0) {
    // Quantized neuron-major rows: the register-dequantizing kernel.
    quantMatmul(a, lda, T, w, c, ldc, OutputEpilogue{bias, activation});
    return true;
  }
  if (w.nk && K > 0 && (T <= SmallGemmTokens || N <= 8)) {
    // Few tokens on neuron-major rows: a GEMV of dot products, parallel over
    // neuron chunks, each row streamed once per 4-token tile (dequantized
    // rows go through scratch). This is also the decode path of expert_ffn.
    const SpxSimd &vec = simd();
    // With several 4-token tiles the chunk's rows (<= 256 KiB) are re-read
    // from L2.
    int64_t chunk = T <= TokenBlock
                        ? std::max<int64_t>(16, ceilDiv(N, 4 * numThreads()))
                        : std::max<int64_t>(8, 65536 / K);
    if (!w.isF32())
      chunk = std::min(chunk, std::max<int64_t>(1, DequantBlockFloats / K));
    forEach(ceilDiv(N, chunk), T * K * N > (int64_t(1) << 16),
            [&](int64_t task) {
              int64_t j0 = task * chunk, j1 = std::min(N, j0 + chunk);
              int64_t cnt = j1 - j0;
              const float **rows = taskScratch<const float *>(TaskRows, cnt);
              if (w.isF32()) {
                for (int64_t j = 0; j < cnt; ++j)
                  rows[j] = w.f32() + (j0 + j) * K;
              } else {
                float *deq = taskScratch<float>(TaskDequant, cnt * K);
                for (int64_t j = 0; j < cnt; ++j) {
                  w.storedRow(j0 + j, 0, K, deq + j * K);
                  rows[j] = deq + j * K;
                }
              }
              for (int64_t t0 = 0; t0 < T; t0 += TokenBlock)
                vec.dotRows(K, int(std::min(TokenBlock, T - t0)), a + t0 * lda,
                            lda, cnt, rows, c + t0 * ldc + j0, ldc);
            });
    return false;
  }
  if (!w.nk && !w.isF32() && !w.packed && K > 0 && T <= QuantGemvTokens) {
    // Quantized GEMV on kn weights: int8/int4 rows are widened in registers
    // (qaxpy), never dequantized to memory; the scales of a group multiply
    // the group's partial sums once. Tasks over column chunks.
    const SpxSimd &vec = simd();
    int64_t chunk = std::min<int64_t>(
        512, std::max<int64_t>(64, (ceilDiv(N, 2 * numThreads()) + 63) & ~63));
    int64_t groupRows = w.group > 0 ? w.group : K;
    forEach(ceilDiv(N, chunk), T * K * N > (int64_t(1) << 16),
            [&](int64_t task) {
              int64_t j0 = task * chunk, j1 = std::min(N, j0 + chunk);
              int64_t cnt = j1 - j0;
              float *part = taskScratch<float>(TaskOut, T * cnt);
              float *scale = taskScratch<float>(TaskOut2, cnt);
              const int8_t *q = static_cast<const int8_t *>(w.w);
              for (int64_t t = 0; t < T; ++t)
                std::fill(c + t * ldc + j0, c + t * ldc + j1, 0.0f);
              for (int64_t g0 = 0; g0 < K; g0 += groupRows) {
                std::fill(part, part + T * cnt, 0.0f);
                for (int64_t t0 = 0; t0 < T; t0 += TokenBlock)
                  vec.qaxpy(cnt, int(std::min(TokenBlock, T - t0)), groupRows,
                            a + t0 * lda + g0, lda, q + g0 * N + j0, N,
                            w.bits == 4, part + t0 * cnt, cnt);
                int64_t base = w.group > 0 ? (g0 / w.group) * N : 0;
                for (int64_t j = 0; j < cnt; ++j)
                  scale[j] =
                      w.scales ? loadScale(w.scales, w.scalesF16, base + j0 + j)
                               : 1.0f;
                for (int64_t t = 0; t < T; ++t)
                  for (int64_t j = 0; j < cnt; ++j)
                    c[t * ldc + j0 + j] += part[t * cnt + j] * scale[j];
              }
            });
    return false;
  }
  if (w.isF32() || K == 0) {
    parsimony_sgemm_epilogue(T, N, K, a, lda, w.f32(), w.nk ? K : N,
                             w.nk ? 1 : 0, bias, activation, nullptr, 0, c,
                             ldc);
    return true;
  }
  // Quantized: tasks over output column blocks; each dequantizes its block
  // into thread-local scratch and runs sgemm on it (inline in the task).
  int64_t nb;
  if (w.nk)
    nb = std::max<int64_t>(16, (DequantBlockFloats / std::max<int64_t>(K, 1)) &
                                   ~int64_t(15));
  else
    nb = 256;
  nb = std::min(nb, N);
  int64_t tasks = ceilDiv(N, nb);
  forEach(tasks, T * K * N > (int64_t(1) << 16), [&](int64_t task) {
    int64_t j0 = task * nb, j1 = std::min(N, j0 + nb), cols = j1 - j0;
    if (w.nk) {
      float *s = taskScratch<float>(TaskDequant, cols * K);
      for (int64_t j = j0; j < j1; ++j)
        w.storedRow(j, 0, K, s + (j - j0) * K);
      parsimony_sgemm(T, cols, K, 1.0f, a, lda, 0, s, K, 1, 0.0f, c + j0, ldc);
      return;
    }
    int64_t kb = std::max<int64_t>(1, DequantBlockFloats / cols);
    float *s = taskScratch<float>(TaskDequant, kb * cols);
    for (int64_t i0 = 0; i0 < K; i0 += kb) {
      int64_t rows = std::min(kb, K - i0);
      for (int64_t i = 0; i < rows; ++i)
        w.storedRow(i0 + i, j0, j1, s + i * cols);
      parsimony_sgemm(T, cols, rows, 1.0f, a + i0, lda, 0, s, cols, 0,
                      i0 == 0 ? 0.0f : 1.0f, c + j0, ldc);
    }
  });
  return false;
}

/// The weights of output feature j (K of them) as one contiguous row: in
/// place when the weight is stored so, else decoded into `tmp`.
const float *outputColOf(const WeightView &w, int64_t j, int64_t K,
                         float *tmp) {
  if (const float *p = w.outputColPtr(j))
    return p;
  w.outputCol(j, 0, K, tmp);
  return tmp;
}

/// The weights of input feature i (N of them) as one contiguous row: in
/// place when the weight is stored so, else decoded into `tmp`.
const float *inputRowOf(const WeightView &w, int64_t i, int64_t N, float *tmp) {
  if (const float *p = w.inputRowPtr(i))
    return p;
  w.inputRow(i, 0, N, tmp);
  return tmp;
}

/// Moves the columns of h[0:M, 0:cnt] (row stride ldh) that are nonzero
/// for some token (NaN counts) to the front, in order, and writes their
/// original positions to live; returns their number. A column of zeros
/// adds nothing to the down-projection, so its weight row need not be read:
/// after a ReLU that is about half of them.
int64_t compactLiveColumns(float *h, int64_t M, int64_t cnt, int64_t ldh,
                           int64_t *live) {
  int64_t n = 0;
  for (int64_t p = 0; p < cnt; ++p) {
    bool nonzero = false;
    for (int64_t m = 0; m < M; ++m)
      nonzero |= h[m * ldh + p] != 0.0f;
    if (!nonzero)
      continue;
    for (int64_t m = 0; m < M; ++m)
      h[m * ldh + n] = h[m * ldh + p];
    live[n++] = p;
  }
  return n;
}

/// y[t, 0:N] = bias + residual[t] + sum over tasks of partial[task, t,
/// 0:N] for t < T (bias and residual may be null): the reduction of
/// per-task partial sums.
void sumPartials(float *y, int64_t T, int64_t N, const float *partial,
                 int64_t tasks, const float *bias,
                 const float *residual = nullptr) {
  for (int64_t t = 0; t < T; ++t) {
    float *yt = y + t * N;
    const float *rt = residual ? residual + t * N : nullptr;
    for (int64_t d = 0; d < N; ++d)
      yt[d] = (bias ? bias[d] : 0.0f) + (rt ? rt[d] : 0.0f);
    for (int64_t task = 0; task < tasks; ++task) {
      const float *pt = partial + (task * T + t) * N;
      for (int64_t d = 0; d < N; ++d)
        yt[d] += pt[d];
    }
  }
}

void addBias(float *y, int64_t ldy, int64_t T, int64_t N, const float *bias) {
  if (!bias)
    return;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < N; ++j)
      y[t * ldy + j] += bias[j];
}

/// y[t, 0:N] += residual[t, 0:N] for t < T (both with row stride ld), with
/// the active ISA's epilogue.
void addResidual(float *y, int64_t T, int64_t N, const float *residual,
                 int64_t ld) {
  forEach(T, T * N > (int64_t(1) << 15), [&](int64_t t) {
    applyGemmEpilogue(1, N, y + t * ld, ld, nullptr, ActIdentity,
                      residual + t * ld, ld);
  });
}

//===----------------------------------------------------------------------===//
// Activation-sparse projection.
//===----------------------------------------------------------------------===//

/// Sparse work (token x union-row multiply-adds) above which the dense
/// sgemm is faster, as a fraction of the dense work T x K (for full token
/// blocks: the union density). Measured on the FFN down-projection (K =
/// 3072 -> N = 768, f32 kn, weights cold, 2 threads) with
/// `parsimony-bench-spx --crossover` (docs/runtime-kernels.md): the sparse
/// and dense times cross at a union density of about 0.8 for T = 1, 0.7 for
/// T = 4 (the dense product is then a bandwidth-bound GEMV that reads every
/// row), 0.5 for T = 16 and 0.3 for T = 128, where sgemm runs near peak while
/// every 4-token block re-reads its union rows.
constexpr double CrossoverGemv = 0.7;  // T <= 4
constexpr double CrossoverSmall = 0.5; // T <= 16
constexpr double CrossoverGemm = 0.3;  // larger T

/// The crossover for T tokens. PARSIMONY_SPX_CROSSOVER overrides it (for
/// tuning and benchmarks: 0 forces the dense path, 1e9 the sparse one); it is
/// read on every call so that a benchmark can switch it.
double crossoverFor(int64_t T) {
  if (const char *env = std::getenv("PARSIMONY_SPX_CROSSOVER"))
    return std::atof(env);
  return T <= TokenBlock ? CrossoverGemv
         : T <= 16       ? CrossoverSmall
                         : CrossoverGemm;
}

/// Rows of a quantized or nk weight dequantized per rowsFma call.
constexpr int64_t DequantRowGroup = 32;

/// y[t] = h[t] * W (+ bias) (+ residual[t], row stride ldy) for t < T,
/// reading only the rows of W (logical [K, N]) whose entry of h is nonzero
/// in some token of the block. The sparse path accumulates onto bias +
/// residual.
///
/// A block's union is split into the rows that two or more of its tokens
/// use, multiplied into all of them at once (one load per row serves every
/// token), and the rows only one token uses, multiplied into that token
/// alone: top-k supports of different tokens overlap little (4 tokens'
/// top-128 of 3072 share ~30 of ~490 rows), so the single-token rows would
/// otherwise cost four multiply-adds, three of them by zero.
void sparseProject(const float *h, int64_t ldh, int64_t T, const WeightView &w,
                   const float *bias, float *y, int64_t ldy,
                   const float *residual = nullptr) {
  int64_t K = w.k, N = w.n;
  if (T <= 0 || N <= 0)
    return;
  const SpxSimd &vec = simd();
  int64_t blocks = ceilDiv(T, TokenBlock);
  int64_t words = ceilDiv(K, 64);
  // Per block: the shared rows (ascending), then each token's own rows;
  // counts[b] = {shared, own rows of token 0, ..., of token TokenBlock - 1}.
  constexpr int64_t CountsPerBlock = TokenBlock + 1;
  int32_t *unions = callScratch<int32_t>(CallUnion, blocks * K);
  int64_t *counts = callScratch<int64_t>(CallUnionN, blocks * CountsPerBlock);
  uint64_t *bits = callScratch<uint64_t>(CallBits, words);
  int32_t *own = callScratch<int32_t>(CallMisc, TokenBlock * K);

  int64_t sparseWork = 0;
  for (int64_t b = 0; b < blocks; ++b) {
    int64_t t0 = b * TokenBlock, tb = std::min(TokenBlock, T - t0);
    std::fill(bits, bits + words, 0);
    for (int64_t t = 0; t < tb; ++t)
      vec.nonzeroBits(h + (t0 + t) * ldh, K, bits);
    int32_t *u = unions + b * K;
    int64_t *cnt = counts + b * CountsPerBlock;
    std::fill(cnt, cnt + CountsPerBlock, 0);
    for (int64_t q = 0; q < words; ++q)
      for (uint64_t word = bits[q]; word; word &= word - 1) {
        int32_t i = int32_t(q * 64 + __builtin_ctzll(word));
        // A single token's block has no own rows: all are shared.
        int64_t users = 0, last = 0;
        if (tb > 1)
          for (int64_t t = 0; t < tb; ++t)
            if (h[(t0 + t) * ldh + i] != 0.0f) {
              ++users;
              last = t;
            }
        if (users != 1)
          u[cnt[0]++] = i;
        else
          own[last * K + cnt[1 + last]++] = i;
      }
    int32_t *dst = u + cnt[0];
    for (int64_t t = 0; t < tb; ++t)
      dst = std::copy(own + t * K, own + t * K + cnt[1 + t], dst);
    sparseWork += tb * cnt[0] + (dst - (u + cnt[0]));
  }

  if (double(sparseWork) > crossoverFor(T) * double(T) * double(K)) {
    denseMatmul(h, ldh, T, w, y, ldy, bias);
    if (residual)
      addResidual(y, T, N, residual, ldy);
    return;
  }

  // Column ranges: enough tasks to occupy every thread when there are few
  // token blocks, none narrower than one 64-column register block.
  int threads = numThreads();
  int64_t colTasks = std::min(
      std::max<int64_t>(1, ceilDiv(2 * threads, blocks)), ceilDiv(N, 64));
  int64_t colChunk = (ceilDiv(N, colTasks) + 15) & ~int64_t(15);
  colTasks = ceilDiv(N, colChunk);
  bool direct = w.isF32() && !w.nk;

  forEach(blocks * colTasks, sparseWork * N > (int64_t(1) << 15),
          [&](int64_t task) {
            int64_t b = task / colTasks, cc = task % colTasks;
            int64_t t0 = b * TokenBlock, tb = std::min(TokenBlock, T - t0);
            int64_t n0 = cc * colChunk, n1 = std::min(N, n0 + colChunk);
            int64_t cols = n1 - n0;
            float *yb = y + t0 * ldy + n0;
            for (int64_t t = 0; t < tb; ++t) {
              float *yt = yb + t * ldy;
              const float *rt =
                  residual ? residual + (t0 + t) * ldy + n0 : nullptr;
              if (bias && rt)
                for (int64_t c = 0; c < cols; ++c)
                  yt[c] = bias[n0 + c] + rt[c];
              else if (bias || rt)
                std::memcpy(yt, bias ? bias + n0 : rt, sizeof(float) * cols);
              else
                std::fill(yt, yt + cols, 0.0f);
            }
            const int64_t *cnt = counts + b * CountsPerBlock;
            int64_t total = cnt[0];
            for (int64_t t = 0; t < tb; ++t)
              total += cnt[1 + t];
            if (total == 0)
              return;
            const int32_t *u = unions + b * K;
            float *a = taskScratch<float>(TaskA, tb * total);
            const float **rows = taskScratch<const float *>(
                TaskRows, direct ? total : DequantRowGroup);
            float *deq = direct ? nullptr
                                : taskScratch<float>(TaskDequant,
                                                     DequantRowGroup * cols);
            // y[tokens tok0 .. tok0 + ntok) += a * rows u[0, m).
            auto accumulate = [&](const int32_t *idx, int64_t m, int64_t tok0,
                                  int64_t ntok, const float *coef) {
              float *yt = yb + tok0 * ldy;
              if (direct) {
                for (int64_t p = 0; p < m; ++p)
                  rows[p] = w.f32() + int64_t(idx[p]) * N + n0;
                vec.rowsFma(cols, int(ntok), m, coef, m, rows, yt, ldy);
                return;
              }
              for (int64_t p0 = 0; p0 < m; p0 += DequantRowGroup) {
                int64_t g = std::min(DequantRowGroup, m - p0);
                for (int64_t p = 0; p < g; ++p) {
                  w.inputRow(idx[p0 + p], n0, n1, deq + p * cols);
                  rows[p] = deq + p * cols;
                }
                vec.rowsFma(cols, int(ntok), g, coef + p0, m, rows, yt, ldy);
              }
            };
            // Shared rows into every token of the block.
            if (int64_t m = cnt[0]) {
              for (int64_t t = 0; t < tb; ++t) {
                const float *ht = h + (t0 + t) * ldh;
                for (int64_t p = 0; p < m; ++p)
                  a[t * m + p] = ht[u[p]];
              }
              accumulate(u, m, 0, tb, a);
            }
            // Each token's own rows into that token alone.
            const int32_t *mine = u + cnt[0];
            for (int64_t t = 0; t < tb; ++t) {
              int64_t m = cnt[1 + t];
              if (m == 0)
                continue;
              const float *ht = h + (t0 + t) * ldh;
              for (int64_t p = 0; p < m; ++p)
                a[p] = ht[mine[p]];
              accumulate(mine, m, t, 1, a);
              mine += m;
            }
          });
}

//===----------------------------------------------------------------------===//
// Sparsity profiling (only while parsimony_profile_enable is on).
//===----------------------------------------------------------------------===//

/// Nonzero entries of each of the T rows of v (row stride ld, n entries).
std::vector<int64_t> countNonzeros(const float *v, int64_t ld, int64_t T,
                                   int64_t n) {
  std::vector<int64_t> nonzeros(size_t(std::max<int64_t>(T, 0)), 0);
  for (int64_t t = 0; t < T; ++t) {
    int64_t c = 0;
    for (int64_t i = 0; i < n; ++i)
      c += v[t * ld + i] != 0.0f;
    nonzeros[t] = c;
  }
  return nonzeros;
}

/// Records a sparse_ffn call: the nonzeros of its hidden activation h
/// [T, F] as computed and, with a support, each token's recall against the
/// true top-k of the dense hidden activation: k = topk if set, else the
/// support's width S; the true set is the k largest dense activations
/// (ties to the lower index) that are nonzero, the predicted set the
/// token's own valid support entries; recall = |predicted & true| / |true|
/// (1 when the true set is empty).
void profileSparseFFN(const float *x, int64_t T, int64_t D, int64_t F,
                      const WeightView &up, const float *upBias,
                      const WeightView &gate, const float *h,
                      const void *support, bool supportI64, int64_t S,
                      int32_t activation, int64_t topk) {
  std::vector<int64_t> nonzeros = countNonzeros(h, F, T, F);
  profile::DensitySample sample;
  sample.kind = profile::Kind::SparseFFN;
  sample.width = F;
  sample.tokens = T;
  sample.nonzeros = nonzeros.data();
  sample.activation = activation;
  sample.topk = topk > 0 ? topk : 0;
  std::vector<double> recall;
  if (support) {
    // The dense hidden activation, as the exact kernel computes it.
    std::vector<float> dense(size_t(T * F)), g;
    denseMatmul(x, D, T, up, dense.data(), F);
    if (gate.present()) {
      g.resize(size_t(T * F));
      denseMatmul(x, D, T, gate, g.data(), F);
    }
    int64_t k = std::min(F, topk > 0 ? topk : std::max<int64_t>(S, 0));
    std::vector<int64_t> truth(size_t(std::max<int64_t>(k, 1)));
    std::vector<uint8_t> predicted(static_cast<size_t>(F));
    recall.resize(size_t(T));
    for (int64_t t = 0; t < T; ++t) {
      float *ht = dense.data() + t * F;
      if (gate.present()) {
        for (int64_t i = 0; i < F; ++i)
          ht[i] = activate(activation, g[t * F + i]) *
                  (ht[i] + (upBias ? upBias[i] : 0.0f));
      } else {
        biasActivate(activation, upBias, ht, F);
      }
      std::fill(predicted.begin(), predicted.end(), 0);
      for (int64_t j = 0; j < S; ++j) {
        int64_t idx = loadIndex(support, supportI64, t * S + j);
        if (idx >= 0 && idx < F)
          predicted[idx] = 1;
      }
      int64_t m = topkIndices(ht, F, k, truth.data());
      int64_t relevant = 0, hit = 0;
      for (int64_t j = 0; j < m; ++j) {
        if (ht[truth[j]] == 0.0f)
          continue;
        ++relevant;
        hit += predicted[truth[j]];
      }
      recall[t] = relevant ? double(hit) / double(relevant) : 1.0;
    }
    sample.recall = recall.data();
    sample.recallK = k;
  }
  profile::record(sample);
}

} // namespace

//===----------------------------------------------------------------------===//
// C ABI.
//===----------------------------------------------------------------------===//

#define SPX_WEIGHT(prefix, K, N)                                               \
  WeightView(prefix##_w, prefix##_scales, prefix##_layout, prefix##_bits,      \
             prefix##_group, prefix##_scales_f16, K, N)

void parsimony_topk_activation_f32(const float *in, float *out, int64_t outer,
                                   int64_t axis, int64_t inner, int64_t k,
                                   int32_t approx, float recall_target) {
  // approx: the radix select already costs about two passes over the row,
  // so the exact selection (recall 1 >= any target) is used for both modes.
  (void)approx;
  (void)recall_target;
  if (outer <= 0 || axis <= 0 || inner <= 0)
    return;
  int64_t slices = outer * inner;
  int64_t total = slices * axis;
  auto profileSlices = [&] {
    // Nonzeros of each [axis] slice of the output.
    std::vector<int64_t> nonzeros(size_t(slices), 0);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < axis; ++j)
        for (int64_t i = 0; i < inner; ++i)
          nonzeros[o * inner + i] += out[(o * axis + j) * inner + i] != 0.0f;
    profile::DensitySample sample;
    sample.kind = profile::Kind::TopK;
    sample.width = axis;
    sample.tokens = slices;
    sample.nonzeros = nonzeros.data();
    sample.topk = k;
    profile::record(sample);
  };
  if (k >= axis) {
    std::memcpy(out, in, sizeof(float) * size_t(total));
    if (profile::active())
      profileSlices();
    return;
  }
  int64_t perTask = std::max<int64_t>(1, (int64_t(1) << 14) / axis);
  forEach(ceilDiv(slices, perTask), total > (int64_t(1) << 15),
          [&](int64_t task) {
            int64_t s1 = std::min(slices, (task + 1) * perTask);
            for (int64_t s = task * perTask; s < s1; ++s) {
              int64_t o = s / inner, i = s % inner;
              const float *src = in + o * axis * inner + i;
              float *dst = out + o * axis * inner + i;
              if (inner == 1) {
                std::memcpy(dst, src, sizeof(float) * size_t(axis));
                topkMaskRow(dst, axis, k);
                continue;
              }
              float *row = taskScratch<float>(TaskOut, axis);
              for (int64_t j = 0; j < axis; ++j)
                row[j] = src[j * inner];
              topkMaskRow(row, axis, k);
              for (int64_t j = 0; j < axis; ++j)
                dst[j * inner] = row[j];
            }
          });
  if (profile::active())
    profileSlices();
}

void parsimony_sparse_matmul_f32(const float *in, int64_t T, int64_t K,
                                 int64_t N, PARSIMONY_WEIGHT_PARAMS(weight),
                                 float *out) {
  if (profile::active() && T > 0) {
    std::vector<int64_t> nonzeros = countNonzeros(in, K, T, K);
    profile::DensitySample sample;
    sample.kind = profile::Kind::SparseMatmul;
    sample.width = K;
    sample.tokens = T;
    sample.nonzeros = nonzeros.data();
    profile::record(sample);
  }
  sparseProject(in, K, T, SPX_WEIGHT(weight, K, N), nullptr, out, N);
}

void parsimony_quant_matmul_f32(const float *in, int64_t T, int64_t K,
                                int64_t N, PARSIMONY_WEIGHT_PARAMS(weight),
                                float *out) {
  denseMatmul(in, K, T, SPX_WEIGHT(weight, K, N), out, N);
}

void parsimony_quant_matmul_epilogue_f32(const float *in, int64_t T, int64_t K,
                                         int64_t N,
                                         PARSIMONY_WEIGHT_PARAMS(weight),
                                         const float *bias, int32_t activation,
                                         const float *residual, float *out) {
  WeightView w = SPX_WEIGHT(weight, K, N);
  if (T <= 0 || N <= 0)
    return;
  if (w.nk && !w.isF32() && K > 0) {
    quantMatmul(in, K, T, w, out, N,
                OutputEpilogue{bias, activation, residual, N});
    return;
  }
  // Other layouts: the product with bias and activation, then the residual.
  denseMatmul(in, K, T, w, out, N, bias, activation);
  if (residual)
    addResidual(out, T, N, residual, N);
}

void parsimony_quant_matmul_u8_f32(const uint8_t *in, int64_t T, int64_t K,
                                   int64_t N, PARSIMONY_WEIGHT_PARAMS(weight),
                                   int32_t in_signed, int32_t zero_point,
                                   const float *bias, int32_t activation,
                                   const float *residual, float *out) {
  WeightView w = SPX_WEIGHT(weight, K, N);
  if (T <= 0 || N <= 0)
    return;
  OutputEpilogue epilogue{bias, activation, residual, N};
  if (integerMatmulApplies(w)) {
    if (!in_signed) {
      integerMatmul(in, T, zero_point, w, out, N, epilogue);
      return;
    }
    // int8 activations: x - zp = (x + 128) - (zp + 128), and x + 128 is
    // the byte with its sign bit flipped.
    uint8_t *flipped = callScratch<uint8_t>(CallMisc, T * K);
    for (int64_t i = 0; i < T * K; ++i)
      flipped[i] = in[i] ^ 0x80;
    integerMatmul(flipped, T, zero_point + 128, w, out, N, epilogue);
    return;
  }
  // Without VNNI, or on other weight formats: the f32 kernels on x - zp
  // (each product exact; the sums rounded as f32).
  std::vector<float> x(size_t(T * K));
  for (int64_t i = 0; i < T * K; ++i)
    x[i] = float((in_signed ? int32_t(int8_t(in[i])) : int32_t(in[i])) -
                 zero_point);
  parsimony_quant_matmul_epilogue_f32(
      x.data(), T, K, N, weight_w, weight_scales, weight_layout, weight_bits,
      weight_group, weight_scales_f16, bias, activation, residual, out);
}

void parsimony_support_matmul_f32(const float *in, int64_t T, int64_t K,
                                  int64_t N, PARSIMONY_WEIGHT_PARAMS(weight),
                                  const void *support, int32_t support_i64,
                                  int64_t S, int32_t side, float *out) {
  if (T <= 0)
    return;
  WeightView w = SPX_WEIGHT(weight, K, N);
  const SpxSimd &vec = simd();
  bool i64 = support_i64 != 0;
  if (side == 0) {
    // out[t, j] = <in[t], column support[t, j]>; split the support over
    // tasks so that one token still uses every thread.
    if (S <= 0)
      return;
    int64_t chunk = std::min<int64_t>(S, 64);
    int64_t chunks = ceilDiv(S, chunk);
    forEach(T * chunks, T * S * K > (int64_t(1) << 15), [&](int64_t task) {
      int64_t t = task / chunks, j0 = (task % chunks) * chunk;
      int64_t j1 = std::min(S, j0 + chunk);
      const float **rows = taskScratch<const float *>(TaskRows, chunk);
      float *deq = taskScratch<float>(TaskDequant, chunk * K);
      float *dots = taskScratch<float>(TaskOut, chunk);
      int64_t m = 0;
      for (int64_t j = j0; j < j1; ++j) {
        int64_t idx = loadIndex(support, i64, t * S + j);
        if (idx < 0 || idx >= N)
          continue;
        rows[m] = outputColOf(w, idx, K, deq + m * K);
        ++m;
      }
      vec.dotRows(K, 1, in + t * K, K, m, rows, dots, m);
      m = 0;
      for (int64_t j = j0; j < j1; ++j) {
        int64_t idx = loadIndex(support, i64, t * S + j);
        out[t * S + j] = idx < 0 || idx >= N ? 0.0f : dots[m++];
      }
    });
    return;
  }
  // side 1: out[t] = sum_j in[t, j] * row support[t, j]; tasks over
  // (token, column range).
  int threads = numThreads();
  int64_t colTasks =
      T >= 2 * threads ? 1 : std::min(ceilDiv(N, 64), int64_t(2 * threads));
  int64_t colChunk =
      std::max<int64_t>(1, (ceilDiv(N, colTasks) + 15) & ~int64_t(15));
  colTasks = ceilDiv(N, colChunk);
  forEach(T * colTasks, T * S * N > (int64_t(1) << 15), [&](int64_t task) {
    int64_t t = task / colTasks, n0 = (task % colTasks) * colChunk;
    int64_t n1 = std::min(N, n0 + colChunk), cols = n1 - n0;
    float *yt = out + t * N + n0;
    std::fill(yt, yt + cols, 0.0f);
    const float **rows = taskScratch<const float *>(TaskRows, DequantRowGroup);
    float *a = taskScratch<float>(TaskA, DequantRowGroup);
    float *deq = taskScratch<float>(TaskDequant, DequantRowGroup * cols);
    int64_t m = 0;
    auto flush = [&] {
      vec.rowsFma(cols, 1, m, a, m, rows, yt, N);
      m = 0;
    };
    for (int64_t j = 0; j < S; ++j) {
      int64_t idx = loadIndex(support, i64, t * S + j);
      if (idx < 0 || idx >= K)
        continue;
      const float *p = w.inputRowPtr(idx);
      if (p) {
        p += n0;
      } else {
        w.inputRow(idx, n0, n1, deq + m * cols);
        p = deq + m * cols;
      }
      rows[m] = p;
      a[m++] = in[t * S + j];
      if (m == DequantRowGroup)
        flush();
    }
    if (m)
      flush();
  });
}

void parsimony_predict_support_f32(const float *x, int64_t T, int64_t K,
                                   int64_t N, PARSIMONY_WEIGHT_PARAMS(weight),
                                   const float *factor, int64_t rank,
                                   const float *bias, int64_t k, void *out,
                                   int32_t out_i64) {
  if (T <= 0 || k <= 0)
    return;
  bool i64 = out_i64 != 0;
  float *scores = callScratch<float>(CallHidden, T * N);
  if (factor) {
    // Low rank: (x * W[K, rank]) * factor[rank, N].
    float *mid = callScratch<float>(CallGate, T * rank);
    denseMatmul(x, K, T, SPX_WEIGHT(weight, K, rank), mid, rank);
    parsimony_sgemm(T, N, rank, 1.0f, mid, rank, 0, factor, N, 0, 0.0f, scores,
                    N);
    addBias(scores, N, T, N, bias);
  } else {
    WeightView w = SPX_WEIGHT(weight, K, N);
    if (!integerPredictorScores(x, T, w, bias, scores))
      denseMatmul(x, K, T, w, scores, N, bias);
  }
  forEach(T, T * N > (int64_t(1) << 15), [&](int64_t t) {
    int64_t *idx = taskScratch<int64_t>(TaskRows, std::min(k, N));
    int64_t m = topkIndices(scores + t * N, N, k, idx);
    for (int64_t j = 0; j < k; ++j)
      // k > N cannot be selected: pad with -1, which every consumer treats
      // as out of range.
      storeIndex(out, i64, t * k + j, j < m ? idx[j] : -1);
  });
}

void parsimony_sparse_ffn_f32(const float *x, int64_t T, int64_t D, int64_t F,
                              PARSIMONY_WEIGHT_PARAMS(up), const float *up_bias,
                              PARSIMONY_WEIGHT_PARAMS(gate),
                              PARSIMONY_WEIGHT_PARAMS(down),
                              const float *down_bias, const void *support,
                              int32_t support_i64, int64_t S,
                              int64_t support_block, int32_t activation,
                              int64_t topk, const float *residual, float *y) {
  if (T <= 0 || D <= 0)
    return;
  WeightView up = SPX_WEIGHT(up, D, F);
  WeightView gate = SPX_WEIGHT(gate, D, F);
  WeightView down = SPX_WEIGHT(down, F, D);
  bool gated = gate.present();
  bool doTopk = topk > 0 && topk < F;
  float *h = callScratch<float>(CallHidden, T * F);
  int threads = numThreads();

  if (!support) {
    // Exact: dense up (and gate) projection, fused bias + activation, top-k
    // by threshold, then the activation-sparse down projection.
    // Ungated: bias and activation in the up-projection's epilogue.
    if (gated)
      denseMatmul(x, D, T, up, h, F);
    else
      denseMatmul(x, D, T, up, h, F, up_bias, activation);
    float *g = gated ? callScratch<float>(CallGate, T * F) : nullptr;
    if (gated)
      denseMatmul(x, D, T, gate, g, F);
    int64_t perTask = std::max<int64_t>(1, ceilDiv(T, 4 * threads));
    forEach(ceilDiv(T, perTask), T * F > (int64_t(1) << 15), [&](int64_t task) {
      int64_t t1 = std::min(T, (task + 1) * perTask);
      for (int64_t t = task * perTask; t < t1; ++t) {
        float *ht = h + t * F;
        if (gated) {
          const float *gt = g + t * F;
          for (int64_t i = 0; i < F; ++i)
            ht[i] = activate(activation, gt[i]) *
                    (ht[i] + (up_bias ? up_bias[i] : 0.0f));
        }
        if (doTopk)
          topkMaskRow(ht, F, topk);
      }
    });
    if (profile::active())
      profileSparseFFN(x, T, D, F, up, up_bias, gate, h, nullptr, false, 0,
                       activation, topk);
    sparseProject(h, F, T, down, down_bias, y, D, residual);
    return;
  }

  // Predicted support: blocks of B tokens share the union of their supports
  // (valid, deduplicated, ascending).
  bool i64 = support_i64 != 0;
  int64_t B = std::max<int64_t>(1, support_block);
  int64_t blocks = ceilDiv(T, B);
  int64_t maxUnion = std::min(F, B * std::max<int64_t>(S, 0));
  int32_t *unions = callScratch<int32_t>(CallUnion, blocks * maxUnion);
  int64_t *unionN = callScratch<int64_t>(CallUnionN, blocks);
  int64_t words = ceilDiv(F, 64);
  uint64_t *bits = callScratch<uint64_t>(CallBits, words);
  int64_t totalUnion = 0;
  for (int64_t b = 0; b < blocks; ++b) {
    int64_t t0 = b * B, t1 = std::min(T, t0 + B);
    std::fill(bits, bits + words, 0);
    for (int64_t j = t0 * S; j < t1 * S; ++j) {
      int64_t idx = loadIndex(support, i64, j);
      if (idx >= 0 && idx < F)
        bits[idx / 64] |= uint64_t(1) << (idx % 64);
    }
    int32_t *u = unions + b * maxUnion;
    int64_t m = 0;
    for (int64_t q = 0; q < words; ++q)
      for (uint64_t word = bits[q]; word; word &= word - 1)
        u[m++] = int32_t(q * 64 + __builtin_ctzll(word));
    unionN[b] = m;
    totalUnion += m;
  }

  const SpxSimd &vec = simd();
  // (Profiling needs the hidden activation, which only the general path
  // materializes.)
  bool profiling = profile::active();
  // A top-k over a union of at most k neurons, with at least k virtual
  // zeros beside it, keeps exactly the union's values above zero (and NaN):
  // it needs no selection across tasks.
  bool topkKeepsPositive =
      doTopk && blocks == 1 && unionN[0] <= topk && F - unionN[0] >= topk;
  if (blocks == 1 && T <= TokenBlock && (!doTopk || topkKeepsPositive) &&
      !profiling) {
    // Decode: one union for all tokens and no top-k selection, so each
    // task can take its neurons through both projections (their up rows,
    // then their down rows into a private partial sum): one fork-join per
    // call instead of two, and the partial sums are reduced at the end.
    int64_t m = unionN[0];
    const int32_t *u = unions;
    int64_t tasks = std::min<int64_t>(ceilDiv(m, 16), 2 * threads);
    int64_t chunk = tasks > 0 ? ceilDiv(m, tasks) : 1;
    tasks = ceilDiv(m, chunk);
    float *partial = callScratch<float>(CallGate, tasks * T * D);
    forEach(tasks, m * D * T > (int64_t(1) << 15), [&](int64_t task) {
      int64_t p0 = task * chunk, cnt = std::min(m, p0 + chunk) - p0;
      const int32_t *un = u + p0;
      const float **rows = taskScratch<const float *>(TaskRows, 3 * cnt);
      float *deq = taskScratch<float>(TaskDequant, 3 * cnt * D);
      for (int64_t p = 0; p < cnt; ++p) {
        rows[p] = outputColOf(up, un[p], D, deq + p * D);
        if (gated)
          rows[cnt + p] = outputColOf(gate, un[p], D, deq + (cnt + p) * D);
      }
      float *uc = taskScratch<float>(TaskOut, T * cnt);
      float *gc = taskScratch<float>(TaskOut2, T * cnt);
      vec.dotRows(D, int(T), x, D, cnt, rows, uc, cnt);
      if (gated)
        vec.dotRows(D, int(T), x, D, cnt, rows + cnt, gc, cnt);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t p = 0; p < cnt; ++p) {
          float v = uc[t * cnt + p] + (up_bias ? up_bias[un[p]] : 0.0f);
          v = gated ? activate(activation, gc[t * cnt + p]) * v
                    : activate(activation, v);
          uc[t * cnt + p] = topkKeepsPositive && v <= 0.0f ? 0.0f : v;
        }
      int64_t *live = taskScratch<int64_t>(TaskKeys, cnt);
      int64_t nLive = compactLiveColumns(uc, T, cnt, cnt, live);
      for (int64_t q = 0; q < nLive; ++q)
        rows[2 * cnt + q] =
            inputRowOf(down, un[live[q]], D, deq + (2 * cnt + q) * D);
      float *py = partial + task * T * D;
      std::fill(py, py + T * D, 0.0f);
      vec.rowsFma(D, int(T), nLive, uc, cnt, rows + 2 * cnt, py, D);
    });
    sumPartials(y, T, D, partial, tasks, down_bias, residual);
    return;
  }

  std::memset(h, 0, sizeof(float) * size_t(T * F));
  // Tasks: (support block, range of its union); ranges shrink until every
  // thread has work, but never below 16 neurons.
  int64_t avgUnion = std::max<int64_t>(1, totalUnion / blocks);
  int64_t splits = std::max<int64_t>(1, ceilDiv(2 * threads, blocks));
  int64_t chunk = std::max<int64_t>(16, ceilDiv(avgUnion, splits));
  int64_t chunksPerBlock = ceilDiv(std::max<int64_t>(maxUnion, 1), chunk);
  forEach(blocks * chunksPerBlock, totalUnion * D * B > (int64_t(1) << 15),
          [&](int64_t task) {
            int64_t b = task / chunksPerBlock;
            int64_t p0 = (task % chunksPerBlock) * chunk;
            int64_t p1 = std::min(unionN[b], p0 + chunk);
            if (p0 >= p1)
              return;
            int64_t cnt = p1 - p0;
            const int32_t *u = unions + b * maxUnion + p0;
            const float **upRows =
                taskScratch<const float *>(TaskRows, 2 * cnt);
            const float **gateRows = upRows + cnt;
            float *deq = taskScratch<float>(TaskDequant, 2 * cnt * D);
            for (int64_t p = 0; p < cnt; ++p) {
              upRows[p] = outputColOf(up, u[p], D, deq + p * D);
              if (gated)
                gateRows[p] = outputColOf(gate, u[p], D, deq + (cnt + p) * D);
            }
            float *uc = taskScratch<float>(TaskOut, TokenBlock * cnt);
            float *gc = taskScratch<float>(TaskOut2, TokenBlock * cnt);
            int64_t t1 = std::min(T, (b + 1) * B);
            for (int64_t t0 = b * B; t0 < t1; t0 += TokenBlock) {
              int tb = int(std::min(TokenBlock, t1 - t0));
              vec.dotRows(D, tb, x + t0 * D, D, cnt, upRows, uc, cnt);
              if (gated)
                vec.dotRows(D, tb, x + t0 * D, D, cnt, gateRows, gc, cnt);
              for (int t = 0; t < tb; ++t) {
                float *ht = h + (t0 + t) * F;
                for (int64_t p = 0; p < cnt; ++p) {
                  float v = uc[t * cnt + p] + (up_bias ? up_bias[u[p]] : 0.0f);
                  ht[u[p]] = gated ? activate(activation, gc[t * cnt + p]) * v
                                   : activate(activation, v);
                }
              }
            }
          });

  if (doTopk) {
    // Top-k of the full hidden row, in which the F - |union| unsupported
    // neurons are zeros: select over the union plus that many virtual
    // zeros (a zero that makes the cut contributes nothing either way).
    forEach(T, T * maxUnion > (int64_t(1) << 14), [&](int64_t t) {
      int64_t b = t / B, m = unionN[b];
      if (m == 0)
        return;
      const int32_t *u = unions + b * maxUnion;
      float *ht = h + t * F;
      float *vals = taskScratch<float>(TaskOut, m);
      uint32_t *keys = taskScratch<uint32_t>(TaskKeys, m);
      uint32_t *tmp = taskScratch<uint32_t>(TaskTmp, m);
      for (int64_t p = 0; p < m; ++p)
        vals[p] = ht[u[p]];
      computeKeys(vals, m, keys);
      Cut cut = findCut(keys, m, F - m, topk, tmp);
      int64_t eq = 0;
      for (int64_t p = 0; p < m; ++p) {
        if (keys[p] > cut.key)
          continue;
        if (keys[p] == cut.key && cut.key != ZeroKey && eq < cut.takeEqual) {
          ++eq;
          continue;
        }
        ht[u[p]] = 0.0f;
      }
    });
  }
  if (profiling)
    profileSparseFFN(x, T, D, F, up, up_bias, gate, h, support, i64, S,
                     activation, topk);
  sparseProject(h, F, T, down, down_bias, y, D, residual);
}

void parsimony_route_f32(const float *x, int64_t T, int64_t D,
                         const float *router_w, const float *router_b,
                         int64_t E, int64_t k, int32_t normalize, float *gates,
                         void *experts, int32_t experts_i64) {
  if (T <= 0 || k <= 0)
    return;
  bool i64 = experts_i64 != 0;
  const float *logits = x;
  if (router_w) {
    float *l = callScratch<float>(CallHidden, T * E);
    parsimony_sgemm(T, E, D, 1.0f, x, D, 0, router_w, E, 0, 0.0f, l, E);
    addBias(l, E, T, E, router_b);
    logits = l;
  }
  int64_t kk = std::min(k, E);
  float *p = callScratch<float>(CallGate, E);
  uint32_t *keys = callScratch<uint32_t>(CallBits, E);
  int32_t *order = callScratch<int32_t>(CallUnion, E);
  for (int64_t t = 0; t < T; ++t) {
    const float *l = logits + t * E;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t e = 0; e < E; ++e)
      mx = std::max(mx, l[e]);
    float sum = 0.0f;
    for (int64_t e = 0; e < E; ++e) {
      p[e] = std::exp(l[e] - mx);
      sum += p[e];
    }
    for (int64_t e = 0; e < E; ++e) {
      p[e] /= sum;
      keys[e] = orderKey(p[e]);
      order[e] = int32_t(e);
    }
    // Descending probability (NaN first), ties to the lower expert index.
    std::partial_sort(order, order + kk, order + E, [&](int32_t a, int32_t b) {
      return keys[a] != keys[b] ? keys[a] > keys[b] : a < b;
    });
    float sel = 0.0f;
    for (int64_t j = 0; j < kk; ++j)
      sel += p[order[j]];
    for (int64_t j = 0; j < k; ++j) {
      // k > E: the surplus choices are empty (gate 0, expert -1).
      float g = j < kk ? p[order[j]] : 0.0f;
      gates[t * k + j] = normalize && j < kk ? g / sel : g;
      storeIndex(experts, i64, t * k + j, j < kk ? order[j] : -1);
    }
  }
}

void parsimony_dispatch_f32(const float *x, int64_t T, int64_t D,
                            const void *experts, int32_t experts_i64, int64_t k,
                            int64_t E, int32_t mode, int64_t capacity,
                            float *rows, int64_t R, int64_t *offsets,
                            int64_t *sizes, int64_t *slots) {
  if (E <= 0)
    return;
  bool i64 = experts_i64 != 0;
  bool dropless = mode == 0;
  int64_t C = std::max<int64_t>(capacity, 0);
  int64_t *fill = callScratch<int64_t>(CallMisc, E);
  std::fill(sizes, sizes + E, 0);
  if (dropless) {
    for (int64_t i = 0; i < T * k; ++i) {
      int64_t e = loadIndex(experts, i64, i);
      if (e >= 0 && e < E)
        ++sizes[e];
    }
    for (int64_t e = 0, off = 0; e < E; ++e) {
      offsets[e] = off;
      off += sizes[e];
    }
  } else {
    for (int64_t e = 0; e < E; ++e)
      offsets[e] = e * C;
  }
  // Assign rows in token order, then choice order.
  std::fill(fill, fill + E, 0);
  for (int64_t i = 0; i < T * k; ++i) {
    int64_t e = loadIndex(experts, i64, i);
    int64_t slot = -1;
    if (e >= 0 && e < E && (dropless || fill[e] < C)) {
      int64_t r = offsets[e] + fill[e];
      if (r < R) {
        slot = r;
        ++fill[e];
      }
    }
    slots[i] = slot;
  }
  // Sizes count the rows actually filled (capacity mode: at most C).
  for (int64_t e = 0; e < E; ++e)
    sizes[e] = fill[e];
  if (profile::active()) {
    std::vector<int64_t> routed(size_t(E), 0);
    profile::DispatchSample sample;
    for (int64_t t = 0; t < T; ++t) {
      int64_t valid = 0, kept = 0;
      for (int64_t j = 0; j < k; ++j) {
        int64_t e = loadIndex(experts, i64, t * k + j);
        if (e < 0 || e >= E)
          continue;
        ++routed[e];
        ++valid;
        kept += slots[t * k + j] >= 0;
      }
      sample.dropped += valid - kept;
      sample.droppedTokens += valid > 0 && kept == 0;
    }
    sample.tokens = T;
    sample.k = k;
    sample.experts = E;
    sample.mode = dropless ? 0 : 1;
    sample.capacity = dropless ? 0 : C;
    sample.routed = routed.data();
    sample.dispatched = sizes;
    profile::record(sample);
  }

  // Copy the rows (parallel over assignments when large) and zero the rows
  // that belong to no group.
  forEach(ceilDiv(T * k, 64), T * k * D > (int64_t(1) << 16),
          [&](int64_t task) {
            int64_t i1 = std::min(T * k, (task + 1) * 64);
            for (int64_t i = task * 64; i < i1; ++i)
              if (slots[i] >= 0)
                std::memcpy(rows + slots[i] * D, x + (i / k) * D,
                            sizeof(float) * size_t(D));
          });
  auto zeroRows = [&](int64_t r0, int64_t r1) {
    r0 = std::max<int64_t>(r0, 0);
    r1 = std::min(r1, R);
    if (r0 < r1)
      std::memset(rows + r0 * D, 0, sizeof(float) * size_t((r1 - r0) * D));
  };
  if (dropless) {
    zeroRows(offsets[E - 1] + sizes[E - 1], R);
  } else {
    for (int64_t e = 0; e < E; ++e)
      zeroRows(e * C + sizes[e], (e + 1) * C);
    zeroRows(E * C, R);
  }
}

namespace {
/// One expert's FFN for a decode-sized group (M <= TokenBlock rows, plain
/// activation): each task takes a range of neurons through both
/// projections (their fc1 rows, then their fc2 rows into a private partial
/// sum), so the expert costs one fork-join instead of two, and the partial
/// sums are reduced at the end. y[m, 0:D] is overwritten.
void expertDecode(const float *x, int64_t M, int64_t D, int64_t F,
                  const WeightView &fc1, const float *fc1Bias,
                  const WeightView &fc2, const float *fc2Bias,
                  int32_t activation, float *y) {
  const SpxSimd &vec = simd();
  int threads = numThreads();
  int64_t tasks = std::min<int64_t>(ceilDiv(F, 16), 2 * threads);
  int64_t chunk = ceilDiv(F, tasks);
  tasks = ceilDiv(F, chunk);
  float *partial = callScratch<float>(CallGate, tasks * M * D);
  forEach(tasks, F * D * M > (int64_t(1) << 15), [&](int64_t task) {
    int64_t j0 = task * chunk, cnt = std::min(F, j0 + chunk) - j0;
    const float **rowPtrs = taskScratch<const float *>(TaskRows, 2 * cnt);
    float *deq = taskScratch<float>(TaskDequant, 2 * cnt * D);
    for (int64_t p = 0; p < cnt; ++p)
      rowPtrs[p] = outputColOf(fc1, j0 + p, D, deq + p * D);
    float *h = taskScratch<float>(TaskOut, M * cnt);
    vec.dotRows(D, int(M), x, D, cnt, rowPtrs, h, cnt);
    for (int64_t m = 0; m < M; ++m)
      biasActivate(activation, fc1Bias ? fc1Bias + j0 : nullptr, h + m * cnt,
                   cnt);
    int64_t *live = taskScratch<int64_t>(TaskKeys, cnt);
    int64_t nLive = compactLiveColumns(h, M, cnt, cnt, live);
    for (int64_t q = 0; q < nLive; ++q)
      rowPtrs[cnt + q] = inputRowOf(fc2, j0 + live[q], D, deq + (cnt + q) * D);
    float *py = partial + task * M * D;
    std::fill(py, py + M * D, 0.0f);
    vec.rowsFma(D, int(M), nLive, h, cnt, rowPtrs + cnt, py, D);
  });
  sumPartials(y, M, D, partial, tasks, fc2Bias);
}
} // namespace

void parsimony_expert_ffn_f32(
    const float *rows, int64_t R, int64_t D, const int64_t *offsets,
    const int64_t *sizes, int64_t E, int64_t F, PARSIMONY_WEIGHT_PARAMS(fc1),
    const float *fc1_bias, PARSIMONY_WEIGHT_PARAMS(fc2), const float *fc2_bias,
    PARSIMONY_WEIGHT_PARAMS(fc3), const float *fc3_bias, int32_t activation,
    int32_t swiglu_fusion, float alpha, float beta, float swiglu_limit,
    float *out) {
  if (R <= 0 || D <= 0)
    return;
  bool swiglu = activation == ActSwiglu;
  bool fused = swiglu && (swiglu_fusion == 1 || swiglu_fusion == 2);
  int64_t F1 = fused ? 2 * F : F;
  WeightView fc1 = SPX_WEIGHT(fc1, D, F1);
  WeightView fc2 = SPX_WEIGHT(fc2, F, D);
  WeightView fc3 = SPX_WEIGHT(fc3, D, F);
  bool hasFc3 = fc3.present() && !fused;
  bool limited = !std::isnan(swiglu_limit);

  std::memset(out, 0, sizeof(float) * size_t(R * D));
  for (int64_t e = 0; e < E; ++e) {
    // Groups are clamped to the rows that exist.
    int64_t r0 = std::max<int64_t>(0, offsets[e]);
    int64_t r1 = std::min(R, offsets[e] + std::max<int64_t>(0, sizes[e]));
    int64_t M = r1 - r0;
    if (M <= 0)
      continue; // empty group: its weights are never read
    const float *xe = rows + r0 * D;
    // A plain activation (no SwiGLU, no fc3 gate) runs with the bias in
    // fc1's GEMM epilogue.
    bool plain = !swiglu && !hasFc3;
    if (plain && M <= TokenBlock) {
      expertDecode(xe, M, D, F, fc1.expert(e),
                   fc1_bias ? fc1_bias + e * F : nullptr, fc2.expert(e),
                   fc2_bias ? fc2_bias + e * D : nullptr, activation,
                   out + r0 * D);
      continue;
    }
    float *u1 = callScratch<float>(CallHidden, M * F1);
    denseMatmul(xe, D, M, fc1.expert(e), u1, F1,
                fc1_bias ? fc1_bias + e * F1 : nullptr,
                plain ? activation : int32_t(ActIdentity));
    float *u3 = nullptr;
    if (hasFc3) {
      u3 = callScratch<float>(CallGate, M * F);
      denseMatmul(xe, D, M, fc3.expert(e), u3, F,
                  fc3_bias ? fc3_bias + e * F : nullptr);
    }
    // h overwrites u1 in place: entry (m, i) only reads entries at or after
    // its own position of the same row.
    float *h = u1;
    if (!plain) {
      for (int64_t m = 0; m < M; ++m) {
        float *row = u1 + m * F1;
        float *hrow = h + m * F;
        for (int64_t i = 0; i < F; ++i) {
          float v;
          if (swiglu) {
            float gt, val;
            if (swiglu_fusion == 1) {
              gt = row[2 * i];
              val = row[2 * i + 1];
            } else if (swiglu_fusion == 2) {
              gt = row[i];
              val = row[F + i];
            } else {
              gt = row[i];
              val = u3 ? u3[m * F + i] : 1.0f;
            }
            if (limited) {
              gt = std::min(gt, swiglu_limit);
              val = std::min(std::max(val, -swiglu_limit), swiglu_limit);
            }
            v = gt * sigmoid(alpha * gt) * (val + beta);
          } else {
            v = activate(activation, row[i]);
            if (u3)
              v *= u3[m * F + i];
          }
          hrow[i] = v;
        }
      }
    }
    denseMatmul(h, F, M, fc2.expert(e), out + r0 * D, D,
                fc2_bias ? fc2_bias + e * D : nullptr);
  }
}

void parsimony_combine_f32(const float *expert_out, int64_t R, int64_t D,
                           const void *slots, int32_t slots_i64, int64_t T,
                           int64_t k, const float *gates, const float *residual,
                           float *out) {
  if (T <= 0 || D <= 0)
    return;
  bool i64 = slots_i64 != 0;
  forEach(ceilDiv(T, 16), T * k * D > (int64_t(1) << 16), [&](int64_t task) {
    int64_t t1 = std::min(T, (task + 1) * 16);
    for (int64_t t = task * 16; t < t1; ++t) {
      float *o = out + t * D;
      if (residual)
        std::memcpy(o, residual + t * D, sizeof(float) * size_t(D));
      else
        std::fill(o, o + D, 0.0f);
      for (int64_t j = 0; j < k; ++j) {
        int64_t s = loadIndex(slots, i64, t * k + j);
        if (s < 0 || s >= R)
          continue;
        float g = gates[t * k + j];
        const float *src = expert_out + s * D;
        for (int64_t c = 0; c < D; ++c)
          o[c] += g * src[c];
      }
    }
  });
}
