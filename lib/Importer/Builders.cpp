//===- Builders.cpp - tensor emission helpers for the ONNX importer -------===//
//
// Broadcasting elementwise maps, matmuls, reductions and reshapes expressed
// in linalg / tensor / arith on ranked tensors.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/AffineMap.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace parsimony::onnximport;

static constexpr int64_t kDyn = ShapedType::kDynamic;

Value Emitter::indexConst(int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value Emitter::scalarConst(Type type, double v) {
  if (auto floatType = dyn_cast<FloatType>(type))
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(floatType, v));
  if (type.isIndex())
    return indexConst(static_cast<int64_t>(v));
  return arith::ConstantOp::create(
      b, loc, b.getIntegerAttr(type, static_cast<int64_t>(v)));
}

Value Emitter::splat(RankedTensorType type, double value) {
  Type elementType = type.getElementType();
  Attribute element;
  if (auto floatType = dyn_cast<FloatType>(elementType))
    element = b.getFloatAttr(floatType, value);
  else
    element = b.getIntegerAttr(elementType, static_cast<int64_t>(value));
  return arith::ConstantOp::create(b, loc,
                                   DenseElementsAttr::get(type, element));
}

Value Emitter::empty(RankedTensorType type, ValueRange dynDims) {
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(),
                                 dynDims);
}

Value Emitter::filled(RankedTensorType type, ValueRange dynDims, Value value) {
  Value init = empty(type, dynDims);
  return linalg::FillOp::create(b, loc, ValueRange{value}, ValueRange{init})
      .getResult(0);
}

Value Emitter::dim(Value v, int64_t d) {
  return tensor::DimOp::create(b, loc, v, d);
}

SmallVector<OpFoldResult> Emitter::sizes(Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<OpFoldResult> result;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    if (type.isDynamicDim(d))
      result.push_back(dim(v, d));
    else
      result.push_back(b.getIndexAttr(type.getDimSize(d)));
  }
  return result;
}

SmallVector<Value> Emitter::dynamicSizes(ArrayRef<OpFoldResult> sizes) {
  SmallVector<Value> result;
  for (OpFoldResult s : sizes)
    if (auto v = dyn_cast<Value>(s))
      result.push_back(v);
  return result;
}

static SmallVector<int64_t> staticShapeOf(ArrayRef<OpFoldResult> sizes) {
  SmallVector<int64_t> shape;
  for (OpFoldResult s : sizes) {
    if (auto attr = dyn_cast<Attribute>(s))
      shape.push_back(cast<IntegerAttr>(attr).getInt());
    else
      shape.push_back(kDyn);
  }
  return shape;
}

FailureOr<SmallVector<int64_t>> Emitter::broadcastShape(ValueRange inputs) {
  int64_t rank = 0;
  for (Value v : inputs)
    rank = std::max(rank, cast<RankedTensorType>(v.getType()).getRank());
  SmallVector<int64_t> shape(rank, 1);
  SmallVector<bool> sawDynamic(rank, false);
  for (Value v : inputs) {
    auto type = cast<RankedTensorType>(v.getType());
    int64_t offset = rank - type.getRank();
    for (int64_t j = 0; j < type.getRank(); ++j) {
      int64_t d = type.getDimSize(j);
      int64_t &r = shape[offset + j];
      if (ShapedType::isDynamic(d)) {
        sawDynamic[offset + j] = true;
        continue;
      }
      if (d == 1)
        continue;
      if (r != 1 && r != d) {
        NodeError e = err();
        e << "operand shapes are not broadcastable:";
        for (Value in : inputs)
          e << " " << in.getType();
        return failure();
      }
      r = d;
    }
  }
  for (int64_t i = 0; i < rank; ++i)
    if (shape[i] == 1 && sawDynamic[i])
      shape[i] = kDyn;
  return shape;
}

/// Indexing map reading `type` (right-aligned) inside a loop nest over
/// `resultShape`, broadcasting its static unit dimensions.
static AffineMap broadcastMap(RankedTensorType type,
                              ArrayRef<int64_t> resultShape, MLIRContext *ctx) {
  int64_t rank = resultShape.size();
  int64_t offset = rank - type.getRank();
  SmallVector<AffineExpr> exprs;
  for (int64_t j = 0; j < type.getRank(); ++j) {
    int64_t r = resultShape[offset + j];
    if (type.getDimSize(j) == 1 && r != 1)
      exprs.push_back(getAffineConstantExpr(0, ctx));
    else
      exprs.push_back(getAffineDimExpr(offset + j, ctx));
  }
  return AffineMap::get(rank, 0, exprs, ctx);
}

/// Dynamic result sizes for a broadcast over `inputs` to `shape`.
static SmallVector<Value> broadcastDynamicSizes(Emitter &e, ValueRange inputs,
                                                ArrayRef<int64_t> shape) {
  SmallVector<Value> dyn;
  int64_t rank = shape.size();
  for (int64_t i = 0; i < rank; ++i) {
    if (!ShapedType::isDynamic(shape[i]))
      continue;
    for (Value v : inputs) {
      auto type = cast<RankedTensorType>(v.getType());
      int64_t j = i - (rank - type.getRank());
      if (j >= 0 && type.isDynamicDim(j)) {
        dyn.push_back(e.dim(v, j));
        break;
      }
    }
  }
  return dyn;
}

FailureOr<Value> Emitter::map(ValueRange inputs, Type resultElementType,
                              const BodyFn &body) {
  FailureOr<SmallVector<int64_t>> shape = broadcastShape(inputs);
  if (failed(shape))
    return failure();
  int64_t rank = shape->size();
  SmallVector<AffineMap> maps;
  for (Value v : inputs)
    maps.push_back(
        broadcastMap(cast<RankedTensorType>(v.getType()), *shape, ctx()));
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx()));
  auto resultType = RankedTensorType::get(*shape, resultElementType);
  Value init = empty(resultType, broadcastDynamicSizes(*this, inputs, *shape));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value result = body(nb, nl, args.drop_back());
        linalg::YieldOp::create(nb, nl, result);
      });
  return generic.getResult(0);
}

FailureOr<Value> Emitter::broadcastTo(Value v, RankedTensorType type,
                                      ValueRange dynDims) {
  auto srcType = cast<RankedTensorType>(v.getType());
  if (srcType == type)
    return v;
  if (srcType.getRank() > type.getRank())
    return err() << "cannot broadcast " << srcType << " to " << type;
  int64_t offset = type.getRank() - srcType.getRank();
  for (int64_t j = 0; j < srcType.getRank(); ++j) {
    int64_t s = srcType.getDimSize(j), r = type.getDimSize(offset + j);
    if (!ShapedType::isDynamic(s) && s != 1 && !ShapedType::isDynamic(r) &&
        s != r)
      return err() << "cannot broadcast " << srcType << " to " << type;
  }
  SmallVector<AffineMap> maps = {
      broadcastMap(srcType, type.getShape(), ctx()),
      AffineMap::getMultiDimIdentityMap(type.getRank(), ctx())};
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  Value init = empty(type, dynDims);
  return linalg::GenericOp::create(
             b, loc, TypeRange{type}, ValueRange{v}, ValueRange{init}, maps,
             iterators,
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               linalg::YieldOp::create(nb, nl, args[0]);
             })
      .getResult(0);
}

Value Emitter::convertScalar(Value v, Type to, bool srcUnsigned,
                             bool dstUnsigned) {
  Type from = v.getType();
  if (from == to)
    return v;
  auto fromFloat = dyn_cast<FloatType>(from);
  auto toFloat = dyn_cast<FloatType>(to);
  if (fromFloat && toFloat) {
    if (fromFloat.getWidth() < toFloat.getWidth())
      return arith::ExtFOp::create(b, loc, to, v);
    if (fromFloat.getWidth() > toFloat.getWidth())
      return arith::TruncFOp::create(b, loc, to, v);
    // f16 <-> bf16 goes through f32.
    Value wide = arith::ExtFOp::create(b, loc, b.getF32Type(), v);
    return arith::TruncFOp::create(b, loc, to, wide);
  }
  if (!fromFloat && toFloat) {
    if (srcUnsigned || from.isInteger(1))
      return arith::UIToFPOp::create(b, loc, to, v);
    return arith::SIToFPOp::create(b, loc, to, v);
  }
  if (fromFloat && !toFloat) {
    if (to.isInteger(1))
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, v,
                                   scalarConst(from, 0.0));
    if (dstUnsigned)
      return arith::FPToUIOp::create(b, loc, to, v);
    return arith::FPToSIOp::create(b, loc, to, v);
  }
  unsigned fromWidth = from.getIntOrFloatBitWidth();
  unsigned toWidth = to.getIntOrFloatBitWidth();
  if (to.isInteger(1))
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v,
                                 scalarConst(from, 0));
  if (fromWidth < toWidth) {
    if (srcUnsigned || from.isInteger(1))
      return arith::ExtUIOp::create(b, loc, to, v);
    return arith::ExtSIOp::create(b, loc, to, v);
  }
  return arith::TruncIOp::create(b, loc, to, v);
}

FailureOr<Value> Emitter::castTo(Value v, Type to, bool srcUnsigned,
                                 bool dstUnsigned) {
  if (getElementTypeOrSelf(v.getType()) == to)
    return v;
  return map({v}, to, [&](OpBuilder &nb, Location nl, ValueRange args) {
    Emitter inner(nb, nl, err);
    return inner.convertScalar(args[0], to, srcUnsigned, dstUnsigned);
  });
}

Value Emitter::transpose(Value v, ArrayRef<int64_t> perm) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<OpFoldResult> in = sizes(v);
  SmallVector<OpFoldResult> outSizes;
  for (int64_t p : perm)
    outSizes.push_back(in[p]);
  Value init = tensor::EmptyOp::create(b, loc, outSizes, type.getElementType());
  return linalg::TransposeOp::create(b, loc, v, init, perm).getResult()[0];
}

/// Zero of `type` as a scalar constant.
static Value zeroOf(Emitter &e, Type type) { return e.scalarConst(type, 0); }

FailureOr<Value> Emitter::matmul(Value a, Value bv, Type accType) {
  auto aType = cast<RankedTensorType>(a.getType());
  auto bType = cast<RankedTensorType>(bv.getType());
  if (aType.getRank() == 0 || bType.getRank() == 0)
    return err() << "matmul operands must have rank >= 1, got " << aType
                 << " and " << bType;
  Type elementType = accType ? accType : aType.getElementType();
  bool squeezeA = aType.getRank() == 1, squeezeB = bType.getRank() == 1;
  if (squeezeA) {
    FailureOr<Value> r = unsqueeze(a, {0});
    if (failed(r))
      return failure();
    a = *r;
  }
  if (squeezeB) {
    FailureOr<Value> r = unsqueeze(bv, {1});
    if (failed(r))
      return failure();
    bv = *r;
  }
  aType = cast<RankedTensorType>(a.getType());
  bType = cast<RankedTensorType>(bv.getType());
  int64_t ra = aType.getRank(), rb = bType.getRank();
  int64_t kA = aType.getDimSize(ra - 1), kB = bType.getDimSize(rb - 2);
  if (!ShapedType::isDynamic(kA) && !ShapedType::isDynamic(kB) && kA != kB)
    return err() << "matmul contraction sizes differ: " << aType << " and "
                 << bType;

  auto matmul2d = [&](Value x, Value y) -> Value {
    SmallVector<OpFoldResult> sx = sizes(x), sy = sizes(y);
    SmallVector<OpFoldResult> outSizes = {sx[0], sy[1]};
    auto outType = RankedTensorType::get(staticShapeOf(outSizes), elementType);
    Value init =
        filled(outType, dynamicSizes(outSizes), zeroOf(*this, elementType));
    return linalg::MatmulOp::create(b, loc, TypeRange{outType},
                                    ValueRange{x, y}, ValueRange{init})
        .getResult(0);
  };

  Value result;
  if (ra == 2 && rb == 2) {
    result = matmul2d(a, bv);
  } else if (rb == 2) {
    // [..., M, K] x [K, N]: fold the leading dimensions into M.
    SmallVector<OpFoldResult> sa = sizes(a);
    ReassociationIndices lead;
    for (int64_t i = 0; i < ra - 1; ++i)
      lead.push_back(i);
    SmallVector<ReassociationIndices> collapse = {lead, {ra - 1}};
    Value flat = tensor::CollapseShapeOp::create(b, loc, a, collapse);
    Value product = matmul2d(flat, bv);
    SmallVector<OpFoldResult> outSizes(sa.begin(), sa.end() - 1);
    outSizes.push_back(sizes(bv)[1]);
    auto outType = RankedTensorType::get(staticShapeOf(outSizes), elementType);
    result = tensor::ExpandShapeOp::create(b, loc, outType, product, collapse,
                                           outSizes);
  } else {
    // Batched: broadcast the batch dimensions, fold them into one.
    int64_t batchRank = std::max(ra, rb) - 2;
    SmallVector<OpFoldResult> sa = sizes(a), sb = sizes(bv);
    SmallVector<int64_t> batchShape(batchRank, 1);
    SmallVector<OpFoldResult> batchSizes(batchRank, b.getIndexAttr(1));
    for (int64_t i = 0; i < batchRank; ++i) {
      int64_t ia = i - (batchRank - (ra - 2));
      int64_t ib = i - (batchRank - (rb - 2));
      int64_t da = ia >= 0 ? aType.getDimSize(ia) : 1;
      int64_t db = ib >= 0 ? bType.getDimSize(ib) : 1;
      if (!ShapedType::isDynamic(da) && !ShapedType::isDynamic(db) && da != 1 &&
          db != 1 && da != db)
        return err() << "matmul batch dimensions are not broadcastable: "
                     << aType << " and " << bType;
      if (ShapedType::isDynamic(da) && ia >= 0) {
        batchShape[i] = kDyn;
        batchSizes[i] = sa[ia];
      } else if (ShapedType::isDynamic(db) && ib >= 0) {
        batchShape[i] = kDyn;
        batchSizes[i] = sb[ib];
      } else {
        batchShape[i] = std::max(da, db);
        batchSizes[i] = b.getIndexAttr(batchShape[i]);
      }
    }
    auto expandOperand = [&](Value v, RankedTensorType type,
                             ArrayRef<OpFoldResult> s) -> FailureOr<Value> {
      SmallVector<int64_t> shape(batchShape);
      SmallVector<OpFoldResult> full(batchSizes);
      shape.push_back(type.getDimSize(type.getRank() - 2));
      shape.push_back(type.getDimSize(type.getRank() - 1));
      full.push_back(s[type.getRank() - 2]);
      full.push_back(s[type.getRank() - 1]);
      auto fullType = RankedTensorType::get(shape, type.getElementType());
      if (fullType == type)
        return v;
      return broadcastTo(v, fullType, dynamicSizes(full));
    };
    FailureOr<Value> fa = expandOperand(a, aType, sa);
    FailureOr<Value> fb = expandOperand(bv, bType, sb);
    if (failed(fa) || failed(fb))
      return failure();
    ReassociationIndices batch;
    for (int64_t i = 0; i < batchRank; ++i)
      batch.push_back(i);
    SmallVector<ReassociationIndices> collapse = {
        batch, {batchRank}, {batchRank + 1}};
    Value ca = *fa, cb = *fb;
    if (batchRank != 1) {
      ca = tensor::CollapseShapeOp::create(b, loc, ca, collapse);
      cb = tensor::CollapseShapeOp::create(b, loc, cb, collapse);
    }
    SmallVector<OpFoldResult> sca = sizes(ca), scb = sizes(cb);
    SmallVector<OpFoldResult> outSizes = {sca[0], sca[1], scb[2]};
    auto outType = RankedTensorType::get(staticShapeOf(outSizes), elementType);
    Value init =
        filled(outType, dynamicSizes(outSizes), zeroOf(*this, elementType));
    result = linalg::BatchMatmulOp::create(b, loc, TypeRange{outType},
                                           ValueRange{ca, cb}, ValueRange{init})
                 .getResult(0);
    if (batchRank != 1) {
      SmallVector<OpFoldResult> full(batchSizes);
      full.push_back(sca[1]);
      full.push_back(scb[2]);
      auto fullType = RankedTensorType::get(staticShapeOf(full), elementType);
      result = tensor::ExpandShapeOp::create(b, loc, fullType, result, collapse,
                                             full);
    }
  }
  auto resultType = cast<RankedTensorType>(result.getType());
  int64_t rank = resultType.getRank();
  SmallVector<int64_t> squeezeAxes;
  if (squeezeA)
    squeezeAxes.push_back(rank - 2);
  if (squeezeB)
    squeezeAxes.push_back(rank - 1);
  if (!squeezeAxes.empty())
    return squeeze(result, squeezeAxes);
  return result;
}

FailureOr<Value> Emitter::reduce(Value v, ArrayRef<int64_t> axes,
                                 ReduceKind kind, bool keepDims) {
  auto type = cast<RankedTensorType>(v.getType());
  Type elementType = type.getElementType();
  SmallVector<OpFoldResult> in = sizes(v);
  SmallVector<OpFoldResult> outSizes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (!llvm::is_contained(axes, d))
      outSizes.push_back(in[d]);
  auto outType = RankedTensorType::get(staticShapeOf(outSizes), elementType);
  bool isFloat = isa<FloatType>(elementType);
  Value identity;
  switch (kind) {
  case ReduceKind::Sum:
    identity = scalarConst(elementType, 0);
    break;
  case ReduceKind::Prod:
    identity = scalarConst(elementType, 1);
    break;
  case ReduceKind::Max:
  case ReduceKind::Min: {
    bool isMax = kind == ReduceKind::Max;
    if (isFloat) {
      identity = scalarConst(elementType,
                             isMax ? -std::numeric_limits<double>::infinity()
                                   : std::numeric_limits<double>::infinity());
    } else {
      unsigned width = elementType.getIntOrFloatBitWidth();
      APInt value = isMax ? APInt::getSignedMinValue(width)
                          : APInt::getSignedMaxValue(width);
      identity = arith::ConstantOp::create(
          b, loc, b.getIntegerAttr(elementType, value));
    }
    break;
  }
  }
  Value init = filled(outType, dynamicSizes(outSizes), identity);
  auto reduceOp = linalg::ReduceOp::create(
      b, loc, ValueRange{v}, ValueRange{init}, axes,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value x = args[0], acc = args[1], r;
        switch (kind) {
        case ReduceKind::Sum:
          r = isFloat ? arith::AddFOp::create(nb, nl, x, acc).getResult()
                      : arith::AddIOp::create(nb, nl, x, acc).getResult();
          break;
        case ReduceKind::Prod:
          r = isFloat ? arith::MulFOp::create(nb, nl, x, acc).getResult()
                      : arith::MulIOp::create(nb, nl, x, acc).getResult();
          break;
        case ReduceKind::Max:
          r = isFloat ? arith::MaximumFOp::create(nb, nl, x, acc).getResult()
                      : arith::MaxSIOp::create(nb, nl, x, acc).getResult();
          break;
        case ReduceKind::Min:
          r = isFloat ? arith::MinimumFOp::create(nb, nl, x, acc).getResult()
                      : arith::MinSIOp::create(nb, nl, x, acc).getResult();
          break;
        }
        linalg::YieldOp::create(nb, nl, r);
      });
  Value result = reduceOp.getResult(0);
  if (keepDims && !axes.empty())
    return unsqueeze(result, axes);
  return result;
}

Value Emitter::countOver(Value v, ArrayRef<int64_t> axes, Type type) {
  auto vt = cast<RankedTensorType>(v.getType());
  int64_t staticCount = 1;
  Value dynamicCount;
  for (int64_t a : axes) {
    if (vt.isDynamicDim(a)) {
      Value d = dim(v, a);
      dynamicCount =
          dynamicCount ? arith::MulIOp::create(b, loc, dynamicCount, d) : d;
    } else {
      staticCount *= vt.getDimSize(a);
    }
  }
  if (!dynamicCount)
    return scalarConst(type, static_cast<double>(staticCount));
  Value total =
      arith::MulIOp::create(b, loc, dynamicCount, indexConst(staticCount));
  Value asInt = arith::IndexCastOp::create(b, loc, b.getI64Type(), total);
  if (isa<FloatType>(type))
    return arith::SIToFPOp::create(b, loc, type, asInt);
  return convertScalar(asInt, type, false, false);
}

FailureOr<Value> Emitter::reshape(Value v, ArrayRef<int64_t> shape,
                                  ArrayRef<Value> dynamicShape) {
  auto srcType = cast<RankedTensorType>(v.getType());
  auto dstType = RankedTensorType::get(shape, srcType.getElementType());
  if (srcType == dstType && srcType.hasStaticShape())
    return v;
  if (srcType.hasStaticShape() && dstType.hasStaticShape()) {
    if (srcType.getNumElements() != dstType.getNumElements())
      return err() << "cannot reshape " << srcType << " to " << dstType
                   << ": the element counts differ";
    if (srcType == dstType)
      return v;
    if (srcType.getRank() > dstType.getRank()) {
      if (auto r =
              getReassociationIndicesForCollapse(srcType.getShape(), shape))
        return tensor::CollapseShapeOp::create(b, loc, dstType, v, *r)
            .getResult();
    } else if (srcType.getRank() < dstType.getRank()) {
      if (auto r =
              getReassociationIndicesForCollapse(shape, srcType.getShape()))
        return tensor::ExpandShapeOp::create(b, loc, dstType, v, *r)
            .getResult();
    }
    // General case: through a 1-D tensor.
    int64_t n = srcType.getNumElements();
    auto flatType = RankedTensorType::get({n}, srcType.getElementType());
    Value flat = v;
    if (srcType.getRank() != 1) {
      SmallVector<ReassociationIndices> all;
      if (srcType.getRank() > 0) {
        all.emplace_back();
        for (int64_t i = 0; i < srcType.getRank(); ++i)
          all[0].push_back(i);
        flat = tensor::CollapseShapeOp::create(b, loc, flatType, v, all);
      } else {
        flat = tensor::ExpandShapeOp::create(b, loc, flatType, v, all);
      }
    }
    if (dstType.getRank() == 1)
      return flat;
    SmallVector<ReassociationIndices> all;
    if (dstType.getRank() > 0) {
      all.emplace_back();
      for (int64_t i = 0; i < dstType.getRank(); ++i)
        all[0].push_back(i);
      return tensor::ExpandShapeOp::create(b, loc, dstType, flat, all)
          .getResult();
    }
    return tensor::CollapseShapeOp::create(b, loc, dstType, flat, all)
        .getResult();
  }

  // Dynamic shapes: collapse/expand when the grouping is unambiguous.
  auto sizeOf = [&](int64_t i) -> OpFoldResult {
    if (!ShapedType::isDynamic(shape[i]))
      return b.getIndexAttr(shape[i]);
    return dynamicShape[i];
  };
  bool haveDynamicValues = dynamicShape.size() == shape.size();
  auto countDynamic = [](ArrayRef<int64_t> s, const ReassociationIndices &g) {
    return llvm::count_if(
        g, [&](int64_t i) { return ShapedType::isDynamic(s[i]); });
  };
  if (srcType.getRank() > dstType.getRank()) {
    if (auto r =
            getReassociationIndicesForCollapse(srcType.getShape(), shape)) {
      bool ok = llvm::all_of(*r, [&](const ReassociationIndices &g) {
        return countDynamic(srcType.getShape(), g) <= 1;
      });
      if (ok) {
        Value collapsed = tensor::CollapseShapeOp::create(b, loc, v, *r);
        if (collapsed.getType() == dstType)
          return collapsed;
        if (tensor::CastOp::areCastCompatible(collapsed.getType(), dstType))
          return tensor::CastOp::create(b, loc, dstType, collapsed).getResult();
      }
    }
  } else if (srcType.getRank() < dstType.getRank() && haveDynamicValues) {
    if (auto r =
            getReassociationIndicesForCollapse(shape, srcType.getShape())) {
      SmallVector<OpFoldResult> outSizes;
      for (int64_t i = 0; i < dstType.getRank(); ++i)
        outSizes.push_back(sizeOf(i));
      bool ok = llvm::all_of(*r, [&](const ReassociationIndices &g) {
        return countDynamic(shape, g) <= 1;
      });
      if (ok)
        return tensor::ExpandShapeOp::create(b, loc, dstType, v, *r, outSizes)
            .getResult();
    }
  }
  if (!haveDynamicValues)
    return err() << "cannot reshape " << srcType << " to " << dstType
                 << " without the runtime sizes";
  SmallVector<Value> elems;
  for (int64_t i = 0; i < dstType.getRank(); ++i) {
    OpFoldResult s = sizeOf(i);
    Value idx =
        isa<Value>(s)
            ? cast<Value>(s)
            : indexConst(cast<IntegerAttr>(cast<Attribute>(s)).getInt());
    elems.push_back(arith::IndexCastOp::create(b, loc, b.getI64Type(), idx));
  }
  Value shapeTensor = tensor::FromElementsOp::create(
      b, loc, RankedTensorType::get({dstType.getRank()}, b.getI64Type()),
      elems);
  return tensor::ReshapeOp::create(b, loc, dstType, v, shapeTensor).getResult();
}

/// Reassociation grouping the dimensions of `big` (rank n) into those of a
/// tensor without the dimensions `units` (sorted, all unit-sized in `big`).
static SmallVector<ReassociationIndices>
unitDimReassociation(int64_t bigRank, ArrayRef<int64_t> units) {
  SmallVector<ReassociationIndices> groups;
  int64_t smallRank = bigRank - static_cast<int64_t>(units.size());
  if (smallRank == 0)
    return groups;
  ReassociationIndices current;
  int64_t kept = 0;
  for (int64_t i = 0; i < bigRank; ++i) {
    current.push_back(i);
    if (!llvm::is_contained(units, i)) {
      ++kept;
      if (kept < smallRank) {
        groups.push_back(current);
        current.clear();
      }
    }
  }
  groups.push_back(current);
  return groups;
}

FailureOr<Value> Emitter::unsqueeze(Value v, ArrayRef<int64_t> axes) {
  if (axes.empty())
    return v;
  auto type = cast<RankedTensorType>(v.getType());
  int64_t outRank = type.getRank() + axes.size();
  SmallVector<OpFoldResult> in = sizes(v), out;
  SmallVector<int64_t> shape;
  int64_t j = 0;
  for (int64_t i = 0; i < outRank; ++i) {
    if (llvm::is_contained(axes, i)) {
      out.push_back(b.getIndexAttr(1));
      shape.push_back(1);
    } else {
      if (j >= type.getRank())
        return err() << "unsqueeze axes out of range";
      out.push_back(in[j]);
      shape.push_back(type.getDimSize(j));
      ++j;
    }
  }
  auto outType = RankedTensorType::get(shape, type.getElementType());
  return tensor::ExpandShapeOp::create(b, loc, outType, v,
                                       unitDimReassociation(outRank, axes), out)
      .getResult();
}

FailureOr<Value> Emitter::squeeze(Value v, ArrayRef<int64_t> axes) {
  if (axes.empty())
    return v;
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < type.getRank(); ++i) {
    if (llvm::is_contained(axes, i)) {
      if (type.getDimSize(i) != 1)
        return err() << "cannot squeeze dimension " << i << " of " << type
                     << ": it is not statically 1";
      continue;
    }
    shape.push_back(type.getDimSize(i));
  }
  auto outType = RankedTensorType::get(shape, type.getElementType());
  return tensor::CollapseShapeOp::create(
             b, loc, outType, v, unitDimReassociation(type.getRank(), axes))
      .getResult();
}

Value Emitter::entryAlong(Value v, int64_t axis, OpFoldResult index) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
  offsets[axis] = index;
  SmallVector<OpFoldResult> entrySizes = sizes(v);
  entrySizes[axis] = b.getIndexAttr(1);
  SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
  SmallVector<int64_t> shape(type.getShape());
  shape.erase(shape.begin() + axis);
  return tensor::ExtractSliceOp::create(b, loc, type.clone(shape), v, offsets,
                                        entrySizes, strides);
}

Value Emitter::reverseSequences(Value v, Value lens, int64_t timeAxis,
                                int64_t batchAxis) {
  auto type = cast<RankedTensorType>(v.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> vSizes = sizes(v);
  Value init = empty(type, dynamicSizes(vSizes));
  Value steps = getValueOrCreateConstantIndexOp(b, loc, vSizes[timeAxis]);
  MLIRContext *ctx = b.getContext();
  AffineMap lensMap =
      AffineMap::get(rank, 0, {getAffineDimExpr(batchAxis, ctx)}, ctx);
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  SmallVector<utils::IteratorType> parallel(rank,
                                            utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, TypeRange{type}, ValueRange{lens}, ValueRange{init},
             ArrayRef<AffineMap>{lensMap, id}, parallel,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               SmallVector<Value> coords;
               for (int64_t d = 0; d < rank; ++d)
                 coords.push_back(linalg::IndexOp::create(nb, l, d));
               Value t = coords[timeAxis];
               Value len = arith::MinSIOp::create(
                   nb, l,
                   arith::IndexCastOp::create(nb, l, nb.getIndexType(),
                                              args[0]),
                   steps);
               Value inPrefix = arith::CmpIOp::create(
                   nb, l, arith::CmpIPredicate::slt, t, len);
               Value one = arith::ConstantIndexOp::create(nb, l, 1);
               Value mirrored = arith::SubIOp::create(
                   nb, l, arith::SubIOp::create(nb, l, len, one), t);
               coords[timeAxis] =
                   arith::SelectOp::create(nb, l, inPrefix, mirrored, t);
               Value x = tensor::ExtractOp::create(nb, l, v, coords);
               linalg::YieldOp::create(nb, l, x);
             })
      .getResult(0);
}

Value Emitter::extractSlice(Value v, ArrayRef<OpFoldResult> offsets,
                            ArrayRef<OpFoldResult> sizes,
                            ArrayRef<OpFoldResult> strides) {
  // Empty slices: the slice verifier rejects offsets at the end of a
  // dimension even when nothing is read.
  if (llvm::any_of(sizes, [](OpFoldResult s) {
        auto attr = dyn_cast<Attribute>(s);
        return attr && cast<IntegerAttr>(attr).getInt() == 0;
      }))
    return tensor::EmptyOp::create(
        b, loc, sizes, cast<RankedTensorType>(v.getType()).getElementType());
  return tensor::ExtractSliceOp::create(b, loc, v, offsets, sizes, strides);
}

Value Emitter::concat(ValueRange values, int64_t axis) {
  if (values.size() == 1)
    return values.front();
  auto firstType = cast<RankedTensorType>(values.front().getType());
  SmallVector<OpFoldResult> outSizes = sizes(values.front());
  // Total size along the axis.
  int64_t staticTotal = 0;
  Value dynamicTotal;
  for (Value v : values) {
    auto t = cast<RankedTensorType>(v.getType());
    if (t.isDynamicDim(axis)) {
      Value d = dim(v, axis);
      dynamicTotal =
          dynamicTotal ? arith::AddIOp::create(b, loc, dynamicTotal, d) : d;
    } else {
      staticTotal += t.getDimSize(axis);
    }
  }
  if (dynamicTotal)
    outSizes[axis] =
        arith::AddIOp::create(b, loc, dynamicTotal, indexConst(staticTotal))
            .getResult();
  else
    outSizes[axis] = b.getIndexAttr(staticTotal);
  // Other dims: prefer static sizes from any operand.
  for (int64_t d = 0; d < firstType.getRank(); ++d) {
    if (d == axis || isa<Attribute>(outSizes[d]))
      continue;
    for (Value v : values) {
      auto t = cast<RankedTensorType>(v.getType());
      if (!t.isDynamicDim(d)) {
        outSizes[d] = b.getIndexAttr(t.getDimSize(d));
        break;
      }
    }
  }
  Value result =
      tensor::EmptyOp::create(b, loc, outSizes, firstType.getElementType());
  int64_t staticOffset = 0;
  Value dynamicOffset;
  for (Value v : values) {
    SmallVector<OpFoldResult> offsets(firstType.getRank(), b.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(firstType.getRank(), b.getIndexAttr(1));
    if (dynamicOffset)
      offsets[axis] =
          arith::AddIOp::create(b, loc, dynamicOffset, indexConst(staticOffset))
              .getResult();
    else
      offsets[axis] = b.getIndexAttr(staticOffset);
    SmallVector<OpFoldResult> vs = sizes(v);
    result =
        tensor::InsertSliceOp::create(b, loc, v, result, offsets, vs, strides);
    auto t = cast<RankedTensorType>(v.getType());
    if (t.isDynamicDim(axis)) {
      Value d = dim(v, axis);
      dynamicOffset =
          dynamicOffset ? arith::AddIOp::create(b, loc, dynamicOffset, d) : d;
    } else {
      staticOffset += t.getDimSize(axis);
    }
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Normalizations and activations shared by several operators
//===----------------------------------------------------------------------===//

FailureOr<Value> Emitter::softmax(Value x, ArrayRef<int64_t> axes, bool isLog) {
  Type elementType = getElementTypeOrSelf(x.getType());
  FailureOr<Value> m = reduce(x, axes, ReduceKind::Max, /*keepDims=*/true);
  if (failed(m))
    return failure();
  FailureOr<Value> shifted =
      map({x, *m}, elementType, [](OpBuilder &b, Location l, ValueRange a) {
        return arith::SubFOp::create(b, l, a[0], a[1]).getResult();
      });
  if (failed(shifted))
    return failure();
  FailureOr<Value> e =
      map({*shifted}, elementType, [](OpBuilder &b, Location l, ValueRange a) {
        return math::ExpOp::create(b, l, a[0]).getResult();
      });
  if (failed(e))
    return failure();
  FailureOr<Value> s = reduce(*e, axes, ReduceKind::Sum, /*keepDims=*/true);
  if (failed(s))
    return failure();
  if (isLog)
    return map({*shifted, *s}, elementType,
               [](OpBuilder &b, Location l, ValueRange a) {
                 Value lg = math::LogOp::create(b, l, a[1]);
                 return arith::SubFOp::create(b, l, a[0], lg).getResult();
               });
  return map({*e, *s}, elementType, [](OpBuilder &b, Location l, ValueRange a) {
    return arith::DivFOp::create(b, l, a[0], a[1]).getResult();
  });
}

FailureOr<Emitter::Normalized> Emitter::layerNorm(Value x, Value scale,
                                                  Value bias, int64_t axis,
                                                  double epsilon, Type compute,
                                                  bool rms) {
  auto type = cast<RankedTensorType>(x.getType());
  Type elementType = type.getElementType();
  Value xc = x;
  if (compute != elementType) {
    FailureOr<Value> c = castTo(x, compute, false, false);
    if (failed(c))
      return failure();
    xc = *c;
  }
  SmallVector<int64_t> axes;
  for (int64_t i = axis; i < type.getRank(); ++i)
    axes.push_back(i);
  Value count = countOver(xc, axes, compute);
  Normalized result;
  // centered = x - mean(x), or x itself for the RMS form.
  Value centered = xc;
  if (!rms) {
    FailureOr<Value> sum = reduce(xc, axes, ReduceKind::Sum, /*keepDims=*/true);
    if (failed(sum))
      return failure();
    FailureOr<Value> mean =
        map({*sum}, compute, [&](OpBuilder &b, Location l, ValueRange a) {
          return arith::DivFOp::create(b, l, a[0], count).getResult();
        });
    if (failed(mean))
      return failure();
    FailureOr<Value> c =
        map({xc, *mean}, compute, [](OpBuilder &b, Location l, ValueRange a) {
          return arith::SubFOp::create(b, l, a[0], a[1]).getResult();
        });
    if (failed(c))
      return failure();
    result.mean = *mean;
    centered = *c;
  }
  FailureOr<Value> sq =
      map({centered}, compute, [](OpBuilder &b, Location l, ValueRange a) {
        return arith::MulFOp::create(b, l, a[0], a[0]).getResult();
      });
  if (failed(sq))
    return failure();
  FailureOr<Value> sqSum =
      reduce(*sq, axes, ReduceKind::Sum, /*keepDims=*/true);
  if (failed(sqSum))
    return failure();
  FailureOr<Value> invStd =
      map({*sqSum}, compute, [&](OpBuilder &b, Location l, ValueRange a) {
        Emitter s(b, l, nullptr);
        Value var = arith::DivFOp::create(b, l, a[0], count);
        Value v =
            arith::AddFOp::create(b, l, var, s.scalarConst(compute, epsilon));
        return math::RsqrtOp::create(b, l, v).getResult();
      });
  if (failed(invStd))
    return failure();
  SmallVector<Value> ins = {centered, *invStd, scale};
  if (bias)
    ins.push_back(bias);
  FailureOr<Value> y =
      map(ins, elementType, [&](OpBuilder &b, Location l, ValueRange a) {
        Emitter s(b, l, nullptr);
        Value n = arith::MulFOp::create(b, l, a[0], a[1]);
        n = s.convertScalar(n, elementType, false, false);
        Value r = arith::MulFOp::create(b, l, n, a[2]);
        if (bias)
          r = arith::AddFOp::create(b, l, r, a[3]);
        return r;
      });
  if (failed(y))
    return failure();
  if (cast<RankedTensorType>(y->getType()).getShape() != type.getShape() &&
      type.hasStaticShape())
    return err() << "the scale and bias do not broadcast to the input shape";
  result.y = *y;
  result.invStdDev = *invStd;
  return result;
}

FailureOr<Value> Emitter::gelu(Value x) {
  Type t = getElementTypeOrSelf(x.getType());
  auto step = [&](Value v, auto fn) {
    return map({v}, t, [&](OpBuilder &b, Location l, ValueRange a) {
      Emitter s(b, l, nullptr);
      return fn(b, l, s, a[0]);
    });
  };
  FailureOr<Value> scaled =
      step(x, [&](OpBuilder &b, Location l, Emitter &s, Value v) -> Value {
        return arith::DivFOp::create(b, l, v, s.scalarConst(t, std::sqrt(2.0)));
      });
  if (failed(scaled))
    return failure();
  FailureOr<Value> erf =
      step(*scaled, [&](OpBuilder &b, Location l, Emitter &, Value v) -> Value {
        return math::ErfOp::create(b, l, v);
      });
  if (failed(erf))
    return failure();
  FailureOr<Value> onePlus =
      step(*erf, [&](OpBuilder &b, Location l, Emitter &s, Value v) -> Value {
        return arith::AddFOp::create(b, l, v, s.scalarConst(t, 1.0));
      });
  if (failed(onePlus))
    return failure();
  FailureOr<Value> prod =
      map({x, *onePlus}, t, [](OpBuilder &b, Location l, ValueRange a) {
        return arith::MulFOp::create(b, l, a[0], a[1]).getResult();
      });
  if (failed(prod))
    return failure();
  return step(*prod,
              [&](OpBuilder &b, Location l, Emitter &s, Value v) -> Value {
                return arith::MulFOp::create(b, l, v, s.scalarConst(t, 0.5));
              });
}

/// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), one generic.
FailureOr<Value> Emitter::geluTanh(Value x) {
  Type t = getElementTypeOrSelf(x.getType());
  return map({x}, t, [&](OpBuilder &b, Location l, ValueRange a) {
    Emitter s(b, l, nullptr);
    Value v = a[0];
    Value cube = arith::MulFOp::create(b, l, v, v);
    cube = arith::MulFOp::create(b, l, cube, v);
    Value inner = arith::MulFOp::create(b, l, cube, s.scalarConst(t, 0.044715));
    inner = arith::AddFOp::create(b, l, v, inner);
    inner = arith::MulFOp::create(b, l, inner,
                                  s.scalarConst(t, std::sqrt(2.0 / M_PI)));
    Value th = math::TanhOp::create(b, l, inner);
    Value onePlus = arith::AddFOp::create(b, l, th, s.scalarConst(t, 1.0));
    Value half = arith::MulFOp::create(b, l, v, s.scalarConst(t, 0.5));
    return arith::MulFOp::create(b, l, half, onePlus).getResult();
  });
}

/// Integer division traps on x86 for a zero divisor and for INT_MIN / -1:
/// `y` with 0 and (signed) -1 replaced by 1.
Value parsimony::onnximport::safeDivisor(OpBuilder &b, Location loc, Value y,
                                         bool isUnsigned) {
  auto c = [&](int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getIntegerAttr(y.getType(), v));
  };
  Value bad = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, y, c(0));
  if (!isUnsigned)
    bad = arith::OrIOp::create(
        b, loc, bad,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, y, c(-1)));
  return arith::SelectOp::create(b, loc, bad, c(1), y);
}

Value parsimony::onnximport::divideIntegers(OpBuilder &b, Location loc, Value x,
                                            Value y, bool isUnsigned) {
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(x.getType()));
  Value safe = safeDivisor(b, loc, y, isUnsigned);
  Value q = isUnsigned ? arith::DivUIOp::create(b, loc, x, safe).getResult()
                       : arith::DivSIOp::create(b, loc, x, safe).getResult();
  if (!isUnsigned) {
    Value minusOne =
        arith::ConstantOp::create(b, loc, b.getIntegerAttr(x.getType(), -1));
    Value byMinusOne =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, y, minusOne);
    Value negated = arith::SubIOp::create(b, loc, zero, x); // wraps
    q = arith::SelectOp::create(b, loc, byMinusOne, negated, q);
  }
  Value byZero =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, y, zero);
  return arith::SelectOp::create(b, loc, byZero, zero, q);
}

Value parsimony::onnximport::clampIndex(OpBuilder &b, Location l, Value v,
                                        Value size) {
  Value zero = arith::ConstantIndexOp::create(b, l, 0);
  Value one = arith::ConstantIndexOp::create(b, l, 1);
  Value last = arith::SubIOp::create(b, l, size, one);
  Value lo = arith::MaxSIOp::create(b, l, v, zero);
  return arith::MinSIOp::create(b, l, lo, last);
}
