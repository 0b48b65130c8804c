//===- SpxDialect.h - spx dialect declaration -------------------*- C++ -*-===//

#ifndef PARSIMONY_DIALECT_SPX_IR_SPXDIALECT_H
#define PARSIMONY_DIALECT_SPX_IR_SPXDIALECT_H

#include "mlir/IR/Dialect.h"

#include "parsimony/Dialect/Spx/IR/SpxDialect.h.inc"

#endif // PARSIMONY_DIALECT_SPX_IR_SPXDIALECT_H
