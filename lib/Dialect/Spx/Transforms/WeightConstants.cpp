//===- WeightConstants.cpp - reading and writing constant weights ---------===//

#include "parsimony/Dialect/Spx/Transforms/WeightConstants.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <algorithm>
#include <cmath>

using namespace mlir;

std::optional<std::vector<float>> spx::getConstantF32Values(Value value) {
  auto constant = value.getDefiningOp<arith::ConstantOp>();
  if (!constant)
    return std::nullopt;
  Attribute attr = constant.getValue();
  if (auto resource = dyn_cast<DenseF32ResourceElementsAttr>(attr)) {
    std::optional<ArrayRef<float>> data = resource.tryGetAsArrayRef();
    if (!data)
      return std::nullopt;
    return std::vector<float>(data->begin(), data->end());
  }
  if (auto dense = dyn_cast<DenseElementsAttr>(attr);
      dense && dense.getElementType().isF32()) {
    auto values = dense.getValues<float>();
    return std::vector<float>(values.begin(), values.end());
  }
  return std::nullopt;
}

template <typename T>
Value spx::createResourceConstant(OpBuilder &b, Location loc,
                                  RankedTensorType type, StringRef name,
                                  ArrayRef<T> data) {
  auto attr = mlir::detail::DenseResourceElementsAttrBase<T>::get(
      type, name, HeapAsmResourceBlob::allocateAndCopyInferAlign(data));
  return arith::ConstantOp::create(b, loc, cast<TypedAttr>(attr));
}

template Value spx::createResourceConstant<float>(OpBuilder &, Location,
                                                  RankedTensorType, StringRef,
                                                  ArrayRef<float>);
template Value spx::createResourceConstant<int8_t>(OpBuilder &, Location,
                                                   RankedTensorType, StringRef,
                                                   ArrayRef<int8_t>);

std::vector<float> spx::transpose(ArrayRef<float> data, int64_t rows,
                                  int64_t cols) {
  std::vector<float> out(data.size());
  // Blocked so both sides stay in cache for large weights.
  constexpr int64_t kBlock = 64;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock)
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock)
      for (int64_t r = r0; r < std::min(rows, r0 + kBlock); ++r)
        for (int64_t c = c0; c < std::min(cols, c0 + kBlock); ++c)
          out[c * rows + r] = data[r * cols + c];
  return out;
}

spx::QuantizedWeight spx::quantizeWeight(ArrayRef<float> stored,
                                         int64_t experts, int64_t k, int64_t n,
                                         WeightLayout layout, unsigned bits,
                                         int64_t group) {
  QuantizedWeight w;
  w.bits = bits;
  w.group = group;
  w.layout = layout;
  w.experts = experts;
  w.k = k;
  w.n = n;
  bool kn = layout == WeightLayout::kn;
  int64_t groups = group ? k / group : 1, span = group ? group : k;
  float maxQ = bits == 8 ? 127.0f : 7.0f;
  w.q.assign(stored.size(), 0);
  w.scales.assign(experts * groups * n, 0.0f);
  for (int64_t e = 0; e < experts; ++e) {
    const float *src = stored.data() + e * k * n;
    int8_t *dst = w.q.data() + e * k * n;
    float *scales = w.scales.data() + e * groups * n;
    auto index = [&](int64_t i, int64_t j) {
      return kn ? i * n + j : j * k + i;
    };
    for (int64_t j = 0; j < n; ++j)
      for (int64_t g = 0; g < groups; ++g) {
        float amax = 0.0f;
        for (int64_t i = g * span; i < (g + 1) * span; ++i)
          amax = std::max(amax, std::fabs(src[index(i, j)]));
        float scale = amax > 0.0f ? amax / maxQ : 1.0f;
        scales[!group ? j : kn ? g * n + j : j * groups + g] = scale;
        for (int64_t i = g * span; i < (g + 1) * span; ++i)
          dst[index(i, j)] = static_cast<int8_t>(std::max(
              -maxQ, std::min(maxQ, std::nearbyint(src[index(i, j)] / scale))));
      }
  }
  return w;
}

spx::QuantizedWeight spx::transposeQuantized(const QuantizedWeight &w) {
  QuantizedWeight t = w;
  bool kn = w.layout == WeightLayout::kn;
  t.layout = kn ? WeightLayout::nk : WeightLayout::kn;
  int64_t rows = kn ? w.k : w.n, cols = kn ? w.n : w.k;
  int64_t groups = w.group ? w.k / w.group : 1;
  for (int64_t e = 0; e < w.experts; ++e) {
    const int8_t *src = w.q.data() + e * w.k * w.n;
    int8_t *dst = t.q.data() + e * w.k * w.n;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        dst[c * rows + r] = src[r * cols + c];
    if (w.group) {
      // [K/g, N] <-> [N, K/g].
      int64_t sr = kn ? groups : w.n, sc = kn ? w.n : groups;
      const float *ss = w.scales.data() + e * groups * w.n;
      float *ds = t.scales.data() + e * groups * w.n;
      for (int64_t r = 0; r < sr; ++r)
        for (int64_t c = 0; c < sc; ++c)
          ds[c * sr + r] = ss[r * sc + c];
    }
  }
  return t;
}

/// One signed byte per value of an i8 or i4 constant, or of a packed int4
/// constant (unpacked).
static std::optional<std::vector<int8_t>> getIntegerValues(Value value,
                                                           bool packed) {
  auto constant = value.getDefiningOp<arith::ConstantOp>();
  if (!constant)
    return std::nullopt;
  Attribute attr = constant.getValue();
  std::vector<int8_t> bytes;
  if (auto resource = dyn_cast<DenseI8ResourceElementsAttr>(attr)) {
    std::optional<ArrayRef<int8_t>> data = resource.tryGetAsArrayRef();
    if (!data)
      return std::nullopt;
    bytes.assign(data->begin(), data->end());
  } else if (auto dense = dyn_cast<DenseIntElementsAttr>(attr)) {
    unsigned width = dense.getElementType().getIntOrFloatBitWidth();
    if (width != 8 && width != 4)
      return std::nullopt;
    bytes.reserve(dense.getNumElements());
    for (const APInt &v : dense.getValues<APInt>())
      bytes.push_back(static_cast<int8_t>(v.getSExtValue()));
  } else {
    return std::nullopt;
  }
  if (!packed)
    return bytes;
  // Rows of 32-value blocks: byte i holds value i (low nibble) and i + 16.
  int64_t rowBytes = cast<ShapedType>(value.getType()).getShape().back();
  std::vector<int8_t> values(bytes.size() * 2);
  for (size_t r = 0; r * rowBytes < bytes.size(); ++r)
    for (int64_t c = 0; c < 2 * rowBytes; ++c) {
      uint8_t byte = bytes[r * rowBytes + (c / 32) * 16 + c % 16];
      values[r * 2 * rowBytes + c] =
          static_cast<int8_t>(c % 32 < 16 ? uint8_t(byte << 4) : byte) >> 4;
    }
  return values;
}

std::optional<spx::QuantizedWeight>
spx::getQuantizedConstant(Value weight, Value scales, QuantAttr quant,
                          WeightLayout layout) {
  if (!quant || !scales)
    return std::nullopt;
  auto type = cast<RankedTensorType>(weight.getType());
  bool packed = isPackedInt4(type.getElementType(), quant);
  std::optional<std::vector<int8_t>> q = getIntegerValues(weight, packed);
  std::optional<std::vector<float>> s = getConstantF32Values(scales);
  if (!q || !s)
    return std::nullopt;
  SmallVector<int64_t> shape(type.getShape());
  if (packed)
    shape.back() *= 2;
  int64_t rank = shape.size();
  QuantizedWeight w;
  w.bits = quant.getBits();
  w.group = quant.getGroupSize();
  w.layout = layout;
  w.experts = rank == 3 ? shape[0] : 1;
  w.k = layout == WeightLayout::kn ? shape[rank - 2] : shape[rank - 1];
  w.n = layout == WeightLayout::kn ? shape[rank - 1] : shape[rank - 2];
  w.q = std::move(*q);
  w.scales = std::move(*s);
  return w;
}

bool spx::scalesFitF16(const QuantizedWeight &w) {
  // The smallest normal and the largest finite f16.
  constexpr float MinNormal = 0x1p-14f, MaxFinite = 65504.0f;
  return llvm::all_of(w.scales, [](float s) {
    return std::fabs(s) >= MinNormal && std::fabs(s) <= MaxFinite;
  });
}

std::pair<Value, Value>
spx::createQuantizedConstants(OpBuilder &b, Location loc,
                              const QuantizedWeight &w, StringRef name,
                              bool pack, bool stacked, bool f16Scales) {
  bool kn = w.layout == WeightLayout::kn;
  SmallVector<int64_t> shape;
  if (stacked)
    shape.push_back(w.experts);
  shape.push_back(kn ? w.k : w.n);
  shape.push_back(kn ? w.n : w.k);
  Value weight;
  if (w.bits == 8) {
    weight = createResourceConstant<int8_t>(
        b, loc, RankedTensorType::get(shape, b.getI8Type()), name.str() + "_q",
        w.q);
  } else if (pack && w.packable()) {
    int64_t row = shape.back();
    std::vector<int8_t> bytes(w.q.size() / 2, 0);
    for (size_t r = 0; r * row < w.q.size(); ++r)
      for (int64_t c = 0; c < row; ++c) {
        uint8_t nibble = uint8_t(w.q[r * row + c]) & 15;
        uint8_t &byte = reinterpret_cast<uint8_t &>(
            bytes[r * row / 2 + (c / 32) * 16 + c % 16]);
        byte |= c % 32 < 16 ? nibble : uint8_t(nibble << 4);
      }
    shape.back() = row / 2;
    weight = createResourceConstant<int8_t>(
        b, loc, RankedTensorType::get(shape, b.getI8Type()), name.str() + "_q4",
        bytes);
  } else {
    // i4 has no resource form: a dense constant, one byte per value holding
    // the 4-bit pattern (the bits above an APInt's width must be zero).
    auto type = RankedTensorType::get(shape, b.getIntegerType(4));
    std::vector<char> nibbles(w.q.size());
    for (size_t i = 0; i < w.q.size(); ++i)
      nibbles[i] = static_cast<char>(uint8_t(w.q[i]) & 15);
    ArrayRef<char> raw(nibbles.data(), nibbles.size());
    weight = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::getFromRawBuffer(type, raw));
  }
  SmallVector<int64_t> scaleShape;
  if (stacked)
    scaleShape.push_back(w.experts);
  if (!w.group)
    scaleShape.push_back(w.n);
  else if (kn)
    scaleShape.append({w.k / w.group, w.n});
  else
    scaleShape.append({w.n, w.k / w.group});
  if (!f16Scales) {
    Value scales = createResourceConstant<float>(
        b, loc, RankedTensorType::get(scaleShape, b.getF32Type()),
        name.str() + "_s", w.scales);
    return {weight, scales};
  }
  std::vector<uint16_t> halves(w.scales.size());
  for (size_t i = 0; i < halves.size(); ++i) {
    bool lost;
    APFloat h(w.scales[i]);
    h.convert(APFloat::IEEEhalf(), APFloat::rmNearestTiesToEven, &lost);
    halves[i] = uint16_t(h.bitcastToAPInt().getZExtValue());
  }
  auto attr = DenseResourceElementsAttr::get(
      RankedTensorType::get(scaleShape, b.getF16Type()), name.str() + "_s",
      HeapAsmResourceBlob::allocateAndCopyInferAlign(ArrayRef(halves)));
  return {weight, arith::ConstantOp::create(b, loc, attr)};
}
