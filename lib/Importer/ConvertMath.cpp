//===- ConvertMath.cpp - elementwise, reduction, matmul ONNX operators ----===//
//
// Elementwise operators become one broadcasting linalg.generic each (arith /
// math bodies); matmuls linalg.matmul / linalg.batch_matmul; reductions
// linalg.reduce; Softmax, LogSoftmax and LayerNormalization are decomposed
// into reductions and elementwise generics.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace parsimony::onnximport;

namespace {

/// Fetches the required inputs [0, n); fails with a diagnostic if absent.
LogicalResult requireInputs(NodeContext &nc, unsigned n,
                            SmallVectorImpl<Value> &out) {
  for (unsigned i = 0; i < n; ++i) {
    Value v = nc.input(i);
    if (!v)
      return nc.error() << "missing required input " << i;
    out.push_back(v);
  }
  return success();
}

LogicalResult requireSameElementType(NodeContext &nc, ValueRange values) {
  Type first = getElementTypeOrSelf(values.front().getType());
  for (Value v : values.drop_front())
    if (getElementTypeOrSelf(v.getType()) != first)
      return nc.error() << "operand element types differ: " << first << " vs "
                        << getElementTypeOrSelf(v.getType());
  return success();
}

//===----------------------------------------------------------------------===//
// Elementwise binary / variadic
//===----------------------------------------------------------------------===//

enum class Binary {
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Max,
  Min,
  Mod,
  Equal,
  Less,
  LessOrEqual,
  Greater,
  GreaterOrEqual,
  And,
  Or,
  Xor,
  PRelu,
  ShiftLeft,
  ShiftRight
};

bool isComparison(Binary k) {
  return k == Binary::Equal || k == Binary::Less || k == Binary::LessOrEqual ||
         k == Binary::Greater || k == Binary::GreaterOrEqual;
}

Value binaryScalar(OpBuilder &b, Location loc, Binary kind, Value x, Value y,
                   bool isUnsigned, int64_t fmod) {
  bool isFloat = isa<FloatType>(x.getType());
  switch (kind) {
  case Binary::Add:
    return isFloat ? arith::AddFOp::create(b, loc, x, y).getResult()
                   : arith::AddIOp::create(b, loc, x, y).getResult();
  case Binary::Sub:
    return isFloat ? arith::SubFOp::create(b, loc, x, y).getResult()
                   : arith::SubIOp::create(b, loc, x, y).getResult();
  case Binary::Mul:
    return isFloat ? arith::MulFOp::create(b, loc, x, y).getResult()
                   : arith::MulIOp::create(b, loc, x, y).getResult();
  case Binary::Div:
    if (isFloat)
      return arith::DivFOp::create(b, loc, x, y);
    return divideIntegers(b, loc, x, y, isUnsigned);
  case Binary::Pow:
    if (isFloat)
      return math::PowFOp::create(b, loc, x, y);
    return math::IPowIOp::create(b, loc, x, y);
  case Binary::Max:
    if (isFloat)
      return arith::MaximumFOp::create(b, loc, x, y);
    return isUnsigned ? arith::MaxUIOp::create(b, loc, x, y).getResult()
                      : arith::MaxSIOp::create(b, loc, x, y).getResult();
  case Binary::Min:
    if (isFloat)
      return arith::MinimumFOp::create(b, loc, x, y);
    return isUnsigned ? arith::MinUIOp::create(b, loc, x, y).getResult()
                      : arith::MinSIOp::create(b, loc, x, y).getResult();
  case Binary::Mod: {
    if (isFloat)
      return arith::RemFOp::create(b, loc, x, y);
    // x % 0 and x % -1 are x % 1 = 0.
    y = safeDivisor(b, loc, y, isUnsigned);
    if (isUnsigned)
      return arith::RemUIOp::create(b, loc, x, y);
    Value r = arith::RemSIOp::create(b, loc, x, y);
    if (fmod)
      return r;
    // Python-style modulo: the result takes the sign of the divisor.
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(x.getType()));
    Value rNeg =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, r, zero);
    Value yNeg =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, y, zero);
    Value rNonZero =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, r, zero);
    Value differ = arith::XOrIOp::create(b, loc, rNeg, yNeg);
    Value fix = arith::AndIOp::create(b, loc, differ, rNonZero);
    Value adjusted = arith::AddIOp::create(b, loc, r, y);
    return arith::SelectOp::create(b, loc, fix, adjusted, r);
  }
  case Binary::And:
    return arith::AndIOp::create(b, loc, x, y);
  case Binary::Or:
    return arith::OrIOp::create(b, loc, x, y);
  case Binary::Xor:
    return arith::XOrIOp::create(b, loc, x, y);
  case Binary::PRelu: {
    // x < 0 ? slope * x : x.
    if (!isFloat && isUnsigned)
      return x;
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(x.getType()));
    Value negative =
        isFloat
            ? arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x, zero)
                  .getResult()
            : arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x, zero)
                  .getResult();
    Value scaled = binaryScalar(b, loc, Binary::Mul, x, y, isUnsigned, fmod);
    return arith::SelectOp::create(b, loc, negative, scaled, x);
  }
  case Binary::ShiftLeft:
  case Binary::ShiftRight: {
    // Shifting by the bit width or more yields 0 (numpy), where arith's
    // shifts are poison.
    Value shifted = kind == Binary::ShiftLeft
                        ? arith::ShLIOp::create(b, loc, x, y).getResult()
                        : arith::ShRUIOp::create(b, loc, x, y).getResult();
    Value width = arith::ConstantOp::create(
        b, loc,
        b.getIntegerAttr(x.getType(), x.getType().getIntOrFloatBitWidth()));
    Value tooFar =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, y, width);
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(x.getType()));
    return arith::SelectOp::create(b, loc, tooFar, zero, shifted);
  }
  case Binary::Equal:
  case Binary::Less:
  case Binary::LessOrEqual:
  case Binary::Greater:
  case Binary::GreaterOrEqual: {
    if (isFloat) {
      arith::CmpFPredicate p =
          kind == Binary::Equal         ? arith::CmpFPredicate::OEQ
          : kind == Binary::Less        ? arith::CmpFPredicate::OLT
          : kind == Binary::LessOrEqual ? arith::CmpFPredicate::OLE
          : kind == Binary::Greater     ? arith::CmpFPredicate::OGT
                                        : arith::CmpFPredicate::OGE;
      return arith::CmpFOp::create(b, loc, p, x, y);
    }
    arith::CmpIPredicate p;
    switch (kind) {
    case Binary::Equal:
      p = arith::CmpIPredicate::eq;
      break;
    case Binary::Less:
      p = isUnsigned ? arith::CmpIPredicate::ult : arith::CmpIPredicate::slt;
      break;
    case Binary::LessOrEqual:
      p = isUnsigned ? arith::CmpIPredicate::ule : arith::CmpIPredicate::sle;
      break;
    case Binary::Greater:
      p = isUnsigned ? arith::CmpIPredicate::ugt : arith::CmpIPredicate::sgt;
      break;
    default:
      p = isUnsigned ? arith::CmpIPredicate::uge : arith::CmpIPredicate::sge;
      break;
    }
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  }
  llvm_unreachable("unknown binary kind");
}

template <Binary kind> LogicalResult convertBinary(NodeContext &nc) {
  SmallVector<Value> in;
  if (failed(requireInputs(nc, 2, in)))
    return failure();
  Emitter em = nc.emitter();
  bool isUnsigned = nc.inputUnsigned(0);
  Type elementType = getElementTypeOrSelf(in[0].getType());
  if (kind == Binary::Pow) {
    // The exponent may have another type: convert it to the base's.
    Type expType = getElementTypeOrSelf(in[1].getType());
    if (expType != elementType) {
      FailureOr<Value> c =
          em.castTo(in[1], elementType, nc.inputUnsigned(1), isUnsigned);
      if (failed(c))
        return failure();
      in[1] = *c;
    }
  } else if (failed(requireSameElementType(nc, in))) {
    return failure();
  }
  bool isFloat = isa<FloatType>(elementType);
  if ((kind == Binary::And || kind == Binary::Or || kind == Binary::Xor) &&
      !elementType.isInteger(1))
    return nc.error() << "expects boolean operands, got " << elementType;
  if (kind == Binary::Pow && !isFloat && !isa<IntegerType>(elementType))
    return nc.error() << "unsupported element type " << elementType;
  if ((kind == Binary::ShiftLeft || kind == Binary::ShiftRight) &&
      (!isUnsigned || elementType.isInteger(1)))
    return nc.error() << "expects unsigned integer operands, got "
                      << (isa<IntegerType>(elementType) && !isUnsigned
                              ? "signed "
                              : "")
                      << elementType;
  int64_t fmod = nc.attrInt("fmod", 0);
  if (kind == Binary::Mod && isFloat && !fmod)
    return nc.error() << "floating-point Mod needs fmod = 1";
  Type resultType =
      isComparison(kind) ? nc.importer.builder.getI1Type() : elementType;
  FailureOr<Value> r =
      em.map(in, resultType, [&](OpBuilder &b, Location loc, ValueRange a) {
        return binaryScalar(b, loc, kind, a[0], a[1], isUnsigned, fmod);
      });
  if (failed(r))
    return failure();
  nc.setOutput(0, *r,
               isComparison(kind) ? onnx::TensorProto::BOOL
                                  : nc.inputOnnxType(0));
  return success();
}

/// BitShift: a left or right shift by `direction`.
LogicalResult convertBitShift(NodeContext &nc) {
  std::string direction = nc.attrString("direction", "");
  if (direction == "LEFT")
    return convertBinary<Binary::ShiftLeft>(nc);
  if (direction == "RIGHT")
    return convertBinary<Binary::ShiftRight>(nc);
  return nc.error() << "direction must be LEFT or RIGHT, got '" << direction
                    << "'";
}

/// Max, Min, Sum, Mean: variadic with broadcasting.
template <Binary kind, bool mean = false>
LogicalResult convertVariadic(NodeContext &nc) {
  SmallVector<Value> in;
  for (unsigned i = 0; i < nc.numInputs(); ++i)
    if (Value v = nc.input(i))
      in.push_back(v);
  if (in.empty())
    return nc.error() << "needs at least one input";
  if (failed(requireSameElementType(nc, in)))
    return failure();
  Emitter em = nc.emitter();
  bool isUnsigned = nc.inputUnsigned(0);
  Type elementType = getElementTypeOrSelf(in[0].getType());
  if (mean && !isa<FloatType>(elementType))
    return nc.error() << "Mean needs floating-point inputs";
  FailureOr<Value> r =
      em.map(in, elementType, [&](OpBuilder &b, Location loc, ValueRange a) {
        Value acc = a[0];
        for (Value v : a.drop_front())
          acc = binaryScalar(b, loc, kind, acc, v, isUnsigned, 0);
        if (mean) {
          Emitter inner(b, loc, nullptr);
          acc = arith::DivFOp::create(
              b, loc, acc,
              inner.scalarConst(elementType, static_cast<double>(a.size())));
        }
        return acc;
      });
  if (failed(r))
    return failure();
  nc.setOutput(0, *r, nc.inputOnnxType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Elementwise unary
//===----------------------------------------------------------------------===//

enum class Unary {
  Sqrt,
  Reciprocal,
  Exp,
  Log,
  Erf,
  Tanh,
  Sigmoid,
  Relu,
  LeakyRelu,
  Neg,
  Abs,
  Floor,
  Ceil,
  Round,
  Not,
  Sin,
  Cos,
  Sign,
  Softplus,
  Elu,
  HardSigmoid,
  Selu,
  IsNaN,
  Mish,
  Swish,
  HardSwish,
  ThresholdedRelu,
  Softsign,
  Shrink,
  Celu,
  IsInf,
  Tan,
  Sinh,
  Cosh,
  Asin,
  Acos,
  Atan,
  Asinh,
  Acosh,
  Atanh
};

bool floatOnly(Unary k) {
  switch (k) {
  case Unary::Relu:
  case Unary::Neg:
  case Unary::Abs:
  case Unary::Not:
  case Unary::Sign:
    return false;
  default:
    return true;
  }
}

template <Unary kind> LogicalResult convertUnary(NodeContext &nc) {
  Value x = nc.input(0);
  if (!x)
    return nc.error() << "missing required input 0";
  Type elementType = getElementTypeOrSelf(x.getType());
  bool isFloat = isa<FloatType>(elementType);
  if (floatOnly(kind) && !isFloat)
    return nc.error() << "unsupported element type " << elementType
                      << " (expects floating point)";
  if (kind == Unary::Not && !elementType.isInteger(1))
    return nc.error() << "expects a boolean operand, got " << elementType;
  float alpha =
      nc.attrFloat("alpha", kind == Unary::LeakyRelu     ? 0.01f
                            : kind == Unary::HardSigmoid ? 0.2f
                            : kind == Unary::Selu ? 1.67326319217681884765625f
                                                  : 1.0f);
  float beta = nc.attrFloat("beta", 0.5f);
  float gamma = nc.attrFloat("gamma", 1.05070102214813232421875f);
  Emitter em = nc.emitter();
  bool isPredicate = kind == Unary::IsNaN || kind == Unary::IsInf;
  Type resultType = isPredicate ? nc.importer.builder.getI1Type() : elementType;
  bool detectNegative = nc.attrInt("detect_negative", 1) != 0;
  bool detectPositive = nc.attrInt("detect_positive", 1) != 0;
  float lambd = nc.attrFloat("lambd", 0.5f);
  float bias = nc.attrFloat("bias", 0.0f);
  FailureOr<Value> r = em.map(
      {x}, resultType, [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
        Emitter s(b, loc, nullptr);
        Value v = a[0];
        auto c = [&](double value) {
          return s.scalarConst(elementType, value);
        };
        switch (kind) {
        case Unary::Sqrt:
          return math::SqrtOp::create(b, loc, v);
        case Unary::Reciprocal:
          return arith::DivFOp::create(b, loc, c(1.0), v);
        case Unary::Exp:
          return math::ExpOp::create(b, loc, v);
        case Unary::Log:
          return math::LogOp::create(b, loc, v);
        case Unary::Erf:
          return math::ErfOp::create(b, loc, v);
        case Unary::Tanh:
          return math::TanhOp::create(b, loc, v);
        case Unary::Sigmoid: {
          Value neg = arith::NegFOp::create(b, loc, v);
          Value e = math::ExpOp::create(b, loc, neg);
          Value d = arith::AddFOp::create(b, loc, c(1.0), e);
          return arith::DivFOp::create(b, loc, c(1.0), d);
        }
        case Unary::Relu:
          if (isFloat)
            return arith::MaximumFOp::create(b, loc, v, c(0.0));
          return arith::MaxSIOp::create(b, loc, v, c(0.0));
        case Unary::LeakyRelu: {
          Value pos = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                            v, c(0.0));
          Value scaled = arith::MulFOp::create(b, loc, v, c(alpha));
          return arith::SelectOp::create(b, loc, pos, v, scaled);
        }
        case Unary::Neg:
          if (isFloat)
            return arith::NegFOp::create(b, loc, v);
          return arith::SubIOp::create(b, loc, c(0.0), v);
        case Unary::Abs:
          if (isFloat)
            return math::AbsFOp::create(b, loc, v);
          return math::AbsIOp::create(b, loc, v);
        case Unary::Floor:
          return math::FloorOp::create(b, loc, v);
        case Unary::Ceil:
          return math::CeilOp::create(b, loc, v);
        case Unary::Round:
          return math::RoundEvenOp::create(b, loc, v);
        case Unary::Not:
          return arith::XOrIOp::create(b, loc, v,
                                       s.scalarConst(b.getI1Type(), 1.0));
        case Unary::Sin:
          return math::SinOp::create(b, loc, v);
        case Unary::Cos:
          return math::CosOp::create(b, loc, v);
        case Unary::Sign: {
          if (isFloat) {
            Value pos = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                              v, c(0.0));
            Value neg = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT,
                                              v, c(0.0));
            Value r = arith::SelectOp::create(b, loc, neg, c(-1.0), c(0.0));
            return arith::SelectOp::create(b, loc, pos, c(1.0), r);
          }
          Value pos = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                            v, c(0.0));
          Value neg = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                            v, c(0.0));
          Value r = arith::SelectOp::create(b, loc, neg, c(-1.0), c(0.0));
          return arith::SelectOp::create(b, loc, pos, c(1.0), r);
        }
        case Unary::Softplus: {
          Value e = math::ExpOp::create(b, loc, v);
          return math::Log1pOp::create(b, loc, e);
        }
        case Unary::Elu: {
          Value pos = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE,
                                            v, c(0.0));
          Value e = math::ExpM1Op::create(b, loc, v);
          Value neg = arith::MulFOp::create(b, loc, e, c(alpha));
          return arith::SelectOp::create(b, loc, pos, v, neg);
        }
        case Unary::HardSigmoid: {
          Value t = arith::MulFOp::create(b, loc, v, c(alpha));
          t = arith::AddFOp::create(b, loc, t, c(beta));
          t = arith::MaximumFOp::create(b, loc, t, c(0.0));
          return arith::MinimumFOp::create(b, loc, t, c(1.0));
        }
        case Unary::Selu: {
          Value pos = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                            v, c(0.0));
          Value e = math::ExpOp::create(b, loc, v);
          Value neg = arith::SubFOp::create(
              b, loc, arith::MulFOp::create(b, loc, e, c(alpha)), c(alpha));
          Value sel = arith::SelectOp::create(b, loc, pos, v, neg);
          return arith::MulFOp::create(b, loc, sel, c(gamma));
        }
        case Unary::IsNaN:
          return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, v, v);
        case Unary::Mish: {
          // x * tanh(softplus(x)); softplus overflows to inf only where
          // tanh is 1 anyway.
          Value e = math::ExpOp::create(b, loc, v);
          Value sp = math::Log1pOp::create(b, loc, e);
          Value th = math::TanhOp::create(b, loc, sp);
          return arith::MulFOp::create(b, loc, v, th);
        }
        case Unary::Swish: {
          Value ax = arith::MulFOp::create(b, loc, v, c(alpha));
          Value e =
              math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, ax));
          Value d = arith::AddFOp::create(b, loc, c(1.0), e);
          return arith::DivFOp::create(b, loc, v, d);
        }
        case Unary::HardSwish: {
          // x * max(0, min(1, x / 6 + 1 / 2)).
          Value t = arith::MulFOp::create(b, loc, v, c(1.0 / 6.0));
          t = arith::AddFOp::create(b, loc, t, c(0.5));
          t = arith::MaximumFOp::create(b, loc, t, c(0.0));
          t = arith::MinimumFOp::create(b, loc, t, c(1.0));
          return arith::MulFOp::create(b, loc, v, t);
        }
        case Unary::ThresholdedRelu: {
          Value pos = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                            v, c(alpha));
          return arith::SelectOp::create(b, loc, pos, v, c(0.0));
        }
        case Unary::Softsign: {
          Value d = arith::AddFOp::create(b, loc, c(1.0),
                                          math::AbsFOp::create(b, loc, v));
          return arith::DivFOp::create(b, loc, v, d);
        }
        case Unary::Shrink: {
          // x + bias below -lambd, x - bias above lambd, else 0.
          Value lo = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, v,
                                           c(-lambd));
          Value hi = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, v,
                                           c(lambd));
          Value plus = arith::AddFOp::create(b, loc, v, c(bias));
          Value minus = arith::SubFOp::create(b, loc, v, c(bias));
          Value r = arith::SelectOp::create(b, loc, hi, minus, c(0.0));
          return arith::SelectOp::create(b, loc, lo, plus, r);
        }
        case Unary::Celu: {
          // max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).
          Value e = math::ExpM1Op::create(
              b, loc, arith::DivFOp::create(b, loc, v, c(alpha)));
          Value neg = arith::MinimumFOp::create(
              b, loc, arith::MulFOp::create(b, loc, e, c(alpha)), c(0.0));
          Value pos = arith::MaximumFOp::create(b, loc, v, c(0.0));
          return arith::AddFOp::create(b, loc, pos, neg);
        }
        case Unary::IsInf: {
          Type i1 = b.getI1Type();
          Value r = s.scalarConst(i1, 0);
          auto inf = [&](double sign) {
            return s.scalarConst(
                elementType, sign * std::numeric_limits<double>::infinity());
          };
          if (detectPositive)
            r = arith::OrIOp::create(
                b, loc, r,
                arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, v,
                                      inf(1)));
          if (detectNegative)
            r = arith::OrIOp::create(
                b, loc, r,
                arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, v,
                                      inf(-1)));
          return r;
        }
        case Unary::Tan:
          // sin / cos: the GPU lowering of math.tan needs a carry chain
          // (madc) the PTX emulator lacks; sin and cos have polynomial
          // lowerings on both targets.
          return arith::DivFOp::create(b, loc, math::SinOp::create(b, loc, v),
                                       math::CosOp::create(b, loc, v));
        case Unary::Sinh:
          return math::SinhOp::create(b, loc, v);
        case Unary::Cosh:
          return math::CoshOp::create(b, loc, v);
        case Unary::Asin:
          return math::AsinOp::create(b, loc, v);
        case Unary::Acos:
          return math::AcosOp::create(b, loc, v);
        case Unary::Atan:
          return math::AtanOp::create(b, loc, v);
        case Unary::Asinh:
          return math::AsinhOp::create(b, loc, v);
        case Unary::Acosh:
          return math::AcoshOp::create(b, loc, v);
        case Unary::Atanh:
          return math::AtanhOp::create(b, loc, v);
        }
        llvm_unreachable("unknown unary kind");
      });
  if (failed(r))
    return failure();
  nc.setOutput(0, *r,
               isPredicate ? onnx::TensorProto::BOOL : nc.inputOnnxType(0));
  return success();
}

LogicalResult convertClip(NodeContext &nc) {
  Value x = nc.input(0);
  if (!x)
    return nc.error() << "missing required input 0";
  SmallVector<Value> in = {x};
  Value lo = nc.input(1), hi = nc.input(2);
  if (nc.opset < 11) {
    // Clip-6: float attributes, each bound optional.
    auto type = RankedTensorType::get({}, getElementTypeOrSelf(x.getType()));
    if (!isa<FloatType>(type.getElementType()))
      return nc.error() << "Clip before opset 11 takes float tensors only";
    Emitter em = nc.emitter();
    if (nc.attr("min"))
      lo = em.splat(type, nc.attrFloat("min", 0));
    if (nc.attr("max"))
      hi = em.splat(type, nc.attrFloat("max", 0));
  }
  if (lo)
    in.push_back(lo);
  if (hi)
    in.push_back(hi);
  if (failed(requireSameElementType(nc, in)))
    return failure();
  for (Value bound : {lo, hi})
    if (bound && cast<RankedTensorType>(bound.getType()).getRank() != 0)
      return nc.error() << "min and max must be scalars";
  bool isUnsigned = nc.inputUnsigned(0);
  Emitter em = nc.emitter();
  Type elementType = getElementTypeOrSelf(x.getType());
  FailureOr<Value> r =
      em.map(in, elementType, [&](OpBuilder &b, Location loc, ValueRange a) {
        Value v = a[0];
        unsigned next = 1;
        if (lo)
          v = binaryScalar(b, loc, Binary::Max, v, a[next++], isUnsigned, 0);
        if (hi)
          v = binaryScalar(b, loc, Binary::Min, v, a[next++], isUnsigned, 0);
        return v;
      });
  if (failed(r))
    return failure();
  nc.setOutput(0, *r, nc.inputOnnxType(0));
  return success();
}

/// Gelu (opset 20): exact (erf) or tanh-approximated GELU.
LogicalResult convertGelu(NodeContext &nc) {
  if (nc.opset < 20)
    return nc.error() << "Gelu is a default-domain operator since opset 20 "
                         "(the model imports opset "
                      << nc.opset << ")";
  FailureOr<Value> x = nc.floatInput(0, "X");
  if (failed(x))
    return failure();
  std::string approximate = nc.attrString("approximate", "none");
  if (approximate != "none" && approximate != "tanh")
    return nc.error() << "unknown approximate '" << approximate
                      << "' (expected none or tanh)";
  Emitter em = nc.emitter();
  FailureOr<Value> y = approximate == "tanh" ? em.geluTanh(*x) : em.gelu(*x);
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

/// CumSum (opset 11) / CumProd (opset 26) along the constant `axis` input:
/// y[.., i, ..] combines x[.., k, ..] for k <= i (k < i when exclusive; k >= i
/// or k > i when reversed). One generic whose extra reduction loop runs over
/// the whole axis and skips the other entries: quadratic in the axis length,
/// which is short where transformers use it (positions from a mask).
template <bool isProd> LogicalResult convertCumulative(NodeContext &nc) {
  Value x = nc.input(0);
  if (!x)
    return nc.error() << "missing required input 0";
  auto type = cast<RankedTensorType>(x.getType());
  Type elementType = type.getElementType();
  bool isFloat = isa<FloatType>(elementType);
  if (!isFloat && (!isa<IntegerType>(elementType) ||
                   elementType.getIntOrFloatBitWidth() < 32))
    return nc.error() << "unsupported element type " << elementType;
  if (type.getRank() == 0)
    return nc.error() << "the input must have rank at least 1";
  const ConstTensor *axisInput = nc.constInput(1);
  if (!axisInput || axisInput->numElements() != 1)
    return nc.error()
           << "axis must be a one-element constant known at import time";
  FailureOr<int64_t> axis = normalizeAxis(axisInput->getInt(0), type.getRank(),
                                          [&] { return nc.error(); });
  if (failed(axis))
    return failure();
  bool exclusive = nc.attrInt("exclusive", 0) != 0;
  bool reverse = nc.attrInt("reverse", 0) != 0;

  int64_t rank = type.getRank();
  MLIRContext *ctx = nc.importer.ctx;
  SmallVector<AffineExpr> inExprs;
  for (int64_t d = 0; d < rank; ++d)
    inExprs.push_back(getAffineDimExpr(d == *axis ? rank : d, ctx));
  SmallVector<AffineMap> maps = {
      AffineMap::get(rank + 1, 0, inExprs, ctx),
      AffineMap::getMultiDimIdentityMap(rank + 1, ctx).getMajorSubMap(rank)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  Emitter em = nc.emitter();
  SmallVector<Value> dynDims;
  for (int64_t d = 0; d < rank; ++d)
    if (type.isDynamicDim(d))
      dynDims.push_back(em.dim(x, d));
  Value init =
      em.filled(type, dynDims, em.scalarConst(elementType, isProd ? 1 : 0));
  arith::CmpIPredicate keep =
      reverse
          ? (exclusive ? arith::CmpIPredicate::sgt : arith::CmpIPredicate::sge)
          : (exclusive ? arith::CmpIPredicate::slt : arith::CmpIPredicate::sle);
  OpBuilder &b = nc.importer.builder;
  auto generic = linalg::GenericOp::create(
      b, nc.loc, TypeRange{type}, ValueRange{x}, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nb, Location l, ValueRange args) {
        Emitter s(nb, l, nullptr);
        Value i = linalg::IndexOp::create(nb, l, *axis);
        Value k = linalg::IndexOp::create(nb, l, rank);
        Value in = arith::CmpIOp::create(nb, l, keep, k, i);
        Value neutral = s.scalarConst(elementType, isProd ? 1 : 0);
        Value v = arith::SelectOp::create(nb, l, in, args[0], neutral);
        Value acc = args[1];
        Value r;
        if (isProd)
          r = isFloat ? arith::MulFOp::create(nb, l, acc, v).getResult()
                      : arith::MulIOp::create(nb, l, acc, v).getResult();
        else
          r = isFloat ? arith::AddFOp::create(nb, l, acc, v).getResult()
                      : arith::AddIOp::create(nb, l, acc, v).getResult();
        linalg::YieldOp::create(nb, l, r);
      });
  nc.setOutput(0, generic.getResult(0), nc.inputOnnxType(0));
  return success();
}

LogicalResult convertWhere(NodeContext &nc) {
  SmallVector<Value> in;
  if (failed(requireInputs(nc, 3, in)))
    return failure();
  if (!getElementTypeOrSelf(in[0].getType()).isInteger(1))
    return nc.error() << "condition must be boolean";
  if (failed(requireSameElementType(nc, {in[1], in[2]})))
    return failure();
  Emitter em = nc.emitter();
  FailureOr<Value> r = em.map(
      in, getElementTypeOrSelf(in[1].getType()),
      [&](OpBuilder &b, Location loc, ValueRange a) {
        return arith::SelectOp::create(b, loc, a[0], a[1], a[2]).getResult();
      });
  if (failed(r))
    return failure();
  nc.setOutput(0, *r, nc.inputOnnxType(1));
  return success();
}

LogicalResult convertCast(NodeContext &nc) {
  Value x = nc.input(0);
  if (!x)
    return nc.error() << "missing required input 0";
  int32_t to = static_cast<int32_t>(nc.attrInt("to", 0));
  Type toType = getElementType(nc.importer.ctx, to);
  if (!toType)
    return nc.error() << "unsupported target type " << onnxTypeName(to);
  Emitter em = nc.emitter();
  FailureOr<Value> r =
      em.castTo(x, toType, nc.inputUnsigned(0), isUnsignedOnnxType(to));
  if (failed(r))
    return failure();
  nc.setOutput(0, *r, to);
  return success();
}

LogicalResult convertCastLike(NodeContext &nc) {
  Value x = nc.input(0), like = nc.input(1);
  if (!x || !like)
    return nc.error() << "needs two inputs";
  Emitter em = nc.emitter();
  FailureOr<Value> r = em.castTo(x, getElementTypeOrSelf(like.getType()),
                                 nc.inputUnsigned(0), nc.inputUnsigned(1));
  if (failed(r))
    return failure();
  nc.setOutput(0, *r, nc.inputOnnxType(1));
  return success();
}

//===----------------------------------------------------------------------===//
// Matmuls
//===----------------------------------------------------------------------===//

LogicalResult convertMatMul(NodeContext &nc) {
  SmallVector<Value> in;
  if (failed(requireInputs(nc, 2, in)) ||
      failed(requireSameElementType(nc, in)))
    return failure();
  Type elementType = getElementTypeOrSelf(in[0].getType());
  if (!isa<FloatType>(elementType) && !elementType.isInteger(32) &&
      !elementType.isInteger(64))
    return nc.error() << "unsupported element type " << elementType;
  Emitter em = nc.emitter();
  FailureOr<Value> r = em.matmul(in[0], in[1]);
  if (failed(r))
    return failure();
  nc.setOutput(0, *r, nc.inputOnnxType(0));
  return success();
}

LogicalResult convertGemm(NodeContext &nc) {
  SmallVector<Value> in;
  if (failed(requireInputs(nc, 2, in)))
    return failure();
  Value c = nc.input(2);
  if (c)
    in.push_back(c);
  if (failed(requireSameElementType(nc, in)))
    return failure();
  Value a = in[0], b = in[1];
  if (cast<RankedTensorType>(a.getType()).getRank() != 2 ||
      cast<RankedTensorType>(b.getType()).getRank() != 2)
    return nc.error() << "A and B must be matrices";
  Type elementType = getElementTypeOrSelf(a.getType());
  if (!isa<FloatType>(elementType))
    return nc.error() << "unsupported element type " << elementType;
  Emitter em = nc.emitter();
  if (nc.attrInt("transA", 0))
    a = em.transpose(a, {1, 0});
  if (nc.attrInt("transB", 0))
    b = em.transpose(b, {1, 0});
  FailureOr<Value> y = em.matmul(a, b);
  if (failed(y))
    return failure();
  double alpha = nc.attrFloat("alpha", 1.0f), beta = nc.attrFloat("beta", 1.0f);
  Value result = *y;
  if (alpha != 1.0) {
    FailureOr<Value> s = em.map(
        {result}, elementType, [&](OpBuilder &bb, Location l, ValueRange v) {
          Emitter s(bb, l, nullptr);
          return arith::MulFOp::create(bb, l, v[0],
                                       s.scalarConst(elementType, alpha))
              .getResult();
        });
    if (failed(s))
      return failure();
    result = *s;
  }
  if (c && beta != 0.0) {
    Value cc = c;
    if (beta != 1.0) {
      FailureOr<Value> s = em.map(
          {c}, elementType, [&](OpBuilder &bb, Location l, ValueRange v) {
            Emitter s(bb, l, nullptr);
            return arith::MulFOp::create(bb, l, v[0],
                                         s.scalarConst(elementType, beta))
                .getResult();
          });
      if (failed(s))
        return failure();
      cc = *s;
    }
    if (cast<RankedTensorType>(cc.getType()).getRank() > 2)
      return nc.error() << "C must have rank <= 2";
    FailureOr<Value> sum =
        em.map({result, cc}, elementType,
               [&](OpBuilder &bb, Location l, ValueRange v) {
                 return arith::AddFOp::create(bb, l, v[0], v[1]).getResult();
               });
    if (failed(sum))
      return failure();
    if (cast<RankedTensorType>(sum->getType()).getRank() != 2)
      return nc.error() << "C does not broadcast to the output";
    result = *sum;
  }
  nc.setOutput(0, result, nc.inputOnnxType(0));
  return success();
}

LogicalResult convertMatMulInteger(NodeContext &nc) {
  Value a = nc.input(0), b = nc.input(1);
  if (!a || !b)
    return nc.error() << "needs inputs A and B";
  for (Value v : {a, b})
    if (!getElementTypeOrSelf(v.getType()).isInteger(8))
      return nc.error() << "A and B must be int8 or uint8";
  Emitter em = nc.emitter();
  FailureOr<Value> wa = widenWithZeroPoint(nc, em, 0, 2, /*unitDims=*/1);
  FailureOr<Value> wb = widenWithZeroPoint(nc, em, 1, 3, /*unitDims=*/0);
  if (failed(wa) || failed(wb))
    return failure();
  FailureOr<Value> r = em.matmul(*wa, *wb);
  if (failed(r))
    return failure();
  nc.setOutput(0, *r, onnx::TensorProto::INT32);
  return success();
}

//===----------------------------------------------------------------------===//
// Einsum
//===----------------------------------------------------------------------===//

LogicalResult convertEinsum(NodeContext &nc) {
  std::string equation;
  for (char ch : nc.attrString("equation", ""))
    if (ch != ' ')
      equation += ch;
  SmallVector<Value> operands;
  for (unsigned i = 0; i < nc.numInputs(); ++i) {
    Value v = nc.input(i);
    if (!v)
      return nc.error() << "missing input " << i;
    operands.push_back(v);
  }
  if (operands.empty())
    return nc.error() << "needs at least one input";
  if (failed(requireSameElementType(nc, operands)))
    return failure();
  StringRef eq(equation);
  auto [lhs, rhs] = eq.split("->");
  bool explicitOutput = eq.contains("->");
  SmallVector<StringRef> terms;
  lhs.split(terms, ',');
  if (terms.size() != operands.size())
    return nc.error() << "equation '" << equation << "' has " << terms.size()
                      << " operand terms for " << operands.size() << " inputs";
  // Labels: letters map to themselves; ellipsis dims to negative ids.
  int64_t ellipsisRank = 0;
  for (auto [term, v] : llvm::zip(terms, operands)) {
    int64_t letters = llvm::count_if(term, [](char c) { return c != '.'; });
    if (term.contains("..."))
      ellipsisRank = std::max<int64_t>(
          ellipsisRank,
          cast<RankedTensorType>(v.getType()).getRank() - letters);
  }
  auto parseTerm = [&](StringRef term, int64_t rank,
                       SmallVectorImpl<int> &labels) -> LogicalResult {
    size_t pos = term.find("...");
    int64_t letters = llvm::count_if(term, [](char c) { return c != '.'; });
    for (size_t i = 0; i < term.size(); ++i) {
      if (i == pos) {
        int64_t n = rank - letters;
        if (n < 0)
          return nc.error() << "equation term '" << term
                            << "' does not match the operand rank " << rank;
        for (int64_t j = 0; j < n; ++j)
          labels.push_back(-static_cast<int>(ellipsisRank - n + j) - 1);
        i += 2;
        continue;
      }
      if (!llvm::isAlpha(term[i]))
        return nc.error() << "invalid character in equation '" << equation
                          << "'";
      labels.push_back(term[i]);
    }
    if (pos == StringRef::npos && letters != rank)
      return nc.error() << "equation term '" << term
                        << "' does not match the operand rank " << rank;
    return success();
  };
  SmallVector<SmallVector<int>> inLabels(operands.size());
  llvm::DenseMap<int, int> counts;
  for (auto [i, term] : llvm::enumerate(terms)) {
    int64_t rank = cast<RankedTensorType>(operands[i].getType()).getRank();
    if (failed(parseTerm(term, rank, inLabels[i])))
      return failure();
    // A subscript repeated within one operand reads its diagonal: both
    // dimensions get the same loop. Like numpy, implicit mode leaves it out
    // of the output.
    for (int l : inLabels[i])
      ++counts[l];
  }
  SmallVector<int> outLabels;
  if (explicitOutput) {
    if (failed(parseTerm(
            rhs,
            ellipsisRank + llvm::count_if(rhs, [](char c) { return c != '.'; }),
            outLabels)))
      return failure();
  } else {
    for (int64_t j = 0; j < ellipsisRank; ++j)
      outLabels.push_back(-static_cast<int>(j) - 1);
    SmallVector<int> letters;
    for (auto &[l, c] : counts)
      if (l > 0 && c == 1)
        letters.push_back(l);
    llvm::sort(letters);
    outLabels.append(letters);
  }
  // Loop dimensions: output labels, then the contracted ones.
  SmallVector<int> loops(outLabels);
  for (auto &labels : inLabels)
    for (int l : labels)
      if (!llvm::is_contained(loops, l))
        loops.push_back(l);
  for (int l : outLabels)
    if (!counts.count(l))
      return nc.error() << "output subscript does not appear in any input";
  MLIRContext *ctx = nc.importer.ctx;
  int64_t numLoops = loops.size();
  // Loop sizes.
  SmallVector<int64_t> loopSize(numLoops, ShapedType::kDynamic);
  SmallVector<std::pair<Value, int64_t>> loopSource(numLoops, {Value(), 0});
  for (auto [v, labels] : llvm::zip(operands, inLabels)) {
    auto type = cast<RankedTensorType>(v.getType());
    for (auto [d, l] : llvm::enumerate(labels)) {
      int64_t idx = llvm::find(loops, l) - loops.begin();
      int64_t size = type.getDimSize(d);
      if (ShapedType::isDynamic(size)) {
        if (!loopSource[idx].first)
          loopSource[idx] = {v, d};
        continue;
      }
      if (size == 1 && l < 0)
        continue; // ellipsis broadcast
      if (!ShapedType::isDynamic(loopSize[idx]) && loopSize[idx] != size)
        return nc.error() << "einsum operand sizes disagree for a subscript";
      loopSize[idx] = size;
      loopSource[idx] = {v, d};
    }
  }
  for (int64_t i = 0; i < numLoops; ++i)
    if (ShapedType::isDynamic(loopSize[i]) && !loopSource[i].first)
      loopSize[i] = 1;
  SmallVector<AffineMap> maps;
  for (auto [v, labels] : llvm::zip(operands, inLabels)) {
    auto type = cast<RankedTensorType>(v.getType());
    SmallVector<AffineExpr> exprs;
    for (auto [d, l] : llvm::enumerate(labels)) {
      int64_t idx = llvm::find(loops, l) - loops.begin();
      if (type.getDimSize(d) == 1 && loopSize[idx] != 1)
        exprs.push_back(getAffineConstantExpr(0, ctx));
      else
        exprs.push_back(getAffineDimExpr(idx, ctx));
    }
    maps.push_back(AffineMap::get(numLoops, 0, exprs, ctx));
  }
  SmallVector<AffineExpr> outExprs;
  SmallVector<int64_t> outShape;
  Emitter em = nc.emitter();
  SmallVector<Value> dynDims;
  for (int64_t i = 0; i < static_cast<int64_t>(outLabels.size()); ++i) {
    outExprs.push_back(getAffineDimExpr(i, ctx));
    outShape.push_back(loopSize[i]);
    if (ShapedType::isDynamic(loopSize[i]))
      dynDims.push_back(em.dim(loopSource[i].first, loopSource[i].second));
  }
  maps.push_back(AffineMap::get(numLoops, 0, outExprs, ctx));
  SmallVector<utils::IteratorType> iterators;
  for (int64_t i = 0; i < numLoops; ++i)
    iterators.push_back(i < static_cast<int64_t>(outLabels.size())
                            ? utils::IteratorType::parallel
                            : utils::IteratorType::reduction);
  Type elementType = getElementTypeOrSelf(operands[0].getType());
  bool isFloat = isa<FloatType>(elementType);
  auto outType = RankedTensorType::get(outShape, elementType);
  Value init = em.filled(outType, dynDims, em.scalarConst(elementType, 0));
  OpBuilder &b = nc.importer.builder;
  auto generic = linalg::GenericOp::create(
      b, nc.loc, TypeRange{outType}, operands, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nb, Location l, ValueRange args) {
        Value p = args[0];
        for (Value v : args.drop_front().drop_back())
          p = isFloat ? arith::MulFOp::create(nb, l, p, v).getResult()
                      : arith::MulIOp::create(nb, l, p, v).getResult();
        Value acc = args.back();
        Value r = isFloat ? arith::AddFOp::create(nb, l, acc, p).getResult()
                          : arith::AddIOp::create(nb, l, acc, p).getResult();
        linalg::YieldOp::create(nb, l, r);
      });
  nc.setOutput(0, generic.getResult(0), nc.inputOnnxType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions, Softmax, LayerNormalization
//===----------------------------------------------------------------------===//

/// Normalised, sorted, de-duplicated reduction axes; all axes if `axes` is
/// empty.
FailureOr<SmallVector<int64_t>>
reductionAxes(NodeContext &nc, ArrayRef<int64_t> axes, int64_t rank) {
  SmallVector<int64_t> result;
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i)
      result.push_back(i);
    return result;
  }
  for (int64_t a : axes) {
    FailureOr<int64_t> n = normalizeAxis(a, rank, [&] { return nc.error(); });
    if (failed(n))
      return failure();
    if (!llvm::is_contained(result, *n))
      result.push_back(*n);
  }
  llvm::sort(result);
  return result;
}

enum class Reduction {
  Sum,
  Mean,
  Max,
  Min,
  Prod,
  SumSquare,
  L1,
  L2,
  LogSum,
  LogSumExp
};

template <Reduction kind> LogicalResult convertReduce(NodeContext &nc) {
  Value x = nc.input(0);
  if (!x)
    return nc.error() << "missing required input 0";
  auto type = cast<RankedTensorType>(x.getType());
  Type elementType = type.getElementType();
  bool isFloat = isa<FloatType>(elementType);
  if ((kind == Reduction::Mean || kind == Reduction::L2 ||
       kind == Reduction::LogSum || kind == Reduction::LogSumExp) &&
      !isFloat)
    return nc.error() << "unsupported element type " << elementType;
  if (nc.inputUnsigned(0) && (kind == Reduction::Max || kind == Reduction::Min))
    return nc.error() << "unsigned integer Max/Min reductions are not "
                         "supported";
  SmallVector<int64_t> axes;
  // ReduceSum takes its axes as an input since opset 13, the others since 18.
  bool axesFromInput = nc.opset >= (kind == Reduction::Sum ? 13 : 18);
  if (axesFromInput) {
    if (nc.hasInput(1)) {
      FailureOr<SmallVector<int64_t>> a = nc.constInts(1, "axes");
      if (failed(a))
        return failure();
      axes = *a;
    }
  } else if (auto a = nc.attrInts("axes")) {
    axes = *a;
  }
  bool keepDims = nc.attrInt("keepdims", 1) != 0;
  if (axes.empty() && nc.attrInt("noop_with_empty_axes", 0)) {
    nc.setOutput(0, x, nc.inputOnnxType(0));
    return success();
  }
  FailureOr<SmallVector<int64_t>> norm =
      reductionAxes(nc, axes, type.getRank());
  if (failed(norm))
    return failure();
  Emitter em = nc.emitter();
  Value input = x;
  if (kind == Reduction::SumSquare || kind == Reduction::L2) {
    FailureOr<Value> sq =
        em.map({x}, elementType, [&](OpBuilder &b, Location l, ValueRange a) {
          return binaryScalar(b, l, Binary::Mul, a[0], a[0], false, 0);
        });
    if (failed(sq))
      return failure();
    input = *sq;
  } else if (kind == Reduction::L1) {
    FailureOr<Value> abs = em.map(
        {x}, elementType, [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          if (isFloat)
            return math::AbsFOp::create(b, l, a[0]);
          if (nc.inputUnsigned(0))
            return a[0];
          return math::AbsIOp::create(b, l, a[0]);
        });
    if (failed(abs))
      return failure();
    input = *abs;
  }
  Value maxKeep;
  if (kind == Reduction::LogSumExp) {
    FailureOr<Value> m =
        em.reduce(x, *norm, Emitter::ReduceKind::Max, /*keepDims=*/true);
    if (failed(m))
      return failure();
    maxKeep = *m;
    FailureOr<Value> e = em.map(
        {x, *m}, elementType, [&](OpBuilder &b, Location l, ValueRange a) {
          Value d = arith::SubFOp::create(b, l, a[0], a[1]);
          return math::ExpOp::create(b, l, d).getResult();
        });
    if (failed(e))
      return failure();
    input = *e;
  }
  Emitter::ReduceKind rk = kind == Reduction::Max    ? Emitter::ReduceKind::Max
                           : kind == Reduction::Min  ? Emitter::ReduceKind::Min
                           : kind == Reduction::Prod ? Emitter::ReduceKind::Prod
                                                     : Emitter::ReduceKind::Sum;
  bool keep = kind == Reduction::LogSumExp ? true : keepDims;
  FailureOr<Value> r = em.reduce(input, *norm, rk, keep);
  if (failed(r))
    return failure();
  Value result = *r;
  if (kind == Reduction::Mean) {
    Value count = em.countOver(x, *norm, elementType);
    FailureOr<Value> m = em.map(
        {result}, elementType, [&](OpBuilder &b, Location l, ValueRange a) {
          return arith::DivFOp::create(b, l, a[0], count).getResult();
        });
    if (failed(m))
      return failure();
    result = *m;
  } else if (kind == Reduction::L2 || kind == Reduction::LogSum) {
    FailureOr<Value> m = em.map(
        {result}, elementType, [&](OpBuilder &b, Location l, ValueRange a) {
          if (kind == Reduction::LogSum)
            return math::LogOp::create(b, l, a[0]).getResult();
          return math::SqrtOp::create(b, l, a[0]).getResult();
        });
    if (failed(m))
      return failure();
    result = *m;
  } else if (kind == Reduction::LogSumExp) {
    FailureOr<Value> m =
        em.map({result, maxKeep}, elementType,
               [&](OpBuilder &b, Location l, ValueRange a) {
                 Value lg = math::LogOp::create(b, l, a[0]);
                 return arith::AddFOp::create(b, l, lg, a[1]).getResult();
               });
    if (failed(m))
      return failure();
    result = *m;
    if (!keepDims) {
      FailureOr<Value> s = em.squeeze(result, *norm);
      if (failed(s))
        return failure();
      result = *s;
    }
  }
  nc.setOutput(0, result, nc.inputOnnxType(0));
  return success();
}

/// softmax(x) or log-softmax(x) along `axis`; before opset 13, over the
/// axes [axis, rank) flattened into one (default axis 1).
template <bool isLog> LogicalResult convertSoftmax(NodeContext &nc) {
  Value x = nc.input(0);
  if (!x)
    return nc.error() << "missing required input 0";
  auto type = cast<RankedTensorType>(x.getType());
  Type elementType = type.getElementType();
  if (!isa<FloatType>(elementType))
    return nc.error() << "unsupported element type " << elementType;
  if (type.getRank() == 0)
    return nc.error() << "needs an input of rank >= 1";
  bool flattens = nc.opset < 13;
  FailureOr<int64_t> axis =
      normalizeAxis(nc.attrInt("axis", flattens ? 1 : -1), type.getRank(),
                    [&] { return nc.error(); });
  if (failed(axis))
    return failure();
  SmallVector<int64_t> axes = {*axis};
  if (flattens)
    axes = llvm::to_vector(llvm::seq<int64_t>(*axis, type.getRank()));
  FailureOr<Value> r = nc.emitter().softmax(x, axes, isLog);
  if (failed(r))
    return failure();
  nc.setOutput(0, *r, nc.inputOnnxType(0));
  return success();
}

LogicalResult convertLayerNorm(NodeContext &nc) {
  Value x = nc.input(0), scale = nc.input(1), bias = nc.input(2);
  if (!x || !scale)
    return nc.error() << "needs inputs X and Scale";
  auto type = cast<RankedTensorType>(x.getType());
  Type elementType = type.getElementType();
  if (!isa<FloatType>(elementType))
    return nc.error() << "unsupported element type " << elementType;
  FailureOr<int64_t> axis = normalizeAxis(
      nc.attrInt("axis", -1), type.getRank(), [&] { return nc.error(); });
  if (failed(axis))
    return failure();
  // Statistics in f32 (stash_type = 1), the result in the input type.
  Type compute = nc.attrInt("stash_type", 1) == 1
                     ? nc.importer.builder.getF32Type()
                     : elementType;
  FailureOr<Emitter::Normalized> n = nc.emitter().layerNorm(
      x, scale, bias, *axis, nc.attrFloat("epsilon", 1e-5f), compute);
  if (failed(n))
    return failure();
  nc.setOutput(0, n->y, nc.inputOnnxType(0));
  nc.setOutput(1, n->mean, onnxTypeFor(compute));
  nc.setOutput(2, n->invStdDev, onnxTypeFor(compute));
  return success();
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

/// Reshapes a per-axis 1-D parameter so that it broadcasts along `axis` of a
/// rank-`rank` tensor.
FailureOr<Value> perAxis(Emitter &em, Value param, int64_t axis, int64_t rank) {
  auto type = cast<RankedTensorType>(param.getType());
  if (type.getRank() == 0)
    return param;
  if (type.getRank() != 1)
    return em.err() << "per-axis parameters must be 1-D";
  SmallVector<int64_t> axes;
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis)
      axes.push_back(i);
  return em.unsqueeze(param, axes);
}

/// A quantization parameter (scale or zero point) of `x` made broadcastable
/// to it: per tensor, per `axis` (1-D), or (opset 21 `block_size`) per block
/// of `blockSize` consecutive entries along `axis`, where the parameter has
/// x's rank and ceil(size / blockSize) entries along `axis`.
FailureOr<Value> quantParam(NodeContext &nc, Value param, Value x,
                            int64_t blockSize, StringRef what) {
  Emitter em = nc.emitter();
  auto xType = cast<RankedTensorType>(x.getType());
  auto type = cast<RankedTensorType>(param.getType());
  int64_t rank = xType.getRank();
  if (blockSize < 0)
    return nc.error() << "block_size must not be negative";
  if (type.getRank() == 0 && blockSize == 0)
    return param;
  // A one-element vector is per-tensor too (as ONNX Runtime reads it), whatever
  // the axis.
  if (type.getRank() == 1 && type.getDimSize(0) == 1 && blockSize == 0)
    return em.reshape(param, {});
  FailureOr<int64_t> axis =
      normalizeAxis(nc.attrInt("axis", 1), rank, [&] { return nc.error(); });
  if (failed(axis))
    return failure();
  if (blockSize == 0)
    return perAxis(em, param, *axis, rank);
  if (type.getRank() != rank)
    return nc.error() << what << " of blocked quantization must have the rank "
                      << "of the input (" << rank << "), got " << type;
  int64_t size = xType.getDimSize(*axis);
  if (ShapedType::isDynamic(size))
    return nc.error() << "blocked quantization needs a static size along the "
                         "quantization axis";
  int64_t blocks = (size + blockSize - 1) / blockSize;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t want = d == *axis ? blocks : xType.getDimSize(d);
    if (!type.isDynamicDim(d) && !ShapedType::isDynamic(want) &&
        type.getDimSize(d) != want)
      return nc.error() << what << " has shape " << type << "; blocks of "
                        << blockSize << " along axis " << *axis << " of "
                        << xType << " need " << want << " in dimension " << d;
  }
  // [.., blocks, ..] -> [.., blocks, blockSize, ..] -> [.., blocks * blockSize,
  // ..] -> the first `size` entries.
  FailureOr<Value> u = em.unsqueeze(param, {*axis + 1});
  if (failed(u))
    return failure();
  SmallVector<int64_t> wide(type.getShape());
  wide.insert(wide.begin() + *axis + 1, blockSize);
  SmallVector<Value> dyn;
  for (int64_t d = 0; d < rank; ++d)
    if (type.isDynamicDim(d))
      dyn.push_back(em.dim(param, d));
  FailureOr<Value> bc = em.broadcastTo(
      *u, RankedTensorType::get(wide, type.getElementType()), dyn);
  if (failed(bc))
    return failure();
  SmallVector<int64_t> flat(type.getShape());
  flat[*axis] = blocks * blockSize;
  SmallVector<Value> flatDyn;
  for (int64_t d = 0; d < rank; ++d)
    flatDyn.push_back(ShapedType::isDynamic(flat[d]) ? em.dim(param, d)
                                                     : em.indexConst(flat[d]));
  FailureOr<Value> r = em.reshape(*bc, flat, flatDyn);
  if (failed(r) || blocks * blockSize == size)
    return r;
  SmallVector<OpFoldResult> offsets(rank, em.b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = em.sizes(*r);
  sizes[*axis] = em.b.getIndexAttr(size);
  SmallVector<OpFoldResult> strides(rank, em.b.getIndexAttr(1));
  return em.extractSlice(*r, offsets, sizes, strides);
}

LogicalResult convertDequantize(NodeContext &nc) {
  Value x = nc.input(0), scale = nc.input(1), zp = nc.input(2);
  if (!x || !scale)
    return nc.error() << "needs inputs x and x_scale";
  Type floatType = getElementTypeOrSelf(scale.getType());
  if (!isa<FloatType>(floatType))
    return nc.error() << "x_scale must be floating point";
  Emitter em = nc.emitter();
  int64_t blockSize = nc.attrInt("block_size", 0);
  FailureOr<Value> s = quantParam(nc, scale, x, blockSize, "x_scale");
  if (failed(s))
    return failure();
  SmallVector<Value> ins = {x, *s};
  if (zp) {
    FailureOr<Value> z = quantParam(nc, zp, x, blockSize, "x_zero_point");
    if (failed(z))
      return failure();
    ins.push_back(*z);
  }
  bool xUnsigned = nc.inputUnsigned(0), zpUnsigned = nc.inputUnsigned(2);
  FailureOr<Value> y =
      em.map(ins, floatType, [&](OpBuilder &b, Location l, ValueRange a) {
        Emitter e(b, l, nullptr);
        Type i32 = b.getI32Type();
        Value v = e.convertScalar(a[0], i32, xUnsigned, false);
        if (a.size() > 2) {
          Value z = e.convertScalar(a[2], i32, zpUnsigned, false);
          v = arith::SubIOp::create(b, l, v, z);
        }
        Value f = arith::SIToFPOp::create(b, l, floatType, v);
        return arith::MulFOp::create(b, l, f, a[1]).getResult();
      });
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, onnxTypeFor(floatType));
  return success();
}

/// ONNX QuantizeLinear of one float scalar into the 8-bit (or, with
/// `fourBit`, 4-bit) range: saturate(round_half_even(x / scale) + zp), where
/// the optional `zp` is already converted to the float type of `x`. The
/// result is an i8 holding the signed or (bit pattern of the) unsigned value.
Value quantizeScalar(OpBuilder &b, Location l, Value x, Value scale, Value zp,
                     bool isUnsigned, bool fourBit = false) {
  Emitter e(b, l, nullptr);
  Type floatType = x.getType();
  Value q = arith::DivFOp::create(b, l, x, scale);
  q = math::RoundEvenOp::create(b, l, q);
  if (zp)
    q = arith::AddFOp::create(b, l, q, zp);
  int bits = fourBit ? 4 : 8;
  double lo = isUnsigned ? 0 : -(1 << (bits - 1));
  double hi = isUnsigned ? (1 << bits) - 1 : (1 << (bits - 1)) - 1;
  q = arith::MaximumFOp::create(b, l, q, e.scalarConst(floatType, lo));
  q = arith::MinimumFOp::create(b, l, q, e.scalarConst(floatType, hi));
  Value wide = arith::FPToSIOp::create(b, l, b.getI32Type(), q);
  return arith::TruncIOp::create(b, l, b.getI8Type(), wide);
}

LogicalResult convertQuantize(NodeContext &nc) {
  Value x = nc.input(0), scale = nc.input(1), zp = nc.input(2);
  if (!x || !scale)
    return nc.error() << "needs inputs x and y_scale";
  auto type = cast<RankedTensorType>(x.getType());
  Type floatType = type.getElementType();
  if (!isa<FloatType>(floatType))
    return nc.error() << "x must be floating point";
  // The zero point's type, else (opset 21) output_dtype, else uint8.
  int32_t outOnnx = zp ? nc.inputOnnxType(2)
                       : static_cast<int32_t>(nc.attrInt(
                             "output_dtype", onnx::TensorProto::UINT8));
  if (outOnnx == 0)
    outOnnx = onnx::TensorProto::UINT8;
  if (outOnnx != onnx::TensorProto::UINT8 && outOnnx != onnx::TensorProto::INT8)
    return nc.error() << "unsupported quantized type " << onnxTypeName(outOnnx);
  if (zp && nc.attrInt("output_dtype", 0) != 0 &&
      nc.attrInt("output_dtype", 0) != outOnnx)
    return nc.error() << "output_dtype disagrees with the zero point's type";
  bool isUnsigned = outOnnx == onnx::TensorProto::UINT8;
  // INT4/UINT4 outputs are held as 8-bit values (FourBitTensors.cpp).
  bool fourBit =
      nc.hasOutput(0) && nc.importer.fourBitValues.count(nc.node.output(0));
  int64_t blockSize = nc.attrInt("block_size", 0);
  FailureOr<Value> s = quantParam(nc, scale, x, blockSize, "y_scale");
  if (failed(s))
    return failure();
  SmallVector<Value> ins = {x, *s};
  if (zp) {
    FailureOr<Value> z = quantParam(nc, zp, x, blockSize, "y_zero_point");
    if (failed(z))
      return failure();
    ins.push_back(*z);
  }
  Emitter em = nc.emitter();
  Type i8 = nc.importer.builder.getI8Type();
  FailureOr<Value> y =
      em.map(ins, i8, [&](OpBuilder &b, Location l, ValueRange a) {
        Emitter e(b, l, nullptr);
        Value sc = e.convertScalar(a[1], floatType, false, false);
        Value z;
        if (a.size() > 2)
          z = e.convertScalar(a[2], floatType, isUnsigned, false);
        return quantizeScalar(b, l, a[0], sc, z, isUnsigned, fourBit);
      });
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, outOnnx);
  return success();
}

/// DynamicQuantizeLinear (opset 11): uint8 quantization of `x` with a scale
/// and zero point computed from its range, widened to include 0:
///   y_scale = (max(0, max(x)) - min(0, min(x))) / 255, or 1 when that range
///             is empty (x all zeros; as ONNX Runtime and the current ONNX
///             reference implementation);
///   y_zero_point = saturate(round_half_even(0 - min(0, min(x)) / y_scale));
///   y = saturate(round_half_even(x / y_scale) + y_zero_point).
LogicalResult convertDynamicQuantizeLinear(NodeContext &nc) {
  if (nc.numInputs() != 1)
    return nc.error() << "expects exactly one input (x), got "
                      << nc.numInputs();
  Value x = nc.input(0);
  if (!x)
    return nc.error() << "missing required input x";
  auto type = cast<RankedTensorType>(x.getType());
  if (!isa<FloatType>(type.getElementType()))
    return nc.error() << "x must be floating point (float32), got "
                      << onnxTypeName(nc.inputOnnxType(0));
  Emitter em = nc.emitter();
  // The parameters are computed in f32 (the type of y_scale).
  Type f32 = nc.importer.builder.getF32Type();
  if (type.getElementType() != f32) {
    FailureOr<Value> c = em.castTo(x, f32, false, false);
    if (failed(c))
      return failure();
    x = *c;
  }
  // min(x) and max(x) as 0-D tensors.
  Value minX = x, maxX = x;
  if (type.getRank() > 0) {
    SmallVector<int64_t> axes =
        llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()));
    FailureOr<Value> mn =
        em.reduce(x, axes, Emitter::ReduceKind::Min, /*keepDims=*/false);
    if (failed(mn))
      return failure();
    FailureOr<Value> mx =
        em.reduce(x, axes, Emitter::ReduceKind::Max, /*keepDims=*/false);
    if (failed(mx))
      return failure();
    minX = *mn;
    maxX = *mx;
  }
  FailureOr<Value> scale =
      em.map({minX, maxX}, f32, [&](OpBuilder &b, Location l, ValueRange a) {
        Emitter e(b, l, nullptr);
        Value zero = e.scalarConst(f32, 0);
        Value lo = arith::MinimumFOp::create(b, l, a[0], zero);
        Value hi = arith::MaximumFOp::create(b, l, a[1], zero);
        Value range = arith::SubFOp::create(b, l, hi, lo);
        Value s = arith::DivFOp::create(b, l, range, e.scalarConst(f32, 255));
        Value empty =
            arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, hi, lo);
        return arith::SelectOp::create(b, l, empty, e.scalarConst(f32, 1), s)
            .getResult();
      });
  if (failed(scale))
    return failure();
  // 0 - min / scale == -min / scale exactly, so this is QuantizeLinear of
  // -min(0, min(x)) (saturated to [0, 255] before rounding in ONNX Runtime;
  // the same since the bounds are integers).
  Type i8 = nc.importer.builder.getI8Type();
  FailureOr<Value> zp =
      em.map({minX, *scale}, i8, [&](OpBuilder &b, Location l, ValueRange a) {
        Emitter e(b, l, nullptr);
        Value lo = arith::MinimumFOp::create(b, l, a[0], e.scalarConst(f32, 0));
        Value negLo = arith::NegFOp::create(b, l, lo);
        return quantizeScalar(b, l, negLo, a[1], Value(), /*isUnsigned=*/true);
      });
  if (failed(zp))
    return failure();
  FailureOr<Value> y =
      em.map({x, *scale, *zp}, i8, [&](OpBuilder &b, Location l, ValueRange a) {
        Emitter e(b, l, nullptr);
        Value z = e.convertScalar(a[2], f32, /*srcUnsigned=*/true, false);
        return quantizeScalar(b, l, a[0], a[1], z, /*isUnsigned=*/true);
      });
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, onnx::TensorProto::UINT8);
  nc.setOutput(1, *scale, onnx::TensorProto::FLOAT);
  nc.setOutput(2, *zp, onnx::TensorProto::UINT8);
  return success();
}

} // namespace

FailureOr<Value> parsimony::onnximport::widenWithZeroPoint(NodeContext &nc,
                                                           Emitter &em,
                                                           unsigned valueIdx,
                                                           unsigned zpIdx,
                                                           int64_t unitDims) {
  Value v = nc.input(valueIdx);
  Type i32 = nc.importer.builder.getI32Type();
  FailureOr<Value> wide = em.castTo(v, i32, nc.inputUnsigned(valueIdx), false);
  if (failed(wide))
    return failure();
  Value zp = nc.input(zpIdx);
  if (!zp)
    return *wide;
  auto zpType = cast<RankedTensorType>(zp.getType());
  if (zpType.getRank() > 1)
    return nc.error() << "zero points must be scalars or vectors";
  FailureOr<Value> zpWide = em.castTo(zp, i32, nc.inputUnsigned(zpIdx), false);
  if (failed(zpWide))
    return failure();
  Value z = *zpWide;
  if (zpType.getRank() == 1 && unitDims > 0) {
    SmallVector<int64_t> axes;
    for (int64_t i = 1; i <= unitDims; ++i)
      axes.push_back(i);
    FailureOr<Value> u = em.unsqueeze(z, axes);
    if (failed(u))
      return failure();
    z = *u;
  }
  return em.map({*wide, z}, i32, [](OpBuilder &b, Location l, ValueRange a) {
    return arith::SubIOp::create(b, l, a[0], a[1]).getResult();
  });
}

void parsimony::onnximport::registerMathConverters(
    llvm::StringMap<ConverterFn> &map) {
  map["::Add"] = convertBinary<Binary::Add>;
  map["::Sub"] = convertBinary<Binary::Sub>;
  map["::Mul"] = convertBinary<Binary::Mul>;
  map["::Div"] = convertBinary<Binary::Div>;
  map["::Pow"] = convertBinary<Binary::Pow>;
  map["::Mod"] = convertBinary<Binary::Mod>;
  map["::Equal"] = convertBinary<Binary::Equal>;
  map["::Less"] = convertBinary<Binary::Less>;
  map["::LessOrEqual"] = convertBinary<Binary::LessOrEqual>;
  map["::Greater"] = convertBinary<Binary::Greater>;
  map["::GreaterOrEqual"] = convertBinary<Binary::GreaterOrEqual>;
  map["::And"] = convertBinary<Binary::And>;
  map["::Or"] = convertBinary<Binary::Or>;
  map["::Xor"] = convertBinary<Binary::Xor>;
  map["::PRelu"] = convertBinary<Binary::PRelu>;
  map["::BitShift"] = convertBitShift;
  map["::Max"] = convertVariadic<Binary::Max>;
  map["::Min"] = convertVariadic<Binary::Min>;
  map["::Sum"] = convertVariadic<Binary::Add>;
  map["::Mean"] = convertVariadic<Binary::Add, true>;
  map["::Sqrt"] = convertUnary<Unary::Sqrt>;
  map["::Reciprocal"] = convertUnary<Unary::Reciprocal>;
  map["::Exp"] = convertUnary<Unary::Exp>;
  map["::Log"] = convertUnary<Unary::Log>;
  map["::Erf"] = convertUnary<Unary::Erf>;
  map["::Tanh"] = convertUnary<Unary::Tanh>;
  map["::Sigmoid"] = convertUnary<Unary::Sigmoid>;
  map["::Relu"] = convertUnary<Unary::Relu>;
  map["::LeakyRelu"] = convertUnary<Unary::LeakyRelu>;
  map["::Neg"] = convertUnary<Unary::Neg>;
  map["::Abs"] = convertUnary<Unary::Abs>;
  map["::Floor"] = convertUnary<Unary::Floor>;
  map["::Ceil"] = convertUnary<Unary::Ceil>;
  map["::Round"] = convertUnary<Unary::Round>;
  map["::Not"] = convertUnary<Unary::Not>;
  map["::Sin"] = convertUnary<Unary::Sin>;
  map["::Cos"] = convertUnary<Unary::Cos>;
  map["::Sign"] = convertUnary<Unary::Sign>;
  map["::Softplus"] = convertUnary<Unary::Softplus>;
  map["::Elu"] = convertUnary<Unary::Elu>;
  map["::HardSigmoid"] = convertUnary<Unary::HardSigmoid>;
  map["::Selu"] = convertUnary<Unary::Selu>;
  map["::IsNaN"] = convertUnary<Unary::IsNaN>;
  map["::Mish"] = convertUnary<Unary::Mish>;
  map["::Swish"] = convertUnary<Unary::Swish>;
  map["::HardSwish"] = convertUnary<Unary::HardSwish>;
  map["::ThresholdedRelu"] = convertUnary<Unary::ThresholdedRelu>;
  map["::Softsign"] = convertUnary<Unary::Softsign>;
  map["::Shrink"] = convertUnary<Unary::Shrink>;
  map["::Celu"] = convertUnary<Unary::Celu>;
  map["::IsInf"] = convertUnary<Unary::IsInf>;
  map["::Tan"] = convertUnary<Unary::Tan>;
  map["::Sinh"] = convertUnary<Unary::Sinh>;
  map["::Cosh"] = convertUnary<Unary::Cosh>;
  map["::Asin"] = convertUnary<Unary::Asin>;
  map["::Acos"] = convertUnary<Unary::Acos>;
  map["::Atan"] = convertUnary<Unary::Atan>;
  map["::Asinh"] = convertUnary<Unary::Asinh>;
  map["::Acosh"] = convertUnary<Unary::Acosh>;
  map["::Atanh"] = convertUnary<Unary::Atanh>;
  map["::Gelu"] = convertGelu;
  map["::CumSum"] = convertCumulative<false>;
  map["::CumProd"] = convertCumulative<true>;
  map["::Clip"] = convertClip;
  map["::Where"] = convertWhere;
  map["::Cast"] = convertCast;
  map["::CastLike"] = convertCastLike;
  map["::MatMul"] = convertMatMul;
  map["::Gemm"] = convertGemm;
  map["::MatMulInteger"] = convertMatMulInteger;
  map["::Einsum"] = convertEinsum;
  map["::ReduceSum"] = convertReduce<Reduction::Sum>;
  map["::ReduceMean"] = convertReduce<Reduction::Mean>;
  map["::ReduceMax"] = convertReduce<Reduction::Max>;
  map["::ReduceMin"] = convertReduce<Reduction::Min>;
  map["::ReduceProd"] = convertReduce<Reduction::Prod>;
  map["::ReduceSumSquare"] = convertReduce<Reduction::SumSquare>;
  map["::ReduceL1"] = convertReduce<Reduction::L1>;
  map["::ReduceL2"] = convertReduce<Reduction::L2>;
  map["::ReduceLogSum"] = convertReduce<Reduction::LogSum>;
  map["::ReduceLogSumExp"] = convertReduce<Reduction::LogSumExp>;
  map["::Softmax"] = convertSoftmax<false>;
  map["::LogSoftmax"] = convertSoftmax<true>;
  map["::LayerNormalization"] = convertLayerNorm;
  map["::DequantizeLinear"] = convertDequantize;
  map["::QuantizeLinear"] = convertQuantize;
  map["::DynamicQuantizeLinear"] = convertDynamicQuantizeLinear;
}
