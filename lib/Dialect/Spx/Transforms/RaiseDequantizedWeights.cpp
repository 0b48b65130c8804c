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

/// The dimension of a 2-D loop nest along which an operand read with `map`
/// varies: -1 when it is constant (a scalar or broadcast), nothing when it
/// varies along more than one or is read in another way.
std::optional<int64_t> varyingDim(AffineMap map) {
  SmallVector<int64_t> varying;
  for (AffineExpr e : map.getResults()) {
    if (auto dim = dyn_cast<AffineDimExpr>(e))
      varying.push_back(dim.getPosition());
    else if (!isa<AffineConstantExpr>(e))
      return std::nullopt;
  }
  if (varying.size() > 1)
    return std::nullopt;
  return varying.empty() ? -1 : varying[0];
}

/// The i8 block argument that `v` sign- or zero-extends (setting
/// `isUnsigned`), or null.
Value extendedArgument(Value v, bool &isUnsigned) {
  if (auto ext = v.getDefiningOp<arith::ExtSIOp>()) {
    isUnsigned = false;
    return ext.getIn();
  }
  if (auto ext = v.getDefiningOp<arith::ExtUIOp>()) {
    isUnsigned = true;
    return ext.getIn();
  }
  return {};
}

/// Matches `sitofp(ext(q) [- ext(zp)]) * scale` over a 2-D output with q an
/// int8 or uint8 constant read with the identity map, and zp (int8 or uint8)
/// and scale constants that each vary along at most one dimension. The values q
/// - zp must fit int8 (always for a zero zero point; for asymmetric or uint8
/// weights when the quantizer kept them within 256 levels around the zero
/// point); the raised weight holds them exactly.
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
  d.shape.assign(qType.getShape().begin(), qType.getShape().end());
  // Body: ext(q) [- ext(zp)] -> sitofp -> mulf scale -> yield.
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
  std::vector<int8_t> zp{0};
  bool zpUnsigned = false;
  int64_t zpDim = -1;
  if (op.getNumDpsInputs() == 3) {
    auto sub = integer.getDefiningOp<arith::SubIOp>();
    std::optional<std::vector<int8_t>> zpValues =
        constantI8Values(op.getDpsInputs()[2]);
    std::optional<int64_t> dim = varyingDim(maps[2]);
    if (!sub || !zpValues || !dim ||
        extendedArgument(sub.getRhs(), zpUnsigned) != body.getArgument(2))
      return std::nullopt;
    zpDim = *dim;
    zp = std::move(*zpValues);
    if (static_cast<int64_t>(zp.size()) != (zpDim < 0 ? 1 : d.shape[zpDim]))
      return std::nullopt;
    integer = sub.getLhs();
  }
  bool qUnsigned = false;
  if (extendedArgument(integer, qUnsigned) != qArg)
    return std::nullopt;
  // The scale: constant, read along at most one dimension. (The zero point
  // is folded into the values below, so its own layout does not matter.)
  std::optional<std::vector<float>> values =
      getConstantF32Values(lookThroughReshapes(op.getDpsInputs()[1]));
  std::optional<int64_t> scaleDim = varyingDim(maps[1]);
  if (!values || !scaleDim)
    return std::nullopt;
  if (*scaleDim < 0) {
    if (values->size() != 1)
      return std::nullopt;
    d.perTensor = true;
  } else {
    d.scaleDim = *scaleDim;
    if (static_cast<int64_t>(values->size()) != d.shape[d.scaleDim])
      return std::nullopt;
  }
  // q - zp, exactly, as int8.
  auto widen = [](int8_t v, bool isUnsigned) {
    return isUnsigned ? int32_t(uint8_t(v)) : int32_t(v);
  };
  int64_t cols = d.shape[1];
  d.q.resize(q->size());
  for (size_t i = 0; i < q->size(); ++i) {
    int64_t r = int64_t(i) / cols, c = int64_t(i) % cols;
    int64_t z = zpDim < 0 ? 0 : (zpDim == 0 ? r : c);
    int32_t v = widen((*q)[i], qUnsigned) - widen(zp[z], zpUnsigned);
    if (v < -128 || v > 127)
      return std::nullopt;
    d.q[i] = static_cast<int8_t>(v);
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
