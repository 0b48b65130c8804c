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

/// The transposed copy of a constant quantized weight (values and scales),
/// or nothing if it is not one.
std::optional<std::pair<Value, Value>>
transposedQuantized(OpBuilder &b, Location loc, Value weight, Value scales,
                    QuantAttr quant, WeightLayout layout, StringRef name) {
  std::optional<QuantizedWeight> w =
      getQuantizedConstant(weight, scales, quant, layout);
  if (!w)
    return std::nullopt;
  return createQuantizedConstants(b, loc, transposeQuantized(*w), name,
                                  /*pack=*/true, /*stacked=*/false);
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
      auto flip = [&](Value weight, Value scales, QuantAttr quant,
                      WeightLayout layout, MutableOperandRange weightOperand,
                      MutableOperandRange scalesOperand, StringRef name) {
        if (!quant) {
          Value t = transposedConstant(b, loc, weight, name);
          if (t)
            weightOperand.assign(t);
          return static_cast<bool>(t);
        }
        // Quantized: values and scales move together, so a neuron is still
        // one contiguous row with its scales.
        auto t =
            transposedQuantized(b, loc, weight, scales, quant, layout, name);
        if (!t)
          return false;
        weightOperand.assign(t->first);
        scalesOperand.assign(t->second);
        return true;
      };
      if (op.getUpLayout() == WeightLayout::kn &&
          flip(op.getUpWeight(), op.getUpScales(), op.getUpQuantAttr(),
               WeightLayout::kn, op.getUpWeightMutable(),
               op.getUpScalesMutable(), prefix + "_up"))
        op.setUpLayoutAttr(WeightLayoutAttr::get(ctx, WeightLayout::nk));
      if (op.getGateWeight() && op.getGateLayout() == WeightLayout::kn &&
          flip(op.getGateWeight(), op.getGateScales(), op.getGateQuantAttr(),
               WeightLayout::kn, op.getGateWeightMutable(),
               op.getGateScalesMutable(), prefix + "_gate"))
        op.setGateLayoutAttr(WeightLayoutAttr::get(ctx, WeightLayout::nk));
      // Down: [D, F] (nk) -> [F, D] (kn).
      if (op.getDownLayout() == WeightLayout::nk &&
          flip(op.getDownWeight(), op.getDownScales(), op.getDownQuantAttr(),
               WeightLayout::nk, op.getDownWeightMutable(),
               op.getDownScalesMutable(), prefix + "_down"))
        op.setDownLayoutAttr(WeightLayoutAttr::get(ctx, WeightLayout::kn));
    });
  }
};

} // namespace
