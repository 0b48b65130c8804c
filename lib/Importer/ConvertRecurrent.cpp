//===- ConvertRecurrent.cpp - RNN, GRU, LSTM ------------------------------===//
//
// The recurrent operators become, per direction, one GEMM projecting every
// time step's input at once (X W^T + biases, before the loop) and an
// scf.for over the time steps carrying the hidden (and cell) state and the
// Y tensor: each step is one [batch, hidden] x [hidden, gates * hidden]
// matmul (two for GRU with linear_before_reset = 0) and elementwise gate
// math. sequence_lens masks the steps past each batch entry's length (state
// kept, Y zero); a reverse direction with sequence_lens runs forward over
// each entry's reversed prefix, and Y is reversed back.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace parsimony::onnximport;

namespace {

enum class Cell { RNN, GRU, LSTM };

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

//===----------------------------------------------------------------------===//
// Activation functions
//===----------------------------------------------------------------------===//

enum class Act {
  Relu,
  Tanh,
  Sigmoid,
  Affine,
  LeakyRelu,
  ThresholdedRelu,
  ScaledTanh,
  HardSigmoid,
  Elu,
  Softsign,
  Softplus
};

struct Activation {
  Act kind;
  float alpha = 0, beta = 0;
};

/// An activation named in the `activations` attribute, taking its alpha and
/// beta from the front of `alphas`/`betas` if it uses them (as ONNX Runtime
/// reads the lists), else the documented defaults.
FailureOr<Activation> parseActivation(NodeContext &nc, StringRef name,
                                      ArrayRef<float> &alphas,
                                      ArrayRef<float> &betas) {
  std::optional<Act> kind = llvm::StringSwitch<std::optional<Act>>(name.lower())
                                .Case("relu", Act::Relu)
                                .Case("tanh", Act::Tanh)
                                .Case("sigmoid", Act::Sigmoid)
                                .Case("affine", Act::Affine)
                                .Case("leakyrelu", Act::LeakyRelu)
                                .Case("thresholdedrelu", Act::ThresholdedRelu)
                                .Case("scaledtanh", Act::ScaledTanh)
                                .Case("hardsigmoid", Act::HardSigmoid)
                                .Case("elu", Act::Elu)
                                .Case("softsign", Act::Softsign)
                                .Case("softplus", Act::Softplus)
                                .Default(std::nullopt);
  if (!kind)
    return nc.error() << "unsupported activation '" << name << "'";
  Activation act{*kind};
  std::optional<float> alphaDefault, betaDefault;
  bool usesAlpha = true, usesBeta = false;
  switch (*kind) {
  case Act::Affine:
  case Act::ScaledTanh:
    usesBeta = true;
    break;
  case Act::HardSigmoid:
    usesBeta = true;
    alphaDefault = 0.2f;
    betaDefault = 0.5f;
    break;
  case Act::LeakyRelu:
    alphaDefault = 0.01f;
    break;
  case Act::ThresholdedRelu:
  case Act::Elu:
    alphaDefault = 1.0f;
    break;
  default:
    usesAlpha = false;
  }
  auto take = [&](ArrayRef<float> &list, std::optional<float> def,
                  StringRef what, float &out) -> LogicalResult {
    if (!list.empty()) {
      out = list.front();
      list = list.drop_front();
      return success();
    }
    if (!def)
      return nc.error() << "activation '" << name << "' needs an " << what
                        << " in activation_" << what;
    out = *def;
    return success();
  };
  if (usesAlpha && failed(take(alphas, alphaDefault, "alpha", act.alpha)))
    return failure();
  if (usesBeta && failed(take(betas, betaDefault, "beta", act.beta)))
    return failure();
  return act;
}

Value applyActivation(OpBuilder &b, Location loc, const Activation &act,
                      Value x) {
  Type type = x.getType();
  auto c = [&](double v) {
    return arith::ConstantOp::create(b, loc, type, b.getFloatAttr(type, v))
        .getResult();
  };
  auto mul = [&](Value p, Value q) {
    return arith::MulFOp::create(b, loc, p, q).getResult();
  };
  auto add = [&](Value p, Value q) {
    return arith::AddFOp::create(b, loc, p, q).getResult();
  };
  auto select = [&](arith::CmpFPredicate pred, Value lhs, Value rhs, Value t,
                    Value f) {
    Value cond = arith::CmpFOp::create(b, loc, pred, lhs, rhs);
    return arith::SelectOp::create(b, loc, cond, t, f).getResult();
  };
  switch (act.kind) {
  case Act::Relu:
    return arith::MaximumFOp::create(b, loc, x, c(0));
  case Act::Tanh:
    return math::TanhOp::create(b, loc, x);
  case Act::Sigmoid: {
    Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
    return arith::DivFOp::create(b, loc, c(1), add(c(1), e));
  }
  case Act::Affine:
    return add(mul(c(act.alpha), x), c(act.beta));
  case Act::LeakyRelu:
    return select(arith::CmpFPredicate::OGE, x, c(0), x, mul(c(act.alpha), x));
  case Act::ThresholdedRelu:
    return select(arith::CmpFPredicate::OGT, x, c(act.alpha), x, c(0));
  case Act::ScaledTanh:
    return mul(c(act.alpha), math::TanhOp::create(b, loc, mul(c(act.beta), x)));
  case Act::HardSigmoid: {
    Value v = add(mul(c(act.alpha), x), c(act.beta));
    return arith::MinimumFOp::create(
        b, loc, arith::MaximumFOp::create(b, loc, v, c(0)), c(1));
  }
  case Act::Elu: {
    Value em1 =
        arith::SubFOp::create(b, loc, math::ExpOp::create(b, loc, x), c(1));
    return select(arith::CmpFPredicate::OGE, x, c(0), x,
                  mul(c(act.alpha), em1));
  }
  case Act::Softsign:
    return arith::DivFOp::create(b, loc, x,
                                 add(c(1), math::AbsFOp::create(b, loc, x)));
  case Act::Softplus:
    return math::Log1pOp::create(b, loc, math::ExpOp::create(b, loc, x));
  }
  llvm_unreachable("unknown activation");
}

//===----------------------------------------------------------------------===//
// The operator
//===----------------------------------------------------------------------===//

struct RecurrentSpec {
  Cell cell;
  int64_t gates;       // gate blocks in W and R
  int64_t activations; // activation functions per direction
};

/// Entries [offset, offset + size) of the last axis of `v`.
Value columns(Emitter &em, Value v, int64_t offset, int64_t size) {
  int64_t rank = typeOf(v).getRank();
  SmallVector<OpFoldResult> offsets(rank, em.b.getIndexAttr(0));
  offsets.back() = em.b.getIndexAttr(offset);
  SmallVector<OpFoldResult> sizes = em.sizes(v);
  sizes.back() = em.b.getIndexAttr(size);
  SmallVector<OpFoldResult> strides(rank, em.b.getIndexAttr(1));
  return em.extractSlice(v, offsets, sizes, strides);
}

/// Writes `state` [batch, H] into slot `index` of a state pair [2, batch,
/// H]. The state lives in two slots written alternately, so that each step
/// writes part of the loop-carried tensor (in place) instead of yielding a
/// new one.
Value setStateSlot(Emitter &em, Value state, Value pair, OpFoldResult index) {
  SmallVector<OpFoldResult> sizes = em.sizes(pair);
  sizes[0] = em.b.getIndexAttr(1);
  return tensor::InsertSliceOp::create(
      em.b, em.loc, state, pair,
      ArrayRef<OpFoldResult>{index, em.b.getIndexAttr(0), em.b.getIndexAttr(0)},
      sizes, SmallVector<OpFoldResult>(3, em.b.getIndexAttr(1)));
}

LogicalResult convertRecurrent(NodeContext &nc, const RecurrentSpec &spec) {
  Emitter em = nc.emitter();
  OpBuilder &b = em.b;
  Location loc = nc.loc;
  bool isLSTM = spec.cell == Cell::LSTM, isGRU = spec.cell == Cell::GRU;

  // Inputs (all looked up here: a constant first used inside the loop would
  // be materialised there).
  FailureOr<Value> xIn = nc.floatInput(0, "X");
  if (failed(xIn))
    return failure();
  for (unsigned i : {1u, 2u})
    if (!nc.hasInput(i))
      return nc.error() << "input " << (i == 1 ? "W" : "R") << " is missing";
  Value x = *xIn, w = nc.input(1), r = nc.input(2);
  Value bias = nc.input(3), lens = nc.input(4), h0 = nc.input(5);
  Value c0 = isLSTM ? nc.input(6) : Value();
  Value peep = isLSTM ? nc.input(7) : Value();
  Type elementType = typeOf(x).getElementType();
  for (Value v : {w, r, bias, h0, c0, peep})
    if (v && typeOf(v).getElementType() != elementType)
      return nc.error() << "W, R, B, initial states and P must have X's "
                           "element type "
                        << elementType << ", got " << typeOf(v);
  Type compute = elementType.isF64() ? elementType : Type(b.getF32Type());

  std::string direction = nc.attrString("direction", "forward");
  if (direction != "forward" && direction != "reverse" &&
      direction != "bidirectional")
    return nc.error() << "direction must be forward, reverse or "
                         "bidirectional, got '"
                      << direction << "'";
  int64_t numDirections = direction == "bidirectional" ? 2 : 1;
  int64_t layout = nc.attrInt("layout", 0);
  if (layout != 0 && layout != 1)
    return nc.error() << "layout must be 0 or 1, got " << layout;
  if (typeOf(x).getRank() != 3)
    return nc.error() << "X must be 3-D, got " << typeOf(x);
  if (layout == 1)
    x = em.transpose(x, {1, 0, 2});

  // Shapes: W [D, G*H, I], R [D, G*H, H], B [D, 2*G*H], P [D, 3*H],
  // initial states [D, batch, H] (batch-major with layout 1).
  RankedTensorType wType = typeOf(w);
  int64_t inputSize = typeOf(x).getDimSize(2);
  if (wType.getRank() != 3 || !wType.hasStaticShape() ||
      wType.getDimSize(0) != numDirections ||
      wType.getDimSize(1) % spec.gates != 0 ||
      (!ShapedType::isDynamic(inputSize) && wType.getDimSize(2) != inputSize))
    return nc.error() << "W must be [" << numDirections << ", " << spec.gates
                      << " * hidden_size, input_size], got " << wType
                      << " for X " << typeOf(nc.input(0));
  int64_t hidden = wType.getDimSize(1) / spec.gates;
  int64_t gateWidth = spec.gates * hidden;
  if (nc.attr("hidden_size") && nc.attrInt("hidden_size", 0) != hidden)
    return nc.error() << "hidden_size " << nc.attrInt("hidden_size", 0)
                      << " does not match W " << wType;
  auto expect = [&](Value v, SmallVector<int64_t> shape,
                    StringRef what) -> LogicalResult {
    if (!v)
      return success();
    RankedTensorType t = typeOf(v);
    bool ok = t.getRank() == static_cast<int64_t>(shape.size());
    for (int64_t i = 0; ok && i < t.getRank(); ++i)
      ok = ShapedType::isDynamic(shape[i]) ||
           ShapedType::isDynamic(t.getDimSize(i)) ||
           shape[i] == t.getDimSize(i);
    if (ok)
      return success();
    auto err = nc.error();
    err << what << " must be [";
    llvm::interleave(
        shape, err,
        [&](int64_t d) {
          if (ShapedType::isDynamic(d))
            err << "?";
          else
            err << d;
        },
        ", ");
    err << "], got " << t;
    return failure();
  };
  int64_t batch = typeOf(x).getDimSize(1);
  SmallVector<int64_t> stateShape = {numDirections, batch, hidden};
  if (layout == 1)
    stateShape = {batch, numDirections, hidden};
  if (failed(expect(r, {numDirections, gateWidth, hidden}, "R")) ||
      failed(expect(bias, {numDirections, 2 * gateWidth}, "B")) ||
      failed(expect(peep, {numDirections, 3 * hidden}, "P")) ||
      failed(expect(h0, stateShape, "initial_h")) ||
      failed(expect(c0, stateShape, "initial_c")) ||
      failed(expect(lens, {batch}, "sequence_lens")))
    return failure();
  if (lens && !isa<IntegerType>(typeOf(lens).getElementType()))
    return nc.error() << "sequence_lens must be int32, got " << typeOf(lens);
  // Lengths that are all the full sequence change nothing.
  if (const ConstTensor *c = nc.constInput(4)) {
    int64_t steps = typeOf(x).getDimSize(0);
    if (!ShapedType::isDynamic(steps) &&
        llvm::all_of(c->ints, [&](int64_t l) { return l == steps; }))
      lens = Value();
  }

  // Attributes.
  std::optional<float> clip;
  if (nc.attr("clip")) {
    clip = nc.attrFloat("clip", 0);
    if (!(*clip > 0))
      return nc.error() << "clip must be positive, got " << *clip;
  }
  bool linearBeforeReset = isGRU && nc.attrInt("linear_before_reset", 0) != 0;
  bool inputForget = isLSTM && nc.attrInt("input_forget", 0) != 0;
  SmallVector<Activation> acts;
  {
    SmallVector<std::string> names;
    if (const onnx::AttributeProto *a = nc.attr("activations"))
      names.assign(a->strings().begin(), a->strings().end());
    if (names.empty()) {
      names = spec.cell == Cell::RNN ? SmallVector<std::string>{"Tanh"}
              : spec.cell == Cell::GRU
                  ? SmallVector<std::string>{"Sigmoid", "Tanh"}
                  : SmallVector<std::string>{"Sigmoid", "Tanh", "Tanh"};
    }
    if (static_cast<int64_t>(names.size()) == spec.activations &&
        numDirections == 2)
      names.append(SmallVector<std::string>(names));
    if (static_cast<int64_t>(names.size()) != spec.activations * numDirections)
      return nc.error() << "expects " << spec.activations * numDirections
                        << " activations, got " << names.size();
    SmallVector<float> alphaList, betaList;
    if (const onnx::AttributeProto *a = nc.attr("activation_alpha"))
      alphaList.assign(a->floats().begin(), a->floats().end());
    if (const onnx::AttributeProto *a = nc.attr("activation_beta"))
      betaList.assign(a->floats().begin(), a->floats().end());
    ArrayRef<float> alphas = alphaList, betas = betaList;
    for (const std::string &name : names) {
      FailureOr<Activation> act = parseActivation(nc, name, alphas, betas);
      if (failed(act))
        return failure();
      acts.push_back(*act);
    }
  }

  // Everything in the compute type.
  auto toCompute = [&](Value v) -> FailureOr<Value> {
    if (!v || typeOf(v).getElementType() == compute)
      return v;
    return em.castTo(v, compute, false, false);
  };
  for (Value *v : {&x, &w, &r, &bias, &h0, &c0, &peep}) {
    FailureOr<Value> cv = toCompute(*v);
    if (failed(cv))
      return failure();
    *v = *cv;
  }
  if (lens) {
    FailureOr<Value> l = em.castTo(lens, b.getI64Type(), false, false);
    if (failed(l))
      return failure();
    lens = *l;
  }
  if (layout == 1) {
    for (Value *v : {&h0, &c0})
      if (*v)
        *v = em.transpose(*v, {1, 0, 2});
  }

  Value steps = em.dim(x, 0);
  Value batchSize = em.dim(x, 1);
  auto stateType = RankedTensorType::get({batch, hidden}, compute);
  SmallVector<Value> stateDyn;
  if (ShapedType::isDynamic(batch))
    stateDyn.push_back(batchSize);
  Value zeroState = em.filled(stateType, stateDyn, em.scalarConst(compute, 0));
  SmallVector<Value> ys, hs, cs;
  for (int64_t d = 0; d < numDirections; ++d) {
    bool reverse = direction == "reverse" || d == 1;
    const Activation *f = &acts[d * spec.activations];
    // Input projections of every step, with the biases that do not depend
    // on the state: [T, batch, G*H].
    Value wT = em.transpose(em.entryAlong(w, 0, b.getIndexAttr(d)), {1, 0});
    Value rT = em.transpose(em.entryAlong(r, 0, b.getIndexAttr(d)), {1, 0});
    FailureOr<Value> xw = em.matmul(x, wT);
    if (failed(xw))
      return failure();
    Value recurrentBias; // GRU with linear_before_reset: R's h-gate bias
    if (bias) {
      Value bd = em.entryAlong(bias, 0, b.getIndexAttr(d));
      Value wb = columns(em, bd, 0, gateWidth);
      Value rb = columns(em, bd, gateWidth, gateWidth);
      Value inputBias = wb;
      if (linearBeforeReset) {
        recurrentBias = columns(em, rb, 2 * hidden, hidden);
        Value zeros = em.splat(RankedTensorType::get({hidden}, compute), 0);
        rb = em.concat({columns(em, rb, 0, 2 * hidden), zeros}, 0);
      }
      FailureOr<Value> sum =
          em.map({inputBias, rb}, compute,
                 [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                   return arith::AddFOp::create(nb, l, a[0], a[1]);
                 });
      if (failed(sum) ||
          failed(
              xw = em.map({*xw, *sum}, compute,
                          [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                            return arith::AddFOp::create(nb, l, a[0], a[1]);
                          })))
        return failure();
    }
    bool reversedPrefixes = reverse && lens;
    if (reversedPrefixes)
      xw = em.reverseSequences(*xw, lens, /*timeAxis=*/0, /*batchAxis=*/1);
    Value peepI, peepO, peepF;
    if (peep) {
      Value pd = em.entryAlong(peep, 0, b.getIndexAttr(d));
      auto part = [&](int64_t i) -> Value {
        return tensor::ExtractSliceOp::create(
            b, loc, RankedTensorType::get({hidden}, compute), pd,
            ArrayRef<OpFoldResult>{b.getIndexAttr(i * hidden)},
            ArrayRef<OpFoldResult>{b.getIndexAttr(hidden)},
            ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
      };
      peepI = part(0), peepO = part(1), peepF = part(2);
    }
    Value hInit = h0 ? em.entryAlong(h0, 0, b.getIndexAttr(d)) : zeroState;
    Value cInit = c0 ? em.entryAlong(c0, 0, b.getIndexAttr(d)) : zeroState;
    SmallVector<OpFoldResult> ySizes = em.sizes(x);
    ySizes[2] = b.getIndexAttr(hidden);
    auto yType = RankedTensorType::get({typeOf(x).getDimSize(0), batch, hidden},
                                       compute);
    Value yInit = em.empty(yType, em.dynamicSizes(ySizes));
    Value lensColumn;
    if (lens) {
      FailureOr<Value> col = em.unsqueeze(lens, {1});
      if (failed(col))
        return failure();
      lensColumn = *col;
    }

    LogicalResult bodyResult = success();
    auto pairType = RankedTensorType::get({2, batch, hidden}, compute);
    auto statePair = [&](Value initial) {
      return setStateSlot(em, initial, em.empty(pairType, stateDyn),
                          b.getIndexAttr(0));
    };
    SmallVector<Value> init = {statePair(hInit), yInit};
    if (isLSTM)
      init.push_back(statePair(cInit));
    auto loop = scf::ForOp::create(
        b, loc, em.indexConst(0), steps, em.indexConst(1), init,
        [&](OpBuilder &lb, Location l, Value s, ValueRange iter) {
          Emitter le(lb, l, em.err);
          // The state is in slot s % 2; the next one goes to the other.
          Value current = arith::RemUIOp::create(lb, l, s, le.indexConst(2));
          Value next = arith::SubIOp::create(lb, l, le.indexConst(1), current);
          Value h = le.entryAlong(iter[0], 0, current), y = iter[1];
          Value c = isLSTM ? le.entryAlong(iter[2], 0, current) : Value();
          Value t = s;
          if (reverse && !reversedPrefixes)
            t = arith::SubIOp::create(
                lb, l, arith::SubIOp::create(lb, l, steps, le.indexConst(1)),
                s);
          auto fail = [&] {
            bodyResult = failure();
            scf::YieldOp::create(lb, l, iter);
          };
          // This step's input projections [batch, G*H].
          SmallVector<OpFoldResult> offsets = {t, lb.getIndexAttr(0),
                                               lb.getIndexAttr(0)};
          SmallVector<OpFoldResult> sizes = {
              lb.getIndexAttr(1), le.sizes(*xw)[1], lb.getIndexAttr(gateWidth)};
          SmallVector<OpFoldResult> ones(3, lb.getIndexAttr(1));
          Value xs = tensor::ExtractSliceOp::create(
              lb, l, RankedTensorType::get({batch, gateWidth}, compute), *xw,
              offsets, sizes, ones);
          // GRU without linear_before_reset multiplies r * h by Rh later.
          FailureOr<Value> hr = le.matmul(
              h, isGRU && !linearBeforeReset ? columns(le, rT, 0, 2 * hidden)
                                             : rT);
          if (failed(hr))
            return fail();
          auto gate = [&](Value v, int64_t g) {
            return columns(le, v, g * hidden, hidden);
          };
          auto clipped = [&](OpBuilder &nb, Location nl, Value v) -> Value {
            if (!clip)
              return v;
            Value hi = arith::ConstantOp::create(
                nb, nl, compute, nb.getFloatAttr(compute, *clip));
            Value lo = arith::ConstantOp::create(
                nb, nl, compute, nb.getFloatAttr(compute, -*clip));
            return arith::MinimumFOp::create(
                nb, nl, arith::MaximumFOp::create(nb, nl, v, lo), hi);
          };
          auto addF = [](OpBuilder &nb, Location nl, Value p, Value q) {
            return arith::AddFOp::create(nb, nl, p, q).getResult();
          };
          auto mulF = [](OpBuilder &nb, Location nl, Value p, Value q) {
            return arith::MulFOp::create(nb, nl, p, q).getResult();
          };
          FailureOr<Value> hNew, cNew;
          switch (spec.cell) {
          case Cell::RNN:
            hNew = le.map({xs, *hr}, compute,
                          [&](OpBuilder &nb, Location nl, ValueRange a) {
                            return applyActivation(
                                nb, nl, f[0],
                                clipped(nb, nl, addF(nb, nl, a[0], a[1])));
                          });
            break;
          case Cell::GRU: {
            // z, r = f(x + h R^T); candidate = g(x + r * (h Rh^T + Rbh))
            // with linear_before_reset, else g(x + (r * h) Rh^T).
            FailureOr<Value> zr = le.map(
                {columns(le, xs, 0, 2 * hidden),
                 columns(le, *hr, 0, 2 * hidden)},
                compute, [&](OpBuilder &nb, Location nl, ValueRange a) {
                  return applyActivation(
                      nb, nl, f[0], clipped(nb, nl, addF(nb, nl, a[0], a[1])));
                });
            if (failed(zr))
              return fail();
            Value z = gate(*zr, 0), reset = gate(*zr, 1);
            FailureOr<Value> candidate;
            if (linearBeforeReset) {
              SmallVector<Value> operands = {gate(xs, 2), reset, gate(*hr, 2)};
              if (recurrentBias)
                operands.push_back(recurrentBias);
              candidate = le.map(
                  operands, compute,
                  [&](OpBuilder &nb, Location nl, ValueRange a) {
                    Value rec = a.size() > 3 ? addF(nb, nl, a[2], a[3]) : a[2];
                    return applyActivation(
                        nb, nl, f[1],
                        clipped(nb, nl,
                                addF(nb, nl, a[0], mulF(nb, nl, a[1], rec))));
                  });
            } else {
              FailureOr<Value> rh =
                  le.map({reset, h}, compute,
                         [&](OpBuilder &nb, Location nl, ValueRange a) {
                           return mulF(nb, nl, a[0], a[1]);
                         });
              if (failed(rh))
                return fail();
              FailureOr<Value> rhR =
                  le.matmul(*rh, columns(le, rT, 2 * hidden, hidden));
              if (failed(rhR))
                return fail();
              candidate =
                  le.map({gate(xs, 2), *rhR}, compute,
                         [&](OpBuilder &nb, Location nl, ValueRange a) {
                           return applyActivation(
                               nb, nl, f[1],
                               clipped(nb, nl, addF(nb, nl, a[0], a[1])));
                         });
            }
            if (failed(candidate))
              return fail();
            hNew = le.map({z, *candidate, h}, compute,
                          [&](OpBuilder &nb, Location nl, ValueRange a) {
                            // (1 - z) * candidate + z * h
                            Value diff =
                                arith::SubFOp::create(nb, nl, a[2], a[1]);
                            return addF(nb, nl, a[1], mulF(nb, nl, a[0], diff));
                          });
            break;
          }
          case Cell::LSTM: {
            // Gates i, o, f, c: c' = f * c + i * g(x + h R^T), then
            // h' = o * h(c'); peepholes add P * c (P * c' for o).
            SmallVector<Value> operands = {xs, *hr};
            FailureOr<Value> pre =
                le.map(operands, compute,
                       [&](OpBuilder &nb, Location nl, ValueRange a) {
                         return addF(nb, nl, a[0], a[1]);
                       });
            if (failed(pre))
              return fail();
            SmallVector<Value> cellOps = {gate(*pre, 0), gate(*pre, 2),
                                          gate(*pre, 3), c};
            if (peep)
              cellOps.append({peepI, peepF});
            cNew = le.map(
                cellOps, compute,
                [&](OpBuilder &nb, Location nl, ValueRange a) {
                  Value iPre = a[0], fPre = a[1];
                  if (peep) {
                    iPre = addF(nb, nl, iPre, mulF(nb, nl, a[4], a[3]));
                    fPre = addF(nb, nl, fPre, mulF(nb, nl, a[5], a[3]));
                  }
                  Value i =
                      applyActivation(nb, nl, f[0], clipped(nb, nl, iPre));
                  Value fg;
                  if (inputForget) {
                    Value one = arith::ConstantOp::create(
                        nb, nl, compute, nb.getFloatAttr(compute, 1));
                    fg = arith::SubFOp::create(nb, nl, one, i);
                  } else {
                    fg = applyActivation(nb, nl, f[0], clipped(nb, nl, fPre));
                  }
                  Value g =
                      applyActivation(nb, nl, f[1], clipped(nb, nl, a[2]));
                  return addF(nb, nl, mulF(nb, nl, fg, a[3]),
                              mulF(nb, nl, i, g));
                });
            if (failed(cNew))
              return fail();
            SmallVector<Value> outOps = {gate(*pre, 1), *cNew};
            if (peep)
              outOps.push_back(peepO);
            hNew = le.map(
                outOps, compute, [&](OpBuilder &nb, Location nl, ValueRange a) {
                  Value oPre = a[0];
                  if (peep)
                    oPre = addF(nb, nl, oPre, mulF(nb, nl, a[2], a[1]));
                  Value o =
                      applyActivation(nb, nl, f[0], clipped(nb, nl, oPre));
                  return mulF(nb, nl, o, applyActivation(nb, nl, f[2], a[1]));
                });
            break;
          }
          }
          if (failed(hNew))
            return fail();
          Value yStep = *hNew;
          if (lens) {
            // Entries past their length keep their state and output zeros.
            Value step = arith::IndexCastOp::create(lb, l, lb.getI64Type(), s);
            auto masked = [&](Value next, Value prev,
                              bool zero) -> FailureOr<Value> {
              return le.map(
                  {next, prev, lensColumn}, compute,
                  [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                    Value live = arith::CmpIOp::create(
                        nb, nl, arith::CmpIPredicate::slt, step, a[2]);
                    Value other =
                        zero ? arith::ConstantOp::create(
                                   nb, nl, compute, nb.getFloatAttr(compute, 0))
                                   .getResult()
                             : a[1];
                    return arith::SelectOp::create(nb, nl, live, a[0], other);
                  });
            };
            FailureOr<Value> yMasked = masked(*hNew, h, true);
            FailureOr<Value> hMasked = masked(*hNew, h, false);
            if (failed(yMasked) || failed(hMasked))
              return fail();
            yStep = *yMasked;
            hNew = hMasked;
            if (isLSTM && failed(cNew = masked(*cNew, c, false)))
              return fail();
          }
          Value yNext = tensor::InsertSliceOp::create(
              lb, l, yStep, y, offsets,
              ArrayRef<OpFoldResult>{lb.getIndexAttr(1), le.sizes(yStep)[0],
                                     lb.getIndexAttr(hidden)},
              ones);
          SmallVector<Value> results = {setStateSlot(le, *hNew, iter[0], next),
                                        yNext};
          if (isLSTM)
            results.push_back(setStateSlot(le, *cNew, iter[2], next));
          scf::YieldOp::create(lb, l, results);
        });
    if (failed(bodyResult))
      return failure();
    Value y = loop.getResult(1);
    if (reversedPrefixes)
      y = em.reverseSequences(y, lens, /*timeAxis=*/0, /*batchAxis=*/1);
    ys.push_back(y);
    // After T steps the state is in slot T % 2.
    Value last = arith::RemUIOp::create(b, loc, steps, em.indexConst(2));
    hs.push_back(em.entryAlong(loop.getResult(0), 0, last));
    if (isLSTM)
      cs.push_back(em.entryAlong(loop.getResult(2), 0, last));
  }

  // Y [T, D, batch, H] (layout 1: [batch, T, D, H]); Y_h, Y_c [D, batch, H]
  // (layout 1: [batch, D, H]), in the input's element type.
  auto stack = [&](ArrayRef<Value> parts, int64_t axis) -> FailureOr<Value> {
    SmallVector<Value> expanded;
    for (Value p : parts) {
      FailureOr<Value> e = em.unsqueeze(p, {axis});
      if (failed(e))
        return failure();
      expanded.push_back(*e);
    }
    return expanded.size() == 1 ? expanded[0] : em.concat(expanded, axis);
  };
  auto finish = [&](unsigned output, ArrayRef<Value> parts, int64_t axis,
                    ArrayRef<int64_t> batchMajor) -> LogicalResult {
    if (!nc.hasOutput(output))
      return success();
    FailureOr<Value> v = stack(parts, axis);
    if (failed(v))
      return failure();
    if (layout == 1)
      *v = em.transpose(*v, batchMajor);
    if (compute != elementType &&
        failed(v = em.castTo(*v, elementType, false, false)))
      return failure();
    nc.setOutput(output, *v, nc.inputOnnxType(0));
    return success();
  };
  if (failed(finish(0, ys, 1, {2, 0, 1, 3})) ||
      failed(finish(1, hs, 0, {1, 0, 2})) ||
      (isLSTM && failed(finish(2, cs, 0, {1, 0, 2}))))
    return failure();
  return success();
}

} // namespace

void parsimony::onnximport::registerRecurrentConverters(
    llvm::StringMap<ConverterFn> &map) {
  map["::RNN"] = [](NodeContext &nc) {
    return convertRecurrent(nc, {Cell::RNN, 1, 1});
  };
  map["::GRU"] = [](NodeContext &nc) {
    return convertRecurrent(nc, {Cell::GRU, 3, 2});
  };
  map["::LSTM"] = [](NodeContext &nc) {
    return convertRecurrent(nc, {Cell::LSTM, 4, 3});
  };
}
