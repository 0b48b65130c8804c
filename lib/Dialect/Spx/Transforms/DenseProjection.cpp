//===- DenseProjection.cpp - matching `x W` contractions ------------------===//

#include "DenseProjection.h"

#include "parsimony/Support/Contraction.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::spx;

namespace {

/// Position of a plain loop dimension, or -1.
int64_t dimPosition(AffineExpr expr) {
  auto dim = dyn_cast<AffineDimExpr>(expr);
  return dim ? static_cast<int64_t>(dim.getPosition()) : -1;
}

/// Whether `init` is a tensor of zeros (a fill with 0 or a zero splat).
bool isZero(Value v) {
  return matchPattern(v, m_AnyZeroFloat()) || matchPattern(v, m_Zero());
}

bool isZeroInit(Value init) {
  if (auto fill = init.getDefiningOp<linalg::FillOp>())
    return isZero(fill.getInputs()[0]);
  return isZero(init);
}

} // namespace

Value mlir::spx::lookThroughTranspose(Value value, bool &transposed) {
  auto transpose = value.getDefiningOp<linalg::TransposeOp>();
  if (!transpose)
    return value;
  if (transpose.getPermutation() != ArrayRef<int64_t>{1, 0})
    return {};
  transposed = !transposed;
  return transpose.getInput();
}

Value mlir::spx::weightThroughTranspose(Value value, bool &transposed) {
  value = lookThroughTranspose(value, transposed);
  if (!value)
    return {};
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || type.getRank() != 2 || !type.getElementType().isF32())
    return {};
  return value;
}

/// Matches a dense projection: f32 tensors, one reduction (K) and one
/// parallel (N) dimension in the weight, the activation indexed by the
/// output's leading dimensions then K, the result by them then N, and an
/// accumulator of zeros.
std::optional<DenseProjection>
mlir::spx::matchDenseProjection(linalg::LinalgOp op,
                                function_ref<Value(Value, bool &)> weightOf,
                                bool integer) {
  if (!parsimony::isMulAddContraction(op) || !op.hasPureTensorSemantics())
    return std::nullopt;
  for (Value v : op->getOperands()) {
    Type element = getElementTypeOrSelf(v.getType());
    if (integer ? !element.isSignlessInteger(32) : !element.isF32())
      return std::nullopt;
  }
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->k.size() != 1 || dims->n.size() != 1 ||
      !dims->batch.empty())
    return std::nullopt;
  if (!isZeroInit(op.getDpsInits()[0]))
    return std::nullopt;
  int64_t kd = dims->k[0], nd = dims->n[0];
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  AffineMap out = maps[2];
  if (out.getNumResults() == 0 || dimPosition(out.getResults().back()) != nd)
    return std::nullopt;
  for (int w : {1, 0}) {
    AffineMap wm = maps[w], am = maps[1 - w];
    if (wm.getNumResults() != 2)
      continue;
    int64_t d0 = dimPosition(wm.getResult(0)),
            d1 = dimPosition(wm.getResult(1));
    bool kn = d0 == kd && d1 == nd, nk = d0 == nd && d1 == kd;
    if (!kn && !nk)
      continue;
    // Activation: (leading..., k) with the output's leading dims, in order.
    if (am.getNumResults() != out.getNumResults() ||
        dimPosition(am.getResults().back()) != kd)
      continue;
    bool sameLeading = true;
    for (unsigned i = 0; i + 1 < out.getNumResults(); ++i)
      sameLeading &= dimPosition(am.getResult(i)) >= 0 &&
                     am.getResult(i) == out.getResult(i);
    if (!sameLeading)
      continue;
    bool transposed = nk;
    Value weight = weightOf(op.getDpsInputs()[w], transposed);
    if (!weight)
      continue;
    ArrayRef<int64_t> shape =
        cast<RankedTensorType>(weight.getType()).getShape();
    DenseProjection p;
    p.input = op.getDpsInputs()[1 - w];
    p.weight = weight;
    p.weightNK = transposed;
    p.k = transposed ? shape[1] : shape[0];
    p.n = transposed ? shape[0] : shape[1];
    return p;
  }
  return std::nullopt;
}
