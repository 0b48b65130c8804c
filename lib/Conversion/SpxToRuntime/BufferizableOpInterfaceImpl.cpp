//===- BufferizableOpInterfaceImpl.cpp - bufferize spx ops into kernels ---===//
//
// On CPU every spx operation runs as one call into the runtime's kernels
// (include/parsimony/Runtime/SpxKernels.h). The ops bufferize straight into
// those calls: operands become contiguous buffers, results fresh
// allocations, and the call receives plain pointers and sizes.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Conversion/SpxToRuntime.h"

#include "parsimony/Conversion/KernelCalls.h"
#include "parsimony/Dialect/Spx/IR/SpxOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include <limits>

using namespace mlir;
using namespace mlir::bufferization;
using namespace mlir::spx;
using namespace parsimony;

namespace {

constexpr int32_t kActivationCodes[] = {
    /*identity*/ 0, /*relu*/ 1,    /*gelu*/ 2,  /*gelu_tanh*/ 3,
    /*silu*/ 4,     /*sigmoid*/ 5, /*swiglu*/ 6};

/// Builds the operand buffers, result allocations and argument list of one
/// kernel call.
class KernelCallBuilder {
public:
  KernelCallBuilder(Operation *op, RewriterBase &rewriter,
                    const BufferizationOptions &options,
                    BufferizationState &state)
      : op(op), b(rewriter), loc(op->getLoc()), options(options), state(state) {
  }

  /// A contiguous row-major buffer holding tensor `value`.
  FailureOr<Value> buffer(Value value) {
    if (!value)
      return Value();
    FailureOr<Value> memref = getBuffer(b, value, options, state);
    if (failed(memref))
      return failure();
    auto type = cast<MemRefType>(memref->getType());
    if (type.getLayout().isIdentity())
      return *memref;
    // Strided views (e.g. slices) are copied into a dense buffer first.
    auto dense = MemRefType::get(type.getShape(), type.getElementType());
    FailureOr<Value> copy =
        options.createAlloc(b, loc, dense, dynamicSizes(*memref));
    if (failed(copy))
      return failure();
    if (failed(options.createMemCpy(b, loc, *memref, *copy)))
      return failure();
    return *copy;
  }

  /// A fresh buffer for `result`, whose dynamic dimensions are `sizes`.
  FailureOr<Value> allocate(Value result, ValueRange sizes) {
    auto type = cast<RankedTensorType>(result.getType());
    return options.createAlloc(
        b, loc, MemRefType::get(type.getShape(), type.getElementType()), sizes);
  }

  /// Sizes for allocating `result`, whose only possibly dynamic dimension is
  /// the token dimension 0, shared with dimension 0 of `buffer`.
  SmallVector<Value> tokenSizes(Value result, Value buffer) {
    if (!cast<RankedTensorType>(result.getType()).isDynamicDim(0))
      return {};
    return {memref::DimOp::create(b, loc, buffer, 0)};
  }

  SmallVector<Value> dynamicSizes(Value memref) {
    SmallVector<Value> sizes;
    auto type = cast<MemRefType>(memref.getType());
    for (int64_t i = 0; i < type.getRank(); ++i)
      if (type.isDynamicDim(i))
        sizes.push_back(memref::DimOp::create(b, loc, memref, i));
    return sizes;
  }

  /// Size of dimension `dim` of `memref` as i64.
  Value dimI64(Value memref, int64_t dim) {
    auto type = cast<MemRefType>(memref.getType());
    if (!type.isDynamicDim(dim))
      return constI64(type.getDimSize(dim));
    Value size = memref::DimOp::create(b, loc, memref, dim);
    return arith::IndexCastOp::create(b, loc, b.getI64Type(), size);
  }

  /// Product of dimensions [begin, end) of `memref` as i64.
  Value productI64(Value memref, int64_t begin, int64_t end) {
    Value product = constI64(1);
    for (int64_t d = begin; d < end; ++d)
      product = arith::MulIOp::create(b, loc, product, dimI64(memref, d));
    return product;
  }

  Value constI64(int64_t v) {
    return arith::ConstantIntOp::create(b, loc, v, 64);
  }
  Value constI32(int64_t v) {
    return arith::ConstantIntOp::create(b, loc, v, 32);
  }
  Value constF32(float v) {
    return arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(v));
  }

  void addPointer(Value memref) {
    args.push_back(memref ? getElementPointer(b, loc, memref)
                          : getNullPointer(b, loc));
  }
  void add(Value v) { args.push_back(v); }
  void addI64(int64_t v) { args.push_back(constI64(v)); }
  void addI32(int64_t v) { args.push_back(constI32(v)); }
  void addF32(float v) { args.push_back(constF32(v)); }
  /// 1 if `indices` holds i64 indices, 0 for i32.
  void addIndexFlag(Value indices) {
    addI32(getElementTypeOrSelf(indices.getType()).isInteger(64) ? 1 : 0);
  }

  /// The PARSIMONY_WEIGHT_PARAMS group of a (possibly absent) weight.
  LogicalResult addWeight(StringRef name, Value weight, Value scales,
                          QuantAttr quant, WeightLayout layout) {
    if (!weight) {
      addPointer(Value());
      addPointer(Value());
      addI32(0);
      addI32(32);
      addI64(0);
      addI32(0);
      return success();
    }
    Type element = getElementTypeOrSelf(weight.getType());
    if (isa<FloatType>(element) && !element.isF32())
      return op->emitError() << "the CPU kernels take f32 or quantized " << name
                             << " weights, got " << element;
    FailureOr<Value> weightBuffer = buffer(weight);
    FailureOr<Value> scalesBuffer = buffer(scales);
    if (failed(weightBuffer) || failed(scalesBuffer))
      return failure();
    Type scaleType = scales ? getElementTypeOrSelf(scales.getType()) : Type();
    if (scaleType && !scaleType.isF32() && !scaleType.isF16())
      return op->emitError()
             << "the CPU kernels take f32 or f16 scales, got " << scaleType;
    addPointer(*weightBuffer);
    addPointer(*scalesBuffer);
    addI32(layout == WeightLayout::kn ? 0 : 1);
    // PARSIMONY_INT4_PACKED (4 | 0x100) for packed int4 (SpxKernels.h).
    bool packed = isPackedInt4(element, quant);
    addI32(quant ? quant.getBits() | (packed ? 0x100 : 0) : 32);
    addI64(quant ? quant.getGroupSize() : 0);
    addI32(scaleType && scaleType.isF16() ? 1 : 0);
    return success();
  }

  /// Requires f32 activations: the kernels compute in f32.
  LogicalResult requireF32(Value value, StringRef what) {
    Type element = getElementTypeOrSelf(value.getType());
    if (element.isF32())
      return success();
    return op->emitError() << "the CPU kernels compute in f32; " << what
                           << " has element type " << element;
  }

  void call(StringRef kernel) { createKernelCall(b, loc, kernel, args); }

  Operation *op;
  RewriterBase &b;
  Location loc;
  const BufferizationOptions &options;
  BufferizationState &state;
  SmallVector<Value> args;
};

/// `value`'s tensor type with the given leading dims replaced.
static SmallVector<Value> leadingSizes(KernelCallBuilder &k, Value buffer,
                                       Value result) {
  // The result shares all but its last dimension with `buffer`.
  SmallVector<Value> sizes;
  auto type = cast<RankedTensorType>(result.getType());
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(memref::DimOp::create(k.b, k.loc, buffer, i));
  return sizes;
}

//===----------------------------------------------------------------------===//
// One lowering per op
//===----------------------------------------------------------------------===//

static FailureOr<SmallVector<Value>> lower(TopKActivationOp op,
                                           KernelCallBuilder &k) {
  if (failed(k.requireF32(op.getInput(), "the input")))
    return failure();
  FailureOr<Value> in = k.buffer(op.getInput());
  if (failed(in))
    return failure();
  FailureOr<Value> out = k.allocate(op.getOutput(), k.dynamicSizes(*in));
  if (failed(out))
    return failure();
  int64_t axis = op.getNormalizedAxis();
  int64_t rank = op.getInput().getType().getRank();
  k.addPointer(*in);
  k.addPointer(*out);
  k.add(k.productI64(*in, 0, axis));
  k.add(k.dimI64(*in, axis));
  k.add(k.productI64(*in, axis + 1, rank));
  k.addI64(static_cast<int64_t>(op.getK()));
  k.addI32(op.getMode() == TopKMode::approx ? 1 : 0);
  k.addF32(op.getRecallTarget().convertToFloat());
  k.call("parsimony_topk_activation_f32");
  return SmallVector<Value>{*out};
}

/// K and N of a weight from its static shape (packed int4 holds two values
/// per byte of its innermost dimension).
static std::pair<int64_t, int64_t> weightDims(Value weight, WeightLayout layout,
                                              QuantAttr quant) {
  auto type = cast<ShapedType>(weight.getType());
  ArrayRef<int64_t> shape = type.getShape();
  int64_t rows = shape[shape.size() - 2], cols = shape.back();
  if (isPackedInt4(type.getElementType(), quant))
    cols *= 2;
  return layout == WeightLayout::kn ? std::make_pair(rows, cols)
                                    : std::make_pair(cols, rows);
}

/// Weights must have static shapes: they are model constants.
static LogicalResult requireStaticWeight(Operation *op, Value weight) {
  if (!weight || cast<ShapedType>(weight.getType()).hasStaticShape())
    return success();
  return op->emitError("the CPU kernels need weights of static shape");
}

/// The arguments every token-wise kernel starts with: the input buffer, T
/// (the product of the input's leading dims), K, N and the weight group.
/// Returns the input buffer and a fresh buffer for `result`, which shares the
/// input's leading dims.
struct TokenwiseBuffers {
  Value input, result;
};
static FailureOr<TokenwiseBuffers>
addTokenwisePrologue(KernelCallBuilder &k, Operation *op, Value input,
                     Value result, StringRef weightName, Value weight,
                     Value scales, QuantAttr quant, WeightLayout layout,
                     int64_t kDim, int64_t nDim, bool byteInput = false) {
  if ((!byteInput && failed(k.requireF32(input, "the input"))) ||
      failed(requireStaticWeight(op, weight)))
    return failure();
  FailureOr<Value> in = k.buffer(input);
  if (failed(in))
    return failure();
  FailureOr<Value> out = k.allocate(result, leadingSizes(k, *in, result));
  if (failed(out))
    return failure();
  int64_t rank = cast<RankedTensorType>(input.getType()).getRank();
  k.addPointer(*in);
  k.add(k.productI64(*in, 0, rank - 1));
  k.addI64(kDim);
  k.addI64(nDim);
  if (failed(k.addWeight(weightName, weight, scales, quant, layout)))
    return failure();
  return TokenwiseBuffers{*in, *out};
}

static FailureOr<SmallVector<Value>> lower(SparseMatmulOp op,
                                           KernelCallBuilder &k) {
  auto [kDim, nDim] =
      weightDims(op.getWeight(), op.getLayout(), op.getQuantAttr());
  FailureOr<TokenwiseBuffers> buffers = addTokenwisePrologue(
      k, op, op.getInput(), op.getOutput(), "matmul", op.getWeight(),
      op.getScales(), op.getQuantAttr(), op.getLayout(), kDim, nDim);
  if (failed(buffers))
    return failure();
  k.addPointer(buffers->result);
  k.call("parsimony_sparse_matmul_f32");
  return SmallVector<Value>{buffers->result};
}

static FailureOr<SmallVector<Value>> lower(QuantMatmulOp op,
                                           KernelCallBuilder &k) {
  auto [kDim, nDim] =
      weightDims(op.getWeight(), op.getLayout(), op.getQuantAttr());
  bool byteInput = op.getInput().getType().getElementType().isInteger(8);
  FailureOr<TokenwiseBuffers> buffers = addTokenwisePrologue(
      k, op, op.getInput(), op.getOutput(), "matmul", op.getWeight(),
      op.getScales(), op.getQuantAttr(), op.getLayout(), kDim, nDim, byteInput);
  if (failed(buffers))
    return failure();
  bool hasEpilogue = op.getBias() || op.getResidual() ||
                     op.getActivation() != Activation::identity;
  if (byteInput) {
    // Integer activations: one entry point, the epilogue optional.
    k.addI32(op.getInputUnsigned() ? 0 : 1);
    k.add(op.getInputZeroPoint() ? op.getInputZeroPoint() : k.constI32(0));
    hasEpilogue = true;
  }
  if (hasEpilogue) {
    FailureOr<Value> bias = k.buffer(op.getBias());
    FailureOr<Value> residual = k.buffer(op.getResidual());
    if (failed(bias) || failed(residual))
      return failure();
    k.addPointer(*bias);
    k.addI32(kActivationCodes[static_cast<int>(op.getActivation())]);
    k.addPointer(*residual);
  }
  k.addPointer(buffers->result);
  k.call(byteInput     ? "parsimony_quant_matmul_u8_f32"
         : hasEpilogue ? "parsimony_quant_matmul_epilogue_f32"
                       : "parsimony_quant_matmul_f32");
  return SmallVector<Value>{buffers->result};
}

static FailureOr<SmallVector<Value>> lower(MatmulOp op, KernelCallBuilder &k) {
  if (failed(k.requireF32(op.getInput(), "the input")))
    return failure();
  FailureOr<Value> input = k.buffer(op.getInput());
  FailureOr<Value> weight = k.buffer(op.getWeight());
  FailureOr<Value> bias = k.buffer(op.getBias());
  FailureOr<Value> residual = k.buffer(op.getResidual());
  if (failed(input) || failed(weight) || failed(bias) || failed(residual))
    return failure();
  FailureOr<Value> out =
      k.allocate(op.getOutput(), k.tokenSizes(op.getOutput(), *input));
  if (failed(out))
    return failure();
  int64_t rank = op.getInput().getType().getRank();
  bool nk = op.getLayout() == WeightLayout::nk;
  Value kDim = k.dimI64(*weight, nk ? 1 : 0);
  Value nDim = k.dimI64(*weight, nk ? 0 : 1);
  k.add(k.productI64(*input, 0, rank - 1));
  k.add(nDim);
  k.add(kDim);
  k.addPointer(*input);
  k.add(kDim);
  k.addPointer(*weight);
  k.add(nk ? kDim : nDim);
  k.addI32(nk ? 1 : 0);
  k.addPointer(*bias);
  k.addI32(kActivationCodes[static_cast<int>(op.getActivation())]);
  k.addPointer(*residual);
  k.add(nDim);
  k.addPointer(*out);
  k.add(nDim);
  k.call("parsimony_sgemm_epilogue");
  return SmallVector<Value>{*out};
}

static FailureOr<SmallVector<Value>> lower(SupportMatmulOp op,
                                           KernelCallBuilder &k) {
  FailureOr<Value> support = k.buffer(op.getSupport());
  if (failed(support))
    return failure();
  auto [kDim, nDim] =
      weightDims(op.getWeight(), op.getLayout(), op.getQuantAttr());
  FailureOr<TokenwiseBuffers> buffers = addTokenwisePrologue(
      k, op, op.getInput(), op.getOutput(), "matmul", op.getWeight(),
      op.getScales(), op.getQuantAttr(), op.getLayout(), kDim, nDim);
  if (failed(buffers))
    return failure();
  int64_t rank = op.getInput().getType().getRank();
  k.addPointer(*support);
  k.addIndexFlag(op.getSupport());
  k.add(k.dimI64(*support, rank - 1));
  k.addI32(op.getSide() == SupportSide::output ? 0 : 1);
  k.addPointer(buffers->result);
  k.call("parsimony_support_matmul_f32");
  return SmallVector<Value>{buffers->result};
}

static FailureOr<SmallVector<Value>> lower(PredictSupportOp op,
                                           KernelCallBuilder &k) {
  if (failed(requireStaticWeight(op, op.getFactor())))
    return failure();
  FailureOr<Value> factor = k.buffer(op.getFactor());
  FailureOr<Value> bias = k.buffer(op.getBias());
  if (failed(factor) || failed(bias))
    return failure();
  // A low-rank predictor's weight is [K, rank] and its factor [rank, N].
  auto [kDim, nDim] =
      weightDims(op.getWeight(), op.getLayout(), op.getQuantAttr());
  int64_t rank = 0;
  if (op.getFactor()) {
    rank = nDim;
    nDim = cast<ShapedType>(op.getFactor().getType()).getShape().back();
  }
  FailureOr<TokenwiseBuffers> buffers = addTokenwisePrologue(
      k, op, op.getInput(), op.getSupport(), "predictor", op.getWeight(),
      op.getScales(), op.getQuantAttr(), op.getLayout(), kDim, nDim);
  if (failed(buffers))
    return failure();
  k.addPointer(*factor);
  k.addI64(rank);
  k.addPointer(*bias);
  k.addI64(static_cast<int64_t>(op.getK()));
  k.addPointer(buffers->result);
  k.addIndexFlag(op.getSupport());
  k.call("parsimony_predict_support_f32");
  return SmallVector<Value>{buffers->result};
}

static FailureOr<SmallVector<Value>> lower(SparseFFNOp op,
                                           KernelCallBuilder &k) {
  if (failed(requireStaticWeight(op, op.getGateWeight())) ||
      failed(requireStaticWeight(op, op.getDownWeight())))
    return failure();
  FailureOr<Value> upBias = k.buffer(op.getUpBias());
  FailureOr<Value> downBias = k.buffer(op.getDownBias());
  FailureOr<Value> support = k.buffer(op.getSupport());
  FailureOr<Value> residual = k.buffer(op.getResidual());
  if (failed(upBias) || failed(downBias) || failed(support) || failed(residual))
    return failure();
  auto [model, hidden] =
      weightDims(op.getUpWeight(), op.getUpLayout(), op.getUpQuantAttr());
  FailureOr<TokenwiseBuffers> buffers = addTokenwisePrologue(
      k, op, op.getInput(), op.getOutput(), "up", op.getUpWeight(),
      op.getUpScales(), op.getUpQuantAttr(), op.getUpLayout(), model, hidden);
  if (failed(buffers))
    return failure();
  k.addPointer(*upBias);
  if (failed(k.addWeight("gate", op.getGateWeight(), op.getGateScales(),
                         op.getGateQuantAttr(), op.getGateLayout())) ||
      failed(k.addWeight("down", op.getDownWeight(), op.getDownScales(),
                         op.getDownQuantAttr(), op.getDownLayout())))
    return failure();
  k.addPointer(*downBias);
  k.addPointer(*support);
  if (op.getSupport()) {
    int64_t rank = op.getInput().getType().getRank();
    k.addIndexFlag(op.getSupport());
    k.add(k.dimI64(*support, rank - 1));
  } else {
    k.addI32(0);
    k.addI64(0);
  }
  k.addI64(static_cast<int64_t>(op.getSupportBlock()));
  k.addI32(kActivationCodes[static_cast<int>(op.getActivation())]);
  k.addI64(op.getTopk() ? static_cast<int64_t>(*op.getTopk()) : 0);
  k.addPointer(*residual);
  k.addPointer(buffers->result);
  k.call("parsimony_sparse_ffn_f32");
  return SmallVector<Value>{buffers->result};
}

static FailureOr<SmallVector<Value>> lower(RouteOp op, KernelCallBuilder &k) {
  if (failed(k.requireF32(op.getInput(), "the router input")))
    return failure();
  FailureOr<Value> in = k.buffer(op.getInput());
  FailureOr<Value> weight = k.buffer(op.getRouterWeight());
  FailureOr<Value> bias = k.buffer(op.getRouterBias());
  if (failed(in) || failed(weight) || failed(bias))
    return failure();
  FailureOr<Value> gates =
      k.allocate(op.getGates(), k.tokenSizes(op.getGates(), *in));
  FailureOr<Value> experts =
      k.allocate(op.getExperts(), k.tokenSizes(op.getExperts(), *in));
  if (failed(gates) || failed(experts))
    return failure();
  int64_t numExperts = op.getNumExperts();
  if (ShapedType::isDynamic(numExperts))
    return op.emitError("the number of experts must be static");
  k.addPointer(*in);
  k.add(k.dimI64(*in, 0));
  k.add(k.dimI64(*in, 1));
  k.addPointer(*weight);
  k.addPointer(*bias);
  k.addI64(numExperts);
  k.addI64(static_cast<int64_t>(op.getK()));
  k.addI32(op.getNormalize() ? 1 : 0);
  k.addPointer(*gates);
  k.addPointer(*experts);
  k.addIndexFlag(op.getExperts());
  k.call("parsimony_route_f32");
  return SmallVector<Value>{*gates, *experts};
}

static FailureOr<SmallVector<Value>> lower(DispatchOp op,
                                           KernelCallBuilder &k) {
  if (failed(k.requireF32(op.getInput(), "the input")))
    return failure();
  FailureOr<Value> in = k.buffer(op.getInput());
  FailureOr<Value> experts = k.buffer(op.getExperts());
  if (failed(in) || failed(experts))
    return failure();
  int64_t numExperts = static_cast<int64_t>(op.getNumExperts());
  int64_t topK = op.getExperts().getType().getDimSize(1);
  if (ShapedType::isDynamic(topK))
    return op.emitError("the number of experts per token must be static");
  Value tokens = k.dimI64(*in, 0);
  // C = ceil(T / E * capacity_factor), computed as DispatchOp::getCapacity.
  Value capacity = k.constI64(0);
  if (op.getMode() == DispatchMode::capacity) {
    Type f64 = k.b.getF64Type();
    Value t = arith::SIToFPOp::create(k.b, k.loc, f64, tokens);
    Value factor = arith::ConstantFloatOp::create(
        k.b, k.loc, cast<FloatType>(f64),
        APFloat(static_cast<double>(op.getCapacityFactor().convertToFloat())));
    Value e = arith::ConstantFloatOp::create(
        k.b, k.loc, cast<FloatType>(f64),
        APFloat(static_cast<double>(numExperts)));
    Value scaled = arith::DivFOp::create(
        k.b, k.loc, arith::MulFOp::create(k.b, k.loc, t, factor), e);
    Value ceil = math::CeilOp::create(k.b, k.loc, scaled);
    capacity = arith::FPToSIOp::create(k.b, k.loc, k.b.getI64Type(), ceil);
  }
  Value rows =
      op.getMode() == DispatchMode::dropless
          ? arith::MulIOp::create(k.b, k.loc, tokens, k.constI64(topK))
                .getResult()
          : arith::MulIOp::create(k.b, k.loc, capacity, k.constI64(numExperts))
                .getResult();
  SmallVector<Value> rowSizes;
  if (op.getRows().getType().isDynamicDim(0))
    rowSizes.push_back(
        arith::IndexCastOp::create(k.b, k.loc, k.b.getIndexType(), rows));
  FailureOr<Value> rowsBuffer = k.allocate(op.getRows(), rowSizes);
  FailureOr<Value> offsets = k.allocate(op.getGroupOffsets(), {});
  FailureOr<Value> sizes = k.allocate(op.getGroupSizes(), {});
  FailureOr<Value> slots =
      k.allocate(op.getSlots(), k.tokenSizes(op.getSlots(), *in));
  if (failed(rowsBuffer) || failed(offsets) || failed(sizes) || failed(slots))
    return failure();
  k.addPointer(*in);
  k.add(tokens);
  k.add(k.dimI64(*in, 1));
  k.addPointer(*experts);
  k.addIndexFlag(op.getExperts());
  k.addI64(topK);
  k.addI64(numExperts);
  k.addI32(op.getMode() == DispatchMode::dropless ? 0 : 1);
  k.add(capacity);
  k.addPointer(*rowsBuffer);
  k.add(rows);
  k.addPointer(*offsets);
  k.addPointer(*sizes);
  k.addPointer(*slots);
  k.call("parsimony_dispatch_f32");
  return SmallVector<Value>{*rowsBuffer, *offsets, *sizes, *slots};
}

static FailureOr<SmallVector<Value>> lower(ExpertFFNOp op,
                                           KernelCallBuilder &k) {
  if (failed(k.requireF32(op.getRows(), "the dispatched rows")) ||
      failed(requireStaticWeight(op, op.getFc1Weight())) ||
      failed(requireStaticWeight(op, op.getFc2Weight())) ||
      failed(requireStaticWeight(op, op.getFc3Weight())))
    return failure();
  FailureOr<Value> rows = k.buffer(op.getRows());
  FailureOr<Value> offsets = k.buffer(op.getGroupOffsets());
  FailureOr<Value> sizes = k.buffer(op.getGroupSizes());
  FailureOr<Value> fc1Bias = k.buffer(op.getFc1Bias());
  FailureOr<Value> fc2Bias = k.buffer(op.getFc2Bias());
  FailureOr<Value> fc3Bias = k.buffer(op.getFc3Bias());
  if (failed(rows) || failed(offsets) || failed(sizes) || failed(fc1Bias) ||
      failed(fc2Bias) || failed(fc3Bias))
    return failure();
  FailureOr<Value> out = k.allocate(op.getOutput(), k.dynamicSizes(*rows));
  if (failed(out))
    return failure();
  int64_t hidden =
      weightDims(op.getFc2Weight(), op.getFc2Layout(), op.getFc2QuantAttr())
          .first;
  k.addPointer(*rows);
  k.add(k.dimI64(*rows, 0));
  k.add(k.dimI64(*rows, 1));
  k.addPointer(*offsets);
  k.addPointer(*sizes);
  k.addI64(op.getFc1Weight().getType().getDimSize(0));
  k.addI64(hidden);
  if (failed(k.addWeight("fc1", op.getFc1Weight(), op.getFc1Scales(),
                         op.getFc1QuantAttr(), op.getFc1Layout())))
    return failure();
  k.addPointer(*fc1Bias);
  if (failed(k.addWeight("fc2", op.getFc2Weight(), op.getFc2Scales(),
                         op.getFc2QuantAttr(), op.getFc2Layout())))
    return failure();
  k.addPointer(*fc2Bias);
  if (failed(k.addWeight("fc3", op.getFc3Weight(), op.getFc3Scales(),
                         op.getFc3QuantAttr(), op.getFc3Layout())))
    return failure();
  k.addPointer(*fc3Bias);
  k.addI32(kActivationCodes[static_cast<int>(op.getActivation())]);
  k.addI32(static_cast<int32_t>(op.getSwigluFusion()));
  k.addF32(op.getActivationAlpha().convertToFloat());
  k.addF32(op.getActivationBeta().convertToFloat());
  k.addF32(op.getSwigluLimit() ? op.getSwigluLimit()->convertToFloat()
                               : std::numeric_limits<float>::quiet_NaN());
  k.addPointer(*out);
  k.call("parsimony_expert_ffn_f32");
  return SmallVector<Value>{*out};
}

static FailureOr<SmallVector<Value>> lower(CombineOp op, KernelCallBuilder &k) {
  if (failed(k.requireF32(op.getExpertOutput(), "the expert output")))
    return failure();
  FailureOr<Value> expertOut = k.buffer(op.getExpertOutput());
  FailureOr<Value> slots = k.buffer(op.getSlots());
  FailureOr<Value> gates = k.buffer(op.getGates());
  FailureOr<Value> residual = k.buffer(op.getResidual());
  if (failed(expertOut) || failed(slots) || failed(gates) || failed(residual))
    return failure();
  FailureOr<Value> out =
      k.allocate(op.getOutput(), k.tokenSizes(op.getOutput(), *slots));
  if (failed(out))
    return failure();
  k.addPointer(*expertOut);
  k.add(k.dimI64(*expertOut, 0));
  k.add(k.dimI64(*expertOut, 1));
  k.addPointer(*slots);
  k.addIndexFlag(op.getSlots());
  k.add(k.dimI64(*slots, 0));
  k.add(k.dimI64(*slots, 1));
  k.addPointer(*gates);
  k.addPointer(*residual);
  k.addPointer(*out);
  k.call("parsimony_combine_f32");
  return SmallVector<Value>{*out};
}

//===----------------------------------------------------------------------===//
// The external model
//===----------------------------------------------------------------------===//

/// Every spx op reads its operands, writes only fresh result buffers and
/// aliases nothing.
template <typename OpTy>
struct SpxKernelOpInterface
    : public BufferizableOpInterface::ExternalModel<SpxKernelOpInterface<OpTy>,
                                                    OpTy> {
  bool bufferizesToMemoryRead(Operation *, OpOperand &,
                              const AnalysisState &) const {
    return true;
  }
  bool bufferizesToMemoryWrite(Operation *, OpOperand &,
                               const AnalysisState &) const {
    return false;
  }
  AliasingValueList getAliasingValues(Operation *, OpOperand &,
                                      const AnalysisState &) const {
    return {};
  }
  bool bufferizesToAllocation(Operation *, Value) const { return true; }

  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(op);
    KernelCallBuilder builder(op, rewriter, options, state);
    FailureOr<SmallVector<Value>> results = lower(cast<OpTy>(op), builder);
    if (failed(results))
      return failure();
    replaceOpWithBufferizedValues(rewriter, op, *results);
    return success();
  }
};

template <typename... OpTys> void attachModels(MLIRContext *ctx) {
  (OpTys::template attachInterface<SpxKernelOpInterface<OpTys>>(*ctx), ...);
}

} // namespace

void parsimony::registerSpxBufferizationModels(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, SpxDialect *) {
    attachModels<TopKActivationOp, SparseMatmulOp, QuantMatmulOp, MatmulOp,
                 SupportMatmulOp, PredictSupportOp, SparseFFNOp, RouteOp,
                 DispatchOp, ExpertFFNOp, CombineOp>(ctx);
  });
}
