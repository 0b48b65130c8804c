//===- ConvertQLinear.cpp - QOperator-form quantized operators ------------===//
//
// The quantized operators of ONNX's QOperator form (ONNX Runtime's static
// quantization). QLinearMatMul and QLinearConv: the integer product runs on
// the exact MatMulInteger /
// ConvInteger path (int32 sums of zero-point-corrected 8-bit values; an
// int32 bias added to them), and the sums are requantized as ONNX Runtime
// does: multiplied by (a_scale * b_scale) / y_scale in f32, rounded half to
// even, offset by y's zero point and saturated (QuantizeLinear with scale 1).
// ONNX Runtime's com.microsoft QLinearAdd, QLinearMul, QLinearSigmoid,
// QLinearLeakyRelu, QLinear(Global)AveragePool and QLinearConcat:
// dequantize, the float operator, quantize.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace parsimony::onnximport;

namespace {

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

/// Scale input `i` as f32: a scalar (or one element), or with `perChannel`
/// a vector of `channels` entries; reshaped with `trailingUnitDims` unit
/// dimensions after it so it broadcasts over the output's channel axis.
FailureOr<Value> scaleInput(NodeContext &nc, Emitter &em, unsigned i,
                            StringRef what, int64_t channels,
                            int64_t trailingUnitDims) {
  FailureOr<Value> s = nc.floatInput(i, what);
  if (failed(s))
    return failure();
  auto type = typeOf(*s);
  Type f32 = Float32Type::get(nc.importer.ctx);
  FailureOr<Value> scale = em.castTo(*s, f32, false, false);
  if (failed(scale))
    return failure();
  if (type.getNumElements() == 1 && type.hasStaticShape())
    return em.reshape(*scale, {});
  if (type.getRank() != 1 || channels <= 0 || type.getDimSize(0) != channels)
    return nc.error() << "'" << what << "' must be a scalar"
                      << (channels > 0 ? " or hold one value per output "
                                         "channel (" +
                                             std::to_string(channels) + ")"
                                       : std::string())
                      << ", got " << type;
  SmallVector<int64_t> axes;
  for (int64_t d = 0; d < trailingUnitDims; ++d)
    axes.push_back(d + 1);
  return em.unsqueeze(*scale, axes);
}

/// Requantizes the int32 sums `acc` by `multiplier` (f32, broadcasting) into
/// the type of input `zpIdx` (y's zero point).
LogicalResult requantize(NodeContext &nc, Expansion &ex, Emitter &em, Value acc,
                         Value multiplier, unsigned zpIdx) {
  Type f32 = Float32Type::get(nc.importer.ctx);
  FailureOr<Value> scaled = em.map(
      {acc, multiplier}, f32, [](OpBuilder &b, Location l, ValueRange a) {
        Value f = arith::SIToFPOp::create(b, l, b.getF32Type(), a[0]);
        return arith::MulFOp::create(b, l, f, a[1]).getResult();
      });
  if (failed(scaled))
    return failure();
  std::string one = ex.bind(em.splat(RankedTensorType::get({}, f32), 1.0),
                            onnx::TensorProto::FLOAT);
  FailureOr<SmallVector<Expansion::Output>> y = ex.run(
      "QuantizeLinear",
      {ex.bind(*scaled, onnx::TensorProto::FLOAT), one, ex.input(zpIdx)}, 1);
  if (failed(y))
    return failure();
  nc.setOutput(0, (*y)[0].value, (*y)[0].onnxType);
  return success();
}

/// (s0 * s1) / s2 elementwise, in ONNX Runtime's order.
FailureOr<Value> multiplierOf(Emitter &em, Value s0, Value s1, Value s2) {
  return em.map({s0, s1, s2}, em.b.getF32Type(),
                [](OpBuilder &b, Location l, ValueRange a) {
                  return arith::DivFOp::create(
                             b, l, arith::MulFOp::create(b, l, a[0], a[1]),
                             a[2])
                      .getResult();
                });
}

/// QLinearMatMul(a, a_scale, a_zero_point, b, b_scale, b_zero_point,
/// y_scale, y_zero_point); b's scale and zero point may be per column.
LogicalResult convertQLinearMatMul(NodeContext &nc) {
  for (unsigned i : {0u, 1u, 3u, 4u, 6u, 7u})
    if (!nc.hasInput(i))
      return nc.error() << "input " << i << " is missing";
  Value b = nc.input(3);
  if (!b)
    return nc.error() << "input b has no value";
  int64_t columns = typeOf(b).getRank() >= 1
                        ? typeOf(b).getDimSize(typeOf(b).getRank() - 1)
                        : -1;
  Emitter em = nc.emitter();
  FailureOr<Value> as = scaleInput(nc, em, 1, "a_scale", -1, 0);
  FailureOr<Value> bs = scaleInput(nc, em, 4, "b_scale", columns, 0);
  FailureOr<Value> ys = scaleInput(nc, em, 6, "y_scale", -1, 0);
  if (failed(as) || failed(bs) || failed(ys))
    return failure();
  Expansion ex(nc);
  FailureOr<SmallVector<Expansion::Output>> acc = ex.run(
      "MatMulInteger", {ex.input(0), ex.input(3), ex.input(2), ex.input(5)}, 1);
  if (failed(acc))
    return failure();
  FailureOr<Value> multiplier = multiplierOf(em, *as, *bs, *ys);
  if (failed(multiplier))
    return failure();
  return requantize(nc, ex, em, (*acc)[0].value, *multiplier, 7);
}

/// QLinearConv(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
/// y_zero_point, B): ConvInteger with the node's geometry, plus the int32
/// bias; w's scale and zero point may be per output channel.
LogicalResult convertQLinearConv(NodeContext &nc) {
  for (unsigned i : {0u, 1u, 3u, 4u, 6u, 7u})
    if (!nc.hasInput(i))
      return nc.error() << "input " << i << " is missing";
  Value x = nc.input(0), w = nc.input(3);
  if (!x || !w)
    return nc.error() << "inputs x and w need values";
  int64_t rank = typeOf(x).getRank();
  if (rank < 3 || typeOf(w).getRank() != rank)
    return nc.error() << "x and w must have one rank >= 3, got " << x.getType()
                      << " and " << w.getType();
  int64_t channels = typeOf(w).getDimSize(0);
  Emitter em = nc.emitter();
  FailureOr<Value> xs = scaleInput(nc, em, 1, "x_scale", -1, 0);
  FailureOr<Value> ws = scaleInput(nc, em, 4, "w_scale", channels, rank - 2);
  FailureOr<Value> ys = scaleInput(nc, em, 6, "y_scale", -1, 0);
  if (failed(xs) || failed(ws) || failed(ys))
    return failure();
  Expansion ex(nc);
  SmallVector<onnx::AttributeProto> attrs(nc.node.attribute().begin(),
                                          nc.node.attribute().end());
  FailureOr<SmallVector<Expansion::Output>> conv =
      ex.run("ConvInteger",
             {ex.input(0), ex.input(3), ex.input(2), ex.input(5)}, 1, attrs);
  if (failed(conv))
    return failure();
  Value acc = (*conv)[0].value;
  if (nc.hasInput(8)) {
    Value bias = nc.input(8);
    auto biasType = bias ? typeOf(bias) : RankedTensorType();
    if (!bias || biasType.getRank() != 1 ||
        biasType.getDimSize(0) != channels ||
        !biasType.getElementType().isInteger(32))
      return nc.error() << "B must be an int32 vector of " << channels
                        << " elements";
    SmallVector<int64_t> axes;
    for (int64_t d = 0; d < rank - 2; ++d)
      axes.push_back(d + 1);
    FailureOr<Value> column = em.unsqueeze(bias, axes);
    if (failed(column))
      return failure();
    FailureOr<Value> sum =
        em.map({acc, *column}, getElementTypeOrSelf(acc),
               [](OpBuilder &b, Location l, ValueRange a) {
                 return arith::AddIOp::create(b, l, a[0], a[1]).getResult();
               });
    if (failed(sum))
      return failure();
    acc = *sum;
  }
  FailureOr<Value> multiplier = multiplierOf(em, *xs, *ws, *ys);
  if (failed(multiplier))
    return failure();
  return requantize(nc, ex, em, acc, *multiplier, 7);
}

/// ONNX Runtime's quantized elementwise, pooling and concatenation
/// operators (com.microsoft QLinearAdd, ...): their quantized inputs
/// dequantized, the float operator, the result quantized with y's scale and
/// zero point, as ONNX Runtime computes them in f32 (results agree within
/// one quantization step).
struct QLinearForm {
  StringRef op, floatOp;
  /// Index of the first (value, scale, zero point) triple, how many there
  /// are (0: every one to the end), and of y's scale.
  unsigned firstTriple, numTriples, yScale;
};

constexpr QLinearForm kQLinearForms[] = {
    {"QLinearAdd", "Add", 0, 2, 6},
    {"QLinearMul", "Mul", 0, 2, 6},
    {"QLinearSigmoid", "Sigmoid", 0, 1, 3},
    {"QLinearLeakyRelu", "LeakyRelu", 0, 1, 3},
    {"QLinearGlobalAveragePool", "GlobalAveragePool", 0, 1, 3},
    {"QLinearAveragePool", "AveragePool", 0, 1, 3},
    {"QLinearConcat", "Concat", 2, 0, 0},
};

LogicalResult convertQLinearWrapped(NodeContext &nc) {
  const QLinearForm *form = llvm::find_if(
      kQLinearForms, [&](const QLinearForm &f) { return f.op == nc.opType(); });
  if (form == std::end(kQLinearForms))
    return nc.error() << "no quantized form for " << nc.opType();
  if (nc.attrInt("channels_last", 0) != 0)
    return nc.error() << "channels_last = 1 is not supported";
  unsigned numTriples = form->numTriples;
  if (numTriples == 0) {
    if (nc.numInputs() < form->firstTriple + 3 ||
        (nc.numInputs() - form->firstTriple) % 3 != 0)
      return nc.error() << "expects (value, scale, zero point) triples after "
                        << "input " << form->firstTriple - 1;
    numTriples = (nc.numInputs() - form->firstTriple) / 3;
  }
  Expansion ex(nc);
  SmallVector<std::string> floats;
  for (unsigned t = 0; t < numTriples; ++t) {
    unsigned i = form->firstTriple + 3 * t;
    if (!nc.hasInput(i) || !nc.hasInput(i + 1))
      return nc.error() << "input " << i << " or its scale (input " << i + 1
                        << ") is missing";
    FailureOr<SmallVector<Expansion::Output>> x = ex.run(
        "DequantizeLinear", {ex.input(i), ex.input(i + 1), ex.input(i + 2)}, 1);
    if (failed(x))
      return failure();
    floats.push_back((*x)[0].name);
  }
  SmallVector<onnx::AttributeProto> attrs;
  for (const onnx::AttributeProto &a : nc.node.attribute())
    if (a.name() != "channels_last")
      attrs.push_back(a);
  FailureOr<SmallVector<Expansion::Output>> y =
      ex.run(form->floatOp, floats, 1, attrs);
  if (failed(y))
    return failure();
  if (!nc.hasInput(form->yScale))
    return nc.error() << "y's scale (input " << form->yScale << ") is missing";
  // Without y's zero point, y takes the first input's type.
  std::string yZeroPoint = ex.input(form->yScale + 1);
  if (yZeroPoint.empty()) {
    int32_t type = nc.inputOnnxType(form->firstTriple);
    Emitter em = nc.emitter();
    Type i8 = nc.importer.builder.getI8Type();
    yZeroPoint = ex.bind(em.splat(RankedTensorType::get({}, i8), 0), type);
  }
  FailureOr<SmallVector<Expansion::Output>> q = ex.run(
      "QuantizeLinear", {(*y)[0].name, ex.input(form->yScale), yZeroPoint}, 1);
  if (failed(q))
    return failure();
  nc.setOutput(0, (*q)[0].value, (*q)[0].onnxType);
  return success();
}

} // namespace

void parsimony::onnximport::registerQLinearConverters(
    llvm::StringMap<ConverterFn> &map) {
  map["::QLinearMatMul"] = convertQLinearMatMul;
  map["::QLinearConv"] = convertQLinearConv;
  for (const QLinearForm &form : kQLinearForms)
    map[("com.microsoft::" + form.op).str()] = convertQLinearWrapped;
}
