//===- ConstantBytes.h - the bytes of a constant LLVM global ----*- C++ -*-===//
//
// Shared by the weight externalization and the shape-variant merge.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_LIB_COMPILER_CONSTANTBYTES_H
#define PARSIMONY_LIB_COMPILER_CONSTANTBYTES_H

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

#include <optional>

namespace parsimony {

/// The bytes of a constant global's initializer, if it is a non-splat
/// tensor of byte-sized elements stored densely (the form weights take).
std::optional<llvm::ArrayRef<char>>
getConstantBytes(mlir::LLVM::GlobalOp global);

} // namespace parsimony

#endif // PARSIMONY_LIB_COMPILER_CONSTANTBYTES_H
