//===- QuantizeWeights.cpp - weight-only int8/int4 quantization -----------===//
//
// Every constant f32 matmul weight becomes int8 (per output channel) or int4
// (group-wise, packed two per byte) with f32 scales, computed here from the
// f32 values. Dense projections become spx.quant_matmul; the spx ops keep
// their form and gain quantized weights. Routers stay f32.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Dialect/Spx/Transforms/Passes.h"

#include "DenseProjection.h"
#include "parsimony/Dialect/Spx/Transforms/WeightConstants.h"
#include "parsimony/Support/Contraction.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::spx {
#define GEN_PASS_DEF_SPXQUANTIZEWEIGHTS
#include "parsimony/Dialect/Spx/Transforms/Passes.h.inc"
} // namespace mlir::spx

using namespace mlir;
using namespace mlir::spx;

namespace {

/// The f32 constant behind `value` (directly, or through a 2-D transpose,
/// which flips `transposed`).
Value constantWeight(Value value, bool &transposed) {
  Value weight = weightThroughTranspose(value, transposed);
  if (!weight || !cast<RankedTensorType>(weight.getType()).hasStaticShape() ||
      !weight.getDefiningOp<arith::ConstantOp>())
    return {};
  return weight;
}

/// Contractions computing router logits: reached backwards from an spx.moe's
/// router_probs or a weightless spx.route's logits before any other
/// contraction.
llvm::DenseSet<Operation *> findRouters(ModuleOp module) {
  SmallVector<Value> worklist;
  module.walk([&](Operation *op) {
    if (auto moe = dyn_cast<MoEOp>(op))
      worklist.push_back(moe.getRouterProbs());
    else if (auto route = dyn_cast<RouteOp>(op);
             route && !route.getRouterWeight())
      worklist.push_back(route.getInput());
  });
  llvm::DenseSet<Operation *> routers;
  llvm::DenseSet<Value> seen;
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    if (!seen.insert(v).second)
      continue;
    Operation *def = v.getDefiningOp();
    if (!def || def->hasTrait<OpTrait::ConstantLike>())
      continue;
    if (parsimony::isMulAddContraction(def)) {
      routers.insert(def);
      continue;
    }
    for (Value operand : def->getOperands())
      worklist.push_back(operand);
  }
  return routers;
}

/// Erases `value`'s constant (or transposed constant) once nothing uses it,
/// so the f32 copy of a quantized weight does not linger.
void eraseIfDead(Value value) {
  Operation *def = value ? value.getDefiningOp() : nullptr;
  while (def && def->use_empty() &&
         isa<arith::ConstantOp, linalg::TransposeOp, tensor::EmptyOp>(def)) {
    Operation *next = nullptr;
    if (auto transpose = dyn_cast<linalg::TransposeOp>(def))
      next = transpose.getInput().getDefiningOp();
    Value init = isa<linalg::TransposeOp>(def) ? def->getOperand(1) : Value();
    def->erase();
    if (init)
      eraseIfDead(init);
    def = next;
  }
}

struct SpxQuantizeWeightsPass
    : mlir::spx::impl::SpxQuantizeWeightsBase<SpxQuantizeWeightsPass> {
  using Base::Base;

  unsigned bits = 8;
  int64_t group = 0;
  unsigned counter = 0;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    counter = 0;
    if (mode != "int8" && mode != "int4") {
      module.emitError() << "spx-quantize-weights: unknown mode '" << mode
                         << "' (expected int8 or int4)";
      return signalPassFailure();
    }
    bits = mode == "int8" ? 8 : 4;
    int64_t requested = groupSize;
    if (bits == 8 && requested != 0) {
      module.emitError() << "spx-quantize-weights: int8 is quantized per "
                            "output channel and takes no group size (got "
                         << requested << ")";
      return signalPassFailure();
    }
    if (bits == 4) {
      group = requested == 0 ? 64 : requested;
      if (group != 32 && group != 64 && group != 128) {
        module.emitError() << "spx-quantize-weights: the int4 group size "
                              "must be 32, 64 or 128, got "
                           << requested;
        return signalPassFailure();
      }
    }

    llvm::DenseSet<Operation *> routers = findRouters(module);
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<SparseFFNOp, ExpertFFNOp, MoEOp, SparseMatmulOp, SupportMatmulOp,
              PredictSupportOp>(op) ||
          (parsimony::isMulAddContraction(op) && !routers.contains(op)))
        ops.push_back(op);
    });
    for (Operation *op : ops)
      quantizeOp(op);
  }

  /// Quantized constants for `weight` (a constant f32 weight, optionally
  /// stacked per expert when `stacked`) stored in `layout`, or nothing.
  std::optional<std::tuple<Value, Value, QuantAttr>>
  quantize(OpBuilder &b, Location loc, Value weight, WeightLayout layout,
           bool stacked) {
    auto type = cast<RankedTensorType>(weight.getType());
    if (!type.getElementType().isF32() || !type.hasStaticShape() ||
        type.getRank() != (stacked ? 3 : 2))
      return std::nullopt;
    std::optional<std::vector<float>> values = getConstantF32Values(weight);
    if (!values)
      return std::nullopt;
    ArrayRef<int64_t> shape = type.getShape();
    int64_t rows = shape[shape.size() - 2], cols = shape.back();
    int64_t k = layout == WeightLayout::kn ? rows : cols;
    int64_t n = layout == WeightLayout::kn ? cols : rows;
    int64_t g = bits == 4 && k % group == 0 ? group : 0;
    QuantizedWeight q =
        quantizeWeight(*values, stacked ? shape[0] : 1, k, n, layout, bits, g);
    auto [w, s] = createQuantizedConstants(b, loc, q,
                                           "quant_" + std::to_string(counter++),
                                           /*pack=*/true, stacked);
    return std::make_tuple(w, s, QuantAttr::get(b.getContext(), bits, g));
  }

  /// Quantizes one weight operand group of an spx op in place.
  template <typename SetQuant>
  void quantizeOperand(OpBuilder &b, Location loc, Value weight, QuantAttr old,
                       WeightLayout layout, bool stacked,
                       MutableOperandRange weightOperand,
                       MutableOperandRange scalesOperand, SetQuant setQuant) {
    if (!weight || old)
      return;
    auto result = quantize(b, loc, weight, layout, stacked);
    if (!result)
      return;
    auto [w, s, quant] = *result;
    weightOperand.assign(w);
    scalesOperand.assign(s);
    setQuant(quant);
    eraseIfDead(weight);
  }

  void quantizeOp(Operation *op) {
    OpBuilder b(op);
    Location loc = op->getLoc();
    if (auto ffn = dyn_cast<SparseFFNOp>(op)) {
      quantizeOperand(b, loc, ffn.getUpWeight(), ffn.getUpQuantAttr(),
                      ffn.getUpLayout(), false, ffn.getUpWeightMutable(),
                      ffn.getUpScalesMutable(),
                      [&](QuantAttr q) { ffn.setUpQuantAttr(q); });
      quantizeOperand(b, loc, ffn.getGateWeight(), ffn.getGateQuantAttr(),
                      ffn.getGateLayout(), false, ffn.getGateWeightMutable(),
                      ffn.getGateScalesMutable(),
                      [&](QuantAttr q) { ffn.setGateQuantAttr(q); });
      quantizeOperand(b, loc, ffn.getDownWeight(), ffn.getDownQuantAttr(),
                      ffn.getDownLayout(), false, ffn.getDownWeightMutable(),
                      ffn.getDownScalesMutable(),
                      [&](QuantAttr q) { ffn.setDownQuantAttr(q); });
      return;
    }
    auto experts = [&](auto moe) {
      quantizeOperand(b, loc, moe.getFc1Weight(), moe.getFc1QuantAttr(),
                      moe.getFc1Layout(), true, moe.getFc1WeightMutable(),
                      moe.getFc1ScalesMutable(),
                      [&](QuantAttr q) { moe.setFc1QuantAttr(q); });
      quantizeOperand(b, loc, moe.getFc2Weight(), moe.getFc2QuantAttr(),
                      moe.getFc2Layout(), true, moe.getFc2WeightMutable(),
                      moe.getFc2ScalesMutable(),
                      [&](QuantAttr q) { moe.setFc2QuantAttr(q); });
      quantizeOperand(b, loc, moe.getFc3Weight(), moe.getFc3QuantAttr(),
                      moe.getFc3Layout(), true, moe.getFc3WeightMutable(),
                      moe.getFc3ScalesMutable(),
                      [&](QuantAttr q) { moe.setFc3QuantAttr(q); });
    };
    if (auto moe = dyn_cast<MoEOp>(op))
      return experts(moe);
    if (auto ffn = dyn_cast<ExpertFFNOp>(op))
      return experts(ffn);
    auto single = [&](auto mm) {
      quantizeOperand(b, loc, mm.getWeight(), mm.getQuantAttr(), mm.getLayout(),
                      false, mm.getWeightMutable(), mm.getScalesMutable(),
                      [&](QuantAttr q) { mm.setQuantAttr(q); });
    };
    if (auto mm = dyn_cast<SparseMatmulOp>(op))
      return single(mm);
    if (auto mm = dyn_cast<SupportMatmulOp>(op))
      return single(mm);
    if (auto predict = dyn_cast<PredictSupportOp>(op)) {
      if (predict.getPredictor() == PredictorKind::lowrank)
        single(predict);
      return;
    }
    auto linalgOp = cast<linalg::LinalgOp>(op);
    std::optional<DenseProjection> p =
        matchDenseProjection(linalgOp, constantWeight);
    if (!p)
      return;
    // Dense projections are stored nk: the GEMV kernel streams one
    // contiguous row (and its scales) per output feature.
    std::optional<std::vector<float>> values = getConstantF32Values(p->weight);
    if (!values)
      return;
    std::vector<float> nk =
        p->weightNK ? std::move(*values) : transpose(*values, p->k, p->n);
    int64_t g = bits == 4 && p->k % group == 0 ? group : 0;
    QuantizedWeight q =
        quantizeWeight(nk, 1, p->k, p->n, WeightLayout::nk, bits, g);
    auto [w, s] = createQuantizedConstants(
        b, loc, q, "quant_" + std::to_string(counter++), /*pack=*/true,
        /*stacked=*/false);
    MLIRContext *ctx = op->getContext();
    auto matmul =
        QuantMatmulOp::create(b, loc, op->getResult(0).getType(), p->input, w,
                              s, WeightLayoutAttr::get(ctx, WeightLayout::nk),
                              QuantAttr::get(ctx, bits, g));
    op->getResult(0).replaceAllUsesWith(matmul.getOutput());
    SmallVector<Value> operands(op->getOperands());
    op->erase();
    for (Value operand : operands) {
      if (auto fill = operand.getDefiningOp<linalg::FillOp>();
          fill && fill->use_empty()) {
        Value init = fill.getOutputs()[0];
        fill->erase();
        eraseIfDead(init);
        continue;
      }
      eraseIfDead(operand);
    }
  }
};

} // namespace
