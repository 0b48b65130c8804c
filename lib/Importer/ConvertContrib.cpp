//===- ConvertContrib.cpp - ONNX Runtime contrib operators ----------------===//
//
// Elementwise, normalization and matmul operators that ONNX Runtime's
// transformer optimizer and model builder fuse out of standard ONNX graphs
// (Gelu, FastGelu, SkipLayerNormalization, FusedMatMul, ...). Each is
// decomposed into the linalg forms the standard operators it replaces import
// to, so the sparse-idiom raising and epilogue fusion see the same IR either
// way.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>

using namespace mlir;
using namespace parsimony::onnximport;

namespace {

/// Checks that `v` is 1-D with `size` elements (a per-channel parameter).
LogicalResult requireVector(NodeContext &nc, Value v, int64_t size,
                            StringRef what) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getRank() != 1 || (!ShapedType::isDynamic(size) && !t.isDynamicDim(0) &&
                           t.getDimSize(0) != size))
    return nc.error() << what << " must have shape [" << size << "], got " << t;
  return success();
}

/// a + b, numpy-broadcast.
FailureOr<Value> add(Emitter &em, Value a, Value b) {
  return em.map({a, b}, getElementTypeOrSelf(a.getType()),
                [](OpBuilder &ob, Location l, ValueRange s) {
                  return arith::AddFOp::create(ob, l, s[0], s[1]).getResult();
                });
}

//===----------------------------------------------------------------------===//
// Activations
//===----------------------------------------------------------------------===//

/// Gelu(X) and BiasGelu(A, B) = Gelu(A + B), erf form.
template <bool withBias> LogicalResult convertGelu(NodeContext &nc) {
  FailureOr<Value> x = nc.floatInput(0, withBias ? "A" : "X");
  if (failed(x))
    return failure();
  Emitter em = nc.emitter();
  Value in = *x;
  if (withBias) {
    FailureOr<Value> bias = nc.floatInput(1, "B");
    if (failed(bias))
      return failure();
    FailureOr<Value> sum = add(em, in, *bias);
    if (failed(sum))
      return failure();
    in = *sum;
  }
  FailureOr<Value> y = em.gelu(in);
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

/// FastGelu(X [, bias]): tanh-approximated GELU of X + bias.
LogicalResult convertFastGelu(NodeContext &nc) {
  FailureOr<Value> x = nc.floatInput(0, "X");
  if (failed(x))
    return failure();
  FailureOr<Value> bias = nc.floatInput(1, "bias", /*required=*/false);
  if (failed(bias))
    return failure();
  Emitter em = nc.emitter();
  Value in = *x;
  if (*bias) {
    FailureOr<Value> sum = add(em, in, *bias);
    if (failed(sum))
      return failure();
    in = *sum;
  }
  FailureOr<Value> y = em.geluTanh(in);
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

/// QuickGelu(X) = X * sigmoid(alpha X).
LogicalResult convertQuickGelu(NodeContext &nc) {
  FailureOr<Value> x = nc.floatInput(0, "X");
  if (failed(x))
    return failure();
  double alpha = nc.attrFloat("alpha", 1.702f);
  Type t = getElementTypeOrSelf(x->getType());
  FailureOr<Value> y =
      nc.emitter().map({*x}, t, [&](OpBuilder &b, Location l, ValueRange a) {
        Emitter s(b, l, nullptr);
        Value z = arith::MulFOp::create(b, l, a[0], s.scalarConst(t, alpha));
        Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, z));
        Value den = arith::AddFOp::create(b, l, e, s.scalarConst(t, 1.0));
        return arith::DivFOp::create(b, l, a[0], den).getResult();
      });
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

/// BiasAdd(X, bias, skip) = X + bias + skip.
LogicalResult convertBiasAdd(NodeContext &nc) {
  FailureOr<Value> x = nc.floatInput(0, "X");
  if (failed(x))
    return failure();
  FailureOr<Value> bias = nc.floatInput(1, "bias");
  if (failed(bias))
    return failure();
  FailureOr<Value> skip = nc.floatInput(2, "skip");
  if (failed(skip))
    return failure();
  auto xt = cast<RankedTensorType>(x->getType());
  if (xt.getRank() != 3)
    return nc.error() << "X must be 3-D [N, S, C], got " << xt;
  if (failed(requireVector(nc, *bias, xt.getDimSize(2), "bias")))
    return failure();
  if (cast<RankedTensorType>(skip->getType()).getShape() != xt.getShape())
    return nc.error() << "skip must have the shape of X (" << xt << "), got "
                      << skip->getType();
  Emitter em = nc.emitter();
  FailureOr<Value> sum = add(em, *x, *bias);
  if (failed(sum))
    return failure();
  sum = add(em, *sum, *skip);
  if (failed(sum))
    return failure();
  nc.setOutput(0, *sum, nc.inputOnnxType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Normalizations
//===----------------------------------------------------------------------===//

/// SkipLayerNormalization and SkipSimplifiedLayerNormalization:
///   s = input + skip [+ bias]; output = norm(s) * gamma [+ beta]
/// over the last dimension, statistics in f32. Outputs: output, mean,
/// inv_std_var (both [..., 1]), input_skip_bias_sum.
template <bool rms> LogicalResult convertSkipLayerNorm(NodeContext &nc) {
  FailureOr<Value> x = nc.floatInput(0, "input");
  if (failed(x))
    return failure();
  FailureOr<Value> skip = nc.floatInput(1, "skip");
  if (failed(skip))
    return failure();
  FailureOr<Value> gamma = nc.floatInput(2, "gamma");
  if (failed(gamma))
    return failure();
  // SkipLayerNormalization: gamma, beta, bias; the simplified form has no
  // beta: gamma, bias.
  FailureOr<Value> beta = rms ? FailureOr<Value>(Value())
                              : nc.floatInput(3, "beta", /*required=*/false);
  if (failed(beta))
    return failure();
  FailureOr<Value> bias =
      nc.floatInput(rms ? 3 : 4, "bias", /*required=*/false);
  if (failed(bias))
    return failure();
  auto xt = cast<RankedTensorType>(x->getType());
  if (xt.getRank() != 2 && xt.getRank() != 3)
    return nc.error() << "input must be 2-D or 3-D, got " << xt;
  int64_t hidden = xt.getShape().back();
  auto st = cast<RankedTensorType>(skip->getType());
  if (st.getRank() > xt.getRank() || st.getRank() < 2 ||
      llvm::any_of(
          llvm::zip(llvm::reverse(st.getShape()), llvm::reverse(xt.getShape())),
          [](auto p) {
            auto [s, x] = p;
            return s != x && s != 1 && !ShapedType::isDynamic(s) &&
                   !ShapedType::isDynamic(x);
          }) ||
      st.getShape().back() != hidden)
    return nc.error() << "skip must have the shape of input (" << xt
                      << ") or broadcast to it over its leading dimensions, "
                         "got "
                      << st;
  for (auto [v, what] : {std::pair(*gamma, "gamma"), std::pair(*beta, "beta"),
                         std::pair(*bias, "bias")})
    if (v && failed(requireVector(nc, v, hidden, what)))
      return failure();
  Emitter em = nc.emitter();
  FailureOr<Value> sum = add(em, *x, *skip);
  if (failed(sum))
    return failure();
  if (*bias) {
    sum = add(em, *sum, *bias);
    if (failed(sum))
      return failure();
  }
  FailureOr<Emitter::Normalized> n = em.layerNorm(
      *sum, *gamma, *beta, xt.getRank() - 1, nc.attrFloat("epsilon", 1e-12f),
      nc.importer.builder.getF32Type(), rms);
  if (failed(n))
    return failure();
  if (rms && nc.hasOutput(1))
    return nc.error() << "output 'mean' is not defined for the RMS form";
  int32_t f32 = onnx::TensorProto::FLOAT;
  nc.setOutput(0, n->y, nc.inputOnnxType(0));
  if (!rms)
    nc.setOutput(1, n->mean, f32);
  nc.setOutput(2, n->invStdDev, f32);
  nc.setOutput(3, *sum, nc.inputOnnxType(0));
  return success();
}

/// SimplifiedLayerNormalization (RMSNorm; ONNX Runtime registers it in the
/// default domain) and ONNX's RMSNormalization (opset 23, the same operator
/// without the inv_std_var output): Y = X / sqrt(mean(X^2) + epsilon) *
/// scale over [axis, rank). Outputs Y and inv_std_var.
LogicalResult convertSimplifiedLayerNorm(NodeContext &nc) {
  FailureOr<Value> x = nc.floatInput(0, "X");
  if (failed(x))
    return failure();
  FailureOr<Value> scale = nc.floatInput(1, "scale");
  if (failed(scale))
    return failure();
  auto xt = cast<RankedTensorType>(x->getType());
  FailureOr<int64_t> axis = normalizeAxis(nc.attrInt("axis", -1), xt.getRank(),
                                          [&] { return nc.error(); });
  if (failed(axis))
    return failure();
  Type compute = nc.attrInt("stash_type", 1) == 1
                     ? nc.importer.builder.getF32Type()
                     : xt.getElementType();
  FailureOr<Emitter::Normalized> n = nc.emitter().layerNorm(
      *x, *scale, Value(), *axis, nc.attrFloat("epsilon", 1e-5f), compute,
      /*rms=*/true);
  if (failed(n))
    return failure();
  nc.setOutput(0, n->y, nc.inputOnnxType(0));
  nc.setOutput(1, n->invStdDev, onnxTypeFor(compute));
  return success();
}

//===----------------------------------------------------------------------===//
// Matmuls
//===----------------------------------------------------------------------===//

/// The permutation FusedMatMul applies to an operand of rank `rank` before a
/// numpy matmul: with `transBatch`, dimension 0 moves behind the batch
/// dimensions [1, rank - 1) into the matrix; with `trans`, the two matrix
/// dimensions swap. Empty if nothing moves.
SmallVector<int64_t> fusedMatMulPerm(int64_t rank, bool trans,
                                     bool transBatch) {
  SmallVector<int64_t> perm;
  if (transBatch && rank >= 3) {
    for (int64_t i = 1; i < rank - 1; ++i)
      perm.push_back(i);
    perm.push_back(0);
    perm.push_back(rank - 1);
  } else {
    for (int64_t i = 0; i < rank; ++i)
      perm.push_back(i);
  }
  if (trans && rank >= 2)
    std::swap(perm[rank - 2], perm[rank - 1]);
  if (llvm::equal(perm, llvm::seq<int64_t>(0, rank)))
    return {};
  return perm;
}

/// FusedMatMul / TransposeMatMul: Y = alpha * op(A) @ op(B).
LogicalResult convertFusedMatMul(NodeContext &nc) {
  FailureOr<Value> a = nc.floatInput(0, "A");
  if (failed(a))
    return failure();
  FailureOr<Value> bm = nc.floatInput(1, "B");
  if (failed(bm))
    return failure();
  Emitter em = nc.emitter();
  Value ops[2] = {*a, *bm};
  const char *names[2] = {"A", "B"};
  for (int i = 0; i < 2; ++i) {
    auto t = cast<RankedTensorType>(ops[i].getType());
    bool trans = nc.attrInt(i == 0 ? "transA" : "transB", 0) != 0;
    bool transBatch =
        nc.attrInt(i == 0 ? "transBatchA" : "transBatchB", 0) != 0;
    if ((trans || transBatch) && t.getRank() < 2)
      return nc.error() << names[i] << " must have rank >= 2 to be transposed";
    SmallVector<int64_t> perm = fusedMatMulPerm(t.getRank(), trans, transBatch);
    if (!perm.empty())
      ops[i] = em.transpose(ops[i], perm);
  }
  FailureOr<Value> y = em.matmul(ops[0], ops[1]);
  if (failed(y))
    return failure();
  double alpha = nc.attrFloat("alpha", 1.0f);
  if (alpha != 1.0) {
    Type t = getElementTypeOrSelf(y->getType());
    y = em.map({*y}, t, [&](OpBuilder &b, Location l, ValueRange s) {
      Emitter e(b, l, nullptr);
      return arith::MulFOp::create(b, l, s[0], e.scalarConst(t, alpha))
          .getResult();
    });
    if (failed(y))
      return failure();
  }
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

/// GemmFastGelu(X, W [, bias]) = FastGelu(X @ W + bias).
LogicalResult convertGemmFastGelu(NodeContext &nc) {
  FailureOr<Value> x = nc.floatInput(0, "X");
  if (failed(x))
    return failure();
  FailureOr<Value> w = nc.floatInput(1, "W");
  if (failed(w))
    return failure();
  FailureOr<Value> bias = nc.floatInput(2, "bias", /*required=*/false);
  if (failed(bias))
    return failure();
  Emitter em = nc.emitter();
  FailureOr<Value> y = em.matmul(*x, *w);
  if (failed(y))
    return failure();
  if (*bias) {
    y = add(em, *y, *bias);
    if (failed(y))
      return failure();
  }
  y = em.geluTanh(*y);
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

/// FusedGemm (ONNX Runtime's level-2 Gemm + activation fusion): Gemm with
/// its attributes, then the `activation` operator with activation_alpha,
/// _beta and _gamma as its alpha, beta and gamma, both by their converters.
LogicalResult convertFusedGemm(NodeContext &nc) {
  std::string activation = nc.attrString("activation", "");
  if (!llvm::is_contained({"Relu", "LeakyRelu", "Tanh", "Sigmoid",
                           "HardSigmoid", "Selu", "Elu", "Softplus"},
                          activation))
    return nc.error() << "unsupported activation '" << activation
                      << "' (expected Relu, LeakyRelu, Tanh, Sigmoid, "
                         "HardSigmoid, Selu, Elu or Softplus)";
  if (!nc.hasOutput(0))
    return success();
  SmallVector<onnx::AttributeProto> gemmAttrs, actAttrs;
  for (const onnx::AttributeProto &attr : nc.node.attribute()) {
    StringRef name = attr.name();
    if (llvm::is_contained({"alpha", "beta", "transA", "transB"}, name)) {
      gemmAttrs.push_back(attr);
    } else if (name.consume_front("activation_")) {
      actAttrs.push_back(attr);
      actAttrs.back().set_name(name.str());
    }
  }
  Expansion ex(nc);
  SmallVector<std::string> gemmInputs;
  for (unsigned i = 0; i < nc.numInputs(); ++i)
    gemmInputs.push_back(ex.input(i));
  FailureOr<SmallVector<Expansion::Output>> product =
      ex.run("Gemm", gemmInputs, 1, gemmAttrs);
  if (failed(product))
    return failure();
  FailureOr<SmallVector<Expansion::Output>> y =
      ex.run(activation, {(*product)[0].name}, 1, actAttrs);
  if (failed(y))
    return failure();
  nc.setOutput(0, (*y)[0].value, (*y)[0].onnxType);
  return success();
}

} // namespace

void parsimony::onnximport::registerContribConverters(
    llvm::StringMap<ConverterFn> &map) {
  map["com.microsoft::Gelu"] = convertGelu<false>;
  map["com.microsoft::BiasGelu"] = convertGelu<true>;
  map["com.microsoft::FastGelu"] = convertFastGelu;
  map["com.microsoft::QuickGelu"] = convertQuickGelu;
  map["com.microsoft::BiasAdd"] = convertBiasAdd;
  map["com.microsoft::SkipLayerNormalization"] = convertSkipLayerNorm<false>;
  map["com.microsoft::SkipSimplifiedLayerNormalization"] =
      convertSkipLayerNorm<true>;
  map["::SimplifiedLayerNormalization"] = convertSimplifiedLayerNorm;
  map["::RMSNormalization"] = convertSimplifiedLayerNorm;
  map["com.microsoft::FusedMatMul"] = convertFusedMatMul;
  map["com.microsoft::TransposeMatMul"] = convertFusedMatMul;
  map["com.microsoft::GemmFastGelu"] = convertGemmFastGelu;
  map["com.microsoft::FusedGemm"] = convertFusedGemm;
}
