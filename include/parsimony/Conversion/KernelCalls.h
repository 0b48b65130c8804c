//===- KernelCalls.h - helpers for calling runtime kernels ------*- C++ -*-===//
//
// Generated code hands buffers to the runtime's C kernels as plain pointers
// plus sizes. These helpers build those arguments from memrefs.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_CONVERSION_KERNELCALLS_H
#define PARSIMONY_CONVERSION_KERNELCALLS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace parsimony {

/// The address of a memref's first element (aligned pointer + offset) as an
/// !llvm.ptr.
mlir::Value getElementPointer(mlir::OpBuilder &b, mlir::Location loc,
                              mlir::Value memref);

/// A null !llvm.ptr.
mlir::Value getNullPointer(mlir::OpBuilder &b, mlir::Location loc);

/// Returns the private declaration of runtime function `name` in the module
/// enclosing `anchor`, creating it with `type` if needed.
mlir::func::FuncOp getOrDeclareKernel(mlir::Operation *anchor,
                                      llvm::StringRef name,
                                      mlir::FunctionType type);

/// Emits `func.call @name(args)`, declaring the callee from the argument
/// types.
void createKernelCall(mlir::OpBuilder &b, mlir::Location loc,
                      llvm::StringRef name, mlir::ValueRange args);

} // namespace parsimony

#endif // PARSIMONY_CONVERSION_KERNELCALLS_H
