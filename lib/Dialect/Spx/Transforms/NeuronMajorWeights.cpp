//===- NeuronMajorWeights.cpp - one contiguous row per FFN neuron ---------===//

#include "parsimony/Dialect/Spx/Transforms/Passes.h"

#include "WeightConstants.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

namespace mlir::spx {
#define GEN_PASS_DEF_SPXNEURONMAJORWEIGHTS
#include "parsimony/Dialect/Spx/Transforms/Passes.h.inc"
} // namespace mlir::spx

using namespace mlir;
using namespace mlir::spx;

namespace {

/// The transposed copy of a constant f32 matrix, or null if `weight` is not
/// one.
Value transposedConstant(OpBuilder &b, Location loc, Value weight,
                         StringRef name) {
  auto type = cast<RankedTensorType>(weight.getType());
  if (type.getRank() != 2 || !type.getElementType().isF32())
    return {};
  std::optional<std::vector<float>> values = getConstantF32Values(weight);
  if (!values)
    return {};
  int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
  std::vector<float> t = transpose(*values, rows, cols);
  return createResourceConstant<float>(
      b, loc, RankedTensorType::get({cols, rows}, type.getElementType()), name,
      t);
}

struct SpxNeuronMajorWeightsPass
    : mlir::spx::impl::SpxNeuronMajorWeightsBase<SpxNeuronMajorWeightsPass> {
  void runOnOperation() override {
    unsigned index = 0;
    getOperation()->walk([&](SparseFFNOp op) {
      OpBuilder b(op);
      Location loc = op.getLoc();
      std::string prefix = "neuron_major_" + std::to_string(index++);
      MLIRContext *ctx = op.getContext();
      // Up and gate: [D, F] (kn) -> [F, D] (nk).
      if (op.getUpLayout() == WeightLayout::kn && !op.getUpQuantAttr())
        if (Value t =
                transposedConstant(b, loc, op.getUpWeight(), prefix + "_up")) {
          op.getUpWeightMutable().assign(t);
          op.setUpLayoutAttr(WeightLayoutAttr::get(ctx, WeightLayout::nk));
        }
      if (op.getGateWeight() && op.getGateLayout() == WeightLayout::kn &&
          !op.getGateQuantAttr())
        if (Value t = transposedConstant(b, loc, op.getGateWeight(),
                                         prefix + "_gate")) {
          op.getGateWeightMutable().assign(t);
          op.setGateLayoutAttr(WeightLayoutAttr::get(ctx, WeightLayout::nk));
        }
      // Down: [D, F] (nk) -> [F, D] (kn).
      if (op.getDownLayout() == WeightLayout::nk && !op.getDownQuantAttr())
        if (Value t = transposedConstant(b, loc, op.getDownWeight(),
                                         prefix + "_down")) {
          op.getDownWeightMutable().assign(t);
          op.setDownLayoutAttr(WeightLayoutAttr::get(ctx, WeightLayout::kn));
        }
    });
  }
};

} // namespace
