//===- SpxDialect.cpp - spx dialect and attributes ------------------------===//

#include "parsimony/Dialect/Spx/IR/SpxDialect.h"
#include "parsimony/Dialect/Spx/IR/SpxAttrs.h"
#include "parsimony/Dialect/Spx/IR/SpxOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::spx;

#include "parsimony/Dialect/Spx/IR/SpxDialect.cpp.inc"
#include "parsimony/Dialect/Spx/IR/SpxEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "parsimony/Dialect/Spx/IR/SpxAttrs.cpp.inc"

void SpxDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "parsimony/Dialect/Spx/IR/SpxOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "parsimony/Dialect/Spx/IR/SpxAttrs.cpp.inc"
      >();
}

LogicalResult QuantAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                unsigned bits, int64_t groupSize) {
  if (bits != 4 && bits != 8)
    return emitError() << "quantization supports 4 or 8 bits, got " << bits;
  if (groupSize < 0)
    return emitError() << "group_size must be 0 (per channel) or positive, got "
                       << groupSize;
  return success();
}
