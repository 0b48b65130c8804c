//===- FuseEpilogues.cpp - matmul + bias/activation/residual -> spx.matmul ===//
//
// A dense projection followed by its bias add, activation and residual add
// costs one GEMM and another pass over the output. As one spx.matmul (f32
// weights) or an spx.quant_matmul with an epilogue (quantized weights) the
// runtime applies the epilogue to each output block right after its
// accumulation, while the block is in cache.
//
// The pass runs after elementwise fusion, so an epilogue is one all-parallel
// linalg.generic consuming the contraction, whatever produced it (the
// importer's one-generic-per-op form, the dense form of a sparse FFN, a
// Gemm); its body is matched as a scalar expression.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Dialect/Spx/Transforms/Passes.h"

#include "parsimony/Dialect/Spx/IR/SpxDialect.h"
#include "parsimony/Dialect/Spx/IR/SpxOps.h"
#include "parsimony/Support/Contraction.h"

#include "DenseProjection.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

namespace mlir::spx {
#define GEN_PASS_DEF_SPXFUSEEPILOGUES
#include "parsimony/Dialect/Spx/Transforms/Passes.h.inc"
} // namespace mlir::spx

using namespace mlir;
using namespace mlir::spx;

namespace {

/// Whether `v` is a float constant within 1e-3 (relative) of `want`.
bool isConstant(Value v, double want) {
  FloatAttr attr;
  if (!matchPattern(v, m_Constant(&attr)))
    return false;
  double got = attr.getValueAsDouble();
  return std::fabs(got - want) <= 1e-3 * std::max(1.0, std::fabs(want));
}

/// The other operand of a commutative binary op when one of them is `v`.
template <typename OpTy> Value otherOperand(OpTy op, Value v) {
  if (!op)
    return {};
  if (op.getLhs() == v)
    return op.getRhs();
  if (op.getRhs() == v)
    return op.getLhs();
  return {};
}

/// Flattens a tree of mulf into its leaves (at most `depth` levels).
void mulLeaves(Value v, int depth, SmallVectorImpl<Value> &leaves) {
  auto mul = v.getDefiningOp<arith::MulFOp>();
  if (!mul || depth == 0) {
    leaves.push_back(v);
    return;
  }
  mulLeaves(mul.getLhs(), depth - 1, leaves);
  mulLeaves(mul.getRhs(), depth - 1, leaves);
}

/// sigmoid(x) as 1 / (1 + exp(-x)); returns x.
Value matchSigmoid(Value y) {
  auto div = y.getDefiningOp<arith::DivFOp>();
  if (!div || !isConstant(div.getLhs(), 1.0))
    return {};
  auto add = div.getRhs().getDefiningOp<arith::AddFOp>();
  if (!add)
    return {};
  Value e = isConstant(add.getLhs(), 1.0) ? add.getRhs() : add.getLhs();
  if (!isConstant(add.getLhs(), 1.0) && !isConstant(add.getRhs(), 1.0))
    return {};
  auto exp = e.getDefiningOp<math::ExpOp>();
  auto neg = exp ? exp.getOperand().getDefiningOp<arith::NegFOp>() : nullptr;
  return neg ? neg.getOperand() : Value();
}

/// x with y = act(x) for the activations the GEMM epilogue implements;
/// y itself (identity) when none matches.
Value stripActivation(Value y, Activation &act) {
  act = Activation::identity;
  // relu: max(x, 0)
  for (Operation *op = y.getDefiningOp();
       op && isa<arith::MaximumFOp, arith::MaxNumFOp>(op);) {
    Value a = op->getOperand(0), b = op->getOperand(1);
    if (isConstant(b, 0.0) && !isConstant(a, 0.0)) {
      act = Activation::relu;
      return a;
    }
    if (isConstant(a, 0.0) && !isConstant(b, 0.0)) {
      act = Activation::relu;
      return b;
    }
    break;
  }
  if (Value x = matchSigmoid(y)) {
    act = Activation::sigmoid;
    return x;
  }
  SmallVector<Value> leaves;
  mulLeaves(y, 3, leaves);
  // silu: x * sigmoid(x)
  if (leaves.size() == 2)
    for (int i = 0; i < 2; ++i)
      if (matchSigmoid(leaves[1 - i]) == leaves[i] && leaves[i]) {
        act = Activation::silu;
        return leaves[i];
      }
  // gelu: x * 0.5 * (1 + erf(x / sqrt 2)), factors in any grouping.
  if (leaves.size() == 3) {
    Value half, onePlusErf;
    SmallVector<Value> rest;
    for (Value leaf : leaves) {
      if (!half && isConstant(leaf, 0.5))
        half = leaf;
      else if (auto add = leaf.getDefiningOp<arith::AddFOp>();
               add && !onePlusErf &&
               (isConstant(add.getLhs(), 1.0) || isConstant(add.getRhs(), 1.0)))
        onePlusErf = leaf;
      else
        rest.push_back(leaf);
    }
    if (half && onePlusErf && rest.size() == 1) {
      Value x = rest.front();
      auto add = onePlusErf.getDefiningOp<arith::AddFOp>();
      Value e = isConstant(add.getLhs(), 1.0) ? add.getRhs() : add.getLhs();
      auto erf = e.getDefiningOp<math::ErfOp>();
      Value scaled = erf ? erf.getOperand() : Value();
      bool ok = false;
      if (auto mul = scaled ? scaled.getDefiningOp<arith::MulFOp>() : nullptr)
        ok = isConstant(otherOperand(mul, x), 1.0 / std::sqrt(2.0));
      else if (auto div =
                   scaled ? scaled.getDefiningOp<arith::DivFOp>() : nullptr)
        ok = div.getLhs() == x && isConstant(div.getRhs(), std::sqrt(2.0));
      if (ok) {
        act = Activation::gelu;
        return x;
      }
    }
  }
  return y;
}

/// What an epilogue generic's body computes from its inputs.
struct EpilogueBody {
  unsigned product;                 // input holding the matmul result
  std::optional<unsigned> bias;     // input holding the bias
  std::optional<unsigned> residual; // input holding the residual
  Activation activation = Activation::identity;
};

/// Matches `g`'s body as `[res +] act(c [+ bias])` where input `product`
/// (read elementwise) is c, a 1-D input over the last loop is the bias and
/// another elementwise input is the residual; every input must be one of
/// them.
std::optional<EpilogueBody> matchBody(linalg::GenericOp g, unsigned product) {
  Block *body = g.getBody();
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  if (yield.getNumOperands() != 1)
    return std::nullopt;
  unsigned rank = g.getNumLoops();
  AffineMap lastDim = AffineMap::get(
      rank, 0, getAffineDimExpr(rank - 1, g.getContext()), g.getContext());
  auto inputOf = [&](Value v) -> std::optional<unsigned> {
    auto arg = dyn_cast<BlockArgument>(v);
    if (!arg || arg.getOwner() != body ||
        arg.getArgNumber() >= g.getNumDpsInputs())
      return std::nullopt;
    return arg.getArgNumber();
  };
  auto isElementwise = [&](unsigned i) {
    OpOperand *operand = g.getDpsInputOperand(i);
    return g.getMatchingIndexingMap(operand).isIdentity() &&
           operand->get().getType() == g->getResult(0).getType();
  };
  EpilogueBody m;
  m.product = product;
  Value y = yield.getOperand(0);
  // Residual: y = r + rest, r elementwise and not the product.
  if (auto add = y.getDefiningOp<arith::AddFOp>()) {
    for (Value r : {add.getLhs(), add.getRhs()}) {
      std::optional<unsigned> i = inputOf(r);
      if (i && *i != product && isElementwise(*i)) {
        m.residual = *i;
        y = otherOperand(add, r);
        break;
      }
    }
  }
  Value x = stripActivation(y, m.activation);
  // Bias: x = c + b[n].
  if (auto add = x.getDefiningOp<arith::AddFOp>()) {
    for (Value b : {add.getLhs(), add.getRhs()}) {
      std::optional<unsigned> i = inputOf(b);
      if (i && *i != product && i != m.residual &&
          g.getMatchingIndexingMap(g.getDpsInputOperand(*i)) == lastDim &&
          cast<RankedTensorType>(g.getDpsInputs()[*i].getType()).getRank() ==
              1) {
        m.bias = *i;
        x = otherOperand(add, b);
        break;
      }
    }
  }
  if (inputOf(x) != product || !isElementwise(product))
    return std::nullopt;
  if (!m.bias && !m.residual && m.activation == Activation::identity)
    return std::nullopt;
  // Every input is accounted for (a body reading another tensor computes
  // more than the epilogue).
  unsigned used = 1 + (m.bias ? 1 : 0) + (m.residual ? 1 : 0);
  if (g.getNumDpsInputs() != used)
    return std::nullopt;
  return m;
}

/// Erases the side-effect-free ops defining `values` that have no uses
/// left, and then their operands' producers in turn.
void eraseDeadProducers(RewriterBase &rewriter, ValueRange values) {
  SmallVector<Operation *> worklist;
  llvm::SmallPtrSet<Operation *, 8> seen;
  auto push = [&](ValueRange vs) {
    for (Value v : vs)
      if (Operation *op = v.getDefiningOp(); op && seen.insert(op).second)
        worklist.push_back(op);
  };
  push(values);
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    if (!isOpTriviallyDead(op))
      continue;
    push(op->getOperands());
    rewriter.eraseOp(op);
  }
}

/// Folds epilogue `g` (reading the product as input `product`) into
/// `matmul`, which has none yet; returns whether it did.
bool fuseIntoQuantMatmul(RewriterBase &rewriter, linalg::GenericOp g,
                         unsigned product, QuantMatmulOp matmul) {
  if (matmul.getBias() || matmul.getResidual() ||
      matmul.getActivation() != Activation::identity)
    return false;
  std::optional<EpilogueBody> body = matchBody(g, product);
  if (!body)
    return false;
  rewriter.setInsertionPoint(g);
  Value bias = body->bias ? g.getDpsInputs()[*body->bias] : Value();
  Value residual = body->residual ? g.getDpsInputs()[*body->residual] : Value();
  auto fused = QuantMatmulOp::create(
      rewriter, g.getLoc(), g->getResult(0).getType(), matmul.getInput(),
      matmul.getWeight(), matmul.getScales(), matmul.getInputZeroPoint(), bias,
      residual, matmul.getInputUnsignedAttr(),
      ActivationAttr::get(g.getContext(), body->activation),
      matmul.getLayoutAttr(), matmul.getQuantAttr());
  rewriter.replaceOp(g, fused.getResult());
  rewriter.eraseOp(matmul);
  return true;
}

/// Folds a residual-only epilogue `g` (reading the product as input
/// `product`) into the spx.sparse_ffn or spx.combine producing it, directly
/// or through one reshape (spx.combine's tokens are flattened; the MoE
/// decomposition reshapes them back). Returns whether it did.
bool fuseResidual(RewriterBase &rewriter, linalg::GenericOp g,
                  unsigned product) {
  Value value = g.getDpsInputs()[product];
  Operation *reshape = value.getDefiningOp();
  if (!isa_and_nonnull<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(reshape))
    reshape = nullptr;
  Value result = reshape ? reshape->getOperand(0) : value;
  Operation *op = result.getDefiningOp();
  if (!isa_and_nonnull<SparseFFNOp, CombineOp>(op) || !result.hasOneUse())
    return false;
  MutableOperandRange residualOperand =
      isa<SparseFFNOp>(op) ? cast<SparseFFNOp>(op).getResidualMutable()
                           : cast<CombineOp>(op).getResidualMutable();
  if (!residualOperand.empty())
    return false;
  std::optional<EpilogueBody> body = matchBody(g, product);
  if (!body || !body->residual || body->bias ||
      body->activation != Activation::identity)
    return false;
  // Everything moves to the epilogue's place, where the residual is
  // defined; the producer's operands dominate it there too.
  rewriter.setInsertionPoint(g);
  Value residual = g.getDpsInputs()[*body->residual];
  if (auto expand = dyn_cast_or_null<tensor::ExpandShapeOp>(reshape))
    residual = tensor::CollapseShapeOp::create(
        rewriter, g.getLoc(), result.getType(), residual,
        expand.getReassociationIndices());
  else if (auto collapse = dyn_cast_or_null<tensor::CollapseShapeOp>(reshape))
    residual = tensor::ExpandShapeOp::create(
        rewriter, g.getLoc(), result.getType(), residual,
        collapse.getReassociationIndices(),
        tensor::getMixedSizes(rewriter, g.getLoc(), op->getOperand(0)));
  rewriter.moveOpBefore(op, g);
  rewriter.modifyOpInPlace(op, [&] { residualOperand.assign(residual); });
  if (reshape)
    rewriter.moveOpBefore(reshape, g);
  rewriter.replaceOp(g, value);
  return true;
}

struct FuseEpilogues : spx::impl::SpxFuseEpiloguesBase<FuseEpilogues> {
  void runOnOperation() override {
    SmallVector<linalg::GenericOp> epilogues;
    getOperation().walk([&](linalg::GenericOp g) {
      if (g.getNumDpsInits() == 1 && g->getNumResults() == 1 &&
          g.getNumLoops() == g.getNumParallelLoops() &&
          g.getIndexingMapsArray().back().isIdentity() &&
          g->getResult(0).getType() == g.getDpsInits()[0].getType())
        epilogues.push_back(g);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp g : epilogues) {
      auto type = dyn_cast<RankedTensorType>(g->getResult(0).getType());
      if (!type || !type.getElementType().isF32())
        continue;
      for (unsigned i = 0, e = g.getNumDpsInputs(); i < e; ++i) {
        Value product = g.getDpsInputs()[i];
        // The product must feed only this epilogue, or it is needed anyway.
        if (!product.hasOneUse())
          continue;
        if (auto quantized = product.getDefiningOp<QuantMatmulOp>()) {
          if (fuseIntoQuantMatmul(rewriter, g, i, quantized))
            break;
          continue;
        }
        if (fuseResidual(rewriter, g, i))
          break;
        auto producer = product.getDefiningOp<linalg::LinalgOp>();
        if (!producer || !parsimony::isMulAddContraction(producer))
          continue;
        std::optional<DenseProjection> p =
            matchDenseProjection(producer, weightThroughTranspose);
        if (!p)
          continue;
        std::optional<EpilogueBody> body = matchBody(g, i);
        if (!body)
          continue;
        rewriter.setInsertionPoint(g);
        Value bias = body->bias ? g.getDpsInputs()[*body->bias] : Value();
        Value residual =
            body->residual ? g.getDpsInputs()[*body->residual] : Value();
        MLIRContext *ctx = &getContext();
        auto fused = MatmulOp::create(
            rewriter, g.getLoc(), type, p->input, p->weight, bias, residual,
            ActivationAttr::get(ctx, body->activation),
            WeightLayoutAttr::get(ctx, p->weightNK ? WeightLayout::nk
                                                   : WeightLayout::kn));
        rewriter.replaceOp(g, fused.getResult());
        // The contraction's zero-filled accumulator (and a transpose the
        // weight was read through) are dead now; bufferization would still
        // allocate and fill them.
        SmallVector<Value> operands(producer->getOperands());
        rewriter.eraseOp(producer);
        eraseDeadProducers(rewriter, operands);
        break;
      }
    }
  }
};

} // namespace
