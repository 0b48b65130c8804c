//===- ConvertCustom.cpp - com.microsoft and ai.parsimony operators -------===//
//
// com.microsoft:MoE (ONNX Runtime 1.30 semantics) and Parsimony's own
// ai.parsimony domain (TopKActivation, SparseFFN, MoE) map one-to-one to
// spx operations.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "parsimony/Dialect/Spx/IR/SpxOps.h"

#include "mlir/IR/Verifier.h"

using namespace mlir;
using namespace mlir::spx;
using namespace parsimony::onnximport;

namespace {

/// Verifies a freshly built spx op; its verifier's message is reported with
/// the node's name.
LogicalResult verifyBuilt(NodeContext &nc, Operation *op) {
  if (succeeded(mlir::verify(op)))
    return success();
  return nc.error() << "the operands do not form a valid '"
                    << op->getName().getStringRef() << "'";
}

LogicalResult requireFloat(NodeContext &nc, Value v, StringRef what) {
  if (!v)
    return nc.error() << "missing required input '" << what << "'";
  Type t = getElementTypeOrSelf(v.getType());
  if (!t.isF32() && !t.isF16() && !t.isBF16())
    return nc.error() << what << " must be f32, f16 or bf16, got " << t;
  return success();
}

std::optional<Activation> parseActivation(StringRef name) {
  return llvm::StringSwitch<std::optional<Activation>>(name)
      .Case("identity", Activation::identity)
      .Case("relu", Activation::relu)
      .Case("gelu", Activation::gelu)
      .Case("gelu_tanh", Activation::gelu_tanh)
      .Case("silu", Activation::silu)
      .Case("sigmoid", Activation::sigmoid)
      .Case("swiglu", Activation::swiglu)
      .Default(std::nullopt);
}

template <bool parsimonyDomain> LogicalResult convertMoE(NodeContext &nc) {
  MoEProjection fc1{nc.input(2), Value(), nc.input(3)};
  MoEProjection fc2{nc.input(4), Value(), nc.input(5)};
  MoEProjection fc3{nc.input(6), Value(), nc.input(7)};
  if (!fc1.weight || !fc2.weight)
    return nc.error() << "fc1_experts_weights and fc2_experts_weights are "
                         "required";
  for (Value w : {fc1.weight, fc2.weight, fc3.weight}) {
    if (!w)
      continue;
    Type t = getElementTypeOrSelf(w.getType());
    if (!isa<FloatType>(t))
      return nc.error() << "quantized expert weights (" << t
                        << ") are not supported by MoE; use float weights "
                           "(or QMoE)";
  }
  return emitMoE(nc, fc1, fc2, fc3, parsimonyDomain);
}

LogicalResult convertTopKActivation(NodeContext &nc) {
  OpBuilder &b = nc.importer.builder;
  Value x = nc.input(0);
  if (failed(requireFloat(nc, x, "X")))
    return failure();
  const onnx::AttributeProto *kAttr = nc.attr("k");
  if (!kAttr || kAttr->i() <= 0)
    return nc.error() << "attribute k must be a positive integer";
  std::string mode = nc.attrString("mode", "exact");
  if (mode != "exact" && mode != "approx")
    return nc.error() << "mode must be 'exact' or 'approx', got '" << mode
                      << "'";
  auto op = TopKActivationOp::create(
      b, nc.loc, x.getType(), x, b.getI64IntegerAttr(kAttr->i()),
      b.getI64IntegerAttr(nc.attrInt("axis", -1)),
      TopKModeAttr::get(nc.importer.ctx,
                        mode == "exact" ? TopKMode::exact : TopKMode::approx),
      b.getF32FloatAttr(nc.attrFloat("recall_target", 0.95f)));
  if (failed(verifyBuilt(nc, op))) {
    op->erase();
    return failure();
  }
  nc.setOutput(0, op.getResult(), nc.inputOnnxType(0));
  return success();
}

LogicalResult convertSparseFFN(NodeContext &nc) {
  OpBuilder &b = nc.importer.builder;
  Value x = nc.input(0), up = nc.input(1), upBias = nc.input(2),
        down = nc.input(3), downBias = nc.input(4);
  if (failed(requireFloat(nc, x, "x")) ||
      failed(requireFloat(nc, up, "w_up")) ||
      failed(requireFloat(nc, down, "w_down")))
    return failure();
  std::string actName = nc.attrString("activation", "relu");
  std::optional<Activation> act = parseActivation(actName);
  if (!act || *act == Activation::swiglu)
    return nc.error() << "unsupported activation '" << actName
                      << "' (expected relu, gelu, gelu_tanh, silu, sigmoid "
                         "or identity)";
  IntegerAttr topk;
  if (const onnx::AttributeProto *a = nc.attr("topk")) {
    if (a->i() <= 0)
      return nc.error() << "topk must be positive";
    topk = b.getI64IntegerAttr(a->i());
  }
  MLIRContext *ctx = nc.importer.ctx;
  auto kn = WeightLayoutAttr::get(ctx, WeightLayout::kn);
  auto op = SparseFFNOp::create(
      b, nc.loc, x.getType(), x, up, /*up_scales=*/Value(), upBias,
      /*gate_weight=*/Value(), /*gate_scales=*/Value(), down,
      /*down_scales=*/Value(), downBias, /*residual=*/Value(),
      /*support=*/Value(), ActivationAttr::get(ctx, *act), topk,
      b.getI64IntegerAttr(1), kn, kn, kn, QuantAttr(), QuantAttr(),
      QuantAttr());
  if (failed(verifyBuilt(nc, op))) {
    op->erase();
    return failure();
  }
  nc.setOutput(0, op.getResult(), nc.inputOnnxType(0));
  return success();
}

} // namespace

LogicalResult parsimony::onnximport::emitMoE(NodeContext &nc,
                                             const MoEProjection &fc1,
                                             const MoEProjection &fc2,
                                             const MoEProjection &fc3,
                                             bool parsimonyDomain) {
  OpBuilder &b = nc.importer.builder;
  Value input = nc.input(0), router = nc.input(1);
  if (failed(requireFloat(nc, input, "input")) ||
      failed(requireFloat(nc, router, "router_probs")))
    return failure();
  if (nc.attrInt("use_sparse_mixer", 0) != 0)
    return nc.error() << "use_sparse_mixer = 1 (sparse mixer routing) is "
                         "not supported";
  std::string actName = nc.attrString("activation_type", "relu");
  std::optional<Activation> act = parseActivation(actName);
  if (!act || *act == Activation::gelu_tanh || *act == Activation::sigmoid)
    return nc.error() << "unsupported activation_type '" << actName
                      << "' (expected relu, gelu, silu, identity or swiglu)";
  // ONNX Runtime's MoE computes gelu with the tanh approximation
  // (0.5 x (1 + tanh(0.7978845608 (x + 0.044715 x^3)))).
  if (*act == Activation::gelu)
    act = Activation::gelu_tanh;
  int64_t fusion = nc.attrInt("swiglu_fusion", 0);
  if (fusion < 0 || fusion > 2)
    return nc.error() << "swiglu_fusion must be 0, 1 or 2";
  int64_t k = nc.attrInt("k", 1);
  if (k <= 0)
    return nc.error() << "k must be positive";
  DispatchMode dispatch = DispatchMode::dropless;
  float capacityFactor = 1.0f;
  if (parsimonyDomain) {
    std::string d = nc.attrString("dispatch", "dropless");
    if (d == "capacity")
      dispatch = DispatchMode::capacity;
    else if (d != "dropless")
      return nc.error() << "dispatch must be 'dropless' or 'capacity', got '"
                        << d << "'";
    capacityFactor = nc.attrFloat("capacity_factor", 1.0f);
    if (!(capacityFactor > 0.0f))
      return nc.error() << "capacity_factor must be positive";
  }
  FloatAttr limit;
  if (const onnx::AttributeProto *a = nc.attr("swiglu_limit"))
    limit = b.getF32FloatAttr(a->f());
  MLIRContext *ctx = nc.importer.ctx;
  auto nk = WeightLayoutAttr::get(ctx, WeightLayout::nk);
  auto quant = [](const MoEProjection &p) {
    return cast_if_present<QuantAttr>(p.quant);
  };
  auto op = MoEOp::create(
      b, nc.loc, input.getType(), input, router, fc1.weight, fc1.scales,
      fc1.bias, fc2.weight, fc2.scales, fc2.bias, fc3.weight, fc3.scales,
      fc3.bias, b.getI64IntegerAttr(k), ActivationAttr::get(ctx, *act),
      b.getBoolAttr(nc.attrInt("normalize_routing_weights", 0) != 0),
      SwiGLUFusionAttr::get(ctx, static_cast<SwiGLUFusion>(fusion)),
      b.getF32FloatAttr(nc.attrFloat("activation_alpha", 1.0f)),
      b.getF32FloatAttr(nc.attrFloat("activation_beta", 0.0f)), limit,
      DispatchModeAttr::get(ctx, dispatch), b.getF32FloatAttr(capacityFactor),
      nk, nk, nk, quant(fc1), quant(fc2), quant(fc3));
  if (failed(verifyBuilt(nc, op))) {
    op->erase();
    return failure();
  }
  nc.setOutput(0, op.getResult(), nc.inputOnnxType(0));
  return success();
}

void parsimony::onnximport::registerCustomDomainConverters(
    llvm::StringMap<ConverterFn> &map) {
  map["com.microsoft::MoE"] = convertMoE<false>;
  map["ai.parsimony::MoE"] = convertMoE<true>;
  map["ai.parsimony::TopKActivation"] = convertTopKActivation;
  map["ai.parsimony::SparseFFN"] = convertSparseFFN;
}
