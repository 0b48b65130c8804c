//===- ImportedIdioms.cpp - matchers for the importer's canonical IR ------===//

#include "ImportedIdioms.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

using namespace mlir;

namespace mlir::spx {

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

bool isApprox(std::optional<double> v, double want, double tol) {
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

/// Whether `e` reads `expected` elementwise (identity map, same shape as v).
bool isFullOperand(const EwOperand &e, Value expected, Value result) {
  return e.tensor == expected && e.map && e.map.isIdentity() &&
         rankedType(expected) &&
         rankedType(expected).getShape() == rankedType(result).getShape();
}

//===----------------------------------------------------------------------===//
// Matmuls and biases
//===----------------------------------------------------------------------===//

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

} // namespace mlir::spx
