//===- DecomposeMoE.cpp - spx.moe -> route/dispatch/expert_ffn/combine ----===//

#include "parsimony/Dialect/Spx/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::spx {
#define GEN_PASS_DEF_SPXDECOMPOSEMOE
#include "parsimony/Dialect/Spx/Transforms/Passes.h.inc"
} // namespace mlir::spx

using namespace mlir;
using namespace mlir::spx;

namespace {

struct DecomposeMoE : OpRewritePattern<MoEOp> {
  DecomposeMoE(MLIRContext *context, std::optional<DispatchMode> mode,
               std::optional<float> capacityFactor)
      : OpRewritePattern(context), modeOverride(mode),
        capacityFactorOverride(capacityFactor) {}

  LogicalResult matchAndRewrite(MoEOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType inputType = op.getInput().getType();
    Type i64 = rewriter.getI64Type();
    int64_t k = static_cast<int64_t>(op.getK());
    int64_t experts = op.getNumExperts();

    // Flatten [B, S, D] to [B*S, D].
    Value tokens = op.getInput();
    if (inputType.getRank() == 3)
      tokens = tensor::CollapseShapeOp::create(
          rewriter, loc, tokens, ArrayRef<ReassociationIndices>{{0, 1}, {2}});
    RankedTensorType tokensType = cast<RankedTensorType>(tokens.getType());
    int64_t numTokens = tokensType.getDimSize(0);

    // The router always runs in f32.
    Value logits = op.getRouterProbs();
    RankedTensorType logitsType = op.getRouterProbs().getType();
    Type f32 = rewriter.getF32Type();
    if (!logitsType.getElementType().isF32())
      logits =
          arith::ExtFOp::create(rewriter, loc, logitsType.clone(f32), logits);

    auto route = RouteOp::create(
        rewriter, loc,
        TypeRange{RankedTensorType::get({numTokens, k}, f32),
                  RankedTensorType::get({numTokens, k}, i64)},
        logits, /*router_weight=*/Value(), /*router_bias=*/Value(),
        op.getKAttr(), op.getNormalizeRoutingWeightsAttr());

    DispatchMode mode = modeOverride.value_or(op.getDispatch());
    float capacityFactor = capacityFactorOverride.value_or(
        op.getCapacityFactor().convertToFloat());
    int64_t rows = kDynamicRows(numTokens, k, experts, mode, capacityFactor);
    RankedTensorType expertsVec = RankedTensorType::get({experts}, i64);
    auto dispatch = DispatchOp::create(
        rewriter, loc,
        TypeRange{RankedTensorType::get({rows, tokensType.getDimSize(1)},
                                        tokensType.getElementType()),
                  expertsVec, expertsVec,
                  RankedTensorType::get({numTokens, k}, i64)},
        tokens, route.getExperts(), static_cast<uint64_t>(experts), mode,
        APFloat(capacityFactor));

    auto expertFFN = ExpertFFNOp::create(
        rewriter, loc, dispatch.getRows().getType(), dispatch.getRows(),
        dispatch.getGroupOffsets(), dispatch.getGroupSizes(), op.getFc1Weight(),
        op.getFc1Scales(), op.getFc1Bias(), op.getFc2Weight(),
        op.getFc2Scales(), op.getFc2Bias(), op.getFc3Weight(),
        op.getFc3Scales(), op.getFc3Bias(), op.getActivationAttr(),
        op.getSwigluFusionAttr(), op.getActivationAlphaAttr(),
        op.getActivationBetaAttr(), op.getSwigluLimitAttr(),
        op.getFc1LayoutAttr(), op.getFc2LayoutAttr(), op.getFc3LayoutAttr(),
        op.getFc1QuantAttr(), op.getFc2QuantAttr(), op.getFc3QuantAttr());

    Value combined =
        CombineOp::create(rewriter, loc, tokensType, expertFFN.getOutput(),
                          dispatch.getSlots(), route.getGates(),
                          /*residual=*/Value());

    if (inputType.getRank() == 3) {
      SmallVector<OpFoldResult> outputShape =
          tensor::getMixedSizes(rewriter, loc, op.getInput());
      combined = tensor::ExpandShapeOp::create(
          rewriter, loc, inputType, combined,
          ArrayRef<ReassociationIndices>{{0, 1}, {2}}, outputShape);
    }
    rewriter.replaceOp(op, combined);
    return success();
  }

  /// The static row count of the dispatched tensor, or dynamic.
  static int64_t kDynamicRows(int64_t numTokens, int64_t k, int64_t experts,
                              DispatchMode mode, float capacityFactor) {
    if (ShapedType::isDynamic(numTokens) || ShapedType::isDynamic(experts))
      return ShapedType::kDynamic;
    if (mode == DispatchMode::dropless)
      return numTokens * k;
    return experts *
           DispatchOp::getCapacity(numTokens, experts, capacityFactor);
  }

  std::optional<DispatchMode> modeOverride;
  std::optional<float> capacityFactorOverride;
};

struct SpxDecomposeMoEPass
    : mlir::spx::impl::SpxDecomposeMoEBase<SpxDecomposeMoEPass> {
  using Base::Base;

  void runOnOperation() override {
    std::optional<DispatchMode> mode;
    if (!dispatchOverride.empty()) {
      mode = symbolizeDispatchMode(dispatchOverride);
      if (!mode) {
        getOperation()->emitError()
            << "spx-decompose-moe: unknown dispatch mode '" << dispatchOverride
            << "' (expected dropless or capacity)";
        return signalPassFailure();
      }
    }
    std::optional<float> capacityFactor;
    if (capacityFactorOverride < 0.0) {
      getOperation()->emitError()
          << "spx-decompose-moe: capacity-factor must be positive, got "
          << capacityFactorOverride;
      return signalPassFailure();
    }
    if (capacityFactorOverride > 0.0)
      capacityFactor = static_cast<float>(capacityFactorOverride);

    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeMoE>(&getContext(), mode, capacityFactor);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
