//===- SpxOps.cpp - spx operation verifiers, folds, canonicalizations -----===//

#include "parsimony/Dialect/Spx/IR/SpxOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>
#include <optional>

using namespace mlir;
using namespace mlir::spx;

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

static constexpr int64_t kDynamic = ShapedType::kDynamic;

/// Two sizes agree unless both are known and differ.
static bool sizesAgree(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

static std::string sizeStr(int64_t size) {
  return ShapedType::isDynamic(size) ? std::string("?") : std::to_string(size);
}

static RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

/// Checks that `value` has rank `rank` and that every dimension agrees with
/// `expected` (kDynamic entries accept any size).
static LogicalResult verifyShape(Operation *op, StringRef name, Value value,
                                 ArrayRef<int64_t> expected) {
  RankedTensorType type = tensorType(value);
  if (type.getRank() != static_cast<int64_t>(expected.size()))
    return op->emitOpError()
           << name << " must have rank " << expected.size() << ", got " << type;
  for (auto [i, pair] : llvm::enumerate(llvm::zip(type.getShape(), expected))) {
    auto [got, want] = pair;
    if (!sizesAgree(got, want))
      return op->emitOpError() << name << " dimension " << i << " must be "
                               << sizeStr(want) << ", got " << type;
  }
  return success();
}

bool spx::isPackedInt4(Type elementType, QuantAttr quant) {
  return quant && quant.getBits() == 4 && elementType.isInteger(8);
}

/// The input features K and output features N of a weight.
struct WeightDims {
  int64_t inFeatures = kDynamic;
  int64_t outFeatures = kDynamic;
};

/// Verifies a weight operand: its rank (`numBatchDims` leading expert
/// dimensions plus a matrix), its layout, and the consistency of its
/// quantization attribute, element type and scales.
static FailureOr<WeightDims> verifyWeight(Operation *op, StringRef name,
                                          Value weight, Value scales,
                                          QuantAttr quant, WeightLayout layout,
                                          unsigned numBatchDims = 0) {
  RankedTensorType type = tensorType(weight);
  int64_t rank = numBatchDims + 2;
  if (type.getRank() != rank)
    return op->emitOpError()
           << name << " weight must have rank " << rank << ", got " << type;
  Type elementType = type.getElementType();
  // Packed int4 (i8 storage of a 4-bit weight) halves the innermost
  // dimension; everything below works on the logical shape.
  bool packed = isPackedInt4(elementType, quant);
  SmallVector<int64_t> shape(type.getShape());
  if (packed && !ShapedType::isDynamic(shape.back())) {
    shape.back() *= 2;
    if (shape.back() % 32 != 0)
      return op->emitOpError()
             << name << " weight is packed int4 with rows of " << shape.back()
             << " values; packed rows must hold a multiple of 32";
  }
  int64_t kDim = layout == WeightLayout::kn ? rank - 2 : rank - 1;
  int64_t nDim = layout == WeightLayout::kn ? rank - 1 : rank - 2;
  WeightDims dims{shape[kDim], shape[nDim]};

  if (!isa<IntegerType>(elementType)) {
    if (quant || scales)
      return op->emitOpError()
             << name << " weight is floating point (" << elementType
             << ") but has quantization scales or a quant attribute";
    return dims;
  }

  if (!quant)
    return op->emitOpError() << name << " weight of type " << type
                             << " is quantized but has no quant attribute";
  if (!packed && elementType.getIntOrFloatBitWidth() != quant.getBits())
    return op->emitOpError() << name << " weight element type " << elementType
                             << " does not match the " << quant.getBits()
                             << "-bit quant attribute";
  if (!scales)
    return op->emitOpError()
           << name << " weight is quantized but has no scales";

  SmallVector<int64_t> expected(shape);
  if (quant.isPerChannel()) {
    expected.erase(expected.begin() + kDim);
  } else {
    int64_t group = quant.getGroupSize();
    if (!ShapedType::isDynamic(dims.inFeatures) && dims.inFeatures % group != 0)
      return op->emitOpError()
             << name << " weight input dimension " << dims.inFeatures
             << " is not a multiple of the quantization group size " << group;
    expected[kDim] = ShapedType::isDynamic(dims.inFeatures)
                         ? kDynamic
                         : dims.inFeatures / group;
  }
  if (failed(verifyShape(op, (name + " scales").str(), scales, expected)))
    return failure();
  return dims;
}

/// Checks `value` is `[..., features]` with the same leading dimensions as
/// `reference`.
static LogicalResult verifyTokenShape(Operation *op, StringRef name,
                                      Value value, Value reference,
                                      int64_t features) {
  SmallVector<int64_t> expected(tensorType(reference).getShape());
  expected.back() = features;
  return verifyShape(op, name, value, expected);
}

static LogicalResult verifySameElementType(Operation *op, Value a, Value b) {
  if (getElementTypeOrSelf(a.getType()) != getElementTypeOrSelf(b.getType()))
    return op->emitOpError()
           << "result element type " << getElementTypeOrSelf(b.getType())
           << " must match the input element type "
           << getElementTypeOrSelf(a.getType());
  return success();
}

static LogicalResult verifyAtLeastRank(Operation *op, StringRef name,
                                       Value value, int64_t rank) {
  if (tensorType(value).getRank() < rank)
    return op->emitOpError() << name << " must have rank >= " << rank
                             << ", got " << value.getType();
  return success();
}

//===----------------------------------------------------------------------===//
// TopKActivationOp
//===----------------------------------------------------------------------===//

int64_t TopKActivationOp::getNormalizedAxis() {
  int64_t axis = getAxisAttr().getInt();
  return axis < 0 ? axis + getInput().getType().getRank() : axis;
}

LogicalResult TopKActivationOp::verify() {
  int64_t rank = getInput().getType().getRank();
  if (rank == 0)
    return emitOpError("requires an input of rank >= 1");
  int64_t axis = getAxisAttr().getInt();
  if (axis < -rank || axis >= rank)
    return emitOpError() << "axis " << axis << " is out of range for rank "
                         << rank;
  int64_t size = getInput().getType().getDimSize(getNormalizedAxis());
  if (!ShapedType::isDynamic(size) && static_cast<int64_t>(getK()) > size)
    return emitOpError() << "k = " << getK() << " exceeds the size " << size
                         << " of axis " << axis;
  float recall = getRecallTarget().convertToFloat();
  if (!(recall > 0.0f && recall <= 1.0f))
    return emitOpError() << "recall_target must be in (0, 1], got " << recall;
  return success();
}

OpFoldResult TopKActivationOp::fold(FoldAdaptor) {
  // Keeping every entry is the identity.
  if (getInput().getType().getDimSize(getNormalizedAxis()) ==
      static_cast<int64_t>(getK()))
    return getInput();
  return {};
}

//===----------------------------------------------------------------------===//
// SparseMatmulOp / SupportMatmulOp / PredictSupportOp
//===----------------------------------------------------------------------===//

LogicalResult SparseMatmulOp::verify() {
  FailureOr<WeightDims> dims = verifyWeight(
      *this, "the", getWeight(), getScales(), getQuantAttr(), getLayout());
  if (failed(dims) ||
      failed(verifyAtLeastRank(*this, "input", getInput(), 1)) ||
      failed(verifyTokenShape(*this, "input", getInput(), getInput(),
                              dims->inFeatures)) ||
      failed(verifyTokenShape(*this, "result", getOutput(), getInput(),
                              dims->outFeatures)))
    return failure();
  return verifySameElementType(*this, getInput(), getOutput());
}

/// The epilogue operands of a dense product (spx.matmul,
/// spx.quant_matmul): a 1-D bias over the output features, a residual of
/// the result's type, and an activation the epilogue can apply alone.
static LogicalResult verifyEpilogue(Operation *op, Value bias, Value residual,
                                    Activation activation, int64_t outFeatures,
                                    Value output) {
  if (activation == Activation::swiglu)
    return op->emitOpError() << "cannot fuse a swiglu activation (it gates "
                                "with a second projection)";
  if (bias) {
    auto type = tensorType(bias);
    if (type.getRank() != 1 || type.getDimSize(0) != outFeatures)
      return op->emitOpError() << "bias must be 1-D with " << outFeatures
                               << " elements, got " << type;
    if (failed(verifySameElementType(op, bias, output)))
      return failure();
  }
  if (residual && residual.getType() != output.getType())
    return op->emitOpError()
           << "residual must have the result's type " << output.getType()
           << ", got " << residual.getType();
  return success();
}

LogicalResult QuantMatmulOp::verify() {
  if (!isa<IntegerType>(getWeight().getType().getElementType()))
    return emitOpError() << "needs a quantized (i8 or i4) weight, got "
                         << getWeight().getType();
  FailureOr<WeightDims> dims = verifyWeight(
      *this, "the", getWeight(), getScales(), getQuantAttr(), getLayout());
  if (failed(dims) ||
      failed(verifyAtLeastRank(*this, "input", getInput(), 1)) ||
      failed(verifyTokenShape(*this, "input", getInput(), getInput(),
                              dims->inFeatures)) ||
      failed(verifyTokenShape(*this, "result", getOutput(), getInput(),
                              dims->outFeatures)))
    return failure();
  if (getInput().getType().getElementType().isInteger(8)) {
    if (!getOutput().getType().getElementType().isF32())
      return emitOpError() << "with 8-bit integer input must produce f32, got "
                           << getOutput().getType();
  } else {
    if (getInputZeroPoint() || getInputUnsigned())
      return emitOpError() << "input_zero_point and input_unsigned need an "
                              "8-bit integer input, got "
                           << getInput().getType();
    if (failed(verifySameElementType(*this, getInput(), getOutput())))
      return failure();
  }
  return verifyEpilogue(*this, getBias(), getResidual(), getActivation(),
                        dims->outFeatures, getOutput());
}

LogicalResult MatmulOp::verify() {
  FailureOr<WeightDims> dims = verifyWeight(*this, "the", getWeight(), Value(),
                                            QuantAttr(), getLayout());
  if (failed(dims) ||
      failed(verifyAtLeastRank(*this, "input", getInput(), 1)) ||
      failed(verifyTokenShape(*this, "input", getInput(), getInput(),
                              dims->inFeatures)) ||
      failed(verifyTokenShape(*this, "result", getOutput(), getInput(),
                              dims->outFeatures)) ||
      failed(verifySameElementType(*this, getInput(), getOutput())) ||
      failed(verifySameElementType(*this, getWeight(), getOutput())))
    return failure();
  return verifyEpilogue(*this, getBias(), getResidual(), getActivation(),
                        dims->outFeatures, getOutput());
}

LogicalResult SupportMatmulOp::verify() {
  FailureOr<WeightDims> dims = verifyWeight(
      *this, "the", getWeight(), getScales(), getQuantAttr(), getLayout());
  if (failed(dims) || failed(verifyAtLeastRank(*this, "input", getInput(), 1)))
    return failure();
  int64_t supportSize = getSupport().getType().getShape().back();
  if (failed(verifyTokenShape(*this, "support", getSupport(), getInput(),
                              supportSize)))
    return failure();
  bool gatherOutputs = getSide() == SupportSide::output;
  int64_t inFeatures = gatherOutputs ? dims->inFeatures : supportSize;
  int64_t outFeatures = gatherOutputs ? supportSize : dims->outFeatures;
  if (failed(verifyTokenShape(*this, "input", getInput(), getInput(),
                              inFeatures)) ||
      failed(verifyTokenShape(*this, "result", getOutput(), getInput(),
                              outFeatures)))
    return failure();
  return verifySameElementType(*this, getInput(), getOutput());
}

LogicalResult PredictSupportOp::verify() {
  if (failed(verifyAtLeastRank(*this, "input", getInput(), 1)))
    return failure();
  WeightDims dims;
  if (getPredictor() == PredictorKind::quantized) {
    if (getFactor())
      return emitOpError("a quantized predictor takes no low-rank factor");
    if (!isa<IntegerType>(getWeight().getType().getElementType()))
      return emitOpError("a quantized predictor needs an i8 or i4 weight");
    FailureOr<WeightDims> verified =
        verifyWeight(*this, "predictor", getWeight(), getScales(),
                     getQuantAttr(), getLayout());
    if (failed(verified))
      return failure();
    dims = *verified;
  } else {
    if (!getFactor())
      return emitOpError("a low-rank predictor needs a factor operand");
    if (getLayout() != WeightLayout::kn)
      return emitOpError("a low-rank predictor uses the kn layout");
    FailureOr<WeightDims> first =
        verifyWeight(*this, "predictor", getWeight(), getScales(),
                     getQuantAttr(), getLayout());
    FailureOr<WeightDims> second =
        failed(first) ? FailureOr<WeightDims>(failure())
                      : verifyWeight(*this, "factor", getFactor(), Value(),
                                     QuantAttr(), WeightLayout::kn);
    if (failed(second))
      return failure();
    if (!sizesAgree(first->outFeatures, second->inFeatures))
      return emitOpError() << "low-rank factors disagree on the rank: "
                           << sizeStr(first->outFeatures) << " vs "
                           << sizeStr(second->inFeatures);
    dims = {first->inFeatures, second->outFeatures};
  }
  if (failed(verifyTokenShape(*this, "input", getInput(), getInput(),
                              dims.inFeatures)))
    return failure();
  if (getBias() &&
      failed(verifyShape(*this, "bias", getBias(), {dims.outFeatures})))
    return failure();
  if (!ShapedType::isDynamic(dims.outFeatures) &&
      static_cast<int64_t>(getK()) > dims.outFeatures)
    return emitOpError() << "k = " << getK() << " exceeds the "
                         << dims.outFeatures << " neurons";
  return verifyTokenShape(*this, "result", getSupport(), getInput(),
                          static_cast<int64_t>(getK()));
}

//===----------------------------------------------------------------------===//
// SparseFFNOp
//===----------------------------------------------------------------------===//

int64_t SparseFFNOp::getHiddenSize() {
  RankedTensorType type = getUpWeight().getType();
  if (getUpLayout() == WeightLayout::nk)
    return type.getDimSize(0);
  // kn: the (innermost) neuron dimension holds two values per byte when
  // the weight is packed int4.
  int64_t size = type.getDimSize(1);
  if (!ShapedType::isDynamic(size) &&
      isPackedInt4(type.getElementType(), getUpQuantAttr()))
    size *= 2;
  return size;
}

LogicalResult SparseFFNOp::verify() {
  if (failed(verifyAtLeastRank(*this, "input", getInput(), 1)))
    return failure();
  if (getActivation() == Activation::swiglu)
    return emitOpError("swiglu is an expert activation; express a gated FFN "
                       "with a gate weight and silu");
  FailureOr<WeightDims> up =
      verifyWeight(*this, "up", getUpWeight(), getUpScales(), getUpQuantAttr(),
                   getUpLayout());
  if (failed(up))
    return failure();
  int64_t model = up->inFeatures, hidden = up->outFeatures;
  if (getGateWeight()) {
    FailureOr<WeightDims> gate =
        verifyWeight(*this, "gate", getGateWeight(), getGateScales(),
                     getGateQuantAttr(), getGateLayout());
    if (failed(gate))
      return failure();
    if (!sizesAgree(gate->inFeatures, model) ||
        !sizesAgree(gate->outFeatures, hidden))
      return emitOpError("gate weight must map the same features as the up "
                         "weight");
  } else if (getGateScales() || getGateQuantAttr()) {
    return emitOpError("gate scales or quant attribute without a gate weight");
  }
  FailureOr<WeightDims> down =
      verifyWeight(*this, "down", getDownWeight(), getDownScales(),
                   getDownQuantAttr(), getDownLayout());
  if (failed(down))
    return failure();
  if (!sizesAgree(down->inFeatures, hidden) ||
      !sizesAgree(down->outFeatures, model))
    return emitOpError() << "down weight must map " << sizeStr(hidden)
                         << " hidden features back to " << sizeStr(model)
                         << " model features";
  if (failed(verifyTokenShape(*this, "input", getInput(), getInput(), model)) ||
      failed(
          verifyTokenShape(*this, "result", getOutput(), getInput(), model)) ||
      failed(verifySameElementType(*this, getInput(), getOutput())))
    return failure();
  if (getUpBias() &&
      failed(verifyShape(*this, "up bias", getUpBias(), {hidden})))
    return failure();
  if (getDownBias() &&
      failed(verifyShape(*this, "down bias", getDownBias(), {model})))
    return failure();
  if (getResidual() && getResidual().getType() != getOutput().getType())
    return emitOpError() << "residual must have the result's type "
                         << getOutput().getType() << ", got "
                         << getResidual().getType();
  if (std::optional<uint64_t> topk = getTopk();
      topk && !ShapedType::isDynamic(hidden) &&
      static_cast<int64_t>(*topk) > hidden)
    return emitOpError() << "topk = " << *topk << " exceeds the hidden size "
                         << hidden;
  if (Value support = getSupport()) {
    int64_t supportSize = tensorType(support).getShape().back();
    if (failed(verifyTokenShape(*this, "support", support, getInput(),
                                supportSize)))
      return failure();
  } else if (getSupportBlock() != 1) {
    return emitOpError("support_block needs a support operand");
  }
  return success();
}

namespace {
/// `topk` equal to the hidden size keeps every neuron.
struct DropFullTopK : OpRewritePattern<SparseFFNOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SparseFFNOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<uint64_t> topk = op.getTopk();
    if (!topk || static_cast<int64_t>(*topk) != op.getHiddenSize())
      return failure();
    rewriter.modifyOpInPlace(op, [&] { op.removeTopkAttr(); });
    return success();
  }
};
} // namespace

void SparseFFNOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                              MLIRContext *context) {
  results.add<DropFullTopK>(context);
}

//===----------------------------------------------------------------------===//
// RouteOp
//===----------------------------------------------------------------------===//

int64_t RouteOp::getNumExperts() {
  if (getRouterWeight())
    return getRouterWeight().getType().getDimSize(1);
  return getInput().getType().getDimSize(1);
}

LogicalResult RouteOp::verify() {
  RankedTensorType input = getInput().getType();
  if (input.getRank() != 2)
    return emitOpError() << "input must be [tokens, features], got " << input;
  if (getRouterWeight()) {
    if (failed(verifyShape(*this, "router weight", getRouterWeight(),
                           {input.getDimSize(1), kDynamic})))
      return failure();
  } else {
    if (!input.getElementType().isF32())
      return emitOpError() << "router logits must be f32 (the router always "
                              "runs in f32), got "
                           << input.getElementType();
    if (getRouterBias())
      return emitOpError("a router bias needs a router weight");
  }
  int64_t experts = getNumExperts();
  if (getRouterBias() &&
      failed(verifyShape(*this, "router bias", getRouterBias(), {experts})))
    return failure();
  int64_t k = static_cast<int64_t>(getK());
  if (!ShapedType::isDynamic(experts) && k > experts)
    return emitOpError() << "k = " << k << " exceeds the " << experts
                         << " experts";
  if (failed(verifyShape(*this, "gates", getGates(), {input.getDimSize(0), k})))
    return failure();
  return verifyShape(*this, "experts", getExperts(), {input.getDimSize(0), k});
}

//===----------------------------------------------------------------------===//
// DispatchOp
//===----------------------------------------------------------------------===//

int64_t DispatchOp::getCapacity(int64_t numTokens, int64_t numExperts,
                                float capacityFactor) {
  return static_cast<int64_t>(
      std::ceil(static_cast<double>(numTokens) * capacityFactor / numExperts));
}

int64_t DispatchOp::getNumRows(int64_t numTokens, int64_t topK) {
  if (ShapedType::isDynamic(numTokens))
    return kDynamic;
  if (getMode() == DispatchMode::dropless)
    return numTokens * topK;
  int64_t experts = static_cast<int64_t>(getNumExperts());
  return experts *
         getCapacity(numTokens, experts, getCapacityFactor().convertToFloat());
}

LogicalResult DispatchOp::verify() {
  RankedTensorType input = getInput().getType();
  RankedTensorType experts = getExperts().getType();
  if (input.getRank() != 2)
    return emitOpError() << "input must be [tokens, features], got " << input;
  if (experts.getRank() != 2)
    return emitOpError() << "experts must be [tokens, k], got " << experts;
  int64_t tokens = input.getDimSize(0), k = experts.getDimSize(1);
  if (!sizesAgree(tokens, experts.getDimSize(0)))
    return emitOpError("input and experts disagree on the number of tokens");
  if (!(getCapacityFactor().convertToFloat() > 0.0f))
    return emitOpError("capacity_factor must be positive");
  int64_t rows = ShapedType::isDynamic(k) ? kDynamic : getNumRows(tokens, k);
  int64_t numExperts = static_cast<int64_t>(getNumExperts());
  if (failed(
          verifyShape(*this, "rows", getRows(), {rows, input.getDimSize(1)})) ||
      failed(verifySameElementType(*this, getInput(), getRows())) ||
      failed(verifyShape(*this, "group_offsets", getGroupOffsets(),
                         {numExperts})) ||
      failed(verifyShape(*this, "group_sizes", getGroupSizes(), {numExperts})))
    return failure();
  return verifyShape(*this, "slots", getSlots(), {tokens, k});
}

//===----------------------------------------------------------------------===//
// ExpertFFNOp / MoEOp
//===----------------------------------------------------------------------===//

/// Verifies the stacked expert weights shared by `spx.expert_ffn` and
/// `spx.moe` against `model` features and `experts` experts.
template <typename OpTy>
static LogicalResult verifyExperts(OpTy op, int64_t model, int64_t experts) {
  Operation *raw = op.getOperation();
  bool swiglu = op.getActivation() == Activation::swiglu;
  bool fused = op.getSwigluFusion() != SwiGLUFusion::none;
  if (fused && !swiglu)
    return op.emitOpError("swiglu_fusion needs activation swiglu");
  if (fused && op.getFc3Weight())
    return op.emitOpError("swiglu_fusion packs gate and value into fc1; fc3 "
                          "must be absent");
  if (swiglu && !fused && !op.getFc3Weight())
    return op.emitOpError("swiglu needs an fc3 weight or a swiglu_fusion "
                          "layout for fc1");
  if (!swiglu && op.getSwigluLimit())
    return op.emitOpError("swiglu_limit needs activation swiglu");

  FailureOr<WeightDims> fc1 =
      verifyWeight(raw, "fc1", op.getFc1Weight(), op.getFc1Scales(),
                   op.getFc1QuantAttr(), op.getFc1Layout(), 1);
  FailureOr<WeightDims> fc2 =
      failed(fc1)
          ? FailureOr<WeightDims>(failure())
          : verifyWeight(raw, "fc2", op.getFc2Weight(), op.getFc2Scales(),
                         op.getFc2QuantAttr(), op.getFc2Layout(), 1);
  if (failed(fc2))
    return failure();
  int64_t hidden = fc2->inFeatures;
  int64_t fc1Out = fused && !ShapedType::isDynamic(hidden) ? 2 * hidden
                   : fused                                 ? kDynamic
                                                           : hidden;
  if (!sizesAgree(fc1->inFeatures, model) ||
      !sizesAgree(fc1->outFeatures, fc1Out))
    return op.emitOpError() << "fc1 weight must map " << sizeStr(model)
                            << " to " << sizeStr(fc1Out) << " features, got "
                            << op.getFc1Weight().getType();
  if (!sizesAgree(fc2->outFeatures, model))
    return op.emitOpError() << "fc2 weight must map back to " << sizeStr(model)
                            << " features, got " << op.getFc2Weight().getType();
  // Every stacked weight has one matrix per expert.
  int64_t stack = ShapedType::isDynamic(experts)
                      ? op.getFc1Weight().getType().getDimSize(0)
                      : experts;
  if (failed(verifyShape(raw, "fc1 weight", op.getFc1Weight(),
                         {stack, kDynamic, kDynamic})) ||
      failed(verifyShape(raw, "fc2 weight", op.getFc2Weight(),
                         {stack, kDynamic, kDynamic})))
    return failure();
  if (op.getFc1Bias() &&
      failed(verifyShape(raw, "fc1 bias", op.getFc1Bias(), {stack, fc1Out})))
    return failure();
  if (op.getFc2Bias() &&
      failed(verifyShape(raw, "fc2 bias", op.getFc2Bias(), {stack, model})))
    return failure();
  if (op.getFc3Weight()) {
    FailureOr<WeightDims> fc3 =
        verifyWeight(raw, "fc3", op.getFc3Weight(), op.getFc3Scales(),
                     op.getFc3QuantAttr(), op.getFc3Layout(), 1);
    if (failed(fc3))
      return failure();
    if (!sizesAgree(fc3->inFeatures, model) ||
        !sizesAgree(fc3->outFeatures, hidden) ||
        failed(verifyShape(raw, "fc3 weight", op.getFc3Weight(),
                           {stack, kDynamic, kDynamic})))
      return op.emitOpError() << "fc3 weight must map " << sizeStr(model)
                              << " to " << sizeStr(hidden) << " features";
    if (op.getFc3Bias() &&
        failed(verifyShape(raw, "fc3 bias", op.getFc3Bias(), {stack, hidden})))
      return failure();
  } else if (op.getFc3Scales() || op.getFc3Bias() || op.getFc3QuantAttr()) {
    return op.emitOpError("fc3 scales, bias or quant attribute without an fc3 "
                          "weight");
  }
  return success();
}

LogicalResult ExpertFFNOp::verify() {
  RankedTensorType rows = getRows().getType();
  if (rows.getRank() != 2)
    return emitOpError() << "rows must be [rows, features], got " << rows;
  int64_t experts = getGroupOffsets().getType().getRank() == 1
                        ? getGroupOffsets().getType().getDimSize(0)
                        : kDynamic;
  if (failed(
          verifyShape(*this, "group_offsets", getGroupOffsets(), {experts})) ||
      failed(verifyShape(*this, "group_sizes", getGroupSizes(), {experts})) ||
      failed(verifyExperts(*this, rows.getDimSize(1), experts)) ||
      failed(verifyShape(*this, "result", getOutput(), rows.getShape())))
    return failure();
  return verifySameElementType(*this, getRows(), getOutput());
}

LogicalResult CombineOp::verify() {
  RankedTensorType out = getExpertOutput().getType();
  if (out.getRank() != 2)
    return emitOpError() << "expert output must be [rows, features], got "
                         << out;
  RankedTensorType slots = getSlots().getType();
  if (slots.getRank() != 2)
    return emitOpError() << "slots must be [tokens, k], got " << slots;
  if (failed(verifyShape(*this, "gates", getGates(), slots.getShape())) ||
      failed(verifyShape(*this, "result", getOutput(),
                         {slots.getDimSize(0), out.getDimSize(1)})))
    return failure();
  if (getResidual() && getResidual().getType() != getOutput().getType())
    return emitOpError() << "residual must have the result's type "
                         << getOutput().getType() << ", got "
                         << getResidual().getType();
  return verifySameElementType(*this, getExpertOutput(), getOutput());
}

int64_t MoEOp::getNumExperts() {
  return getRouterProbs().getType().getDimSize(1);
}

LogicalResult MoEOp::verify() {
  RankedTensorType input = getInput().getType();
  if (input.getRank() != 2 && input.getRank() != 3)
    return emitOpError() << "input must be [tokens, hidden] or [batch, "
                            "sequence, hidden], got "
                         << input;
  int64_t tokens = input.getDimSize(0);
  if (input.getRank() == 3)
    tokens = input.isDynamicDim(0) || input.isDynamicDim(1)
                 ? kDynamic
                 : input.getDimSize(0) * input.getDimSize(1);
  if (getRouterProbs().getType().getRank() != 2)
    return emitOpError() << "router_probs must be [tokens, experts], got "
                         << getRouterProbs().getType();
  int64_t experts = getNumExperts();
  if (failed(verifyShape(*this, "router_probs", getRouterProbs(),
                         {tokens, experts})))
    return failure();
  if (!ShapedType::isDynamic(experts) && static_cast<int64_t>(getK()) > experts)
    return emitOpError() << "k = " << getK() << " exceeds the " << experts
                         << " experts";
  if (!(getCapacityFactor().convertToFloat() > 0.0f))
    return emitOpError("capacity_factor must be positive");
  if (failed(verifyExperts(*this, input.getShape().back(), experts)))
    return failure();
  if (getOutput().getType() != input)
    return emitOpError() << "result type " << getOutput().getType()
                         << " must match the input type " << input;
  return success();
}

namespace {
/// Drops the leading unit expert dimension of a stacked expert tensor.
static Value dropExpertDim(PatternRewriter &rewriter, Location loc,
                           Value stacked) {
  if (!stacked)
    return {};
  RankedTensorType type = tensorType(stacked);
  SmallVector<ReassociationIndices> reassociation;
  reassociation.push_back({0, 1});
  for (int64_t i = 2; i < type.getRank(); ++i)
    reassociation.push_back({i});
  return tensor::CollapseShapeOp::create(rewriter, loc, stacked, reassociation);
}

/// A mixture of one expert with k = 1 routes every token to that expert with
/// gate softmax([l]) = 1: it is that expert's FFN.
struct SingleExpertMoEToFFN : OpRewritePattern<MoEOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MoEOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getNumExperts() != 1 || op.getK() != 1 ||
        op.getActivation() == Activation::swiglu || op.getFc3Weight())
      return failure();
    Location loc = op.getLoc();
    auto drop = [&](Value v) { return dropExpertDim(rewriter, loc, v); };
    rewriter.replaceOpWithNewOp<SparseFFNOp>(
        op, op.getType(), op.getInput(), drop(op.getFc1Weight()),
        drop(op.getFc1Scales()), drop(op.getFc1Bias()), /*gate_weight=*/Value(),
        /*gate_scales=*/Value(), drop(op.getFc2Weight()),
        drop(op.getFc2Scales()), drop(op.getFc2Bias()), /*residual=*/Value(),
        /*support=*/Value(), op.getActivationAttr(), /*topk=*/IntegerAttr(),
        rewriter.getI64IntegerAttr(1), op.getFc1LayoutAttr(),
        WeightLayoutAttr::get(op.getContext(), WeightLayout::kn),
        op.getFc2LayoutAttr(), op.getFc1QuantAttr(), /*gate_quant=*/QuantAttr(),
        op.getFc2QuantAttr());
    return success();
  }
};
} // namespace

void MoEOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                        MLIRContext *context) {
  results.add<SingleExpertMoEToFFN>(context);
}

#define GET_OP_CLASSES
#include "parsimony/Dialect/Spx/IR/SpxOps.cpp.inc"
