//===- ConvertConvolution.cpp - sliding-window ONNX operators -------------===//
//
// Conv, ConvInteger, ConvTranspose and the pooling operators over N-D
// inputs [N, C, D1, ..., Dr] (static channels and spatial sizes; the batch
// may be dynamic).
//
// A convolution becomes an im2col gather (a parallel linalg.generic reading
// the padded input at o * stride + k * dilation) and one contraction
// generic per group, out[g, m, n, o] = sum_{c, k} w[g, m, c, k] *
// col[g, n, o, c, k]: a plain batched matmul, so the CPU and GPU pipelines
// run it on their GEMM kernels. ConvTranspose is the convolution of the
// stride-dilated, re-padded input with the flipped kernel. Pooling is one
// reduction generic over the window. BatchNormalization (inference) and
// InstanceNormalization normalize per channel.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace parsimony::onnximport;

static constexpr int64_t kDyn = ShapedType::kDynamic;

namespace {

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

/// Sizes larger than this would overflow the window arithmetic.
constexpr int64_t kMaxWindowAttr = int64_t{1} << 32;

/// The sliding-window geometry over the spatial dimensions.
struct Window {
  SmallVector<int64_t> kernel, strides, dilations, padBegin, padEnd, out;
  /// Padding beyond padEnd that ceil_mode's last window reads.
  SmallVector<int64_t> ceilExtra;

  int64_t rank() const { return kernel.size(); }
  int64_t extent(int64_t d) const { return (kernel[d] - 1) * dilations[d] + 1; }
};

/// Reads an optional INTS attribute of `rank` entries, each within [min,
/// kMaxWindowAttr]; `def` when absent.
FailureOr<SmallVector<int64_t>> windowAttr(NodeContext &nc, StringRef name,
                                           size_t rank, int64_t def,
                                           int64_t min) {
  std::optional<SmallVector<int64_t>> values = nc.attrInts(name);
  if (!values)
    return SmallVector<int64_t>(rank, def);
  if (values->size() != rank)
    return nc.error() << "'" << name << "' has " << values->size()
                      << " entries, expected " << rank;
  for (int64_t v : *values)
    if (v < min || v > kMaxWindowAttr)
      return nc.error() << "'" << name << "' entry " << v << " is out of range";
  return *values;
}

/// The window geometry of `nc` (kernel_shape, strides, dilations, pads,
/// auto_pad and, with `allowCeil`, ceil_mode) over spatial sizes `in`.
FailureOr<Window> readWindow(NodeContext &nc, ArrayRef<int64_t> in,
                             ArrayRef<int64_t> kernel, bool allowCeil) {
  size_t r = in.size();
  Window w;
  w.kernel.assign(kernel.begin(), kernel.end());
  FailureOr<SmallVector<int64_t>> strides = windowAttr(nc, "strides", r, 1, 1);
  FailureOr<SmallVector<int64_t>> dilations =
      windowAttr(nc, "dilations", r, 1, 1);
  FailureOr<SmallVector<int64_t>> pads = windowAttr(nc, "pads", 2 * r, 0, 0);
  if (failed(strides) || failed(dilations) || failed(pads))
    return failure();
  w.strides = *strides;
  w.dilations = *dilations;
  std::string autoPad = nc.attrString("auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "SAME_UPPER" &&
      autoPad != "SAME_LOWER")
    return nc.error() << "unsupported auto_pad '" << autoPad
                      << "' (expected NOTSET, VALID, SAME_UPPER or "
                         "SAME_LOWER)";
  if (autoPad != "NOTSET" && nc.attr("pads"))
    return nc.error() << "'pads' cannot be combined with auto_pad '" << autoPad
                      << "'";
  bool ceil = allowCeil && nc.attrInt("ceil_mode", 0) != 0;
  for (size_t d = 0; d < r; ++d) {
    if (kernel[d] < 1 || kernel[d] > kMaxWindowAttr)
      return nc.error() << "kernel size " << kernel[d] << " is out of range";
    int64_t s = w.strides[d], ek = w.extent(d), pb = 0, pe = 0, o;
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      o = llvm::divideCeil(in[d], s);
      int64_t total = std::max<int64_t>(0, (o - 1) * s + ek - in[d]);
      int64_t small = total / 2;
      pb = autoPad == "SAME_UPPER" ? small : total - small;
      pe = total - pb;
    } else {
      if (autoPad == "NOTSET") {
        pb = (*pads)[d];
        pe = (*pads)[d + r];
      }
      int64_t span = in[d] + pb + pe - ek;
      if (span < 0)
        return nc.error() << "the window (extent " << ek << ") of spatial "
                          << "dimension " << d << " is larger than the "
                          << "padded input (" << in[d] + pb + pe << ")";
      o = (ceil ? llvm::divideCeil(span, s) : span / s) + 1;
      // The last window must start inside the input or its left padding.
      if (ceil && (o - 1) * s >= in[d] + pb)
        --o;
    }
    w.padBegin.push_back(pb);
    w.padEnd.push_back(pe);
    w.out.push_back(o);
    w.ceilExtra.push_back(
        std::max<int64_t>(0, (o - 1) * s + ek - (in[d] + pb + pe)));
  }
  return w;
}

/// `x` [N, C, D...] padded with `value` by the window's pads (and the ceil
/// extra) on the spatial dimensions.
Value padSpatial(NodeContext &nc, Value x, const Window &w, Value value) {
  int64_t r = w.rank();
  bool any = false;
  SmallVector<OpFoldResult> low, high;
  OpBuilder &b = nc.importer.builder;
  SmallVector<int64_t> shape(typeOf(x).getShape());
  for (int64_t i = 0; i < r + 2; ++i) {
    int64_t lo = i < 2 ? 0 : w.padBegin[i - 2];
    int64_t hi = i < 2 ? 0 : w.padEnd[i - 2] + w.ceilExtra[i - 2];
    any |= lo || hi;
    low.push_back(b.getIndexAttr(lo));
    high.push_back(b.getIndexAttr(hi));
    if (!ShapedType::isDynamic(shape[i]))
      shape[i] += lo + hi;
  }
  if (!any)
    return x;
  auto type = RankedTensorType::get(shape, typeOf(x).getElementType());
  return tensor::PadOp::create(b, nc.loc, type, x, low, high, value);
}

/// The batch size of `x` as dynamic sizes for an init whose leading
/// dimension is the batch (empty when static).
SmallVector<Value> batchDims(Emitter &em, Value x) {
  if (!typeOf(x).isDynamicDim(0))
    return {};
  return {em.dim(x, 0)};
}

/// Every size of `shape` as an index Value, its dynamic ones (the batch)
/// taken in order from `dynamic` (Emitter::reshape's runtime shape).
SmallVector<Value> shapeValues(Emitter &em, ArrayRef<int64_t> shape,
                               ArrayRef<Value> dynamic) {
  if (dynamic.empty())
    return {};
  SmallVector<Value> values;
  for (int64_t size : shape)
    values.push_back(ShapedType::isDynamic(size) ? dynamic.front()
                                                 : em.indexConst(size));
  return values;
}

/// Input positions o * stride + k * dilation of a window over loops
/// (..., o1..or at `outPos`, ..., k1..kr at `kernelPos`).
SmallVector<AffineExpr> windowExprs(MLIRContext *ctx, const Window &w,
                                    unsigned outPos, unsigned kernelPos) {
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < w.rank(); ++d)
    exprs.push_back(getAffineDimExpr(outPos + d, ctx) * w.strides[d] +
                    getAffineDimExpr(kernelPos + d, ctx) * w.dilations[d]);
  return exprs;
}

/// Convolution of the padded input `xp` [N, C, P...] with `weight` [M,
/// C/G, K...] in `group` groups at the window's strides and dilations,
/// accumulated in `xp`'s element type (f32 or i32): [N, M, O...].
FailureOr<Value> emitConvolution(NodeContext &nc, Value xp, Value weight,
                                 int64_t group, const Window &w) {
  Emitter em = nc.emitter();
  MLIRContext *ctx = nc.importer.ctx;
  OpBuilder &b = em.b;
  auto xType = typeOf(xp), wType = typeOf(weight);
  Type elementType = xType.getElementType();
  int64_t r = w.rank(), c = xType.getDimSize(1), m = wType.getDimSize(0);
  int64_t cg = c / group, mg = m / group;
  int64_t n = xType.getDimSize(0);
  SmallVector<Value> dynN = batchDims(em, xp);

  // [N, G, C/G, P...]
  SmallVector<int64_t> grouped = {n, group, cg};
  llvm::append_range(grouped, xType.getShape().drop_front(2));
  FailureOr<Value> xg = em.reshape(xp, grouped, shapeValues(em, grouped, dynN));
  if (failed(xg))
    return failure();

  // im2col: col[g, n, o..., c, k...] = xg[n, g, c, o * s + k * d].
  unsigned numLoops = 3 + 2 * r;
  SmallVector<int64_t> colShape = {group, n};
  llvm::append_range(colShape, w.out);
  colShape.push_back(cg);
  llvm::append_range(colShape, w.kernel);
  auto colType = RankedTensorType::get(colShape, elementType);
  SmallVector<AffineExpr> colIn = {getAffineDimExpr(1, ctx),
                                   getAffineDimExpr(0, ctx),
                                   getAffineDimExpr(2 + r, ctx)};
  llvm::append_range(colIn, windowExprs(ctx, w, 2, 3 + r));
  SmallVector<Value> colDyn;
  if (!dynN.empty())
    colDyn.push_back(dynN[0]);
  auto im2col = linalg::GenericOp::create(
      b, nc.loc, TypeRange{colType}, ValueRange{*xg},
      ValueRange{em.empty(colType, colDyn)},
      SmallVector<AffineMap>{AffineMap::get(numLoops, 0, colIn, ctx),
                             AffineMap::getMultiDimIdentityMap(numLoops, ctx)},
      SmallVector<utils::IteratorType>(numLoops, utils::IteratorType::parallel),
      [](OpBuilder &lb, Location l, ValueRange args) {
        linalg::YieldOp::create(lb, l, args[0]);
      });

  // [G, M/G, C/G, K...]
  SmallVector<int64_t> wShape = {group, mg, cg};
  llvm::append_range(wShape, w.kernel);
  FailureOr<Value> wg = em.reshape(weight, wShape);
  if (failed(wg))
    return failure();

  // out[g, m, n, o...] = sum_{c, k} wg[g, m, c, k...] * col[g, n, o..., c,
  // k...] over loops (g, m, n, o..., c, k...).
  unsigned loops = 4 + 2 * r;
  auto dims = [&](unsigned from, unsigned count) {
    SmallVector<AffineExpr> e;
    for (unsigned i = 0; i < count; ++i)
      e.push_back(getAffineDimExpr(from + i, ctx));
    return e;
  };
  SmallVector<AffineExpr> wExprs = {getAffineDimExpr(0, ctx),
                                    getAffineDimExpr(1, ctx)};
  llvm::append_range(wExprs, dims(3 + r, 1 + r));
  SmallVector<AffineExpr> colExprs = {getAffineDimExpr(0, ctx)};
  llvm::append_range(colExprs, dims(2, 1 + r));
  llvm::append_range(colExprs, dims(3 + r, 1 + r));
  SmallVector<AffineExpr> outExprs = dims(0, 3 + r);
  SmallVector<int64_t> accShape = {group, mg, n};
  llvm::append_range(accShape, w.out);
  auto accType = RankedTensorType::get(accShape, elementType);
  Value acc = em.filled(accType, dynN, em.scalarConst(elementType, 0));
  SmallVector<utils::IteratorType> iterators(3 + r,
                                             utils::IteratorType::parallel);
  iterators.append(1 + r, utils::IteratorType::reduction);
  bool isFloat = isa<FloatType>(elementType);
  auto contraction = linalg::GenericOp::create(
      b, nc.loc, TypeRange{accType}, ValueRange{*wg, im2col.getResult(0)},
      ValueRange{acc},
      SmallVector<AffineMap>{AffineMap::get(loops, 0, wExprs, ctx),
                             AffineMap::get(loops, 0, colExprs, ctx),
                             AffineMap::get(loops, 0, outExprs, ctx)},
      iterators, [&](OpBuilder &lb, Location l, ValueRange args) {
        Value product =
            isFloat ? arith::MulFOp::create(lb, l, args[0], args[1]).getResult()
                    : arith::MulIOp::create(lb, l, args[0], args[1]);
        Value sum =
            isFloat ? arith::AddFOp::create(lb, l, args[2], product).getResult()
                    : arith::AddIOp::create(lb, l, args[2], product);
        linalg::YieldOp::create(lb, l, sum);
      });

  // [G, M/G, N, O...] -> [N, G, M/G, O...] -> [N, M, O...]; with one image
  // or one group the transpose is a reshape.
  Value result = contraction.getResult(0);
  SmallVector<int64_t> outShape = {n, m};
  llvm::append_range(outShape, w.out);
  if (n != 1 && group != 1) {
    SmallVector<int64_t> perm = {2, 0, 1};
    for (int64_t d = 0; d < r; ++d)
      perm.push_back(3 + d);
    result = em.transpose(result, perm);
  } else if (n != 1) {
    // [1, M, N, O...] -> [N, M, O...]
    SmallVector<int64_t> perm = {2, 1, 0};
    for (int64_t d = 0; d < r; ++d)
      perm.push_back(3 + d);
    result = em.transpose(result, perm);
  }
  return em.reshape(result, outShape, shapeValues(em, outShape, dynN));
}

/// Checks the shapes Conv-like operators share: `x` [N, C, D...] with
/// static C and D, `weight` of rank x's, and returns the spatial sizes.
FailureOr<SmallVector<int64_t>> spatialSizes(NodeContext &nc, Value x,
                                             StringRef what) {
  auto type = typeOf(x);
  if (type.getRank() < 3)
    return nc.error() << what << " must have rank >= 3 ([N, C, D1, ...]), got "
                      << type;
  for (int64_t d = 1; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      return nc.error() << "the channel and spatial sizes of " << what
                        << " must be static, got " << type;
  return SmallVector<int64_t>(type.getShape().drop_front(2));
}

/// The kernel's spatial sizes from `weight` [*, *, K...], checked against a
/// kernel_shape attribute when present.
FailureOr<SmallVector<int64_t>> kernelSizes(NodeContext &nc, Value weight,
                                            int64_t rank) {
  auto wType = typeOf(weight);
  if (wType.getRank() != rank + 2 || !wType.hasStaticShape())
    return nc.error() << "W must be a static tensor of rank " << rank + 2
                      << ", got " << wType;
  SmallVector<int64_t> kernel(wType.getShape().drop_front(2));
  if (std::optional<SmallVector<int64_t>> attr = nc.attrInts("kernel_shape"))
    if (*attr != kernel)
      return nc.error() << "kernel_shape does not match W's shape " << wType;
  return kernel;
}

/// `v` converted to `type` (floats: extf/truncf).
FailureOr<Value> toElementType(Emitter &em, Value v, Type type) {
  if (typeOf(v).getElementType() == type)
    return v;
  return em.castTo(v, type, false, false);
}

/// Adds the per-output-channel `bias` [M] to `y` [N, M, O...].
FailureOr<Value> addChannelBias(NodeContext &nc, Value y, Value bias) {
  auto yType = typeOf(y);
  auto bType = typeOf(bias);
  if (bType.getRank() != 1 || bType.getDimSize(0) != yType.getDimSize(1))
    return nc.error() << "B must be a vector of " << yType.getDimSize(1)
                      << " elements, got " << bType;
  Emitter em = nc.emitter();
  SmallVector<int64_t> axes;
  for (int64_t d = 2; d < yType.getRank(); ++d)
    axes.push_back(d - 1);
  FailureOr<Value> b = em.unsqueeze(bias, axes);
  if (failed(b))
    return failure();
  return em.map({y, *b}, yType.getElementType(),
                [](OpBuilder &lb, Location l, ValueRange a) -> Value {
                  return arith::AddFOp::create(lb, l, a[0], a[1]);
                });
}

/// The operands Conv, ConvInteger and ConvTranspose share: X [N, C, D...]
/// and W of X's rank (both float of one type, or both 8-bit integers), the
/// spatial and kernel sizes, and a group count dividing C.
struct ConvOperands {
  Value x, weight;
  SmallVector<int64_t> in, kernel;
  int64_t group, channels;
};

FailureOr<ConvOperands> readConvOperands(NodeContext &nc, bool integer) {
  ConvOperands ops;
  ops.x = nc.input(0);
  ops.weight = nc.input(1);
  if (!ops.x || !ops.weight)
    return nc.error() << "needs inputs X and W";
  Type xElement = typeOf(ops.x).getElementType();
  Type wElement = typeOf(ops.weight).getElementType();
  if (integer ? !xElement.isInteger(8) || !wElement.isInteger(8)
              : !isa<FloatType>(xElement) || wElement != xElement)
    return nc.error() << (integer ? "X and W must be int8 or uint8"
                                  : "X and W must be float tensors of one "
                                    "type");
  FailureOr<SmallVector<int64_t>> in = spatialSizes(nc, ops.x, "X");
  if (failed(in))
    return failure();
  FailureOr<SmallVector<int64_t>> kernel =
      kernelSizes(nc, ops.weight, in->size());
  if (failed(kernel))
    return failure();
  ops.in = *in;
  ops.kernel = *kernel;
  ops.group = nc.attrInt("group", 1);
  ops.channels = typeOf(ops.x).getDimSize(1);
  if (ops.group < 1 || ops.channels % ops.group)
    return nc.error() << "group " << ops.group << " does not divide the "
                      << ops.channels << " input channels";
  return ops;
}

/// Conv and ConvInteger.
LogicalResult convertConv(NodeContext &nc) {
  bool integer = nc.opType() == "ConvInteger";
  FailureOr<ConvOperands> ops = readConvOperands(nc, integer);
  if (failed(ops))
    return failure();
  Value x = ops->x, weight = ops->weight;
  Type xElement = typeOf(x).getElementType();
  int64_t r = ops->in.size(), group = ops->group, c = ops->channels;
  int64_t m = typeOf(weight).getDimSize(0);
  if (m % group || typeOf(weight).getDimSize(1) != c / group)
    return nc.error() << "W " << typeOf(weight) << " does not fit " << c
                      << " input channels in " << group << " group(s)";
  FailureOr<Window> w =
      readWindow(nc, ops->in, ops->kernel, /*allowCeil=*/false);
  if (failed(w))
    return failure();

  Emitter em = nc.emitter();
  Type compute;
  Value xc, wc;
  if (integer) {
    // Zero points subtracted in i32 first, so padding with 0 pads with the
    // zero point. W's zero point may be per output channel.
    FailureOr<Value> xw = widenWithZeroPoint(nc, em, 0, 2, 0);
    FailureOr<Value> ww = widenWithZeroPoint(nc, em, 1, 3, r + 1);
    if (failed(xw) || failed(ww))
      return failure();
    xc = *xw;
    wc = *ww;
    compute = em.b.getI32Type();
  } else {
    // The GEMM kernels compute in f32 (f64 stays f64).
    compute = xElement.isF64() ? xElement : em.b.getF32Type();
    FailureOr<Value> xf = toElementType(em, x, compute);
    FailureOr<Value> wf = toElementType(em, weight, compute);
    if (failed(xf) || failed(wf))
      return failure();
    xc = *xf;
    wc = *wf;
  }
  Value xp = padSpatial(nc, xc, *w, em.scalarConst(compute, 0));
  FailureOr<Value> y = emitConvolution(nc, xp, wc, group, *w);
  if (failed(y))
    return failure();
  if (!integer && nc.hasInput(2)) {
    FailureOr<Value> bias = toElementType(em, nc.input(2), compute);
    if (failed(bias) || failed(y = addChannelBias(nc, *y, *bias)))
      return failure();
  }
  if (!integer && (y = toElementType(em, *y, xElement), failed(y)))
    return failure();
  nc.setOutput(0, *y, integer ? onnx::TensorProto::INT32 : nc.inputOnnxType(0));
  return success();
}

/// ConvTranspose: y[n, m, o] = sum_{c, k, i : i * s + k * d - pad = o}
/// x[n, c, i] * w[c, m, k], computed as the convolution (stride 1, the
/// same dilation) of x dilated by the stride and padded by d * (K - 1) -
/// pad with the kernel flipped and its channel dimensions swapped.
LogicalResult convertConvTranspose(NodeContext &nc) {
  FailureOr<ConvOperands> ops = readConvOperands(nc, /*integer=*/false);
  if (failed(ops))
    return failure();
  Value x = ops->x, weight = ops->weight;
  Type xElement = typeOf(x).getElementType();
  SmallVector<int64_t> *in = &ops->in, *kernel = &ops->kernel;
  int64_t r = in->size(), group = ops->group, c = ops->channels;
  auto wType = typeOf(weight);
  if (wType.getDimSize(0) != c)
    return nc.error() << "W " << wType << " does not fit " << c
                      << " input channels in " << group << " group(s)";
  int64_t mg = wType.getDimSize(1), m = mg * group;
  FailureOr<SmallVector<int64_t>> strides = windowAttr(nc, "strides", r, 1, 1);
  FailureOr<SmallVector<int64_t>> dilations =
      windowAttr(nc, "dilations", r, 1, 1);
  FailureOr<SmallVector<int64_t>> pads = windowAttr(nc, "pads", 2 * r, 0, 0);
  FailureOr<SmallVector<int64_t>> outputPadding =
      windowAttr(nc, "output_padding", r, 0, 0);
  if (failed(strides) || failed(dilations) || failed(pads) ||
      failed(outputPadding))
    return failure();
  std::string autoPad = nc.attrString("auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "SAME_UPPER" &&
      autoPad != "SAME_LOWER")
    return nc.error() << "unsupported auto_pad '" << autoPad << "'";
  std::optional<SmallVector<int64_t>> outputShape = nc.attrInts("output_shape");
  if (outputShape && outputShape->size() == static_cast<size_t>(r + 2))
    outputShape =
        SmallVector<int64_t>(outputShape->begin() + 2, outputShape->end());
  if (outputShape && outputShape->size() != static_cast<size_t>(r))
    return nc.error() << "output_shape has " << outputShape->size()
                      << " entries, expected " << r;
  // Per dimension: the full output extent, then the pads cut from it.
  SmallVector<int64_t> padBegin(r), padEnd(r), out(r);
  for (int64_t d = 0; d < r; ++d) {
    int64_t s = (*strides)[d], ek = ((*kernel)[d] - 1) * (*dilations)[d] + 1;
    int64_t full = ((*in)[d] - 1) * s + ek + (*outputPadding)[d];
    if ((*outputPadding)[d] >= std::max(s, (*dilations)[d]))
      return nc.error() << "output_padding " << (*outputPadding)[d]
                        << " must be smaller than the stride or dilation";
    if (outputShape || autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      int64_t target = outputShape ? (*outputShape)[d] : (*in)[d] * s;
      if (target < 1 || target > kMaxWindowAttr)
        return nc.error() << "output size " << target << " is out of range";
      // ONNX: SAME_UPPER puts the larger half of the padding at the end,
      // otherwise (SAME_LOWER, an explicit output_shape) at the start. An
      // output larger than the full one ends in zeros (as ONNX Runtime).
      int64_t total = std::max<int64_t>(0, full - target);
      int64_t small = total / 2;
      padBegin[d] = autoPad == "SAME_UPPER" ? small : total - small;
      padEnd[d] = total - padBegin[d];
      out[d] = target;
    } else {
      if (autoPad == "NOTSET") {
        padBegin[d] = (*pads)[d];
        padEnd[d] = (*pads)[d + r];
      }
      out[d] = full - padBegin[d] - padEnd[d];
    }
    if (out[d] < 1)
      return nc.error() << "pads leave no output in spatial dimension " << d;
  }

  Emitter em = nc.emitter();
  OpBuilder &b = em.b;
  MLIRContext *ctx = nc.importer.ctx;
  Type compute = xElement.isF64() ? xElement : b.getF32Type();
  FailureOr<Value> xf = toElementType(em, x, compute);
  FailureOr<Value> wf = toElementType(em, weight, compute);
  if (failed(xf) || failed(wf))
    return failure();
  // x dilated by the stride: zeros with x inserted every s elements.
  auto xType = typeOf(*xf);
  SmallVector<int64_t> dilatedShape(xType.getShape());
  bool strided = false;
  for (int64_t d = 0; d < r; ++d) {
    dilatedShape[2 + d] = ((*in)[d] - 1) * (*strides)[d] + 1;
    strided |= (*strides)[d] != 1;
  }
  SmallVector<Value> dynN = batchDims(em, *xf);
  Value dilated = *xf;
  if (strided) {
    auto type = RankedTensorType::get(dilatedShape, compute);
    Value zeros = em.filled(type, dynN, em.scalarConst(compute, 0));
    SmallVector<OpFoldResult> offsets(r + 2, b.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes = em.sizes(*xf);
    SmallVector<OpFoldResult> steps(2, b.getIndexAttr(1));
    for (int64_t d = 0; d < r; ++d)
      steps.push_back(b.getIndexAttr((*strides)[d]));
    dilated = tensor::InsertSliceOp::create(b, nc.loc, *xf, zeros, offsets,
                                            sizes, steps);
  }
  // Padded by d * (K - 1) - pad at the start and to the length the output
  // needs (out + extent - 1) at the end; a negative amount crops.
  Window w;
  w.kernel = *kernel;
  w.dilations = *dilations;
  w.strides.assign(r, 1);
  w.out = out;
  w.ceilExtra.assign(r, 0);
  SmallVector<int64_t> cropBegin(r, 0), cropEnd(r, 0);
  for (int64_t d = 0; d < r; ++d) {
    int64_t grow = ((*kernel)[d] - 1) * (*dilations)[d];
    int64_t lo = grow - padBegin[d];
    int64_t hi = out[d] + grow - lo - dilatedShape[2 + d];
    w.padBegin.push_back(std::max<int64_t>(lo, 0));
    w.padEnd.push_back(std::max<int64_t>(hi, 0));
    cropBegin[d] = std::max<int64_t>(-lo, 0);
    cropEnd[d] = std::max<int64_t>(-hi, 0);
  }
  if (llvm::any_of(cropBegin, [](int64_t v) { return v > 0; }) ||
      llvm::any_of(cropEnd, [](int64_t v) { return v > 0; })) {
    SmallVector<OpFoldResult> offsets(2, b.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes = em.sizes(dilated);
    for (int64_t d = 0; d < r; ++d) {
      offsets.push_back(b.getIndexAttr(cropBegin[d]));
      sizes[2 + d] =
          b.getIndexAttr(dilatedShape[2 + d] - cropBegin[d] - cropEnd[d]);
    }
    SmallVector<OpFoldResult> ones(r + 2, b.getIndexAttr(1));
    dilated = em.extractSlice(dilated, offsets, sizes, ones);
  }
  Value xp = padSpatial(nc, dilated, w, em.scalarConst(compute, 0));
  // The flipped kernel as a Conv weight [M, C/G, K...]: wc[g * M/G + j, c,
  // k] = w[g * C/G + c, j, K - 1 - k].
  int64_t cg = c / group;
  SmallVector<int64_t> wgShape = {group, cg, mg};
  llvm::append_range(wgShape, *kernel);
  FailureOr<Value> wg = em.reshape(*wf, wgShape);
  if (failed(wg))
    return failure();
  SmallVector<int64_t> flippedShape = {group, mg, cg};
  llvm::append_range(flippedShape, *kernel);
  unsigned loops = 3 + r;
  SmallVector<AffineExpr> src = {getAffineDimExpr(0, ctx),
                                 getAffineDimExpr(2, ctx),
                                 getAffineDimExpr(1, ctx)};
  for (int64_t d = 0; d < r; ++d)
    src.push_back((*kernel)[d] - 1 - getAffineDimExpr(3 + d, ctx));
  auto flippedType = RankedTensorType::get(flippedShape, compute);
  auto flip = linalg::GenericOp::create(
      b, nc.loc, TypeRange{flippedType}, ValueRange{*wg},
      ValueRange{em.empty(flippedType, {})},
      SmallVector<AffineMap>{AffineMap::get(loops, 0, src, ctx),
                             AffineMap::getMultiDimIdentityMap(loops, ctx)},
      SmallVector<utils::IteratorType>(loops, utils::IteratorType::parallel),
      [](OpBuilder &lb, Location l, ValueRange args) {
        linalg::YieldOp::create(lb, l, args[0]);
      });
  SmallVector<int64_t> convWShape = {m, cg};
  llvm::append_range(convWShape, *kernel);
  FailureOr<Value> convW = em.reshape(flip.getResult(0), convWShape);
  if (failed(convW))
    return failure();
  FailureOr<Value> y = emitConvolution(nc, xp, *convW, group, w);
  if (failed(y))
    return failure();
  if (nc.hasInput(2)) {
    FailureOr<Value> bias = toElementType(em, nc.input(2), compute);
    if (failed(bias) || failed(y = addChannelBias(nc, *y, *bias)))
      return failure();
  }
  if (failed(y = toElementType(em, *y, xElement)))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Pooling
//===----------------------------------------------------------------------===//

/// MaxPool with its Indices output: one generic producing the maximum and
/// the flattened index into the unpadded input of its first occurrence
/// (row-major spatial order, or column-major with storage_order 1);
/// padding never wins.
FailureOr<std::pair<Value, Value>>
emitMaxPoolWithIndices(NodeContext &nc, Value xp, Value windowShape,
                       const Window &w, ArrayRef<int64_t> in,
                       ArrayRef<int64_t> outShape, Value init,
                       int64_t storageOrder, ArrayRef<AffineMap> maps,
                       ArrayRef<utils::IteratorType> iterators) {
  Emitter em = nc.emitter();
  OpBuilder &b = em.b;
  int64_t r = w.rank();
  Type element = typeOf(xp).getElementType();
  bool isFloat = isa<FloatType>(element);
  bool isUnsigned = nc.inputUnsigned(0);
  int64_t channels = typeOf(xp).getDimSize(1);
  auto outType = RankedTensorType::get(outShape, element);
  auto idxType = RankedTensorType::get(outShape, b.getI64Type());
  SmallVector<Value> dynN = batchDims(em, xp);
  SmallVector<AffineMap> allMaps(maps);
  allMaps.push_back(maps.back());
  auto generic = linalg::GenericOp::create(
      b, nc.loc, TypeRange{outType, idxType}, ValueRange{xp, windowShape},
      ValueRange{em.filled(outType, dynN, init),
                 em.filled(idxType, dynN, em.scalarConst(b.getI64Type(), -1))},
      allMaps, iterators, [&](OpBuilder &lb, Location l, ValueRange args) {
        auto index = [&](int64_t v) {
          return arith::ConstantIndexOp::create(lb, l, v).getResult();
        };
        // Position in the unpadded input, and whether it is inside it.
        Value valid = arith::ConstantIntOp::create(lb, l, 1, 1);
        SmallVector<Value> pos;
        for (int64_t d = 0; d < r; ++d) {
          Value o = linalg::IndexOp::create(lb, l, 2 + d);
          Value k = linalg::IndexOp::create(lb, l, 2 + r + d);
          Value p = arith::AddIOp::create(
              lb, l, arith::MulIOp::create(lb, l, o, index(w.strides[d])),
              arith::MulIOp::create(lb, l, k, index(w.dilations[d])));
          p = arith::SubIOp::create(lb, l, p, index(w.padBegin[d]));
          Value inside = arith::AndIOp::create(
              lb, l,
              arith::CmpIOp::create(lb, l, arith::CmpIPredicate::sge, p,
                                    index(0)),
              arith::CmpIOp::create(lb, l, arith::CmpIPredicate::slt, p,
                                    index(in[d])));
          valid = arith::AndIOp::create(lb, l, valid, inside);
          pos.push_back(p);
        }
        // ((n * C + c) * D1 + p1) * D2 + p2 ... (spatial order reversed
        // for storage_order 1).
        Value flat = arith::AddIOp::create(
            lb, l,
            arith::MulIOp::create(lb, l, linalg::IndexOp::create(lb, l, 0),
                                  index(channels)),
            linalg::IndexOp::create(lb, l, 1));
        SmallVector<int64_t> order;
        for (int64_t d = 0; d < r; ++d)
          order.push_back(storageOrder ? r - 1 - d : d);
        for (int64_t d : order)
          flat = arith::AddIOp::create(
              lb, l, arith::MulIOp::create(lb, l, flat, index(in[d])), pos[d]);
        Value greater =
            isFloat
                ? arith::CmpFOp::create(lb, l, arith::CmpFPredicate::OGT,
                                        args[0], args[2])
                      .getResult()
                : arith::CmpIOp::create(lb, l,
                                        isUnsigned ? arith::CmpIPredicate::ugt
                                                   : arith::CmpIPredicate::sgt,
                                        args[0], args[2]);
        Value first =
            arith::CmpIOp::create(lb, l, arith::CmpIPredicate::eq, args[3],
                                  arith::ConstantIntOp::create(lb, l, -1, 64));
        Value take = arith::AndIOp::create(
            lb, l, valid, arith::OrIOp::create(lb, l, greater, first));
        Value flat64 = arith::IndexCastOp::create(lb, l, lb.getI64Type(), flat);
        linalg::YieldOp::create(
            lb, l,
            ValueRange{arith::SelectOp::create(lb, l, take, args[0], args[2]),
                       arith::SelectOp::create(lb, l, take, flat64, args[3])});
      });
  return std::make_pair(generic.getResult(0), generic.getResult(1));
}

/// MaxPool and AveragePool: one reduction generic over the window of the
/// padded input (-inf / the lowest integer for max, 0 for the average, which
/// divides by the number of window positions that count).
LogicalResult convertPool(NodeContext &nc) {
  bool isMax = nc.opType() == "MaxPool";
  Value x = nc.input(0);
  if (!x)
    return nc.error() << "needs input X";
  bool wantIndices = isMax && nc.hasOutput(1);
  int64_t storageOrder = isMax ? nc.attrInt("storage_order", 0) : 0;
  if (storageOrder != 0 && storageOrder != 1)
    return nc.error() << "storage_order must be 0 or 1, got " << storageOrder;
  Type element = typeOf(x).getElementType();
  bool isFloat = isa<FloatType>(element);
  if (!isFloat && !(isMax && element.isInteger(8)))
    return nc.error() << "X must be a float tensor"
                      << (isMax ? " (or int8/uint8)" : "");
  FailureOr<SmallVector<int64_t>> in = spatialSizes(nc, x, "X");
  if (failed(in))
    return failure();
  int64_t r = in->size();
  std::optional<SmallVector<int64_t>> kernel = nc.attrInts("kernel_shape");
  if (!kernel)
    return nc.error() << "missing attribute 'kernel_shape'";
  if (kernel->size() != static_cast<size_t>(r))
    return nc.error() << "kernel_shape has " << kernel->size()
                      << " entries for " << r << " spatial dimensions";
  FailureOr<Window> w = readWindow(nc, *in, *kernel, /*allowCeil=*/true);
  if (failed(w))
    return failure();

  Emitter em = nc.emitter();
  OpBuilder &b = em.b;
  MLIRContext *ctx = nc.importer.ctx;
  bool isUnsigned = nc.inputUnsigned(0);
  Value init;
  if (!isMax)
    init = em.scalarConst(element, 0);
  else if (isFloat)
    init = arith::ConstantOp::create(
        b, nc.loc,
        b.getFloatAttr(element, -std::numeric_limits<double>::infinity()));
  else
    init = em.scalarConst(element, isUnsigned ? 0 : -128);
  Value xp = padSpatial(nc, x, *w, init);

  // out[n, c, o...] over loops (n, c, o..., k...).
  unsigned loops = 2 + 2 * r;
  SmallVector<AffineExpr> inExprs = {getAffineDimExpr(0, ctx),
                                     getAffineDimExpr(1, ctx)};
  llvm::append_range(inExprs, windowExprs(ctx, *w, 2, 2 + r));
  SmallVector<AffineExpr> outExprs;
  for (unsigned i = 0; i < 2 + r; ++i)
    outExprs.push_back(getAffineDimExpr(i, ctx));
  SmallVector<int64_t> outShape = {typeOf(x).getDimSize(0),
                                   typeOf(x).getDimSize(1)};
  llvm::append_range(outShape, w->out);
  auto outType = RankedTensorType::get(outShape, element);
  SmallVector<Value> dynN = batchDims(em, x);
  SmallVector<utils::IteratorType> iterators(2 + r,
                                             utils::IteratorType::parallel);
  iterators.append(r, utils::IteratorType::reduction);
  // A shape-only [K...] operand gives the window loops their sizes (as
  // upstream's linalg pooling ops do).
  SmallVector<AffineExpr> windowLoops;
  for (unsigned i = 0; i < r; ++i)
    windowLoops.push_back(getAffineDimExpr(2 + r + i, ctx));
  Value windowShape = em.empty(RankedTensorType::get(*kernel, element), {});
  if (wantIndices) {
    FailureOr<std::pair<Value, Value>> withIndices = emitMaxPoolWithIndices(
        nc, xp, windowShape, *w, *in, outShape, init, storageOrder,
        {AffineMap::get(loops, 0, inExprs, ctx),
         AffineMap::get(loops, 0, windowLoops, ctx),
         AffineMap::get(loops, 0, outExprs, ctx)},
        iterators);
    if (failed(withIndices))
      return failure();
    nc.setOutput(0, withIndices->first, nc.inputOnnxType(0));
    nc.setOutput(1, withIndices->second, onnx::TensorProto::INT64);
    return success();
  }
  auto pool = linalg::GenericOp::create(
      b, nc.loc, TypeRange{outType}, ValueRange{xp, windowShape},
      ValueRange{em.filled(outType, dynN, init)},
      SmallVector<AffineMap>{AffineMap::get(loops, 0, inExprs, ctx),
                             AffineMap::get(loops, 0, windowLoops, ctx),
                             AffineMap::get(loops, 0, outExprs, ctx)},
      iterators, [&](OpBuilder &lb, Location l, ValueRange args) {
        Value v;
        if (!isMax)
          v = arith::AddFOp::create(lb, l, args[0], args[2]);
        else if (isFloat)
          v = arith::MaximumFOp::create(lb, l, args[0], args[2]);
        else if (isUnsigned)
          v = arith::MaxUIOp::create(lb, l, args[0], args[2]);
        else
          v = arith::MaxSIOp::create(lb, l, args[0], args[2]);
        linalg::YieldOp::create(lb, l, v);
      });
  Value y = pool.getResult(0);
  if (!isMax) {
    // Divisors per output position: the window positions inside the input
    // (count_include_pad 0) or inside the padded input (1); never the ceil
    // extra. A product over dimensions of per-dimension counts.
    bool includePad = nc.attrInt("count_include_pad", 0) != 0;
    SmallVector<SmallVector<int64_t>> counts(r);
    for (int64_t d = 0; d < r; ++d) {
      int64_t lo = includePad ? 0 : w->padBegin[d];
      int64_t hi = includePad ? (*in)[d] + w->padBegin[d] + w->padEnd[d]
                              : w->padBegin[d] + (*in)[d];
      for (int64_t o = 0; o < w->out[d]; ++o) {
        int64_t count = 0;
        for (int64_t k = 0; k < w->kernel[d]; ++k) {
          int64_t pos = o * w->strides[d] + k * w->dilations[d];
          count += pos >= lo && pos < hi;
        }
        counts[d].push_back(std::max<int64_t>(count, 1));
      }
    }
    SmallVector<int64_t> divShape = {1, 1};
    llvm::append_range(divShape, w->out);
    int64_t total = 1;
    for (int64_t o : w->out)
      total *= o;
    SmallVector<double> divisors(total);
    for (int64_t i = 0; i < total; ++i) {
      int64_t rest = i;
      double product = 1;
      for (int64_t d = r - 1; d >= 0; --d) {
        product *= counts[d][rest % w->out[d]];
        rest /= w->out[d];
      }
      divisors[i] = product;
    }
    auto divType = RankedTensorType::get(divShape, element);
    SmallVector<Attribute> attrs;
    for (double v : divisors)
      attrs.push_back(b.getFloatAttr(element, v));
    Value divisor = arith::ConstantOp::create(
        b, nc.loc, DenseElementsAttr::get(divType, attrs));
    FailureOr<Value> avg =
        em.map({y, divisor}, element,
               [](OpBuilder &lb, Location l, ValueRange a) -> Value {
                 return arith::DivFOp::create(lb, l, a[0], a[1]);
               });
    if (failed(avg))
      return failure();
    y = *avg;
  }
  nc.setOutput(0, y, nc.inputOnnxType(0));
  return success();
}

/// GlobalAveragePool and GlobalMaxPool: a reduction over every spatial
/// dimension, kept as size 1.
LogicalResult convertGlobalPool(NodeContext &nc) {
  bool isMax = nc.opType() == "GlobalMaxPool";
  Value x = nc.input(0);
  if (!x)
    return nc.error() << "needs input X";
  auto type = typeOf(x);
  if (!isa<FloatType>(type.getElementType()) || type.getRank() < 3)
    return nc.error() << "X must be a float tensor of rank >= 3, got " << type;
  SmallVector<int64_t> axes;
  for (int64_t d = 2; d < type.getRank(); ++d)
    axes.push_back(d);
  Emitter em = nc.emitter();
  FailureOr<Value> y = em.reduce(
      x, axes, isMax ? Emitter::ReduceKind::Max : Emitter::ReduceKind::Sum,
      /*keepDims=*/true);
  if (failed(y))
    return failure();
  if (!isMax) {
    Value count = em.countOver(x, axes, type.getElementType());
    y = em.map({*y}, type.getElementType(),
               [&](OpBuilder &lb, Location l, ValueRange a) -> Value {
                 return arith::DivFOp::create(lb, l, a[0], count);
               });
    if (failed(y))
      return failure();
  }
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Per-channel normalizations of [N, C, D...] tensors
//===----------------------------------------------------------------------===//

/// `v` [C] as [C, 1, ...] against a tensor of `rank` whose channels are
/// dimension 1, in `type`.
FailureOr<Value> channelParam(NodeContext &nc, Emitter &em, unsigned idx,
                              StringRef what, int64_t channels, int64_t rank,
                              Type type) {
  FailureOr<Value> v = nc.floatInput(idx, what);
  if (failed(v))
    return failure();
  auto vType = typeOf(*v);
  if (vType.getRank() != 1 || vType.getDimSize(0) != channels)
    return nc.error() << "'" << what << "' must be a vector of " << channels
                      << " elements, got " << vType;
  FailureOr<Value> cast = toElementType(em, *v, type);
  if (failed(cast))
    return failure();
  SmallVector<int64_t> axes;
  for (int64_t d = 2; d < rank; ++d)
    axes.push_back(d - 1);
  return em.unsqueeze(*cast, axes);
}

/// The input [N, C, D...] of a channel normalization in its compute type
/// (f32 for 16-bit floats), and its channel count.
struct ChannelInput {
  Value x;
  Type compute;
  int64_t channels, rank;
};

FailureOr<ChannelInput> channelInput(NodeContext &nc, Emitter &em,
                                     int64_t minRank) {
  FailureOr<Value> x = nc.floatInput(0, "X");
  if (failed(x))
    return failure();
  auto type = typeOf(*x);
  if (type.getRank() < minRank || type.isDynamicDim(1))
    return nc.error() << "X must have rank >= " << minRank
                      << " and a static channel dimension, got " << type;
  Type compute =
      type.getElementType().isF64() ? type.getElementType() : em.b.getF32Type();
  FailureOr<Value> xc = toElementType(em, *x, compute);
  if (failed(xc))
    return failure();
  return ChannelInput{*xc, compute, type.getDimSize(1), type.getRank()};
}

/// BatchNormalization (inference): y = (x - mean) * scale / sqrt(var +
/// epsilon) + B per channel, one elementwise generic.
LogicalResult convertBatchNorm(NodeContext &nc) {
  if (nc.attrInt("training_mode", 0) != 0 || nc.hasOutput(1) || nc.hasOutput(2))
    return nc.error() << "training_mode 1 (batch statistics, running "
                         "mean/variance outputs) is not supported (inference "
                         "only)";
  if (nc.opset < 9 && nc.attrInt("spatial", 1) != 1)
    return nc.error() << "spatial = 0 (statistics per activation, not per "
                         "channel) is not supported";
  Emitter em = nc.emitter();
  auto in = channelInput(nc, em, 2);
  if (failed(in))
    return failure();
  Value x = in->x;
  Type compute = in->compute;
  int64_t channels = in->channels, rank = in->rank;
  SmallVector<Value> operands = {x};
  const char *names[] = {"scale", "B", "input_mean", "input_var"};
  for (unsigned i = 1; i <= 4; ++i) {
    FailureOr<Value> p =
        channelParam(nc, em, i, names[i - 1], channels, rank, compute);
    if (failed(p))
      return failure();
    operands.push_back(*p);
  }
  Value eps = em.scalarConst(compute, nc.attrFloat("epsilon", 1e-5f));
  FailureOr<Value> y = em.map(
      operands, compute, [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value inv =
            math::RsqrtOp::create(b, l, arith::AddFOp::create(b, l, a[4], eps));
        Value centered = arith::SubFOp::create(b, l, a[0], a[3]);
        Value scaled = arith::MulFOp::create(
            b, l, centered, arith::MulFOp::create(b, l, a[1], inv));
        return arith::AddFOp::create(b, l, scaled, a[2]);
      });
  if (failed(y) ||
      failed(y = toElementType(em, *y, typeOf(nc.input(0)).getElementType())))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

/// InstanceNormalization: each (n, c) slice normalized over the spatial
/// dimensions (mean, then the mean of squared deviations), times scale[c]
/// plus B[c].
LogicalResult convertInstanceNorm(NodeContext &nc) {
  Emitter em = nc.emitter();
  auto in = channelInput(nc, em, 3);
  if (failed(in))
    return failure();
  Value x = in->x;
  Type compute = in->compute;
  int64_t channels = in->channels, rank = in->rank;
  FailureOr<Value> scale =
      channelParam(nc, em, 1, "scale", channels, rank, compute);
  FailureOr<Value> bias = channelParam(nc, em, 2, "B", channels, rank, compute);
  if (failed(scale) || failed(bias))
    return failure();
  SmallVector<int64_t> axes;
  for (int64_t d = 2; d < rank; ++d)
    axes.push_back(d);
  Value count = em.countOver(x, axes, compute);
  auto meanOf = [&](Value v) -> FailureOr<Value> {
    FailureOr<Value> sum =
        em.reduce(v, axes, Emitter::ReduceKind::Sum, /*keepDims=*/true);
    if (failed(sum))
      return failure();
    return em.map({*sum}, compute,
                  [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                    return arith::DivFOp::create(b, l, a[0], count);
                  });
  };
  FailureOr<Value> mean = meanOf(x);
  if (failed(mean))
    return failure();
  FailureOr<Value> centered = em.map(
      {x, *mean}, compute, [](OpBuilder &b, Location l, ValueRange a) -> Value {
        return arith::SubFOp::create(b, l, a[0], a[1]);
      });
  if (failed(centered))
    return failure();
  FailureOr<Value> squares =
      em.map({*centered}, compute,
             [](OpBuilder &b, Location l, ValueRange a) -> Value {
               return arith::MulFOp::create(b, l, a[0], a[0]);
             });
  if (failed(squares))
    return failure();
  FailureOr<Value> variance = meanOf(*squares);
  if (failed(variance))
    return failure();
  Value eps = em.scalarConst(compute, nc.attrFloat("epsilon", 1e-5f));
  FailureOr<Value> y =
      em.map({*centered, *variance, *scale, *bias}, compute,
             [&](OpBuilder &b, Location l, ValueRange a) -> Value {
               Value inv = math::RsqrtOp::create(
                   b, l, arith::AddFOp::create(b, l, a[1], eps));
               Value normalized = arith::MulFOp::create(b, l, a[0], inv);
               return arith::AddFOp::create(
                   b, l, arith::MulFOp::create(b, l, normalized, a[2]), a[3]);
             });
  if (failed(y) ||
      failed(y = toElementType(em, *y, typeOf(nc.input(0)).getElementType())))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

/// LRN over [N, C, D...]: y = x / (bias + alpha / size * s)^beta, where s
/// sums x^2 over the channels [c - floor((size - 1) / 2), c + ceil((size -
/// 1) / 2)]: one reduction generic over the zero-padded squares with a
/// shape-only [size] window operand (16-bit floats in f32).
LogicalResult convertLRN(NodeContext &nc) {
  FailureOr<Value> xIn = nc.floatInput(0, "X");
  if (failed(xIn))
    return failure();
  auto type = typeOf(*xIn);
  int64_t rank = type.getRank();
  if (rank < 3)
    return nc.error() << "X must have rank >= 3 ([N, C, D1, ...]), got "
                      << type;
  const onnx::AttributeProto *sizeAttr = nc.attr("size");
  if (!sizeAttr)
    return nc.error() << "attribute 'size' is missing";
  int64_t size = sizeAttr->i();
  if (size < 1 || size > kMaxWindowAttr)
    return nc.error() << "size " << size << " is out of range";
  Emitter em = nc.emitter();
  Type compute = Float32Type::get(nc.importer.ctx);
  if (type.getElementType().isF64())
    compute = type.getElementType();
  FailureOr<Value> x = toElementType(em, *xIn, compute);
  if (failed(x))
    return failure();
  FailureOr<Value> squares =
      em.map({*x}, compute, [](OpBuilder &b, Location l, ValueRange a) {
        return arith::MulFOp::create(b, l, a[0], a[0]).getResult();
      });
  if (failed(squares))
    return failure();
  int64_t before = (size - 1) / 2, after = size - 1 - before;
  SmallVector<OpFoldResult> low(rank, em.b.getIndexAttr(0)), high = low;
  low[1] = em.b.getIndexAttr(before);
  high[1] = em.b.getIndexAttr(after);
  Value padded = tensor::PadOp::create(em.b, em.loc, Type(), *squares, low,
                                       high, em.scalarConst(compute, 0.0));
  MLIRContext *ctx = nc.importer.ctx;
  // (n, c, d..., k) -> padded[n, c + k, d...], window[k], out[n, c, d...].
  SmallVector<AffineExpr> inExprs, outExprs;
  for (int64_t d = 0; d < rank; ++d) {
    AffineExpr e = getAffineDimExpr(d, ctx);
    inExprs.push_back(d == 1 ? e + getAffineDimExpr(rank, ctx) : e);
    outExprs.push_back(e);
  }
  SmallVector<AffineMap> maps = {
      AffineMap::get(rank + 1, 0, inExprs, ctx),
      AffineMap::get(rank + 1, 0, getAffineDimExpr(rank, ctx)),
      AffineMap::get(rank + 1, 0, outExprs, ctx)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  Value window = em.empty(RankedTensorType::get({size}, compute), {});
  auto sumType = typeOf(*squares);
  Value init = em.filled(sumType, em.dynamicSizes(em.sizes(*squares)),
                         em.scalarConst(compute, 0.0));
  Value sums =
      linalg::GenericOp::create(
          em.b, em.loc, TypeRange{sumType}, ValueRange{padded, window},
          ValueRange{init}, maps, iterators,
          [](OpBuilder &b, Location l, ValueRange a) {
            linalg::YieldOp::create(
                b, l, arith::AddFOp::create(b, l, a[2], a[0]).getResult());
          })
          .getResult(0);
  Value scale = em.scalarConst(compute, nc.attrFloat("alpha", 1e-4f) /
                                            static_cast<double>(size));
  Value bias = em.scalarConst(compute, nc.attrFloat("bias", 1.0f));
  Value beta = em.scalarConst(compute, nc.attrFloat("beta", 0.75f));
  FailureOr<Value> y =
      em.map({*x, sums}, compute, [&](OpBuilder &b, Location l, ValueRange a) {
        Value base = arith::AddFOp::create(
            b, l, bias, arith::MulFOp::create(b, l, scale, a[1]));
        return arith::DivFOp::create(b, l, a[0],
                                     math::PowFOp::create(b, l, base, beta))
            .getResult();
      });
  if (failed(y) || failed(y = toElementType(em, *y, type.getElementType())))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

} // namespace

void parsimony::onnximport::registerConvolutionConverters(
    llvm::StringMap<ConverterFn> &map) {
  map["::Conv"] = convertConv;
  map["::ConvInteger"] = convertConv;
  map["::ConvTranspose"] = convertConvTranspose;
  map["::MaxPool"] = convertPool;
  map["::AveragePool"] = convertPool;
  map["::GlobalAveragePool"] = convertGlobalPool;
  map["::GlobalMaxPool"] = convertGlobalPool;
  map["::BatchNormalization"] = convertBatchNorm;
  map["::InstanceNormalization"] = convertInstanceNorm;
  map["::LRN"] = convertLRN;
}
