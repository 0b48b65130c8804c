//===- RaiseDequantizedWeights.cpp - pre-quantized weights to quant ops ---===//
//
// `x * dequantize(q, scale)` becomes `spx.quant_matmul(x, q, scale)`: the
// weights a model was exported with, read as int8 by the kernels.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Dialect/Spx/Transforms/Passes.h"

#include "DenseProjection.h"
#include "WeightConstants.h"

#include "parsimony/Dialect/Spx/IR/SpxOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

namespace mlir::spx {
#define GEN_PASS_DEF_SPXRAISEDEQUANTIZEDWEIGHTS
#include "parsimony/Dialect/Spx/Transforms/Passes.h.inc"
} // namespace mlir::spx

using namespace mlir;
using namespace mlir::spx;

namespace {

/// A symmetric int8 weight dequantized per output feature or per tensor.
struct Dequantized {
  /// The int8 values as stored by the model ([K, N], or [N, K] when the
  /// projection found it transposed), and that matrix's shape.
  std::vector<int8_t> q;
  SmallVector<int64_t> shape;
  /// The scale of every column of the stored matrix (one value when
  /// `perTensor`), and which stored dimension they run along.
  std::vector<float> scales;
  bool perTensor = false;
  int64_t scaleDim = -1;
};

/// `value` without the reshapes in front of it (they keep the order of the
/// elements).
Value lookThroughReshapes(Value value) {
  while (Operation *def = value.getDefiningOp()) {
    if (!isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(def))
      break;
    value = def->getOperand(0);
  }
  return value;
}

/// The elements of an i8 constant (inline or a resource blob) behind
/// `value`'s reshapes.
std::optional<std::vector<int8_t>> constantI8Values(Value value) {
  auto constant = lookThroughReshapes(value).getDefiningOp<arith::ConstantOp>();
  if (!constant)
    return std::nullopt;
  Attribute attr = constant.getValue();
  if (auto resource = dyn_cast<DenseI8ResourceElementsAttr>(attr)) {
    std::optional<ArrayRef<int8_t>> data = resource.tryGetAsArrayRef();
    if (!data)
      return std::nullopt;
    return std::vector<int8_t>(data->begin(), data->end());
  }
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (!dense || !dense.getElementType().isSignlessInteger(8))
    return std::nullopt;
  std::vector<int8_t> values;
  for (const APInt &v : dense.getValues<APInt>())
    values.push_back(static_cast<int8_t>(v.getSExtValue()));
  return values;
}

/// Matches `sitofp(extsi(q) [- extsi(zp)]) * scale` over a 2-D output with
/// q an i8 constant read with the identity map, zp all zeros, and scale a
/// constant that varies along at most one output dimension.
std::optional<Dequantized> matchDequantize(linalg::GenericOp op) {
  if (op.getNumDpsInits() != 1 || op.getNumDpsInputs() < 2 ||
      op.getNumDpsInputs() > 3 || op.getNumReductionLoops() != 0 ||
      op.getNumLoops() != 2)
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (!maps[0].isIdentity() || !maps.back().isIdentity())
    return std::nullopt;
  Dequantized d;
  std::optional<std::vector<int8_t>> q = constantI8Values(op.getDpsInputs()[0]);
  auto qType = cast<RankedTensorType>(op.getDpsInputs()[0].getType());
  if (!q || !qType.getElementType().isSignlessInteger(8) ||
      !qType.hasStaticShape())
    return std::nullopt;
  d.q = std::move(*q);
  d.shape.assign(qType.getShape().begin(), qType.getShape().end());
  // Body: extsi(q) [- extsi(zp)] -> sitofp -> mulf scale -> yield.
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto mul = yield.getValues()[0].getDefiningOp<arith::MulFOp>();
  if (!mul)
    return std::nullopt;
  BlockArgument qArg = body.getArgument(0), scaleArg = body.getArgument(1);
  Value converted = mul.getLhs() == scaleArg ? mul.getRhs() : mul.getLhs();
  if (mul.getLhs() != scaleArg && mul.getRhs() != scaleArg)
    return std::nullopt;
  auto toFloat = converted.getDefiningOp<arith::SIToFPOp>();
  if (!toFloat || !toFloat.getType().isF32())
    return std::nullopt;
  Value integer = toFloat.getIn();
  if (op.getNumDpsInputs() == 3) {
    // A zero point: it must be all zeros.
    auto sub = integer.getDefiningOp<arith::SubIOp>();
    std::optional<std::vector<int8_t>> zp =
        constantI8Values(op.getDpsInputs()[2]);
    if (!sub || !zp || llvm::any_of(*zp, [](int8_t v) { return v != 0; }))
      return std::nullopt;
    auto zpExt = sub.getRhs().getDefiningOp<arith::ExtSIOp>();
    if (!zpExt || zpExt.getIn() != body.getArgument(2))
      return std::nullopt;
    integer = sub.getLhs();
  }
  auto ext = integer.getDefiningOp<arith::ExtSIOp>();
  if (!ext || ext.getIn() != qArg)
    return std::nullopt;
  // The scale: constant, read along at most one dimension.
  std::optional<std::vector<float>> values =
      getConstantF32Values(lookThroughReshapes(op.getDpsInputs()[1]));
  if (!values)
    return std::nullopt;
  AffineMap scaleMap = maps[1];
  SmallVector<int64_t> varying;
  for (AffineExpr e : scaleMap.getResults()) {
    if (auto dim = dyn_cast<AffineDimExpr>(e))
      varying.push_back(dim.getPosition());
    else if (!isa<AffineConstantExpr>(e))
      return std::nullopt;
  }
  if (varying.size() > 1)
    return std::nullopt;
  if (varying.empty()) {
    if (values->size() != 1)
      return std::nullopt;
    d.perTensor = true;
  } else {
    d.scaleDim = varying[0];
    if (static_cast<int64_t>(values->size()) != d.shape[d.scaleDim])
      return std::nullopt;
  }
  d.scales = std::move(*values);
  return d;
}

struct RaiseDequantizedWeightsPass
    : spx::impl::SpxRaiseDequantizedWeightsBase<RaiseDequantizedWeightsPass> {
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> candidates;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (isContraction(op))
        candidates.push_back(op);
    });
    int64_t counter = 0;
    for (linalg::LinalgOp op : candidates)
      rewrite(op, counter);
  }

  void rewrite(linalg::LinalgOp op, int64_t &counter) {
    std::optional<Dequantized> found;
    auto weightOf = [&](Value operand, bool &transposed) -> Value {
      if (auto transpose = operand.getDefiningOp<linalg::TransposeOp>()) {
        if (transpose.getPermutation() != ArrayRef<int64_t>{1, 0})
          return {};
        transposed = !transposed;
        operand = transpose.getInput();
      }
      auto generic = operand.getDefiningOp<linalg::GenericOp>();
      if (!generic)
        return {};
      found = matchDequantize(generic);
      return found ? operand : Value();
    };
    std::optional<DenseProjection> p = matchDenseProjection(op, weightOf);
    if (!p || !found)
      return;
    // The scales must belong to output features (stored dimension 1 of a
    // [K, N] weight, 0 of [N, K]) or to the whole tensor.
    int64_t outputDim = p->weightNK ? 0 : 1;
    if (!found->perTensor && found->scaleDim != outputDim)
      return;

    // Values as nk ([N, K]): one contiguous row per output feature.
    const std::vector<int8_t> &stored = found->q;
    QuantizedWeight w;
    w.bits = 8;
    w.group = 0;
    w.layout = WeightLayout::nk;
    w.k = p->k;
    w.n = p->n;
    w.q.resize(stored.size());
    for (int64_t n = 0; n < p->n; ++n)
      for (int64_t k = 0; k < p->k; ++k)
        w.q[n * p->k + k] =
            p->weightNK ? stored[n * p->k + k] : stored[k * p->n + n];
    w.scales = found->perTensor ? std::vector<float>(p->n, found->scales[0])
                                : found->scales;

    OpBuilder b(op);
    Location loc = op.getLoc();
    auto [weight, scales] = createQuantizedConstants(
        b, loc, w, "prequantized_" + std::to_string(counter++),
        /*pack=*/false, /*stacked=*/false);
    MLIRContext *ctx = op.getContext();
    auto matmul = QuantMatmulOp::create(
        b, loc, op->getResult(0).getType(), p->input, weight, scales,
        WeightLayoutAttr::get(ctx, WeightLayout::nk),
        QuantAttr::get(ctx, 8, 0));
    op->getResult(0).replaceAllUsesWith(matmul.getOutput());
    op->erase();
  }
};

} // namespace
