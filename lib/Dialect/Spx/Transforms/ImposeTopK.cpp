//===- ImposeTopK.cpp - a Top-k activation on every sparse FFN ------------===//

#include "parsimony/Dialect/Spx/Transforms/Passes.h"

namespace mlir::spx {
#define GEN_PASS_DEF_SPXIMPOSETOPK
#include "parsimony/Dialect/Spx/Transforms/Passes.h.inc"
} // namespace mlir::spx

using namespace mlir;
using namespace mlir::spx;

namespace {
struct SpxImposeTopKPass
    : mlir::spx::impl::SpxImposeTopKBase<SpxImposeTopKPass> {
  using Base::Base;

  void runOnOperation() override {
    int64_t keep = k;
    if (keep <= 0) {
      getOperation()->emitError()
          << "spx-impose-topk: k must be positive, got " << keep;
      return signalPassFailure();
    }
    WalkResult result = getOperation()->walk([&](SparseFFNOp op) {
      if (op.getTopk())
        return WalkResult::advance();
      int64_t hidden = op.getHiddenSize();
      if (!ShapedType::isDynamic(hidden) && keep > hidden) {
        op.emitError() << "--topk=" << keep << " exceeds the " << hidden
                       << " neurons of this FFN";
        return WalkResult::interrupt();
      }
      op.setTopk(static_cast<uint64_t>(keep));
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
