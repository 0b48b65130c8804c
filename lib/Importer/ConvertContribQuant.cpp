//===- ConvertContribQuant.cpp - ONNX Runtime quantized matmuls -----------===//
//
// com.microsoft:MatMulNBits (2-, 4- and 8-bit block-quantized weights, the
// form of ONNX Runtime's MatMul4BitsQuantizer and of the GenAI model
// builder's int4 models) becomes spx.quant_matmul on the model's own
// integers and scales, repacked at import time into the dialect's weight
// format, so that it runs on the project's int4/int8 kernels without an f32
// copy of the weight. The kernels are symmetric: the values are stored
// relative to the default zero point 2^(bits-1), and other zero points add
// the exact per-block correction `sum_block(A) * (2^(bits-1) - zp) * scale`,
// a small f32 matmul over A's block sums accumulated into the product. Only
// a weight whose g_idx reorders the blocks is dequantized to f32 at import
// time.
//
// MatMulIntegerToFloat and DynamicQuantizeMatMul are expanded into the ONNX
// operators they fuse (DynamicQuantizeLinear, MatMulInteger, Cast, then the
// scale multiplication and bias), converted by the default-domain
// converters, so that --spx-raise-dequantized-weights runs them on the int8
// kernels as it does the same ONNX graph. The contrib DequantizeLinear /
// QuantizeLinear are the ONNX ones.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "parsimony/Dialect/Spx/IR/SpxOps.h"
// The dialect's weight format (packed int4, scale layout) is written by the
// helpers the weight-quantization passes use.
#include "parsimony/Dialect/Spx/Transforms/WeightConstants.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringExtras.h"

#include <cstring>
#include <numeric>

using namespace mlir;
using namespace mlir::spx;
using namespace parsimony::onnximport;

namespace {

//===----------------------------------------------------------------------===//
// Constant inputs
//===----------------------------------------------------------------------===//

/// The attribute holding constant input `i` (an initializer, a Constant
/// node's value or an import-time folded result), without materialising
/// it in the IR; null when the input is computed at run time.
ElementsAttr constantAttr(NodeContext &nc, unsigned i) {
  if (!nc.hasInput(i))
    return {};
  ValueEntry *e = nc.importer.entry(nc.node.input(i));
  if (!e)
    return {};
  if (e->constant)
    return e->constant->toAttr(nc.importer.ctx);
  if (e->lazyAttr)
    return e->lazyAttr;
  if (e->value)
    if (auto constant = e->value.getDefiningOp<arith::ConstantOp>())
      return dyn_cast<ElementsAttr>(constant.getValue());
  return {};
}

/// The row-major bytes of the elements of `attr` (dense or dense_resource;
/// a splat is expanded into `storage`); false when its data is not
/// available or its elements are not whole bytes.
bool rawBytes(ElementsAttr attr, std::vector<char> &storage,
              ArrayRef<char> &bytes) {
  auto type = cast<ShapedType>(attr.getType());
  unsigned bits = type.getElementType().getIntOrFloatBitWidth();
  if (bits % 8 != 0 || !type.hasStaticShape())
    return false;
  size_t width = bits / 8, count = type.getNumElements();
  ArrayRef<char> data;
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (type.getElementType().isInteger(1))
      return false; // bit-packed
    data = dense.getRawData();
    if (dense.isSplat() && count != 1) {
      storage.resize(count * width);
      for (size_t i = 0; i < count; ++i)
        std::memcpy(storage.data() + i * width, data.data(), width);
      bytes = storage;
      return true;
    }
  } else if (auto resource = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return false;
    data = blob->getData();
  } else {
    return false;
  }
  if (data.size() != count * width)
    return false;
  bytes = data;
  return true;
}

float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in f32.
    float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    std::memcpy(&bits, &magnitude, 4);
    bits |= sign;
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// The elements of a constant f32, f16 or bf16 `attr` as f32 (exact).
std::optional<std::vector<float>> floatValues(ElementsAttr attr) {
  std::vector<char> storage;
  ArrayRef<char> bytes;
  if (!rawBytes(attr, storage, bytes))
    return std::nullopt;
  Type t = cast<ShapedType>(attr.getType()).getElementType();
  std::vector<float> values;
  if (t.isF32()) {
    values.resize(bytes.size() / 4);
    std::memcpy(values.data(), bytes.data(), bytes.size());
  } else if (t.isF16() || t.isBF16()) {
    values.resize(bytes.size() / 2);
    for (size_t i = 0; i < values.size(); ++i) {
      uint16_t h;
      std::memcpy(&h, bytes.data() + 2 * i, 2);
      if (t.isF16()) {
        values[i] = halfToFloat(h);
      } else {
        uint32_t bits = uint32_t(h) << 16;
        std::memcpy(&values[i], &bits, 4);
      }
    }
  } else {
    return std::nullopt;
  }
  return values;
}

/// The elements of a constant integer `attr` of `width` bits as int64
/// (sign-extended, or zero-extended when `isUnsigned`).
std::optional<std::vector<int64_t>> intValues(ElementsAttr attr,
                                              bool isUnsigned) {
  std::vector<char> storage;
  ArrayRef<char> bytes;
  Type t = cast<ShapedType>(attr.getType()).getElementType();
  if (!t.isSignlessInteger() || !rawBytes(attr, storage, bytes))
    return std::nullopt;
  unsigned width = t.getIntOrFloatBitWidth() / 8;
  std::vector<int64_t> values(bytes.size() / width);
  for (size_t i = 0; i < values.size(); ++i) {
    uint64_t raw = 0;
    std::memcpy(&raw, bytes.data() + i * width, width); // little endian
    unsigned shift = 64 - 8 * width;
    values[i] =
        isUnsigned ? int64_t(raw) : static_cast<int64_t>(raw << shift) >> shift;
  }
  return values;
}

/// A name for the constants created for `nc`'s node (the resource manager
/// makes it unique).
std::string blobName(NodeContext &nc, StringRef suffix) {
  std::string name = GraphImporter::nodeName(nc.node);
  for (char &c : name)
    if (!llvm::isAlnum(c) && c != '_')
      c = '_';
  return name + "_" + suffix.str();
}

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape))
    s += (i ? ", " : "") +
         (ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d));
  return s + "]";
}

/// The `bits`-bit fields (`bits` dividing 8) of `packed`, rows of
/// `rowBytes` bytes with the first field of a byte in its low bits, as
/// `fields` values per row minus `offset`: ONNX Runtime's packing of
/// quantized weights and zero points.
template <typename Out>
std::vector<Out> unpackRows(ArrayRef<int64_t> packed, int64_t rowBytes,
                            int64_t fields, int64_t bits, int64_t offset = 0) {
  int64_t per = 8 / bits, mask = (1 << bits) - 1;
  int64_t rows = static_cast<int64_t>(packed.size()) / rowBytes;
  std::vector<Out> out(rows * fields);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < fields; ++i)
      out[r * fields + i] = static_cast<Out>(
          ((packed[r * rowBytes + i / per] >> ((i % per) * bits)) & mask) -
          offset);
  return out;
}

//===----------------------------------------------------------------------===//
// MatMulNBits
//===----------------------------------------------------------------------===//

/// `x` ([..., K] f32) as the input of a product: rank >= 2 (the leading
/// dimensions are tokens) with a static K.
Value productInput(Emitter &em, Value x, int64_t k) {
  auto type = cast<RankedTensorType>(x.getType());
  if (type.getRank() == 1)
    x = tensor::ExpandShapeOp::create(
        em.b, em.loc, RankedTensorType::get({1, k}, type.getElementType()), x,
        SmallVector<ReassociationIndices>{{0, 1}});
  // A dynamic feature size must be K (the kernels read K from the weight).
  type = cast<RankedTensorType>(x.getType());
  if (type.isDynamicDim(type.getRank() - 1)) {
    SmallVector<int64_t> shape(type.getShape());
    shape.back() = k;
    x = tensor::CastOp::create(em.b, em.loc, type.clone(shape), x);
  }
  return x;
}

Value addScalars(OpBuilder &b, Location l, ValueRange a) {
  return arith::AddFOp::create(b, l, a[0], a[1]);
}

/// Checks that input `i` has one of the shapes `shapes`; reports them
/// otherwise.
LogicalResult checkShape(NodeContext &nc, unsigned i, StringRef what,
                         ArrayRef<SmallVector<int64_t>> shapes) {
  RankedTensorType type = nc.inputType(i);
  for (const SmallVector<int64_t> &shape : shapes)
    if (type.getShape() == ArrayRef<int64_t>(shape))
      return success();
  NodeError err = nc.error();
  err << what << " must have shape ";
  for (auto [j, shape] : llvm::enumerate(shapes))
    err << (j ? " or " : "") << shapeString(shape);
  err << ", got " << shapeString(type.getShape());
  return failure();
}

LogicalResult convertMatMulNBits(NodeContext &nc) {
  OpBuilder &b = nc.importer.builder;
  Value a = nc.input(0);
  if (!a || !nc.hasInput(1) || !nc.hasInput(2))
    return nc.error() << "needs inputs A, B and scales";
  auto aType = cast<RankedTensorType>(a.getType());
  Type floatType = aType.getElementType();
  if (!floatType.isF32() && !floatType.isF16() && !floatType.isBF16())
    return nc.error() << "A must be float, float16 or bfloat16, got "
                      << onnxTypeName(nc.inputOnnxType(0));
  for (StringRef name : {"K", "N", "block_size"})
    if (!nc.attr(name))
      return nc.error() << "attribute '" << name << "' is required";
  int64_t K = nc.attrInt("K", 0), N = nc.attrInt("N", 0);
  int64_t bits = nc.attrInt("bits", 4), blockSize = nc.attrInt("block_size", 0);
  if (K <= 0 || N <= 0)
    return nc.error() << "K and N must be positive, got K = " << K
                      << ", N = " << N;
  if (bits != 2 && bits != 4 && bits != 8)
    return nc.error() << "bits = " << bits
                      << " is not supported (expected 2, 4 or 8, the widths "
                         "ONNX Runtime implements)";
  if (blockSize < 16 || !llvm::isPowerOf2_64(blockSize))
    return nc.error() << "block_size must be a power of two >= 16, got "
                      << blockSize;
  if (aType.getRank() < 1)
    return nc.error() << "A must have rank >= 1";
  int64_t aK = aType.getShape().back();
  if (!ShapedType::isDynamic(aK) && aK != K)
    return nc.error() << "the last dimension of A (" << aK
                      << ") must be K = " << K;

  int64_t blocks = (K + blockSize - 1) / blockSize;
  int64_t blobSize = blockSize * bits / 8;
  int64_t zpBlobSize = (blocks * bits + 7) / 8;
  // B: [N, blocks, blob] bytes, `bits` per value, low bits first.
  if (nc.inputOnnxType(1) != onnx::TensorProto::UINT8)
    return nc.error() << "B must be uint8, got "
                      << onnxTypeName(nc.inputOnnxType(1));
  if (nc.inputType(1).getShape() != ArrayRef<int64_t>{N, blocks, blobSize})
    return nc.error() << "B must have shape [N, ceil(K / block_size), "
                         "block_size * bits / 8] = "
                      << shapeString({N, blocks, blobSize}) << " (K = " << K
                      << ", N = " << N << ", bits = " << bits
                      << ", block_size = " << blockSize << "), got "
                      << shapeString(nc.inputType(1).getShape());
  if (nc.inputOnnxType(2) != nc.inputOnnxType(0))
    return nc.error() << "scales must have A's type "
                      << onnxTypeName(nc.inputOnnxType(0)) << ", got "
                      << onnxTypeName(nc.inputOnnxType(2));
  if (failed(checkShape(nc, 2, "scales (one per block)",
                        {{N * blocks}, {N, blocks}})))
    return failure();
  bool hasZp = nc.hasInput(3), zpPacked = false;
  if (hasZp) {
    int32_t zpType = nc.inputOnnxType(3);
    zpPacked = zpType == onnx::TensorProto::UINT8;
    if (!zpPacked && zpType != nc.inputOnnxType(2))
      return nc.error() << "zero_points must be uint8 (packed) or the type of "
                           "scales, got "
                        << onnxTypeName(zpType);
    if (failed(zpPacked ? checkShape(nc, 3, "packed zero_points",
                                     {{N * zpBlobSize}, {N, zpBlobSize}})
                        : checkShape(nc, 3, "zero_points",
                                     {{N * blocks}, {N, blocks}})))
      return failure();
  }
  bool hasGIdx = nc.hasInput(4);
  if (hasGIdx) {
    if (nc.inputOnnxType(4) != onnx::TensorProto::INT32)
      return nc.error() << "g_idx must be int32, got "
                        << onnxTypeName(nc.inputOnnxType(4));
    if (failed(checkShape(nc, 4, "g_idx", {{K}, {blocks * blockSize}})))
      return failure();
  }
  Value bias = nc.input(5);
  if (bias) {
    if (nc.inputOnnxType(5) != nc.inputOnnxType(0))
      return nc.error() << "bias must have A's type "
                        << onnxTypeName(nc.inputOnnxType(0)) << ", got "
                        << onnxTypeName(nc.inputOnnxType(5));
    if (failed(checkShape(nc, 5, "bias", {{N}})))
      return failure();
  }

  // The quantized weight is repacked at import time: it must be known.
  auto requireConstant = [&](unsigned i, StringRef what) -> ElementsAttr {
    ElementsAttr attr = constantAttr(nc, i);
    if (!attr)
      nc.error() << what << " (input " << i
                 << ") must be a constant initializer: MatMulNBits weights "
                    "are repacked at import time";
    return attr;
  };
  ElementsAttr bAttr = requireConstant(1, "B");
  if (!bAttr)
    return failure();
  ElementsAttr sAttr = requireConstant(2, "scales");
  if (!sAttr)
    return failure();
  ElementsAttr zpAttr, gAttr;
  if (hasZp && !(zpAttr = requireConstant(3, "zero_points")))
    return failure();
  if (hasGIdx && !(gAttr = requireConstant(4, "g_idx")))
    return failure();
  std::vector<char> bStorage;
  ArrayRef<char> bBytes;
  std::optional<std::vector<float>> scales = floatValues(sAttr);
  if (!rawBytes(bAttr, bStorage, bBytes) || !scales)
    return nc.error() << "the data of B or scales is not available";

  // Zero points per block (the default is the middle of the range).
  const int64_t mid = int64_t(1) << (bits - 1), mask = (1 << bits) - 1;
  std::vector<float> zeroPoints(N * blocks, static_cast<float>(mid));
  if (hasZp) {
    if (zpPacked) {
      std::optional<std::vector<int64_t>> packed =
          intValues(zpAttr, /*isUnsigned=*/true);
      if (!packed)
        return nc.error() << "the data of zero_points is not available";
      zeroPoints = unpackRows<float>(*packed, zpBlobSize, blocks, bits);
    } else {
      std::optional<std::vector<float>> values = floatValues(zpAttr);
      if (!values)
        return nc.error() << "the data of zero_points is not available";
      zeroPoints = std::move(*values);
    }
  }
  // The block of each input feature: k / block_size unless g_idx reorders.
  bool reordered = false;
  std::vector<int64_t> blockOf(K);
  for (int64_t k = 0; k < K; ++k)
    blockOf[k] = k / blockSize;
  if (hasGIdx) {
    std::optional<std::vector<int64_t>> g = intValues(gAttr, false);
    if (!g)
      return nc.error() << "the data of g_idx is not available";
    for (int64_t k = 0; k < K; ++k) {
      if ((*g)[k] < 0 || (*g)[k] >= blocks)
        return nc.error() << "g_idx[" << k << "] = " << (*g)[k]
                          << " is outside [0, " << blocks << ")";
      reordered |= (*g)[k] != blockOf[k];
      blockOf[k] = (*g)[k];
    }
  }
  // The quantized value of input feature k of output feature n.
  auto quantized = [&](int64_t n, int64_t k) -> int64_t {
    int64_t bit = (k % blockSize) * bits;
    auto byte = static_cast<uint8_t>(
        bBytes[(n * blocks + k / blockSize) * blobSize + bit / 8]);
    return (byte >> (bit % 8)) & mask;
  };

  Emitter em = nc.emitter();
  Location loc = nc.loc;
  Type f32 = b.getF32Type();
  // Computed in f32 whatever A's type (as ONNX Runtime does).
  Value x = a;
  if (!floatType.isF32()) {
    FailureOr<Value> c = em.castTo(a, f32, false, false);
    if (failed(c))
      return failure();
    x = *c;
  }
  x = productInput(em, x, K);
  auto xType = cast<RankedTensorType>(x.getType());
  int64_t rank = xType.getRank();
  Value y;
  if (reordered) {
    // A reordered weight has no block structure along K: dequantized, kn.
    std::vector<float> w(K * N);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) {
        int64_t blk = n * blocks + blockOf[k];
        w[k * N + n] = (static_cast<float>(quantized(n, k)) - zeroPoints[blk]) *
                       (*scales)[blk];
      }
    Value weight = createResourceConstant<float>(
        b, loc, RankedTensorType::get({K, N}, f32), blobName(nc, "w"), w);
    FailureOr<Value> product = em.matmul(x, weight);
    if (failed(product))
      return failure();
    y = *product;
  } else {
    // The values relative to the default zero point fit the kernels'
    // signed formats: [-8, 7] (int4) for bits <= 4, [-128, 127] for 8.
    // Groups: the blocks, or (K not a multiple of block_size) the largest
    // size dividing both, each with its block's scale; one block is a scale
    // per output feature.
    int64_t group = blocks == 1          ? 0
                    : K % blockSize == 0 ? blockSize
                                         : std::gcd(K, blockSize);
    int64_t groups = group ? K / group : 1;
    QuantizedWeight w;
    // int4 is stored packed (two values per byte), which needs rows and
    // groups of multiples of 32; otherwise one byte per value as int8
    // (the same size as unpacked int4, and the faster kernels).
    bool int4 = bits <= 4 && K % 32 == 0 && group % 32 == 0;
    w.bits = int4 ? 4 : 8;
    w.group = group;
    w.layout = WeightLayout::nk;
    w.k = K;
    w.n = N;
    w.q.resize(N * K);
    w.scales.resize(N * groups);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t k = 0; k < K; ++k)
        w.q[n * K + k] = static_cast<int8_t>(quantized(n, k) - mid);
      for (int64_t g = 0; g < groups; ++g)
        w.scales[n * groups + g] =
            (*scales)[n * blocks + (group ? g * group / blockSize : 0)];
    }
    // (mid - zp) * scale per block: the weight's part the kernel misses.
    std::vector<float> offsets(groups * N); // [groups, N]
    bool anyOffset = false;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t g = 0; g < groups; ++g) {
        int64_t blk = n * blocks + (group ? g * group / blockSize : 0);
        float zp = zeroPoints[blk];
        float offset = (static_cast<float>(mid) - zp) * (*scales)[blk];
        offsets[g * N + n] = offset;
        anyOffset |= zp != static_cast<float>(mid);
      }
    auto [weight, scaleValues] =
        createQuantizedConstants(b, loc, w, blobName(nc, "nbits"),
                                 /*pack=*/true, /*stacked=*/false);
    SmallVector<int64_t> resultShape(xType.getShape());
    resultShape.back() = N;
    auto resultType = RankedTensorType::get(resultShape, f32);
    auto op = QuantMatmulOp::create(
        b, loc, resultType, x, weight, scaleValues,
        WeightLayoutAttr::get(b.getContext(), WeightLayout::nk),
        QuantAttr::get(b.getContext(), w.bits, w.group));
    if (failed(mlir::verify(op)))
      return nc.error() << "the repacked weight does not form a valid "
                           "spx.quant_matmul";
    y = op.getOutput();
    if (anyOffset) {
      // sum_g (sum_{k in g} x[t, k]) * offsets[g, n].
      // x as [..., groups, group], summed over the last dimension.
      SmallVector<OpFoldResult> split = em.sizes(x);
      split.back() = b.getIndexAttr(groups);
      split.push_back(b.getIndexAttr(group ? group : K));
      SmallVector<int64_t> splitShape(xType.getShape());
      splitShape.back() = groups;
      splitShape.push_back(group ? group : K);
      SmallVector<ReassociationIndices> reassociation;
      for (int64_t i = 0; i < rank - 1; ++i)
        reassociation.push_back({i});
      reassociation.push_back({rank - 1, rank});
      Value grouped = tensor::ExpandShapeOp::create(
          b, loc, RankedTensorType::get(splitShape, f32), x, reassociation,
          split);
      FailureOr<Value> sums =
          em.reduce(grouped, {rank}, Emitter::ReduceKind::Sum, false);
      if (failed(sums))
        return failure();
      Value offsetWeight = createResourceConstant<float>(
          b, loc, RankedTensorType::get({groups, N}, f32),
          blobName(nc, "zero_point_offsets"), offsets);
      // Accumulated into the product (tokens flattened): an accumulating
      // contraction is not a weight the --quantize pass requantizes.
      Value acc = y, blockSums = *sums;
      SmallVector<ReassociationIndices> flatten;
      if (rank > 2) {
        ReassociationIndices lead;
        for (int64_t i = 0; i < rank - 1; ++i)
          lead.push_back(i);
        flatten = {lead, {rank - 1}};
        acc = tensor::CollapseShapeOp::create(b, loc, y, flatten);
        blockSums = tensor::CollapseShapeOp::create(b, loc, blockSums, flatten);
      }
      Value corrected =
          linalg::MatmulOp::create(b, loc, TypeRange{acc.getType()},
                                   ValueRange{blockSums, offsetWeight},
                                   ValueRange{acc})
              .getResult(0);
      if (rank > 2)
        corrected = tensor::ExpandShapeOp::create(
            b, loc, y.getType(), corrected, flatten, em.sizes(y));
      y = corrected;
    }
  }
  if (bias) {
    FailureOr<Value> b32 = em.castTo(bias, f32, false, false);
    if (failed(b32))
      return failure();
    FailureOr<Value> sum = em.map({y, *b32}, f32, addScalars);
    if (failed(sum))
      return failure();
    y = *sum;
  }
  if (aType.getRank() == 1)
    y = tensor::CollapseShapeOp::create(
        b, loc, RankedTensorType::get({N}, f32), y,
        SmallVector<ReassociationIndices>{{0, 1}});
  if (!floatType.isF32()) {
    FailureOr<Value> c = em.castTo(y, floatType, false, false);
    if (failed(c))
      return failure();
    y = *c;
  }
  nc.setOutput(0, y, nc.inputOnnxType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Fused integer matmuls, expanded into the ONNX operators they fuse
//===----------------------------------------------------------------------===//

/// Checks that input `i` is a float scale with one element or, when
/// `perColumn` is non-zero, `perColumn` elements (1-D).
LogicalResult checkScale(NodeContext &nc, unsigned i, StringRef what,
                         int64_t perColumn) {
  RankedTensorType type = nc.inputType(i);
  if (!type)
    return nc.error() << "missing required input " << what;
  if (!isa<FloatType>(type.getElementType()))
    return nc.error() << what << " must be floating point, got "
                      << onnxTypeName(nc.inputOnnxType(i));
  if (type.getNumElements() == 1 && type.getRank() <= 1)
    return success();
  if (perColumn && type.getRank() == 1 && type.getDimSize(0) == perColumn)
    return success();
  NodeError err = nc.error();
  err << what << " must be a scalar";
  if (perColumn)
    err << " or have one value per column of B (" << perColumn << ")";
  err << ", got " << shapeString(type.getShape());
  return failure();
}

/// The columns of the 8-bit weight B (input `i`), if it is an 8-bit integer
/// matrix or batch of matrices.
FailureOr<int64_t> checkWeight(NodeContext &nc, unsigned i) {
  RankedTensorType type = nc.inputType(i);
  if (!type)
    return nc.error() << "missing required input B";
  if (!type.getElementType().isInteger(8) || type.getRank() < 2)
    return nc.error() << "B must be an int8 or uint8 matrix, got "
                      << onnxTypeName(nc.inputOnnxType(i)) << " "
                      << shapeString(type.getShape());
  return type.getShape().back();
}

/// float(product) * scale (+ bias), in f32 (the type of the result; other
/// float scale types are computed in f32 and the result converted).
LogicalResult finishIntegerProduct(NodeContext &nc, Value product, Value scale,
                                   Value bias, Type resultType) {
  Emitter em = nc.emitter();
  Type f32 = nc.importer.builder.getF32Type();
  // A cast on its own (the ONNX Cast): --spx-raise-dequantized-weights
  // runs an integer product only converted to f32 on the int8 kernels.
  FailureOr<Value> y = em.castTo(product, f32, false, false);
  if (failed(y))
    return failure();
  y = em.map({*y, scale}, f32, [&](OpBuilder &b, Location l, ValueRange a) {
    return arith::MulFOp::create(b, l, a[0], a[1]).getResult();
  });
  if (failed(y))
    return failure();
  if (bias) {
    if (cast<RankedTensorType>(bias.getType()).getRank() != 1)
      return nc.error() << "bias must be 1-D";
    y = em.map({*y, bias}, f32, [&](OpBuilder &b, Location l, ValueRange a) {
      Emitter e(b, l, nullptr);
      return arith::AddFOp::create(b, l, a[0],
                                   e.convertScalar(a[1], f32, false, false))
          .getResult();
    });
    if (failed(y))
      return failure();
  }
  if (resultType != f32) {
    y = em.castTo(*y, resultType, false, false);
    if (failed(y))
      return failure();
  }
  nc.setOutput(0, *y, onnxTypeFor(resultType));
  return success();
}

/// a_scale * b_scale in f32 (per tensor or per column of B).
FailureOr<Value> combinedScale(NodeContext &nc, Value aScale, Value bScale) {
  Type f32 = nc.importer.builder.getF32Type();
  return nc.emitter().map(
      {aScale, bScale}, f32, [&](OpBuilder &b, Location l, ValueRange a) {
        Emitter e(b, l, nullptr);
        return arith::MulFOp::create(b, l,
                                     e.convertScalar(a[0], f32, false, false),
                                     e.convertScalar(a[1], f32, false, false))
            .getResult();
      });
}

/// MatMulIntegerToFloat: (A - a_zp) * (B - b_zp) * (a_scale * b_scale) +
/// bias with 8-bit A and B, as MatMulInteger -> Cast -> Mul -> Add.
LogicalResult convertMatMulIntegerToFloat(NodeContext &nc) {
  RankedTensorType aType = nc.inputType(0);
  if (!aType || !aType.getElementType().isInteger(8))
    return nc.error() << "A must be int8 or uint8";
  FailureOr<int64_t> n = checkWeight(nc, 1);
  if (failed(n) || failed(checkScale(nc, 2, "a_scale", 0)) ||
      failed(checkScale(nc, 3, "b_scale", *n)))
    return failure();
  if (nc.hasInput(6) && failed(checkShape(nc, 6, "bias", {{*n}})))
    return failure();
  Expansion ex(nc);
  FailureOr<SmallVector<Expansion::Output>> product = ex.run(
      "MatMulInteger", {ex.input(0), ex.input(1), ex.input(4), ex.input(5)}, 1);
  if (failed(product))
    return failure();
  FailureOr<Value> scale = combinedScale(nc, nc.input(2), nc.input(3));
  if (failed(scale))
    return failure();
  return finishIntegerProduct(nc, (*product)[0].value, *scale, nc.input(6),
                              nc.inputType(2).getElementType());
}

/// DynamicQuantizeMatMul: A quantized per tensor at run time
/// (DynamicQuantizeLinear), then as MatMulIntegerToFloat.
LogicalResult convertDynamicQuantizeMatMul(NodeContext &nc) {
  RankedTensorType aType = nc.inputType(0);
  if (!aType || !aType.getElementType().isF32())
    return nc.error() << "A must be float";
  FailureOr<int64_t> n = checkWeight(nc, 1);
  if (failed(n) || failed(checkScale(nc, 2, "b_scale", *n)))
    return failure();
  if (nc.hasInput(4) && failed(checkShape(nc, 4, "bias", {{*n}})))
    return failure();
  Expansion ex(nc);
  FailureOr<SmallVector<Expansion::Output>> quantized =
      ex.run("DynamicQuantizeLinear", {ex.input(0)}, 3);
  if (failed(quantized))
    return failure();
  std::string aq = ex.bind((*quantized)[0].value, (*quantized)[0].onnxType);
  std::string azp = ex.bind((*quantized)[2].value, (*quantized)[2].onnxType);
  FailureOr<SmallVector<Expansion::Output>> product =
      ex.run("MatMulInteger", {aq, ex.input(1), azp, ex.input(3)}, 1);
  if (failed(product))
    return failure();
  FailureOr<Value> scale =
      combinedScale(nc, (*quantized)[1].value, nc.input(2));
  if (failed(scale))
    return failure();
  return finishIntegerProduct(nc, (*product)[0].value, *scale, nc.input(4),
                              nc.inputType(2).getElementType());
}

//===----------------------------------------------------------------------===//
// QMoE
//===----------------------------------------------------------------------===//

/// The operand indices of one QMoE projection.
struct QMoEInputs {
  StringRef name;
  unsigned weight, scales, bias, zeroPoints;
};

/// One QMoE projection (`bits`-bit values packed along K into uint8 [E, N,
/// K / (8 / bits)], scales [E, N] or [E, N, K / blockSize], optional packed
/// zero points, default 2^(bits - 1)) as spx.moe operands holding the
/// model's values: q - zp as packed int4 when it fits [-8, 7] and K and the
/// blocks are multiples of 32, as int8 when it fits [-128, 127], else (8-bit
/// weights with zero points far from their values) dequantized f32. `K` is
/// the expected input size; N is returned.
FailureOr<MoEProjection> convertQMoEProjection(NodeContext &nc,
                                               const QMoEInputs &in,
                                               int64_t bits, int64_t blockSize,
                                               int64_t K, int64_t &N) {
  OpBuilder &b = nc.importer.builder;
  const int64_t pack = 8 / bits, mask = (1 << bits) - 1,
                mid = int64_t(1) << (bits - 1);
  ElementsAttr wAttr = constantAttr(nc, in.weight);
  ElementsAttr sAttr = constantAttr(nc, in.scales);
  if (!wAttr || !sAttr)
    return nc.error() << in.name << " weights and scales (inputs " << in.weight
                      << ", " << in.scales
                      << ") must be constant initializers: QMoE weights are "
                         "repacked at import time";
  auto wType = cast<ShapedType>(wAttr.getType());
  if (!wType.getElementType().isInteger(8) || wType.getRank() != 3)
    return nc.error() << in.name
                      << " weights must be uint8 [num_experts, N, K / " << pack
                      << "], got " << shapeString(wType.getShape());
  int64_t E = wType.getDimSize(0);
  N = wType.getDimSize(1);
  if (wType.getDimSize(2) * pack != K)
    return nc.error() << in.name << " weights hold " << wType.getDimSize(2)
                      << " bytes per row, " << K << " " << bits
                      << "-bit inputs need " << K / pack;
  if (blockSize > 0 && K % blockSize != 0)
    return nc.error() << in.name << ": block_size " << blockSize
                      << " does not divide K = " << K;
  int64_t blocks = blockSize > 0 ? K / blockSize : 1;
  SmallVector<int64_t> scaleShape = {E, N};
  if (blockSize > 0)
    scaleShape.push_back(blocks);
  if (cast<ShapedType>(sAttr.getType()).getShape() !=
      ArrayRef<int64_t>(scaleShape))
    return nc.error() << in.name << " scales must have shape "
                      << shapeString(scaleShape) << ", got "
                      << shapeString(
                             cast<ShapedType>(sAttr.getType()).getShape());
  std::vector<char> wStorage;
  ArrayRef<char> wBytes;
  std::optional<std::vector<float>> scales = floatValues(sAttr);
  if (!rawBytes(wAttr, wStorage, wBytes) || !scales)
    return nc.error() << "the data of the " << in.name
                      << " weights or scales is not available";
  // Zero points per (expert, row, block), packed along the last dimension.
  std::vector<int64_t> zeroPoints(E * N * blocks, mid);
  if (nc.hasInput(in.zeroPoints)) {
    ElementsAttr zAttr = constantAttr(nc, in.zeroPoints);
    std::optional<std::vector<int64_t>> packed;
    if (zAttr)
      packed = intValues(zAttr, /*isUnsigned=*/true);
    if (!packed)
      return nc.error() << in.name << " zero points (input " << in.zeroPoints
                        << ") must be a constant uint8 initializer";
    // Unblocked: [E, N / pack] (packed along N); blocked: [E, N, blocks /
    // pack] (along the blocks).
    int64_t inner = blockSize > 0 ? blocks : N;
    int64_t rowBytes = (inner + pack - 1) / pack;
    int64_t outer = blockSize > 0 ? E * N : E;
    if (static_cast<int64_t>(packed->size()) != outer * rowBytes)
      return nc.error() << in.name << " zero points hold " << packed->size()
                        << " bytes, expected " << outer * rowBytes;
    zeroPoints = unpackRows<int64_t>(*packed, rowBytes, inner, bits);
  }
  // The value minus its zero point of element i of [E, N, K] (nk per
  // expert), and its scale.
  auto value = [&](int64_t i) -> int32_t {
    int64_t row = i / K, k = i % K;
    auto byte = static_cast<uint8_t>(wBytes[row * (K / pack) + k / pack]);
    int32_t q = (byte >> ((k % pack) * bits)) & mask;
    return q - static_cast<int32_t>(
                   zeroPoints[row * blocks + (blockSize ? k / blockSize : 0)]);
  };
  auto scale = [&](int64_t i) {
    int64_t row = i / K, k = i % K;
    return (*scales)[row * blocks + (blockSize ? k / blockSize : 0)];
  };
  int64_t count = E * N * K;
  int32_t lo = 0, hi = 0;
  for (int64_t i = 0; i < count; ++i) {
    int32_t v = value(i);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  MoEProjection p;
  p.bias = nc.input(in.bias);
  std::string name = blobName(nc, in.name);
  if (lo < -128 || hi > 127) {
    std::vector<float> w(count);
    for (int64_t i = 0; i < count; ++i)
      w[i] = static_cast<float>(value(i)) * scale(i);
    p.weight = createResourceConstant<float>(
        b, nc.loc, RankedTensorType::get({E, N, K}, b.getF32Type()), name, w);
    return p;
  }
  int64_t group = blocks > 1 ? blockSize : 0;
  QuantizedWeight w;
  w.bits = lo >= -8 && hi <= 7 && K % 32 == 0 && group % 32 == 0 ? 4 : 8;
  w.group = group;
  w.layout = WeightLayout::nk;
  w.experts = E;
  w.k = K;
  w.n = N;
  w.q.resize(count);
  for (int64_t i = 0; i < count; ++i)
    w.q[i] = static_cast<int8_t>(value(i));
  w.scales = std::move(*scales);
  auto [weight, scaleValues] = createQuantizedConstants(
      b, nc.loc, w, name, /*pack=*/true, /*stacked=*/true);
  p.weight = weight;
  p.scales = scaleValues;
  p.quant = QuantAttr::get(b.getContext(), w.bits, w.group);
  return p;
}

/// com.microsoft QMoE: MoE with integer-quantized expert weights, converted
/// to spx.moe on the model's own values.
LogicalResult convertQMoE(NodeContext &nc) {
  int64_t bits = nc.attrInt("expert_weight_bits", 4);
  if (bits != 2 && bits != 4 && bits != 8)
    return nc.error() << "expert_weight_bits must be 2, 4 or 8, got " << bits;
  std::string quantType = nc.attrString("quant_type", "int");
  if (quantType != "int")
    return nc.error() << "quant_type '" << quantType
                      << "' is not supported (integer quantization only)";
  if (nc.attrInt("weights_prepacked", -1) == 1)
    return nc.error() << "weights_prepacked = 1 (a layout specific to an "
                         "ONNX Runtime execution provider) is not supported";
  if (nc.hasInput(14))
    return nc.error() << "router_weights (separate selection and mixing "
                         "weights) is not supported";
  for (unsigned i = 15; i < nc.numInputs(); ++i)
    if (nc.hasInput(i))
      return nc.error() << "input " << i
                        << " (FP4/FP8 scales) is not supported";
  int64_t blockSize = nc.attrInt("block_size", 0);
  if (blockSize < 0 ||
      (blockSize > 0 && (blockSize < 16 || (blockSize & (blockSize - 1)))))
    return nc.error() << "block_size must be a power of two >= 16, got "
                      << blockSize;
  RankedTensorType inputType = nc.inputType(0);
  if (!inputType || ShapedType::isDynamic(inputType.getShape().back()))
    return nc.error() << "input needs a static hidden size";
  if (!nc.hasInput(2) || !nc.hasInput(3) || !nc.hasInput(5) || !nc.hasInput(6))
    return nc.error() << "fc1 and fc2 weights and scales are required";
  int64_t hidden = inputType.getShape().back();
  int64_t fusion = nc.attrInt("swiglu_fusion", 0);
  bool fused =
      nc.attrString("activation_type", "relu") == "swiglu" && fusion != 0;
  int64_t n1 = 0, n2 = 0, n3 = 0;
  FailureOr<MoEProjection> fc1 = convertQMoEProjection(
      nc, {"fc1", 2, 3, 4, 11}, bits, blockSize, hidden, n1);
  if (failed(fc1))
    return failure();
  int64_t inter = fused ? n1 / 2 : n1;
  FailureOr<MoEProjection> fc2 = convertQMoEProjection(
      nc, {"fc2", 5, 6, 7, 12}, bits, blockSize, inter, n2);
  if (failed(fc2))
    return failure();
  if (n2 != hidden)
    return nc.error() << "fc2 weights produce " << n2
                      << " features, the input has " << hidden;
  MoEProjection fc3;
  if (nc.hasInput(8)) {
    FailureOr<MoEProjection> p = convertQMoEProjection(
        nc, {"fc3", 8, 9, 10, 13}, bits, blockSize, hidden, n3);
    if (failed(p))
      return failure();
    fc3 = *p;
  }
  return emitMoE(nc, *fc1, *fc2, fc3, /*parsimonyDomain=*/false);
}

//===----------------------------------------------------------------------===//
// GatherBlockQuantized
//===----------------------------------------------------------------------===//

/// com.microsoft GatherBlockQuantized: a Gather of constant block-quantized
/// data (INT4/UINT4, or uint8 holding 2-, 4- or 8-bit values packed along
/// the last dimension) followed by dequantization. The data are unpacked at
/// import time, and the node expands into Gather of the data, scales and
/// zero points, then a blocked DequantizeLinear along the quantized axis.
LogicalResult convertGatherBlockQuantized(NodeContext &nc) {
  if (!nc.hasInput(0) || !nc.hasInput(1) || !nc.hasInput(2))
    return nc.error() << "needs inputs data, indices and scales";
  int64_t bits = nc.attrInt("bits", 4);
  int64_t blockSize = nc.attrInt("block_size", 128);
  if (blockSize < 16 || (blockSize & (blockSize - 1)))
    return nc.error() << "block_size must be a power of two >= 16, got "
                      << blockSize;
  ElementsAttr dataAttr = constantAttr(nc, 0);
  if (!dataAttr)
    return nc.error() << "data (input 0) must be a constant initializer: it "
                         "is unpacked at import time";
  auto dataType = cast<ShapedType>(dataAttr.getType());
  int64_t rank = dataType.getRank();
  if (rank < 1)
    return nc.error() << "data must have rank >= 1";
  auto err = [&] { return nc.error(); };
  FailureOr<int64_t> gatherAxis =
      normalizeAxis(nc.attrInt("gather_axis", 0), rank, err);
  if (failed(gatherAxis))
    return failure();
  FailureOr<int64_t> quantizeAxis =
      normalizeAxis(nc.attrInt("quantize_axis", 1), rank, err);
  if (failed(quantizeAxis))
    return failure();
  if (*gatherAxis == *quantizeAxis)
    return nc.error() << "gather_axis and quantize_axis must differ";
  std::optional<std::vector<int64_t>> raw = intValues(dataAttr, true);
  if (!raw)
    return nc.error() << "the data of input 0 is not available";

  // The quantized values (minus the default zero point where that is not
  // 0 and no zero points are given) and their ONNX type.
  SmallVector<int64_t> shape(dataType.getShape());
  std::vector<int8_t> q;
  int32_t qOnnx = nc.inputOnnxType(0);
  bool hasZp = nc.hasInput(3);
  std::string zpName = nc.hasInput(3) ? nc.node.input(3) : "";
  Expansion ex(nc);
  OpBuilder &b = nc.importer.builder;
  if (nc.importer.fourBitValues.count(nc.node.input(0))) {
    // INT4/UINT4, already one value per byte; default zero point 0.
    if (bits != 4)
      return nc.error() << "bits must be 4 for INT4/UINT4 data, got " << bits;
    q.assign(raw->begin(), raw->end());
  } else {
    if (qOnnx != onnx::TensorProto::UINT8)
      return nc.error() << "data must be UINT8, INT4 or UINT4, got "
                        << onnxTypeName(qOnnx);
    if (bits != 2 && bits != 4 && bits != 8)
      return nc.error() << "bits must be 2, 4 or 8 for UINT8 data, got "
                        << bits;
    if (*gatherAxis != 0 || *quantizeAxis != rank - 1)
      return nc.error() << "UINT8 data must be gathered along axis 0 and "
                           "quantized along the last axis";
    int64_t per = 8 / bits, rowBytes = shape.back();
    shape.back() *= per;
    // Without zero points the default 2^(bits-1) is subtracted here, and
    // the values are signed.
    q = unpackRows<int8_t>(*raw, rowBytes, shape.back(), bits,
                           hasZp ? 0 : int64_t(1) << (bits - 1));
    if (!hasZp)
      qOnnx = onnx::TensorProto::INT8;
    if (hasZp && per > 1) {
      ElementsAttr zpAttr = constantAttr(nc, 3);
      std::optional<std::vector<int64_t>> zp;
      if (zpAttr)
        zp = intValues(zpAttr, true);
      if (!zp)
        return nc.error() << "zero_points (input 3) must be a constant "
                             "initializer";
      auto zpType = cast<ShapedType>(zpAttr.getType());
      int64_t blocks = (shape.back() + blockSize - 1) / blockSize;
      SmallVector<int64_t> zpShape(zpType.getShape());
      if (zpShape.empty() || zpShape.back() != (blocks + per - 1) / per)
        return nc.error() << "zero_points must hold " << blocks
                          << " packed values per row, got "
                          << shapeString(zpShape);
      int64_t zpRowBytes = zpShape.back();
      zpShape.back() = blocks;
      Value zpConst = createResourceConstant<int8_t>(
          b, nc.loc, RankedTensorType::get(zpShape, b.getI8Type()),
          blobName(nc, "zero_points"),
          unpackRows<int8_t>(*zp, zpRowBytes, blocks, bits));
      zpName = ex.bind(zpConst, onnx::TensorProto::UINT8);
    }
  }
  Value qConst = createResourceConstant<int8_t>(
      b, nc.loc, RankedTensorType::get(shape, b.getI8Type()),
      blobName(nc, "data"), q);
  std::string qName = ex.bind(qConst, qOnnx);

  onnx::AttributeProto axis = intAttribute("axis", *gatherAxis);
  auto gather = [&](const std::string &name) -> FailureOr<std::string> {
    FailureOr<SmallVector<Expansion::Output>> g =
        ex.run("Gather", {name, ex.input(1)}, 1, {axis});
    if (failed(g))
      return failure();
    return (*g)[0].name;
  };
  FailureOr<std::string> gq = gather(qName), gs = gather(ex.input(2));
  if (failed(gq) || failed(gs))
    return failure();
  SmallVector<std::string> dqInputs = {*gq, *gs};
  if (!zpName.empty()) {
    FailureOr<std::string> gz = gather(zpName);
    if (failed(gz))
      return failure();
    dqInputs.push_back(*gz);
  }
  int64_t indexRank = nc.inputType(1).getRank();
  int64_t dqAxis = *quantizeAxis > *gatherAxis ? *quantizeAxis + indexRank - 1
                                               : *quantizeAxis;
  FailureOr<SmallVector<Expansion::Output>> y = ex.run(
      "DequantizeLinear", dqInputs, 1,
      {intAttribute("axis", dqAxis), intAttribute("block_size", blockSize)});
  if (failed(y))
    return failure();
  nc.setOutput(0, (*y)[0].value, (*y)[0].onnxType);
  return success();
}

/// com.microsoft QuantizeLinear / DequantizeLinear: the ONNX operators.
LogicalResult convertAsOnnx(NodeContext &nc) {
  ConverterFn fn = getConverters().lookup(("::" + nc.opType()).str());
  if (!fn)
    return nc.error() << "no converter for the ONNX " << nc.opType();
  return fn(nc);
}

} // namespace

void parsimony::onnximport::registerContribQuantConverters(
    llvm::StringMap<ConverterFn> &map) {
  map["com.microsoft::MatMulNBits"] = convertMatMulNBits;
  map["com.microsoft::MatMulIntegerToFloat"] = convertMatMulIntegerToFloat;
  map["com.microsoft::DynamicQuantizeMatMul"] = convertDynamicQuantizeMatMul;
  map["com.microsoft::QMoE"] = convertQMoE;
  map["com.microsoft::GatherBlockQuantized"] = convertGatherBlockQuantized;
  map["com.microsoft::QuantizeLinear"] = convertAsOnnx;
  map["com.microsoft::DequantizeLinear"] = convertAsOnnx;
}
