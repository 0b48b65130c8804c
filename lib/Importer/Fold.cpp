//===- Fold.cpp - import-time folding of shape computations ---------------===//
//
// PyTorch exports compute shapes with chains such as
// Shape -> Gather -> Unsqueeze -> Concat -> Reshape. Nodes whose inputs are
// all small constants are evaluated here; 0-D/1-D integer tensors built from
// dynamic dimensions are tracked symbolically (index values) so that
// Reshape / Expand / Slice still get the most static result types.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/ADT/StringSet.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace parsimony::onnximport;

namespace {

int64_t product(ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

/// Numpy broadcast of constant shapes.
std::optional<SmallVector<int64_t>>
broadcastShapes(ArrayRef<const ConstTensor *> ts) {
  size_t rank = 0;
  for (const ConstTensor *t : ts)
    rank = std::max(rank, t->shape.size());
  SmallVector<int64_t> shape(rank, 1);
  for (const ConstTensor *t : ts) {
    size_t off = rank - t->shape.size();
    for (size_t i = 0; i < t->shape.size(); ++i) {
      int64_t d = t->shape[i];
      int64_t &r = shape[off + i];
      if (d == r || d == 1)
        continue;
      if (r != 1)
        return std::nullopt;
      r = d;
    }
  }
  return shape;
}

/// Flat index into `t` for the multi-index `idx` of a broadcast result.
int64_t broadcastIndex(const ConstTensor &t, ArrayRef<int64_t> idx) {
  size_t off = idx.size() - t.shape.size();
  SmallVector<int64_t> strides = stridesOf(t.shape);
  int64_t flat = 0;
  for (size_t i = 0; i < t.shape.size(); ++i)
    flat += (t.shape[i] == 1 ? 0 : idx[off + i]) * strides[i];
  return flat;
}

void unravel(int64_t flat, ArrayRef<int64_t> shape,
             SmallVectorImpl<int64_t> &idx) {
  idx.assign(shape.size(), 0);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    if (shape[i] == 0)
      return;
    idx[i] = flat % shape[i];
    flat /= shape[i];
  }
}

ConstTensor like(const ConstTensor &t, SmallVector<int64_t> shape) {
  ConstTensor r;
  r.shape = std::move(shape);
  r.onnxType = t.onnxType;
  return r;
}

void pushFrom(ConstTensor &dst, const ConstTensor &src, int64_t i) {
  if (src.isFloat())
    dst.floats.push_back(src.floats[i]);
  else
    dst.ints.push_back(src.ints[i]);
}

/// Wraps an integer to the range of the ONNX integer type `t`.
int64_t wrapInt(int64_t v, int32_t t) {
  switch (t) {
  case onnx::TensorProto::INT32:
    return static_cast<int32_t>(v);
  case onnx::TensorProto::INT16:
    return static_cast<int16_t>(v);
  case onnx::TensorProto::INT8:
    return static_cast<int8_t>(v);
  case onnx::TensorProto::UINT8:
    return static_cast<uint8_t>(v);
  case onnx::TensorProto::UINT16:
    return static_cast<uint16_t>(v);
  case onnx::TensorProto::UINT32:
    return static_cast<uint32_t>(v);
  case onnx::TensorProto::BOOL:
    return v != 0;
  default:
    return v;
  }
}

using Results = std::optional<SmallVector<ConstTensor>>;

Results one(ConstTensor t) {
  if (t.numElements() > kMaxFoldElements)
    return std::nullopt;
  SmallVector<ConstTensor> r;
  r.push_back(std::move(t));
  return r;
}

Results foldElementwise(StringRef op, ArrayRef<const ConstTensor *> in) {
  std::optional<SmallVector<int64_t>> shape = broadcastShapes(in);
  if (!shape || product(*shape) > kMaxFoldElements)
    return std::nullopt;
  bool isCompare = op == "Equal" || op == "Less" || op == "Greater" ||
                   op == "LessOrEqual" || op == "GreaterOrEqual";
  const ConstTensor &a = *in[0];
  ConstTensor r = like(op == "Where" ? *in[1] : a, *shape);
  if (isCompare)
    r.onnxType = onnx::TensorProto::BOOL;
  bool isFloat = op == "Where" ? in[1]->isFloat() : a.isFloat();
  int64_t n = product(*shape);
  SmallVector<int64_t> idx;
  for (int64_t f = 0; f < n; ++f) {
    unravel(f, *shape, idx);
    if (op == "Where") {
      bool c = in[0]->getInt(broadcastIndex(*in[0], idx)) != 0;
      const ConstTensor &src = c ? *in[1] : *in[2];
      pushFrom(r, src, broadcastIndex(src, idx));
      continue;
    }
    if (op == "Not") {
      r.ints.push_back(a.ints[broadcastIndex(a, idx)] == 0);
      continue;
    }
    if (op == "Neg") {
      int64_t i = broadcastIndex(a, idx);
      if (isFloat)
        r.floats.push_back(-a.floats[i]);
      else
        r.ints.push_back(wrapInt(-a.ints[i], a.onnxType));
      continue;
    }
    // Exact in double and float alike (Range's expansion computes its trip
    // count with Ceil and Relu).
    if (op == "Ceil" || op == "Floor" || op == "Relu" || op == "Abs") {
      int64_t i = broadcastIndex(a, idx);
      if (isFloat) {
        double x = a.floats[i];
        r.floats.push_back(op == "Ceil"    ? std::ceil(x)
                           : op == "Floor" ? std::floor(x)
                           : op == "Relu"  ? (x > 0 ? x : 0.0)
                                           : std::fabs(x));
      } else {
        int64_t x = a.ints[i];
        r.ints.push_back(op == "Relu"  ? std::max<int64_t>(x, 0)
                         : op == "Abs" ? wrapInt(x < 0 ? -x : x, a.onnxType)
                                       : x);
      }
      continue;
    }
    const ConstTensor &b = *in[1];
    int64_t ia = broadcastIndex(a, idx), ib = broadcastIndex(b, idx);
    if (isFloat) {
      double x = a.floats[ia], y = b.floats[ib];
      if (isCompare) {
        bool v = op == "Equal"         ? x == y
                 : op == "Less"        ? x < y
                 : op == "Greater"     ? x > y
                 : op == "LessOrEqual" ? x <= y
                                       : x >= y;
        r.ints.push_back(v);
        continue;
      }
      double v = op == "Add"   ? x + y
                 : op == "Sub" ? x - y
                 : op == "Mul" ? x * y
                 : op == "Div" ? x / y
                 : op == "Max" ? std::max(x, y)
                 : op == "Min" ? std::min(x, y)
                               : std::pow(x, y);
      r.floats.push_back(v);
      continue;
    }
    int64_t x = a.ints[ia], y = b.ints[ib];
    if (isCompare) {
      bool v = op == "Equal"         ? x == y
               : op == "Less"        ? x < y
               : op == "Greater"     ? x > y
               : op == "LessOrEqual" ? x <= y
                                     : x >= y;
      r.ints.push_back(v);
      continue;
    }
    int64_t v;
    if (op == "Add")
      v = x + y;
    else if (op == "Sub")
      v = x - y;
    else if (op == "Mul")
      v = x * y;
    else if (op == "Div") {
      if (y == 0)
        return std::nullopt;
      v = x / y;
    } else if (op == "Max")
      v = std::max(x, y);
    else if (op == "Min")
      v = std::min(x, y);
    else if (op == "And")
      v = (x != 0) && (y != 0);
    else if (op == "Or")
      v = (x != 0) || (y != 0);
    else
      return std::nullopt;
    r.ints.push_back(wrapInt(v, r.onnxType));
  }
  return one(std::move(r));
}

std::optional<int64_t> normAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    return std::nullopt;
  return axis < 0 ? axis + rank : axis;
}

Results foldConst(NodeContext &nc, ArrayRef<const ConstTensor *> in) {
  StringRef op = nc.opType();
  auto input = [&](unsigned i) -> const ConstTensor * {
    return i < in.size() ? in[i] : nullptr;
  };
  if (op == "Identity")
    return one(*in[0]);
  if (op == "Cast") {
    int32_t to = static_cast<int32_t>(nc.attrInt("to", 0));
    if (!getElementType(nc.importer.ctx, to))
      return std::nullopt;
    const ConstTensor &a = *in[0];
    ConstTensor r = like(a, a.shape);
    r.onnxType = to;
    for (int64_t i = 0, n = a.numElements(); i < n; ++i) {
      if (r.isFloat())
        r.floats.push_back(a.getDouble(i));
      else if (a.isFloat())
        r.ints.push_back(to == onnx::TensorProto::BOOL
                             ? a.floats[i] != 0.0
                             : wrapInt(static_cast<int64_t>(a.floats[i]), to));
      else
        r.ints.push_back(wrapInt(a.ints[i], to));
    }
    return one(std::move(r));
  }
  static const llvm::StringSet<> elementwise = {
      "Add",     "Sub",         "Mul",
      "Div",     "Equal",       "Less",
      "Greater", "LessOrEqual", "GreaterOrEqual",
      "Where",   "Not",         "Neg",
      "Max",     "Min",         "And",
      "Or",      "Ceil",        "Floor",
      "Relu",    "Abs"};
  if (elementwise.contains(op)) {
    SmallVector<const ConstTensor *> operands;
    for (const ConstTensor *t : in)
      if (t)
        operands.push_back(t);
    if (operands.empty())
      return std::nullopt;
    if ((op == "Max" || op == "Min") && operands.size() != 2)
      return std::nullopt;
    return foldElementwise(op, operands);
  }
  if (op == "Unsqueeze" || op == "Squeeze") {
    const ConstTensor &a = *in[0];
    SmallVector<int64_t> axes;
    if (const ConstTensor *ax = input(1))
      axes.assign(ax->ints.begin(), ax->ints.end());
    else if (auto attrAxes = nc.attrInts("axes"))
      axes = *attrAxes;
    SmallVector<int64_t> shape;
    int64_t rank = a.shape.size();
    if (op == "Unsqueeze") {
      int64_t outRank = rank + axes.size();
      SmallVector<int64_t> norm;
      for (int64_t x : axes) {
        auto n = normAxis(x, outRank);
        if (!n)
          return std::nullopt;
        norm.push_back(*n);
      }
      for (int64_t i = 0, j = 0; i < outRank; ++i)
        shape.push_back(llvm::is_contained(norm, i) ? 1 : a.shape[j++]);
    } else {
      SmallVector<int64_t> norm;
      for (int64_t x : axes) {
        auto n = normAxis(x, rank);
        if (!n)
          return std::nullopt;
        norm.push_back(*n);
      }
      for (int64_t i = 0; i < rank; ++i) {
        bool drop =
            norm.empty() ? a.shape[i] == 1 : llvm::is_contained(norm, i);
        if (drop && a.shape[i] != 1)
          return std::nullopt;
        if (!drop)
          shape.push_back(a.shape[i]);
      }
    }
    ConstTensor r = a;
    r.shape = shape;
    return one(std::move(r));
  }
  if (op == "Reshape") {
    const ConstTensor &a = *in[0];
    if (!input(1))
      return std::nullopt;
    SmallVector<int64_t> shape(in[1]->ints.begin(), in[1]->ints.end());
    bool allowZero = nc.attrInt("allowzero", 0) != 0;
    int64_t infer = -1, known = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] == 0 && !allowZero) {
        if (i >= a.shape.size())
          return std::nullopt;
        shape[i] = a.shape[i];
      }
      if (shape[i] == -1) {
        if (infer >= 0)
          return std::nullopt;
        infer = i;
        continue;
      }
      known *= shape[i];
    }
    if (infer >= 0) {
      if (known == 0 || a.numElements() % known)
        return std::nullopt;
      shape[infer] = a.numElements() / known;
    }
    if (product(shape) != a.numElements())
      return std::nullopt;
    ConstTensor r = a;
    r.shape = shape;
    return one(std::move(r));
  }
  if (op == "Flatten") {
    const ConstTensor &a = *in[0];
    int64_t rank = a.shape.size();
    int64_t axis = nc.attrInt("axis", 1);
    if (axis < 0)
      axis += rank;
    if (axis < 0 || axis > rank)
      return std::nullopt;
    ConstTensor r = a;
    r.shape = {product(ArrayRef<int64_t>(a.shape).take_front(axis)),
               product(ArrayRef<int64_t>(a.shape).drop_front(axis))};
    return one(std::move(r));
  }
  if (op == "Gather") {
    const ConstTensor &a = *in[0];
    const ConstTensor *idx = input(1);
    if (!idx || idx->isFloat() || a.shape.empty())
      return std::nullopt;
    int64_t rank = a.shape.size();
    auto axis = normAxis(nc.attrInt("axis", 0), rank);
    if (!axis)
      return std::nullopt;
    SmallVector<int64_t> shape(a.shape.begin(), a.shape.begin() + *axis);
    shape.append(idx->shape.begin(), idx->shape.end());
    shape.append(a.shape.begin() + *axis + 1, a.shape.end());
    int64_t outer = product(ArrayRef<int64_t>(a.shape).take_front(*axis));
    int64_t inner = product(ArrayRef<int64_t>(a.shape).drop_front(*axis + 1));
    int64_t dim = a.shape[*axis];
    ConstTensor r = like(a, shape);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0, n = idx->numElements(); k < n; ++k) {
        int64_t j = idx->ints[k];
        if (j < 0)
          j += dim;
        if (j < 0 || j >= dim)
          return std::nullopt;
        for (int64_t i = 0; i < inner; ++i)
          pushFrom(r, a, (o * dim + j) * inner + i);
      }
    return one(std::move(r));
  }
  if (op == "Concat") {
    SmallVector<const ConstTensor *> parts;
    for (const ConstTensor *t : in)
      if (t)
        parts.push_back(t);
    if (parts.empty())
      return std::nullopt;
    int64_t rank = parts[0]->shape.size();
    auto axis = normAxis(nc.attrInt("axis", 0), rank);
    if (!axis || rank == 0)
      return std::nullopt;
    SmallVector<int64_t> shape(parts[0]->shape);
    shape[*axis] = 0;
    for (const ConstTensor *t : parts) {
      if (static_cast<int64_t>(t->shape.size()) != rank ||
          t->isFloat() != parts[0]->isFloat())
        return std::nullopt;
      for (int64_t d = 0; d < rank; ++d)
        if (d != *axis && t->shape[d] != parts[0]->shape[d])
          return std::nullopt;
      shape[*axis] += t->shape[*axis];
    }
    int64_t outer = product(ArrayRef<int64_t>(shape).take_front(*axis));
    ConstTensor r = like(*parts[0], shape);
    for (int64_t o = 0; o < outer; ++o)
      for (const ConstTensor *t : parts) {
        int64_t chunk = product(ArrayRef<int64_t>(t->shape).drop_front(*axis));
        for (int64_t i = 0; i < chunk; ++i)
          pushFrom(r, *t, o * chunk + i);
      }
    return one(std::move(r));
  }
  if (op == "Slice") {
    const ConstTensor &a = *in[0];
    if (!input(1) || !input(2))
      return std::nullopt;
    int64_t rank = a.shape.size();
    SmallVector<int64_t> starts(rank, 0), steps(rank, 1);
    SmallVector<int64_t> ends(a.shape);
    size_t n = in[1]->ints.size();
    for (size_t i = 0; i < n; ++i) {
      int64_t axis = input(3) ? in[3]->ints[i] : static_cast<int64_t>(i);
      auto ax = normAxis(axis, rank);
      if (!ax)
        return std::nullopt;
      int64_t step = input(4) ? in[4]->ints[i] : 1;
      if (step == 0)
        return std::nullopt;
      int64_t d = a.shape[*ax];
      int64_t s = in[1]->ints[i], e = in[2]->ints[i];
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
      starts[*ax] = s;
      ends[*ax] = e;
      steps[*ax] = step;
    }
    SmallVector<int64_t> shape;
    for (int64_t d = 0; d < rank; ++d) {
      int64_t len = steps[d] > 0
                        ? (ends[d] - starts[d] + steps[d] - 1) / steps[d]
                        : (starts[d] - ends[d] - steps[d] - 1) / -steps[d];
      shape.push_back(std::max<int64_t>(len, 0));
    }
    ConstTensor r = like(a, shape);
    SmallVector<int64_t> strides = stridesOf(a.shape), idx;
    for (int64_t f = 0, total = product(shape); f < total; ++f) {
      unravel(f, shape, idx);
      int64_t flat = 0;
      for (int64_t d = 0; d < rank; ++d)
        flat += (starts[d] + idx[d] * steps[d]) * strides[d];
      pushFrom(r, a, flat);
    }
    return one(std::move(r));
  }
  if (op == "Split") {
    const ConstTensor &a = *in[0];
    if (a.numElements() > kMaxFoldElements)
      return std::nullopt;
    int64_t rank = a.shape.size();
    auto axis = normAxis(nc.attrInt("axis", 0), rank);
    if (!axis)
      return std::nullopt;
    int64_t parts = nc.numOutputs(), d = a.shape[*axis];
    SmallVector<int64_t> sizes;
    if (input(1))
      sizes.assign(in[1]->ints.begin(), in[1]->ints.end());
    else if (std::optional<SmallVector<int64_t>> split = nc.attrInts("split"))
      sizes = *split;
    else if (d % parts == 0)
      sizes.assign(parts, d / parts);
    if (static_cast<int64_t>(sizes.size()) != parts ||
        llvm::any_of(sizes, [](int64_t n) { return n < 0; }) ||
        llvm::sum_of(sizes) != d)
      return std::nullopt; // The converter reports the bad split.
    int64_t outer = product(ArrayRef<int64_t>(a.shape).take_front(*axis));
    int64_t inner = product(ArrayRef<int64_t>(a.shape).drop_front(*axis + 1));
    SmallVector<ConstTensor> results;
    int64_t start = 0;
    for (int64_t size : sizes) {
      SmallVector<int64_t> shape(a.shape);
      shape[*axis] = size;
      ConstTensor r = like(a, shape);
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < size * inner; ++i)
          pushFrom(r, a, (o * d + start) * inner + i);
      start += size;
      results.push_back(std::move(r));
    }
    return results;
  }
  if (op == "ConstantOfShape") {
    SmallVector<int64_t> shape(in[0]->ints.begin(), in[0]->ints.end());
    if (llvm::any_of(shape, [](int64_t d) { return d < 0; }) ||
        product(shape) > kMaxFoldElements)
      return std::nullopt;
    ConstTensor value;
    value.onnxType = onnx::TensorProto::FLOAT;
    value.floats.push_back(0.0);
    if (const onnx::AttributeProto *a = nc.attr("value")) {
      ValueEntry e;
      onnx::TensorProto t = a->t();
      // Diagnostics are left to the converter, which re-reads the attribute.
      ScopedDiagnosticHandler silence(nc.importer.ctx,
                                      [](Diagnostic &) { return success(); });
      if (failed(nc.importer.importTensor(t, e, [&] { return nc.error(); })) ||
          !e.constant || e.constant->numElements() != 1)
        return std::nullopt;
      value = *e.constant;
    }
    ConstTensor r = like(value, shape);
    for (int64_t i = 0, n = product(shape); i < n; ++i)
      pushFrom(r, value, 0);
    return one(std::move(r));
  }
  if (op == "Range") {
    if (!input(1) || !input(2))
      return std::nullopt;
    const ConstTensor &s = *in[0], &l = *in[1], &d = *in[2];
    double start = s.getDouble(0), limit = l.getDouble(0),
           delta = d.getDouble(0);
    if (delta == 0)
      return std::nullopt;
    int64_t n = std::max<int64_t>(
        static_cast<int64_t>(std::ceil((limit - start) / delta)), 0);
    if (n > kMaxFoldElements)
      return std::nullopt;
    ConstTensor r = like(s, {n});
    for (int64_t i = 0; i < n; ++i) {
      if (s.isFloat())
        r.floats.push_back(start + i * delta);
      else
        r.ints.push_back(s.ints[0] + i * d.ints[0]);
    }
    return one(std::move(r));
  }
  if (op == "Expand") {
    const ConstTensor &a = *in[0];
    if (!input(1))
      return std::nullopt;
    ConstTensor target;
    target.shape.assign(in[1]->ints.begin(), in[1]->ints.end());
    SmallVector<const ConstTensor *> both = {&a, &target};
    std::optional<SmallVector<int64_t>> shape = broadcastShapes(both);
    if (!shape || product(*shape) > kMaxFoldElements)
      return std::nullopt;
    ConstTensor r = like(a, *shape);
    SmallVector<int64_t> idx;
    for (int64_t f = 0, n = product(*shape); f < n; ++f) {
      unravel(f, *shape, idx);
      pushFrom(r, a, broadcastIndex(a, idx));
    }
    return one(std::move(r));
  }
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Symbolic (index-valued) shape tensors
//===----------------------------------------------------------------------===//

struct SymTensor {
  SmallVector<OpFoldResult> elements;
  bool isScalar = false;
};

std::optional<SymTensor> symInput(NodeContext &nc, unsigned i) {
  if (!nc.hasInput(i))
    return std::nullopt;
  ValueEntry *e = nc.importer.entry(nc.node.input(i));
  if (!e)
    return std::nullopt;
  Builder b(nc.importer.ctx);
  if (e->symbolic)
    return SymTensor{*e->symbolic, e->symbolicIsScalar};
  if (e->constant && !e->constant->isFloat() &&
      e->constant->shape.size() <= 1) {
    SymTensor t;
    t.isScalar = e->constant->shape.empty();
    for (int64_t v : e->constant->ints)
      t.elements.push_back(b.getIndexAttr(v));
    return t;
  }
  return std::nullopt;
}

std::optional<int64_t> asConst(OpFoldResult r) {
  if (auto a = dyn_cast<Attribute>(r))
    return cast<IntegerAttr>(a).getInt();
  return std::nullopt;
}

Value asValue(NodeContext &nc, OpFoldResult r) {
  if (auto v = dyn_cast<Value>(r))
    return v;
  return arith::ConstantIndexOp::create(nc.importer.builder, nc.loc,
                                        *asConst(r));
}

bool foldSymbolic(NodeContext &nc) {
  StringRef op = nc.opType();
  OpBuilder &b = nc.importer.builder;
  int32_t outType = nc.inputOnnxType(0);
  if (op == "Identity" || op == "Cast") {
    std::optional<SymTensor> a = symInput(nc, 0);
    if (!a)
      return false;
    if (op == "Cast") {
      int64_t to = nc.attrInt("to", 0);
      if (to != onnx::TensorProto::INT64 && to != onnx::TensorProto::INT32)
        return false;
      outType = static_cast<int32_t>(to);
    }
    nc.setSymbolicOutput(0, a->elements, a->isScalar, outType);
    return true;
  }
  if (op == "Gather") {
    std::optional<SymTensor> a = symInput(nc, 0);
    const ConstTensor *idx = nc.constInput(1);
    if (!a || a->isScalar || !idx || idx->isFloat() || idx->shape.size() > 1)
      return false;
    int64_t n = a->elements.size();
    SmallVector<OpFoldResult> out;
    for (int64_t j : idx->ints) {
      if (j < 0)
        j += n;
      if (j < 0 || j >= n)
        return false;
      out.push_back(a->elements[j]);
    }
    nc.setSymbolicOutput(0, out, idx->shape.empty(), outType);
    return true;
  }
  if (op == "Concat") {
    SmallVector<OpFoldResult> out;
    for (unsigned i = 0; i < nc.numInputs(); ++i) {
      if (!nc.hasInput(i))
        continue;
      std::optional<SymTensor> a = symInput(nc, i);
      if (!a || a->isScalar)
        return false;
      out.append(a->elements);
    }
    nc.setSymbolicOutput(0, out, false, outType);
    return true;
  }
  if (op == "Unsqueeze") {
    std::optional<SymTensor> a = symInput(nc, 0);
    const ConstTensor *axes = nc.constInput(1);
    if (!a || !a->isScalar || !axes || axes->ints.size() != 1 ||
        (axes->ints[0] != 0 && axes->ints[0] != -1))
      return false;
    nc.setSymbolicOutput(0, a->elements, false, outType);
    return true;
  }
  if (op == "Squeeze") {
    std::optional<SymTensor> a = symInput(nc, 0);
    if (!a || a->isScalar || a->elements.size() != 1)
      return false;
    nc.setSymbolicOutput(0, a->elements, true, outType);
    return true;
  }
  if (op == "Reshape") {
    std::optional<SymTensor> a = symInput(nc, 0);
    const ConstTensor *shape = nc.constInput(1);
    if (!a || !shape || shape->shape.size() != 1)
      return false;
    int64_t n = a->elements.size();
    if (shape->ints.empty() && n == 1) {
      nc.setSymbolicOutput(0, a->elements, true, outType);
      return true;
    }
    if (shape->ints.size() == 1 &&
        (shape->ints[0] == -1 || shape->ints[0] == n)) {
      nc.setSymbolicOutput(0, a->elements, false, outType);
      return true;
    }
    return false;
  }
  if (op == "Slice") {
    std::optional<SymTensor> a = symInput(nc, 0);
    const ConstTensor *s = nc.constInput(1), *e = nc.constInput(2);
    if (!a || a->isScalar || !s || !e || s->ints.size() != 1 ||
        e->ints.size() != 1)
      return false;
    if (nc.hasInput(3)) {
      const ConstTensor *axes = nc.constInput(3);
      if (!axes || axes->ints.size() != 1 ||
          (axes->ints[0] != 0 && axes->ints[0] != -1))
        return false;
    }
    int64_t step = 1;
    if (nc.hasInput(4)) {
      const ConstTensor *st = nc.constInput(4);
      if (!st || st->ints.size() != 1)
        return false;
      step = st->ints[0];
    }
    if (step <= 0)
      return false;
    int64_t n = a->elements.size();
    int64_t start = s->ints[0], end = e->ints[0];
    if (start < 0)
      start += n;
    if (end < 0)
      end += n;
    start = std::clamp<int64_t>(start, 0, n);
    end = std::clamp<int64_t>(end, 0, n);
    SmallVector<OpFoldResult> out;
    for (int64_t i = start; i < end; i += step)
      out.push_back(a->elements[i]);
    nc.setSymbolicOutput(0, out, false, outType);
    return true;
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Max" ||
      op == "Min") {
    std::optional<SymTensor> x = symInput(nc, 0), y = symInput(nc, 1);
    if (!x || !y || nc.numInputs() != 2)
      return false;
    size_t nx = x->elements.size(), ny = y->elements.size();
    if (nx != ny && nx != 1 && ny != 1)
      return false;
    size_t n = std::max(nx, ny);
    SmallVector<OpFoldResult> out;
    for (size_t i = 0; i < n; ++i) {
      OpFoldResult a = x->elements[nx == 1 ? 0 : i];
      OpFoldResult c = y->elements[ny == 1 ? 0 : i];
      std::optional<int64_t> ca = asConst(a), cc = asConst(c);
      if (ca && cc) {
        int64_t v;
        if (op == "Add")
          v = *ca + *cc;
        else if (op == "Sub")
          v = *ca - *cc;
        else if (op == "Mul")
          v = *ca * *cc;
        else if (op == "Div") {
          if (*cc == 0 ||
              (*cc == -1 && *ca == std::numeric_limits<int64_t>::min()))
            return false;
          v = *ca / *cc;
        } else if (op == "Max")
          v = std::max(*ca, *cc);
        else
          v = std::min(*ca, *cc);
        out.push_back(b.getIndexAttr(v));
        continue;
      }
      Value va = asValue(nc, a), vc = asValue(nc, c);
      Value r;
      if (op == "Add")
        r = arith::AddIOp::create(b, nc.loc, va, vc);
      else if (op == "Sub")
        r = arith::SubIOp::create(b, nc.loc, va, vc);
      else if (op == "Mul")
        r = arith::MulIOp::create(b, nc.loc, va, vc);
      else if (op == "Div")
        r = divideIntegers(b, nc.loc, va, vc, /*isUnsigned=*/false);
      else if (op == "Max")
        r = arith::MaxSIOp::create(b, nc.loc, va, vc);
      else
        r = arith::MinSIOp::create(b, nc.loc, va, vc);
      out.push_back(r);
    }
    nc.setSymbolicOutput(0, out, x->isScalar && y->isScalar, outType);
    return true;
  }
  return false;
}

} // namespace

bool parsimony::onnximport::tryFoldNode(NodeContext &nc) {
  StringRef domain = nc.node.domain();
  if (!domain.empty() && domain != "ai.onnx")
    return false;
  static const llvm::StringSet<> foldable = {"Identity",
                                             "Cast",
                                             "Add",
                                             "Sub",
                                             "Mul",
                                             "Div",
                                             "Equal",
                                             "Less",
                                             "Greater",
                                             "LessOrEqual",
                                             "GreaterOrEqual",
                                             "Where",
                                             "Not",
                                             "Neg",
                                             "Ceil",
                                             "Floor",
                                             "Relu",
                                             "Abs",
                                             "Max",
                                             "Min",
                                             "And",
                                             "Or",
                                             "Unsqueeze",
                                             "Squeeze",
                                             "Reshape",
                                             "Flatten",
                                             "Gather",
                                             "Concat",
                                             "Slice",
                                             "ConstantOfShape",
                                             "Range",
                                             "Expand",
                                             "Split"};
  if (!foldable.contains(nc.opType()) ||
      (nc.numOutputs() != 1 && nc.opType() != "Split"))
    return false;
  SmallVector<const ConstTensor *> inputs;
  bool allConstant = true, allKnown = true;
  for (unsigned i = 0; i < nc.numInputs(); ++i) {
    if (!nc.hasInput(i)) {
      inputs.push_back(nullptr);
      continue;
    }
    ValueEntry *e = nc.importer.entry(nc.node.input(i));
    if (!e)
      return false;
    inputs.push_back(e->constant ? &*e->constant : nullptr);
    if (!e->constant) {
      allConstant = false;
      if (!e->symbolic)
        allKnown = false;
    }
  }
  if (inputs.empty() || !inputs[0])
    allConstant = allConstant && !inputs.empty() && inputs[0];
  if (allConstant) {
    Results r = foldConst(nc, inputs);
    if (!r || r->size() != nc.numOutputs())
      return false;
    for (auto [i, value] : llvm::enumerate(*r))
      nc.setConstOutput(i, std::move(value));
    return true;
  }
  if (allKnown)
    return foldSymbolic(nc);
  return false;
}
