//===- ParallelIteratorsFirst.cpp - reductions inside parallel loops ------===//
//
// A reduction over a leading dimension (a softmax over axis 0, an ArgMax
// over the first axis) is a linalg op whose first iterator is a reduction:
// convert-linalg-to-parallel-loops turns it into a sequential host loop
// around a parallel loop, which cannot become one kernel. Interchanging the
// iterators so the parallel ones come first gives one parallel loop whose
// points each run their reduction: every output element is still folded in
// the same order, so results do not change.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace parsimony {
#define GEN_PASS_DEF_PARALLELITERATORSFIRST
#include "parsimony/Conversion/Passes.h.inc"
} // namespace parsimony

using namespace mlir;

namespace {

/// The loop order that puts `op`'s parallel iterators first, each group in
/// its original order; empty when they already are.
SmallVector<unsigned> parallelFirstOrder(linalg::LinalgOp op) {
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  SmallVector<unsigned> order;
  for (auto [i, type] : llvm::enumerate(iterators))
    if (type == utils::IteratorType::parallel)
      order.push_back(i);
  for (auto [i, type] : llvm::enumerate(iterators))
    if (type != utils::IteratorType::parallel)
      order.push_back(i);
  if (llvm::equal(order, llvm::seq<unsigned>(0, order.size())))
    return {};
  return order;
}

struct ParallelIteratorsFirstPass
    : parsimony::impl::ParallelIteratorsFirstBase<ParallelIteratorsFirstPass> {
  void runOnOperation() override {
    // Generalizing keeps the iterators, so an op's order holds for its
    // generic form too.
    SmallVector<std::pair<linalg::LinalgOp, SmallVector<unsigned>>> ops;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (SmallVector<unsigned> order = parallelFirstOrder(op); !order.empty())
        ops.emplace_back(op, std::move(order));
    });
    IRRewriter rewriter(&getContext());
    for (auto &[op, order] : ops) {
      rewriter.setInsertionPoint(op);
      auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
      if (!generic) {
        FailureOr<linalg::GenericOp> generalized =
            linalg::generalizeNamedOp(rewriter, op);
        if (failed(generalized))
          continue; // No region to interchange: stays as it is.
        generic = *generalized;
      }
      if (failed(linalg::interchangeGenericOp(rewriter, generic, order))) {
        generic.emitError("parsimony-parallel-iterators-first: cannot "
                          "interchange the iterators of this op");
        return signalPassFailure();
      }
    }
  }
};

} // namespace
