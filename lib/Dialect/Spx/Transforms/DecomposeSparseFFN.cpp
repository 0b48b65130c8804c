//===- DecomposeSparseFFN.cpp - spx.sparse_ffn -> dense linalg ------------===//

#include "parsimony/Dialect/Spx/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

#include <cmath>

namespace mlir::spx {
#define GEN_PASS_DEF_SPXDECOMPOSESPARSEFFN
#include "parsimony/Dialect/Spx/Transforms/Passes.h.inc"
} // namespace mlir::spx

using namespace mlir;
using namespace mlir::spx;

namespace {

/// `out[t, n] = sum_k lhs[t, k] * w[k, n]` (or `w[n, k]` for nk) as a
/// linalg contraction, which the CPU pipeline runs on the GEMM kernels.
Value buildMatmul(OpBuilder &b, Location loc, Value lhs, Value weight,
                  WeightLayout layout) {
  auto lhsType = cast<RankedTensorType>(lhs.getType());
  auto weightType = cast<RankedTensorType>(weight.getType());
  int64_t n = weightType.getDimSize(layout == WeightLayout::kn ? 1 : 0);
  Type element = lhsType.getElementType();
  SmallVector<OpFoldResult> sizes = {tensor::getMixedSize(b, loc, lhs, 0),
                                     b.getIndexAttr(n)};
  Value empty = tensor::EmptyOp::create(b, loc, sizes, element);
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(element));
  Value init = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  MLIRContext *ctx = b.getContext();
  AffineExpr t, nn, k;
  bindDims(ctx, t, nn, k);
  SmallVector<AffineMap> maps = {
      AffineMap::get(3, 0, {t, k}, ctx),
      AffineMap::get(3, 0,
                     layout == WeightLayout::kn ? ArrayRef<AffineExpr>{k, nn}
                                                : ArrayRef<AffineExpr>{nn, k},
                     ctx),
      AffineMap::get(3, 0, {t, nn}, ctx)};
  SmallVector<utils::IteratorType> iterators = {utils::IteratorType::parallel,
                                                utils::IteratorType::parallel,
                                                utils::IteratorType::reduction};
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{lhs, weight}, ValueRange{init},
             maps, iterators,
             [](OpBuilder &nb, Location nloc, ValueRange args) {
               Value product =
                   arith::MulFOp::create(nb, nloc, args[0], args[1]);
               Value sum = arith::AddFOp::create(nb, nloc, args[2], product);
               linalg::YieldOp::create(nb, nloc, sum);
             })
      .getResult(0);
}

/// Applies `activation` to a scalar.
Value activate(OpBuilder &b, Location loc, Activation activation, Value x) {
  Type type = x.getType();
  auto constant = [&](double v) {
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, v));
  };
  switch (activation) {
  case Activation::identity:
    return x;
  case Activation::relu:
    return arith::MaximumFOp::create(b, loc, x, constant(0.0));
  case Activation::gelu: {
    // 0.5 * x * (1 + erf(x / sqrt(2)))
    Value scaled = arith::MulFOp::create(b, loc, x, constant(M_SQRT1_2));
    Value erf = math::ErfOp::create(b, loc, scaled);
    Value onePlus = arith::AddFOp::create(b, loc, erf, constant(1.0));
    Value half = arith::MulFOp::create(b, loc, x, constant(0.5));
    return arith::MulFOp::create(b, loc, half, onePlus);
  }
  case Activation::gelu_tanh: {
    // 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))
    Value cube =
        arith::MulFOp::create(b, loc, x, arith::MulFOp::create(b, loc, x, x));
    Value inner = arith::AddFOp::create(
        b, loc, x, arith::MulFOp::create(b, loc, cube, constant(0.044715)));
    Value tanh = math::TanhOp::create(
        b, loc,
        arith::MulFOp::create(b, loc, inner, constant(std::sqrt(2.0 / M_PI))));
    Value onePlus = arith::AddFOp::create(b, loc, tanh, constant(1.0));
    Value half = arith::MulFOp::create(b, loc, x, constant(0.5));
    return arith::MulFOp::create(b, loc, half, onePlus);
  }
  case Activation::silu:
  case Activation::sigmoid: {
    // sigmoid(x) = 1 / (1 + exp(-x)); silu(x) = x * sigmoid(x)
    Value negated = arith::NegFOp::create(b, loc, x);
    Value denominator = arith::AddFOp::create(
        b, loc, math::ExpOp::create(b, loc, negated), constant(1.0));
    Value sigmoid = arith::DivFOp::create(b, loc, constant(1.0), denominator);
    if (activation == Activation::sigmoid)
      return sigmoid;
    return arith::MulFOp::create(b, loc, x, sigmoid);
  }
  case Activation::swiglu:
    break; // The verifier rejects swiglu on spx.sparse_ffn.
  }
  return x;
}

/// `result[t, j] = f(operands[t, j], bias[j]...)` over [T, N] tensors:
/// every operand is either [T, N] or a [N] bias broadcast along tokens.
Value buildElementwise(
    OpBuilder &b, Location loc, ValueRange operands,
    function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  Value like = operands.front();
  auto type = cast<RankedTensorType>(like.getType());
  MLIRContext *ctx = b.getContext();
  AffineExpr t, j;
  bindDims(ctx, t, j);
  SmallVector<AffineMap> maps;
  for (Value operand : operands)
    maps.push_back(cast<RankedTensorType>(operand.getType()).getRank() == 2
                       ? AffineMap::get(2, 0, {t, j}, ctx)
                       : AffineMap::get(2, 0, {j}, ctx));
  maps.push_back(AffineMap::get(2, 0, {t, j}, ctx));
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, like);
  Value init = tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
  SmallVector<utils::IteratorType> iterators(2, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, type, operands, ValueRange{init}, maps, iterators,
             [&](OpBuilder &nb, Location nloc, ValueRange args) {
               Value v = body(nb, nloc, args.drop_back());
               linalg::YieldOp::create(nb, nloc, v);
             })
      .getResult(0);
}

struct DecomposeSparseFFN : OpRewritePattern<SparseFFNOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SparseFFNOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getSupport() || op.getUpQuantAttr() || op.getGateQuantAttr() ||
        op.getDownQuantAttr())
      return rewriter.notifyMatchFailure(
          op, "predicted support or quantized weights use the FFN kernel");
    Location loc = op.getLoc();
    RankedTensorType inputType = op.getInput().getType();
    int64_t rank = inputType.getRank();

    // Flatten the leading (token) dimensions (of the input and residual).
    SmallVector<ReassociationIndices> toTokens;
    if (rank > 2) {
      ReassociationIndices leading;
      for (int64_t i = 0; i < rank - 1; ++i)
        leading.push_back(i);
      toTokens = {leading, {rank - 1}};
    }
    auto flatten = [&](Value v) -> Value {
      auto type = cast<RankedTensorType>(v.getType());
      if (rank == 1)
        return tensor::ExpandShapeOp::create(
            rewriter, loc,
            RankedTensorType::get({1, type.getDimSize(0)},
                                  type.getElementType()),
            v, ArrayRef<ReassociationIndices>{{0, 1}});
      if (rank > 2)
        return tensor::CollapseShapeOp::create(rewriter, loc, v, toTokens);
      return v;
    };
    Value x = flatten(op.getInput());

    Value u = buildMatmul(rewriter, loc, x, op.getUpWeight(), op.getUpLayout());
    Value gate = op.getGateWeight()
                     ? buildMatmul(rewriter, loc, x, op.getGateWeight(),
                                   op.getGateLayout())
                     : Value();
    SmallVector<Value> operands = {u};
    if (op.getUpBias())
      operands.push_back(op.getUpBias());
    if (gate)
      operands.push_back(gate);
    bool hasBias = static_cast<bool>(op.getUpBias());
    Activation activation = op.getActivation();
    Value h = buildElementwise(
        rewriter, loc, operands,
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value up =
              hasBias
                  ? arith::AddFOp::create(b, l, args[0], args[1]).getResult()
                  : args[0];
          if (!gate)
            return activate(b, l, activation, up);
          Value gated = activate(b, l, activation, args.back());
          return arith::MulFOp::create(b, l, gated, up);
        });
    if (std::optional<uint64_t> topk = op.getTopk())
      h = TopKActivationOp::create(
          rewriter, loc, h, rewriter.getI64IntegerAttr(*topk),
          rewriter.getI64IntegerAttr(-1),
          TopKModeAttr::get(rewriter.getContext(), TopKMode::exact),
          rewriter.getF32FloatAttr(0.95f));

    Value y =
        buildMatmul(rewriter, loc, h, op.getDownWeight(), op.getDownLayout());
    auto add = [](OpBuilder &b, Location l, ValueRange args) {
      return arith::AddFOp::create(b, l, args[0], args[1]).getResult();
    };
    if (Value bias = op.getDownBias())
      y = buildElementwise(rewriter, loc, ValueRange{y, bias}, add);
    if (Value residual = op.getResidual())
      y = buildElementwise(rewriter, loc, ValueRange{y, flatten(residual)},
                           add);

    // Restore the leading dimensions.
    if (rank == 1) {
      y = tensor::CollapseShapeOp::create(
          rewriter, loc, y, ArrayRef<ReassociationIndices>{{0, 1}});
    } else if (rank > 2) {
      SmallVector<OpFoldResult> shape =
          tensor::getMixedSizes(rewriter, loc, op.getInput());
      y = tensor::ExpandShapeOp::create(rewriter, loc, op.getType(), y,
                                        toTokens, shape);
    }
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct SpxDecomposeSparseFFNPass
    : mlir::spx::impl::SpxDecomposeSparseFFNBase<SpxDecomposeSparseFFNPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeSparseFFN>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
