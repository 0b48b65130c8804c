//===- Passes.h - spx transformation passes ---------------------*- C++ -*-===//

#ifndef PARSIMONY_DIALECT_SPX_TRANSFORMS_PASSES_H
#define PARSIMONY_DIALECT_SPX_TRANSFORMS_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "parsimony/Dialect/Spx/IR/SpxOps.h"

namespace mlir {
namespace arith {
class ArithDialect;
} // namespace arith
namespace linalg {
class LinalgDialect;
} // namespace linalg
namespace math {
class MathDialect;
} // namespace math
namespace tensor {
class TensorDialect;
} // namespace tensor

namespace spx {

#define GEN_PASS_DECL
#include "parsimony/Dialect/Spx/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "parsimony/Dialect/Spx/Transforms/Passes.h.inc"

} // namespace spx
} // namespace mlir

#endif // PARSIMONY_DIALECT_SPX_TRANSFORMS_PASSES_H
