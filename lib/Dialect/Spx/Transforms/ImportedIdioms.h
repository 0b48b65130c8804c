//===- ImportedIdioms.h - matchers for the importer's canonical IR -*- C++
//-*-===//
//
// The ONNX importer emits elementwise ops as one all-parallel linalg.generic
// each, MatMul as linalg.matmul on a zero-filled init (wrapped in
// collapse/expand_shape for N-D inputs) and Gemm's transB as a
// linalg.transpose. These matchers recognize that form; they are shared by
// the passes that raise idioms into spx ops (--spx-raise-sparse-idioms,
// --spx-fuse-epilogues).
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_LIB_DIALECT_SPX_TRANSFORMS_IMPORTEDIDIOMS_H
#define PARSIMONY_LIB_DIALECT_SPX_TRANSFORMS_IMPORTEDIDIOMS_H

#include "parsimony/Dialect/Spx/IR/SpxOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/SetVector.h"

#include <optional>

namespace mlir::spx {

RankedTensorType rankedType(Value v);

/// A splat floating-point constant: a scalar arith.constant, a splat dense
/// tensor constant or a tensor filled with a constant.
std::optional<double> splatValue(Value v);

bool isApprox(std::optional<double> v, double want, double tol = 1e-3);

/// A tensor equal to zeros: a splat-zero constant or a zero linalg.fill.
bool isZeroTensor(Value v);

/// An all-parallel linalg.generic with one result and an identity output map.
linalg::GenericOp elementwiseProducer(Value v);

/// One operand of an elementwise body op, seen from outside the generic.
struct EwOperand {
  Value tensor;                 // the generic input feeding it, if any
  AffineMap map;                // its indexing map
  std::optional<double> scalar; // its splat constant value, if constant
};

std::optional<EwOperand> resolveOperand(linalg::GenericOp g, Value bodyValue);

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
bool isFullOperand(const EwOperand &e, Value expected, Value result);

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

struct MatmulMatch {
  Value lhs;    // N-D activations [..., K]
  Value weight; // 2-D weight as stored
  WeightLayout layout = WeightLayout::kn;
  Value weightKN; // the [K, N] operand of the matmul
};

bool isZeroInit(Value init);

/// Matches the importer's MatMul/Gemm emission producing `v`.
std::optional<MatmulMatch> matchMatmul(Value v, MatchSet &set);

/// Matches `v = x + bias` with a 1-D bias over the last dimension; returns
/// (x, bias).
std::optional<std::pair<Value, Value>> matchBiasAdd(Value v);

/// sigmoid(x) as 1 / (1 + exp(-x)); returns x.
Value matchSigmoid(Value v, MatchSet &set);

/// Collects the factors of a product tree of elementwise multiplications.
void collectFactors(Value v, int depth, SmallVectorImpl<EwOperand> &factors,
                    MatchSet &set, Value result);

/// Matches act(u) producing `v` (relu, sigmoid, silu, erf gelu); returns u,
/// or null.
Value matchActivation(Value v, Activation &act, MatchSet &set);

} // namespace mlir::spx

#endif // PARSIMONY_LIB_DIALECT_SPX_TRANSFORMS_IMPORTEDIDIOMS_H
