//===- NeuronMajorWeights.cpp - one contiguous row per FFN neuron ---------===//

#include "parsimony/Dialect/Spx/Transforms/Passes.h"

#include "parsimony/Dialect/Spx/Transforms/WeightConstants.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

namespace mlir::spx {
#define GEN_PASS_DEF_SPXNEURONMAJORWEIGHTS
#include "parsimony/Dialect/Spx/Transforms/Passes.h.inc"
} // namespace mlir::spx

using namespace mlir;
using namespace mlir::spx;

namespace {

/// The copy of a constant f32 matrix, or stack of matrices (rank 3: one per
/// expert), with each matrix transposed; null if `weight` is not one.
Value transposedConstant(OpBuilder &b, Location loc, Value weight,
                         StringRef name) {
  auto type = cast<RankedTensorType>(weight.getType());
  int64_t rank = type.getRank();
  if ((rank != 2 && rank != 3) || !type.hasStaticShape() ||
      !type.getElementType().isF32())
    return {};
  std::optional<std::vector<float>> values = getConstantF32Values(weight);
  if (!values)
    return {};
  int64_t stack = rank == 3 ? type.getDimSize(0) : 1;
  int64_t rows = type.getDimSize(rank - 2), cols = type.getDimSize(rank - 1);
  std::vector<float> t;
  t.reserve(values->size());
  for (int64_t e = 0; e < stack; ++e) {
    std::vector<float> one =
        transpose(ArrayRef<float>(*values).slice(e * rows * cols, rows * cols),
                  rows, cols);
    t.insert(t.end(), one.begin(), one.end());
  }
  SmallVector<int64_t> shape(type.getShape());
  std::swap(shape[rank - 2], shape[rank - 1]);
  return createResourceConstant<float>(
      b, loc, RankedTensorType::get(shape, type.getElementType()), name, t);
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

/// Replaces `operand` (currently `weight`) by its transposed constant copy;
/// false, leaving it, if `weight` is not an f32 constant.
bool transposeOperand(OpBuilder &b, Location loc, Value weight,
                      MutableOperandRange operand, StringRef name) {
  Value t = transposedConstant(b, loc, weight, name);
  if (t)
    operand.assign(t);
  return static_cast<bool>(t);
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
        if (!quant)
          return transposeOperand(b, loc, weight, weightOperand, name);
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
    // Expert weights (f32; quantized experts keep the layout their
    // register-dequantizing kernels read): fc1 and fc3 nk, fc2 kn, so that
    // an expert's token group (5-64 rows in prefill) runs on the GEMM paths
    // that read the weight in place. The up-projections (K = D) stream
    // dot products against nk rows; the down-projection (K = F) would
    // otherwise pack a transposed copy of the whole [D, F] matrix per call.
    index = 0;
    getOperation()->walk([&](MoEOp op) {
      OpBuilder b(op);
      std::string prefix = "expert_major_" + std::to_string(index++);
      MLIRContext *ctx = op.getContext();
      auto flip = [&](Value weight, MutableOperandRange operand,
                      StringRef name) {
        return transposeOperand(b, op.getLoc(), weight, operand, name);
      };
      if (!op.getFc1QuantAttr() && op.getFc1Layout() == WeightLayout::kn &&
          flip(op.getFc1Weight(), op.getFc1WeightMutable(), prefix + "_fc1"))
        op.setFc1LayoutAttr(WeightLayoutAttr::get(ctx, WeightLayout::nk));
      if (op.getFc3Weight() && !op.getFc3QuantAttr() &&
          op.getFc3Layout() == WeightLayout::kn &&
          flip(op.getFc3Weight(), op.getFc3WeightMutable(), prefix + "_fc3"))
        op.setFc3LayoutAttr(WeightLayoutAttr::get(ctx, WeightLayout::nk));
      if (!op.getFc2QuantAttr() && op.getFc2Layout() == WeightLayout::nk &&
          flip(op.getFc2Weight(), op.getFc2WeightMutable(), prefix + "_fc2"))
        op.setFc2LayoutAttr(WeightLayoutAttr::get(ctx, WeightLayout::kn));
    });
  }
};

} // namespace
