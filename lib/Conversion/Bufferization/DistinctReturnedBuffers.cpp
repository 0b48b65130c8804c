//===- DistinctReturnedBuffers.cpp - one buffer per returned result -------===//

#include "parsimony/Conversion/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"

namespace parsimony {
#define GEN_PASS_DEF_DISTINCTRETURNEDBUFFERS
#include "parsimony/Conversion/Passes.h.inc"
} // namespace parsimony

using namespace mlir;

namespace {
struct DistinctReturnedBuffersPass
    : parsimony::impl::DistinctReturnedBuffersBase<
          DistinctReturnedBuffersPass> {
  void runOnOperation() override {
    getOperation()->walk([](func::ReturnOp ret) {
      llvm::SmallPtrSet<Value, 4> seen;
      OpBuilder b(ret);
      for (OpOperand &operand : ret->getOpOperands()) {
        Value value = operand.get();
        auto type = dyn_cast<MemRefType>(value.getType());
        if (!type || seen.insert(value).second)
          continue;
        SmallVector<Value> sizes;
        for (int64_t i = 0; i < type.getRank(); ++i)
          if (type.isDynamicDim(i))
            sizes.push_back(memref::DimOp::create(b, ret.getLoc(), value, i));
        auto copyType = MemRefType::get(type.getShape(), type.getElementType());
        Value copy = memref::AllocOp::create(b, ret.getLoc(), copyType, sizes);
        memref::CopyOp::create(b, ret.getLoc(), value, copy);
        if (copyType != type)
          copy = memref::CastOp::create(b, ret.getLoc(), type, copy);
        operand.set(copy);
      }
    });
  }
};
} // namespace
