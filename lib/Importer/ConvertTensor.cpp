//===- ConvertTensor.cpp - data movement and indexing ONNX operators ------===//
//
// Shape manipulation (tensor.collapse_shape / expand_shape / extract_slice /
// insert_slice / pad), gathers and index-dependent operators (linalg.generic
// with tensor.extract / linalg.index), and the operators without a
// structured upstream equivalent, TopK, ScatterElements and ScatterND, which
// become calls to private helper functions built from scf.for loops over
// tensors.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace parsimony::onnximport;

static constexpr int64_t kDyn = ShapedType::kDynamic;

namespace {

Value requireInput(NodeContext &nc, unsigned i) {
  Value v = nc.input(i);
  if (!v)
    (void)(nc.error() << "missing required input " << i);
  return v;
}

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

/// `r` as an index Value.
Value toIndex(Emitter &em, OpFoldResult r) {
  if (auto v = dyn_cast<Value>(r))
    return v;
  return em.indexConst(cast<IntegerAttr>(cast<Attribute>(r)).getInt());
}

std::optional<int64_t> constantOf(OpFoldResult r) {
  if (auto attr = dyn_cast<Attribute>(r))
    return cast<IntegerAttr>(attr).getInt();
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Constants and shapes
//===----------------------------------------------------------------------===//

LogicalResult convertConstant(NodeContext &nc) {
  auto *node = const_cast<onnx::NodeProto *>(&nc.node);
  for (onnx::AttributeProto &a : *node->mutable_attribute()) {
    ValueEntry e;
    ConstTensor c;
    if (a.name() == "value") {
      if (!a.t().has_name() || a.t().name().empty())
        a.mutable_t()->set_name(nc.node.output(0));
      if (failed(nc.importer.importTensor(*a.mutable_t(), e,
                                          [&] { return nc.error(); })))
        return failure();
      nc.importer.values[nc.node.output(0)] = std::move(e);
      return success();
    }
    if (a.name() == "value_float" || a.name() == "value_floats") {
      c.onnxType = onnx::TensorProto::FLOAT;
      if (a.name() == "value_float") {
        c.floats.push_back(a.f());
      } else {
        c.shape.push_back(a.floats_size());
        c.floats.append(a.floats().begin(), a.floats().end());
      }
    } else if (a.name() == "value_int" || a.name() == "value_ints") {
      c.onnxType = onnx::TensorProto::INT64;
      if (a.name() == "value_int") {
        c.ints.push_back(a.i());
      } else {
        c.shape.push_back(a.ints_size());
        c.ints.append(a.ints().begin(), a.ints().end());
      }
    } else {
      continue;
    }
    if (c.numElements() > kMaxFoldElements)
      return nc.error() << "constant attribute is too large";
    nc.setConstOutput(0, std::move(c));
    return success();
  }
  return nc.error() << "unsupported Constant attribute (sparse or string "
                       "constants are not supported)";
}

LogicalResult convertShape(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  int64_t rank = type.getRank();
  int64_t start = nc.attrInt("start", 0), end = nc.attrInt("end", rank);
  if (start < 0)
    start += rank;
  if (end < 0)
    end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  Emitter em = nc.emitter();
  SmallVector<OpFoldResult> elements;
  for (int64_t d = start; d < end; ++d) {
    if (type.isDynamicDim(d))
      elements.push_back(em.dim(x, d));
    else
      elements.push_back(em.b.getIndexAttr(type.getDimSize(d)));
  }
  nc.setSymbolicOutput(0, elements, /*isScalar=*/false,
                       onnx::TensorProto::INT64);
  return success();
}

LogicalResult convertSize(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  Emitter em = nc.emitter();
  int64_t staticCount = 1;
  Value dynamicCount;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    if (type.isDynamicDim(d)) {
      Value v = em.dim(x, d);
      dynamicCount = dynamicCount
                         ? arith::MulIOp::create(em.b, nc.loc, dynamicCount, v)
                         : v;
    } else {
      staticCount *= type.getDimSize(d);
    }
  }
  OpFoldResult r = em.b.getIndexAttr(staticCount);
  if (dynamicCount)
    r = arith::MulIOp::create(em.b, nc.loc, dynamicCount,
                              em.indexConst(staticCount))
            .getResult();
  nc.setSymbolicOutput(0, {r}, /*isScalar=*/true, onnx::TensorProto::INT64);
  return success();
}

/// Resolves a shape operand into static sizes plus runtime index values.
struct ResolvedShape {
  SmallVector<int64_t> shape;
  SmallVector<Value> values; // one index value per dim
};

LogicalResult convertConstantOfShape(NodeContext &nc) {
  std::optional<SmallVector<OpFoldResult>> dims = nc.shapeInput(0);
  if (!dims)
    return nc.error() << "the shape input must be known at import time "
                         "(constant or derived from Shape)";
  ConstTensor value;
  value.onnxType = onnx::TensorProto::FLOAT;
  value.floats.push_back(0.0);
  if (const onnx::AttributeProto *a = nc.attr("value")) {
    ValueEntry e;
    onnx::TensorProto t = a->t();
    if (failed(nc.importer.importTensor(t, e, [&] { return nc.error(); })))
      return failure();
    if (!e.constant || e.constant->numElements() != 1)
      return nc.error() << "value must hold exactly one element";
    value = *e.constant;
  }
  Type elementType = getElementType(nc.importer.ctx, value.onnxType);
  Emitter em = nc.emitter();
  SmallVector<int64_t> shape;
  SmallVector<Value> dyn;
  for (OpFoldResult d : *dims) {
    if (auto c = constantOf(d)) {
      if (*c < 0)
        return nc.error() << "negative dimension " << *c;
      shape.push_back(*c);
    } else {
      shape.push_back(kDyn);
      dyn.push_back(cast<Value>(d));
    }
  }
  auto type = RankedTensorType::get(shape, elementType);
  if (type.hasStaticShape()) {
    nc.setOutput(0, em.splat(type, value.getDouble(0)), value.onnxType);
    return success();
  }
  nc.setOutput(
      0, em.filled(type, dyn, em.scalarConst(elementType, value.getDouble(0))),
      value.onnxType);
  return success();
}

LogicalResult convertIdentity(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  nc.setOutput(0, x, nc.inputOnnxType(0));
  return success();
}

LogicalResult convertDropout(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  if (nc.hasInput(2)) {
    const ConstTensor *training = nc.constInput(2);
    if (!training || training->getInt(0) != 0)
      return nc.error() << "training_mode must be a constant false "
                           "(inference only)";
  }
  nc.setOutput(0, x, nc.inputOnnxType(0));
  if (nc.hasOutput(1)) {
    // All kept: true, or (before opset 10) ones of the data's type.
    Emitter em = nc.emitter();
    Type maskType =
        nc.opset < 10 ? typeOf(x).getElementType() : Type(em.b.getI1Type());
    auto type = typeOf(x).clone(maskType);
    SmallVector<OpFoldResult> s = em.sizes(x);
    nc.setOutput(
        1, em.filled(type, em.dynamicSizes(s), em.scalarConst(maskType, 1)),
        nc.opset < 10 ? nc.inputOnnxType(0) : int32_t(onnx::TensorProto::BOOL));
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Reshapes
//===----------------------------------------------------------------------===//

LogicalResult convertReshape(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  bool allowZero = nc.attrInt("allowzero", 0) != 0;
  Emitter em = nc.emitter();
  // Runtime shape tensors may hold 0 and -1 entries: handled below.
  std::optional<SmallVector<OpFoldResult>> dims =
      nc.shapeInput(1, /*allowRuntime=*/false);
  SmallVector<int64_t> shape;
  SmallVector<Value> values;
  if (dims) {
    int64_t inferIdx = -1;
    for (auto [i, d] : llvm::enumerate(*dims)) {
      std::optional<int64_t> c = constantOf(d);
      if (!c) {
        shape.push_back(kDyn);
        values.push_back(cast<Value>(d));
        continue;
      }
      if (*c == 0 && !allowZero) {
        if (static_cast<int64_t>(i) >= type.getRank())
          return nc.error() << "shape entry " << i
                            << " copies a dimension the input lacks";
        shape.push_back(type.getDimSize(i));
        values.push_back(type.isDynamicDim(i)
                             ? em.dim(x, i)
                             : em.indexConst(type.getDimSize(i)));
      } else if (*c == -1) {
        if (inferIdx >= 0)
          return nc.error() << "shape has more than one -1 entry";
        inferIdx = i;
        shape.push_back(kDyn);
        values.push_back(Value());
      } else if (*c < 0) {
        return nc.error() << "invalid shape entry " << *c;
      } else {
        shape.push_back(*c);
        values.push_back(em.indexConst(*c));
      }
    }
    if (inferIdx >= 0) {
      bool othersStatic = true;
      int64_t known = 1;
      for (auto [i, s] : llvm::enumerate(shape))
        if (static_cast<int64_t>(i) != inferIdx) {
          if (ShapedType::isDynamic(s))
            othersStatic = false;
          else
            known *= s;
        }
      if (type.hasStaticShape() && othersStatic) {
        if (known == 0 || type.getNumElements() % known != 0)
          return nc.error() << "cannot reshape " << type
                            << ": the element count is not divisible";
        shape[inferIdx] = type.getNumElements() / known;
        values[inferIdx] = em.indexConst(shape[inferIdx]);
      } else {
        Value total = em.indexConst(1);
        for (OpFoldResult s : em.sizes(x))
          total = arith::MulIOp::create(em.b, nc.loc, total, toIndex(em, s));
        Value other = em.indexConst(1);
        for (auto [i, v] : llvm::enumerate(values))
          if (static_cast<int64_t>(i) != inferIdx)
            other = arith::MulIOp::create(em.b, nc.loc, other, v);
        // A zero product must not divide (the runtime check of the
        // reshape's element count reports it).
        other = arith::MaxSIOp::create(em.b, nc.loc, other, em.indexConst(1));
        values[inferIdx] = arith::DivSIOp::create(em.b, nc.loc, total, other);
      }
    }
  } else {
    // The target shape is only known at run time.
    Value shapeTensor = nc.input(1);
    if (!shapeTensor)
      return nc.error() << "missing required input 1";
    auto st = typeOf(shapeTensor);
    if (st.getRank() != 1 || st.isDynamicDim(0))
      return nc.error() << "the shape input must be a 1-D tensor of static "
                           "length";
    int64_t n = st.getDimSize(0);
    // Static sizes ONNX shape inference could determine.
    SmallVector<int64_t> inferred(n, kDyn);
    if (nc.hasOutput(0)) {
      auto it = nc.importer.inferredTypes.find(nc.node.output(0));
      if (it != nc.importer.inferredTypes.end() &&
          it->second->tensor_type().has_shape() &&
          it->second->tensor_type().shape().dim_size() == n) {
        for (int64_t i = 0; i < n; ++i) {
          const auto &d = it->second->tensor_type().shape().dim(i);
          if (d.has_dim_value())
            inferred[i] = d.dim_value();
        }
      }
    }
    Type i64 = em.b.getI64Type();
    SmallVector<Value> raw;
    for (int64_t i = 0; i < n; ++i) {
      Value e = tensor::ExtractOp::create(em.b, nc.loc, shapeTensor,
                                          ValueRange{em.indexConst(i)});
      if (getElementTypeOrSelf(e.getType()) != i64)
        e = arith::ExtSIOp::create(em.b, nc.loc, i64, e);
      Value idx =
          arith::IndexCastOp::create(em.b, nc.loc, em.b.getIndexType(), e);
      if (!allowZero && i < type.getRank()) {
        Value isZero = arith::CmpIOp::create(
            em.b, nc.loc, arith::CmpIPredicate::eq, idx, em.indexConst(0));
        Value d = type.isDynamicDim(i) ? em.dim(x, i)
                                       : em.indexConst(type.getDimSize(i));
        idx = arith::SelectOp::create(em.b, nc.loc, isZero, d, idx);
      }
      raw.push_back(idx);
    }
    // Resolve a -1 entry: total / product of the others.
    Value total = em.indexConst(1);
    for (OpFoldResult s : em.sizes(x))
      total = arith::MulIOp::create(em.b, nc.loc, total, toIndex(em, s));
    Value minusOne = em.indexConst(-1);
    for (int64_t i = 0; i < n; ++i) {
      Value other = em.indexConst(1);
      for (int64_t j = 0; j < n; ++j) {
        if (j == i)
          continue;
        Value isInfer = arith::CmpIOp::create(
            em.b, nc.loc, arith::CmpIPredicate::eq, raw[j], minusOne);
        Value f = arith::SelectOp::create(em.b, nc.loc, isInfer,
                                          em.indexConst(1), raw[j]);
        other = arith::MulIOp::create(em.b, nc.loc, other, f);
      }
      Value isInfer = arith::CmpIOp::create(
          em.b, nc.loc, arith::CmpIPredicate::eq, raw[i], minusOne);
      other = arith::MaxSIOp::create(em.b, nc.loc, other, em.indexConst(1));
      Value q = arith::DivSIOp::create(em.b, nc.loc, total, other);
      values.push_back(
          arith::SelectOp::create(em.b, nc.loc, isInfer, q, raw[i]));
      shape.push_back(inferred[i]);
    }
  }
  FailureOr<Value> r = em.reshape(x, shape, values);
  if (failed(r))
    return failure();
  nc.setOutput(0, *r, nc.inputOnnxType(0));
  return success();
}

LogicalResult convertFlatten(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  int64_t rank = type.getRank();
  int64_t axis = nc.attrInt("axis", 1);
  if (axis < 0)
    axis += rank;
  if (axis < 0 || axis > rank)
    return nc.error() << "axis out of range";
  Emitter em = nc.emitter();
  SmallVector<OpFoldResult> s = em.sizes(x);
  auto product = [&](int64_t from, int64_t to) -> std::pair<int64_t, Value> {
    int64_t st = 1;
    bool dynamic = false;
    for (int64_t i = from; i < to; ++i) {
      if (type.isDynamicDim(i))
        dynamic = true;
      else
        st *= type.getDimSize(i);
    }
    if (!dynamic)
      return {st, em.indexConst(st)};
    Value v = em.indexConst(1);
    for (int64_t i = from; i < to; ++i)
      v = arith::MulIOp::create(em.b, nc.loc, v, toIndex(em, s[i]));
    return {kDyn, v};
  };
  auto [outer, outerV] = product(0, axis);
  auto [inner, innerV] = product(axis, rank);
  FailureOr<Value> r = em.reshape(x, {outer, inner}, {outerV, innerV});
  if (failed(r))
    return failure();
  nc.setOutput(0, *r, nc.inputOnnxType(0));
  return success();
}

FailureOr<SmallVector<int64_t>> axesOperand(NodeContext &nc, unsigned idx,
                                            int64_t rank) {
  SmallVector<int64_t> axes;
  if (nc.opset >= 13) {
    if (nc.hasInput(idx)) {
      FailureOr<SmallVector<int64_t>> a = nc.constInts(idx, "axes");
      if (failed(a))
        return failure();
      axes = *a;
    }
  } else if (auto a = nc.attrInts("axes")) {
    axes = *a;
  }
  for (int64_t &a : axes) {
    FailureOr<int64_t> n = normalizeAxis(a, rank, [&] { return nc.error(); });
    if (failed(n))
      return failure();
    a = *n;
  }
  llvm::sort(axes);
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  return axes;
}

LogicalResult convertSqueeze(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  FailureOr<SmallVector<int64_t>> axes = axesOperand(nc, 1, type.getRank());
  if (failed(axes))
    return failure();
  if (axes->empty())
    for (int64_t i = 0; i < type.getRank(); ++i)
      if (type.getDimSize(i) == 1)
        axes->push_back(i);
  Emitter em = nc.emitter();
  FailureOr<Value> r = em.squeeze(x, *axes);
  if (failed(r))
    return failure();
  nc.setOutput(0, *r, nc.inputOnnxType(0));
  return success();
}

LogicalResult convertUnsqueeze(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  // Opsets before 13 give the axes as an attribute.
  SmallVector<int64_t> raw;
  if (nc.opset >= 13) {
    FailureOr<SmallVector<int64_t>> in = nc.constInts(1, "axes");
    if (failed(in))
      return failure();
    raw = *in;
  } else if (std::optional<SmallVector<int64_t>> attr = nc.attrInts("axes")) {
    raw = *attr;
  } else {
    return nc.error() << "missing attribute 'axes'";
  }
  int64_t outRank = type.getRank() + raw.size();
  SmallVector<int64_t> axes;
  for (int64_t a : raw) {
    FailureOr<int64_t> n =
        normalizeAxis(a, outRank, [&] { return nc.error(); });
    if (failed(n))
      return failure();
    if (llvm::is_contained(axes, *n))
      return nc.error() << "repeated axis " << a;
    axes.push_back(*n);
  }
  llvm::sort(axes);
  Emitter em = nc.emitter();
  FailureOr<Value> r = em.unsqueeze(x, axes);
  if (failed(r))
    return failure();
  nc.setOutput(0, *r, nc.inputOnnxType(0));
  return success();
}

LogicalResult convertTranspose(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  int64_t rank = typeOf(x).getRank();
  SmallVector<int64_t> perm;
  if (auto p = nc.attrInts("perm")) {
    perm = *p;
  } else {
    for (int64_t i = rank - 1; i >= 0; --i)
      perm.push_back(i);
  }
  SmallVector<int64_t> sorted(perm);
  llvm::sort(sorted);
  for (int64_t i = 0; i < static_cast<int64_t>(sorted.size()); ++i)
    if (sorted[i] != i || static_cast<int64_t>(perm.size()) != rank)
      return nc.error() << "perm is not a permutation of the " << rank
                        << " dimensions";
  Emitter em = nc.emitter();
  bool identity = llvm::all_of(llvm::enumerate(perm), [](auto p) {
    return static_cast<int64_t>(p.index()) == p.value();
  });
  nc.setOutput(0, identity ? x : em.transpose(x, perm), nc.inputOnnxType(0));
  return success();
}

LogicalResult convertConcat(NodeContext &nc) {
  SmallVector<Value> in;
  for (unsigned i = 0; i < nc.numInputs(); ++i)
    if (Value v = nc.input(i))
      in.push_back(v);
  if (in.empty())
    return nc.error() << "needs at least one input";
  auto first = typeOf(in[0]);
  if (first.getRank() == 0)
    return nc.error() << "inputs must have rank 1 or more, got " << first;
  FailureOr<int64_t> axis = normalizeAxis(
      nc.attrInt("axis", 0), first.getRank(), [&] { return nc.error(); });
  if (failed(axis))
    return failure();
  for (Value v : in) {
    auto t = typeOf(v);
    if (t.getElementType() != first.getElementType() ||
        t.getRank() != first.getRank())
      return nc.error() << "inputs disagree on element type or rank";
    for (int64_t d = 0; d < t.getRank(); ++d)
      if (d != *axis && !t.isDynamicDim(d) && !first.isDynamicDim(d) &&
          t.getDimSize(d) != first.getDimSize(d))
        return nc.error() << "inputs disagree on dimension " << d;
  }
  Emitter em = nc.emitter();
  nc.setOutput(0, in.size() == 1 ? in[0] : em.concat(in, *axis),
               nc.inputOnnxType(0));
  return success();
}

LogicalResult convertSplit(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  FailureOr<int64_t> axis = normalizeAxis(nc.attrInt("axis", 0), type.getRank(),
                                          [&] { return nc.error(); });
  if (failed(axis))
    return failure();
  Emitter em = nc.emitter();
  int64_t n = nc.numOutputs();
  SmallVector<OpFoldResult> sizes;
  std::optional<SmallVector<int64_t>> split;
  if (nc.opset >= 13 && nc.hasInput(1)) {
    FailureOr<SmallVector<int64_t>> s = nc.constInts(1, "split");
    if (failed(s))
      return failure();
    split = *s;
  } else if (auto s = nc.attrInts("split")) {
    split = *s;
  }
  // Opset 18 may name the chunk count instead; chunks are ceil(d / n), the
  // last one smaller.
  if (const onnx::AttributeProto *numOutputs = nc.attr("num_outputs")) {
    if (split)
      return nc.error() << "both the split input and num_outputs are given";
    if (numOutputs->i() != n)
      return nc.error() << "num_outputs is " << numOutputs->i()
                        << " but the node has " << n << " outputs";
  } else if (nc.opset >= 18 && !split) {
    return nc.error() << "either the split input or num_outputs is required";
  }
  if (split) {
    if (static_cast<int64_t>(split->size()) != n)
      return nc.error() << "split has " << split->size() << " entries for " << n
                        << " outputs";
    int64_t total = 0;
    for (int64_t s : *split) {
      if (s < 0)
        return nc.error() << "negative split size";
      total += s;
      sizes.push_back(em.b.getIndexAttr(s));
    }
    if (!type.isDynamicDim(*axis) && total != type.getDimSize(*axis))
      return nc.error() << "split sizes sum to " << total << ", not "
                        << type.getDimSize(*axis);
  } else if (!type.isDynamicDim(*axis)) {
    int64_t d = type.getDimSize(*axis);
    int64_t chunk = (d + n - 1) / n;
    for (int64_t i = 0; i < n; ++i)
      sizes.push_back(em.b.getIndexAttr(
          std::max<int64_t>(0, std::min(chunk, d - i * chunk))));
  } else if (nc.opset < 18) {
    // Before opset 18 the dimension must divide evenly.
    Value d = em.dim(x, *axis);
    Value chunk = arith::DivSIOp::create(em.b, nc.loc, d, em.indexConst(n));
    for (int64_t i = 0; i < n; ++i)
      sizes.push_back(chunk);
  } else {
    // min(chunk, max(0, d - i * chunk)) with chunk = ceil(d / n).
    Value d = em.dim(x, *axis);
    Value chunk = arith::CeilDivSIOp::create(em.b, nc.loc, d, em.indexConst(n));
    for (int64_t i = 0; i < n; ++i) {
      Value used = arith::MulIOp::create(em.b, nc.loc, chunk, em.indexConst(i));
      Value left = arith::SubIOp::create(em.b, nc.loc, d, used);
      left = arith::MaxSIOp::create(em.b, nc.loc, left, em.indexConst(0));
      sizes.push_back(
          arith::MinSIOp::create(em.b, nc.loc, left, chunk).getResult());
    }
  }
  SmallVector<OpFoldResult> full = em.sizes(x);
  OpFoldResult offset = em.b.getIndexAttr(0);
  for (int64_t i = 0; i < n; ++i) {
    SmallVector<OpFoldResult> offsets(type.getRank(), em.b.getIndexAttr(0));
    SmallVector<OpFoldResult> strides(type.getRank(), em.b.getIndexAttr(1));
    SmallVector<OpFoldResult> s(full);
    offsets[*axis] = offset;
    s[*axis] = sizes[i];
    nc.setOutput(i, em.extractSlice(x, offsets, s, strides),
                 nc.inputOnnxType(0));
    std::optional<int64_t> co = constantOf(offset), cs = constantOf(sizes[i]);
    if (co && cs)
      offset = em.b.getIndexAttr(*co + *cs);
    else
      offset = arith::AddIOp::create(em.b, nc.loc, toIndex(em, offset),
                                     toIndex(em, sizes[i]))
                   .getResult();
  }
  return success();
}

LogicalResult convertSlice(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  int64_t rank = type.getRank();
  if (rank == 0)
    return nc.error() << "cannot slice a scalar";
  std::optional<SmallVector<OpFoldResult>> starts, ends;
  SmallVector<int64_t> axes, steps;
  if (nc.opset < 10) {
    // Slice-1: starts, ends and axes are attributes; steps are all 1.
    auto asFolds = [&](StringRef name) {
      std::optional<SmallVector<OpFoldResult>> r;
      if (std::optional<SmallVector<int64_t>> v = nc.attrInts(name)) {
        r.emplace();
        for (int64_t i : *v)
          r->push_back(nc.importer.builder.getIndexAttr(i));
      }
      return r;
    };
    starts = asFolds("starts");
    ends = asFolds("ends");
    if (!starts || !ends)
      return nc.error() << "missing attribute 'starts' or 'ends'";
    if (std::optional<SmallVector<int64_t>> a = nc.attrInts("axes"))
      axes = *a;
  } else {
    starts = nc.shapeInput(1);
    ends = nc.shapeInput(2);
    if (!starts || !ends)
      return nc.error() << "starts and ends must be known at import time";
  }
  if (starts->size() != ends->size())
    return nc.error() << "starts and ends differ in length";
  if (nc.opset < 10) {
    if (axes.empty())
      for (int64_t i = 0; i < static_cast<int64_t>(starts->size()); ++i)
        axes.push_back(i);
    steps.assign(starts->size(), 1);
  } else if (nc.hasInput(3)) {
    FailureOr<SmallVector<int64_t>> a = nc.constInts(3, "axes");
    if (failed(a))
      return failure();
    axes = *a;
  } else {
    for (int64_t i = 0; i < static_cast<int64_t>(starts->size()); ++i)
      axes.push_back(i);
  }
  if (nc.opset < 10) {
    // steps set above
  } else if (nc.hasInput(4)) {
    FailureOr<SmallVector<int64_t>> s = nc.constInts(4, "steps");
    if (failed(s))
      return failure();
    steps = *s;
  } else {
    steps.assign(starts->size(), 1);
  }
  if (axes.size() != starts->size() || steps.size() != starts->size())
    return nc.error() << "starts, ends, axes and steps differ in length";
  Emitter em = nc.emitter();
  SmallVector<OpFoldResult> offsets(rank, em.b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = em.sizes(x);
  SmallVector<OpFoldResult> strides(rank, em.b.getIndexAttr(1));
  SmallVector<int64_t> negStart(rank, 0), negStep(rank, 0);
  bool anyNegative = false;
  SmallVector<bool> seen(rank, false);
  for (size_t i = 0; i < axes.size(); ++i) {
    FailureOr<int64_t> ax =
        normalizeAxis(axes[i], rank, [&] { return nc.error(); });
    if (failed(ax))
      return failure();
    if (seen[*ax])
      return nc.error() << "repeated axis " << axes[i];
    seen[*ax] = true;
    int64_t step = steps[i];
    if (step == 0)
      return nc.error() << "step must not be 0";
    std::optional<int64_t> cs = constantOf((*starts)[i]);
    std::optional<int64_t> ce = constantOf((*ends)[i]);
    int64_t dimSize = type.getDimSize(*ax);
    if (!ShapedType::isDynamic(dimSize) && cs && ce) {
      int64_t s = *cs, e = *ce, d = dimSize;
      if (s < 0)
        s += d;
      if (e < 0)
        e += d;
      if (step > 0) {
        s = std::clamp<int64_t>(s, 0, d);
        e = std::clamp<int64_t>(e, 0, d);
      } else {
        s = std::clamp<int64_t>(s, 0, d - 1);
        e = std::clamp<int64_t>(e, -1, d - 1);
      }
      int64_t n = step > 0 ? (e - s + step - 1) / step
                           : (s - e + (-step) - 1) / (-step);
      n = std::max<int64_t>(n, 0);
      sizes[*ax] = em.b.getIndexAttr(n);
      if (step > 0) {
        offsets[*ax] = em.b.getIndexAttr(s);
        strides[*ax] = em.b.getIndexAttr(step);
      } else {
        anyNegative = true;
        negStart[*ax] = s;
        negStep[*ax] = step;
      }
      continue;
    }
    if (step < 0)
      return nc.error() << "negative steps need static dimensions and "
                           "constant starts/ends";
    // Runtime clamping on index values.
    Value d = ShapedType::isDynamic(dimSize) ? em.dim(x, *ax)
                                             : em.indexConst(dimSize);
    Value zero = em.indexConst(0);
    auto normalize = [&](OpFoldResult r) -> Value {
      std::optional<int64_t> c = constantOf(r);
      if (c && *c >= (int64_t{1} << 31))
        return d;
      Value v = toIndex(em, r);
      if (c && *c >= 0)
        return arith::MinSIOp::create(em.b, nc.loc, v, d);
      Value isNeg = arith::CmpIOp::create(em.b, nc.loc,
                                          arith::CmpIPredicate::slt, v, zero);
      Value shifted = arith::AddIOp::create(em.b, nc.loc, v, d);
      Value r2 = arith::SelectOp::create(em.b, nc.loc, isNeg, shifted, v);
      r2 = arith::MaxSIOp::create(em.b, nc.loc, r2, zero);
      return arith::MinSIOp::create(em.b, nc.loc, r2, d);
    };
    Value s = normalize((*starts)[i]);
    Value e = normalize((*ends)[i]);
    Value len = arith::SubIOp::create(em.b, nc.loc, e, s);
    len = arith::AddIOp::create(em.b, nc.loc, len, em.indexConst(step - 1));
    len = arith::DivSIOp::create(em.b, nc.loc, len, em.indexConst(step));
    len = arith::MaxSIOp::create(em.b, nc.loc, len, zero);
    offsets[*ax] = s;
    sizes[*ax] = len;
    strides[*ax] = em.b.getIndexAttr(step);
  }
  if (!anyNegative) {
    nc.setOutput(0, em.extractSlice(x, offsets, sizes, strides),
                 nc.inputOnnxType(0));
    return success();
  }
  // Negative steps: a generic whose input map walks backwards.
  SmallVector<int64_t> outShape;
  for (OpFoldResult s : sizes) {
    std::optional<int64_t> c = constantOf(s);
    outShape.push_back(c ? *c : kDyn);
  }
  MLIRContext *ctx = nc.importer.ctx;
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < rank; ++d) {
    AffineExpr e = getAffineDimExpr(d, ctx);
    if (negStep[d] != 0)
      e = getAffineConstantExpr(negStart[d], ctx) + e * negStep[d];
    else
      e = e * cast<IntegerAttr>(cast<Attribute>(strides[d])).getInt() +
          (constantOf(offsets[d])
               ? getAffineConstantExpr(*constantOf(offsets[d]), ctx)
               : getAffineConstantExpr(0, ctx));
    exprs.push_back(e);
  }
  for (int64_t d = 0; d < rank; ++d)
    if (!constantOf(offsets[d]) || ShapedType::isDynamic(outShape[d]))
      return nc.error() << "mixing negative steps with runtime sizes is not "
                           "supported";
  auto outType = RankedTensorType::get(outShape, type.getElementType());
  Value init = em.empty(outType, {});
  SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, exprs, ctx),
                                 AffineMap::getMultiDimIdentityMap(rank, ctx)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      em.b, nc.loc, TypeRange{outType}, ValueRange{x}, ValueRange{init}, maps,
      iterators, [](OpBuilder &b, Location l, ValueRange a) {
        linalg::YieldOp::create(b, l, a[0]);
      });
  nc.setOutput(0, generic.getResult(0), nc.inputOnnxType(0));
  return success();
}

LogicalResult convertExpand(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  std::optional<SmallVector<OpFoldResult>> dims = nc.shapeInput(1);
  if (!dims)
    return nc.error() << "the shape input must be known at import time "
                         "(constant or derived from Shape)";
  Emitter em = nc.emitter();
  int64_t rank = std::max<int64_t>(type.getRank(), dims->size());
  SmallVector<int64_t> shape;
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t si = i - (rank - static_cast<int64_t>(dims->size()));
    int64_t xi = i - (rank - type.getRank());
    OpFoldResult s = si >= 0 ? (*dims)[si] : em.b.getIndexAttr(1);
    int64_t xd = xi >= 0 ? type.getDimSize(xi) : 1;
    std::optional<int64_t> cs = constantOf(s);
    if (cs) {
      if (*cs == 1) {
        shape.push_back(xd);
        if (ShapedType::isDynamic(xd))
          dyn.push_back(em.dim(x, xi));
      } else {
        if (!ShapedType::isDynamic(xd) && xd != 1 && xd != *cs)
          return nc.error() << "cannot expand " << type << " to size " << *cs
                            << " in dimension " << i;
        shape.push_back(*cs);
      }
      continue;
    }
    // A runtime size must be 1 or the input's (or the input's be 1).
    Value sv = cast<Value>(s);
    auto eq = [&](Value a, Value c) {
      return arith::CmpIOp::create(em.b, nc.loc, arith::CmpIPredicate::eq, a,
                                   c);
    };
    Value one = em.indexConst(1);
    Value xv = ShapedType::isDynamic(xd) ? em.dim(x, xi) : em.indexConst(xd);
    Value ok = arith::OrIOp::create(em.b, nc.loc, eq(sv, one), eq(sv, xv));
    if (xd != 1)
      nc.check(em.b,
               xd == kDyn ? arith::OrIOp::create(em.b, nc.loc, ok, eq(xv, one))
                          : ok,
               "Expand: a size of the shape input (dimension " + Twine(i) +
                   ") is neither 1 nor the input's");
    if (!ShapedType::isDynamic(xd) && xd != 1) {
      shape.push_back(xd);
      continue;
    }
    shape.push_back(kDyn);
    if (ShapedType::isDynamic(xd))
      sv = arith::MaxSIOp::create(em.b, nc.loc, sv, xv);
    dyn.push_back(sv);
  }
  auto outType = RankedTensorType::get(shape, type.getElementType());
  FailureOr<Value> r = em.broadcastTo(x, outType, dyn);
  if (failed(r))
    return failure();
  nc.setOutput(0, *r, nc.inputOnnxType(0));
  return success();
}

LogicalResult convertRange(NodeContext &nc) {
  Value start = requireInput(nc, 0), limit = requireInput(nc, 1),
        delta = requireInput(nc, 2);
  if (!start || !limit || !delta)
    return failure();
  Type elementType = getElementTypeOrSelf(start.getType());
  bool isFloat = isa<FloatType>(elementType);
  Emitter em = nc.emitter();
  auto scalar = [&](Value v) {
    return tensor::ExtractOp::create(em.b, nc.loc, v, ValueRange{}).getResult();
  };
  Value s = scalar(start), l = scalar(limit), d = scalar(delta);
  // n = max(ceil((limit - start) / delta), 0)
  Value count;
  if (isFloat) {
    Value diff = arith::SubFOp::create(em.b, nc.loc, l, s);
    Value q = arith::DivFOp::create(em.b, nc.loc, diff, d);
    q = math::CeilOp::create(em.b, nc.loc, q);
    // A zero delta or a NaN bound has no element count (and converting
    // one to an integer is undefined): the run fails.
    auto bound = [&](double v) {
      return arith::ConstantOp::create(em.b, nc.loc,
                                       em.b.getFloatAttr(elementType, v));
    };
    Value below = arith::CmpFOp::create(em.b, nc.loc, arith::CmpFPredicate::OLT,
                                        q, bound(0x1p62));
    Value above = arith::CmpFOp::create(em.b, nc.loc, arith::CmpFPredicate::OGT,
                                        q, bound(-0x1p62));
    nc.check(em.b, arith::AndIOp::create(em.b, nc.loc, below, above),
             "Range: the delta is zero or a bound is not a number");
    Value qi = arith::FPToSIOp::create(em.b, nc.loc, em.b.getI64Type(), q);
    count = arith::IndexCastOp::create(em.b, nc.loc, em.b.getIndexType(), qi);
  } else {
    Value si = arith::IndexCastOp::create(em.b, nc.loc, em.b.getIndexType(), s);
    Value li = arith::IndexCastOp::create(em.b, nc.loc, em.b.getIndexType(), l);
    Value di = arith::IndexCastOp::create(em.b, nc.loc, em.b.getIndexType(), d);
    Value diff = arith::SubIOp::create(em.b, nc.loc, li, si);
    Value nonZero = arith::CmpIOp::create(
        em.b, nc.loc, arith::CmpIPredicate::ne, di, em.indexConst(0));
    nc.check(em.b, nonZero, "Range: the delta is zero");
    // Never divide by zero, even in the run the check ends.
    di = arith::SelectOp::create(em.b, nc.loc, nonZero, di, em.indexConst(1));
    count = arith::CeilDivSIOp::create(em.b, nc.loc, diff, di);
  }
  count = arith::MaxSIOp::create(em.b, nc.loc, count, em.indexConst(0));
  auto outType = RankedTensorType::get({kDyn}, elementType);
  Value init = em.empty(outType, {count});
  MLIRContext *ctx = nc.importer.ctx;
  auto generic = linalg::GenericOp::create(
      em.b, nc.loc, TypeRange{outType}, ValueRange{}, ValueRange{init},
      {AffineMap::getMultiDimIdentityMap(1, ctx)},
      {utils::IteratorType::parallel},
      [&](OpBuilder &b, Location loc, ValueRange) {
        Value i = linalg::IndexOp::create(b, loc, 0);
        Value iv = arith::IndexCastOp::create(b, loc, b.getI64Type(), i);
        Value r;
        if (isFloat) {
          Value f = arith::SIToFPOp::create(b, loc, elementType, iv);
          r = arith::AddFOp::create(
              b, loc, s, arith::MulFOp::create(b, loc, f, d).getResult());
        } else {
          Emitter e(b, loc, nullptr);
          Value c = e.convertScalar(iv, elementType, false, false);
          r = arith::AddIOp::create(
              b, loc, s, arith::MulIOp::create(b, loc, c, d).getResult());
        }
        linalg::YieldOp::create(b, loc, r);
      });
  nc.setOutput(0, generic.getResult(0), nc.inputOnnxType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Pad, Tile
//===----------------------------------------------------------------------===//

/// `v` mod `n` in [0, n) for index values (`v` may be negative).
Value positiveRem(OpBuilder &b, Location loc, Value v, Value n) {
  Value r = arith::RemSIOp::create(b, loc, v, n);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value isNeg =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, r, zero);
  Value shifted = arith::AddIOp::create(b, loc, r, n);
  return arith::SelectOp::create(b, loc, isNeg, shifted, r);
}

/// A scalar of `type` holding element 0 of the known constant `c`.
Value constScalar(Emitter &em, Type type, const ConstTensor &c) {
  if (isa<FloatType>(type))
    return em.scalarConst(type, c.getDouble(0));
  // Integers directly: large int64 values do not survive a double.
  return arith::ConstantOp::create(em.b, em.loc,
                                   em.b.getIntegerAttr(type, c.getInt(0)));
}

/// Pad (opsets 11-19+): pads (and axes, 18) must be known at import time,
/// since they decide the result shape. Negative pads crop first; padding
/// then reads the cropped input (as ONNX Runtime does).
LogicalResult convertPad(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  int64_t rank = type.getRank();
  std::string mode = nc.attrString("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" &&
      mode != "wrap")
    return nc.error() << "unsupported mode '" << mode
                      << "' (expected constant, reflect, edge or wrap)";
  if (mode == "wrap" && nc.opset < 19)
    return nc.error() << "mode 'wrap' needs opset 19 or newer (the model "
                         "imports opset "
                      << nc.opset << ")";
  // Before opset 11 pads and the value are attributes.
  FailureOr<SmallVector<int64_t>> pads = failure();
  if (nc.opset < 11) {
    std::optional<SmallVector<int64_t>> attr = nc.attrInts("pads");
    if (!attr)
      return nc.error() << "missing attribute 'pads'";
    pads = *attr;
  } else {
    pads = nc.constInts(1, "pads");
  }
  if (failed(pads))
    return failure();
  SmallVector<int64_t> axes;
  if (nc.hasInput(3)) {
    if (nc.opset < 18)
      return nc.error() << "the axes input needs opset 18 or newer";
    FailureOr<SmallVector<int64_t>> a = nc.constInts(3, "axes");
    if (failed(a))
      return failure();
    for (int64_t raw : *a) {
      FailureOr<int64_t> n =
          normalizeAxis(raw, rank, [&] { return nc.error(); });
      if (failed(n))
        return failure();
      if (llvm::is_contained(axes, *n))
        return nc.error() << "repeated axis " << raw;
      axes.push_back(*n);
    }
  } else {
    for (int64_t i = 0; i < rank; ++i)
      axes.push_back(i);
  }
  int64_t n = axes.size();
  if (static_cast<int64_t>(pads->size()) != 2 * n)
    return nc.error() << "pads has " << pads->size() << " entries, expected "
                      << 2 * n << " (begin and end of each of the " << n
                      << (nc.hasInput(3) ? " axes)" : " dimensions)");
  // Sizes beyond this would overflow the shape arithmetic below.
  constexpr int64_t kMaxPad = int64_t{1} << 40;
  for (int64_t p : *pads)
    if (p < -kMaxPad || p > kMaxPad)
      return nc.error() << "pad " << p << " is out of range";
  // Per dimension: how much is cropped and padded at each end.
  SmallVector<int64_t> cropLo(rank, 0), cropHi(rank, 0), padLo(rank, 0),
      padHi(rank, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = axes[i], lo = (*pads)[i], hi = (*pads)[i + n];
    (lo < 0 ? cropLo[d] : padLo[d]) = std::abs(lo);
    (hi < 0 ? cropHi[d] : padHi[d]) = std::abs(hi);
  }
  Type elementType = type.getElementType();
  Emitter em = nc.emitter();
  OpBuilder &b = nc.importer.builder;
  SmallVector<OpFoldResult> full = em.sizes(x);
  // Sizes after cropping (static where the input's are).
  SmallVector<int64_t> kept(rank);
  SmallVector<OpFoldResult> keptSizes(rank);
  for (int64_t d = 0; d < rank; ++d) {
    int64_t crop = cropLo[d] + cropHi[d];
    if (!type.isDynamicDim(d)) {
      kept[d] = type.getDimSize(d) - crop;
      if (kept[d] < 0)
        return nc.error() << "pads crop " << crop << " elements from dimension "
                          << d << " of size " << type.getDimSize(d);
      keptSizes[d] = b.getIndexAttr(kept[d]);
    } else {
      kept[d] = kDyn;
      keptSizes[d] = crop ? arith::SubIOp::create(b, nc.loc, em.dim(x, d),
                                                  em.indexConst(crop))
                                .getResult()
                          : full[d];
    }
    if (mode != "constant" && kept[d] == 0 && padLo[d] + padHi[d] > 0)
      return nc.error() << "mode '" << mode << "' cannot pad dimension " << d
                        << ": it has no elements to repeat";
  }
  SmallVector<int64_t> outShape;
  SmallVector<Value> outDyn;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t grow = padLo[d] + padHi[d];
    outShape.push_back(ShapedType::isDynamic(kept[d]) ? kDyn : kept[d] + grow);
    if (ShapedType::isDynamic(kept[d]))
      outDyn.push_back(grow ? arith::AddIOp::create(b, nc.loc,
                                                    cast<Value>(keptSizes[d]),
                                                    em.indexConst(grow))
                                  .getResult()
                            : cast<Value>(keptSizes[d]));
  }
  auto outType = RankedTensorType::get(outShape, elementType);
  bool anyCrop = llvm::any_of(cropLo, [](int64_t c) { return c != 0; }) ||
                 llvm::any_of(cropHi, [](int64_t c) { return c != 0; });
  bool anyPad = llvm::any_of(padLo, [](int64_t p) { return p != 0; }) ||
                llvm::any_of(padHi, [](int64_t p) { return p != 0; });

  if (mode == "constant" || !anyPad) {
    Value src = x;
    if (anyCrop) {
      SmallVector<OpFoldResult> offsets, strides(rank, b.getIndexAttr(1));
      for (int64_t d = 0; d < rank; ++d)
        offsets.push_back(b.getIndexAttr(cropLo[d]));
      src = em.extractSlice(x, offsets, keptSizes, strides);
    }
    if (!anyPad) {
      nc.setOutput(0, src, nc.inputOnnxType(0));
      return success();
    }
    SmallVector<OpFoldResult> low, high;
    for (int64_t d = 0; d < rank; ++d) {
      low.push_back(b.getIndexAttr(padLo[d]));
      high.push_back(b.getIndexAttr(padHi[d]));
    }
    Value padValue;
    Value runtimeValue;
    if (nc.opset < 11) {
      if (!isa<FloatType>(elementType))
        return nc.error() << "Pad before opset 11 takes float tensors only";
      padValue = em.scalarConst(elementType, nc.attrFloat("value", 0.0f));
    } else if (!nc.hasInput(2)) {
      padValue = em.scalarConst(elementType, 0);
    } else if (const ConstTensor *c = nc.constInput(2)) {
      if (c->numElements() != 1)
        return nc.error() << "constant_value must hold one element";
      padValue = constScalar(em, elementType, *c);
    } else {
      runtimeValue = nc.input(2);
      auto vt = typeOf(runtimeValue);
      if (!vt.hasStaticShape() || vt.getNumElements() != 1)
        return nc.error() << "constant_value must hold one element";
      if (vt.getElementType() != elementType)
        return nc.error() << "constant_value must have the element type of "
                             "data";
    }
    if (padValue) {
      auto pad =
          tensor::PadOp::create(b, nc.loc, outType, src, low, high, padValue);
      nc.setOutput(0, pad.getResult(), nc.inputOnnxType(0));
      return success();
    }
    // A runtime value is read inside the pad body: on the GPU target that
    // becomes part of the kernel filling the border (the host cannot read
    // device memory).
    auto pad = tensor::PadOp::create(b, nc.loc, outType, src, low, high);
    {
      OpBuilder::InsertionGuard guard(b);
      SmallVector<Type> argTypes(rank, b.getIndexType());
      SmallVector<Location> argLocs(rank, nc.loc);
      b.createBlock(&pad.getRegion(), pad.getRegion().end(), argTypes, argLocs);
      SmallVector<Value> zeros(typeOf(runtimeValue).getRank(),
                               em.indexConst(0));
      Value v = tensor::ExtractOp::create(b, nc.loc, runtimeValue, zeros);
      tensor::YieldOp::create(b, nc.loc, v);
    }
    nc.setOutput(0, pad.getResult(), nc.inputOnnxType(0));
    return success();
  }

  // reflect / edge / wrap: each output element reads one input element,
  // found by index arithmetic per dimension. The modulus each mode needs
  // (the size, its last index, or the reflection period 2 (size - 1), at
  // least 1 so that a size-1 dimension repeats its element) is computed
  // once, outside the loop nest.
  SmallVector<Value> modulus(rank);
  for (int64_t d = 0; d < rank; ++d) {
    if (padLo[d] == 0 && padHi[d] == 0)
      continue;
    if (!ShapedType::isDynamic(kept[d])) {
      int64_t m = mode == "wrap"   ? kept[d]
                  : mode == "edge" ? kept[d] - 1
                                   : std::max<int64_t>(2 * (kept[d] - 1), 1);
      modulus[d] = em.indexConst(m);
      continue;
    }
    Value size = cast<Value>(keptSizes[d]);
    if (mode == "wrap") {
      modulus[d] = size;
      continue;
    }
    Value last = arith::SubIOp::create(b, nc.loc, size, em.indexConst(1));
    modulus[d] =
        mode == "edge"
            ? last
            : arith::MaxSIOp::create(
                  b, nc.loc, arith::AddIOp::create(b, nc.loc, last, last),
                  em.indexConst(1))
                  .getResult();
  }
  Value init = em.empty(outType, outDyn);
  MLIRContext *ctx = nc.importer.ctx;
  auto generic = linalg::GenericOp::create(
      b, nc.loc, TypeRange{outType}, ValueRange{}, ValueRange{init},
      {AffineMap::getMultiDimIdentityMap(rank, ctx)},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &gb, Location gl, ValueRange) {
        Emitter e(gb, gl, nullptr);
        SmallVector<Value> coords;
        for (int64_t d = 0; d < rank; ++d) {
          Value j = linalg::IndexOp::create(gb, gl, d);
          if (modulus[d]) {
            // The position in the cropped input, outside [0, size) in the
            // border, folded back into it.
            if (padLo[d])
              j = arith::SubIOp::create(gb, gl, j, e.indexConst(padLo[d]));
            if (mode == "edge") {
              j = arith::MaxSIOp::create(gb, gl, j, e.indexConst(0));
              j = arith::MinSIOp::create(gb, gl, j, modulus[d]);
            } else if (mode == "wrap") {
              j = positiveRem(gb, gl, j, modulus[d]);
            } else {
              // Past the last index the period runs backwards.
              Value m = positiveRem(gb, gl, j, modulus[d]);
              Value back = arith::SubIOp::create(gb, gl, modulus[d], m);
              j = arith::MinSIOp::create(gb, gl, m, back);
            }
          }
          if (cropLo[d])
            j = arith::AddIOp::create(gb, gl, j, e.indexConst(cropLo[d]));
          coords.push_back(j);
        }
        Value v = tensor::ExtractOp::create(gb, gl, x, coords);
        linalg::YieldOp::create(gb, gl, v);
      });
  nc.setOutput(0, generic.getResult(0), nc.inputOnnxType(0));
  return success();
}

/// Tile: a broadcast to [r0, d0, r1, d1, ...] (a unit repeat adds no
/// dimension) collapsed pairwise, so it stays a structured generic.
LogicalResult convertTile(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  int64_t rank = type.getRank();
  // Repeats known at import time, or read from a runtime tensor of static
  // length (each a dynamic size of the result).
  std::optional<SmallVector<OpFoldResult>> repeats = nc.shapeInput(1);
  if (!repeats)
    return nc.error() << "repeats (input 1) must be a 1-D integer tensor of "
                         "static length";
  if (static_cast<int64_t>(repeats->size()) != rank)
    return nc.error() << "repeats has " << repeats->size()
                      << " entries for an input of rank " << rank;
  SmallVector<std::optional<int64_t>> known;
  for (auto [d, r] : llvm::enumerate(*repeats)) {
    known.push_back(getConstantIntValue(r));
    if (!known.back())
      continue;
    int64_t count = *known.back();
    if (count < 0)
      return nc.error() << "negative repeat " << count;
    // The tiled size must stay a valid static size.
    int64_t size = type.getDimSize(d), tiled;
    if (count > (int64_t{1} << 40) ||
        (!ShapedType::isDynamic(size) && llvm::MulOverflow(size, count, tiled)))
      return nc.error() << "repeat " << count << " is too large";
  }
  if (llvm::all_of(known, [](std::optional<int64_t> r) { return r == 1; })) {
    nc.setOutput(0, x, nc.inputOnnxType(0));
    return success();
  }
  Emitter em = nc.emitter();
  OpBuilder &b = nc.importer.builder;
  MLIRContext *ctx = nc.importer.ctx;
  SmallVector<OpFoldResult> sizes = em.sizes(x);
  SmallVector<int64_t> wideShape;
  SmallVector<Value> wideDyn;
  SmallVector<AffineExpr> inExprs;
  SmallVector<ReassociationIndices> groups;
  for (int64_t d = 0; d < rank; ++d) {
    ReassociationIndices group;
    if (known[d] != 1) {
      group.push_back(wideShape.size());
      if (known[d]) {
        wideShape.push_back(*known[d]);
      } else {
        // A negative runtime repeat tiles nothing.
        wideShape.push_back(ShapedType::kDynamic);
        wideDyn.push_back(arith::MaxSIOp::create(
            b, nc.loc, cast<Value>((*repeats)[d]), em.indexConst(0)));
      }
    }
    group.push_back(wideShape.size());
    inExprs.push_back(getAffineDimExpr(wideShape.size(), ctx));
    wideShape.push_back(type.getDimSize(d));
    if (type.isDynamicDim(d))
      wideDyn.push_back(cast<Value>(sizes[d]));
    groups.push_back(group);
  }
  int64_t wideRank = wideShape.size();
  auto wideType = RankedTensorType::get(wideShape, type.getElementType());
  Value init = em.empty(wideType, wideDyn);
  auto generic = linalg::GenericOp::create(
      b, nc.loc, TypeRange{wideType}, ValueRange{x}, ValueRange{init},
      {AffineMap::get(wideRank, 0, inExprs, ctx),
       AffineMap::getMultiDimIdentityMap(wideRank, ctx)},
      SmallVector<utils::IteratorType>(wideRank, utils::IteratorType::parallel),
      [](OpBuilder &gb, Location gl, ValueRange a) {
        linalg::YieldOp::create(gb, gl, a[0]);
      });
  Value tiled =
      tensor::CollapseShapeOp::create(b, nc.loc, generic.getResult(0), groups);
  nc.setOutput(0, tiled, nc.inputOnnxType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Gathers
//===----------------------------------------------------------------------===//

/// An index element as `index`, with negative values wrapped by `size`.
Value wrapIndex(OpBuilder &b, Location loc, Value raw, Value size) {
  Value idx = raw;
  if (!idx.getType().isIndex())
    idx = arith::IndexCastOp::create(b, loc, b.getIndexType(), idx);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value isNeg =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, idx, zero);
  Value shifted = arith::AddIOp::create(b, loc, idx, size);
  return arith::SelectOp::create(b, loc, isNeg, shifted, idx);
}

/// wrapIndex, then clamped into [0, size) so that an index out of range
/// (undefined in ONNX; a garbage token id) never reads or writes out of
/// bounds.
Value boundedIndex(OpBuilder &b, Location loc, Value raw, Value size) {
  return clampIndex(b, loc, wrapIndex(b, loc, raw, size), size);
}

LogicalResult convertGather(NodeContext &nc) {
  Value data = requireInput(nc, 0), indices = requireInput(nc, 1);
  if (!data || !indices)
    return failure();
  auto dataType = typeOf(data), idxType = typeOf(indices);
  if (!isa<IntegerType>(idxType.getElementType()))
    return nc.error() << "indices must be integers";
  int64_t r = dataType.getRank(), q = idxType.getRank();
  FailureOr<int64_t> axis =
      normalizeAxis(nc.attrInt("axis", 0), r, [&] { return nc.error(); });
  if (failed(axis))
    return failure();
  Emitter em = nc.emitter();
  // A scalar index known at import time, as a constant or symbolically (a
  // Loop's iteration number), is a slice.
  std::optional<SmallVector<OpFoldResult>> known =
      q == 0 ? nc.shapeInput(1, /*allowRuntime=*/false) : std::nullopt;
  if (known && known->size() == 1) {
    int64_t d = dataType.getDimSize(*axis);
    SmallVector<OpFoldResult> offsets(r, em.b.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes = em.sizes(data);
    SmallVector<OpFoldResult> strides(r, em.b.getIndexAttr(1));
    std::optional<int64_t> constant = getConstantIntValue(known->front());
    int64_t idx = constant.value_or(0);
    if (!constant) {
      offsets[*axis] = wrapIndex(em.b, nc.loc, cast<Value>(known->front()),
                                 toIndex(em, sizes[*axis]));
    } else if (idx >= 0) {
      if (!ShapedType::isDynamic(d) && idx >= d)
        return nc.error() << "index " << idx << " is out of range";
      offsets[*axis] = em.b.getIndexAttr(idx);
    } else if (!ShapedType::isDynamic(d)) {
      if (idx + d < 0)
        return nc.error() << "index " << idx << " is out of range";
      offsets[*axis] = em.b.getIndexAttr(idx + d);
    } else {
      offsets[*axis] = arith::AddIOp::create(em.b, nc.loc, em.dim(data, *axis),
                                             em.indexConst(idx))
                           .getResult();
    }
    sizes[*axis] = em.b.getIndexAttr(1);
    Value slice = em.extractSlice(data, offsets, sizes, strides);
    FailureOr<Value> sq = em.squeeze(slice, {*axis});
    if (failed(sq))
      return failure();
    nc.setOutput(0, *sq, nc.inputOnnxType(0));
    return success();
  }
  // General gather: out[o..., i..., n...] = data[o..., indices[i...], n...].
  SmallVector<OpFoldResult> ds = em.sizes(data), is = em.sizes(indices);
  SmallVector<int64_t> outShape;
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < *axis; ++i) {
    outShape.push_back(dataType.getDimSize(i));
    if (dataType.isDynamicDim(i))
      dyn.push_back(cast<Value>(ds[i]));
  }
  for (int64_t i = 0; i < q; ++i) {
    outShape.push_back(idxType.getDimSize(i));
    if (idxType.isDynamicDim(i))
      dyn.push_back(cast<Value>(is[i]));
  }
  for (int64_t i = *axis + 1; i < r; ++i) {
    outShape.push_back(dataType.getDimSize(i));
    if (dataType.isDynamicDim(i))
      dyn.push_back(cast<Value>(ds[i]));
  }
  int64_t outRank = outShape.size();
  auto outType = RankedTensorType::get(outShape, dataType.getElementType());
  Value init = em.empty(outType, dyn);
  MLIRContext *ctx = nc.importer.ctx;
  SmallVector<AffineExpr> idxExprs;
  for (int64_t i = 0; i < q; ++i)
    idxExprs.push_back(getAffineDimExpr(*axis + i, ctx));
  SmallVector<AffineMap> maps = {
      AffineMap::get(outRank, 0, idxExprs, ctx),
      AffineMap::getMultiDimIdentityMap(outRank, ctx)};
  SmallVector<utils::IteratorType> iterators(outRank,
                                             utils::IteratorType::parallel);
  Value axisSize = toIndex(em, ds[*axis]);
  int64_t ax = *axis;
  auto generic = linalg::GenericOp::create(
      em.b, nc.loc, TypeRange{outType}, ValueRange{indices}, ValueRange{init},
      maps, iterators, [&](OpBuilder &b, Location loc, ValueRange args) {
        SmallVector<Value> coords;
        for (int64_t i = 0; i < ax; ++i)
          coords.push_back(linalg::IndexOp::create(b, loc, i));
        coords.push_back(boundedIndex(b, loc, args[0], axisSize));
        for (int64_t i = ax + 1; i < r; ++i)
          coords.push_back(linalg::IndexOp::create(b, loc, i - 1 + q));
        Value v = tensor::ExtractOp::create(b, loc, data, coords);
        linalg::YieldOp::create(b, loc, v);
      });
  nc.setOutput(0, generic.getResult(0), nc.inputOnnxType(0));
  return success();
}

LogicalResult convertReverseSequence(NodeContext &nc) {
  Value input = requireInput(nc, 0), lens = requireInput(nc, 1);
  if (!input || !lens)
    return failure();
  RankedTensorType type = typeOf(input), lensType = typeOf(lens);
  if (type.getRank() < 2)
    return nc.error() << "input must have rank 2 or more, got " << type;
  int64_t timeAxis = nc.attrInt("time_axis", 0);
  int64_t batchAxis = nc.attrInt("batch_axis", 1);
  if (!((timeAxis == 0 && batchAxis == 1) || (timeAxis == 1 && batchAxis == 0)))
    return nc.error() << "time_axis and batch_axis must be 0 and 1 (in either "
                         "order), got "
                      << timeAxis << " and " << batchAxis;
  if (lensType.getRank() != 1 || !isa<IntegerType>(lensType.getElementType()) ||
      lensType.getElementType().isInteger(1))
    return nc.error() << "sequence_lens must be a 1-D integer tensor, got "
                      << lensType;
  int64_t batch = type.getDimSize(batchAxis);
  if (!ShapedType::isDynamic(batch) && !lensType.isDynamicDim(0) &&
      lensType.getDimSize(0) != batch)
    return nc.error() << "sequence_lens has " << lensType.getDimSize(0)
                      << " entries for a batch of " << batch;
  Emitter em = nc.emitter();
  nc.setOutput(0, em.reverseSequences(input, lens, timeAxis, batchAxis),
               nc.inputOnnxType(0));
  return success();
}

LogicalResult convertGatherElements(NodeContext &nc) {
  Value data = requireInput(nc, 0), indices = requireInput(nc, 1);
  if (!data || !indices)
    return failure();
  auto dataType = typeOf(data), idxType = typeOf(indices);
  if (dataType.getRank() != idxType.getRank())
    return nc.error() << "data and indices must have the same rank";
  int64_t r = dataType.getRank();
  FailureOr<int64_t> axis =
      normalizeAxis(nc.attrInt("axis", 0), r, [&] { return nc.error(); });
  if (failed(axis))
    return failure();
  Emitter em = nc.emitter();
  auto outType = idxType.clone(dataType.getElementType());
  Value init = em.empty(outType, em.dynamicSizes(em.sizes(indices)));
  Value axisSize = toIndex(em, em.sizes(data)[*axis]);
  MLIRContext *ctx = nc.importer.ctx;
  SmallVector<AffineMap> maps(2, AffineMap::getMultiDimIdentityMap(r, ctx));
  SmallVector<utils::IteratorType> iterators(r, utils::IteratorType::parallel);
  int64_t ax = *axis;
  auto generic = linalg::GenericOp::create(
      em.b, nc.loc, TypeRange{outType}, ValueRange{indices}, ValueRange{init},
      maps, iterators, [&](OpBuilder &b, Location loc, ValueRange args) {
        SmallVector<Value> coords;
        for (int64_t i = 0; i < r; ++i)
          coords.push_back(
              i == ax ? boundedIndex(b, loc, args[0], axisSize)
                      : linalg::IndexOp::create(b, loc, i).getResult());
        Value v = tensor::ExtractOp::create(b, loc, data, coords);
        linalg::YieldOp::create(b, loc, v);
      });
  nc.setOutput(0, generic.getResult(0), nc.inputOnnxType(0));
  return success();
}

/// GatherND: out[b..., i..., s...] = data[b..., indices[b..., i..., :]...,
/// s...] with the index tuples read inside a linalg.generic over the output.
LogicalResult convertGatherND(NodeContext &nc) {
  Value data = requireInput(nc, 0), indices = requireInput(nc, 1);
  if (!data || !indices)
    return failure();
  auto dataType = typeOf(data), idxType = typeOf(indices);
  if (!isa<IntegerType>(idxType.getElementType()))
    return nc.error() << "indices must be integers";
  int64_t r = dataType.getRank(), q = idxType.getRank();
  if (r < 1 || q < 1)
    return nc.error() << "data and indices must have rank >= 1";
  int64_t batchDims = nc.attrInt("batch_dims", 0);
  if (batchDims < 0 || batchDims >= std::min(r, q))
    return nc.error() << "batch_dims = " << batchDims
                      << " must be less than the ranks of data (" << r
                      << ") and indices (" << q << ")";
  // The tuple length decides the output rank.
  int64_t k = idxType.getDimSize(q - 1);
  if (ShapedType::isDynamic(k))
    return nc.error() << "the last dimension of indices must be static";
  if (k < 1 || k > r - batchDims)
    return nc.error() << "the last dimension of indices is " << k
                      << ", expected 1 to " << r - batchDims
                      << " (the rank of data minus batch_dims)";
  for (int64_t i = 0; i < batchDims; ++i)
    if (!dataType.isDynamicDim(i) && !idxType.isDynamicDim(i) &&
        dataType.getDimSize(i) != idxType.getDimSize(i))
      return nc.error() << "batch dimension " << i
                        << " differs: " << dataType.getDimSize(i)
                        << " in data, " << idxType.getDimSize(i)
                        << " in indices";
  Emitter em = nc.emitter();
  SmallVector<OpFoldResult> ds = em.sizes(data), is = em.sizes(indices);
  SmallVector<int64_t> outShape;
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < q - 1; ++i) {
    outShape.push_back(idxType.getDimSize(i));
    if (idxType.isDynamicDim(i))
      dyn.push_back(cast<Value>(is[i]));
  }
  for (int64_t i = batchDims + k; i < r; ++i) {
    outShape.push_back(dataType.getDimSize(i));
    if (dataType.isDynamicDim(i))
      dyn.push_back(cast<Value>(ds[i]));
  }
  int64_t outRank = outShape.size();
  auto outType = RankedTensorType::get(outShape, dataType.getElementType());
  Value init = em.empty(outType, dyn);
  SmallVector<Value> indexedSizes;
  for (int64_t j = 0; j < k; ++j)
    indexedSizes.push_back(toIndex(em, ds[batchDims + j]));
  MLIRContext *ctx = nc.importer.ctx;
  auto generic = linalg::GenericOp::create(
      em.b, nc.loc, TypeRange{outType}, ValueRange{}, ValueRange{init},
      {AffineMap::getMultiDimIdentityMap(outRank, ctx)},
      SmallVector<utils::IteratorType>(outRank, utils::IteratorType::parallel),
      [&](OpBuilder &b, Location loc, ValueRange) {
        Emitter e(b, loc, nullptr);
        SmallVector<Value> ivs;
        for (int64_t i = 0; i < outRank; ++i)
          ivs.push_back(linalg::IndexOp::create(b, loc, i));
        SmallVector<Value> coords(ivs.begin(), ivs.begin() + batchDims);
        SmallVector<Value> tuple(ivs.begin(), ivs.begin() + (q - 1));
        tuple.push_back(Value());
        for (int64_t j = 0; j < k; ++j) {
          tuple.back() = e.indexConst(j);
          Value raw = tensor::ExtractOp::create(b, loc, indices, tuple);
          coords.push_back(boundedIndex(b, loc, raw, indexedSizes[j]));
        }
        coords.append(ivs.begin() + (q - 1), ivs.end());
        Value v = tensor::ExtractOp::create(b, loc, data, coords);
        linalg::YieldOp::create(b, loc, v);
      });
  nc.setOutput(0, generic.getResult(0), nc.inputOnnxType(0));
  return success();
}

std::string typeMangle(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  t.print(os);
  std::string out;
  for (char c : s)
    out += llvm::isAlnum(c) ? c : '_';
  return out;
}

/// The scalar combining `old` with `update` for a scatter `reduction` other
/// than "none".
Value scatterCombine(OpBuilder &b, Location l, StringRef reduction, Value old,
                     Value update, bool isUnsigned) {
  bool isFloat = isa<FloatType>(old.getType());
  if (reduction == "add")
    return isFloat ? arith::AddFOp::create(b, l, old, update).getResult()
                   : arith::AddIOp::create(b, l, old, update).getResult();
  if (reduction == "mul")
    return isFloat ? arith::MulFOp::create(b, l, old, update).getResult()
                   : arith::MulIOp::create(b, l, old, update).getResult();
  if (reduction == "max") {
    if (isFloat)
      return arith::MaximumFOp::create(b, l, old, update);
    return isUnsigned ? arith::MaxUIOp::create(b, l, old, update).getResult()
                      : arith::MaxSIOp::create(b, l, old, update).getResult();
  }
  if (isFloat)
    return arith::MinimumFOp::create(b, l, old, update);
  return isUnsigned ? arith::MinUIOp::create(b, l, old, update).getResult()
                    : arith::MinSIOp::create(b, l, old, update).getResult();
}

LogicalResult convertScatterElements(NodeContext &nc) {
  Value data = requireInput(nc, 0), indices = requireInput(nc, 1),
        updates = requireInput(nc, 2);
  if (!data || !indices || !updates)
    return failure();
  auto dataType = typeOf(data), idxType = typeOf(indices),
       updType = typeOf(updates);
  int64_t r = dataType.getRank();
  if (idxType.getRank() != r || updType.getRank() != r)
    return nc.error() << "data, indices and updates must have the same rank";
  if (updType.getElementType() != dataType.getElementType())
    return nc.error() << "updates must have the element type of data";
  FailureOr<int64_t> axis =
      normalizeAxis(nc.attrInt("axis", 0), r, [&] { return nc.error(); });
  if (failed(axis))
    return failure();
  std::string reduction = nc.attrString("reduction", "none");
  if (reduction != "none" && reduction != "add" && reduction != "mul" &&
      reduction != "max" && reduction != "min")
    return nc.error() << "unsupported reduction '" << reduction << "'";
  OpBuilder &b = nc.importer.builder;
  auto fnType = b.getFunctionType({dataType, idxType, updType}, {dataType});
  bool isUnsigned = nc.inputUnsigned(0);
  std::string name = "onnx_ScatterElements_" + typeMangle(fnType) + "_a" +
                     std::to_string(*axis) + "_" + reduction +
                     (isUnsigned ? "_u" : "");
  int64_t ax = *axis;
  func::FuncOp fn = nc.importer.getOrCreateHelper(
      name, "onnx_scatter_elements", fnType,
      {b.getNamedAttr("onnx.op", b.getStringAttr("ScatterElements")),
       b.getNamedAttr("onnx.axis", b.getI64IntegerAttr(ax)),
       b.getNamedAttr("onnx.reduction", b.getStringAttr(reduction))},
      [&](OpBuilder &hb, func::FuncOp f) {
        Location loc = nc.loc;
        Value d = f.getArgument(0), idx = f.getArgument(1),
              upd = f.getArgument(2);
        Emitter e(hb, loc, nullptr);
        SmallVector<Value> lbs, ubs, steps;
        for (int64_t i = 0; i < r; ++i) {
          lbs.push_back(e.indexConst(0));
          ubs.push_back(idxType.isDynamicDim(i)
                            ? e.dim(idx, i)
                            : e.indexConst(idxType.getDimSize(i)));
          steps.push_back(e.indexConst(1));
        }
        Value axisSize = dataType.isDynamicDim(ax)
                             ? e.dim(d, ax)
                             : e.indexConst(dataType.getDimSize(ax));
        scf::LoopNest nest = scf::buildLoopNest(
            hb, loc, lbs, ubs, steps, ValueRange{d},
            [&](OpBuilder &lb, Location l, ValueRange ivs,
                ValueRange iter) -> scf::ValueVector {
              Value raw = tensor::ExtractOp::create(lb, l, idx, ivs);
              Value target = boundedIndex(lb, l, raw, axisSize);
              SmallVector<Value> coords(ivs.begin(), ivs.end());
              coords[ax] = target;
              Value u = tensor::ExtractOp::create(lb, l, upd, ivs);
              if (reduction != "none") {
                Value old = tensor::ExtractOp::create(lb, l, iter[0], coords);
                u = scatterCombine(lb, l, reduction, old, u, isUnsigned);
              }
              Value next = tensor::InsertOp::create(lb, l, u, iter[0], coords);
              return {next};
            });
        Value result = nest.results.empty() ? d : nest.results[0];
        func::ReturnOp::create(hb, loc, result);
      });
  auto call =
      func::CallOp::create(b, nc.loc, fn, ValueRange{data, indices, updates});
  nc.setOutput(0, call.getResult(0), nc.inputOnnxType(0));
  return success();
}

/// ScatterND: a private helper whose scf.for nest walks the updates in
/// order (later duplicates win, or combine with `reduction`), reading each
/// target's index tuple from `indices`.
LogicalResult convertScatterND(NodeContext &nc) {
  Value data = requireInput(nc, 0), indices = requireInput(nc, 1),
        updates = requireInput(nc, 2);
  if (!data || !indices || !updates)
    return failure();
  auto dataType = typeOf(data), idxType = typeOf(indices),
       updType = typeOf(updates);
  if (!isa<IntegerType>(idxType.getElementType()))
    return nc.error() << "indices must be integers";
  if (updType.getElementType() != dataType.getElementType())
    return nc.error() << "updates must have the element type of data";
  int64_t r = dataType.getRank(), q = idxType.getRank();
  if (r < 1 || q < 1)
    return nc.error() << "data and indices must have rank >= 1";
  int64_t k = idxType.getDimSize(q - 1);
  if (ShapedType::isDynamic(k))
    return nc.error() << "the last dimension of indices must be static";
  if (k < 1 || k > r)
    return nc.error() << "the last dimension of indices is " << k
                      << ", expected 1 to the rank of data (" << r << ")";
  // updates: indices.shape[:-1] + data.shape[k:].
  SmallVector<int64_t> expected(idxType.getShape().drop_back());
  llvm::append_range(expected, dataType.getShape().drop_front(k));
  if (updType.getRank() != static_cast<int64_t>(expected.size()))
    return nc.error() << "updates has rank " << updType.getRank()
                      << ", expected " << expected.size()
                      << " (indices.shape[:-1] + data.shape[" << k << ":])";
  for (auto [i, e] : llvm::enumerate(expected)) {
    int64_t u = updType.getDimSize(i);
    if (!ShapedType::isDynamic(u) && !ShapedType::isDynamic(e) && u != e)
      return nc.error() << "updates dimension " << i << " is " << u
                        << ", expected " << e;
  }
  std::string reduction = nc.attrString("reduction", "none");
  if (reduction != "none" && reduction != "add" && reduction != "mul" &&
      reduction != "max" && reduction != "min")
    return nc.error() << "unsupported reduction '" << reduction << "'";
  if ((reduction == "max" || reduction == "min") && nc.opset < 18)
    return nc.error() << "reduction '" << reduction
                      << "' needs opset 18 or newer";
  bool isUnsigned = nc.inputUnsigned(0);
  OpBuilder &b = nc.importer.builder;
  auto fnType = b.getFunctionType({dataType, idxType, updType}, {dataType});
  std::string name = "onnx_ScatterND_" + typeMangle(fnType) + "_" + reduction +
                     (isUnsigned ? "_u" : "");
  func::FuncOp fn = nc.importer.getOrCreateHelper(
      name, "onnx_scatter_nd", fnType,
      {b.getNamedAttr("onnx.op", b.getStringAttr("ScatterND")),
       b.getNamedAttr("onnx.reduction", b.getStringAttr(reduction))},
      [&](OpBuilder &hb, func::FuncOp f) {
        Location loc = nc.loc;
        Value d = f.getArgument(0), idx = f.getArgument(1),
              upd = f.getArgument(2);
        Emitter e(hb, loc, nullptr);
        SmallVector<Value> lbs, ubs, steps;
        for (int64_t i = 0; i < updType.getRank(); ++i) {
          lbs.push_back(e.indexConst(0));
          ubs.push_back(updType.isDynamicDim(i)
                            ? e.dim(upd, i)
                            : e.indexConst(updType.getDimSize(i)));
          steps.push_back(e.indexConst(1));
        }
        SmallVector<Value> indexedSizes;
        for (int64_t j = 0; j < k; ++j)
          indexedSizes.push_back(dataType.isDynamicDim(j)
                                     ? e.dim(d, j)
                                     : e.indexConst(dataType.getDimSize(j)));
        scf::LoopNest nest = scf::buildLoopNest(
            hb, loc, lbs, ubs, steps, ValueRange{d},
            [&](OpBuilder &lb, Location l, ValueRange ivs,
                ValueRange iter) -> scf::ValueVector {
              Emitter le(lb, l, nullptr);
              SmallVector<Value> tuple(ivs.begin(), ivs.begin() + (q - 1));
              tuple.push_back(Value());
              SmallVector<Value> coords;
              for (int64_t j = 0; j < k; ++j) {
                tuple.back() = le.indexConst(j);
                Value raw = tensor::ExtractOp::create(lb, l, idx, tuple);
                coords.push_back(boundedIndex(lb, l, raw, indexedSizes[j]));
              }
              coords.append(ivs.begin() + (q - 1), ivs.end());
              Value u = tensor::ExtractOp::create(lb, l, upd, ivs);
              if (reduction != "none") {
                Value old = tensor::ExtractOp::create(lb, l, iter[0], coords);
                u = scatterCombine(lb, l, reduction, old, u, isUnsigned);
              }
              return {tensor::InsertOp::create(lb, l, u, iter[0], coords)};
            });
        Value result = nest.results.empty() ? d : nest.results[0];
        func::ReturnOp::create(hb, loc, result);
      });
  auto call =
      func::CallOp::create(b, nc.loc, fn, ValueRange{data, indices, updates});
  nc.setOutput(0, call.getResult(0), nc.inputOnnxType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// TopK, ArgMax / ArgMin
//===----------------------------------------------------------------------===//

/// Builds the comparisons used by TopK and ArgMax: whether `x` precedes `y`
/// in the selection order (larger first if `largest`), strictly.
Value precedes(OpBuilder &b, Location l, Value x, Value y, bool largest,
               bool isUnsigned) {
  if (isa<FloatType>(x.getType()))
    return arith::CmpFOp::create(
        b, l, largest ? arith::CmpFPredicate::OGT : arith::CmpFPredicate::OLT,
        x, y);
  arith::CmpIPredicate p = largest ? (isUnsigned ? arith::CmpIPredicate::ugt
                                                 : arith::CmpIPredicate::sgt)
                                   : (isUnsigned ? arith::CmpIPredicate::ult
                                                 : arith::CmpIPredicate::slt);
  return arith::CmpIOp::create(b, l, p, x, y);
}

Value equalValues(OpBuilder &b, Location l, Value x, Value y) {
  if (isa<FloatType>(x.getType()))
    return arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, x, y);
  return arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, x, y);
}

/// The value every element precedes (-inf for largest-first).
Value worstValue(Emitter &e, Type t, bool largest, bool isUnsigned) {
  if (isa<FloatType>(t))
    return e.scalarConst(t, largest ? -std::numeric_limits<double>::infinity()
                                    : std::numeric_limits<double>::infinity());
  unsigned w = t.getIntOrFloatBitWidth();
  APInt v =
      largest
          ? (isUnsigned ? APInt::getMinValue(w) : APInt::getSignedMinValue(w))
          : (isUnsigned ? APInt::getMaxValue(w) : APInt::getSignedMaxValue(w));
  return arith::ConstantOp::create(e.b, e.loc, e.b.getIntegerAttr(t, v));
}

LogicalResult convertTopK(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  int64_t r = type.getRank();
  if (r == 0)
    return nc.error() << "needs an input of rank >= 1";
  FailureOr<int64_t> axis =
      normalizeAxis(nc.attrInt("axis", -1), r, [&] { return nc.error(); });
  if (failed(axis))
    return failure();
  bool largest = nc.attrInt("largest", 1) != 0;
  bool sorted = nc.attrInt("sorted", 1) != 0;
  bool isUnsigned = nc.inputUnsigned(0);
  Emitter em = nc.emitter();
  OpBuilder &b = nc.importer.builder;
  // K: static if known at import time.
  int64_t kStatic = kDyn;
  Value kValue;
  if (nc.opset < 10) {
    // TopK-1: k is an attribute.
    const onnx::AttributeProto *k = nc.attr("k");
    if (!k)
      return nc.error() << "missing attribute 'k'";
    kStatic = k->i();
    kValue = em.indexConst(kStatic);
  } else if (std::optional<SmallVector<OpFoldResult>> k = nc.shapeInput(1);
             k && k->size() == 1) {
    if (std::optional<int64_t> c = constantOf((*k)[0])) {
      kStatic = *c;
      kValue = em.indexConst(*c);
    } else {
      kValue = cast<Value>((*k)[0]);
    }
  } else {
    Value kt = requireInput(nc, 1);
    if (!kt)
      return failure();
    if (typeOf(kt).getNumElements() != 1)
      return nc.error() << "K must hold one element";
    SmallVector<Value> zeros(typeOf(kt).getRank(), em.indexConst(0));
    Value kv = tensor::ExtractOp::create(b, nc.loc, kt, zeros);
    kValue = arith::IndexCastOp::create(b, nc.loc, b.getIndexType(), kv);
  }
  int64_t axisSize = type.getDimSize(*axis);
  if (!ShapedType::isDynamic(kStatic) &&
      (kStatic < 0 || (!ShapedType::isDynamic(axisSize) && kStatic > axisSize)))
    return nc.error() << "K = " << kStatic << " is out of range for axis size "
                      << axisSize;
  SmallVector<int64_t> outShape(type.getShape());
  outShape[*axis] = kStatic;
  Type elementType = type.getElementType();
  Type i64 = b.getI64Type();
  auto valuesType = RankedTensorType::get(outShape, elementType);
  auto indicesType = RankedTensorType::get(outShape, i64);
  auto fnType =
      b.getFunctionType({type, b.getIndexType()}, {valuesType, indicesType});
  std::string name = "onnx_TopK_" + typeMangle(fnType) + "_a" +
                     std::to_string(*axis) +
                     (largest ? "_largest" : "_smallest");
  int64_t ax = *axis;
  MLIRContext *ctx = nc.importer.ctx;
  func::FuncOp fn = nc.importer.getOrCreateHelper(
      name, "onnx_topk", fnType,
      {b.getNamedAttr("onnx.op", b.getStringAttr("TopK")),
       b.getNamedAttr("onnx.axis", b.getI64IntegerAttr(ax)),
       b.getNamedAttr("onnx.largest", b.getBoolAttr(largest))},
      [&](OpBuilder &hb, func::FuncOp f) {
        Location loc = nc.loc;
        Emitter e(hb, loc, nullptr);
        Value xin = f.getArgument(0), k = f.getArgument(1);
        SmallVector<Value> outDyn, rowDyn;
        SmallVector<int64_t> rowShape;
        for (int64_t i = 0; i < r; ++i) {
          if (i == ax) {
            if (ShapedType::isDynamic(kStatic))
              outDyn.push_back(k);
            continue;
          }
          rowShape.push_back(type.getDimSize(i));
          if (type.isDynamicDim(i)) {
            Value d = e.dim(xin, i);
            outDyn.push_back(d);
            rowDyn.push_back(d);
          }
        }
        Value v0 = e.empty(valuesType, outDyn);
        Value i0 = e.empty(indicesType, outDyn);
        auto rowValues = RankedTensorType::get(rowShape, elementType);
        auto rowIndices = RankedTensorType::get(rowShape, i64);
        SmallVector<AffineExpr> rowExprs;
        for (int64_t i = 0; i < r; ++i)
          if (i != ax)
            rowExprs.push_back(getAffineDimExpr(i, ctx));
        AffineMap rowMap = AffineMap::get(r, 0, rowExprs, ctx);
        AffineMap idMap = AffineMap::getMultiDimIdentityMap(r, ctx);
        SmallVector<utils::IteratorType> iterators(
            r, utils::IteratorType::parallel);
        iterators[ax] = utils::IteratorType::reduction;
        auto loop = scf::ForOp::create(
            hb, loc, e.indexConst(0), k, e.indexConst(1), ValueRange{v0, i0},
            [&](OpBuilder &lb, Location l, Value j, ValueRange iter) {
              Emitter le(lb, l, nullptr);
              Value isFirst = arith::CmpIOp::create(
                  lb, l, arith::CmpIPredicate::eq, j, le.indexConst(0));
              Value prevPos = arith::SubIOp::create(lb, l, j, le.indexConst(1));
              prevPos =
                  arith::MaxSIOp::create(lb, l, prevPos, le.indexConst(0));
              auto row = [&](Value t, int64_t pos, Value dynPos) {
                SmallVector<OpFoldResult> offsets(r, lb.getIndexAttr(0));
                SmallVector<OpFoldResult> sizes = le.sizes(t);
                SmallVector<OpFoldResult> strides(r, lb.getIndexAttr(1));
                offsets[ax] = dynPos;
                sizes[ax] = lb.getIndexAttr(1);
                (void)pos;
                Value s = le.extractSlice(t, offsets, sizes, strides);
                return *le.squeeze(s, {ax});
              };
              Value prevV = row(iter[0], 0, prevPos);
              Value prevI = row(iter[1], 0, prevPos);
              Value bestV =
                  le.filled(rowValues, rowDyn,
                            worstValue(le, elementType, largest, isUnsigned));
              Value bestI =
                  le.filled(rowIndices, rowDyn, le.scalarConst(i64, -1));
              auto select = linalg::GenericOp::create(
                  lb, l, TypeRange{rowValues, rowIndices},
                  ValueRange{xin, prevV, prevI}, ValueRange{bestV, bestI},
                  {idMap, rowMap, rowMap, rowMap, rowMap}, iterators,
                  [&](OpBuilder &gb, Location gl, ValueRange a) {
                    Value xv = a[0], pv = a[1], pi = a[2], bv = a[3], bi = a[4];
                    Value idx = linalg::IndexOp::create(gb, gl, ax);
                    idx = arith::IndexCastOp::create(gb, gl, i64, idx);
                    // Not selected yet: after (pv, pi) in selection order.
                    Value after = precedes(gb, gl, pv, xv, largest, isUnsigned);
                    Value tieAfter = arith::AndIOp::create(
                        gb, gl, equalValues(gb, gl, xv, pv),
                        arith::CmpIOp::create(gb, gl, arith::CmpIPredicate::sgt,
                                              idx, pi));
                    Value eligible = arith::OrIOp::create(
                        gb, gl, isFirst,
                        arith::OrIOp::create(gb, gl, after, tieAfter));
                    // Better than the current best.
                    Value none = arith::CmpIOp::create(
                        gb, gl, arith::CmpIPredicate::slt, bi,
                        arith::ConstantOp::create(gb, gl,
                                                  gb.getIntegerAttr(i64, 0)));
                    Value better =
                        precedes(gb, gl, xv, bv, largest, isUnsigned);
                    Value tieBetter = arith::AndIOp::create(
                        gb, gl, equalValues(gb, gl, xv, bv),
                        arith::CmpIOp::create(gb, gl, arith::CmpIPredicate::slt,
                                              idx, bi));
                    Value take = arith::AndIOp::create(
                        gb, gl, eligible,
                        arith::OrIOp::create(
                            gb, gl, none,
                            arith::OrIOp::create(gb, gl, better, tieBetter)));
                    Value nv = arith::SelectOp::create(gb, gl, take, xv, bv);
                    Value ni = arith::SelectOp::create(gb, gl, take, idx, bi);
                    linalg::YieldOp::create(gb, gl, ValueRange{nv, ni});
                  });
              auto insert = [&](Value rowVal, Value into) {
                Value expanded = *le.unsqueeze(rowVal, {ax});
                SmallVector<OpFoldResult> offsets(r, lb.getIndexAttr(0));
                SmallVector<OpFoldResult> sizes = le.sizes(expanded);
                SmallVector<OpFoldResult> strides(r, lb.getIndexAttr(1));
                offsets[ax] = j;
                return tensor::InsertSliceOp::create(lb, l, expanded, into,
                                                     offsets, sizes, strides)
                    .getResult();
              };
              Value nv = insert(select.getResult(0), iter[0]);
              Value ni = insert(select.getResult(1), iter[1]);
              scf::YieldOp::create(lb, l, ValueRange{nv, ni});
            });
        func::ReturnOp::create(hb, loc, loop.getResults());
      });
  (void)sorted; // Results are always sorted, which satisfies sorted = 0 too.
  auto call = func::CallOp::create(b, nc.loc, fn, ValueRange{x, kValue});
  nc.setOutput(0, call.getResult(0), nc.inputOnnxType(0));
  nc.setOutput(1, call.getResult(1), onnx::TensorProto::INT64);
  return success();
}

template <bool isMax> LogicalResult convertArgExtreme(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  int64_t r = type.getRank();
  FailureOr<int64_t> axis =
      normalizeAxis(nc.attrInt("axis", 0), r, [&] { return nc.error(); });
  if (failed(axis))
    return failure();
  bool keepDims = nc.attrInt("keepdims", 1) != 0;
  bool selectLast = nc.attrInt("select_last_index", 0) != 0;
  bool isUnsigned = nc.inputUnsigned(0);
  Emitter em = nc.emitter();
  OpBuilder &b = nc.importer.builder;
  MLIRContext *ctx = nc.importer.ctx;
  Type elementType = type.getElementType();
  Type i64 = b.getI64Type();
  SmallVector<int64_t> rowShape;
  SmallVector<Value> rowDyn;
  SmallVector<AffineExpr> rowExprs;
  for (int64_t i = 0; i < r; ++i) {
    if (i == *axis)
      continue;
    rowShape.push_back(type.getDimSize(i));
    rowExprs.push_back(getAffineDimExpr(i, ctx));
    if (type.isDynamicDim(i))
      rowDyn.push_back(em.dim(x, i));
  }
  auto rowValues = RankedTensorType::get(rowShape, elementType);
  auto rowIndices = RankedTensorType::get(rowShape, i64);
  Value bestV = em.filled(rowValues, rowDyn,
                          worstValue(em, elementType, isMax, isUnsigned));
  Value bestI = em.filled(rowIndices, rowDyn, em.scalarConst(i64, -1));
  SmallVector<utils::IteratorType> iterators(r, utils::IteratorType::parallel);
  iterators[*axis] = utils::IteratorType::reduction;
  AffineMap rowMap = AffineMap::get(r, 0, rowExprs, ctx);
  int64_t ax = *axis;
  auto generic = linalg::GenericOp::create(
      b, nc.loc, TypeRange{rowValues, rowIndices}, ValueRange{x},
      ValueRange{bestV, bestI},
      {AffineMap::getMultiDimIdentityMap(r, ctx), rowMap, rowMap}, iterators,
      [&](OpBuilder &gb, Location gl, ValueRange a) {
        Value xv = a[0], bv = a[1], bi = a[2];
        Value idx = linalg::IndexOp::create(gb, gl, ax);
        idx = arith::IndexCastOp::create(gb, gl, i64, idx);
        Value none = arith::CmpIOp::create(
            gb, gl, arith::CmpIPredicate::slt, bi,
            arith::ConstantOp::create(gb, gl, gb.getIntegerAttr(i64, 0)));
        Value better = precedes(gb, gl, xv, bv, isMax, isUnsigned);
        Value tie = arith::AndIOp::create(
            gb, gl, equalValues(gb, gl, xv, bv),
            arith::CmpIOp::create(gb, gl,
                                  selectLast ? arith::CmpIPredicate::sgt
                                             : arith::CmpIPredicate::slt,
                                  idx, bi));
        Value take = arith::OrIOp::create(
            gb, gl, none, arith::OrIOp::create(gb, gl, better, tie));
        Value nv = arith::SelectOp::create(gb, gl, take, xv, bv);
        Value ni = arith::SelectOp::create(gb, gl, take, idx, bi);
        linalg::YieldOp::create(gb, gl, ValueRange{nv, ni});
      });
  Value result = generic.getResult(1);
  if (keepDims) {
    FailureOr<Value> u = em.unsqueeze(result, {*axis});
    if (failed(u))
      return failure();
    result = *u;
  }
  nc.setOutput(0, result, onnx::TensorProto::INT64);
  return success();
}

//===----------------------------------------------------------------------===//
// OneHot, Trilu
//===----------------------------------------------------------------------===//

LogicalResult convertOneHot(NodeContext &nc) {
  Value indices = requireInput(nc, 0), values = requireInput(nc, 2);
  if (!indices || !values)
    return failure();
  const ConstTensor *depthC = nc.constInput(1);
  if (!depthC || depthC->numElements() != 1)
    return nc.error() << "depth must be a constant scalar known at import time";
  int64_t depth = depthC->getInt(0);
  if (depth <= 0)
    return nc.error() << "depth must be positive";
  auto idxType = typeOf(indices);
  int64_t outRank = idxType.getRank() + 1;
  FailureOr<int64_t> axis = normalizeAxis(nc.attrInt("axis", -1), outRank,
                                          [&] { return nc.error(); });
  if (failed(axis))
    return failure();
  if (typeOf(values).getNumElements() != 2)
    return nc.error() << "values must hold [off_value, on_value]";
  Emitter em = nc.emitter();
  OpBuilder &b = nc.importer.builder;
  MLIRContext *ctx = nc.importer.ctx;
  Type elementType = typeOf(values).getElementType();
  // off_value and on_value are read inside the body: on the GPU target the
  // host cannot read them from device memory.
  int64_t valuesRank = typeOf(values).getRank();
  auto at = [&](OpBuilder &gb, Location gl, int64_t i) {
    Emitter e(gb, gl, nullptr);
    SmallVector<Value> idx(valuesRank - 1, e.indexConst(0));
    idx.push_back(e.indexConst(i));
    return tensor::ExtractOp::create(gb, gl, values, idx).getResult();
  };
  SmallVector<int64_t> outShape;
  SmallVector<Value> dyn;
  SmallVector<AffineExpr> idxExprs;
  for (int64_t i = 0, j = 0; i < outRank; ++i) {
    if (i == *axis) {
      outShape.push_back(depth);
      continue;
    }
    outShape.push_back(idxType.getDimSize(j));
    if (idxType.isDynamicDim(j))
      dyn.push_back(em.dim(indices, j));
    idxExprs.push_back(getAffineDimExpr(i, ctx));
    ++j;
  }
  auto outType = RankedTensorType::get(outShape, elementType);
  Value init = em.empty(outType, dyn);
  bool idxFloat = isa<FloatType>(idxType.getElementType());
  bool idxUnsigned = nc.inputUnsigned(0);
  int64_t ax = *axis;
  auto generic = linalg::GenericOp::create(
      b, nc.loc, TypeRange{outType}, ValueRange{indices}, ValueRange{init},
      {AffineMap::get(outRank, 0, idxExprs, ctx),
       AffineMap::getMultiDimIdentityMap(outRank, ctx)},
      SmallVector<utils::IteratorType>(outRank, utils::IteratorType::parallel),
      [&](OpBuilder &gb, Location gl, ValueRange a) {
        Emitter e(gb, gl, nullptr);
        Value raw = a[0];
        Value asInt =
            idxFloat
                ? arith::FPToSIOp::create(gb, gl, gb.getI64Type(), raw)
                      .getResult()
                : e.convertScalar(raw, gb.getI64Type(), idxUnsigned, false);
        Value idx = wrapIndex(gb, gl, asInt, e.indexConst(depth));
        Value pos = linalg::IndexOp::create(gb, gl, ax);
        Value hit =
            arith::CmpIOp::create(gb, gl, arith::CmpIPredicate::eq, idx, pos);
        Value on = at(gb, gl, 1), off = at(gb, gl, 0);
        linalg::YieldOp::create(
            gb, gl, arith::SelectOp::create(gb, gl, hit, on, off).getResult());
      });
  nc.setOutput(0, generic.getResult(0), nc.inputOnnxType(2));
  return success();
}

LogicalResult convertTrilu(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  int64_t r = type.getRank();
  if (r < 2)
    return nc.error() << "needs an input of rank >= 2";
  OpFoldResult k = nc.importer.builder.getIndexAttr(0);
  if (nc.hasInput(1)) {
    std::optional<SmallVector<OpFoldResult>> kv = nc.shapeInput(1);
    if (!kv || kv->size() != 1)
      return nc.error() << "k must be an integer scalar";
    k = (*kv)[0];
  }
  bool upper = nc.attrInt("upper", 1) != 0;
  Emitter em = nc.emitter();
  Type elementType = type.getElementType();
  FailureOr<Value> result =
      em.map({x}, elementType, [&](OpBuilder &b, Location l, ValueRange a) {
        Emitter e(b, l, nullptr);
        Value i = linalg::IndexOp::create(b, l, r - 2);
        Value j = linalg::IndexOp::create(b, l, r - 1);
        Value diff = arith::SubIOp::create(b, l, j, i);
        Value kIdx =
            isa<Value>(k) ? cast<Value>(k) : e.indexConst(*constantOf(k));
        Value keep = arith::CmpIOp::create(
            b, l, upper ? arith::CmpIPredicate::sge : arith::CmpIPredicate::sle,
            diff, kIdx);
        return arith::SelectOp::create(b, l, keep, a[0],
                                       e.scalarConst(elementType, 0))
            .getResult();
      });
  if (failed(result))
    return failure();
  nc.setOutput(0, *result, nc.inputOnnxType(0));
  return success();
}

/// DepthToSpace (DCR or CRD) and SpaceToDepth on [N, C, H, W]: a reshape
/// that splits the block out, a transpose and a reshape that merges it
/// (N may be dynamic).
template <bool toSpace> LogicalResult convertBlockRearrange(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  if (type.getRank() != 4)
    return nc.error() << "expects a 4-D input [N, C, H, W], got " << type;
  for (int64_t d = 1; d < 4; ++d)
    if (type.isDynamicDim(d))
      return nc.error() << "C, H and W must be static, got " << type;
  const onnx::AttributeProto *blockAttr = nc.attr("blocksize");
  if (!blockAttr)
    return nc.error() << "attribute 'blocksize' is missing";
  int64_t b = blockAttr->i();
  int64_t n = type.getDimSize(0), c = type.getDimSize(1),
          h = type.getDimSize(2), w = type.getDimSize(3);
  if (b < 1 || b > (int64_t{1} << 16))
    return nc.error() << "blocksize " << b << " is out of range";
  std::string mode = nc.attrString("mode", "DCR");
  if (toSpace && mode != "DCR" && mode != "CRD")
    return nc.error() << "mode must be DCR or CRD, got '" << mode << "'";
  SmallVector<int64_t> split, perm, merged;
  if (toSpace) {
    if (c % (b * b))
      return nc.error() << "blocksize " << b << " squared does not divide the "
                        << c << " channels";
    int64_t co = c / (b * b);
    if (mode == "DCR") {
      split = {n, b, b, co, h, w};
      perm = {0, 3, 4, 1, 5, 2};
    } else {
      split = {n, co, b, b, h, w};
      perm = {0, 1, 4, 2, 5, 3};
    }
    merged = {n, co, h * b, w * b};
  } else {
    if (h % b || w % b)
      return nc.error() << "blocksize " << b << " does not divide H = " << h
                        << " and W = " << w;
    split = {n, c, h / b, b, w / b, b};
    perm = {0, 3, 5, 1, 2, 4};
    merged = {n, c * b * b, h / b, w / b};
  }
  Emitter em = nc.emitter();
  SmallVector<Value> batch(6, Value());
  if (type.isDynamicDim(0))
    batch[0] = em.dim(x, 0);
  FailureOr<Value> blocks = em.reshape(x, split, batch);
  if (failed(blocks))
    return failure();
  Value moved = em.transpose(*blocks, perm);
  batch.resize(4);
  FailureOr<Value> y = em.reshape(moved, merged, batch);
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

/// EyeLike: ones on diagonal k of a 2-D tensor shaped like the input, of
/// element type `dtype` (default: the input's).
LogicalResult convertEyeLike(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  if (type.getRank() != 2)
    return nc.error() << "expects a 2-D input, got " << type;
  int32_t onnxType = nc.inputOnnxType(0);
  if (const onnx::AttributeProto *dtype = nc.attr("dtype"))
    onnxType = static_cast<int32_t>(dtype->i());
  Type elementType = getElementType(nc.importer.ctx, onnxType);
  if (!elementType)
    return nc.error() << "unsupported dtype " << onnxTypeName(onnxType);
  int64_t k = nc.attrInt("k", 0);
  Emitter em = nc.emitter();
  FailureOr<Value> y =
      em.map({x}, elementType, [&](OpBuilder &b, Location l, ValueRange) {
        Emitter e(b, l, nullptr);
        Value i = linalg::IndexOp::create(b, l, 0);
        Value j = linalg::IndexOp::create(b, l, 1);
        Value onDiagonal = arith::CmpIOp::create(
            b, l, arith::CmpIPredicate::eq, arith::SubIOp::create(b, l, j, i),
            e.indexConst(k));
        return arith::SelectOp::create(b, l, onDiagonal,
                                       e.scalarConst(elementType, 1),
                                       e.scalarConst(elementType, 0))
            .getResult();
      });
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, onnxType);
  return success();
}

/// Hardmax: 1 at the first maximum along the axis, 0 elsewhere (ArgMax with
/// keepdims, compared with each position). Before opset 13 the input is
/// flattened to 2-D at the axis and the maximum taken over the trailing
/// part.
LogicalResult convertHardmax(NodeContext &nc) {
  Value x = requireInput(nc, 0);
  if (!x)
    return failure();
  auto type = typeOf(x);
  int64_t rank = type.getRank();
  if (rank == 0)
    return nc.error() << "needs an input of rank >= 1";
  bool flatten = nc.opset < 13;
  FailureOr<int64_t> axis = normalizeAxis(nc.attrInt("axis", flatten ? 1 : -1),
                                          rank, [&] { return nc.error(); });
  if (failed(axis))
    return failure();
  Expansion ex(nc);
  std::string input = ex.input(0);
  int64_t reduced = *axis;
  if (flatten) {
    FailureOr<SmallVector<Expansion::Output>> flat =
        ex.run("Flatten", {input}, 1, {intAttribute("axis", *axis)});
    if (failed(flat))
      return failure();
    input = (*flat)[0].name;
    reduced = 1;
  }
  FailureOr<SmallVector<Expansion::Output>> argmax =
      ex.run("ArgMax", {input}, 1,
             {intAttribute("axis", reduced), intAttribute("keepdims", 1)});
  if (failed(argmax))
    return failure();
  Emitter em = nc.emitter();
  Value in = nc.importer.lookup(input);
  Type elementType = type.getElementType();
  FailureOr<Value> y = em.map(
      {in, (*argmax)[0].value}, elementType,
      [&](OpBuilder &b, Location l, ValueRange a) {
        Emitter e(b, l, nullptr);
        Value position = arith::IndexCastOp::create(
            b, l, b.getI64Type(), linalg::IndexOp::create(b, l, reduced));
        Value isMax = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                            position, a[1]);
        return arith::SelectOp::create(b, l, isMax,
                                       e.scalarConst(elementType, 1),
                                       e.scalarConst(elementType, 0))
            .getResult();
      });
  if (failed(y))
    return failure();
  if (flatten) {
    SmallVector<Value> dims;
    for (int64_t d = 0; d < rank; ++d)
      dims.push_back(type.isDynamicDim(d) ? em.dim(x, d) : Value());
    y = em.reshape(*y, type.getShape(), dims);
    if (failed(y))
      return failure();
  }
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

} // namespace

void parsimony::onnximport::registerTensorConverters(
    llvm::StringMap<ConverterFn> &map) {
  map["::Constant"] = convertConstant;
  map["::Shape"] = convertShape;
  map["::Size"] = convertSize;
  map["::ConstantOfShape"] = convertConstantOfShape;
  map["::Identity"] = convertIdentity;
  map["::Dropout"] = convertDropout;
  map["::Reshape"] = convertReshape;
  map["::Flatten"] = convertFlatten;
  map["::Squeeze"] = convertSqueeze;
  map["::Unsqueeze"] = convertUnsqueeze;
  map["::Transpose"] = convertTranspose;
  map["::Concat"] = convertConcat;
  map["::Split"] = convertSplit;
  map["::Slice"] = convertSlice;
  map["::Expand"] = convertExpand;
  map["::Pad"] = convertPad;
  map["::Tile"] = convertTile;
  map["::Range"] = convertRange;
  map["::Gather"] = convertGather;
  map["::ReverseSequence"] = convertReverseSequence;
  map["::GatherElements"] = convertGatherElements;
  map["::GatherND"] = convertGatherND;
  map["::ScatterElements"] = convertScatterElements;
  map["::ScatterND"] = convertScatterND;
  map["::TopK"] = convertTopK;
  map["::ArgMax"] = convertArgExtreme<true>;
  map["::ArgMin"] = convertArgExtreme<false>;
  map["::OneHot"] = convertOneHot;
  map["::Trilu"] = convertTrilu;
  map["::DepthToSpace"] = convertBlockRearrange<true>;
  map["::SpaceToDepth"] = convertBlockRearrange<false>;
  map["::EyeLike"] = convertEyeLike;
  map["::Hardmax"] = convertHardmax;
  // Scatter (9, deprecated in 11) is ScatterElements without reduction.
  map["::Scatter"] = convertScatterElements;
}
