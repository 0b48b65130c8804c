//===- Contraction.cpp - which linalg ops are plain matmuls --------------===//

#include "parsimony/Support/Contraction.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

using namespace mlir;

bool parsimony::isMulAddContraction(linalg::LinalgOp op) {
  if (!op || op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      !linalg::isaContractionOpInterface(op))
    return false;
  Block *body = op.getBlock();
  auto yield = dyn_cast<linalg::YieldOp>(body->getTerminator());
  if (!yield || yield->getNumOperands() != 1)
    return false;
  // The operations the arithmetic needs; the body must hold no others.
  unsigned used = 0;
  auto stripConversion = [&](Value v) {
    Operation *def = v.getDefiningOp();
    if (def && isa<arith::ExtFOp, arith::ExtSIOp, arith::ExtUIOp,
                   arith::SIToFPOp, arith::UIToFPOp>(def)) {
      ++used;
      return def->getOperand(0);
    }
    return v;
  };
  Operation *add = yield->getOperand(0).getDefiningOp();
  if (!add || !isa<arith::AddFOp, arith::AddIOp>(add))
    return false;
  Value acc = body->getArgument(2);
  Value product = add->getOperand(0) == acc   ? add->getOperand(1)
                  : add->getOperand(1) == acc ? add->getOperand(0)
                                              : Value();
  Operation *mul = product ? product.getDefiningOp() : nullptr;
  if (!mul || !isa<arith::MulFOp, arith::MulIOp>(mul))
    return false;
  used += 2;
  Value a = stripConversion(mul->getOperand(0));
  Value b = stripConversion(mul->getOperand(1));
  Value x = body->getArgument(0), y = body->getArgument(1);
  if (!((a == x && b == y) || (a == y && b == x)))
    return false;
  return body->getOperations().size() == used + 1;
}

bool parsimony::isMulAddContraction(Operation *op) {
  return isMulAddContraction(dyn_cast_or_null<linalg::LinalgOp>(op));
}
