//===- RaiseSparseIdioms.cpp - exported sparse idioms -> spx
//---------------===//
//
// Matches the tensor-level IR the ONNX importer emits for top-k activations,
// FFN blocks and MoE routers and rewrites them into spx ops. The matchers
// follow the importer's canonical emission:
//
//   * elementwise ONNX ops: one all-parallel linalg.generic each, whose body
//     computes the yielded value from block arguments and scalar constants;
//   * MatMul: linalg.matmul (zero-filled init) on 2-D operands, wrapped in
//     tensor.collapse_shape / tensor.expand_shape for N-D x 2-D; Gemm's
//     transB as a linalg.transpose of B;
//   * Softmax: reduce-max, subtract, exp, reduce-sum, divide;
//   * TopK and ScatterElements: calls to private helpers tagged `onnx.op`.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Dialect/Spx/Transforms/Passes.h"

#include "parsimony/Dialect/Spx/IR/SpxDialect.h"
#include "parsimony/Dialect/Spx/IR/SpxOps.h"

#include "parsimony/Dialect/Spx/Transforms/WeightConstants.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SetVector.h"

#include <cmath>

namespace mlir::spx {
#define GEN_PASS_DEF_SPXRAISESPARSEIDIOMS
#include "parsimony/Dialect/Spx/Transforms/Passes.h.inc"
} // namespace mlir::spx

using namespace mlir;
using namespace mlir::spx;

namespace {

//===----------------------------------------------------------------------===//
// Generic matching helpers
//===----------------------------------------------------------------------===//

RankedTensorType rankedType(Value v) {
  return dyn_cast<RankedTensorType>(v.getType());
}

/// A splat floating-point constant: a scalar arith.constant or a splat dense
/// tensor constant.
std::optional<double> splatValue(Value v) {
  if (!v)
    return std::nullopt;
  // A tensor filled with a constant is a splat too.
  if (auto fill = v.getDefiningOp<linalg::FillOp>())
    return splatValue(fill.getInputs()[0]);
  Attribute attr;
  if (!matchPattern(v, m_Constant(&attr)))
    return std::nullopt;
  if (auto f = dyn_cast<FloatAttr>(attr))
    return f.getValueAsDouble();
  if (auto i = dyn_cast<IntegerAttr>(attr))
    return static_cast<double>(i.getInt());
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (!dense.isSplat())
      return std::nullopt;
    if (isa<FloatType>(dense.getElementType()))
      return dense.getSplatValue<APFloat>().convertToDouble();
    if (isa<IntegerType>(dense.getElementType()))
      return static_cast<double>(dense.getSplatValue<APInt>().getSExtValue());
  }
  return std::nullopt;
}

bool isApprox(std::optional<double> v, double want, double tol = 1e-3) {
  return v && std::fabs(*v - want) <= tol * std::max(1.0, std::fabs(want));
}

/// A tensor equal to zeros: a splat-zero constant or a zero linalg.fill.
bool isZeroTensor(Value v) {
  if (isApprox(splatValue(v), 0.0, 0.0))
    return true;
  if (auto fill = v.getDefiningOp<linalg::FillOp>())
    return isApprox(splatValue(fill.getInputs()[0]), 0.0, 0.0);
  return false;
}

/// An all-parallel linalg.generic with one result and an identity output map.
linalg::GenericOp elementwiseProducer(Value v) {
  auto g = v.getDefiningOp<linalg::GenericOp>();
  if (!g || g.getNumDpsInits() != 1 || g->getNumResults() != 1 ||
      g.getNumLoops() != g.getNumParallelLoops())
    return {};
  if (!g.getIndexingMapsArray().back().isIdentity())
    return {};
  return g;
}

/// One operand of an elementwise body op, seen from outside the generic.
struct EwOperand {
  Value tensor;                 // the generic input feeding it, if any
  AffineMap map;                // its indexing map
  std::optional<double> scalar; // its splat constant value, if constant
};

std::optional<EwOperand> resolveOperand(linalg::GenericOp g, Value bodyValue) {
  EwOperand r;
  if (auto arg = dyn_cast<BlockArgument>(bodyValue)) {
    if (arg.getOwner() != g.getBody() ||
        arg.getArgNumber() >= g.getNumDpsInputs())
      return std::nullopt;
    OpOperand *operand = g.getDpsInputOperand(arg.getArgNumber());
    r.tensor = operand->get();
    r.map = g.getMatchingIndexingMap(operand);
    r.scalar = splatValue(r.tensor);
    return r;
  }
  r.scalar = splatValue(bodyValue);
  if (!r.scalar)
    return std::nullopt;
  return r;
}

/// Matches `v = generic { yield OpTy(a, b) }` (or unary `OpTy(a)`), returning
/// the operands as seen from outside.
template <typename OpTy>
std::optional<SmallVector<EwOperand>> matchElementwise(Value v) {
  linalg::GenericOp g = elementwiseProducer(v);
  if (!g)
    return std::nullopt;
  auto yield = cast<linalg::YieldOp>(g.getBody()->getTerminator());
  auto op = yield.getOperand(0).getDefiningOp<OpTy>();
  if (!op || op->getBlock() != g.getBody())
    return std::nullopt;
  // The body must be just this op (plus scalar constants).
  for (Operation &inner : g.getBody()->without_terminator())
    if (&inner != op.getOperation() && !isa<arith::ConstantOp>(inner))
      return std::nullopt;
  SmallVector<EwOperand> result;
  for (Value operand : op->getOperands()) {
    std::optional<EwOperand> r = resolveOperand(g, operand);
    if (!r)
      return std::nullopt;
    result.push_back(*r);
  }
  return result;
}

/// Whether `e` reads `expected` elementwise (identity map, same shape as v).
bool isFullOperand(const EwOperand &e, Value expected, Value result) {
  return e.tensor == expected && e.map && e.map.isIdentity() &&
         rankedType(expected) &&
         rankedType(expected).getShape() == rankedType(result).getShape();
}

/// Tracks ops a match consumes so that single-use conditions can be checked.
struct MatchSet {
  llvm::SetVector<Operation *> ops;
  void add(Value v) {
    if (Operation *op = v.getDefiningOp())
      ops.insert(op);
  }
  void add(Operation *op) {
    if (op)
      ops.insert(op);
  }
  /// Every result of every matched op except `root`'s is used only by
  /// matched ops.
  /// Shape queries (tensor.dim) count as matched when only matched ops use
  /// them.
  bool isClosed(Operation *root) const {
    auto isMatchedUse = [&](Operation *user) {
      if (ops.contains(user))
        return true;
      if (!isa<tensor::DimOp>(user))
        return false;
      return llvm::all_of(user->getUsers(),
                          [&](Operation *u) { return ops.contains(u); });
    };
    for (Operation *op : ops) {
      if (op == root)
        continue;
      if (!llvm::all_of(op->getUsers(), isMatchedUse))
        return false;
    }
    return true;
  }
};

//===----------------------------------------------------------------------===//
// Matmuls and biases
//===----------------------------------------------------------------------===//

struct MatmulMatch {
  Value lhs;    // N-D activations [..., K]
  Value weight; // 2-D weight as stored
  WeightLayout layout = WeightLayout::kn;
  Value weightKN; // the [K, N] operand of the matmul
};

bool isZeroInit(Value init) { return isZeroTensor(init); }

/// Matches the importer's MatMul/Gemm emission producing `v`.
std::optional<MatmulMatch> matchMatmul(Value v, MatchSet &set) {
  Value product = v;
  tensor::ExpandShapeOp expand = v.getDefiningOp<tensor::ExpandShapeOp>();
  if (expand)
    product = expand.getSrc();
  auto mm = product.getDefiningOp<linalg::MatmulOp>();
  if (!mm || mm.hasUserDefinedMaps() || !isZeroInit(mm.getOutputs()[0]))
    return std::nullopt;
  MatmulMatch m;
  Value lhs = mm.getInputs()[0];
  m.weightKN = mm.getInputs()[1];
  if (expand) {
    auto collapse = lhs.getDefiningOp<tensor::CollapseShapeOp>();
    if (!collapse ||
        collapse.getReassociationIndices() != expand.getReassociationIndices())
      return std::nullopt;
    m.lhs = collapse.getSrc();
    set.add(collapse.getOperation());
    set.add(expand.getOperation());
  } else {
    m.lhs = lhs;
  }
  set.add(mm);
  set.add(mm.getOutputs()[0]);
  if (auto fill = mm.getOutputs()[0].getDefiningOp<linalg::FillOp>())
    set.add(fill.getOutputs()[0]);
  m.weight = m.weightKN;
  if (auto tr = m.weightKN.getDefiningOp<linalg::TransposeOp>()) {
    if (tr.getPermutation() == ArrayRef<int64_t>{1, 0}) {
      m.weight = tr.getInput();
      m.layout = WeightLayout::nk;
      set.add(tr);
      set.add(tr.getInit());
    }
  }
  return m;
}

/// Matches `v = x + bias` with a 1-D bias over the last dimension; returns
/// (x, bias).
std::optional<std::pair<Value, Value>> matchBiasAdd(Value v) {
  std::optional<SmallVector<EwOperand>> ops =
      matchElementwise<arith::AddFOp>(v);
  if (!ops)
    return std::nullopt;
  auto type = rankedType(v);
  for (int i = 0; i < 2; ++i) {
    const EwOperand &x = (*ops)[i], &bias = (*ops)[1 - i];
    if (!x.tensor || !bias.tensor || !isFullOperand(x, x.tensor, v))
      continue;
    auto bt = rankedType(bias.tensor);
    if (!bt || bt.getRank() != 1 || bias.map.getNumResults() != 1 ||
        bias.map.getResult(0) !=
            getAffineDimExpr(type.getRank() - 1, v.getContext()))
      continue;
    if (bt.getDimSize(0) != type.getShape().back())
      continue;
    return std::make_pair(x.tensor, bias.tensor);
  }
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Activations
//===----------------------------------------------------------------------===//

/// sigmoid(x) as 1 / (1 + exp(-x)); returns x.
Value matchSigmoid(Value v, MatchSet &set) {
  linalg::GenericOp g = elementwiseProducer(v);
  if (!g || g.getNumDpsInputs() != 1)
    return {};
  auto yield = cast<linalg::YieldOp>(g.getBody()->getTerminator());
  auto div = yield.getOperand(0).getDefiningOp<arith::DivFOp>();
  if (!div || !isApprox(splatValue(div.getLhs()), 1.0, 0.0))
    return {};
  auto add = div.getRhs().getDefiningOp<arith::AddFOp>();
  if (!add)
    return {};
  Value e = isApprox(splatValue(add.getLhs()), 1.0, 0.0) ? add.getRhs()
                                                         : add.getLhs();
  auto exp = e.getDefiningOp<math::ExpOp>();
  if (!exp)
    return {};
  auto neg = exp.getOperand().getDefiningOp<arith::NegFOp>();
  if (!neg || neg.getOperand() != g.getBody()->getArgument(0))
    return {};
  Value x = g.getDpsInputOperand(0)->get();
  if (!g.getMatchingIndexingMap(g.getDpsInputOperand(0)).isIdentity())
    return {};
  set.add(g);
  set.add(g.getDpsInits()[0]);
  return x;
}

/// Collects the factors of a product tree of elementwise multiplications.
void collectFactors(Value v, int depth, SmallVectorImpl<EwOperand> &factors,
                    MatchSet &set, Value result) {
  if (depth > 0) {
    if (std::optional<SmallVector<EwOperand>> ops =
            matchElementwise<arith::MulFOp>(v)) {
      bool ok = llvm::all_of(*ops, [&](const EwOperand &o) {
        return o.scalar || (o.tensor && isFullOperand(o, o.tensor, result));
      });
      if (ok) {
        set.add(v);
        set.add(v.getDefiningOp<linalg::GenericOp>().getDpsInits()[0]);
        for (const EwOperand &o : *ops) {
          if (o.tensor && !o.scalar)
            collectFactors(o.tensor, depth - 1, factors, set, result);
          else
            factors.push_back(o);
        }
        return;
      }
    }
  }
  EwOperand leaf;
  leaf.tensor = v;
  factors.push_back(leaf);
}

/// Matches act(u) producing `v`; returns u.
Value matchActivation(Value v, Activation &act, MatchSet &set) {
  // relu: max(u, 0)
  if (auto ops = matchElementwise<arith::MaximumFOp>(v)) {
    for (int i = 0; i < 2; ++i) {
      const EwOperand &u = (*ops)[i], &zero = (*ops)[1 - i];
      if (u.tensor && !u.scalar && isFullOperand(u, u.tensor, v) &&
          isApprox(zero.scalar, 0.0, 0.0)) {
        act = Activation::relu;
        set.add(v);
        set.add(v.getDefiningOp<linalg::GenericOp>().getDpsInits()[0]);
        return u.tensor;
      }
    }
  }
  // sigmoid
  {
    MatchSet local;
    if (Value u = matchSigmoid(v, local)) {
      act = Activation::sigmoid;
      set.ops.insert(local.ops.begin(), local.ops.end());
      return u;
    }
  }
  // silu: u * sigmoid(u); gelu: u * 0.5 * (1 + erf(u / sqrt 2))
  MatchSet local;
  SmallVector<EwOperand> factors;
  collectFactors(v, 3, factors, local, v);
  if (factors.size() == 2) {
    for (int i = 0; i < 2; ++i) {
      Value u = factors[i].tensor, s = factors[1 - i].tensor;
      if (!u || !s || factors[0].scalar || factors[1].scalar)
        continue;
      MatchSet sig;
      if (matchSigmoid(s, sig) == u) {
        act = Activation::silu;
        set.ops.insert(local.ops.begin(), local.ops.end());
        set.ops.insert(sig.ops.begin(), sig.ops.end());
        return u;
      }
    }
  }
  if (factors.size() == 3) {
    // One 0.5 constant, u, and 1 + erf(u / sqrt2).
    double half = 0;
    SmallVector<Value> tensors;
    for (const EwOperand &f : factors) {
      if (f.scalar)
        half = *f.scalar;
      else if (f.tensor)
        tensors.push_back(f.tensor);
    }
    if (tensors.size() == 2 && isApprox(half, 0.5)) {
      for (int i = 0; i < 2; ++i) {
        Value u = tensors[i], t = tensors[1 - i];
        auto add = matchElementwise<arith::AddFOp>(t);
        if (!add)
          continue;
        Value erfOut;
        for (int j = 0; j < 2; ++j)
          if (isApprox((*add)[1 - j].scalar, 1.0) && (*add)[j].tensor &&
              !(*add)[j].scalar &&
              isFullOperand((*add)[j], (*add)[j].tensor, t))
            erfOut = (*add)[j].tensor;
        if (!erfOut)
          continue;
        auto erf = matchElementwise<math::ErfOp>(erfOut);
        if (!erf || !(*erf)[0].tensor ||
            !isFullOperand((*erf)[0], (*erf)[0].tensor, erfOut))
          continue;
        Value scaled = (*erf)[0].tensor;
        bool scaledOk = false;
        if (auto div = matchElementwise<arith::DivFOp>(scaled))
          scaledOk = (*div)[0].tensor == u &&
                     isFullOperand((*div)[0], u, scaled) &&
                     isApprox((*div)[1].scalar, std::sqrt(2.0));
        else if (auto mul = matchElementwise<arith::MulFOp>(scaled))
          for (int j = 0; j < 2; ++j)
            scaledOk |= (*mul)[j].tensor == u && !(*mul)[j].scalar &&
                        isFullOperand((*mul)[j], u, scaled) &&
                        isApprox((*mul)[1 - j].scalar, 1.0 / std::sqrt(2.0));
        if (!scaledOk)
          continue;
        act = Activation::gelu;
        set.ops.insert(local.ops.begin(), local.ops.end());
        for (Value w : {t, erfOut, scaled}) {
          set.add(w);
          set.add(w.getDefiningOp<linalg::GenericOp>().getDpsInits()[0]);
        }
        return u;
      }
    }
  }
  return {};
}

//===----------------------------------------------------------------------===//
// TopK helpers
//===----------------------------------------------------------------------===//

/// The `onnx.op` tag of the helper a call targets.
StringRef helperKind(func::CallOp call, func::FuncOp &callee) {
  callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
      call, call.getCalleeAttr());
  if (!callee)
    return {};
  auto kind = callee->getAttrOfType<StringAttr>("onnx.op");
  return kind ? kind.getValue() : StringRef();
}

struct TopKMatch {
  func::CallOp call;
  Value input;
  int64_t k = 0;
};

/// A call to the TopK helper over the last axis, largest first, static k.
std::optional<TopKMatch> matchTopKCall(Value v) {
  auto call = v.getDefiningOp<func::CallOp>();
  if (!call)
    return std::nullopt;
  func::FuncOp callee;
  if (helperKind(call, callee) != "TopK" || call.getNumOperands() != 2)
    return std::nullopt;
  auto largest = callee->getAttrOfType<BoolAttr>("onnx.largest");
  auto axis = callee->getAttrOfType<IntegerAttr>("onnx.axis");
  auto inputType = rankedType(call.getOperand(0));
  auto valuesType = rankedType(call.getResult(0));
  if (!largest || !largest.getValue() || !axis || !inputType || !valuesType ||
      axis.getInt() != inputType.getRank() - 1)
    return std::nullopt;
  int64_t k = valuesType.getShape().back();
  if (ShapedType::isDynamic(k) || k <= 0)
    return std::nullopt;
  return TopKMatch{call, call.getOperand(0), k};
}

bool isRaisableFloat(Type t) { return t.isF32() || t.isF16() || t.isBF16(); }

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

struct RaiseSparseIdioms
    : public spx::impl::SpxRaiseSparseIdiomsBase<RaiseSparseIdioms> {
  using Base::Base;
  void runOnOperation() override;

  void raiseTopKScatter(IRRewriter &rewriter, func::CallOp scatter);
  void raiseTopKThreshold(IRRewriter &rewriter, linalg::GenericOp root);
  void raiseFFN(IRRewriter &rewriter, Operation *root);
  void raiseRouter(IRRewriter &rewriter, func::CallOp topk);
  void raiseMoE(IRRewriter &rewriter, Operation *root);

  void replaceWithTopK(IRRewriter &rewriter, Operation *root, Value x,
                       int64_t k) {
    auto type = rankedType(x);
    if (!type || !isRaisableFloat(type.getElementType()) ||
        root->getResult(0).getType() != x.getType())
      return;
    rewriter.setInsertionPoint(root);
    auto op = TopKActivationOp::create(
        rewriter, root->getLoc(), x.getType(), x, rewriter.getI64IntegerAttr(k),
        rewriter.getI64IntegerAttr(-1),
        TopKModeAttr::get(rewriter.getContext(), TopKMode::exact),
        rewriter.getF32FloatAttr(0.95f));
    rewriter.replaceOp(root, op.getResult());
  }
};

void RaiseSparseIdioms::raiseTopKScatter(IRRewriter &rewriter,
                                         func::CallOp scatter) {
  func::FuncOp callee;
  if (helperKind(scatter, callee) != "ScatterElements" ||
      scatter.getNumOperands() != 3)
    return;
  auto reduction = callee->getAttrOfType<StringAttr>("onnx.reduction");
  auto axis = callee->getAttrOfType<IntegerAttr>("onnx.axis");
  auto dataType = rankedType(scatter.getOperand(0));
  if (!reduction || reduction.getValue() != "none" || !axis || !dataType ||
      axis.getInt() != dataType.getRank() - 1)
    return;
  Value data = scatter.getOperand(0), indices = scatter.getOperand(1),
        updates = scatter.getOperand(2);
  std::optional<TopKMatch> topk = matchTopKCall(updates);
  if (!topk || updates != topk->call.getResult(0) ||
      indices != topk->call.getResult(1))
    return;
  if (!isZeroTensor(data) || data.getType() != topk->input.getType())
    return;
  replaceWithTopK(rewriter, scatter, topk->input, topk->k);
}

/// Peels the k-th value extraction: returns the TopK whose values slice at
/// position k-1 of the last axis produces `kth` (shape [..., 1] or [...]).
std::optional<TopKMatch> matchKthValue(Value kth) {
  Value v = kth;
  // Unsqueeze / squeeze wrappers.
  while (true) {
    if (auto e = v.getDefiningOp<tensor::ExpandShapeOp>()) {
      v = e.getSrc();
      continue;
    }
    if (auto c = v.getDefiningOp<tensor::CollapseShapeOp>()) {
      v = c.getSrc();
      continue;
    }
    break;
  }
  auto slice = v.getDefiningOp<tensor::ExtractSliceOp>();
  if (!slice)
    return std::nullopt;
  std::optional<TopKMatch> topk = matchTopKCall(slice.getSource());
  if (!topk || slice.getSource() != topk->call.getResult(0))
    return std::nullopt;
  auto srcType = rankedType(slice.getSource());
  int64_t last = srcType.getRank() - 1;
  ArrayRef<int64_t> offsets = slice.getStaticOffsets();
  ArrayRef<int64_t> sizes = slice.getStaticSizes();
  ArrayRef<int64_t> strides = slice.getStaticStrides();
  if (offsets[last] != topk->k - 1 || sizes[last] != 1 || strides[last] != 1)
    return std::nullopt;
  SmallVector<OpFoldResult> mixedSizes = slice.getMixedSizes();
  for (int64_t d = 0; d < last; ++d) {
    if (offsets[d] != 0 || strides[d] != 1)
      return std::nullopt;
    if (!ShapedType::isDynamic(sizes[d])) {
      if (sizes[d] != srcType.getDimSize(d))
        return std::nullopt;
      continue;
    }
    // A dynamic size must be the full extent: tensor.dim of the source.
    auto dim = dyn_cast_if_present<Value>(mixedSizes[d])
                   ? cast<Value>(mixedSizes[d]).getDefiningOp<tensor::DimOp>()
                   : tensor::DimOp();
    std::optional<int64_t> index = dim ? dim.getConstantIndex() : std::nullopt;
    if (!dim || !index || *index != d || dim.getSource() != slice.getSource())
      return std::nullopt;
  }
  // The result must broadcast along the last axis only: its trailing size is
  // 1 (kept dim) or the dim was dropped and re-added.
  auto kthType = rankedType(kth);
  if (kthType.getRank() != srcType.getRank() || kthType.getShape().back() != 1)
    return std::nullopt;
  return topk;
}

/// Matches `cmpResult = generic { cmpf want(x, kth) }` with kth the k-th
/// largest TopK value of x; returns (x, topk).
std::optional<std::pair<Value, TopKMatch>>
matchThresholdCompare(Value cmpResult, arith::CmpFPredicate want) {
  linalg::GenericOp g = elementwiseProducer(cmpResult);
  if (!g || g.getNumDpsInputs() != 2)
    return std::nullopt;
  auto yield = cast<linalg::YieldOp>(g.getBody()->getTerminator());
  auto cmp = yield.getOperand(0).getDefiningOp<arith::CmpFOp>();
  if (!cmp || cmp.getPredicate() != want)
    return std::nullopt;
  std::optional<EwOperand> a = resolveOperand(g, cmp.getLhs());
  std::optional<EwOperand> b = resolveOperand(g, cmp.getRhs());
  if (!a || !b || !a->tensor || !b->tensor ||
      !isFullOperand(*a, a->tensor, cmpResult))
    return std::nullopt;
  std::optional<TopKMatch> topk = matchKthValue(b->tensor);
  if (!topk || topk->input != a->tensor)
    return std::nullopt;
  return std::make_pair(a->tensor, *topk);
}

/// The operand of a boolean not (xor with true), if `v` is one.
Value matchNot(Value v) {
  auto ops = matchElementwise<arith::XOrIOp>(v);
  if (!ops)
    return {};
  for (int i = 0; i < 2; ++i)
    if ((isApprox((*ops)[1 - i].scalar, -1.0, 0.0) ||
         isApprox((*ops)[1 - i].scalar, 1.0, 0.0)) &&
        (*ops)[i].tensor && !(*ops)[i].scalar)
      return (*ops)[i].tensor;
  return {};
}

/// A mask that is true where x is kept: x >= kth, or not(x < kth).
std::optional<std::pair<Value, TopKMatch>> matchKeepMask(Value mask) {
  if (auto r = matchThresholdCompare(mask, arith::CmpFPredicate::OGE))
    return r;
  if (Value inner = matchNot(mask))
    return matchThresholdCompare(inner, arith::CmpFPredicate::OLT);
  return std::nullopt;
}

/// A mask that is true where x is dropped: x < kth, or not(x >= kth).
std::optional<std::pair<Value, TopKMatch>> matchDropMask(Value mask) {
  if (auto r = matchThresholdCompare(mask, arith::CmpFPredicate::OLT))
    return r;
  if (Value inner = matchNot(mask))
    return matchThresholdCompare(inner, arith::CmpFPredicate::OGE);
  return std::nullopt;
}

void RaiseSparseIdioms::raiseTopKThreshold(IRRewriter &rewriter,
                                           linalg::GenericOp root) {
  Value result = root->getResult(0);
  if (!elementwiseProducer(result))
    return;
  if (auto ops = matchElementwise<arith::SelectOp>(result)) {
    const EwOperand &c = (*ops)[0], &t = (*ops)[1], &f = (*ops)[2];
    // where(keep, x, 0)
    if (c.tensor && t.tensor && !t.scalar && isApprox(f.scalar, 0.0, 0.0))
      if (auto m = matchKeepMask(c.tensor))
        if (m->first == t.tensor && isFullOperand(t, t.tensor, result))
          return replaceWithTopK(rewriter, root, m->first, m->second.k);
    // where(drop, 0, x)
    if (c.tensor && f.tensor && !f.scalar && isApprox(t.scalar, 0.0, 0.0))
      if (auto m = matchDropMask(c.tensor))
        if (m->first == f.tensor && isFullOperand(f, f.tensor, result))
          return replaceWithTopK(rewriter, root, m->first, m->second.k);
  }
  // x * cast(keep)
  if (auto ops = matchElementwise<arith::MulFOp>(result)) {
    for (int i = 0; i < 2; ++i) {
      const EwOperand &x = (*ops)[i], &m = (*ops)[1 - i];
      if (!x.tensor || x.scalar || !m.tensor ||
          !isFullOperand(x, x.tensor, result))
        continue;
      auto cast = matchElementwise<arith::UIToFPOp>(m.tensor);
      if (!cast || !(*cast)[0].tensor)
        continue;
      if (auto mm = matchKeepMask((*cast)[0].tensor))
        if (mm->first == x.tensor)
          return replaceWithTopK(rewriter, root, mm->first, mm->second.k);
    }
  }
}

void RaiseSparseIdioms::raiseFFN(IRRewriter &rewriter, Operation *root) {
  Value out = root->getResult(0);
  auto outType = rankedType(out);
  if (!outType || !isRaisableFloat(outType.getElementType()))
    return;
  MatchSet set;
  set.add(root);
  // Down projection (+ bias).
  Value downBias, downProduct = out;
  if (auto bias = matchBiasAdd(out)) {
    downProduct = bias->first;
    downBias = bias->second;
    set.add(cast<linalg::GenericOp>(root).getDpsInits()[0]);
  } else if (isa<linalg::GenericOp>(root)) {
    return;
  }
  std::optional<MatmulMatch> down = matchMatmul(downProduct, set);
  if (!down)
    return;
  // Optional top-k.
  Value h = down->lhs;
  std::optional<int64_t> topk;
  if (auto t = h.getDefiningOp<TopKActivationOp>()) {
    if (t.getMode() != TopKMode::exact ||
        t.getNormalizedAxis() != t.getType().getRank() - 1)
      return;
    topk = static_cast<int64_t>(t.getK());
    set.add(t.getOperation());
    h = t.getInput();
  }
  Activation act;
  Value u = matchActivation(h, act, set);
  if (!u)
    return;
  Value upBias, upProduct = u;
  if (auto bias = matchBiasAdd(u)) {
    upProduct = bias->first;
    upBias = bias->second;
    set.add(u);
    set.add(u.getDefiningOp<linalg::GenericOp>().getDpsInits()[0]);
  }
  std::optional<MatmulMatch> up = matchMatmul(upProduct, set);
  if (!up)
    return;
  if (!set.isClosed(root))
    return;
  // Shapes and types the spx.sparse_ffn verifier requires.
  Value x = up->lhs;
  auto xType = rankedType(x);
  auto w1 = rankedType(up->weight), w2 = rankedType(down->weight);
  if (!xType || !w1 || !w2 || xType != outType || w1.getRank() != 2 ||
      w2.getRank() != 2)
    return;
  Type et = outType.getElementType();
  for (Value v : {up->weight, down->weight, upBias, downBias})
    if (v && getElementTypeOrSelf(v.getType()) != et)
      return;
  auto kn1 = rankedType(up->weightKN), kn2 = rankedType(down->weightKN);
  int64_t model = kn1.getDimSize(0), hidden = kn1.getDimSize(1);
  if (kn2.getDimSize(0) != hidden || kn2.getDimSize(1) != model ||
      ShapedType::isDynamic(hidden) || ShapedType::isDynamic(model))
    return;
  if (topk && *topk > hidden)
    return;
  rewriter.setInsertionPoint(root);
  MLIRContext *ctx = rewriter.getContext();
  auto ffn = SparseFFNOp::create(
      rewriter, root->getLoc(), outType, x, up->weight, /*up_scales=*/Value(),
      upBias, /*gate_weight=*/Value(), /*gate_scales=*/Value(), down->weight,
      /*down_scales=*/Value(), downBias, /*residual=*/Value(),
      /*support=*/Value(), ActivationAttr::get(ctx, act),
      topk ? rewriter.getI64IntegerAttr(*topk) : IntegerAttr(),
      rewriter.getI64IntegerAttr(1), WeightLayoutAttr::get(ctx, up->layout),
      WeightLayoutAttr::get(ctx, WeightLayout::kn),
      WeightLayoutAttr::get(ctx, down->layout), QuantAttr(), QuantAttr(),
      QuantAttr());
  rewriter.replaceOp(root, ffn.getResult());
}

/// Matches the importer's decomposed softmax over the last axis; returns the
/// logits.
Value matchSoftmax(Value v) {
  // div(e, sum(e)) with e = exp(x - max(x))
  auto div = matchElementwise<arith::DivFOp>(v);
  if (!div || !(*div)[0].tensor || !(*div)[1].tensor)
    return {};
  Value e = (*div)[0].tensor, sumKeep = (*div)[1].tensor;
  auto type = rankedType(v);
  int64_t last = type.getRank() - 1;
  auto peelKeep = [&](Value keep) -> linalg::ReduceOp {
    auto expand = keep.getDefiningOp<tensor::ExpandShapeOp>();
    if (!expand)
      return {};
    auto red = expand.getSrc().getDefiningOp<linalg::ReduceOp>();
    if (!red || red.getDimensions() != ArrayRef<int64_t>{last})
      return {};
    return red;
  };
  linalg::ReduceOp sum = peelKeep(sumKeep);
  if (!sum || sum.getInputs()[0] != e ||
      !isa_and_nonnull<arith::AddFOp>(
          sum.getBody()->getTerminator()->getOperand(0).getDefiningOp()))
    return {};
  auto exp = matchElementwise<math::ExpOp>(e);
  if (!exp || !(*exp)[0].tensor)
    return {};
  auto sub = matchElementwise<arith::SubFOp>((*exp)[0].tensor);
  if (!sub || !(*sub)[0].tensor || !(*sub)[1].tensor)
    return {};
  Value x = (*sub)[0].tensor;
  linalg::ReduceOp max = peelKeep((*sub)[1].tensor);
  if (!max || max.getInputs()[0] != x)
    return {};
  return x;
}

void RaiseSparseIdioms::raiseRouter(IRRewriter &rewriter, func::CallOp call) {
  std::optional<TopKMatch> topk = matchTopKCall(call.getResult(0));
  if (!topk)
    return;
  Value probs = topk->input;
  Value logits = matchSoftmax(probs);
  if (!logits)
    return;
  auto logitsType = rankedType(logits);
  if (logitsType.getRank() < 2)
    return;
  // Router weight and bias.
  MatchSet set;
  Value routerInput = logits, weight, bias;
  Value product = logits;
  if (auto b = matchBiasAdd(logits)) {
    product = b->first;
    bias = b->second;
  }
  if (std::optional<MatmulMatch> mm = matchMatmul(product, set)) {
    routerInput = mm->lhs;
    weight = mm->weightKN;
  } else {
    bias = Value();
  }
  if (weight) {
    if (!getElementTypeOrSelf(weight.getType()).isF32() ||
        (bias && !getElementTypeOrSelf(bias.getType()).isF32()))
      weight = Value();
  }
  if (!weight) {
    routerInput = logits;
    bias = Value();
    if (!logitsType.getElementType().isF32())
      return;
  }
  // Optional renormalisation: gates / sum(gates).
  Value gates = call.getResult(0), experts = call.getResult(1);
  Value normalizedGates;
  bool normalize = false;
  // Shape queries (dynamic sizes of the renormalisation's inits) do not
  // count as uses; they are moved to the new gates below.
  auto isShapeQuery = [](Operation *u) { return isa<tensor::DimOp>(u); };
  int64_t valueUses = llvm::count_if(
      gates.getUsers(), [&](Operation *u) { return !isShapeQuery(u); });
  if (valueUses == 1 || valueUses == 2) {
    for (Operation *user : gates.getUsers()) {
      if (user->getNumResults() != 1 || isShapeQuery(user))
        continue;
      auto div = matchElementwise<arith::DivFOp>(user->getResult(0));
      if (!div || (*div)[0].tensor != gates || !(*div)[1].tensor)
        continue;
      auto expand = (*div)[1].tensor.getDefiningOp<tensor::ExpandShapeOp>();
      if (!expand)
        continue;
      auto red = expand.getSrc().getDefiningOp<linalg::ReduceOp>();
      int64_t last = rankedType(gates).getRank() - 1;
      if (!red || red.getInputs()[0] != gates ||
          red.getDimensions() != ArrayRef<int64_t>{last})
        continue;
      // Every use of the raw gates must belong to the renormalisation.
      bool closed = llvm::all_of(gates.getUsers(), [&](Operation *u) {
        return u == user || u == red.getOperation() || isShapeQuery(u);
      });
      if (closed) {
        normalize = true;
        normalizedGates = user->getResult(0);
      }
    }
  }
  auto inType = rankedType(routerInput);
  if (!inType || !isRaisableFloat(inType.getElementType()))
    return;
  Location loc = call.getLoc();
  rewriter.setInsertionPoint(call);
  // spx.route works on [tokens, features].
  Value flat = routerInput;
  SmallVector<ReassociationIndices> reassoc;
  int64_t rank = inType.getRank();
  if (rank > 2) {
    ReassociationIndices lead;
    for (int64_t i = 0; i < rank - 1; ++i)
      lead.push_back(i);
    reassoc = {lead, {rank - 1}};
    flat = tensor::CollapseShapeOp::create(rewriter, loc, routerInput, reassoc);
  } else if (rank < 2) {
    return;
  }
  int64_t tokens = rankedType(flat).getDimSize(0);
  Type f32 = rewriter.getF32Type();
  Type i64 = rewriter.getI64Type();
  auto route =
      RouteOp::create(rewriter, loc,
                      TypeRange{RankedTensorType::get({tokens, topk->k}, f32),
                                RankedTensorType::get({tokens, topk->k}, i64)},
                      flat, weight, bias, rewriter.getI64IntegerAttr(topk->k),
                      rewriter.getBoolAttr(normalize));
  auto restore = [&](Value v, Type elementType) -> Value {
    Value r = v;
    if (rank > 2) {
      auto outType = rankedType(gates).clone(elementType);
      SmallVector<OpFoldResult> sizes;
      for (int64_t i = 0; i < rank; ++i) {
        if (!outType.isDynamicDim(i)) {
          sizes.push_back(rewriter.getIndexAttr(outType.getDimSize(i)));
          continue;
        }
        sizes.push_back(
            tensor::DimOp::create(rewriter, loc, routerInput, i).getResult());
      }
      r = tensor::ExpandShapeOp::create(rewriter, loc, outType, v, reassoc,
                                        sizes);
    }
    return r;
  };
  Value newGates = restore(route.getGates(), f32);
  Value newExperts = restore(route.getExperts(), i64);
  Type gateType = getElementTypeOrSelf(gates.getType());
  if (gateType != f32)
    newGates = arith::TruncFOp::create(
        rewriter, loc, rankedType(gates).clone(gateType), newGates);
  Value target = normalize ? normalizedGates : gates;
  if (newGates.getType() != target.getType() ||
      newExperts.getType() != experts.getType()) {
    // Shapes the route cannot reproduce exactly: leave the IR alone.
    SmallVector<Operation *> created;
    for (Value v : {newGates, newExperts})
      if (Operation *op = v.getDefiningOp())
        created.push_back(op);
    for (Operation *op : created)
      if (op->use_empty())
        rewriter.eraseOp(op);
    if (route->use_empty())
      rewriter.eraseOp(route);
    if (flat != routerInput && flat.use_empty())
      rewriter.eraseOp(flat.getDefiningOp());
    return;
  }
  if (normalize) {
    SmallVector<tensor::DimOp> dims;
    for (Operation *u : gates.getUsers())
      if (auto dim = dyn_cast<tensor::DimOp>(u))
        dims.push_back(dim);
    for (tensor::DimOp dim : dims)
      rewriter.modifyOpInPlace(
          dim, [&] { dim.getSourceMutable().assign(newGates); });
  }
  rewriter.replaceAllUsesWith(target, newGates);
  rewriter.replaceAllUsesWith(experts, newExperts);
}

//===----------------------------------------------------------------------===//
// Whole MoE layers: the dense-mask combine of PyTorch exports
//===----------------------------------------------------------------------===//

/// Adds `v`'s producer and the chain of destination-style ops initialising
/// it (tensor.empty, zero linalg.fill), so that the shape queries feeding
/// them count as part of the match.
void addWithInits(MatchSet &set, Value v) {
  Operation *op = v ? v.getDefiningOp() : nullptr;
  if (!op)
    return;
  set.add(op);
  if (auto dps = dyn_cast<DestinationStyleOpInterface>(op))
    for (Value init : dps.getDpsInits())
      if (isa_and_nonnull<tensor::EmptyOp, linalg::FillOp>(
              init.getDefiningOp()))
        addWithInits(set, init);
}

/// A result of a spx.route, directly or through the expand_shape that
/// restores the leading dimensions of an N-D router input.
std::pair<RouteOp, unsigned> matchRouteResult(Value v, MatchSet &set) {
  Value src = v;
  auto expand = v.getDefiningOp<tensor::ExpandShapeOp>();
  if (expand)
    src = expand.getSrc();
  auto route = src.getDefiningOp<RouteOp>();
  if (!route)
    return {};
  if (expand) {
    // Only the leading (token) dimensions may be expanded.
    SmallVector<ReassociationIndices> reassoc =
        expand.getReassociationIndices();
    if (reassoc.size() != 2 || reassoc.back().size() != 1)
      return {};
    set.add(expand.getOperation());
  }
  set.add(route.getOperation());
  return {route, cast<OpResult>(src).getResultNumber()};
}

/// An integer scalar splat (a rank-0 or splat constant, or a body constant).
std::optional<int64_t> integerSplat(const EwOperand &o) {
  if (!o.scalar || std::floor(*o.scalar) != *o.scalar)
    return std::nullopt;
  return static_cast<int64_t>(*o.scalar);
}

/// `idx == e` on the route's expert ids with a constant e; returns e and
/// the expert-ids value.
std::optional<int64_t> matchExpertEquals(Value v, Value &ids) {
  linalg::GenericOp g = elementwiseProducer(v);
  if (!g)
    return std::nullopt;
  auto cmp = cast<linalg::YieldOp>(g.getBody()->getTerminator())
                 .getOperand(0)
                 .getDefiningOp<arith::CmpIOp>();
  if (!cmp || cmp.getPredicate() != arith::CmpIPredicate::eq)
    return std::nullopt;
  auto ops = matchElementwise<arith::CmpIOp>(v);
  if (!ops)
    return std::nullopt;
  for (int i = 0; i < 2; ++i) {
    const EwOperand &a = (*ops)[i], &c = (*ops)[1 - i];
    std::optional<int64_t> e = integerSplat(c);
    if (!e || !a.tensor || a.scalar || !isFullOperand(a, a.tensor, v))
      continue;
    ids = a.tensor;
    return e;
  }
  return std::nullopt;
}

/// The gate of one expert, `(g * (idx == e)).sum(-1, keepdim)` or
/// `where(idx == e, g, 0).sum(-1, keepdim)`, with g and idx the results of
/// one spx.route; returns e.
std::optional<int64_t> matchExpertGate(Value w, RouteOp &route, MatchSet &set) {
  auto keep = w.getDefiningOp<tensor::ExpandShapeOp>();
  auto wType = rankedType(w);
  if (!keep || !wType || wType.getShape().back() != 1)
    return std::nullopt;
  auto red = keep.getSrc().getDefiningOp<linalg::ReduceOp>();
  int64_t last = wType.getRank() - 1;
  if (!red || red.getNumDpsInputs() != 1 ||
      red.getDimensions() != ArrayRef<int64_t>{last} ||
      !isZeroTensor(red.getDpsInits()[0]))
    return std::nullopt;
  auto add = red.getBody()->getTerminator()->getOperand(0).getDefiningOp();
  if (!isa_and_nonnull<arith::AddFOp>(add) ||
      add->getBlock() != red.getBody() ||
      !llvm::all_of(add->getOperands(),
                    [&](Value o) { return isa<BlockArgument>(o); }) ||
      add->getOperand(0) == add->getOperand(1))
    return std::nullopt;
  Value masked = red.getInputs()[0];
  Value gates, ids;
  std::optional<int64_t> e;
  MatchSet local;
  if (auto mul = matchElementwise<arith::MulFOp>(masked)) {
    // g * cast(idx == e), either order.
    for (int i = 0; i < 2 && !e; ++i) {
      const EwOperand &g = (*mul)[i], &m = (*mul)[1 - i];
      if (!g.tensor || g.scalar || !m.tensor || m.scalar ||
          !isFullOperand(g, g.tensor, masked) ||
          !isFullOperand(m, m.tensor, masked))
        continue;
      auto cast = matchElementwise<arith::UIToFPOp>(m.tensor);
      if (!cast || !(*cast)[0].tensor ||
          !isFullOperand((*cast)[0], (*cast)[0].tensor, m.tensor))
        continue;
      if ((e = matchExpertEquals((*cast)[0].tensor, ids))) {
        gates = g.tensor;
        addWithInits(local, m.tensor);
        addWithInits(local, (*cast)[0].tensor);
      }
    }
  } else if (auto sel = matchElementwise<arith::SelectOp>(masked)) {
    // where(idx == e, g, 0).
    const EwOperand &c = (*sel)[0], &g = (*sel)[1], &z = (*sel)[2];
    if (c.tensor && !c.scalar && isFullOperand(c, c.tensor, masked) &&
        g.tensor && !g.scalar && isFullOperand(g, g.tensor, masked) &&
        isApprox(z.scalar, 0.0, 0.0)) {
      if ((e = matchExpertEquals(c.tensor, ids))) {
        gates = g.tensor;
        addWithInits(local, c.tensor);
        // zeros_like(g) of a dynamic shape: a fill sized by g's dims.
        if (z.tensor && z.tensor.getDefiningOp<linalg::FillOp>())
          addWithInits(local, z.tensor);
      }
    }
  }
  if (!e)
    return std::nullopt;
  auto [gRoute, gIndex] = matchRouteResult(gates, local);
  auto [iRoute, iIndex] = matchRouteResult(ids, local);
  if (!gRoute || gRoute != iRoute || gIndex != 0 || iIndex != 1)
    return std::nullopt;
  if (route && route != gRoute)
    return std::nullopt;
  route = gRoute;
  set.ops.insert(local.ops.begin(), local.ops.end());
  addWithInits(set, masked);
  addWithInits(set, red.getResult(0));
  set.add(keep.getOperation());
  return e;
}

/// One term `gate_e * expert_e(x)` of the combine.
struct ExpertTerm {
  int64_t index;
  SparseFFNOp ffn;
};

/// Matches `w * ffn(x)` (either order) with w a gate broadcast along the
/// last dimension.
std::optional<ExpertTerm> matchExpertTerm(Value term, RouteOp &route,
                                          MatchSet &set) {
  auto mul = matchElementwise<arith::MulFOp>(term);
  if (!mul)
    return std::nullopt;
  auto type = rankedType(term);
  int64_t rank = type.getRank();
  for (int i = 0; i < 2; ++i) {
    const EwOperand &f = (*mul)[i], &w = (*mul)[1 - i];
    if (!f.tensor || f.scalar || !w.tensor || w.scalar ||
        !isFullOperand(f, f.tensor, term))
      continue;
    auto ffn = f.tensor.getDefiningOp<SparseFFNOp>();
    if (!ffn)
      continue;
    // w: [..., 1] read as (d0, ..., d_{r-2}, 0).
    auto wType = rankedType(w.tensor);
    if (!wType || wType.getRank() != rank || w.map.getNumResults() != rank)
      continue;
    bool broadcastLast = true;
    for (int64_t d = 0; d < rank - 1; ++d)
      broadcastLast &=
          w.map.getResult(d) == getAffineDimExpr(d, term.getContext()) &&
          wType.getDimSize(d) == type.getDimSize(d);
    auto c = dyn_cast<AffineConstantExpr>(w.map.getResult(rank - 1));
    if (!broadcastLast || !c || c.getValue() != 0)
      continue;
    MatchSet local;
    std::optional<int64_t> e = matchExpertGate(w.tensor, route, local);
    if (!e)
      continue;
    set.ops.insert(local.ops.begin(), local.ops.end());
    addWithInits(set, term);
    set.add(ffn.getOperation());
    return ExpertTerm{*e, ffn};
  }
  return std::nullopt;
}

/// A tensor of zeros, including dense_resource constants (the exporter's
/// `zeros_like(x)` of a static shape).
bool isZeroLeaf(Value v) {
  if (isZeroTensor(v))
    return true;
  std::optional<std::vector<float>> values = getConstantF32Values(v);
  return values && llvm::all_of(*values, [](float f) { return f == 0.0f; });
}

/// Collects the terms of a sum tree of same-shaped elementwise additions;
/// zero tensors are skipped. Fails on any other leaf.
bool collectCombineTerms(Value v, Value root, RouteOp &route,
                         SmallVectorImpl<ExpertTerm> &terms, MatchSet &set,
                         int budget) {
  if (budget <= 0)
    return false;
  if (auto add = matchElementwise<arith::AddFOp>(v)) {
    if (llvm::all_of(*add, [&](const EwOperand &o) {
          // (A splat operand, e.g. the zero fill, is a leaf like any other.)
          return o.tensor && isFullOperand(o, o.tensor, root);
        })) {
      addWithInits(set, v);
      for (const EwOperand &o : *add)
        if (!collectCombineTerms(o.tensor, root, route, terms, set, budget - 1))
          return false;
      return true;
    }
  }
  if (isZeroLeaf(v))
    return true;
  std::optional<ExpertTerm> t = matchExpertTerm(v, route, set);
  if (!t)
    return false;
  terms.push_back(*t);
  return true;
}

/// Stacks per-expert f32 constants (1-D biases or 2-D weights, transposed
/// where `transpose[e]`) into one `[E, ...]` constant; null if any is not a
/// constant or the shapes differ.
Value stackExpertConstants(OpBuilder &b, Location loc, ArrayRef<Value> values,
                           ArrayRef<bool> transpose, StringRef name) {
  SmallVector<int64_t> shape;
  std::vector<float> data;
  for (auto [i, v] : llvm::enumerate(values)) {
    auto type = rankedType(v);
    if (!type || !type.hasStaticShape() || !type.getElementType().isF32())
      return {};
    std::optional<std::vector<float>> values = getConstantF32Values(v);
    if (!values)
      return {};
    SmallVector<int64_t> s(type.getShape());
    if (transpose[i]) {
      if (s.size() != 2)
        return {};
      *values = spx::transpose(*values, s[0], s[1]);
      std::swap(s[0], s[1]);
    }
    if (i == 0)
      shape = s;
    else if (s != shape)
      return {};
    data.insert(data.end(), values->begin(), values->end());
  }
  SmallVector<int64_t> stacked = {static_cast<int64_t>(values.size())};
  stacked.append(shape.begin(), shape.end());
  return createResourceConstant<float>(
      b, loc, RankedTensorType::get(stacked, b.getF32Type()), name, data);
}

void RaiseSparseIdioms::raiseMoE(IRRewriter &rewriter, Operation *root) {
  Value out = root->getResult(0);
  auto outType = rankedType(out);
  if (!outType || !outType.getElementType().isF32() || outType.getRank() < 2)
    return;
  MatchSet set;
  addWithInits(set, out);
  RouteOp route;
  SmallVector<ExpertTerm> terms;
  if (!collectCombineTerms(out, out, route, terms, set, 1024) || !route ||
      terms.empty())
    return;
  // The router: a Linear on the same x the experts read.
  Value weight = route.getRouterWeight();
  if (!weight)
    return;
  int64_t numExperts = rankedType(weight).getDimSize(1);
  if (ShapedType::isDynamic(numExperts) ||
      static_cast<int64_t>(terms.size()) != numExperts)
    return;
  Value x = terms.front().ffn.getInput();
  if (x.getType() != outType)
    return;
  Value flat = route.getInput();
  SmallVector<ReassociationIndices> reassoc;
  if (flat != x) {
    auto collapse = flat.getDefiningOp<tensor::CollapseShapeOp>();
    if (!collapse || collapse.getSrc() != x)
      return;
    reassoc = collapse.getReassociationIndices();
    if (reassoc.size() != 2 || reassoc.back().size() != 1)
      return;
  }
  if (!rankedType(flat).getElementType().isF32())
    return;
  // Every expert index 0..E-1 exactly once, each its own FFN with its own
  // weights.
  SmallVector<SparseFFNOp> experts(numExperts);
  llvm::SmallPtrSet<Operation *, 8> seenFFN;
  llvm::SmallDenseSet<Value, 32> seenWeights;
  for (const ExpertTerm &t : terms) {
    if (t.index < 0 || t.index >= numExperts || experts[t.index] ||
        !seenFFN.insert(t.ffn).second)
      return;
    experts[t.index] = t.ffn;
  }
  SparseFFNOp first = experts.front();
  bool hasUpBias = static_cast<bool>(first.getUpBias());
  bool hasDownBias = static_cast<bool>(first.getDownBias());
  for (SparseFFNOp ffn : experts) {
    if (ffn.getInput() != x || ffn.getType() != outType || ffn.getTopkAttr() ||
        ffn.getGateWeight() || ffn.getSupport() || ffn.getResidual() ||
        ffn.getUpScales() || ffn.getDownScales() || ffn.getUpQuantAttr() ||
        ffn.getDownQuantAttr() ||
        ffn.getActivation() != first.getActivation() ||
        static_cast<bool>(ffn.getUpBias()) != hasUpBias ||
        static_cast<bool>(ffn.getDownBias()) != hasDownBias)
      return;
    for (Value v : {ffn.getUpWeight(), ffn.getUpBias(), ffn.getDownWeight(),
                    ffn.getDownBias()})
      if (v && !seenWeights.insert(v).second)
        return; // a weight shared between experts
  }
  switch (first.getActivation()) {
  case Activation::relu:
  case Activation::gelu:
  case Activation::silu:
  case Activation::sigmoid:
  case Activation::identity:
    break;
  default:
    return;
  }
  if (static_cast<int64_t>(route.getK()) > numExperts)
    return;
  if (!set.isClosed(root))
    return;

  // Stack the experts' weights in ONNX Runtime's nk layouts.
  Location loc = root->getLoc();
  rewriter.setInsertionPoint(root);
  SmallVector<Value> up, upBias, down, downBias;
  SmallVector<bool> upT, downT, noT(numExperts, false);
  for (SparseFFNOp ffn : experts) {
    up.push_back(ffn.getUpWeight());
    upT.push_back(ffn.getUpLayout() == WeightLayout::kn);
    down.push_back(ffn.getDownWeight());
    downT.push_back(ffn.getDownLayout() == WeightLayout::kn);
    upBias.push_back(ffn.getUpBias());
    downBias.push_back(ffn.getDownBias());
  }
  SmallVector<Operation *> created;
  auto stack = [&](ArrayRef<Value> vs, ArrayRef<bool> t,
                   StringRef name) -> Value {
    Value s = stackExpertConstants(rewriter, loc, vs, t, name);
    if (s)
      created.push_back(s.getDefiningOp());
    return s;
  };
  Value fc1 = stack(up, upT, "moe_fc1");
  Value fc2 = fc1 ? stack(down, downT, "moe_fc2") : Value();
  Value fc1Bias =
      fc2 && hasUpBias ? stack(upBias, noT, "moe_fc1_bias") : Value();
  Value fc2Bias =
      fc2 && hasDownBias ? stack(downBias, noT, "moe_fc2_bias") : Value();
  if (!fc1 || !fc2 || (hasUpBias && !fc1Bias) || (hasDownBias && !fc2Bias)) {
    for (Operation *op : created)
      rewriter.eraseOp(op);
    return;
  }
  // spx.moe takes the router logits: recompute them from the route's
  // weight and bias.
  Type f32 = rewriter.getF32Type();
  auto flatType = rankedType(flat);
  SmallVector<Value> dynTokens;
  if (flatType.isDynamicDim(0))
    dynTokens.push_back(tensor::DimOp::create(rewriter, loc, flat, 0));
  auto logitsType =
      RankedTensorType::get({flatType.getDimSize(0), numExperts}, f32);
  Value zero =
      arith::ConstantOp::create(rewriter, loc, rewriter.getF32FloatAttr(0.0f));
  Value init = linalg::FillOp::create(
                   rewriter, loc, ValueRange{zero},
                   ValueRange{tensor::EmptyOp::create(
                       rewriter, loc, logitsType.getShape(), f32, dynTokens)})
                   .getResult(0);
  Value logits =
      linalg::MatmulOp::create(rewriter, loc, TypeRange{logitsType},
                               ValueRange{flat, weight}, ValueRange{init})
          .getResult(0);
  if (Value bias = route.getRouterBias()) {
    MLIRContext *ctx = rewriter.getContext();
    SmallVector<AffineMap> maps = {
        AffineMap::getMultiDimIdentityMap(2, ctx),
        AffineMap::get(2, 0, getAffineDimExpr(1, ctx)),
        AffineMap::getMultiDimIdentityMap(2, ctx)};
    SmallVector<utils::IteratorType> iterators(2,
                                               utils::IteratorType::parallel);
    Value empty = tensor::EmptyOp::create(rewriter, loc, logitsType.getShape(),
                                          f32, dynTokens);
    logits =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{logitsType}, ValueRange{logits, bias},
            ValueRange{empty}, maps, iterators,
            [](OpBuilder &b, Location l, ValueRange args) {
              linalg::YieldOp::create(
                  b, l,
                  arith::AddFOp::create(b, l, args[0], args[1]).getResult());
            })
            .getResult(0);
  }
  MLIRContext *ctx = rewriter.getContext();
  auto nk = WeightLayoutAttr::get(ctx, WeightLayout::nk);
  auto moe = MoEOp::create(
      rewriter, loc, flatType, flat, logits, fc1, /*fc1_scales=*/Value(),
      fc1Bias, fc2, /*fc2_scales=*/Value(), fc2Bias, /*fc3=*/Value(),
      /*fc3_scales=*/Value(), /*fc3_bias=*/Value(), route.getKAttr(),
      ActivationAttr::get(ctx, first.getActivation()),
      rewriter.getBoolAttr(route.getNormalize()),
      SwiGLUFusionAttr::get(ctx, SwiGLUFusion::none),
      rewriter.getF32FloatAttr(1.0f), rewriter.getF32FloatAttr(0.0f),
      FloatAttr(), DispatchModeAttr::get(ctx, DispatchMode::dropless),
      rewriter.getF32FloatAttr(1.0f), nk, nk, nk, QuantAttr(), QuantAttr(),
      QuantAttr());
  Value result = moe.getResult();
  if (!reassoc.empty())
    result =
        tensor::ExpandShapeOp::create(rewriter, loc, outType, result, reassoc,
                                      tensor::getMixedSizes(rewriter, loc, x));
  rewriter.replaceOp(root, result);
}

/// Erases side-effect-free ops whose results are unused, repeatedly.
void eraseDeadOps(Operation *root) {
  bool changed = true;
  while (changed) {
    changed = false;
    SmallVector<Operation *> dead;
    // Pre-order, not entering a dead op's regions: erasing it erases what
    // they hold, which must not be erased again (found by the fuzzer).
    root->walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (op->getNumResults() > 0 && op->use_empty() &&
          !op->hasTrait<OpTrait::IsTerminator>() &&
          (isMemoryEffectFree(op) || isa<func::CallOp>(op))) {
        if (auto call = dyn_cast<func::CallOp>(op)) {
          func::FuncOp callee;
          StringRef kind = helperKind(call, callee);
          if (kind != "TopK" && kind != "ScatterElements")
            return WalkResult::advance();
        }
        dead.push_back(op);
        return WalkResult::skip();
      }
      return WalkResult::advance();
    });
    for (Operation *op : llvm::reverse(dead)) {
      op->erase();
      changed = true;
    }
  }
}

void RaiseSparseIdioms::runOnOperation() {
  ModuleOp module = getOperation();
  IRRewriter rewriter(&getContext());
  // 1. Top-k activations (scatter and threshold forms).
  SmallVector<func::CallOp> calls;
  module.walk([&](func::CallOp call) { calls.push_back(call); });
  for (func::CallOp call : calls)
    raiseTopKScatter(rewriter, call);
  SmallVector<linalg::GenericOp> generics;
  module.walk([&](linalg::GenericOp g) {
    // Skip the bodies of the importer's helper functions.
    auto fn = g->getParentOfType<func::FuncOp>();
    if (!fn || !fn->hasAttr("onnx.op"))
      generics.push_back(g);
  });
  for (linalg::GenericOp g : generics)
    raiseTopKThreshold(rewriter, g);
  eraseDeadOps(module);
  // 2. FFN blocks, rooted at the down projection (bias add or matmul).
  SmallVector<Operation *> roots;
  module.walk([&](Operation *op) {
    if (isa<linalg::GenericOp, tensor::ExpandShapeOp, linalg::MatmulOp>(op))
      roots.push_back(op);
  });
  // Later roots first, so that a block is matched from its bias add before
  // its bare down-projection matmul is considered as a root.
  for (Operation *op : llvm::reverse(roots)) {
    // Skip roots consumed by a previous rewrite (they have no uses left).
    if (op->use_empty())
      continue;
    raiseFFN(rewriter, op);
  }
  eraseDeadOps(module);
  // 3. MoE routers.
  calls.clear();
  module.walk([&](func::CallOp call) { calls.push_back(call); });
  for (func::CallOp call : calls)
    raiseRouter(rewriter, call);
  eraseDeadOps(module);
  if (!moeLayers)
    return;
  // 4. Whole MoE layers: the combine of routed expert FFNs, rooted at the
  // last addition (later roots first, so the whole sum is matched before
  // its partial sums).
  generics.clear();
  module.walk([&](linalg::GenericOp g) {
    auto fn = g->getParentOfType<func::FuncOp>();
    if (!fn || !fn->hasAttr("onnx.op"))
      generics.push_back(g);
  });
  for (linalg::GenericOp g : llvm::reverse(generics)) {
    if (g->use_empty())
      continue;
    raiseMoE(rewriter, g);
  }
  eraseDeadOps(module);
}

} // namespace
