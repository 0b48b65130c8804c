//===- SpxAttrs.h - spx attributes and enums --------------------*- C++ -*-===//

#ifndef PARSIMONY_DIALECT_SPX_IR_SPXATTRS_H
#define PARSIMONY_DIALECT_SPX_IR_SPXATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"

#include "parsimony/Dialect/Spx/IR/SpxEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "parsimony/Dialect/Spx/IR/SpxAttrs.h.inc"

#endif // PARSIMONY_DIALECT_SPX_IR_SPXATTRS_H
