//===- QuantMatmulScalar.cpp - quantized GEMV, portable C++ --------------===//
//
// The reference path of the quantized dot-product kernel (and the fallback
// for packed int4 with groups that are not a multiple of 32).
//
//===----------------------------------------------------------------------===//

#include "SpxKernelsInternal.h"

using namespace parsimony::runtime::spx;

namespace {

inline float valueAt(const QuantRows &w, const int8_t *row, int64_t c) {
  switch (w.format) {
  case QuantRows::Int8:
    return float(row[c]);
  case QuantRows::Int4:
    return float(int8_t(uint8_t(row[c]) << 4) >> 4);
  default: {
    uint8_t byte = uint8_t(row[(c >> 5) * 16 + (c & 15)]);
    return float(int8_t(c & 16 ? byte : uint8_t(byte << 4)) >> 4);
  }
  }
}

void dotRowsScalar(const QuantRows &w, int64_t r0, int64_t m, int tb,
                   const float *x, int64_t ldx, float *out, int64_t ldo) {
  const int64_t span = w.group > 0 ? w.group : w.k;
  for (int64_t i = 0; i < m; ++i) {
    const int8_t *row = w.q + (r0 + i) * w.rowBytes;
    for (int t = 0; t < tb; ++t) {
      const float *xt = x + t * ldx;
      float total = 0.0f;
      for (int64_t g0 = 0, gi = 0; g0 < w.k; g0 += span, ++gi) {
        float acc = 0.0f;
        for (int64_t c = g0; c < g0 + span && c < w.k; ++c)
          acc += xt[c] * valueAt(w, row, c);
        total += acc * w.scale(r0 + i, gi);
      }
      out[t * ldo + i] = total;
    }
  }
}

} // namespace

const QuantSimd &parsimony::runtime::spx::getQuantSimdScalar() {
  static const QuantSimd table = {"scalar", dotRowsScalar};
  return table;
}
