//===- Passes.h - Parsimony conversion passes -------------------*- C++ -*-===//

#ifndef PARSIMONY_CONVERSION_PASSES_H
#define PARSIMONY_CONVERSION_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
namespace affine {
class AffineDialect;
} // namespace affine
namespace arith {
class ArithDialect;
} // namespace arith
namespace cf {
class ControlFlowDialect;
} // namespace cf
namespace linalg {
class LinalgDialect;
} // namespace linalg
namespace tensor {
class TensorDialect;
} // namespace tensor
namespace func {
class FuncDialect;
class FuncOp;
} // namespace func
namespace gpu {
class GPUDialect;
} // namespace gpu
namespace scf {
class SCFDialect;
} // namespace scf
namespace LLVM {
class LLVMDialect;
} // namespace LLVM
namespace math {
class MathDialect;
} // namespace math
namespace memref {
class MemRefDialect;
} // namespace memref
namespace vector {
class VectorDialect;
} // namespace vector
} // namespace mlir

namespace parsimony {

#define GEN_PASS_DECL
#include "parsimony/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "parsimony/Conversion/Passes.h.inc"

} // namespace parsimony

#endif // PARSIMONY_CONVERSION_PASSES_H
