//===- DenseProjection.h - matching `x W` contractions ----------*- C++ -*-===//
//
// Shared by the passes that rewrite dense projections (weight quantization,
// raising of pre-quantized weights).
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_LIB_DIALECT_SPX_TRANSFORMS_DENSEPROJECTION_H
#define PARSIMONY_LIB_DIALECT_SPX_TRANSFORMS_DENSEPROJECTION_H

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"

#include <optional>

namespace mlir::spx {

/// A contraction `[..., K] x W -> [..., N]` with a 2-D weight.
struct DenseProjection {
  Value input;
  /// The weight as `weightOf` found it, and whether it is stored [N, K].
  Value weight;
  bool weightNK = false;
  int64_t k = 0, n = 0;
};

/// The input of a 2-D `linalg.transpose` defining `value` (flipping
/// `transposed`), `value` itself when no transpose defines it, null for a
/// transpose with another permutation.
Value lookThroughTranspose(Value value, bool &transposed);

/// The 2-D f32 tensor behind a weight operand: `value` itself or the input
/// of a 2-D linalg.transpose of it (which flips `transposed`); null for
/// anything else.
Value weightThroughTranspose(Value value, bool &transposed);

/// Matches a dense projection: f32 tensors (i32 with `integer`, e.g. an
/// imported MatMulInteger), one reduction (K) and one parallel (N)
/// dimension in the weight, the activation indexed by the output's leading
/// dimensions then K, the result by them then N, and an accumulator of
/// zeros. `weightOf(operand, transposed)` returns the 2-D static weight
/// behind the weight operand (flipping `transposed` when it looks through a
/// transpose) or null.
std::optional<DenseProjection>
matchDenseProjection(linalg::LinalgOp op,
                     function_ref<Value(Value, bool &)> weightOf,
                     bool integer = false);

} // namespace mlir::spx

#endif // PARSIMONY_LIB_DIALECT_SPX_TRANSFORMS_DENSEPROJECTION_H
