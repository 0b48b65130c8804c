//===- Contraction.h - which linalg ops are plain matmuls -------*- C++ -*-===//
//
// Upstream's linalg::isaContractionOpInterface accepts any chain of unary
// operations around the multiply and the add (negf(a) * b + c, exp(a * b) +
// c): it describes the iteration space, not the arithmetic. The GEMM
// kernels, weight quantization and epilogue fusion compute exactly
// sum(a * b), so they ask this stricter question.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_SUPPORT_CONTRACTION_H
#define PARSIMONY_SUPPORT_CONTRACTION_H

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"

namespace parsimony {

/// Whether `op` is a contraction (two inputs, one accumulator) whose body
/// is exactly `acc + in0 * in1` (float or integer), the inputs optionally
/// extended or converted first (extf, extsi, extui, sitofp, uitofp), and
/// nothing else.
bool isMulAddContraction(mlir::linalg::LinalgOp op);

/// isMulAddContraction for any operation (false for non-linalg ones).
bool isMulAddContraction(mlir::Operation *op);

} // namespace parsimony

#endif // PARSIMONY_SUPPORT_CONTRACTION_H
