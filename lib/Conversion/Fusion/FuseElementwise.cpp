//===- FuseElementwise.cpp - elementwise fusion that spares contractions --===//

#include "parsimony/Conversion/Passes.h"
#include "parsimony/Support/Contraction.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace parsimony {
#define GEN_PASS_DEF_FUSEELEMENTWISE
#include "parsimony/Conversion/Passes.h.inc"
} // namespace parsimony

using namespace mlir;

namespace {

/// The permutation map (loops -> source indices) of a linalg op that only
/// swaps the two innermost dimensions of its single input (a matrix
/// transpose: `linalg.transpose`, or a generic whose body yields its input
/// unchanged), or a null map. Other permutations (attention's head split)
/// would leave an operand whose batch dimensions are not one stride apart,
/// which the GEMM call cannot read.
AffineMap pureTransposeMap(Operation *op) {
  auto linalgOp = dyn_cast_or_null<linalg::LinalgOp>(op);
  if (!linalgOp || !linalgOp.hasPureTensorSemantics() ||
      linalgOp.getNumDpsInputs() != 1 || linalgOp.getNumDpsInits() != 1 ||
      linalgOp.getNumLoops() != linalgOp.getNumParallelLoops())
    return AffineMap();
  Block *body = linalgOp.getBlock();
  auto yield = dyn_cast<linalg::YieldOp>(body->getTerminator());
  if (!yield || body->getOperations().size() != 1 ||
      yield.getNumOperands() != 1 ||
      yield.getOperand(0) != body->getArgument(0))
    return AffineMap();
  SmallVector<AffineMap> maps = linalgOp.getIndexingMapsArray();
  unsigned rank = linalgOp.getNumLoops();
  if (rank < 2 || !maps[1].isIdentity())
    return AffineMap();
  SmallVector<unsigned> swapped = llvm::to_vector(llvm::seq<unsigned>(0, rank));
  std::swap(swapped[rank - 2], swapped[rank - 1]);
  if (maps[0] != AffineMap::getPermutationMap(swapped, op->getContext()))
    return AffineMap();
  return maps[0];
}

/// contraction(transpose(x)) -> contraction(x) with the permutation folded
/// into x's indexing map. The GEMM call reads a transposed operand through
/// its leading dimension for free; materialising the transpose would copy
/// the whole matrix (a Gemm node with transB = 1 would copy its weight on
/// every call).
struct FoldTransposeIntoContraction
    : public OpInterfaceRewritePattern<linalg::LinalgOp> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;

  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics() || !parsimony::isMulAddContraction(op))
      return failure();
    for (OpOperand *input : op.getDpsInputOperands()) {
      Operation *producer = input->get().getDefiningOp();
      AffineMap permutation = pureTransposeMap(producer);
      if (!permutation)
        continue;
      Value source = cast<linalg::LinalgOp>(producer).getDpsInputs()[0];
      unsigned index = input->getOperandNumber();
      linalg::GenericOp generic = dyn_cast<linalg::GenericOp>(*op);
      if (!generic) {
        FailureOr<linalg::GenericOp> g =
            linalg::generalizeNamedOp(rewriter, op);
        if (failed(g))
          return failure();
        generic = *g;
      }
      SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
      // t[d] = x[permutation(d)], read as t[maps[index](loops)].
      maps[index] = permutation.compose(maps[index]);
      rewriter.modifyOpInPlace(generic, [&] {
        generic.setIndexingMapsAttr(rewriter.getAffineMapArrayAttr(maps));
        generic->setOperand(index, source);
      });
      return success();
    }
    return failure();
  }
};

struct FuseElementwisePass
    : parsimony::impl::FuseElementwiseBase<FuseElementwisePass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    RewritePatternSet patterns(context);
    linalg::ControlFusionFn control = [](OpOperand *fusedOperand) {
      Operation *producer = fusedOperand->get().getDefiningOp();
      Operation *consumer = fusedOperand->getOwner();
      if (!producer || parsimony::isMulAddContraction(consumer))
        return false;
      // Like upstream: only producers with a single use are fused, so no
      // work is duplicated.
      return producer->hasOneUse();
    };
    linalg::populateElementwiseOpsFusionPatterns(patterns, control);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, control);
    tensor::populateBubbleUpExpandShapePatterns(patterns);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, context);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, context);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, context);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, context);
    context->getLoadedDialect<linalg::LinalgDialect>()
        ->getCanonicalizationPatterns(patterns);
    linalg::populateConstantFoldLinalgOperations(patterns, control);
    linalg::populateEraseUnusedOperandsAndResultsPatterns(patterns);
    patterns.add<FoldTransposeIntoContraction>(context);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
