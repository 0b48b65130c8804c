//===- WeightConstants.h - reading and writing constant weights -*- C++ -*-===//
//
// Compile-time weight transformations (predictor building, layout changes,
// quantization) read the model's constant weights and write new ones.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_LIB_DIALECT_SPX_TRANSFORMS_WEIGHTCONSTANTS_H
#define PARSIMONY_LIB_DIALECT_SPX_TRANSFORMS_WEIGHTCONSTANTS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Value.h"

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

} // namespace mlir::spx

#endif // PARSIMONY_LIB_DIALECT_SPX_TRANSFORMS_WEIGHTCONSTANTS_H
