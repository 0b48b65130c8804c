//===- SpxOps.h - spx operations --------------------------------*- C++ -*-===//

#ifndef PARSIMONY_DIALECT_SPX_IR_SPXOPS_H
#define PARSIMONY_DIALECT_SPX_IR_SPXOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "parsimony/Dialect/Spx/IR/SpxAttrs.h"
#include "parsimony/Dialect/Spx/IR/SpxDialect.h"

#define GET_OP_CLASSES
#include "parsimony/Dialect/Spx/IR/SpxOps.h.inc"

namespace mlir::spx {
/// Whether a weight of element type `elementType` with quantization `quant`
/// is packed int4: a 4-bit weight stored as i8, two values per byte along
/// the innermost dimension (see the dialect description).
bool isPackedInt4(Type elementType, QuantAttr quant);
} // namespace mlir::spx

#endif // PARSIMONY_DIALECT_SPX_IR_SPXOPS_H
