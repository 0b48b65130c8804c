//===- InsertRuntimeChecks.cpp - assert what only run time knows ----------===//
//
// Sizes computed from tensor contents reach tensor ops that are undefined
// when the sizes disagree (a cast to a static size, a reshape to another
// element count, operands of a linalg op). Each such op gets a cf.assert
// before it; --parsimony-lower-runtime-checks turns the asserts into an
// error the model library returns.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/TypeSwitch.h"

namespace parsimony {
#define GEN_PASS_DEF_INSERTRUNTIMECHECKS
#include "parsimony/Conversion/Passes.h.inc"
} // namespace parsimony

using namespace mlir;

namespace {

/// " (node 'NAME')" for the first name in `loc` (the importer names each
/// op after its ONNX node).
std::string describeLocation(Location loc) {
  std::string name;
  loc->walk([&](Location nested) {
    if (auto named = dyn_cast<NameLoc>(nested)) {
      name = named.getName().str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return name.empty() ? std::string() : " (node '" + name + "')";
}

/// Builds one check before an op: conditions are and-ed with folding, and
/// the assert is only created if the result is not known to hold.
class Check {
public:
  explicit Check(Operation *op) : b(op), loc(op->getLoc()) {}

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value index(OpFoldResult v) {
    return getValueOrCreateConstantIndexOp(b, loc, v);
  }
  Value dim(Value tensor, int64_t d) {
    return b.createOrFold<tensor::DimOp>(loc, tensor, d);
  }
  Value cmp(arith::CmpIPredicate predicate, Value lhs, Value rhs) {
    return b.createOrFold<arith::CmpIOp>(loc, predicate, lhs, rhs);
  }

  void require(Value cond) {
    if (matchPattern(cond, m_One()))
      return;
    condition =
        condition ? b.createOrFold<arith::AndIOp>(loc, condition, cond) : cond;
  }

  /// Requires that `factors` (index values, each checked non-negative)
  /// multiply to `expected`. The product is taken in f64, which cannot
  /// wrap: it equals `expected` (an element count, below 2^53) only if the
  /// exact product does, since rounding only happens above 2^53.
  void requireProduct(ArrayRef<Value> factors, Value expected) {
    Value product = productOf(factors);
    require(b.createOrFold<arith::CmpFOp>(loc, arith::CmpFPredicate::OEQ,
                                          product, toF64(expected)));
  }

  /// The product of `factors` in f64; requires each to be non-negative.
  Value productOf(ArrayRef<Value> factors) {
    Value product = arith::ConstantOp::create(b, loc, b.getF64FloatAttr(1.0));
    for (Value f : factors) {
      require(cmp(arith::CmpIPredicate::sge, f, index(0)));
      product = b.createOrFold<arith::MulFOp>(loc, product, toF64(f));
    }
    return product;
  }

  Value toF64(Value v) {
    Value i = b.createOrFold<arith::IndexCastOp>(loc, b.getI64Type(), v);
    return b.createOrFold<arith::SIToFPOp>(loc, b.getF64Type(), i);
  }

  /// Requires non-negative `factors` whose product (in f64, see above) is
  /// at most `limit`.
  void requireProductAtMost(ArrayRef<Value> factors, int64_t limit) {
    Value product = productOf(factors);
    Value bound =
        arith::ConstantOp::create(b, loc, b.getF64FloatAttr(double(limit)));
    require(b.createOrFold<arith::CmpFOp>(loc, arith::CmpFPredicate::OLE,
                                          product, bound));
  }

  /// Element count of `tensor` (index).
  Value count(Value tensor) {
    Value n = index(1);
    for (int64_t d = 0, e = cast<ShapedType>(tensor.getType()).getRank(); d < e;
         ++d)
      n = b.createOrFold<arith::MulIOp>(loc, n, dim(tensor, d));
    return n;
  }

  /// Requires `offset + k * stride` for k in [0, size) to lie in [0, dim).
  void requireInside(Value offset, Value size, Value stride, Value dimSize) {
    using P = arith::CmpIPredicate;
    Value zero = index(0);
    require(cmp(P::sge, size, zero));
    Value last = b.createOrFold<arith::AddIOp>(
        loc, offset,
        b.createOrFold<arith::MulIOp>(
            loc, b.createOrFold<arith::SubIOp>(loc, size, index(1)), stride));
    Value lo = b.createOrFold<arith::MinSIOp>(loc, offset, last);
    Value hi = b.createOrFold<arith::MaxSIOp>(loc, offset, last);
    Value inside = b.createOrFold<arith::AndIOp>(loc, cmp(P::sge, lo, zero),
                                                 cmp(P::slt, hi, dimSize));
    // An empty slice may start at the end.
    Value empty = b.createOrFold<arith::AndIOp>(
        loc, cmp(P::eq, size, zero),
        b.createOrFold<arith::AndIOp>(loc, cmp(P::sge, offset, zero),
                                      cmp(P::sle, offset, dimSize)));
    require(b.createOrFold<arith::OrIOp>(loc, inside, empty));
  }

  /// Creates the assert unless the condition folded to true.
  void emit(const Twine &what) {
    if (condition && !matchPattern(condition, m_One()))
      cf::AssertOp::create(b, loc, condition,
                           (what + describeLocation(loc)).str());
    condition = Value();
  }

  OpBuilder b;
  Location loc;

private:
  Value condition;
};

bool hasDynamicDims(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && !type.hasStaticShape();
}

void checkCast(tensor::CastOp op) {
  auto src = dyn_cast<RankedTensorType>(op.getSource().getType());
  auto dst = dyn_cast<RankedTensorType>(op.getType());
  if (!src || !dst)
    return;
  for (int64_t d = 0; d < dst.getRank(); ++d) {
    if (!src.isDynamicDim(d) || dst.isDynamicDim(d))
      continue;
    Check check(op);
    check.require(check.cmp(arith::CmpIPredicate::eq,
                            check.dim(op.getSource(), d),
                            check.index(dst.getDimSize(d))));
    check.emit("a size computed at run time (dimension " + Twine(d) +
               ") is not " + Twine(dst.getDimSize(d)) +
               ", the size the model's shapes give it");
  }
}

void checkReshape(tensor::ReshapeOp op) {
  auto shapeType = cast<RankedTensorType>(op.getShape().getType());
  auto dst = cast<RankedTensorType>(op.getType());
  if (!shapeType.hasStaticShape())
    return;
  Check check(op);
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < shapeType.getDimSize(0); ++i) {
    Value e = check.b.createOrFold<tensor::ExtractOp>(
        check.loc, op.getShape(), ValueRange{check.index(i)});
    if (!e.getType().isIndex())
      e = check.b.createOrFold<arith::IndexCastOp>(check.loc,
                                                   check.b.getIndexType(), e);
    sizes.push_back(e);
  }
  check.requireProduct(sizes, check.count(op.getSource()));
  check.emit("a shape computed at run time has a negative size or another "
             "element count than the tensor it reshapes");
  for (auto [i, size] : llvm::enumerate(sizes)) {
    if (dst.isDynamicDim(i))
      continue;
    check.require(check.cmp(arith::CmpIPredicate::eq, size,
                            check.index(dst.getDimSize(i))));
    check.emit("a shape computed at run time has a size (dimension " +
               Twine(i) + ") other than " + Twine(dst.getDimSize(i)) +
               ", the size the model's shapes give it");
  }
}

void checkExpandShape(tensor::ExpandShapeOp op) {
  if (op.getResultType().hasStaticShape() && op.getSrcType().hasStaticShape())
    return; // verified statically
  Check check(op);
  SmallVector<OpFoldResult> outSizes = op.getMixedOutputShape();
  for (auto [srcDim, group] : llvm::enumerate(op.getReassociationIndices())) {
    SmallVector<Value> factors;
    for (int64_t d : group)
      factors.push_back(check.index(outSizes[d]));
    check.requireProduct(factors, check.dim(op.getSrc(), srcDim));
  }
  check.emit("sizes computed at run time split a dimension into parts that "
             "do not multiply to its size");
}

/// Sizes are non-negative, and the tensor is not absurdly large (a Range
/// or ConstantOfShape from garbage contents would otherwise ask for
/// exabytes, and the allocation's failure would be a crash).
void checkEmpty(tensor::EmptyOp op) {
  if (op.getDynamicSizes().empty())
    return;
  Check check(op);
  RankedTensorType type = op.getType();
  SmallVector<Value> sizes;
  for (OpFoldResult size : op.getMixedSizes())
    sizes.push_back(check.index(size));
  unsigned bits = type.getElementType().isIntOrFloat()
                      ? type.getElementType().getIntOrFloatBitWidth()
                      : 64;
  int64_t maxElements = (int64_t(1) << 43) / std::max(bits, 8u);
  check.requireProductAtMost(sizes, maxElements);
  check.emit("a size computed at run time is negative or makes a tensor of "
             "more than 1 TiB");
}

void checkConcat(tensor::ConcatOp op) {
  if (llvm::none_of(op.getInputs(), hasDynamicDims))
    return;
  auto resultType = cast<RankedTensorType>(op.getType());
  Check check(op);
  Value first = op.getInputs().front();
  for (int64_t d = 0; d < resultType.getRank(); ++d) {
    if (d == int64_t(op.getDim()))
      continue;
    Value reference = resultType.isDynamicDim(d)
                          ? check.dim(first, d)
                          : check.index(resultType.getDimSize(d));
    for (Value input : op.getInputs())
      check.require(
          check.cmp(arith::CmpIPredicate::eq, check.dim(input, d), reference));
  }
  check.emit("tensors joined by a concatenation have sizes computed at run "
             "time that differ outside the concatenation axis");
}

/// Slices with runtime offsets, sizes or strides lie inside `whole`.
void checkSlice(OffsetSizeAndStrideOpInterface op, Value whole,
                StringRef what) {
  if (op.getOffsets().empty() && op.getSizes().empty() &&
      op.getStrides().empty())
    return;
  Check check(op);
  for (int64_t d = 0, e = cast<RankedTensorType>(whole.getType()).getRank();
       d < e; ++d)
    check.requireInside(check.index(op.getMixedOffsets()[d]),
                        check.index(op.getMixedSizes()[d]),
                        check.index(op.getMixedStrides()[d]),
                        check.dim(whole, d));
  check.emit(Twine("a ") + what +
             " at offsets or sizes computed at run time runs outside the "
             "tensor");
}

void checkInsertSlice(tensor::InsertSliceOp op) {
  checkSlice(op, op.getDest(), "slice written");
  if (op.getSourceType().getRank() != op.getDestType().getRank() ||
      !hasDynamicDims(op.getSource()))
    return;
  Check check(op);
  for (auto [d, size] : llvm::enumerate(op.getMixedSizes()))
    check.require(check.cmp(arith::CmpIPredicate::eq,
                            check.dim(op.getSource(), d), check.index(size)));
  check.emit("a tensor of sizes computed at run time does not fit the slice "
             "it is written to");
}

/// Operand dimensions a linalg op's indexing maps tie to one loop (a plain
/// dN result) must agree; linalg's verifier checks the static ones.
void checkLinalg(linalg::LinalgOp op) {
  if (!op.hasPureTensorSemantics() ||
      llvm::none_of(op->getOperands(), hasDynamicDims))
    return;
  Check check(op);
  DenseMap<unsigned, Value> loopSize;
  for (OpOperand &operand : op->getOpOperands()) {
    auto type = dyn_cast<RankedTensorType>(operand.get().getType());
    if (!type)
      continue;
    AffineMap map = op.getMatchingIndexingMap(&operand);
    for (auto [d, expr] : llvm::enumerate(map.getResults())) {
      auto loop = dyn_cast<AffineDimExpr>(expr);
      if (!loop)
        continue;
      Value size = check.dim(operand.get(), d);
      auto [it, inserted] = loopSize.try_emplace(loop.getPosition(), size);
      if (!inserted)
        check.require(check.cmp(arith::CmpIPredicate::eq, it->second, size));
    }
  }
  check.emit("operands with sizes computed at run time disagree on a "
             "dimension they share");
}

struct InsertRuntimeChecksPass
    : parsimony::impl::InsertRuntimeChecksBase<InsertRuntimeChecksPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() || func.isPrivate())
        continue;
      // Ops under host control flow only: a check inside a linalg body
      // would sit in an inner loop (or a GPU kernel).
      SmallVector<Operation *> ops;
      func.walk<WalkOrder::PreOrder>([&](Operation *op) {
        ops.push_back(op);
        return isa<scf::ForOp, scf::WhileOp, scf::IfOp, func::FuncOp>(op)
                   ? WalkResult::advance()
                   : WalkResult::skip();
      });
      for (Operation *op : ops)
        llvm::TypeSwitch<Operation *>(op)
            .Case<tensor::CastOp>(checkCast)
            .Case<tensor::ReshapeOp>(checkReshape)
            .Case<tensor::ExpandShapeOp>(checkExpandShape)
            .Case<tensor::EmptyOp>(checkEmpty)
            .Case<tensor::ConcatOp>(checkConcat)
            .Case<tensor::ExtractSliceOp>([](tensor::ExtractSliceOp slice) {
              checkSlice(slice, slice.getSource(), "slice read");
            })
            .Case<tensor::InsertSliceOp>(checkInsertSlice)
            .Case<linalg::LinalgOp>(checkLinalg);
    }
  }
};

} // namespace
