//===- ReadOnlyArguments.cpp - entry-point inputs are not written ---------===//
//
// The caller owns a model's input buffers; one-shot bufferization must copy
// an input before updating it in place rather than write into it.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Conversion/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace parsimony {
#define GEN_PASS_DEF_READONLYARGUMENTS
#include "parsimony/Conversion/Passes.h.inc"
} // namespace parsimony

using namespace mlir;

namespace {
struct ReadOnlyArgumentsPass
    : parsimony::impl::ReadOnlyArgumentsBase<ReadOnlyArgumentsPass> {
  void runOnOperation() override {
    auto attrName = StringAttr::get(
        &getContext(), bufferization::BufferizationDialect::kWritableAttrName);
    auto readOnly = BoolAttr::get(&getContext(), false);
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() || func.isPrivate())
        continue;
      for (auto [i, type] : llvm::enumerate(func.getArgumentTypes()))
        if (isa<TensorType>(type) && !func.getArgAttr(i, attrName))
          func.setArgAttr(i, attrName, readOnly);
    }
  }
};
} // namespace
