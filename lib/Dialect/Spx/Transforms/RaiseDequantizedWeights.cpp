//===- RaiseDequantizedWeights.cpp - pre-quantized weights to quant ops ---===//
//
// `x * dequantize(q, scale)` becomes `spx.quant_matmul(x, q, scale)`, and an
// integer product `(a - a_zp) * (q - zp)` that is only converted to float
// (ONNX MatMulInteger -> Cast) becomes `spx.quant_matmul(float(a - a_zp),
// q - zp, 1)`: the weights a model was exported with, read as int8 by the
// kernels.
//
// The kernels have no zero points. `q - zp` is stored exactly; when an
// output feature's values do not fit int8 (uint8 or asymmetric weights),
// they are stored shifted by an offset o[n] and the product is corrected by
// `o[n] * scale[n] * sum_k x[.., k]`.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Dialect/Spx/Transforms/Passes.h"

#include "DenseProjection.h"
#include "parsimony/Dialect/Spx/Transforms/WeightConstants.h"
#include "parsimony/Support/Contraction.h"

#include "parsimony/Dialect/Spx/IR/SpxOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <numeric>

namespace mlir::spx {
#define GEN_PASS_DEF_SPXRAISEDEQUANTIZEDWEIGHTS
#include "parsimony/Dialect/Spx/Transforms/Passes.h.inc"
} // namespace mlir::spx

using namespace mlir;
using namespace mlir::spx;

namespace {

/// An int8 or uint8 weight and the scale of each of its elements.
struct Dequantized {
  /// The values minus their zero points as stored by the model ([K, N], or
  /// [N, K] when the projection found it transposed), and that matrix's
  /// shape.
  std::vector<int32_t> q;
  SmallVector<int64_t> shape;
  /// The scale of every element of the stored matrix, row-major.
  std::vector<float> scales;
};

/// `value` without the reshapes in front of it (they keep the order of the
/// elements); appends them, outermost first, to `reshapes` if given.
Value lookThroughReshapes(Value value,
                          SmallVectorImpl<Operation *> *reshapes = nullptr) {
  while (Operation *def = value.getDefiningOp()) {
    if (!isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(def))
      break;
    if (reshapes)
      reshapes->push_back(def);
    value = def->getOperand(0);
  }
  return value;
}

/// `reshape` (an expand or collapse) applied to `source` instead, its
/// result with `source`'s element type.
Value cloneReshape(OpBuilder &b, Operation *reshape, Value source) {
  Operation *clone = b.clone(*reshape);
  clone->setOperand(0, source);
  Value result = clone->getResult(0);
  result.setType(cast<RankedTensorType>(result.getType())
                     .clone(getElementTypeOrSelf(source.getType())));
  return result;
}

/// The elements of an i8 constant (inline or a resource blob) behind
/// `value`'s reshapes.
std::optional<std::vector<int8_t>> constantI8Values(Value value) {
  auto constant = lookThroughReshapes(value).getDefiningOp<arith::ConstantOp>();
  if (!constant)
    return std::nullopt;
  Attribute attr = constant.getValue();
  if (auto resource = dyn_cast<DenseI8ResourceElementsAttr>(attr)) {
    std::optional<ArrayRef<int8_t>> data = resource.tryGetAsArrayRef();
    if (!data)
      return std::nullopt;
    return std::vector<int8_t>(data->begin(), data->end());
  }
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (!dense || !dense.getElementType().isSignlessInteger(8))
    return std::nullopt;
  std::vector<int8_t> values;
  for (const APInt &v : dense.getValues<APInt>())
    values.push_back(static_cast<int8_t>(v.getSExtValue()));
  return values;
}

/// The i8 block argument that `v` sign- or zero-extends (setting
/// `isUnsigned`), or null.
Value extendedArgument(Value v, bool &isUnsigned) {
  if (auto ext = v.getDefiningOp<arith::ExtSIOp>()) {
    isUnsigned = false;
    return ext.getIn();
  }
  if (auto ext = v.getDefiningOp<arith::ExtUIOp>()) {
    isUnsigned = true;
    return ext.getIn();
  }
  return {};
}

/// Compile-time evaluation stops above this many elements.
constexpr int64_t MaxEvaluatedElements = int64_t(1) << 26;

/// The leaf constants evaluateLayout reads: f32 or i8 elements.
template <typename T> std::optional<std::vector<T>> constantValues(Value v);
template <> std::optional<std::vector<float>> constantValues(Value v) {
  return getConstantF32Values(v);
}
template <> std::optional<std::vector<int8_t>> constantValues(Value v) {
  return constantI8Values(v);
}

/// The position in an operand of shape `shape` read with `map` at the loop
/// indices `loops`, row-major; nothing if a result is neither a loop index
/// nor the constant 0.
std::optional<int64_t> readPosition(AffineMap map, ArrayRef<int64_t> shape,
                                    ArrayRef<int64_t> loops) {
  int64_t index = 0;
  for (auto [r, e] : llvm::enumerate(map.getResults())) {
    int64_t i = 0;
    if (auto dim = dyn_cast<AffineDimExpr>(e))
      i = loops[dim.getPosition()];
    else if (auto c = dyn_cast<AffineConstantExpr>(e); !c || c.getValue())
      return std::nullopt;
    index = index * shape[r] + i;
  }
  return index;
}

/// Steps the multi-index `index` to the next position of `shape` in
/// row-major order.
void advance(MutableArrayRef<int64_t> index, ArrayRef<int64_t> shape) {
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    if (++index[d] < shape[d])
      return;
    index[d] = 0;
  }
}

/// The row-major elements of a static tensor computed from a constant by
/// ops that only move elements: reshapes, static unit-stride extract_slice,
/// and all-parallel linalg.generic copies of one input read with a
/// broadcasting map (how the importer spreads a per-axis or per-block
/// quantization parameter over a weight). Nothing for any other value.
template <typename T>
std::optional<std::vector<T>> evaluateLayout(Value value, int depth = 0) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || !type.hasStaticShape() ||
      type.getNumElements() > MaxEvaluatedElements || depth > 8)
    return std::nullopt;
  if (value.getDefiningOp<arith::ConstantOp>())
    return constantValues<T>(value);
  Operation *def = value.getDefiningOp();
  if (!def)
    return std::nullopt;
  if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(def))
    return evaluateLayout<T>(def->getOperand(0), depth + 1);
  if (auto slice = dyn_cast<tensor::ExtractSliceOp>(def)) {
    RankedTensorType sourceType = slice.getSourceType();
    if (sourceType.getRank() != type.getRank() ||
        !llvm::all_of(slice.getStaticStrides(),
                      [](int64_t s) { return s == 1; }) ||
        ShapedType::isDynamicShape(slice.getStaticOffsets()))
      return std::nullopt;
    std::optional<std::vector<T>> source =
        evaluateLayout<T>(slice.getSource(), depth + 1);
    if (!source)
      return std::nullopt;
    std::vector<T> out(type.getNumElements());
    SmallVector<int64_t> index(type.getRank(), 0);
    for (int64_t i = 0, e = type.getNumElements(); i < e; ++i) {
      int64_t from = 0;
      for (int64_t d = 0; d < type.getRank(); ++d)
        from = from * sourceType.getDimSize(d) + slice.getStaticOffsets()[d] +
               index[d];
      out[i] = (*source)[from];
      advance(index, type.getShape());
    }
    return out;
  }
  auto generic = dyn_cast<linalg::GenericOp>(def);
  if (!generic || generic.getNumDpsInputs() != 1 ||
      generic->getNumResults() != 1 ||
      generic.getNumLoops() != generic.getNumParallelLoops() ||
      !generic.getIndexingMapsArray().back().isIdentity())
    return std::nullopt;
  Block &body = generic.getRegion().front();
  if (body.getTerminator()->getOperand(0) != body.getArgument(0))
    return std::nullopt;
  Value input = generic.getDpsInputs()[0];
  auto inputType = dyn_cast<RankedTensorType>(input.getType());
  std::optional<std::vector<T>> source = evaluateLayout<T>(input, depth + 1);
  if (!inputType || !source)
    return std::nullopt;
  AffineMap map = generic.getIndexingMapsArray()[0];
  std::vector<T> out(type.getNumElements());
  SmallVector<int64_t> loops(type.getRank(), 0);
  for (int64_t i = 0, e = type.getNumElements(); i < e; ++i) {
    std::optional<int64_t> from =
        readPosition(map, inputType.getShape(), loops);
    if (!from)
      return std::nullopt;
    out[i] = (*source)[*from];
    advance(loops, type.getShape());
  }
  return out;
}

/// Operand `operand` of a 2-D all-parallel `op` evaluated at every point of
/// its `rows` x `cols` loop nest, row-major.
template <typename T>
std::optional<std::vector<T>> evaluateOver(linalg::GenericOp op,
                                           OpOperand &operand, int64_t rows,
                                           int64_t cols) {
  std::optional<std::vector<T>> values = evaluateLayout<T>(operand.get());
  if (!values)
    return std::nullopt;
  AffineMap map = op.getMatchingIndexingMap(&operand);
  auto shape = cast<RankedTensorType>(operand.get().getType()).getShape();
  if (map.isIdentity())
    return values;
  std::vector<T> out(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      std::optional<int64_t> from = readPosition(map, shape, {r, c});
      if (!from)
        return std::nullopt;
      out[r * cols + c] = (*values)[*from];
    }
  return out;
}

/// Matches `sitofp(ext(q) [- ext(zp)]) * scale` over a 2-D output with q an
/// int8 or uint8 constant read with the identity map, and zp (int8 or uint8)
/// and scale computed from constants by ops that only move elements (per
/// tensor, per axis or per block, as the importer's DequantizeLinear).
std::optional<Dequantized> matchDequantize(linalg::GenericOp op) {
  if (op.getNumDpsInits() != 1 || op.getNumDpsInputs() < 2 ||
      op.getNumDpsInputs() > 3 || op.getNumReductionLoops() != 0 ||
      op.getNumLoops() != 2)
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (!maps[0].isIdentity() || !maps.back().isIdentity())
    return std::nullopt;
  Dequantized d;
  std::optional<std::vector<int8_t>> q = constantI8Values(op.getDpsInputs()[0]);
  auto qType = cast<RankedTensorType>(op.getDpsInputs()[0].getType());
  if (!q || !qType.getElementType().isSignlessInteger(8) ||
      !qType.hasStaticShape())
    return std::nullopt;
  d.shape.assign(qType.getShape().begin(), qType.getShape().end());
  int64_t rows = d.shape[0], cols = d.shape[1];
  // Body: ext(q) [- ext(zp)] -> sitofp -> mulf scale -> yield.
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto mul = yield.getValues()[0].getDefiningOp<arith::MulFOp>();
  if (!mul)
    return std::nullopt;
  BlockArgument qArg = body.getArgument(0), scaleArg = body.getArgument(1);
  Value converted = mul.getLhs() == scaleArg ? mul.getRhs() : mul.getLhs();
  if (mul.getLhs() != scaleArg && mul.getRhs() != scaleArg)
    return std::nullopt;
  auto toFloat = converted.getDefiningOp<arith::SIToFPOp>();
  if (!toFloat || !toFloat.getType().isF32())
    return std::nullopt;
  Value integer = toFloat.getIn();
  std::optional<std::vector<int8_t>> zp;
  bool zpUnsigned = false;
  if (op.getNumDpsInputs() == 3) {
    auto sub = integer.getDefiningOp<arith::SubIOp>();
    if (!sub ||
        extendedArgument(sub.getRhs(), zpUnsigned) != body.getArgument(2))
      return std::nullopt;
    zp = evaluateOver<int8_t>(op, *op.getDpsInputOperand(2), rows, cols);
    if (!zp)
      return std::nullopt;
    integer = sub.getLhs();
  }
  bool qUnsigned = false;
  if (extendedArgument(integer, qUnsigned) != qArg)
    return std::nullopt;
  std::optional<std::vector<float>> scales =
      evaluateOver<float>(op, *op.getDpsInputOperand(1), rows, cols);
  if (!scales)
    return std::nullopt;
  // q - zp, exactly.
  auto widen = [](int8_t v, bool isUnsigned) {
    return isUnsigned ? int32_t(uint8_t(v)) : int32_t(v);
  };
  d.q.resize(q->size());
  for (size_t i = 0; i < q->size(); ++i)
    d.q[i] = widen((*q)[i], qUnsigned) - (zp ? widen((*zp)[i], zpUnsigned) : 0);
  d.scales = std::move(*scales);
  return d;
}

//===----------------------------------------------------------------------===//
// Integer products (MatMulInteger).
//===----------------------------------------------------------------------===//

/// An integer tensor computed at compile time.
struct IntegerTensor {
  SmallVector<int64_t> shape;
  std::vector<int32_t> values; // row-major
};

/// The static tensor type of `v` with at most 2 dimensions, or null.
RankedTensorType smallStaticType(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || !type.hasStaticShape() || type.getRank() > 2 ||
      type.getNumElements() > MaxEvaluatedElements)
    return {};
  return type;
}

/// Evaluates `value` when it is an i8 constant (its elements sign-extended;
/// an extui in a consumer's body reads them unsigned) or an all-parallel
/// linalg.generic of at most 2 dimensions whose body only extends (extsi,
/// extui), adds and subtracts integers read from such values: the form the
/// importer gives an integer weight minus its zero point.
std::optional<IntegerTensor> evaluateInteger(Value value, int depth = 0) {
  RankedTensorType type = smallStaticType(value);
  if (!type || depth > 4 || !type.getElementType().isSignlessInteger() ||
      type.getElementType().getIntOrFloatBitWidth() > 32)
    return std::nullopt;
  IntegerTensor result;
  result.shape.assign(type.getShape().begin(), type.getShape().end());
  if (std::optional<std::vector<int8_t>> bytes = constantI8Values(value)) {
    result.values.assign(bytes->begin(), bytes->end());
    return result;
  }
  auto generic = value.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic->getNumResults() != 1 ||
      generic.getNumLoops() != generic.getNumParallelLoops() ||
      generic.getNumLoops() != static_cast<unsigned>(type.getRank()) ||
      !generic.getIndexingMapsArray().back().isIdentity())
    return std::nullopt;
  // Inputs, and for each the strides of the loops it varies along.
  SmallVector<IntegerTensor> inputs;
  SmallVector<SmallVector<int64_t>> loopStrides;
  for (OpOperand *operand : generic.getDpsInputOperands()) {
    std::optional<IntegerTensor> in =
        evaluateInteger(operand->get(), depth + 1);
    if (!in)
      return std::nullopt;
    AffineMap map = generic.getMatchingIndexingMap(operand);
    SmallVector<int64_t> strides(generic.getNumLoops(), 0);
    int64_t stride = 1;
    for (int64_t r = int64_t(map.getNumResults()) - 1; r >= 0; --r) {
      AffineExpr e = map.getResult(r);
      if (auto dim = dyn_cast<AffineDimExpr>(e))
        strides[dim.getPosition()] += stride;
      else if (auto c = dyn_cast<AffineConstantExpr>(e); !c || c.getValue())
        return std::nullopt;
      stride *= in->shape[r];
    }
    inputs.push_back(std::move(*in));
    loopStrides.push_back(std::move(strides));
  }
  // The body as a straight-line program over slots (arguments, then ops).
  Block &body = generic.getRegion().front();
  llvm::DenseMap<Value, unsigned> slot;
  for (unsigned i = 0; i < inputs.size(); ++i)
    slot[body.getArgument(i)] = i;
  // One instruction per op, decoded once: what it does and its operand
  // slots.
  enum class Opcode { Copy, Mask, Add, Sub };
  struct Instruction {
    Opcode opcode;
    unsigned lhs, rhs = 0;
    int64_t mask = 0;
  };
  SmallVector<Instruction> program;
  for (Operation &op : body.without_terminator()) {
    if (!isa<arith::ExtSIOp, arith::ExtUIOp, arith::AddIOp, arith::SubIOp>(op))
      return std::nullopt;
    for (Value operand : op.getOperands())
      if (!slot.count(operand))
        return std::nullopt;
    Instruction inst{Opcode::Copy, slot[op.getOperand(0)]};
    if (auto ext = dyn_cast<arith::ExtUIOp>(op)) {
      inst.opcode = Opcode::Mask;
      inst.mask =
          (int64_t(1) << ext.getIn().getType().getIntOrFloatBitWidth()) - 1;
    } else if (isa<arith::AddIOp, arith::SubIOp>(op)) {
      inst.opcode = isa<arith::AddIOp>(op) ? Opcode::Add : Opcode::Sub;
      inst.rhs = slot[op.getOperand(1)];
    }
    slot[op.getResult(0)] = inputs.size() + program.size();
    program.push_back(inst);
  }
  Value yielded = body.getTerminator()->getOperand(0);
  if (!slot.count(yielded))
    return std::nullopt;
  unsigned out = slot[yielded];
  int64_t count = type.getNumElements();
  int64_t cols = type.getRank() == 2 ? type.getDimSize(1) : 1;
  SmallVector<int64_t> regs(inputs.size() + program.size());
  result.values.resize(count);
  for (int64_t i = 0; i < count; ++i) {
    int64_t loop[2] = {type.getRank() == 2 ? i / cols : i, i % cols};
    for (unsigned a = 0; a < inputs.size(); ++a) {
      int64_t index = 0;
      for (unsigned l = 0; l < generic.getNumLoops(); ++l)
        index += loop[l] * loopStrides[a][l];
      regs[a] = inputs[a].values[index];
    }
    for (unsigned p = 0; p < program.size(); ++p) {
      const Instruction &inst = program[p];
      int64_t v = regs[inst.lhs];
      switch (inst.opcode) {
      case Opcode::Copy: // extsi: the value is already sign-extended
        break;
      case Opcode::Mask:
        v &= inst.mask;
        break;
      case Opcode::Add:
        v += regs[inst.rhs];
        break;
      case Opcode::Sub:
        v -= regs[inst.rhs];
        break;
      }
      if (v < INT32_MIN || v > INT32_MAX)
        return std::nullopt;
      regs[inputs.size() + p] = v;
    }
    result.values[i] = static_cast<int32_t>(regs[out]);
  }
  return result;
}

/// A bound on |element| of an integer activation built, like the importer's
/// MatMulInteger operands, from 8-bit values by extensions, additions and
/// subtractions (in chains of all-parallel linalg.generic ops); nothing for
/// any other value.
std::optional<int64_t> integerMagnitudeBound(Value value, int depth = 0) {
  value = lookThroughReshapes(value);
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || depth > 6 || !type.getElementType().isSignlessInteger())
    return std::nullopt;
  if (type.getElementType().isInteger(8))
    return 255; // int8 or uint8
  auto generic = value.getDefiningOp<linalg::GenericOp>();
  if (!generic || generic->getNumResults() != 1 ||
      generic.getNumLoops() != generic.getNumParallelLoops())
    return std::nullopt;
  Block &body = generic.getRegion().front();
  llvm::DenseMap<Value, int64_t> bound;
  for (OpOperand *operand : generic.getDpsInputOperands()) {
    std::optional<int64_t> b = integerMagnitudeBound(operand->get(), depth + 1);
    if (!b)
      return std::nullopt;
    bound[body.getArgument(operand->getOperandNumber())] = *b;
  }
  for (Operation &op : body.without_terminator()) {
    if (!isa<arith::ExtSIOp, arith::ExtUIOp, arith::AddIOp, arith::SubIOp>(op))
      return std::nullopt;
    int64_t b = 0;
    for (Value operand : op.getOperands()) {
      auto it = bound.find(operand);
      if (it == bound.end())
        return std::nullopt;
      b += it->second;
    }
    bound[op.getResult(0)] = b;
  }
  auto it = bound.find(body.getTerminator()->getOperand(0));
  if (it == bound.end())
    return std::nullopt;
  return it->second;
}

/// Whether `op` is an all-parallel generic that only converts its one
/// input, elementwise, to f32 with sitofp (an ONNX Cast to float).
bool isSignedToF32Cast(Operation *op) {
  auto generic = dyn_cast<linalg::GenericOp>(op);
  if (!generic || generic.getNumDpsInputs() != 1 ||
      generic.getNumDpsInits() != 1 ||
      generic.getNumLoops() != generic.getNumParallelLoops() ||
      !llvm::all_of(generic.getIndexingMapsArray(),
                    [](AffineMap m) { return m.isIdentity(); }))
    return false;
  Block &body = generic.getRegion().front();
  if (!llvm::hasSingleElement(body.without_terminator()))
    return false;
  auto cast = dyn_cast<arith::SIToFPOp>(body.front());
  return cast && cast.getIn() == body.getArgument(0) &&
         cast.getType().isF32() &&
         body.getTerminator()->getOperand(0) == cast.getResult();
}

/// A term of an integer activation: +-ext(tensor) for an 8-bit tensor read
/// elementwise, or as one scalar.
struct ByteTerm {
  Value tensor;
  bool isUnsigned = false;
  bool scalar = false;
  bool negated = false;
};

/// The terms whose sum `value` is, when it is computed by all-parallel
/// linalg.generic ops (identity outputs) that only extend 8-bit values and
/// add or subtract: the importer's MatMulInteger operands `ext(a) -
/// ext(a_zero_point)`, fused into one generic or not. `scalar`: `value` is
/// read as one element by its consumer.
std::optional<SmallVector<ByteTerm>> byteTerms(Value value, bool scalar,
                                               int depth = 0) {
  auto generic = value.getDefiningOp<linalg::GenericOp>();
  if (depth > 6 || !generic || generic->getNumResults() != 1 ||
      generic.getNumLoops() != generic.getNumParallelLoops() ||
      !generic.getIndexingMapsArray().back().isIdentity())
    return std::nullopt;
  Block &body = generic.getRegion().front();
  llvm::DenseMap<Value, SmallVector<ByteTerm>> terms;
  // Block arguments of 8-bit operands (only extensions may read them), and
  // whether each is read as a scalar.
  llvm::DenseMap<Value, std::pair<Value, bool>> bytes;
  for (OpOperand *operand : generic.getDpsInputOperands()) {
    AffineMap map = generic.getMatchingIndexingMap(operand);
    bool operandScalar = scalar;
    if (!map.isIdentity()) {
      if (!llvm::all_of(map.getResults(), [](AffineExpr e) {
            auto c = dyn_cast<AffineConstantExpr>(e);
            return c && c.getValue() == 0;
          }))
        return std::nullopt;
      operandScalar = true;
    }
    Value arg = body.getArgument(operand->getOperandNumber());
    Type element = getElementTypeOrSelf(operand->get().getType());
    if (element.isInteger(8)) {
      bytes[arg] = {operand->get(), operandScalar};
      continue;
    }
    if (!element.isSignlessInteger())
      return std::nullopt;
    std::optional<SmallVector<ByteTerm>> inner =
        byteTerms(operand->get(), operandScalar, depth + 1);
    if (!inner)
      return std::nullopt;
    terms[arg] = std::move(*inner);
  }
  for (Operation &op : body.without_terminator()) {
    SmallVector<ByteTerm> result;
    if (isa<arith::ExtSIOp, arith::ExtUIOp>(op)) {
      auto it = bytes.find(op.getOperand(0));
      if (it == bytes.end())
        return std::nullopt;
      auto type = cast<RankedTensorType>(it->second.first.getType());
      ByteTerm term;
      term.tensor = it->second.first;
      term.isUnsigned = isa<arith::ExtUIOp>(op);
      term.scalar = it->second.second || type.getNumElements() == 1;
      result.push_back(term);
    } else if (isa<arith::AddIOp, arith::SubIOp>(op)) {
      for (unsigned i = 0; i < 2; ++i) {
        auto it = terms.find(op.getOperand(i));
        if (it == terms.end())
          return std::nullopt;
        for (ByteTerm term : it->second) {
          term.negated ^= i == 1 && isa<arith::SubIOp>(op);
          result.push_back(term);
        }
      }
    } else {
      return std::nullopt;
    }
    terms[op.getResult(0)] = std::move(result);
  }
  auto it = terms.find(body.getTerminator()->getOperand(0));
  if (it == terms.end())
    return std::nullopt;
  return it->second;
}

/// An integer activation `ext(bytes) - ext(zeroPoint)` (zero point
/// optional) behind `reshapes`, as spx.quant_matmul reads 8-bit input.
struct ByteActivation {
  Value bytes;
  bool isUnsigned = false;
  std::optional<ByteTerm> zeroPoint;
  /// The reshapes between the activation and the product, outermost first.
  SmallVector<Operation *> reshapes;
};

std::optional<ByteActivation> matchByteActivation(Value input) {
  ByteActivation a;
  input = lookThroughReshapes(input, &a.reshapes);
  std::optional<SmallVector<ByteTerm>> terms = byteTerms(input, false);
  if (!terms)
    return std::nullopt;
  for (const ByteTerm &term : *terms) {
    if (!term.scalar && !term.negated && !a.bytes &&
        term.tensor.getType() ==
            cast<RankedTensorType>(input.getType())
                .clone(getElementTypeOrSelf(term.tensor.getType()))) {
      a.bytes = term.tensor;
      a.isUnsigned = term.isUnsigned;
    } else if (term.scalar && term.negated && !a.zeroPoint &&
               cast<RankedTensorType>(term.tensor.getType()).getNumElements() ==
                   1) {
      a.zeroPoint = term;
    } else {
      return std::nullopt;
    }
  }
  if (!a.bytes)
    return std::nullopt;
  return a;
}

/// The 8-bit activation of `a` in the product's input shape, and its zero
/// point widened to i32 (null when it has none).
std::pair<Value, Value> buildByteInput(OpBuilder &b, Location loc,
                                       const ByteActivation &a) {
  Value bytes = a.bytes;
  for (Operation *reshape : llvm::reverse(a.reshapes))
    bytes = cloneReshape(b, reshape, bytes);
  if (!a.zeroPoint)
    return {bytes, Value()};
  auto zpType = cast<RankedTensorType>(a.zeroPoint->tensor.getType());
  Value zeroIndex = arith::ConstantIndexOp::create(b, loc, 0);
  SmallVector<Value> indices(zpType.getRank(), zeroIndex);
  Value zp = tensor::ExtractOp::create(b, loc, a.zeroPoint->tensor, indices);
  Type i32 = b.getI32Type();
  Value widened = a.zeroPoint->isUnsigned
                      ? arith::ExtUIOp::create(b, loc, i32, zp).getResult()
                      : arith::ExtSIOp::create(b, loc, i32, zp).getResult();
  return {bytes, widened};
}

//===----------------------------------------------------------------------===//
// Building the quantized product.
//===----------------------------------------------------------------------===//

/// A weight of exact integers split into `bits`-bit values and an offset
/// per output feature and group of `group` input features: value[n, k] =
/// q[n, k] + offset[n * (K / group) + k / group].
struct SplitWeight {
  std::vector<int8_t> q;
  std::vector<int32_t> offset;
  int64_t group = 0;
  unsigned bits = 8;
  bool anyOffset = false;
};

/// Splits the nk matrix `values` (`n` rows of `k`) into `bits`-bit values:
/// each group of `group` values of a row spanning at most 2^bits
/// consecutive integers fits after subtracting the offset closest to zero.
/// Nothing when a group spans more.
std::optional<SplitWeight> splitGroups(ArrayRef<int32_t> values, int64_t n,
                                       int64_t k, int64_t group,
                                       unsigned bits) {
  int32_t lowest = -(1 << (bits - 1)), highest = (1 << (bits - 1)) - 1;
  int64_t groups = k / group;
  SplitWeight r;
  r.group = group;
  r.bits = bits;
  r.q.resize(values.size());
  r.offset.assign(n * groups, 0);
  for (int64_t g = 0; g < n * groups; ++g) {
    ArrayRef<int32_t> v = values.slice(g * group, group);
    if (v.empty())
      continue;
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    if (int64_t(*hi) - *lo > highest - lowest)
      return std::nullopt;
    int32_t offset =
        *hi > highest ? *hi - highest : (*lo < lowest ? *lo - lowest : 0);
    r.offset[g] = offset;
    r.anyOffset |= offset != 0;
    for (int64_t i = 0; i < group; ++i)
      r.q[g * group + i] = static_cast<int8_t>(v[i] - offset);
  }
  return r;
}

/// `result[.., n] = product[.., n] + sum_g correction[g * N + n] * sum_{k
/// in group g} input[.., k]`: the part of a product that the weight's
/// offsets took out, for groups of `group` input features.
Value addRowSumCorrection(OpBuilder &b, Location loc, Value product,
                          Value input, ArrayRef<float> correction,
                          int64_t group, StringRef name) {
  auto inputType = cast<RankedTensorType>(input.getType());
  auto productType = cast<RankedTensorType>(product.getType());
  int64_t rank = inputType.getRank();
  int64_t groups = inputType.getShape().back() / group;
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  // Several groups: the input as [.., groups, group].
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, input);
  sizes.pop_back();
  if (groups > 1) {
    SmallVector<ReassociationIndices> reassociation;
    for (int64_t d = 0; d < rank; ++d)
      reassociation.push_back({d});
    reassociation.back().push_back(rank);
    SmallVector<OpFoldResult> expanded(sizes);
    expanded.push_back(b.getIndexAttr(groups));
    expanded.push_back(b.getIndexAttr(group));
    SmallVector<int64_t> shape(inputType.getShape().drop_back());
    shape.append({groups, group});
    input =
        tensor::ExpandShapeOp::create(b, loc, RankedTensorType::get(shape, f32),
                                      input, reassociation, expanded);
    sizes.push_back(b.getIndexAttr(groups));
    ++rank;
  }
  // Sums over the last dimension: [..] or [.., groups].
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(f32));
  Value sumEmpty = tensor::EmptyOp::create(b, loc, sizes, f32);
  Value sumInit = linalg::FillOp::create(b, loc, zero, sumEmpty).getResult(0);
  AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap leading = identity.getMajorSubMap(rank - 1);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators.back() = utils::IteratorType::reduction;
  Value sums =
      linalg::GenericOp::create(
          b, loc, sumInit.getType(), ValueRange{input}, ValueRange{sumInit},
          ArrayRef<AffineMap>{identity, leading}, iterators,
          [](OpBuilder &nb, Location nloc, ValueRange args) {
            Value sum = arith::AddFOp::create(nb, nloc, args[0], args[1]);
            linalg::YieldOp::create(nb, nloc, sum);
          })
          .getResult(0);
  SmallVector<int64_t> correctionShape;
  if (groups > 1)
    correctionShape.push_back(groups);
  correctionShape.push_back(productType.getShape().back());
  Value c = createResourceConstant<float>(
      b, loc, RankedTensorType::get(correctionShape, f32), name, correction);
  auto body = [](OpBuilder &nb, Location nloc, ValueRange args) {
    Value term = arith::MulFOp::create(nb, nloc, args[1], args[2]);
    Value sum = arith::AddFOp::create(nb, nloc, args[0], term);
    linalg::YieldOp::create(nb, nloc, sum);
  };
  if (groups > 1) {
    // Loops (.., n, g), accumulating into the product.
    AffineExpr n = getAffineDimExpr(rank - 2, ctx);
    AffineExpr g = getAffineDimExpr(rank - 1, ctx);
    SmallVector<AffineExpr> lead;
    for (int64_t d = 0; d < rank - 2; ++d)
      lead.push_back(getAffineDimExpr(d, ctx));
    auto map = [&](ArrayRef<AffineExpr> last) {
      SmallVector<AffineExpr> results(lead);
      results.append(last.begin(), last.end());
      return AffineMap::get(rank, 0, results, ctx);
    };
    return linalg::GenericOp::create(
               b, loc, productType, ValueRange{sums, c}, ValueRange{product},
               ArrayRef<AffineMap>{
                   map({g}), AffineMap::get(rank, 0, {g, n}, ctx), map({n})},
               iterators,
               [&](OpBuilder &nb, Location nloc, ValueRange args) {
                 body(nb, nloc, {args[2], args[0], args[1]});
               })
        .getResult(0);
  }
  AffineMap last = AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx));
  Value init = tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, product), f32);
  return linalg::GenericOp::create(
             b, loc, productType, ValueRange{product, sums, c},
             ValueRange{init},
             ArrayRef<AffineMap>{identity, leading, last, identity},
             SmallVector<utils::IteratorType>(rank,
                                              utils::IteratorType::parallel),
             body)
      .getResult(0);
}

/// The exact integers `stored` of a projection `p`'s weight ([K, N], or
/// [N, K] when p.weightNK) as nk rows of `bits`-bit values with offsets
/// per group of `group` input features; nothing when a group spans more
/// than `bits` bits can hold.
std::optional<SplitWeight> splitWeight(const DenseProjection &p,
                                       ArrayRef<int32_t> stored, int64_t group,
                                       unsigned bits) {
  // Values as nk ([N, K]): one contiguous row per output feature.
  std::vector<int32_t> nk(stored.size());
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t k = 0; k < p.k; ++k)
      nk[n * p.k + k] = p.weightNK ? stored[n * p.k + k] : stored[k * p.n + n];
  return splitGroups(nk, p.n, p.k, group, bits);
}

/// `input * ((q + offset) * scales)` as spx.quant_matmul for a projection
/// `p` whose weight `splitWeight` returned as `split`, and whose output
/// feature n has scales `scales[n * groups + g]` for its groups of
/// split.group input features (one group: one scale per feature).
/// `floatInput` builds the f32 input; with `bytes` the product reads that
/// 8-bit form instead, and the f32 input is only built when the offsets
/// need its row sums.
Value buildQuantizedProduct(OpBuilder &b, Location loc,
                            const DenseProjection &p,
                            function_ref<Value()> floatInput, SplitWeight split,
                            std::vector<float> scales, Type resultType,
                            int64_t &counter,
                            const ByteActivation *bytes = nullptr) {
  int64_t group = split.group == p.k ? 0 : split.group;
  QuantizedWeight w;
  w.bits = split.bits;
  w.group = group;
  w.layout = WeightLayout::nk;
  w.k = p.k;
  w.n = p.n;
  w.q = std::move(split.q);
  w.scales = scales;
  std::string name = "prequantized_" + std::to_string(counter++);
  auto [weight, scaleValues] =
      createQuantizedConstants(b, loc, w, name, /*pack=*/true,
                               /*stacked=*/false);
  MLIRContext *ctx = b.getContext();
  auto layout = WeightLayoutAttr::get(ctx, WeightLayout::nk);
  auto quant = QuantAttr::get(ctx, split.bits, group);
  Value product;
  if (bytes) {
    auto [input, zeroPoint] = buildByteInput(b, loc, *bytes);
    product = QuantMatmulOp::create(
                  b, loc, resultType, input, weight, scaleValues, zeroPoint,
                  /*bias=*/Value(), /*residual=*/Value(),
                  bytes->isUnsigned ? b.getUnitAttr() : UnitAttr(),
                  ActivationAttr::get(ctx, Activation::identity), layout, quant)
                  .getOutput();
  } else {
    product = QuantMatmulOp::create(b, loc, resultType, floatInput(), weight,
                                    scaleValues, layout, quant)
                  .getOutput();
  }
  if (!split.anyOffset)
    return product;
  // [groups, N]: offset * scale of each group.
  int64_t groups = p.k / split.group;
  std::vector<float> correction(groups * p.n);
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t g = 0; g < groups; ++g)
      correction[g * p.n + n] =
          static_cast<float>(split.offset[n * groups + g]) *
          scales[n * groups + g];
  return addRowSumCorrection(b, loc, product, floatInput(), correction,
                             split.group, name + "_offset");
}

/// Groups smaller than this stay dequantized: their scales would cost more
/// than the f32 weight saves.
constexpr int64_t MinGroup = 16;

/// A projection's weight scales by output feature and group of input
/// features.
struct GroupedScales {
  /// The largest size dividing K such that every output feature's scale is
  /// the same on each aligned run of `group` input features (K: one scale
  /// per output feature, also for one scale per tensor).
  int64_t group;
  /// [N, K / group].
  std::vector<float> scales;
};

/// The grouping of `stored`, one scale per element of `p`'s stored weight.
GroupedScales groupScales(const DenseProjection &p, ArrayRef<float> stored) {
  auto at = [&](int64_t k, int64_t n) {
    return p.weightNK ? stored[n * p.k + k] : stored[k * p.n + n];
  };
  int64_t group = p.k;
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t k = 1; k < p.k; ++k)
      if (at(k, n) != at(k - 1, n))
        group = std::gcd(group, k);
  int64_t groups = p.k / group;
  GroupedScales g{group, std::vector<float>(p.n * groups)};
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t i = 0; i < groups; ++i)
      g.scales[n * groups + i] = at(i * group, n);
  return g;
}

struct RaiseDequantizedWeightsPass
    : spx::impl::SpxRaiseDequantizedWeightsBase<RaiseDequantizedWeightsPass> {
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> candidates;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (parsimony::isMulAddContraction(op))
        candidates.push_back(op);
    });
    int64_t counter = 0;
    for (linalg::LinalgOp op : candidates) {
      if (getElementTypeOrSelf(op->getResult(0).getType()).isInteger(32))
        raiseIntegerProduct(op, counter);
      else
        raiseDequantized(op, counter);
    }
  }

  /// x * dequantize(q, scale) -> spx.quant_matmul.
  void raiseDequantized(linalg::LinalgOp op, int64_t &counter) {
    std::optional<Dequantized> found;
    auto weightOf = [&](Value operand, bool &transposed) -> Value {
      operand = lookThroughTranspose(operand, transposed);
      auto generic =
          operand ? operand.getDefiningOp<linalg::GenericOp>() : nullptr;
      if (!generic)
        return {};
      found = matchDequantize(generic);
      return found ? operand : Value();
    };
    std::optional<DenseProjection> p = matchDenseProjection(op, weightOf);
    if (!p || !found)
      return;
    GroupedScales scales = groupScales(*p, found->scales);
    if (scales.group != p->k && scales.group < MinGroup)
      return;
    // Packed int4 (two per byte) where rows and groups allow it and every
    // group's values span at most 16 integers (ONNX INT4/UINT4 weights minus
    // their zero points), else int8.
    std::optional<SplitWeight> split;
    if (p->k % 32 == 0 && scales.group % 32 == 0)
      split = splitWeight(*p, found->q, scales.group, 4);
    if (!split)
      split = splitWeight(*p, found->q, scales.group, 8);
    if (!split)
      return;
    OpBuilder b(op);
    Value product = buildQuantizedProduct(
        b, op.getLoc(), *p, [&] { return p->input; }, std::move(*split),
        std::move(scales.scales), op->getResult(0).getType(), counter);
    op->getResult(0).replaceAllUsesWith(product);
    op->erase();
  }

  /// float((a - a_zp) * (q - zp)) with a constant weight -> spx.quant_matmul
  /// on float(a - a_zp). Only when the integer result is used by casts to
  /// f32 alone: the kernel accumulates in f32, which equals the exact
  /// integer sum rounded to f32 while partial sums stay below 2^24 and
  /// differs from it by float reassociation beyond.
  void raiseIntegerProduct(linalg::LinalgOp op, int64_t &counter) {
    std::optional<IntegerTensor> found;
    auto weightOf = [&](Value operand, bool &transposed) -> Value {
      operand = lookThroughTranspose(operand, transposed);
      RankedTensorType type = operand ? smallStaticType(operand) : nullptr;
      if (!type || type.getRank() != 2)
        return {};
      found = evaluateInteger(operand);
      return found ? operand : Value();
    };
    std::optional<DenseProjection> p =
        matchDenseProjection(op, weightOf, /*integer=*/true);
    if (!p || !found)
      return;
    // Activations of 8-bit origin: exact in f32, and so are their products
    // with the int8 weight.
    std::optional<int64_t> bound = integerMagnitudeBound(p->input);
    if (!bound || *bound > (1 << 16))
      return;
    // Every use converts to f32, directly or after a reshape (the importer
    // flattens leading dimensions around the matmul).
    Value result = op->getResult(0);
    auto convertsToF32 = [](Operation *user) {
      if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(user))
        return !user->use_empty() &&
               llvm::all_of(user->getUsers(), isSignedToF32Cast);
      return isSignedToF32Cast(user);
    };
    if (result.use_empty() || !llvm::all_of(result.getUsers(), convertsToF32))
      return;
    std::optional<SplitWeight> split =
        splitWeight(*p, found->values, p->k, /*bits=*/8);
    if (!split)
      return;
    OpBuilder b(op);
    Location loc = op.getLoc();
    // float(a - a_zp), built once if needed.
    Value floatInput;
    auto buildFloatInput = [&]() -> Value {
      if (floatInput)
        return floatInput;
      auto inputType = cast<RankedTensorType>(p->input.getType());
      Value empty = tensor::EmptyOp::create(
          b, loc, tensor::getMixedSizes(b, loc, p->input), b.getF32Type());
      AffineMap identity = AffineMap::getMultiDimIdentityMap(
          inputType.getRank(), b.getContext());
      floatInput =
          linalg::GenericOp::create(
              b, loc, inputType.clone(b.getF32Type()), ValueRange{p->input},
              ValueRange{empty}, ArrayRef<AffineMap>{identity, identity},
              SmallVector<utils::IteratorType>(inputType.getRank(),
                                               utils::IteratorType::parallel),
              [&](OpBuilder &nb, Location nloc, ValueRange args) {
                linalg::YieldOp::create(
                    nb, nloc,
                    arith::SIToFPOp::create(nb, nloc, nb.getF32Type(), args[0])
                        .getResult());
              })
              .getResult(0);
      return floatInput;
    };
    // An activation that is 8-bit values minus a scalar zero point is read
    // as bytes by the kernel (exact integer dot products where the CPU has
    // them).
    std::optional<ByteActivation> bytes = matchByteActivation(p->input);
    auto resultType =
        cast<RankedTensorType>(result.getType()).clone(b.getF32Type());
    Value product =
        buildQuantizedProduct(b, loc, *p, buildFloatInput, std::move(*split),
                              std::vector<float>(p->n, 1.0f), resultType,
                              counter, bytes ? &*bytes : nullptr);
    auto replaceCasts = [](Value integer, Value replacement) {
      for (Operation *cast : llvm::to_vector(integer.getUsers())) {
        cast->getResult(0).replaceAllUsesWith(replacement);
        cast->erase();
      }
    };
    for (Operation *user : llvm::to_vector(result.getUsers())) {
      if (!isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(user))
        continue;
      // The same reshape of the f32 product.
      b.setInsertionPoint(user);
      replaceCasts(user->getResult(0), cloneReshape(b, user, product));
      user->erase();
    }
    replaceCasts(result, product);
    op->erase();
  }
};

} // namespace
