//===- SpxKernelsInternal.h - shared pieces of the spx kernels --*- C++ -*-===//
//
// Internal interface of the spx runtime kernels (SpxKernels.cpp) and their
// ISA-specific inner loops (SpxKernelsSimd.cpp):
//
//  * WeightView: one PARSIMONY_WEIGHT_PARAMS group (f32, int8 or int4 with
//    per-channel or grouped f32/f16 scales, kn or nk) with accessors that
//    dequantize one logical row or column into a float buffer.
//  * SpxSimd: a table of the few vector loops the sparse paths spend their
//    time in, picked at run time from the ISA the sgemm library uses.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_LIB_RUNTIME_SPXKERNELSINTERNAL_H
#define PARSIMONY_LIB_RUNTIME_SPXKERNELSINTERNAL_H

#include <cstdint>
#include <cstring>

namespace parsimony {
namespace runtime {
namespace spx {

/// IEEE half to float (exact; handles subnormals, infinities and NaN).
// static: the ISA-specific TUs (-mavx2, -mavx512f) include this header, and
// an inline function would leave the linker free to keep their copy.
static inline float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    // Subnormal half: normalise the mantissa.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while (!(mant & 0x400u));
    bits = sign | (uint32_t(112 - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

/// A weight that maps k input features to n output features, as passed in a
/// PARSIMONY_WEIGHT_PARAMS group. Logical element (i, j) is input feature i,
/// output feature j; it is stored at [i, j] (kn) or [j, i] (nk).
struct WeightView {
  const void *w = nullptr;
  const void *scales = nullptr;
  bool nk = false;
  int bits = 32;
  /// int4 stored two values per byte (PARSIMONY_INT4_PACKED).
  bool packed = false;
  int64_t group = 0;
  bool scalesF16 = false;
  int64_t k = 0, n = 0;

  WeightView() = default;
  WeightView(const void *w, const void *scales, int32_t layout, int32_t bits,
             int64_t group, int32_t scalesF16, int64_t k, int64_t n)
      : w(w), scales(scales), nk(layout == 1), bits(bits & 0xff),
        packed((bits & 0x100) != 0 && (bits & 0xff) == 4), group(group),
        scalesF16(scalesF16 != 0), k(k), n(n) {
    // A group that does not divide K (or is not positive) cannot index the
    // [K/group, N] scales; fall back to per-channel.
    if (this->group < 0 || (this->group > 0 && k % this->group != 0))
      this->group = 0;
  }

  bool present() const { return w != nullptr; }
  bool isF32() const { return bits == 32; }
  const float *f32() const { return static_cast<const float *>(w); }
  int64_t storedRows() const { return nk ? n : k; }
  int64_t storedCols() const { return nk ? k : n; }
  /// Bytes of one stored row of a quantized weight.
  int64_t storedRowBytes() const {
    return packed ? storedCols() / 2 : storedCols();
  }
  int64_t numScales() const { return group > 0 ? (k / group) * n : n; }

  /// The view of expert e of a stacked [E, ...] weight.
  WeightView expert(int64_t e) const {
    WeightView v = *this;
    int64_t bytes = isF32() ? 4 * k * n : packed ? k * n / 2 : k * n;
    v.w = static_cast<const char *>(w) + e * bytes;
    if (scales && !isF32())
      v.scales = static_cast<const char *>(scales) +
                 e * numScales() * (scalesF16 ? 2 : 4);
    return v;
  }

  /// Contiguous f32 storage of logical row i (input feature i), or null.
  const float *inputRowPtr(int64_t i) const {
    return isF32() && !nk ? f32() + i * n : nullptr;
  }
  /// Contiguous f32 storage of logical column j (output feature j), or null.
  const float *outputColPtr(int64_t j) const {
    return isF32() && nk ? f32() + j * k : nullptr;
  }

  /// dst[c - c0] = W_stored[r, c] for c in [c0, c1), dequantized.
  void storedRow(int64_t r, int64_t c0, int64_t c1, float *dst) const;
  /// dst[r - r0] = W_stored[r, c] for r in [r0, r1), dequantized.
  void storedCol(int64_t c, int64_t r0, int64_t r1, float *dst) const;

  /// Logical W[i, j0:j1] (the weights input feature i sends to outputs).
  void inputRow(int64_t i, int64_t j0, int64_t j1, float *dst) const {
    if (nk)
      storedCol(i, j0, j1, dst);
    else
      storedRow(i, j0, j1, dst);
  }
  /// Logical W[i0:i1, j] (the weights of output feature j).
  void outputCol(int64_t j, int64_t i0, int64_t i1, float *dst) const {
    if (nk)
      storedRow(j, i0, i1, dst);
    else
      storedCol(j, i0, i1, dst);
  }
};

/// Vector inner loops (one table per ISA).
struct SpxSimd {
  const char *name;
  /// y[t * ldy + c] += sum_{u < m} a[t * lda + u] * rows[u][c]
  /// for t < tb (1..4) and c < n. rows[u] may point anywhere; the rows are
  /// read once per column block and prefetched ahead.
  void (*rowsFma)(int64_t n, int tb, int64_t m, const float *a, int64_t lda,
                  const float *const *rows, float *y, int64_t ldy);
  /// out[t * ldo + u] = sum_{c < n} x[t * ldx + c] * rows[u][c]
  /// for t < tb (1..4) and u < m.
  void (*dotRows)(int64_t n, int tb, const float *x, int64_t ldx, int64_t m,
                  const float *const *rows, float *out, int64_t ldo);
  /// bits[i / 64] |= (x[i] != 0) << (i % 64) for i < n (NaN counts as
  /// nonzero).
  void (*nonzeroBits)(const float *x, int64_t n, uint64_t *bits);
  /// y[t * ldy + c] += sum_{u < m} a[t * lda + u] * q[u * ldq + c] for
  /// t < tb (1..4), c < n, with q int8, or int4 in the low nibble of each
  /// byte when nibble (the quantized GEMV: scales are applied by the caller).
  void (*qaxpy)(int64_t n, int tb, int64_t m, const float *a, int64_t lda,
                const int8_t *q, int64_t ldq, bool nibble, float *y,
                int64_t ldy);
  /// Copies the keys[i] >= threshold (i < n), in order, to out (room for n)
  /// and returns their number (the candidates of a top-k selection).
  int64_t (*keysAtLeast)(const uint32_t *keys, int64_t n, uint32_t threshold,
                         uint32_t *out);
  /// Writes the indices i < n with keys[i] >= threshold, ascending, to out
  /// (room for n) and returns their number.
  int64_t (*indicesAtLeast)(const uint32_t *keys, int64_t n, uint32_t threshold,
                            uint32_t *out);
  /// v[i] = 0 for i < n unless keys[i] > key or keys[i] is one of the first
  /// takeEqual keys equal to key (a top-k cut applied in place).
  void (*applyCut)(float *v, const uint32_t *keys, int64_t n, uint32_t key,
                   int64_t takeEqual);
};

/// Rows of a quantized nk weight (one stored row per output feature) as the
/// register-dequantizing dot-product kernels read them.
struct QuantRows {
  const int8_t *q = nullptr;
  int64_t rowBytes = 0; // bytes per stored row
  int64_t k = 0;        // values per row
  int format = 0;       // QuantFormat
  int64_t group = 0;    // 0: one scale per row
  const void *scales = nullptr;
  bool scalesF16 = false;

  enum QuantFormat { Int8 = 0, Int4 = 1, Int4Packed = 2 };

  explicit QuantRows(const WeightView &v)
      : q(static_cast<const int8_t *>(v.w)), rowBytes(v.storedRowBytes()),
        k(v.k), format(v.bits == 8 ? Int8
                       : v.packed  ? Int4Packed
                                   : Int4),
        group(v.group), scales(v.scales), scalesF16(v.scalesF16) {}

  /// Quantization groups per row (1 per channel).
  int64_t groups() const { return group > 0 ? k / group : 1; }
  /// The scale of row r, group gi (gi = 0 per channel).
  float scale(int64_t r, int64_t gi) const {
    if (!scales)
      return 1.0f;
    int64_t i = r * groups() + gi;
    return scalesF16 ? halfToFloat(static_cast<const uint16_t *>(scales)[i])
                     : static_cast<const float *>(scales)[i];
  }
};

/// Register-dequantizing quantized GEMV loops (QuantMatmul*.cpp).
struct QuantSimd {
  const char *name;
  /// out[t * ldo + i] = sum_{c < k} x[t * ldx + c] * W(r0 + i, c) for
  /// t < tb (1..4) and i < m: dot products of up to 4 tokens with rows
  /// [r0, r0 + m) of a quantized nk weight, widened and scaled in registers.
  void (*dotRows)(const QuantRows &w, int64_t r0, int64_t m, int tb,
                  const float *x, int64_t ldx, float *out, int64_t ldo);
};

/// Rows of an int8 nk weight for the integer dot-product kernels.
struct IntegerRows {
  const int8_t *q = nullptr;
  int64_t rowBytes = 0; // bytes per stored row (>= k)
  int64_t k = 0;        // values per row
};

/// Exact integer dot products of unsigned 8-bit activations with int8 rows
/// (QuantMatmulVnni.cpp).
struct IntegerDotSimd {
  const char *name;
  /// out[t * ldo + i] = sum_{c < k} x[t * ldx + c] * q(r0 + i, c) for
  /// t < tb (1..4) and i < m, in int32 (exact for k <= 2^31 / (255 * 128));
  /// when rowSums is not null also rowSums[i] = sum_c q(r0 + i, c).
  void (*dotRows)(const IntegerRows &w, int64_t r0, int64_t m, int tb,
                  const uint8_t *x, int64_t ldx, int32_t *out, int64_t ldo,
                  int32_t *rowSums);
  /// out[t * ldo + i] = sum_g scale(r0 + i, g) * sum_{c in g} q(r0 + i, c)
  /// * x[t, c] for t < tb (1..4) and i < m, with packed int4 rows (w.format
  /// Int4Packed, f32 or f16 scales, w.group 32, a multiple of 64, or 0) and
  /// int8 activations in the order of prepareInt4Activations; each group's
  /// sum is exact, the sum over groups is f32.
  void (*dotInt4Rows)(const QuantRows &w, int64_t r0, int64_t m, int tb,
                      const int8_t *x, const int32_t *corr, int64_t ldx,
                      float *out, int64_t ldo);
  /// f[i] = the IEEE half h[i] for i < n (exact).
  void (*widenHalves)(const uint16_t *h, int64_t n, float *f);
};

/// The scale of a token's int8 activations: the power of two that maps
/// max |x[0, k)| into [-127, 127] (x / scale is then exact before rounding,
/// and small integers stay exact); 0 if x is not finite.
float int8ActivationScale(const float *x, int64_t k);

/// Int8 activations for dotInt4Rows: x[0, k) / scale (k a multiple of 32)
/// rounded to nearest into xq[0, ceil(k / 64) * 64), each 64-value step
/// ordered as the packed int4 bytes unpack ([0, 16), [32, 48), [16, 32),
/// [48, 64); a final 32-value step in order, zero padded), and corr[i] = -8
/// * (xq[4i] + ... + xq[4i + 3]), the correction for the weights' +8
/// offset.
void prepareInt4Activations(const float *x, int64_t k, float scale, int8_t *xq,
                            int32_t *corr);

/// The AVX-512 VNNI kernels; call only when integerDotSupported().
const IntegerDotSimd &getIntegerDotVnni();

const QuantSimd &getQuantSimdScalar();
const QuantSimd &getQuantSimdAvx2();
const QuantSimd &getQuantSimdAvx512();

const SpxSimd &getSpxSimdScalar();
const SpxSimd &getSpxSimdAvx2();
const SpxSimd &getSpxSimdAvx512();

} // namespace spx
} // namespace runtime
} // namespace parsimony

#endif // PARSIMONY_LIB_RUNTIME_SPXKERNELSINTERNAL_H
