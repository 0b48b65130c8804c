//===- WeightConstants.h - reading and writing constant weights -*- C++ -*-===//
//
// Compile-time weight transformations (predictor building, layout changes,
// quantization) read the model's constant weights and write new ones.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_DIALECT_SPX_TRANSFORMS_WEIGHTCONSTANTS_H
#define PARSIMONY_DIALECT_SPX_TRANSFORMS_WEIGHTCONSTANTS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Value.h"
#include "parsimony/Dialect/Spx/IR/SpxOps.h"

#include <optional>
#include <vector>

namespace mlir::spx {

/// The values of `value` if it is an f32 `arith.constant` (dense or
/// dense_resource), row-major.
std::optional<std::vector<float>> getConstantF32Values(Value value);

/// An `arith.constant` holding `data` as a dense_resource blob named after
/// `name` (made unique by the resource manager).
template <typename T>
Value createResourceConstant(OpBuilder &b, Location loc, RankedTensorType type,
                             StringRef name, ArrayRef<T> data);

/// `rows x cols` row-major `data` transposed to `cols x rows`.
std::vector<float> transpose(ArrayRef<float> data, int64_t rows, int64_t cols);

/// A (stack of `experts`) weight(s) mapping K inputs to N outputs, quantized
/// symmetrically at compile time, in the storage order of `layout`.
struct QuantizedWeight {
  unsigned bits = 8;
  /// 0: one scale per output feature; else per `group` input features.
  int64_t group = 0;
  WeightLayout layout = WeightLayout::kn;
  int64_t experts = 1, k = 0, n = 0;
  /// One value per element, stored order ([K, N] for kn, [N, K] for nk).
  std::vector<int8_t> q;
  /// The dialect's scale layout: [N] per channel; [K/group, N] (kn) or
  /// [N, K/group] (nk) grouped; stacked per expert.
  std::vector<float> scales;

  int64_t storedRowLength() const { return layout == WeightLayout::kn ? n : k; }
  /// Whether the weight can be stored packed (two int4 per byte).
  bool packable() const { return bits == 4 && storedRowLength() % 32 == 0; }
};

/// Quantizes `stored` (experts x the stored matrix of `layout`) to `bits`
/// (8: values in [-127, 127], 4: [-7, 7]) with scale = max |w| / max q per
/// output feature (group 0) or per `group` input features of each output
/// feature; `group` must divide k.
QuantizedWeight quantizeWeight(ArrayRef<float> stored, int64_t experts,
                               int64_t k, int64_t n, WeightLayout layout,
                               unsigned bits, int64_t group);

/// The same weight stored in the other layout.
QuantizedWeight transposeQuantized(const QuantizedWeight &w);

/// The quantized weight held by the constants `weight` and `scales` (i8,
/// i4 or packed int4 with f32 scales), or nothing if they are not constants.
std::optional<QuantizedWeight> getQuantizedConstant(Value weight, Value scales,
                                                    QuantAttr quant,
                                                    WeightLayout layout);

/// Whether every scale of `w` is a normal f16 number (so that storing the
/// scales as f16 only rounds them, by at most 2^-11 of their value).
bool scalesFitF16(const QuantizedWeight &w);

/// Constants holding `w`: the weight (i8; int4 packed two per byte as i8
/// when `pack` and packable(), else i4) and its scales, f32 or, with
/// `f16Scales` (which needs scalesFitF16), rounded to f16. Returns {weight,
/// scales}.
std::pair<Value, Value> createQuantizedConstants(OpBuilder &b, Location loc,
                                                 const QuantizedWeight &w,
                                                 StringRef name, bool pack,
                                                 bool stacked,
                                                 bool f16Scales = false);

} // namespace mlir::spx

#endif // PARSIMONY_DIALECT_SPX_TRANSFORMS_WEIGHTCONSTANTS_H
