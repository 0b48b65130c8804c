//===- ConvertResize.cpp - Resize and Upsample ----------------------------===//
//
// Resize (opsets 10 to 19) and Upsample (7, 9). Every mode is separable:
// along one resized axis, output position o reads a few input positions with
// weights that depend on o alone. The importer computes that tap table at
// import time (coordinate transformation, nearest rounding, linear and cubic
// kernels, antialiasing, exclude_outside, clamping to the edge) and emits one
// gather generic per resized axis,
//   out[..., o, ...] = sum_t w[o, t] * x[..., idx[o, t], ...],
// or for `nearest` a plain gather with no arithmetic (any element type).
// Coordinates are computed in f32 with ONNX Runtime's formulas, so outputs
// match ONNX Runtime (and PyTorch) where the ONNX reference differs.
//
// GridSample (16, 20) reads its coordinates from a tensor, so its taps are
// computed per output point at run time: one generic over the output whose
// body denormalizes the grid's coordinates and sums the taps, each read
// with the padding mode applied to its own index (as ONNX Runtime does).
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

using namespace mlir;
using namespace parsimony::onnximport;

namespace {

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

/// Sizes beyond this are refused: tap tables are import-time constants.
constexpr int64_t kMaxResizedSize = int64_t{1} << 24;
/// Largest tap table (entries) and taps per output position.
constexpr int64_t kMaxTableEntries = int64_t{1} << 26;
constexpr int64_t kMaxTaps = 4096;

enum class Mode { Nearest, Linear, Cubic };
enum class Transform {
  HalfPixel,
  HalfPixelSymmetric,
  PytorchHalfPixel,
  AlignCorners,
  Asymmetric,
  TfHalfPixelForNN,
  TfCropAndResize
};
/// How `nearest` rounds a coordinate; Simple is opset 10's (and Upsample's)
/// rule: ceil when downsampling, else truncate.
enum class Rounding { PreferFloor, PreferCeil, Floor, Ceil, Simple };

struct ResizeSpec {
  Mode mode = Mode::Nearest;
  Transform transform = Transform::Asymmetric;
  Rounding rounding = Rounding::Simple;
  float cubicA = -0.75f;
  bool excludeOutside = false;
  bool antialias = false;
  float extrapolation = 0.0f;
};

/// One resized axis: `out` rows of `width` taps (index into the input axis,
/// weight); `outside[o]` marks rows tf_crop_and_resize extrapolates (empty
/// when there is none).
struct AxisTaps {
  int64_t axis = 0, in = 0, out = 0, width = 1;
  SmallVector<int32_t> index;
  SmallVector<double> weight;
  SmallVector<int8_t> outside;

  bool isIdentity() const {
    if (in != out || width != 1 || !outside.empty())
      return false;
    for (int64_t o = 0; o < out; ++o)
      if (index[o] != o || weight[o] != 1.0)
        return false;
    return true;
  }
};

/// The input coordinate of output coordinate `x` (ONNX Runtime's f32
/// formulas).
float originalCoordinate(Transform t, float x, float scale, float outLen,
                         float inLen, float roiStart, float roiEnd) {
  switch (t) {
  case Transform::HalfPixel:
    return (x + 0.5f) / scale - 0.5f;
  case Transform::HalfPixelSymmetric: {
    float adjustment = outLen / (scale * inLen);
    float center = inLen / 2;
    float offset = center * (1 - adjustment);
    return offset + (x + 0.5f) / scale - 0.5f;
  }
  case Transform::PytorchHalfPixel:
    return outLen > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
  case Transform::AlignCorners:
    return outLen == 1 ? 0.0f : x * (inLen - 1) / (outLen - 1);
  case Transform::Asymmetric:
    return x / scale;
  case Transform::TfHalfPixelForNN:
    return (x + 0.5f) / scale;
  case Transform::TfCropAndResize:
    return outLen > 1
               ? roiStart * (inLen - 1) +
                     (x * (roiEnd - roiStart) * (inLen - 1)) / (outLen - 1)
               : 0.5f * (roiStart + roiEnd) * (inLen - 1);
  }
  llvm_unreachable("unknown transform");
}

int64_t roundNearest(Rounding r, float x, bool downsampling) {
  switch (r) {
  case Rounding::PreferFloor:
    return x == std::floor(x) + 0.5f ? static_cast<int64_t>(std::floor(x))
                                     : static_cast<int64_t>(std::round(x));
  case Rounding::PreferCeil:
    return static_cast<int64_t>(std::round(x));
  case Rounding::Floor:
    return static_cast<int64_t>(std::floor(x));
  case Rounding::Ceil:
    return static_cast<int64_t>(std::ceil(x));
  case Rounding::Simple:
    return downsampling ? static_cast<int64_t>(std::ceil(x))
                        : static_cast<int64_t>(x);
  }
  llvm_unreachable("unknown rounding");
}

/// The interpolation kernel at distance `d` (in kernel units).
double kernelAt(Mode mode, double a, double d) {
  d = std::abs(d);
  if (mode == Mode::Linear)
    return std::max(0.0, 1.0 - d);
  // Keys' cubic convolution kernel.
  if (d <= 1)
    return ((a + 2) * d - (a + 3)) * d * d + 1;
  if (d < 2)
    return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return 0.0;
}

/// The kernel's scale (antialiasing widens the kernel by 1 / scale when
/// downsampling) and its half-width in input positions.
std::pair<double, double> kernelExtent(const ResizeSpec &spec, float scale) {
  double kernelScale = spec.antialias ? std::min(1.0f, scale) : 1.0;
  return {kernelScale, (spec.mode == Mode::Linear ? 1.0 : 2.0) / kernelScale};
}

/// The tap table of one axis.
AxisTaps computeAxisTaps(const ResizeSpec &spec, int64_t axis, int64_t in,
                         int64_t out, float scale, float roiStart,
                         float roiEnd) {
  AxisTaps taps;
  taps.axis = axis;
  taps.in = in;
  taps.out = out;
  SmallVector<SmallVector<std::pair<int32_t, double>, 8>> rows(out);
  bool anyOutside = false;
  SmallVector<int8_t> outside(out, 0);
  auto [kernelScale, support] = kernelExtent(spec, scale);
  for (int64_t o = 0; o < out; ++o) {
    float x = originalCoordinate(spec.transform, static_cast<float>(o), scale,
                                 static_cast<float>(out),
                                 static_cast<float>(in), roiStart, roiEnd);
    if (spec.transform == Transform::TfCropAndResize &&
        (x < 0 || x > static_cast<float>(in - 1))) {
      outside[o] = 1;
      anyOutside = true;
      rows[o].push_back({0, 0.0});
      continue;
    }
    auto clampIndex = [&](int64_t i) {
      return static_cast<int32_t>(std::clamp<int64_t>(i, 0, in - 1));
    };
    if (spec.mode == Mode::Nearest) {
      rows[o].push_back(
          {clampIndex(roundNearest(spec.rounding, x, scale < 1)), 1.0});
      continue;
    }
    // Every input position within the kernel's support around x.
    SmallVector<std::pair<int64_t, double>, 16> points;
    double total = 0;
    int64_t first = static_cast<int64_t>(std::floor(x - support));
    int64_t last = static_cast<int64_t>(std::ceil(x + support));
    for (int64_t p = first; p <= last; ++p) {
      if (spec.excludeOutside && (p < 0 || p >= in))
        continue;
      double w =
          kernelAt(spec.mode, spec.cubicA, (p - double(x)) * kernelScale);
      if (w == 0.0)
        continue;
      points.push_back({p, w});
      total += w;
    }
    // Positions beyond the edge read the edge (merged into its tap).
    for (auto [p, w] : points) {
      int32_t i = clampIndex(p);
      double normalized = total != 0 ? w / total : 0.0;
      auto it = llvm::find_if(rows[o], [&](auto &t) { return t.first == i; });
      if (it != rows[o].end())
        it->second += normalized;
      else
        rows[o].push_back({i, normalized});
    }
    if (rows[o].empty())
      rows[o].push_back({clampIndex(static_cast<int64_t>(std::floor(x))), 0.0});
  }
  for (auto &row : rows)
    taps.width = std::max<int64_t>(taps.width, row.size());
  taps.index.assign(out * taps.width, 0);
  taps.weight.assign(out * taps.width, 0.0);
  for (int64_t o = 0; o < out; ++o)
    for (auto [t, tap] : llvm::enumerate(rows[o])) {
      taps.index[o * taps.width + t] = tap.first;
      taps.weight[o * taps.width + t] = tap.second;
    }
  // Weights within rounding of one are one (an exact gather).
  for (double &w : taps.weight)
    if (std::abs(w - 1.0) < 1e-12)
      w = 1.0;
  if (anyOutside)
    taps.outside = std::move(outside);
  return taps;
}

/// A constant tensor of `shape` holding `values`.
template <typename T>
Value constTable(Emitter &em, ArrayRef<int64_t> shape, Type elementType,
                 ArrayRef<T> values) {
  auto type = RankedTensorType::get(shape, elementType);
  return arith::ConstantOp::create(em.b, em.loc,
                                   DenseElementsAttr::get(type, values));
}

/// The coordinates of `x` that the generic's current iteration reads, with
/// the resized axis at `index` (an i32).
SmallVector<Value> gatherCoords(OpBuilder &b, Location loc, int64_t rank,
                                int64_t axis, Value index) {
  SmallVector<Value> coords;
  for (int64_t d = 0; d < rank; ++d)
    coords.push_back(
        d == axis ? arith::IndexCastOp::create(b, loc, b.getIndexType(), index)
                        .getResult()
                  : linalg::IndexOp::create(b, loc, d).getResult());
  return coords;
}

/// `x` resized along one axis: a gather (nearest) or a weighted sum of
/// gathered taps in `compute`.
Value resizeAxis(Emitter &em, Value x, const AxisTaps &taps, bool weighted,
                 Type compute) {
  auto type = typeOf(x);
  int64_t rank = type.getRank(), axis = taps.axis;
  SmallVector<OpFoldResult> sizes = em.sizes(x);
  sizes[axis] = em.b.getIndexAttr(taps.out);
  SmallVector<int64_t> shape(type.getShape());
  shape[axis] = taps.out;
  MLIRContext *ctx = em.ctx();
  Type i32 = em.b.getI32Type();

  if (!weighted) {
    auto outType = RankedTensorType::get(shape, type.getElementType());
    Value index =
        constTable<int32_t>(em, {taps.out}, i32, ArrayRef(taps.index));
    SmallVector<AffineMap> maps = {
        AffineMap::get(rank, 0, getAffineDimExpr(axis, ctx)),
        AffineMap::getMultiDimIdentityMap(rank, ctx)};
    SmallVector<utils::IteratorType> iterators(rank,
                                               utils::IteratorType::parallel);
    return linalg::GenericOp::create(
               em.b, em.loc, TypeRange{outType}, ValueRange{index},
               ValueRange{em.empty(outType, em.dynamicSizes(sizes))}, maps,
               iterators,
               [&](OpBuilder &b, Location loc, ValueRange args) {
                 Value v = tensor::ExtractOp::create(
                     b, loc, x, gatherCoords(b, loc, rank, axis, args[0]));
                 linalg::YieldOp::create(b, loc, v);
               })
        .getResult(0);
  }

  auto outType = RankedTensorType::get(shape, compute);
  SmallVector<int64_t> tableShape = {taps.out, taps.width};
  Value index = constTable<int32_t>(em, tableShape, i32, ArrayRef(taps.index));
  Value weight;
  if (compute.isF64()) {
    weight = constTable<double>(em, tableShape, compute, ArrayRef(taps.weight));
  } else {
    SmallVector<float> w(taps.weight.begin(), taps.weight.end());
    weight = constTable<float>(em, tableShape, compute, ArrayRef(w));
  }
  Value init =
      em.filled(outType, em.dynamicSizes(sizes), em.scalarConst(compute, 0.0));
  AffineMap tableMap = AffineMap::get(
      rank + 1, 0, {getAffineDimExpr(axis, ctx), getAffineDimExpr(rank, ctx)},
      ctx);
  SmallVector<AffineExpr> outExprs;
  for (int64_t d = 0; d < rank; ++d)
    outExprs.push_back(getAffineDimExpr(d, ctx));
  SmallVector<AffineMap> maps = {tableMap, tableMap,
                                 AffineMap::get(rank + 1, 0, outExprs, ctx)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  return linalg::GenericOp::create(
             em.b, em.loc, TypeRange{outType}, ValueRange{index, weight},
             ValueRange{init}, maps, iterators,
             [&](OpBuilder &b, Location loc, ValueRange args) {
               Value v = tensor::ExtractOp::create(
                   b, loc, x, gatherCoords(b, loc, rank, axis, args[0]));
               if (v.getType() != compute)
                 v = arith::ExtFOp::create(b, loc, compute, v);
               Value product = arith::MulFOp::create(b, loc, args[1], v);
               linalg::YieldOp::create(
                   b, loc,
                   arith::AddFOp::create(b, loc, args[2], product).getResult());
             })
      .getResult(0);
}

/// `y` with the extrapolation value wherever any axis's row lies outside the
/// crop (tf_crop_and_resize).
Value applyExtrapolation(Emitter &em, Value y, ArrayRef<AxisTaps> axes,
                         float extrapolation) {
  auto type = typeOf(y);
  int64_t rank = type.getRank();
  SmallVector<std::pair<int64_t, Value>> masks;
  for (const AxisTaps &taps : axes)
    if (!taps.outside.empty())
      masks.push_back(
          {taps.axis, constTable<int8_t>(em, {taps.out}, em.b.getI8Type(),
                                         ArrayRef(taps.outside))});
  Value fill = em.scalarConst(type.getElementType(), extrapolation);
  SmallVector<AffineMap> maps(
      2, AffineMap::getMultiDimIdentityMap(rank, em.ctx()));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             em.b, em.loc, TypeRange{type}, ValueRange{y},
             ValueRange{em.empty(type, em.dynamicSizes(em.sizes(y)))}, maps,
             iterators,
             [&](OpBuilder &b, Location loc, ValueRange args) {
               Value zero = arith::ConstantIntOp::create(b, loc, 0, 8);
               Value outside;
               for (auto [axis, mask] : masks) {
                 Value flag = tensor::ExtractOp::create(
                     b, loc, mask,
                     ValueRange{linalg::IndexOp::create(b, loc, axis)});
                 Value isOutside = arith::CmpIOp::create(
                     b, loc, arith::CmpIPredicate::ne, flag, zero);
                 outside =
                     outside ? arith::OrIOp::create(b, loc, outside, isOutside)
                                   .getResult()
                             : isOutside;
               }
               linalg::YieldOp::create(
                   b, loc,
                   arith::SelectOp::create(b, loc, outside, fill, args[0])
                       .getResult());
             })
      .getResult(0);
}

/// Whether `v` is `tensor.dim` of `x` at `d` (a size forwarded from
/// Shape(x)).
bool isDimOf(Value v, Value x, int64_t d) {
  auto dim = v.getDefiningOp<tensor::DimOp>();
  if (!dim || dim.getSource() != x)
    return false;
  std::optional<int64_t> index = getConstantIntValue(dim.getIndex());
  return index && *index == d;
}

/// The scale or output size asked for one axis.
struct AxisRequest {
  /// Output size; for a dynamic axis left as it is, its runtime size.
  int64_t out = ShapedType::kDynamic;
  float scale = 1.0f;
  float roiStart = 0.0f, roiEnd = 1.0f;
};

/// Reads a float vector input that must be known at import time; empty when
/// absent or empty.
FailureOr<SmallVector<double>> constFloats(NodeContext &nc, unsigned i,
                                           StringRef what) {
  if (!nc.hasInput(i))
    return SmallVector<double>();
  const ConstTensor *c = nc.constInput(i);
  if (!c)
    return nc.error() << "'" << what << "' (input " << i
                      << ") must be a constant known at import time";
  if (c->shape.size() > 1)
    return nc.error() << "'" << what << "' must be a 1-D tensor";
  SmallVector<double> values;
  for (int64_t k = 0; k < c->numElements(); ++k)
    values.push_back(c->getDouble(k));
  return values;
}

/// Resizes input 0 of `nc` per `spec`; `scales` and `sizes` (one of them
/// non-empty, as OpFoldResults for sizes) and `roi` are given over `axes`.
LogicalResult emitResize(NodeContext &nc, const ResizeSpec &spec,
                         ArrayRef<int64_t> axes, ArrayRef<double> scales,
                         std::optional<SmallVector<OpFoldResult>> sizes,
                         ArrayRef<double> roi, StringRef keepAspectRatio) {
  Value x = nc.input(0);
  if (!x)
    return nc.error() << "input X is missing";
  auto type = typeOf(x);
  int64_t rank = type.getRank();
  Type elementType = type.getElementType();
  Type compute;
  if (isa<FloatType>(elementType))
    compute =
        elementType.isF64() ? elementType : Float32Type::get(nc.importer.ctx);
  if (spec.mode != Mode::Nearest && !compute)
    return nc.error() << "mode '"
                      << (spec.mode == Mode::Linear ? "linear" : "cubic")
                      << "' needs a float input, got " << type
                      << " (integers are resized by 'nearest' only)";
  size_t n = axes.size();
  if (!scales.empty() && sizes && !sizes->empty())
    return nc.error() << "only one of 'scales' and 'sizes' can be given";
  if (scales.empty() && (!sizes || sizes->empty()))
    return nc.error() << "one of 'scales' and 'sizes' must be given";
  if (!scales.empty() && scales.size() != n)
    return nc.error() << "'scales' has " << scales.size()
                      << " entries, expected " << n;
  if (sizes && !sizes->empty() && sizes->size() != n)
    return nc.error() << "'sizes' has " << sizes->size()
                      << " entries, expected " << n;
  if (spec.transform == Transform::TfCropAndResize && !roi.empty() &&
      roi.size() != 2 * n)
    return nc.error() << "'roi' has " << roi.size() << " entries, expected "
                      << 2 * n;

  SmallVector<AxisRequest> requests(rank);
  for (int64_t d = 0; d < rank; ++d)
    requests[d].out = type.getDimSize(d);
  bool cropping = spec.transform == Transform::TfCropAndResize;
  for (size_t k = 0; k < n; ++k) {
    int64_t d = axes[k];
    AxisRequest &r = requests[d];
    if (cropping && !roi.empty()) {
      r.roiStart = static_cast<float>(roi[k]);
      r.roiEnd = static_cast<float>(roi[k + n]);
      if (!std::isfinite(r.roiStart) || !std::isfinite(r.roiEnd))
        return nc.error() << "'roi' of axis " << d << " is not finite";
    }
    bool dynamic = type.isDynamicDim(d);
    if (!scales.empty()) {
      double s = scales[k];
      if (!(s > 0) || !std::isfinite(s))
        return nc.error() << "scale " << s << " of axis " << d
                          << " must be positive";
      r.scale = static_cast<float>(s);
      if (dynamic) {
        if (r.scale != 1.0f || cropping)
          return nc.error() << "axis " << d << " of X has a dynamic size; "
                            << "only its scale 1 (no crop) is supported";
        continue;
      }
      double product =
          static_cast<double>(static_cast<float>(type.getDimSize(d)) * r.scale);
      if (product > kMaxResizedSize)
        return nc.error() << "output size " << product << " of axis " << d
                          << " is too large";
      r.out = static_cast<int64_t>(std::floor(product));
      continue;
    }
    OpFoldResult size = (*sizes)[k];
    if (auto v = dyn_cast<Value>(size)) {
      if (!dynamic || !isDimOf(v, x, d) || keepAspectRatio != "stretch" ||
          cropping)
        return nc.error() << "'sizes' entry " << k << " (axis " << d
                          << ") must be known at import time";
      continue;
    }
    int64_t s = cast<IntegerAttr>(cast<Attribute>(size)).getInt();
    if (s < 0 || s > kMaxResizedSize)
      return nc.error() << "output size " << s << " of axis " << d
                        << " is out of range";
    if (dynamic)
      return nc.error() << "axis " << d << " of X has a dynamic size; "
                        << "resizing it needs a static size";
    r.out = s;
    r.scale = static_cast<float>(s) / static_cast<float>(type.getDimSize(d));
  }
  if (sizes && !sizes->empty() && keepAspectRatio != "stretch") {
    // One scale for every axis, so the aspect ratio is kept.
    float scale = keepAspectRatio == "not_larger"
                      ? std::numeric_limits<float>::infinity()
                      : 0.0f;
    for (int64_t d : axes)
      scale = keepAspectRatio == "not_larger"
                  ? std::min(scale, requests[d].scale)
                  : std::max(scale, requests[d].scale);
    for (int64_t d : axes) {
      requests[d].scale = scale;
      requests[d].out = static_cast<int64_t>(
          std::round(scale * static_cast<float>(type.getDimSize(d))));
    }
  }

  SmallVector<AxisTaps> resized;
  for (int64_t d = 0; d < rank; ++d) {
    if (type.isDynamicDim(d))
      continue;
    int64_t in = type.getDimSize(d);
    const AxisRequest &r = requests[d];
    if (in == 0 && r.out != 0)
      return nc.error() << "axis " << d << " of X is empty; it cannot be "
                        << "resized to " << r.out;
    if (in == 0)
      continue; // An empty axis stays empty.
    // Bound the table first: antialiasing can widen the kernel a lot.
    int64_t width = 1;
    if (spec.mode != Mode::Nearest) {
      double support = kernelExtent(spec, r.scale).second;
      if (!(2 * support + 3 <= kMaxTaps))
        return nc.error() << "axis " << d << " would read more than "
                          << kMaxTaps << " input positions per output "
                          << "position (antialiased scale " << r.scale << ")";
      width = static_cast<int64_t>(2 * support) + 3;
    }
    if (r.out * width > kMaxTableEntries)
      return nc.error() << "the interpolation table of axis " << d << " ("
                        << r.out << " x " << width << " taps) is too large";
    AxisTaps taps =
        computeAxisTaps(spec, d, in, r.out, r.scale, r.roiStart, r.roiEnd);
    if (!taps.isIdentity())
      resized.push_back(std::move(taps));
  }
  // Shrinking axes first: later passes then touch fewer elements.
  llvm::stable_sort(resized, [](const AxisTaps &a, const AxisTaps &b) {
    return a.out * b.in < b.out * a.in;
  });

  Emitter em = nc.emitter();
  bool weighted = spec.mode != Mode::Nearest;
  Value y = x;
  for (const AxisTaps &taps : resized)
    y = resizeAxis(em, y, taps, weighted, compute);
  if (typeOf(y).getElementType() != elementType) {
    FailureOr<Value> cast = em.castTo(y, elementType, false, false);
    if (failed(cast))
      return failure();
    y = *cast;
  }
  if (llvm::any_of(resized,
                   [](const AxisTaps &t) { return !t.outside.empty(); }))
    y = applyExtrapolation(em, y, resized, spec.extrapolation);
  nc.setOutput(0, y, nc.inputOnnxType(0));
  return success();
}

FailureOr<Mode> parseMode(NodeContext &nc, bool allowCubic) {
  std::string mode = nc.attrString("mode", "nearest");
  if (mode == "nearest")
    return Mode::Nearest;
  if (mode == "linear" || (mode == "bilinear" && nc.opType() == "Upsample"))
    return Mode::Linear;
  if (mode == "cubic" && allowCubic)
    return Mode::Cubic;
  return nc.error() << "unsupported mode '" << mode << "' (expected nearest, "
                    << (allowCubic ? "linear or cubic)" : "or linear)");
}

/// Upsample (7: scales attribute, 9: scales input) and Resize-10: nearest or
/// linear over asymmetric coordinates.
LogicalResult convertUpsample(NodeContext &nc) {
  ResizeSpec spec;
  FailureOr<Mode> mode = parseMode(nc, /*allowCubic=*/false);
  if (failed(mode))
    return failure();
  spec.mode = *mode;
  Value x = nc.input(0);
  if (!x)
    return nc.error() << "input X is missing";
  int64_t rank = typeOf(x).getRank();
  SmallVector<double> scales;
  if (nc.opType() == "Upsample" && nc.opset < 9) {
    const onnx::AttributeProto *a = nc.attr("scales");
    if (!a)
      return nc.error() << "attribute 'scales' is missing";
    scales.assign(a->floats().begin(), a->floats().end());
  } else {
    FailureOr<SmallVector<double>> s = constFloats(nc, 1, "scales");
    if (failed(s))
      return failure();
    scales = *s;
  }
  SmallVector<int64_t> axes = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  return emitResize(nc, spec, axes, scales, std::nullopt, {}, "stretch");
}

/// Resize 11 and later: X, roi, scales, sizes.
LogicalResult convertResize(NodeContext &nc) {
  if (nc.opset < 11)
    return convertUpsample(nc);
  ResizeSpec spec;
  FailureOr<Mode> mode = parseMode(nc, /*allowCubic=*/true);
  if (failed(mode))
    return failure();
  spec.mode = *mode;
  std::string transform =
      nc.attrString("coordinate_transformation_mode", "half_pixel");
  static const std::pair<const char *, Transform> kTransforms[] = {
      {"half_pixel", Transform::HalfPixel},
      {"half_pixel_symmetric", Transform::HalfPixelSymmetric},
      {"pytorch_half_pixel", Transform::PytorchHalfPixel},
      {"align_corners", Transform::AlignCorners},
      {"asymmetric", Transform::Asymmetric},
      {"tf_half_pixel_for_nn", Transform::TfHalfPixelForNN},
      {"tf_crop_and_resize", Transform::TfCropAndResize}};
  const auto *t = llvm::find_if(
      kTransforms, [&](const auto &entry) { return transform == entry.first; });
  if (t == std::end(kTransforms) ||
      (t->second == Transform::TfHalfPixelForNN && nc.opset >= 13) ||
      (t->second == Transform::HalfPixelSymmetric && nc.opset < 19))
    return nc.error() << "unsupported coordinate_transformation_mode '"
                      << transform << "' at opset " << nc.opset;
  spec.transform = t->second;
  std::string rounding = nc.attrString("nearest_mode", "round_prefer_floor");
  if (rounding == "round_prefer_floor")
    spec.rounding = Rounding::PreferFloor;
  else if (rounding == "round_prefer_ceil")
    spec.rounding = Rounding::PreferCeil;
  else if (rounding == "floor")
    spec.rounding = Rounding::Floor;
  else if (rounding == "ceil")
    spec.rounding = Rounding::Ceil;
  else
    return nc.error() << "unsupported nearest_mode '" << rounding << "'";
  spec.cubicA = nc.attrFloat("cubic_coeff_a", -0.75f);
  if (!std::isfinite(spec.cubicA))
    return nc.error() << "cubic_coeff_a must be finite";
  spec.excludeOutside = nc.attrInt("exclude_outside", 0) != 0;
  spec.extrapolation = nc.attrFloat("extrapolation_value", 0.0f);
  spec.antialias = spec.mode != Mode::Nearest && nc.attrInt("antialias", 0);
  std::string keepAspectRatio =
      nc.attrString("keep_aspect_ratio_policy", "stretch");
  if (keepAspectRatio != "stretch" && keepAspectRatio != "not_larger" &&
      keepAspectRatio != "not_smaller")
    return nc.error() << "unsupported keep_aspect_ratio_policy '"
                      << keepAspectRatio << "'";

  Value x = nc.input(0);
  if (!x)
    return nc.error() << "input X is missing";
  int64_t rank = typeOf(x).getRank();
  SmallVector<int64_t> axes;
  if (std::optional<SmallVector<int64_t>> attr = nc.attrInts("axes")) {
    for (int64_t a : *attr) {
      FailureOr<int64_t> axis =
          normalizeAxis(a, rank, [&] { return nc.error(); });
      if (failed(axis))
        return failure();
      if (llvm::is_contained(axes, *axis))
        return nc.error() << "axis " << a << " is repeated in 'axes'";
      axes.push_back(*axis);
    }
  } else {
    axes = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  }

  SmallVector<double> roi;
  if (spec.transform == Transform::TfCropAndResize) {
    FailureOr<SmallVector<double>> r = constFloats(nc, 1, "roi");
    if (failed(r))
      return failure();
    roi = *r;
  }
  FailureOr<SmallVector<double>> scales = constFloats(nc, 2, "scales");
  if (failed(scales))
    return failure();
  std::optional<SmallVector<OpFoldResult>> sizes;
  if (nc.hasInput(3)) {
    sizes = nc.shapeInput(3, /*allowRuntime=*/false);
    if (!sizes)
      return nc.error() << "'sizes' (input 3) must be known at import time";
  }
  return emitResize(nc, spec, axes, *scales, sizes, roi, keepAspectRatio);
}

//===----------------------------------------------------------------------===//
// GridSample
//===----------------------------------------------------------------------===//

enum class Padding { Zeros, Border, Reflection };

/// Most taps per output point (cubic over 3 axes).
constexpr int64_t kMaxGridSampleTaps = 64;

/// Emits one GridSample output point inside a generic's body: the spatial
/// coordinates come from the grid (its last axis holds them innermost
/// spatial axis first), each axis's taps (indices with the padding applied,
/// weights) are computed once, and the taps' products are summed innermost
/// axis first, in ONNX Runtime's order.
class GridSampleBody {
public:
  GridSampleBody(OpBuilder &b, Location loc, Value x, Value grid, Mode mode,
                 Padding padding, bool alignCorners, FloatType computeType)
      : b(b), loc(loc), x(x), grid(grid), mode(mode), padding(padding),
        alignCorners(alignCorners), ft(computeType) {}

  Value emit() {
    int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
    int64_t spatial = rank - 2;
    SmallVector<Value> out;
    for (int64_t d = 0; d < rank; ++d)
      out.push_back(linalg::IndexOp::create(b, loc, d));
    SmallVector<Value> sizes, coords;
    for (int64_t i = 0; i < spatial; ++i) {
      sizes.push_back(tensor::DimOp::create(b, loc, x, 2 + i));
      SmallVector<Value> at = {out[0]};
      at.append(out.begin() + 2, out.end());
      at.push_back(arith::ConstantIndexOp::create(b, loc, spatial - 1 - i));
      Value g = tensor::ExtractOp::create(b, loc, grid, at);
      coords.push_back(denormalize(toCompute(g), sizes.back()));
    }
    for (auto [v, size] : llvm::zip(coords, sizes))
      axes.push_back(tapsAlong(v, size));
    SmallVector<Value> at = {out[0], out[1]};
    Value y = sample(0, at, Value());
    Type elemType = cast<RankedTensorType>(x.getType()).getElementType();
    return elemType == ft ? y : arith::TruncFOp::create(b, loc, elemType, y);
  }

private:
  /// The taps along one spatial axis: X's indices (padded), whether each
  /// reads inside X (zeros padding only) and their weights (none for
  /// nearest).
  struct AxisTaps {
    SmallVector<Value> indices, inside, weights;
  };

  Value c(double v) {
    return arith::ConstantOp::create(b, loc, ft, b.getFloatAttr(ft, v));
  }

  Value toCompute(Value v) {
    auto type = cast<FloatType>(v.getType());
    if (type == ft)
      return v;
    if (type.getWidth() < ft.getWidth())
      return arith::ExtFOp::create(b, loc, ft, v);
    return arith::TruncFOp::create(b, loc, ft, v);
  }

  /// An index (a size or a tap position) as a float.
  Value asFloat(Value index) {
    Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), index);
    return arith::SIToFPOp::create(b, loc, ft, i64);
  }

  /// A float holding an integral value (floored, rounded or reflected) as
  /// an index, truncating toward zero like ONNX Runtime's casts.
  Value toIndex(Value f) {
    Value i = arith::FPToSIOp::create(b, loc, b.getI64Type(), f);
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), i);
  }

  /// [-1, 1] to pixel coordinates; NaN and huge values are pinned to
  /// +-2^24, which keeps the integer conversions below defined.
  Value denormalize(Value n, Value size) {
    Value len = asFloat(size);
    Value one = c(1), two = c(2);
    Value plus = arith::AddFOp::create(b, loc, n, one);
    Value v;
    if (alignCorners) {
      Value half = arith::DivFOp::create(b, loc, plus, two);
      v = arith::MulFOp::create(b, loc, half,
                                arith::SubFOp::create(b, loc, len, one));
    } else {
      Value scaled = arith::MulFOp::create(b, loc, plus, len);
      v = arith::DivFOp::create(
          b, loc, arith::SubFOp::create(b, loc, scaled, one), two);
    }
    v = arith::MaxNumFOp::create(b, loc, v, c(-16777216.0));
    return arith::MinNumFOp::create(b, loc, v, c(16777216.0));
  }

  /// The taps at coordinate `v` along an axis of `size` entries.
  AxisTaps tapsAlong(Value v, Value size) {
    AxisTaps taps;
    SmallVector<Value> raw;
    if (mode == Mode::Nearest) {
      raw.push_back(toIndex(math::RoundEvenOp::create(b, loc, v)));
    } else {
      Value i1 = toIndex(math::FloorOp::create(b, loc, v));
      Value oneIdx = arith::ConstantIndexOp::create(b, loc, 1);
      if (mode == Mode::Linear) {
        Value i2 = arith::AddIOp::create(b, loc, i1, oneIdx);
        raw.append({i1, i2});
        taps.weights.push_back(
            arith::SubFOp::create(b, loc, asFloat(i2), v)); // x2 - x
        taps.weights.push_back(
            arith::SubFOp::create(b, loc, v, asFloat(i1))); // x - x1
      } else {
        // Cubic (Keys, a = -0.75) over floor(v) - 1 .. floor(v) + 2.
        Value i0 = arith::SubIOp::create(b, loc, i1, oneIdx);
        for (int64_t k = 0; k < 4; ++k)
          raw.push_back(arith::AddIOp::create(
              b, loc, i0, arith::ConstantIndexOp::create(b, loc, k)));
        cubicWeights(v, i0, taps.weights);
      }
    }
    pad(raw, size, taps);
    return taps;
  }

  /// Keys' cubic weights of the four taps from `i0`.
  void cubicWeights(Value v, Value i0, SmallVectorImpl<Value> &weights) {
    // t = x - x0 - 1, as ONNX Runtime rounds it.
    Value t = math::AbsFOp::create(
        b, loc,
        arith::SubFOp::create(
            b, loc, arith::SubFOp::create(b, loc, v, asFloat(i0)), c(1)));
    double a = -0.75;
    auto mul = [&](Value l, Value r) {
      return arith::MulFOp::create(b, loc, l, r).getResult();
    };
    auto add = [&](Value l, Value r) {
      return arith::AddFOp::create(b, loc, l, r).getResult();
    };
    auto sub = [&](Value l, Value r) {
      return arith::SubFOp::create(b, loc, l, r).getResult();
    };
    // Outer taps: ((a d - 5a) d + 8a) d - 4a at d = t + 1 and 2 - t.
    auto outer = [&](Value d) {
      return sub(mul(add(mul(sub(mul(c(a), d), c(5 * a)), d), c(8 * a)), d),
                 c(4 * a));
    };
    // Inner taps: ((a + 2) d - (a + 3)) d d + 1 at d = t and 1 - t.
    auto inner = [&](Value d) {
      return add(mul(mul(sub(mul(c(a + 2), d), c(a + 3)), d), d), c(1));
    };
    weights.push_back(outer(add(t, c(1))));
    weights.push_back(inner(t));
    weights.push_back(inner(sub(c(1), t)));
    weights.push_back(outer(sub(c(2), t)));
  }

  /// Applies the padding to the tap indices `raw` along an axis of `size`
  /// entries: zeros reads inside or 0, border clamps, reflection folds at
  /// the edges. Every index read is clamped, so nothing reads out of X.
  void pad(ArrayRef<Value> raw, Value size, AxisTaps &taps) {
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value last = arith::SubIOp::create(
        b, loc, size, arith::ConstantIndexOp::create(b, loc, 1));
    auto clamp = [&](Value v) {
      return arith::MinSIOp::create(
                 b, loc, arith::MaxSIOp::create(b, loc, v, zero), last)
          .getResult();
    };
    if (padding == Padding::Zeros) {
      for (Value i : raw) {
        taps.indices.push_back(clamp(i));
        taps.inside.push_back(arith::AndIOp::create(
            b, loc,
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, i, zero),
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, i, size)));
      }
      return;
    }
    if (padding == Padding::Border) {
      for (Value i : raw)
        taps.indices.push_back(clamp(i));
      return;
    }
    // Reflection by the near border until inside [lo, hi] (pixel centres
    // with align_corners, else pixel edges), then truncated like ONNX
    // Runtime's cast; the clamp only guards degenerate sizes.
    Value len = asFloat(size);
    Value lo = alignCorners ? c(0) : c(-0.5);
    Value hi = alignCorners ? arith::SubFOp::create(b, loc, len, c(1))
                            : arith::SubFOp::create(b, loc, len, c(0.5));
    Value range = arith::SubFOp::create(b, loc, hi, lo);
    Value positive =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, range, c(0));
    Value safeRange = arith::SelectOp::create(b, loc, positive, range, c(1));
    Value oneI64 = arith::ConstantIntOp::create(b, loc, b.getI64Type(), 1);
    Value zeroI64 = arith::ConstantIntOp::create(b, loc, b.getI64Type(), 0);
    for (Value i : raw) {
      Value f = asFloat(i);
      Value below =
          arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, f, lo);
      Value above =
          arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, f, hi);
      Value dx = arith::SelectOp::create(b, loc, below,
                                         arith::SubFOp::create(b, loc, lo, f),
                                         arith::SubFOp::create(b, loc, f, hi));
      Value folds = arith::FPToSIOp::create(
          b, loc, b.getI64Type(), arith::DivFOp::create(b, loc, dx, safeRange));
      Value r = arith::SubFOp::create(
          b, loc, dx,
          arith::MulFOp::create(
              b, loc, arith::SIToFPOp::create(b, loc, ft, folds), safeRange));
      Value even = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::eq,
          arith::AndIOp::create(b, loc, folds, oneI64), zeroI64);
      Value fromLo = arith::AddFOp::create(b, loc, lo, r);
      Value fromHi = arith::SubFOp::create(b, loc, hi, r);
      Value reflectedBelow =
          arith::SelectOp::create(b, loc, even, fromLo, fromHi);
      Value reflectedAbove =
          arith::SelectOp::create(b, loc, even, fromHi, fromLo);
      Value reflected = arith::SelectOp::create(
          b, loc, below, reflectedBelow,
          arith::SelectOp::create(b, loc, above, reflectedAbove, f));
      reflected = arith::SelectOp::create(b, loc, positive, reflected, lo);
      taps.indices.push_back(clamp(toIndex(reflected)));
    }
  }

  /// The sum over the taps of axes `axis`.. with X's indices of the axes
  /// before it in `at` and `inside` whether they all read inside X.
  Value sample(size_t axis, SmallVectorImpl<Value> &at, Value inside) {
    if (axis == axes.size()) {
      Value v = toCompute(tensor::ExtractOp::create(b, loc, x, at));
      return inside ? arith::SelectOp::create(b, loc, inside, v, c(0)) : v;
    }
    const AxisTaps &taps = axes[axis];
    Value sum;
    for (auto [k, index] : llvm::enumerate(taps.indices)) {
      Value in = inside;
      if (!taps.inside.empty())
        in = in ? arith::AndIOp::create(b, loc, in, taps.inside[k]).getResult()
                : taps.inside[k];
      at.push_back(index);
      Value v = sample(axis + 1, at, in);
      at.pop_back();
      if (!taps.weights.empty())
        v = arith::MulFOp::create(b, loc, taps.weights[k], v);
      sum = sum ? arith::AddFOp::create(b, loc, sum, v).getResult() : v;
    }
    return sum;
  }

  OpBuilder &b;
  Location loc;
  Value x, grid;
  Mode mode;
  Padding padding;
  bool alignCorners;
  FloatType ft;
  SmallVector<AxisTaps> axes;
};

/// GridSample 16 (4-D; bilinear, nearest, bicubic) and 20+ (N-D; linear,
/// nearest, cubic): either spelling is accepted at any opset.
LogicalResult convertGridSample(NodeContext &nc) {
  Value x = nc.input(0), grid = nc.input(1);
  if (!x || !grid)
    return nc.error() << "inputs X and grid are required";
  RankedTensorType xType = typeOf(x), gridType = typeOf(grid);
  auto elemType = dyn_cast<FloatType>(xType.getElementType());
  if (!elemType || !isa<FloatType>(gridType.getElementType()))
    return nc.error() << "X and grid must be float tensors, got " << xType
                      << " and " << gridType;
  int64_t rank = xType.getRank(), spatial = rank - 2;
  if (rank < 3)
    return nc.error() << "X must have rank 3 or more (N, C, spatial...), got "
                      << xType;
  if (gridType.getRank() != rank)
    return nc.error() << "grid must have the rank of X (" << rank << "), got "
                      << gridType;
  if (!gridType.isDynamicDim(rank - 1) &&
      gridType.getDimSize(rank - 1) != spatial)
    return nc.error() << "the last axis of grid must hold " << spatial
                      << " coordinates, got " << gridType;
  if (!xType.isDynamicDim(0) && !gridType.isDynamicDim(0) &&
      xType.getDimSize(0) != gridType.getDimSize(0))
    return nc.error() << "grid has batch " << gridType.getDimSize(0)
                      << ", X has " << xType.getDimSize(0);
  for (int64_t i = 0; i < spatial; ++i)
    if (xType.getDimSize(2 + i) == 0)
      return nc.error() << "X has an empty spatial axis " << 2 + i;

  std::string modeName =
      nc.attrString("mode", nc.opset >= 20 ? "linear" : "bilinear");
  Mode mode;
  if (modeName == "nearest")
    mode = Mode::Nearest;
  else if (modeName == "linear" || modeName == "bilinear")
    mode = Mode::Linear;
  else if (modeName == "cubic" || modeName == "bicubic")
    mode = Mode::Cubic;
  else
    return nc.error() << "unsupported mode '" << modeName
                      << "' (expected nearest, linear/bilinear or "
                         "cubic/bicubic)";
  int64_t tapsPerAxis =
      mode == Mode::Nearest ? 1 : (mode == Mode::Linear ? 2 : 4);
  int64_t taps = 1;
  for (int64_t i = 0; i < spatial; ++i)
    taps *= tapsPerAxis;
  if (taps > kMaxGridSampleTaps)
    return nc.error() << "mode '" << modeName << "' over " << spatial
                      << " spatial axes reads " << taps
                      << " taps per point (at most " << kMaxGridSampleTaps
                      << " are supported)";
  std::string paddingName = nc.attrString("padding_mode", "zeros");
  Padding padding;
  if (paddingName == "zeros")
    padding = Padding::Zeros;
  else if (paddingName == "border")
    padding = Padding::Border;
  else if (paddingName == "reflection")
    padding = Padding::Reflection;
  else
    return nc.error() << "unsupported padding_mode '" << paddingName
                      << "' (expected zeros, border or reflection)";
  bool alignCorners = nc.attrInt("align_corners", 0) != 0;

  Emitter em = nc.emitter();
  SmallVector<OpFoldResult> xSizes = em.sizes(x), gridSizes = em.sizes(grid);
  SmallVector<OpFoldResult> outSizes = {xSizes[0], xSizes[1]};
  outSizes.append(gridSizes.begin() + 1, gridSizes.end() - 1);
  SmallVector<int64_t> outShape = {xType.getDimSize(0), xType.getDimSize(1)};
  for (int64_t i = 1; i < rank - 1; ++i)
    outShape.push_back(gridType.getDimSize(i));
  auto outType = RankedTensorType::get(outShape, elemType);
  Value init = em.empty(outType, em.dynamicSizes(outSizes));
  // f64 data is sampled in f64, everything else in f32.
  FloatType computeType =
      elemType.getWidth() == 64 ? elemType : Float32Type::get(nc.importer.ctx);
  MLIRContext *ctx = nc.importer.ctx;
  SmallVector<utils::IteratorType> parallel(rank,
                                            utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      em.b, nc.loc, TypeRange{outType}, ValueRange{}, ValueRange{init},
      ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(rank, ctx)},
      parallel, [&](OpBuilder &b, Location loc, ValueRange) {
        GridSampleBody body(b, loc, x, grid, mode, padding, alignCorners,
                            computeType);
        linalg::YieldOp::create(b, loc, body.emit());
      });
  nc.setOutput(0, generic.getResult(0), nc.inputOnnxType(0));
  return success();
}

} // namespace

void parsimony::onnximport::registerResizeConverters(
    llvm::StringMap<ConverterFn> &map) {
  map["::Resize"] = convertResize;
  map["::Upsample"] = convertUpsample;
  map["::GridSample"] = convertGridSample;
}
