//===- ConvertContribAttention.cpp - ONNX Runtime attention operators -----===//
//
// ONNX Runtime's fused attention and embedding operators (com.microsoft
// Attention, MultiHeadAttention, GroupQueryAttention, RotaryEmbedding and
// EmbedLayerNormalization), decomposed into the matmuls, softmax and
// elementwise linalg.generic ops the unfused graphs import to. The semantics
// follow ONNX Runtime's CPU kernels, the reference Parsimony is compared
// against, including their mask conventions (masked scores get
// mask_filter_value added, causally hidden ones are set to the lowest float).
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace parsimony::onnximport;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

/// Whether two sizes are both static and different.
bool differ(int64_t a, int64_t b) {
  return !ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b;
}

//===----------------------------------------------------------------------===//
// Input checking
//===----------------------------------------------------------------------===//

/// The integer input `i` of bit width `width`; null if absent and optional.
FailureOr<Value> intInput(NodeContext &nc, unsigned i, StringRef what,
                          unsigned width, bool required = true) {
  if (!nc.hasInput(i)) {
    if (required)
      return nc.error() << "missing required input '" << what << "'";
    return Value();
  }
  Value v = nc.input(i);
  if (!v)
    return nc.error() << "input '" << what << "' has no value";
  if (!typeOf(v).getElementType().isInteger(width))
    return nc.error() << "input '" << what << "' must be an int" << width
                      << " tensor, got " << v.getType();
  return v;
}

LogicalResult requireRank(NodeContext &nc, Value v, int64_t rank,
                          StringRef what) {
  if (typeOf(v).getRank() != rank)
    return nc.error() << "input '" << what << "' must be " << rank << "-D, got "
                      << v.getType();
  return success();
}

/// Checks that `v` has the static size `size` in dimension `d`, or a dynamic
/// one that is assumed to match.
LogicalResult requireDim(NodeContext &nc, Value v, int64_t d, int64_t size,
                         StringRef what, StringRef sizeName) {
  if (differ(typeOf(v).getDimSize(d), size))
    return nc.error() << "input '" << what << "' dimension " << d << " must be "
                      << sizeName << " (" << size << "), got " << v.getType();
  return success();
}

/// The static size of dimension `d` of `v`, failing if it is dynamic.
FailureOr<int64_t> staticDim(NodeContext &nc, Value v, int64_t d,
                             StringRef what) {
  int64_t s = typeOf(v).getDimSize(d);
  if (ShapedType::isDynamic(s))
    return nc.error() << "input '" << what << "' dimension " << d
                      << " must be static, got " << v.getType();
  return s;
}

//===----------------------------------------------------------------------===//
// Emission helpers
//===----------------------------------------------------------------------===//

Value indexOf(OpBuilder &b, Location l, int64_t dim) {
  return linalg::IndexOp::create(b, l, dim);
}

Value toIndex(OpBuilder &b, Location l, Value v) {
  if (v.getType().isIndex())
    return v;
  return arith::IndexCastOp::create(b, l, b.getIndexType(), v);
}

Value cmp(OpBuilder &b, Location l, arith::CmpIPredicate p, Value x, Value y) {
  return arith::CmpIOp::create(b, l, p, x, y);
}

/// An OpFoldResult size as an index value.
Value sizeValue(Emitter &em, OpFoldResult s) {
  if (auto v = dyn_cast<Value>(s))
    return v;
  return em.indexConst(cast<IntegerAttr>(cast<Attribute>(s)).getInt());
}

/// The largest finite negative value of float type `t`, which ONNX Runtime
/// writes into causally hidden scores.
Value lowestOf(OpBuilder &b, Location l, Type t) {
  auto ft = cast<FloatType>(t);
  return arith::ConstantOp::create(
      b, l,
      b.getFloatAttr(ft, APFloat::getLargest(ft.getFloatSemantics(), true)));
}

/// Reshapes `v` to `sizes` (static attrs or index values).
FailureOr<Value> reshapeTo(Emitter &em, Value v, ArrayRef<OpFoldResult> sizes) {
  SmallVector<int64_t> shape;
  bool dynamic = false;
  for (OpFoldResult s : sizes) {
    if (auto a = dyn_cast<Attribute>(s)) {
      shape.push_back(cast<IntegerAttr>(a).getInt());
    } else {
      shape.push_back(kDyn);
      dynamic = true;
    }
  }
  SmallVector<Value> values;
  if (dynamic)
    for (OpFoldResult s : sizes)
      values.push_back(sizeValue(em, s));
  return em.reshape(v, shape, values);
}

/// Slice [offset, offset + size) of the last dimension of `v`.
Value sliceLast(Emitter &em, Value v, int64_t offset, int64_t size) {
  int64_t rank = typeOf(v).getRank();
  SmallVector<OpFoldResult> offsets(rank, em.b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = em.sizes(v);
  SmallVector<OpFoldResult> strides(rank, em.b.getIndexAttr(1));
  offsets.back() = em.b.getIndexAttr(offset);
  sizes.back() = em.b.getIndexAttr(size);
  return em.extractSlice(v, offsets, sizes, strides);
}

/// Index `i` of dimension `d` of `v`, with that dimension dropped.
FailureOr<Value> selectIndex(Emitter &em, Value v, int64_t d, int64_t i) {
  int64_t rank = typeOf(v).getRank();
  SmallVector<OpFoldResult> offsets(rank, em.b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = em.sizes(v);
  SmallVector<OpFoldResult> strides(rank, em.b.getIndexAttr(1));
  offsets[d] = em.b.getIndexAttr(i);
  sizes[d] = em.b.getIndexAttr(1);
  return em.squeeze(em.extractSlice(v, offsets, sizes, strides), {d});
}

FailureOr<Value> addTensors(Emitter &em, Value a, Value b) {
  return em.map({a, b}, typeOf(a).getElementType(),
                [](OpBuilder &ob, Location l, ValueRange s) {
                  return arith::AddFOp::create(ob, l, s[0], s[1]).getResult();
                });
}

/// [B, S, N * H] -> [B, N, S, H].
FailureOr<Value> splitHeads(Emitter &em, Value x, int64_t numHeads,
                            int64_t headSize) {
  SmallVector<OpFoldResult> s = em.sizes(x);
  FailureOr<Value> r = reshapeTo(
      em, x,
      {s[0], s[1], em.b.getIndexAttr(numHeads), em.b.getIndexAttr(headSize)});
  if (failed(r))
    return failure();
  return em.transpose(*r, {0, 2, 1, 3});
}

/// [B, N, S, H] -> [B, S, N * H].
FailureOr<Value> mergeHeads(Emitter &em, Value x, int64_t numHeads,
                            int64_t headSize) {
  Value bsnh = em.transpose(x, {0, 2, 1, 3});
  SmallVector<OpFoldResult> s = em.sizes(bsnh);
  return reshapeTo(em, bsnh,
                   {s[0], s[1], em.b.getIndexAttr(numHeads * headSize)});
}

/// [B, Nk, T, H] -> [B, Nk * groups, T, H], each head repeated `groups` times
/// in a row (query head j reads key/value head j / groups).
FailureOr<Value> repeatHeads(Emitter &em, Value x, int64_t groups) {
  if (groups == 1)
    return x;
  auto t = typeOf(x);
  FailureOr<Value> u = em.unsqueeze(x, {2});
  if (failed(u))
    return failure();
  SmallVector<int64_t> shape = {t.getDimSize(0), t.getDimSize(1), groups,
                                t.getDimSize(2), t.getDimSize(3)};
  SmallVector<OpFoldResult> s = em.sizes(x);
  SmallVector<Value> dyn;
  for (int64_t d : {0, 1, 2, 3})
    if (t.isDynamicDim(d))
      dyn.push_back(cast<Value>(s[d]));
  FailureOr<Value> bc =
      em.broadcastTo(*u, RankedTensorType::get(shape, t.getElementType()), dyn);
  if (failed(bc))
    return failure();
  return reshapeTo(
      em, *bc, {s[0], em.b.getIndexAttr(t.getDimSize(1) * groups), s[2], s[3]});
}

/// A scaling factor as ONNX Runtime computes it (in float): `scale` if
/// nonzero, else 1 / sqrt(headSize).
double attentionScale(float scale, int64_t headSize) {
  if (scale != 0.0f)
    return scale;
  return 1.0f / std::sqrt(static_cast<float>(headSize));
}

/// The type attention scores are computed in: f32 for narrower floats (as
/// ONNX Runtime's kernels do), else the input type.
Type scoreType(Type elementType) {
  if (elementType.getIntOrFloatBitWidth() < 32)
    return Float32Type::get(elementType.getContext());
  return elementType;
}

/// `v` converted to float type `t` (a no-op if it has it).
FailureOr<Value> toFloatType(Emitter &em, Value v, Type t) {
  return em.castTo(v, t, false, false);
}

//===----------------------------------------------------------------------===//
// Scaled dot-product attention core
//===----------------------------------------------------------------------===//

/// An extra operand of the score adjustment, read at `map` of the
/// (b, n, s, t) loop nest.
struct ScoreOperand {
  Value value;
  AffineMap map;
};

/// Adjusts one raw score Q.K (before softmax) given the extra operands'
/// scalars; the loop indices are available through linalg.index.
using ScoreFn =
    std::function<Value(OpBuilder &, Location, Value, ValueRange extras)>;

/// Q, K and V in scoreType() of Q's type, K and V with their heads repeated
/// to Q's head count.
struct ComputeHeads {
  Value q, k, v;
};

/// Q [B, N, S, H], K [B, Nk, T, H] and V [B, Nk, T, Hv] (Nk divides N)
/// converted to scoreType() and repeated to N heads.
FailureOr<ComputeHeads> computeHeads(Emitter &em, Value q, Value k, Value v) {
  Type ct = scoreType(typeOf(q).getElementType());
  FailureOr<Value> qc = toFloatType(em, q, ct);
  FailureOr<Value> kc = toFloatType(em, k, ct);
  FailureOr<Value> vc = toFloatType(em, v, ct);
  if (failed(qc) || failed(kc) || failed(vc))
    return failure();
  int64_t n = typeOf(q).getDimSize(1), nk = typeOf(k).getDimSize(1);
  FailureOr<Value> kr = repeatHeads(em, *kc, n / nk);
  FailureOr<Value> vr = repeatHeads(em, *vc, n / nk);
  if (failed(kr) || failed(vr))
    return failure();
  return ComputeHeads{*qc, *kr, *vr};
}

/// Raw scores Q K^T [B, N, S, T] of computeHeads()' Q and K.
FailureOr<Value> rawScores(Emitter &em, const ComputeHeads &h) {
  Value kt = em.transpose(h.k, {0, 1, 3, 2});
  return em.matmul(h.q, kt);
}

/// `adjust` applied to every score of `scores` [B, N, S, T], with `extras`
/// read alongside, in one linalg.generic.
Value adjustScores(Emitter &em, Value scores, ArrayRef<ScoreOperand> extras,
                   const ScoreFn &adjust) {
  auto type = typeOf(scores);
  SmallVector<Value> inputs = {scores};
  SmallVector<AffineMap> maps = {
      AffineMap::getMultiDimIdentityMap(4, em.ctx())};
  for (const ScoreOperand &e : extras) {
    inputs.push_back(e.value);
    maps.push_back(e.map);
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(4, em.ctx()));
  Value init = em.empty(type, em.dynamicSizes(em.sizes(scores)));
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             em.b, em.loc, TypeRange{type}, inputs, ValueRange{init}, maps,
             iterators,
             [&](OpBuilder &b, Location l, ValueRange args) {
               Value r = adjust(b, l, args[0], args.slice(1, extras.size()));
               linalg::YieldOp::create(b, l, r);
             })
      .getResult(0);
}

/// probs [B, N, S, T] times computeHeads()' V, rounded to `elementType`.
FailureOr<Value> weightedValues(Emitter &em, Value probs, const ComputeHeads &h,
                                Type elementType) {
  FailureOr<Value> out = em.matmul(probs, h.v);
  if (failed(out))
    return failure();
  return toFloatType(em, *out, elementType);
}

/// softmax(adjust(Q K^T)) V for Q [B, N, S, H], K [B, Nk, T, H] and
/// V [B, Nk, T, Hv], where Nk divides N; returns [B, N, S, Hv]. Computed in
/// scoreType() of the input type (`adjust` sees scores of that type).
FailureOr<Value> attentionCore(Emitter &em, Value q, Value k, Value v,
                               ArrayRef<ScoreOperand> extras,
                               const ScoreFn &adjust) {
  FailureOr<ComputeHeads> h = computeHeads(em, q, k, v);
  if (failed(h))
    return failure();
  FailureOr<Value> scores = rawScores(em, *h);
  if (failed(scores))
    return failure();
  Value adjusted = adjustScores(em, *scores, extras, adjust);
  FailureOr<Value> probs = em.softmax(adjusted, 3);
  if (failed(probs))
    return failure();
  return weightedValues(em, *probs, *h, typeOf(q).getElementType());
}

//===----------------------------------------------------------------------===//
// Masks of Attention and MultiHeadAttention
//===----------------------------------------------------------------------===//

enum class MaskKind {
  None,
  /// [B]: valid key lengths (right padding).
  KeyEnd,
  /// [2B]: exclusive end positions, then inclusive start positions.
  KeyEndStart,
  /// [B, T]: 1 for keys attended to, 0 for masked ones.
  Keys2D,
  /// [B, S, T]: the same per query.
  Full3D,
};

/// How the scores of Attention and MultiHeadAttention are adjusted, in ONNX
/// Runtime's order: scale, + attention_bias, + mask_filter_value where the
/// mask hides a key, and the lowest float where the causal mask does.
struct ScoreSpec {
  double scale = 1.0;
  double filter = -10000.0;
  MaskKind maskKind = MaskKind::None;
  Value mask;
  /// [B or 1, N or 1, S, T].
  Value bias;
  /// ONNX Runtime's causal mask: for S > 1, query s < S - 1 sees keys
  /// t <= P + s (the last query row is never masked).
  bool causal = false;
  OpFoldResult past;
};

/// Classifies `mask` (int32) for batch size `batch`, query length `seq` and
/// total key length `total`. The [2B] form is Attention's only.
LogicalResult classifyMask(NodeContext &nc, Value mask, StringRef what,
                           int64_t batch, int64_t seq, int64_t total,
                           bool allowEndStart, ScoreSpec &spec) {
  auto t = typeOf(mask);
  spec.mask = mask;
  switch (t.getRank()) {
  case 1: {
    int64_t n = t.getDimSize(0);
    if (!ShapedType::isDynamic(n) && !ShapedType::isDynamic(batch) &&
        n != batch) {
      if (n == 2 * batch && allowEndStart) {
        spec.maskKind = MaskKind::KeyEndStart;
        return success();
      }
      if (n == 3 * batch + 2)
        return nc.error() << "the " << what
                          << " form [3 * batch_size + 2] is not supported";
      return nc.error() << "1-D " << what << " must have batch_size (" << batch
                        << ")" << (allowEndStart ? " or 2 * batch_size" : "")
                        << " elements, got " << mask.getType();
    }
    // A dynamic length is taken to be [B].
    spec.maskKind = MaskKind::KeyEnd;
    return success();
  }
  case 2:
    if (differ(t.getDimSize(0), batch) || differ(t.getDimSize(1), total))
      return nc.error() << "2-D " << what
                        << " must have shape [batch_size, "
                           "total_sequence_length] = ["
                        << batch << ", " << total << "], got "
                        << mask.getType();
    spec.maskKind = MaskKind::Keys2D;
    return success();
  case 3:
    if (differ(t.getDimSize(0), batch) || differ(t.getDimSize(1), seq) ||
        differ(t.getDimSize(2), total))
      return nc.error() << "3-D " << what
                        << " must have shape [batch_size, sequence_length, "
                           "total_sequence_length] = ["
                        << batch << ", " << seq << ", " << total << "], got "
                        << mask.getType();
    spec.maskKind = MaskKind::Full3D;
    return success();
  case 4:
    return nc.error() << "4-D " << what
                      << " (Megatron-style [batch_size, 1, "
                         "max_sequence_length, max_sequence_length]) is not "
                         "supported";
  default:
    return nc.error() << what << " must be 1-D, 2-D or 3-D, got "
                      << mask.getType();
  }
}

/// Checks attention_bias against [B or 1, N or 1, S, T].
LogicalResult checkAttentionBias(NodeContext &nc, Value bias, int64_t batch,
                                 int64_t heads, int64_t seq, int64_t total) {
  auto t = typeOf(bias);
  auto ok = [](int64_t d, int64_t want, bool broadcastable) {
    return !differ(d, want) || (broadcastable && d == 1);
  };
  if (t.getRank() != 4 || !ok(t.getDimSize(0), batch, true) ||
      !ok(t.getDimSize(1), heads, true) || !ok(t.getDimSize(2), seq, false) ||
      !ok(t.getDimSize(3), total, false))
    return nc.error() << "attention_bias must have shape [batch_size or 1, "
                         "num_heads or 1, sequence_length, "
                         "total_sequence_length] = ["
                      << batch << ", " << heads << ", " << seq << ", " << total
                      << "], got " << bias.getType();
  return success();
}

/// Map reading attention_bias [B|1, N|1, S, T] in the (b, n, s, t) nest.
AffineMap biasMap(Value bias, MLIRContext *ctx) {
  auto t = typeOf(bias);
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < 4; ++d)
    exprs.push_back(d < 2 && t.getDimSize(d) == 1
                        ? getAffineConstantExpr(0, ctx)
                        : getAffineDimExpr(d, ctx));
  return AffineMap::get(4, 0, exprs, ctx);
}

/// Attention over Q [B, N, S, H], K/V [B, N, T, H(v)] with `spec`'s score
/// adjustments; returns [B, N, S, Hv].
FailureOr<Value> maskedAttention(Emitter &em, Value q, Value k, Value v,
                                 const ScoreSpec &spec) {
  MLIRContext *ctx = em.ctx();
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  SmallVector<ScoreOperand> extras;
  int biasIndex = -1, maskIndex = -1;
  Type ct = scoreType(typeOf(q).getElementType());
  if (spec.bias) {
    FailureOr<Value> bias = toFloatType(em, spec.bias, ct);
    if (failed(bias))
      return failure();
    biasIndex = extras.size();
    extras.push_back({*bias, biasMap(spec.bias, ctx)});
  }
  switch (spec.maskKind) {
  case MaskKind::KeyEnd:
    maskIndex = extras.size();
    extras.push_back({spec.mask, AffineMap::get(4, 0, {d(0)}, ctx)});
    break;
  case MaskKind::Keys2D:
    maskIndex = extras.size();
    extras.push_back({spec.mask, AffineMap::get(4, 0, {d(0), d(3)}, ctx)});
    break;
  case MaskKind::Full3D:
    maskIndex = extras.size();
    extras.push_back(
        {spec.mask, AffineMap::get(4, 0, {d(0), d(2), d(3)}, ctx)});
    break;
  case MaskKind::KeyEndStart:
  case MaskKind::None:
    break;
  }
  // Loop-invariant sizes, defined outside the generic.
  Value batch = sizeValue(em, em.sizes(q)[0]);
  Value lastRow = arith::SubIOp::create(
      em.b, em.loc, sizeValue(em, em.sizes(q)[2]), em.indexConst(1));
  Value past =
      sizeValue(em, spec.past.isNull() ? em.b.getIndexAttr(0) : spec.past);
  Value mask = spec.mask;
  ScoreFn adjust = [&](OpBuilder &b, Location l, Value score,
                       ValueRange ex) -> Value {
    Emitter s(b, l, nullptr);
    Value x = arith::MulFOp::create(b, l, score, s.scalarConst(ct, spec.scale));
    if (biasIndex >= 0)
      x = arith::AddFOp::create(b, l, x, ex[biasIndex]);
    if (spec.maskKind != MaskKind::None) {
      Value t = indexOf(b, l, 3);
      Value hidden;
      Value zero32 = s.scalarConst(b.getI32Type(), 0);
      switch (spec.maskKind) {
      case MaskKind::KeyEnd:
        hidden = cmp(b, l, arith::CmpIPredicate::sge, t,
                     toIndex(b, l, ex[maskIndex]));
        break;
      case MaskKind::KeyEndStart: {
        Value bi = indexOf(b, l, 0);
        Value end = tensor::ExtractOp::create(b, l, mask, ValueRange{bi});
        Value start = tensor::ExtractOp::create(
            b, l, mask, ValueRange{arith::AddIOp::create(b, l, bi, batch)});
        hidden = arith::OrIOp::create(
            b, l, cmp(b, l, arith::CmpIPredicate::sge, t, toIndex(b, l, end)),
            cmp(b, l, arith::CmpIPredicate::slt, t, toIndex(b, l, start)));
        break;
      }
      case MaskKind::Keys2D:
      case MaskKind::Full3D:
        hidden = cmp(b, l, arith::CmpIPredicate::sle, ex[maskIndex], zero32);
        break;
      case MaskKind::None:
        break;
      }
      Value filtered =
          arith::AddFOp::create(b, l, x, s.scalarConst(ct, spec.filter));
      x = arith::SelectOp::create(b, l, hidden, filtered, x);
    }
    if (spec.causal) {
      Value sIdx = indexOf(b, l, 2), t = indexOf(b, l, 3);
      Value limit = arith::AddIOp::create(b, l, past, sIdx);
      Value hidden = arith::AndIOp::create(
          b, l, cmp(b, l, arith::CmpIPredicate::slt, sIdx, lastRow),
          cmp(b, l, arith::CmpIPredicate::sgt, t, limit));
      x = arith::SelectOp::create(b, l, hidden, lowestOf(b, l, ct), x);
    }
    return x;
  };
  return attentionCore(em, q, k, v, extras, adjust);
}

//===----------------------------------------------------------------------===//
// Rotary embedding
//===----------------------------------------------------------------------===//

/// The cache row of the (b, s) position, an index.
using PositionFn =
    std::function<Value(OpBuilder &, Location, Value b, Value s)>;

/// Rotates the first `rotaryDim` channels of each head of the 4-D `x`, whose
/// batch, sequence and head-channel dimensions are `bDim`, `sDim` and 3, with
/// cos/sin caches [M, rotaryDim / 2] at the rows `position` gives. Channels
/// past rotaryDim are copied. Interleaved: pairs (2i, 2i + 1); otherwise
/// (i, i + rotaryDim / 2).
FailureOr<Value> applyRotary(Emitter &em, Value x, int64_t bDim, int64_t sDim,
                             Value cosCache, Value sinCache, int64_t rotaryDim,
                             bool interleaved, const PositionFn &position) {
  auto type = typeOf(x);
  Type ct = scoreType(type.getElementType());
  Value init = em.empty(type, em.dynamicSizes(em.sizes(x)));
  Value rows = sizeValue(em, em.sizes(cosCache)[0]);
  int64_t half = rotaryDim / 2;
  SmallVector<AffineMap> maps(2,
                              AffineMap::getMultiDimIdentityMap(4, em.ctx()));
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             em.b, em.loc, TypeRange{type}, ValueRange{x}, ValueRange{init},
             maps, iterators,
             [&](OpBuilder &b, Location l, ValueRange args) {
               auto c = [&](int64_t v) -> Value {
                 return arith::ConstantIndexOp::create(b, l, v);
               };
               SmallVector<Value> ivs;
               for (int64_t i = 0; i < 4; ++i)
                 ivs.push_back(indexOf(b, l, i));
               Value h = ivs[3];
               Value rotated =
                   cmp(b, l, arith::CmpIPredicate::slt, h, c(rotaryDim));
               // Channels past rotaryDim read channel 0's partner and cache
               // entry (in bounds) and are then replaced by the input.
               Value hr = arith::SelectOp::create(b, l, rotated, h, c(0));
               Value partner, cacheIdx, isFirst;
               if (interleaved) {
                 Value rem = arith::RemUIOp::create(b, l, hr, c(2));
                 isFirst = cmp(b, l, arith::CmpIPredicate::eq, rem, c(0));
                 partner = arith::SelectOp::create(
                     b, l, isFirst, arith::AddIOp::create(b, l, hr, c(1)),
                     arith::SubIOp::create(b, l, hr, c(1)));
                 cacheIdx = arith::DivUIOp::create(b, l, hr, c(2));
               } else {
                 isFirst = cmp(b, l, arith::CmpIPredicate::slt, hr, c(half));
                 partner = arith::SelectOp::create(
                     b, l, isFirst, arith::AddIOp::create(b, l, hr, c(half)),
                     arith::SubIOp::create(b, l, hr, c(half)));
                 cacheIdx = arith::RemUIOp::create(b, l, hr, c(half));
               }
               SmallVector<Value> pIdx(ivs);
               pIdx[3] = partner;
               Value xp = tensor::ExtractOp::create(b, l, x, pIdx);
               Value pos =
                   clampIndex(b, l, position(b, l, ivs[bDim], ivs[sDim]), rows);
               Value cv = tensor::ExtractOp::create(b, l, cosCache,
                                                    ValueRange{pos, cacheIdx});
               Value sv = tensor::ExtractOp::create(b, l, sinCache,
                                                    ValueRange{pos, cacheIdx});
               // out = x cos - partner sin (first of a pair), x cos +
               // partner sin (second), in scoreType() precision.
               Emitter s(b, l, nullptr);
               auto up = [&](Value v) {
                 return s.convertScalar(v, ct, false, false);
               };
               Value xc = arith::MulFOp::create(b, l, up(args[0]), up(cv));
               Value ps = arith::MulFOp::create(b, l, up(xp), up(sv));
               Value out = arith::SelectOp::create(
                   b, l, isFirst, arith::SubFOp::create(b, l, xc, ps),
                   arith::AddFOp::create(b, l, xc, ps));
               out = s.convertScalar(out, type.getElementType(), false, false);
               out = arith::SelectOp::create(b, l, rotated, out, args[0]);
               linalg::YieldOp::create(b, l, out);
             })
      .getResult(0);
}

/// applyRotary on `x` given either 4-D or as [B, S, numHeads * headSize]
/// (split into heads for the rotation and merged back).
FailureOr<Value> rotateHeads(Emitter &em, Value x, int64_t numHeads,
                             int64_t headSize, int64_t bDim, int64_t sDim,
                             Value cosCache, Value sinCache, int64_t rotaryDim,
                             bool interleaved, const PositionFn &position) {
  if (typeOf(x).getRank() != 3)
    return applyRotary(em, x, bDim, sDim, cosCache, sinCache, rotaryDim,
                       interleaved, position);
  SmallVector<OpFoldResult> s = em.sizes(x);
  FailureOr<Value> heads = reshapeTo(
      em, x,
      {s[0], s[1], em.b.getIndexAttr(numHeads), em.b.getIndexAttr(headSize)});
  if (failed(heads))
    return failure();
  FailureOr<Value> y = applyRotary(em, *heads, bDim, sDim, cosCache, sinCache,
                                   rotaryDim, interleaved, position);
  if (failed(y))
    return failure();
  return reshapeTo(em, *y, s);
}

/// Checks a cos/sin cache pair [M, half].
LogicalResult checkRotaryCaches(NodeContext &nc, Value cosCache, Value sinCache,
                                Type elementType, int64_t half) {
  for (auto [v, name] :
       {std::pair(cosCache, "cos_cache"), std::pair(sinCache, "sin_cache")}) {
    if (failed(requireRank(nc, v, 2, name)))
      return failure();
    if (typeOf(v).getElementType() != elementType)
      return nc.error() << "input '" << name
                        << "' must have the element type of the input, got "
                        << v.getType();
    if (differ(typeOf(v).getDimSize(1), half))
      return nc.error() << "input '" << name
                        << "' dimension 1 must be rotary_embedding_dim / 2 ("
                        << half << "), got " << v.getType();
  }
  if (typeOf(cosCache).getShape() != typeOf(sinCache).getShape())
    return nc.error()
           << "cos_cache and sin_cache must have the same shape, got "
           << cosCache.getType() << " and " << sinCache.getType();
  return success();
}

//===----------------------------------------------------------------------===//
// Attention (packed QKV weights)
//===----------------------------------------------------------------------===//

LogicalResult convertAttention(NodeContext &nc) {
  int64_t numHeads = nc.attrInt("num_heads", 0);
  if (numHeads <= 0)
    return nc.error() << "attribute 'num_heads' must be positive";
  if (nc.attrInt("past_present_share_buffer", 0) != 0)
    return nc.error() << "past_present_share_buffer=1 is not supported";
  if (nc.attrInt("do_rotary", 0) != 0)
    return nc.error() << "do_rotary=1 is not supported (use "
                         "MultiHeadAttention with RotaryEmbedding)";
  if (nc.hasInput(6))
    return nc.error() << "input 'past_sequence_length' is not supported (it "
                         "is only used with past_present_share_buffer)";
  FailureOr<Value> x = nc.floatInput(0, "input");
  if (failed(x))
    return failure();
  FailureOr<Value> w = nc.floatInput(1, "weights");
  if (failed(w))
    return failure();
  FailureOr<Value> bias = nc.floatInput(2, "bias", false);
  if (failed(bias))
    return failure();
  FailureOr<Value> mask = intInput(nc, 3, "mask_index", 32, false);
  if (failed(mask))
    return failure();
  FailureOr<Value> past = nc.floatInput(4, "past", false);
  if (failed(past))
    return failure();
  FailureOr<Value> attnBias = nc.floatInput(5, "attention_bias", false);
  if (failed(attnBias))
    return failure();
  if (failed(requireRank(nc, *x, 3, "input")) ||
      failed(requireRank(nc, *w, 2, "weights")))
    return failure();
  Type et = typeOf(*x).getElementType();
  for (Value v : {*w, *bias, *past, *attnBias})
    if (v && typeOf(v).getElementType() != et)
      return nc.error() << "all float inputs must have the element type of "
                           "the input, got "
                        << v.getType();
  FailureOr<int64_t> total = staticDim(nc, *w, 1, "weights");
  if (failed(total) || failed(requireDim(nc, *w, 0, typeOf(*x).getDimSize(2),
                                         "weights", "input_hidden_size")))
    return failure();

  int64_t qSize, kSize, vSize;
  if (auto sizes = nc.attrInts("qkv_hidden_sizes"); sizes && !sizes->empty()) {
    if (sizes->size() != 3 ||
        llvm::any_of(*sizes, [](int64_t s) { return s <= 0; }))
      return nc.error() << "attribute 'qkv_hidden_sizes' must hold 3 positive "
                           "sizes";
    qSize = (*sizes)[0], kSize = (*sizes)[1], vSize = (*sizes)[2];
    if (qSize != kSize)
      return nc.error() << "qkv_hidden_sizes: the Q and K hidden sizes must be "
                           "equal, got "
                        << qSize << " and " << kSize;
    if (qSize + kSize + vSize != *total)
      return nc.error() << "qkv_hidden_sizes (" << qSize << ", " << kSize
                        << ", " << vSize
                        << ") must add up to the weights' dimension 1 ("
                        << *total << ")";
  } else {
    if (*total % 3 != 0)
      return nc.error() << "weights dimension 1 (" << *total
                        << ") must be 3 * hidden_size";
    qSize = kSize = vSize = *total / 3;
  }
  if (qSize % numHeads != 0 || vSize % numHeads != 0)
    return nc.error() << "hidden sizes (" << qSize << ", " << vSize
                      << ") must be multiples of num_heads (" << numHeads
                      << ")";
  int64_t headSize = qSize / numHeads, vHeadSize = vSize / numHeads;
  if (*bias && (failed(requireRank(nc, *bias, 1, "bias")) ||
                failed(requireDim(nc, *bias, 0, *total, "bias",
                                  "the weights' dimension 1"))))
    return failure();

  auto xt = typeOf(*x);
  int64_t batch = xt.getDimSize(0), seq = xt.getDimSize(1);
  int64_t pastLen = 0;
  if (*past) {
    if (qSize != vSize)
      return nc.error() << "past requires equal Q, K and V hidden sizes";
    if (failed(requireRank(nc, *past, 5, "past")) ||
        failed(requireDim(nc, *past, 0, 2, "past", "2")) ||
        failed(requireDim(nc, *past, 1, batch, "past", "batch_size")) ||
        failed(requireDim(nc, *past, 2, numHeads, "past", "num_heads")) ||
        failed(requireDim(nc, *past, 4, headSize, "past", "head_size")))
      return failure();
    pastLen = typeOf(*past).getDimSize(3);
  }
  if (nc.hasOutput(1) && qSize != vSize)
    return nc.error() << "output 'present' requires equal Q, K and V hidden "
                         "sizes";
  int64_t totalLen =
      ShapedType::isDynamic(seq) || ShapedType::isDynamic(pastLen)
          ? kDyn
          : seq + pastLen;

  ScoreSpec spec;
  spec.scale = attentionScale(nc.attrFloat("scale", 0.0f), headSize);
  spec.filter = nc.attrFloat("mask_filter_value", -10000.0f);
  spec.causal = nc.attrInt("unidirectional", 0) != 0;
  if (*mask && failed(classifyMask(nc, *mask, "mask_index", batch, seq,
                                   totalLen, /*allowEndStart=*/true, spec)))
    return failure();
  if (*attnBias) {
    if (failed(
            checkAttentionBias(nc, *attnBias, batch, numHeads, seq, totalLen)))
      return failure();
    spec.bias = *attnBias;
  }

  Emitter em = nc.emitter();
  // The projection and attention are computed in f32 for narrower floats (as
  // in ONNX Runtime); the output and present are rounded at the end.
  Type ct = scoreType(et);
  FailureOr<Value> proj = em.matmul(*x, *w, ct);
  if (failed(proj))
    return failure();
  if (*bias) {
    FailureOr<Value> b = toFloatType(em, *bias, ct);
    if (failed(b))
      return failure();
    proj = addTensors(em, *proj, *b);
    if (failed(proj))
      return failure();
  }
  FailureOr<Value> q =
      splitHeads(em, sliceLast(em, *proj, 0, qSize), numHeads, headSize);
  FailureOr<Value> k =
      splitHeads(em, sliceLast(em, *proj, qSize, kSize), numHeads, headSize);
  FailureOr<Value> v = splitHeads(
      em, sliceLast(em, *proj, qSize + kSize, vSize), numHeads, vHeadSize);
  if (failed(q) || failed(k) || failed(v))
    return failure();
  Value keys = *k, values = *v;
  // An empty past (the first step of a GPT-2 export) contributes nothing.
  if (*past && pastLen != 0) {
    FailureOr<Value> pastC = toFloatType(em, *past, ct);
    if (failed(pastC))
      return failure();
    FailureOr<Value> pk = selectIndex(em, *pastC, 0, 0);
    FailureOr<Value> pv = selectIndex(em, *pastC, 0, 1);
    if (failed(pk) || failed(pv))
      return failure();
    keys = em.concat({*pk, keys}, 2);
    values = em.concat({*pv, values}, 2);
    spec.past = em.sizes(*past)[3];
  }
  FailureOr<Value> out = maskedAttention(em, *q, keys, values, spec);
  if (failed(out))
    return failure();
  FailureOr<Value> y = mergeHeads(em, *out, numHeads, vHeadSize);
  if (failed(y))
    return failure();
  y = toFloatType(em, *y, et);
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  if (nc.hasOutput(1)) {
    FailureOr<Value> pk = em.unsqueeze(keys, {0});
    FailureOr<Value> pv = em.unsqueeze(values, {0});
    if (failed(pk) || failed(pv))
      return failure();
    FailureOr<Value> present = toFloatType(em, em.concat({*pk, *pv}, 0), et);
    if (failed(present))
      return failure();
    nc.setOutput(1, *present, nc.inputOnnxType(0));
  }
  return success();
}

//===----------------------------------------------------------------------===//
// MultiHeadAttention
//===----------------------------------------------------------------------===//

/// Adds `bias[offset, offset + N*H)` to `x` [B, L, N, H] (a packed head
/// layout).
FailureOr<Value> addHeadBias(Emitter &em, Value x, Value bias, int64_t offset,
                             int64_t numHeads, int64_t headSize) {
  Value slice = sliceLast(em, bias, offset, numHeads * headSize);
  FailureOr<Value> r = reshapeTo(
      em, slice, {em.b.getIndexAttr(numHeads), em.b.getIndexAttr(headSize)});
  if (failed(r))
    return failure();
  return addTensors(em, x, *r);
}

LogicalResult convertMultiHeadAttention(NodeContext &nc) {
  int64_t numHeads = nc.attrInt("num_heads", 0);
  if (numHeads <= 0)
    return nc.error() << "attribute 'num_heads' must be positive";
  if (nc.hasInput(8))
    return nc.error() << "input 'past_sequence_length' (past/present buffer "
                         "sharing) is not supported";
  if (nc.hasInput(9))
    return nc.error() << "input 'cache_indirection' (beam search) is not "
                         "supported";
  if (nc.hasOutput(3))
    return nc.error() << "output 'qk' is not supported";
  FailureOr<Value> query = nc.floatInput(0, "query");
  if (failed(query))
    return failure();
  FailureOr<Value> key = nc.floatInput(1, "key", false);
  if (failed(key))
    return failure();
  FailureOr<Value> value = nc.floatInput(2, "value", false);
  if (failed(value))
    return failure();
  FailureOr<Value> bias = nc.floatInput(3, "bias", false);
  if (failed(bias))
    return failure();
  FailureOr<Value> mask = intInput(nc, 4, "key_padding_mask", 32, false);
  if (failed(mask))
    return failure();
  FailureOr<Value> attnBias = nc.floatInput(5, "attention_bias", false);
  if (failed(attnBias))
    return failure();
  FailureOr<Value> pastKey = nc.floatInput(6, "past_key", false);
  if (failed(pastKey))
    return failure();
  FailureOr<Value> pastValue = nc.floatInput(7, "past_value", false);
  if (failed(pastValue))
    return failure();
  if (!*pastKey != !*pastValue)
    return nc.error() << "past_key and past_value must be both present or "
                         "both absent";

  auto qt = typeOf(*query);
  Type et = qt.getElementType();
  for (Value v : {*key, *value, *bias, *attnBias, *pastKey, *pastValue})
    if (v && typeOf(v).getElementType() != et)
      return nc.error() << "all float inputs must have the element type of "
                           "the query, got "
                        << v.getType();
  int64_t batch = qt.getDimSize(0), seq = qt.getDimSize(1);
  Emitter em = nc.emitter();
  // Narrower floats are computed in f32 (bias additions included, as in ONNX
  // Runtime); the outputs are rounded at the end.
  for (FailureOr<Value> *v :
       {&query, &key, &value, &bias, &pastKey, &pastValue}) {
    if (**v) {
      *v = toFloatType(em, **v, scoreType(et));
      if (failed(*v))
        return failure();
    }
  }
  Value q4, k4, v4;
  int64_t headSize, vHeadSize;
  auto checkBias = [&](int64_t size) -> LogicalResult {
    if (!*bias)
      return success();
    if (failed(requireRank(nc, *bias, 1, "bias")))
      return failure();
    return requireDim(nc, *bias, 0, size, "bias",
                      "hidden_size + hidden_size + v_hidden_size");
  };

  if (qt.getRank() == 5) {
    // Packed QKV [B, S, N, 3, H].
    if (*key || *value)
      return nc.error() << "key and value must be absent with a packed QKV "
                           "query";
    if (failed(requireDim(nc, *query, 2, numHeads, "query", "num_heads")) ||
        failed(requireDim(nc, *query, 3, 3, "query", "3")))
      return failure();
    FailureOr<int64_t> h = staticDim(nc, *query, 4, "query");
    if (failed(h))
      return failure();
    headSize = vHeadSize = *h;
    if (failed(checkBias(3 * numHeads * headSize)))
      return failure();
    Value parts[3];
    for (int64_t i = 0; i < 3; ++i) {
      FailureOr<Value> p = selectIndex(em, *query, 3, i);
      if (failed(p))
        return failure();
      if (*bias) {
        p = addHeadBias(em, *p, *bias, i * numHeads * headSize, numHeads,
                        headSize);
        if (failed(p))
          return failure();
      }
      parts[i] = em.transpose(*p, {0, 2, 1, 3});
    }
    q4 = parts[0], k4 = parts[1], v4 = parts[2];
  } else {
    if (qt.getRank() != 3)
      return nc.error() << "query must be 3-D [batch_size, sequence_length, "
                           "hidden_size] or 5-D packed QKV, got "
                        << query->getType();
    FailureOr<int64_t> hidden = staticDim(nc, *query, 2, "query");
    if (failed(hidden))
      return failure();
    if (*hidden % numHeads != 0)
      return nc.error() << "query hidden size (" << *hidden
                        << ") must be a multiple of num_heads (" << numHeads
                        << ")";
    headSize = *hidden / numHeads;
    if (!*key)
      return nc.error() << "input 'key' is required unless the query is "
                           "packed QKV";
    auto kt = typeOf(*key);
    Value qIn = *query;
    if (kt.getRank() == 5) {
      // Packed KV [B, L, N, 2, H].
      if (*value)
        return nc.error() << "value must be absent with a packed KV key";
      if (failed(requireDim(nc, *key, 0, batch, "key", "batch_size")) ||
          failed(requireDim(nc, *key, 2, numHeads, "key", "num_heads")) ||
          failed(requireDim(nc, *key, 3, 2, "key", "2")) ||
          failed(requireDim(nc, *key, 4, headSize, "key", "head_size")))
        return failure();
      vHeadSize = headSize;
      if (failed(checkBias(3 * *hidden)))
        return failure();
      Value parts[2];
      for (int64_t i = 0; i < 2; ++i) {
        FailureOr<Value> p = selectIndex(em, *key, 3, i);
        if (failed(p))
          return failure();
        if (*bias) {
          p = addHeadBias(em, *p, *bias, (i + 1) * *hidden, numHeads, headSize);
          if (failed(p))
            return failure();
        }
        parts[i] = em.transpose(*p, {0, 2, 1, 3});
      }
      k4 = parts[0], v4 = parts[1];
    } else if (kt.getRank() == 4) {
      // Key and value in [B, N, L, H]: used as they are (cross attention
      // with projected, cached keys and values).
      if (!*value || typeOf(*value).getRank() != 4)
        return nc.error() << "a 4-D key [batch_size, num_heads, "
                             "kv_sequence_length, head_size] needs a 4-D "
                             "value";
      if (*pastKey)
        return nc.error() << "past_key/past_value cannot be combined with a "
                             "4-D key and value";
      if (failed(requireDim(nc, *key, 0, batch, "key", "batch_size")) ||
          failed(requireDim(nc, *key, 1, numHeads, "key", "num_heads")) ||
          failed(requireDim(nc, *key, 3, headSize, "key", "head_size")) ||
          failed(requireDim(nc, *value, 0, batch, "value", "batch_size")) ||
          failed(requireDim(nc, *value, 1, numHeads, "value", "num_heads")) ||
          failed(requireDim(nc, *value, 2, kt.getDimSize(2), "value",
                            "kv_sequence_length")))
        return failure();
      FailureOr<int64_t> vh = staticDim(nc, *value, 3, "value");
      if (failed(vh))
        return failure();
      vHeadSize = *vh;
      if (failed(checkBias(2 * *hidden + numHeads * vHeadSize)))
        return failure();
      // The bias then only applies to Q, as in ONNX Runtime.
      k4 = *key, v4 = *value;
    } else if (kt.getRank() == 3) {
      if (!*value || typeOf(*value).getRank() != 3)
        return nc.error() << "a 3-D key needs a 3-D value";
      if (failed(requireDim(nc, *key, 0, batch, "key", "batch_size")) ||
          failed(requireDim(nc, *key, 2, *hidden, "key", "hidden_size")) ||
          failed(requireDim(nc, *value, 0, batch, "value", "batch_size")) ||
          failed(requireDim(nc, *value, 1, kt.getDimSize(1), "value",
                            "kv_sequence_length")))
        return failure();
      FailureOr<int64_t> vHidden = staticDim(nc, *value, 2, "value");
      if (failed(vHidden))
        return failure();
      if (*vHidden % numHeads != 0)
        return nc.error() << "value hidden size (" << *vHidden
                          << ") must be a multiple of num_heads (" << numHeads
                          << ")";
      vHeadSize = *vHidden / numHeads;
      if (failed(checkBias(2 * *hidden + *vHidden)))
        return failure();
      Value kIn = *key, vIn = *value;
      if (*bias) {
        FailureOr<Value> kb =
            addTensors(em, kIn, sliceLast(em, *bias, *hidden, *hidden));
        FailureOr<Value> vb =
            addTensors(em, vIn, sliceLast(em, *bias, 2 * *hidden, *vHidden));
        if (failed(kb) || failed(vb))
          return failure();
        kIn = *kb, vIn = *vb;
      }
      FailureOr<Value> ks = splitHeads(em, kIn, numHeads, headSize);
      FailureOr<Value> vs = splitHeads(em, vIn, numHeads, vHeadSize);
      if (failed(ks) || failed(vs))
        return failure();
      k4 = *ks, v4 = *vs;
    } else {
      return nc.error() << "key must be 3-D, 4-D or 5-D (packed KV), got "
                        << key->getType();
    }
    if (*bias) {
      FailureOr<Value> qb =
          addTensors(em, qIn, sliceLast(em, *bias, 0, *hidden));
      if (failed(qb))
        return failure();
      qIn = *qb;
    }
    FailureOr<Value> qs = splitHeads(em, qIn, numHeads, headSize);
    if (failed(qs))
      return failure();
    q4 = *qs;
  }

  int64_t kvLen = typeOf(k4).getDimSize(2);
  OpFoldResult pastSize = em.b.getIndexAttr(0);
  int64_t pastLen = 0;
  if (*pastKey) {
    if (failed(requireRank(nc, *pastKey, 4, "past_key")) ||
        failed(requireRank(nc, *pastValue, 4, "past_value")) ||
        failed(requireDim(nc, *pastKey, 0, batch, "past_key", "batch_size")) ||
        failed(
            requireDim(nc, *pastKey, 1, numHeads, "past_key", "num_heads")) ||
        failed(
            requireDim(nc, *pastKey, 3, headSize, "past_key", "head_size")) ||
        failed(
            requireDim(nc, *pastValue, 0, batch, "past_value", "batch_size")) ||
        failed(requireDim(nc, *pastValue, 1, numHeads, "past_value",
                          "num_heads")) ||
        failed(requireDim(nc, *pastValue, 2, typeOf(*pastKey).getDimSize(2),
                          "past_value", "past_sequence_length")) ||
        failed(requireDim(nc, *pastValue, 3, vHeadSize, "past_value",
                          "v_head_size")))
      return failure();
    pastLen = typeOf(*pastKey).getDimSize(2);
    // An empty past contributes nothing.
    if (pastLen != 0) {
      pastSize = em.sizes(*pastKey)[2];
      k4 = em.concat({*pastKey, k4}, 2);
      v4 = em.concat({*pastValue, v4}, 2);
    }
  }
  int64_t totalLen =
      ShapedType::isDynamic(kvLen) || ShapedType::isDynamic(pastLen)
          ? kDyn
          : kvLen + pastLen;

  ScoreSpec spec;
  spec.scale = attentionScale(nc.attrFloat("scale", 0.0f), headSize);
  spec.filter = nc.attrFloat("mask_filter_value", -10000.0f);
  spec.causal = nc.attrInt("unidirectional", 0) != 0;
  spec.past = pastSize;
  if (*mask && failed(classifyMask(nc, *mask, "key_padding_mask", batch, seq,
                                   totalLen, /*allowEndStart=*/false, spec)))
    return failure();
  if (*attnBias) {
    if (failed(
            checkAttentionBias(nc, *attnBias, batch, numHeads, seq, totalLen)))
      return failure();
    spec.bias = *attnBias;
  }
  FailureOr<Value> out = maskedAttention(em, q4, k4, v4, spec);
  if (failed(out))
    return failure();
  FailureOr<Value> y = mergeHeads(em, *out, numHeads, vHeadSize);
  if (failed(y))
    return failure();
  Value results[] = {*y, k4, v4};
  for (auto [i, r] : llvm::enumerate(results)) {
    if (!nc.hasOutput(i))
      continue;
    FailureOr<Value> rounded = toFloatType(em, r, et);
    if (failed(rounded))
      return failure();
    nc.setOutput(i, *rounded, nc.inputOnnxType(0));
  }
  return success();
}

//===----------------------------------------------------------------------===//
// GroupQueryAttention
//===----------------------------------------------------------------------===//

LogicalResult convertGroupQueryAttention(NodeContext &nc) {
  int64_t numHeads = nc.attrInt("num_heads", 0);
  int64_t kvHeads = nc.attrInt("kv_num_heads", 0);
  if (numHeads <= 0 || kvHeads <= 0)
    return nc.error() << "attributes 'num_heads' and 'kv_num_heads' must be "
                         "positive";
  if (numHeads % kvHeads != 0)
    return nc.error() << "num_heads (" << numHeads
                      << ") must be a multiple of kv_num_heads (" << kvHeads
                      << ")";
  if (nc.attrInt("smooth_softmax", 0) != 0)
    return nc.error() << "smooth_softmax=1 is not supported";
  if (nc.attrInt("qk_output", 0) != 0 || nc.hasOutput(3))
    return nc.error() << "the output_qk output (qk_output) is not supported";
  if (nc.attrInt("sliding_window_cache", 0) != 0)
    return nc.error() << "sliding_window_cache=1 is not supported";
  for (StringRef a : {"k_quant_type", "v_quant_type"})
    if (nc.attrString(a, "NONE") != "NONE")
      return nc.error() << "quantized KV caches (" << a << "='"
                        << nc.attrString(a, "NONE") << "') are not supported";
  static const std::pair<unsigned, const char *> refusedInputs[] = {
      {9, "position_ids"}, {11, "head_sink"},     {12, "k_scale"},
      {13, "v_scale"},     {14, "q_norm_weight"}, {15, "k_norm_weight"}};
  for (auto [i, name] : refusedInputs)
    if (nc.hasInput(i))
      return nc.error() << "input '" << name << "' is not supported";
  bool causal = nc.attrInt("causal", 1) != 0;
  int64_t window = nc.attrInt("local_window_size", -1);
  float softcap = nc.attrFloat("softcap", 0.0f);
  bool doRotary = nc.attrInt("do_rotary", 0) != 0;
  bool interleaved = nc.attrInt("rotary_interleaved", 0) != 0;

  FailureOr<Value> query = nc.floatInput(0, "query");
  if (failed(query) || failed(requireRank(nc, *query, 3, "query")))
    return failure();
  FailureOr<Value> key = nc.floatInput(1, "key", false);
  FailureOr<Value> value = nc.floatInput(2, "value", false);
  FailureOr<Value> pastKey = nc.floatInput(3, "past_key", false);
  FailureOr<Value> pastValue = nc.floatInput(4, "past_value", false);
  if (failed(key) || failed(value) || failed(pastKey) || failed(pastValue))
    return failure();
  FailureOr<Value> seqlens = intInput(nc, 5, "seqlens_k", 32);
  if (failed(seqlens) || failed(requireRank(nc, *seqlens, 1, "seqlens_k")))
    return failure();
  FailureOr<Value> totalSeq = intInput(nc, 6, "total_sequence_length", 32);
  if (failed(totalSeq))
    return failure();
  FailureOr<Value> cosCache = nc.floatInput(7, "cos_cache", false);
  FailureOr<Value> sinCache = nc.floatInput(8, "sin_cache", false);
  FailureOr<Value> attnBias = nc.floatInput(10, "attention_bias", false);
  if (failed(cosCache) || failed(sinCache) || failed(attnBias))
    return failure();
  if (!*key != !*value)
    return nc.error() << "key and value must be both present or both absent";
  if (!*pastKey != !*pastValue)
    return nc.error() << "past_key and past_value must be both present or "
                         "both absent";
  if (doRotary && (!*cosCache || !*sinCache))
    return nc.error() << "do_rotary=1 needs cos_cache and sin_cache";

  auto qt = typeOf(*query);
  Type et = qt.getElementType();
  int64_t batch = qt.getDimSize(0), seq = qt.getDimSize(1);
  FailureOr<int64_t> hidden = staticDim(nc, *query, 2, "query");
  if (failed(hidden))
    return failure();
  int64_t headCount = *key ? numHeads : numHeads + 2 * kvHeads;
  if (*hidden % headCount != 0)
    return nc.error() << "query hidden size (" << *hidden
                      << ") must be a multiple of "
                      << (*key ? "num_heads" : "num_heads + 2 * kv_num_heads")
                      << " (" << headCount << ")";
  int64_t headSize = *hidden / headCount;
  int64_t kvHidden = kvHeads * headSize;
  if (failed(requireDim(nc, *seqlens, 0, batch, "seqlens_k", "batch_size")))
    return failure();

  Emitter em = nc.emitter();
  Value q = *query, k = *key, v = *value;
  if (!*key) {
    q = sliceLast(em, *query, 0, numHeads * headSize);
    k = sliceLast(em, *query, numHeads * headSize, kvHidden);
    v = sliceLast(em, *query, numHeads * headSize + kvHidden, kvHidden);
  } else {
    for (auto [t, name] : {std::pair(k, "key"), std::pair(v, "value")}) {
      if (failed(requireRank(nc, t, 3, name)) ||
          failed(requireDim(nc, t, 0, batch, name, "batch_size")) ||
          failed(requireDim(nc, t, 1, seq, name, "sequence_length")) ||
          failed(
              requireDim(nc, t, 2, kvHidden, name, "kv_num_heads * head_size")))
        return failure();
      if (typeOf(t).getElementType() != et)
        return nc.error() << "input '" << name
                          << "' must have the element type of the query";
    }
  }

  // An empty past is the same as none.
  bool hasPast = *pastKey && typeOf(*pastKey).getRank() == 4 &&
                 typeOf(*pastKey).getDimSize(2) != 0;
  if (*pastKey) {
    for (auto [t, name] : {std::pair(*pastKey, "past_key"),
                           std::pair(*pastValue, "past_value")}) {
      if (failed(requireRank(nc, t, 4, name)) ||
          failed(requireDim(nc, t, 0, batch, name, "batch_size")) ||
          failed(requireDim(nc, t, 1, kvHeads, name, "kv_num_heads")) ||
          failed(requireDim(nc, t, 3, headSize, name, "head_size")))
        return failure();
      if (typeOf(t).getElementType() != et)
        return nc.error() << "input '" << name
                          << "' must have the element type of the query";
    }
    if (differ(typeOf(*pastKey).getDimSize(2),
               typeOf(*pastValue).getDimSize(2)))
      return nc.error() << "past_key and past_value must have the same length";
  }

  // Per batch entry: total = seqlens_k + 1 keys are valid, of which the
  // first past = total - S (clamped to [0, P]) come from the cache (none
  // without one).
  Value seqlensV = *seqlens;
  Value seqSize = sizeValue(em, em.sizes(q)[1]);
  Value pastSize = hasPast ? sizeValue(em, em.sizes(*pastKey)[2]) : Value();
  auto totalOf = [&](OpBuilder &b, Location l, Value bi) -> Value {
    Value sk = tensor::ExtractOp::create(b, l, seqlensV, ValueRange{bi});
    return arith::AddIOp::create(b, l, toIndex(b, l, sk),
                                 arith::ConstantIndexOp::create(b, l, 1));
  };
  auto pastOf = [&](OpBuilder &b, Location l, Value bi) -> Value {
    if (!hasPast)
      return arith::ConstantIndexOp::create(b, l, 0);
    Value p = arith::SubIOp::create(b, l, totalOf(b, l, bi), seqSize);
    Value zero = arith::ConstantIndexOp::create(b, l, 0);
    return arith::MinSIOp::create(b, l, arith::MaxSIOp::create(b, l, p, zero),
                                  pastSize);
  };

  // [B, S, heads, H] views for the rotary embedding, then [B, heads, S, H].
  auto toHeads = [&](Value x, int64_t heads) -> FailureOr<Value> {
    SmallVector<OpFoldResult> s = em.sizes(x);
    FailureOr<Value> r = reshapeTo(
        em, x,
        {s[0], s[1], em.b.getIndexAttr(heads), em.b.getIndexAttr(headSize)});
    if (failed(r))
      return failure();
    if (doRotary) {
      r = applyRotary(em, *r, 0, 1, *cosCache, *sinCache,
                      2 * typeOf(*cosCache).getDimSize(1), interleaved,
                      [&](OpBuilder &b, Location l, Value bi, Value si) {
                        return arith::AddIOp::create(b, l, pastOf(b, l, bi), si)
                            .getResult();
                      });
      if (failed(r))
        return failure();
    }
    return em.transpose(*r, {0, 2, 1, 3});
  };
  if (doRotary) {
    if (failed(staticDim(nc, *cosCache, 1, "cos_cache")))
      return failure();
    int64_t half = typeOf(*cosCache).getDimSize(1);
    if (2 * half > headSize)
      return nc.error() << "cos_cache dimension 1 (" << half
                        << ") must be at most head_size / 2";
    if (failed(checkRotaryCaches(nc, *cosCache, *sinCache, et, half)))
      return failure();
  }
  FailureOr<Value> q4 = toHeads(q, numHeads);
  FailureOr<Value> k4 = toHeads(k, kvHeads);
  if (failed(q4) || failed(k4))
    return failure();
  SmallVector<OpFoldResult> vSizes = em.sizes(v);
  FailureOr<Value> vHeads =
      reshapeTo(em, v,
                {vSizes[0], vSizes[1], em.b.getIndexAttr(kvHeads),
                 em.b.getIndexAttr(headSize)});
  if (failed(vHeads))
    return failure();
  Value v4 = em.transpose(*vHeads, {0, 2, 1, 3});

  // present[b, n, t] = past[b, n, t] for t < past_b, the new entry t - past_b
  // for t < past_b + S, else 0; of length P + S. Both are read from their
  // concatenation, which is never empty.
  auto present = [&](Value pastT, Value newT) -> Value {
    if (!hasPast)
      return newT;
    Value both = em.concat({pastT, newT}, 2);
    auto type = typeOf(both);
    Value init = em.empty(type, em.dynamicSizes(em.sizes(both)));
    SmallVector<AffineMap> maps = {
        AffineMap::getMultiDimIdentityMap(4, em.ctx())};
    SmallVector<utils::IteratorType> iterators(4,
                                               utils::IteratorType::parallel);
    Value bothLen = sizeValue(em, em.sizes(both)[2]);
    return linalg::GenericOp::create(
               em.b, em.loc, TypeRange{type}, ValueRange{}, ValueRange{init},
               maps, iterators,
               [&](OpBuilder &b, Location l, ValueRange) {
                 Emitter s(b, l, nullptr);
                 SmallVector<Value> ivs;
                 for (int64_t i = 0; i < 4; ++i)
                   ivs.push_back(indexOf(b, l, i));
                 Value t = ivs[2];
                 Value p = pastOf(b, l, ivs[0]);
                 Value fromPast = cmp(b, l, arith::CmpIPredicate::slt, t, p);
                 Value rel = arith::SubIOp::create(b, l, t, p);
                 Value fromNew =
                     cmp(b, l, arith::CmpIPredicate::slt, rel, seqSize);
                 Value newPos = arith::AddIOp::create(b, l, pastSize, rel);
                 SmallVector<Value> idx(ivs);
                 idx[2] = clampIndex(
                     b, l, arith::SelectOp::create(b, l, fromPast, t, newPos),
                     bothLen);
                 Value r = tensor::ExtractOp::create(b, l, both, idx);
                 Value keep = arith::OrIOp::create(b, l, fromPast, fromNew);
                 r = arith::SelectOp::create(b, l, keep, r,
                                             s.scalarConst(et, 0.0));
                 linalg::YieldOp::create(b, l, r);
               })
        .getResult(0);
  };
  Value presentK = present(*pastKey, *k4);
  Value presentV = present(*pastValue, v4);
  int64_t presentLen = typeOf(presentK).getDimSize(2);

  SmallVector<ScoreOperand> extras;
  if (*attnBias) {
    if (failed(checkAttentionBias(nc, *attnBias, batch, numHeads, seq,
                                  presentLen)))
      return failure();
    FailureOr<Value> bias = toFloatType(em, *attnBias, scoreType(et));
    if (failed(bias))
      return failure();
    extras.push_back({*bias, biasMap(*attnBias, em.ctx())});
  }
  double scale = attentionScale(nc.attrFloat("scale", 0.0f), headSize);
  Type ct = scoreType(et);
  // Scores: scale, softcap, + attention_bias; keys past the entry's total
  // length, after the causal limit or outside the local window (the last
  // local_window_size positions up to the query's) are hidden.
  ScoreFn adjust = [&](OpBuilder &b, Location l, Value score,
                       ValueRange ex) -> Value {
    Emitter s(b, l, nullptr);
    Value x = arith::MulFOp::create(b, l, score, s.scalarConst(ct, scale));
    if (softcap > 0.0f) {
      Value c = s.scalarConst(ct, softcap);
      x = arith::MulFOp::create(
          b, l, c,
          math::TanhOp::create(b, l, arith::DivFOp::create(b, l, x, c)));
    }
    if (!ex.empty())
      x = arith::AddFOp::create(b, l, x, ex[0]);
    Value bi = indexOf(b, l, 0), si = indexOf(b, l, 2), t = indexOf(b, l, 3);
    Value valid = cmp(b, l, arith::CmpIPredicate::slt, t, totalOf(b, l, bi));
    Value pos = arith::AddIOp::create(b, l, pastOf(b, l, bi), si);
    if (causal)
      valid = arith::AndIOp::create(
          b, l, valid, cmp(b, l, arith::CmpIPredicate::sle, t, pos));
    if (window > 0)
      valid = arith::AndIOp::create(
          b, l, valid,
          cmp(b, l, arith::CmpIPredicate::sgt, t,
              arith::SubIOp::create(b, l, pos, s.indexConst(window))));
    return arith::SelectOp::create(b, l, valid, x, lowestOf(b, l, ct));
  };
  FailureOr<Value> out =
      attentionCore(em, *q4, presentK, presentV, extras, adjust);
  if (failed(out))
    return failure();
  FailureOr<Value> y = mergeHeads(em, *out, numHeads, headSize);
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  nc.setOutput(1, presentK, nc.inputOnnxType(0));
  nc.setOutput(2, presentV, nc.inputOnnxType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// RotaryEmbedding
//===----------------------------------------------------------------------===//

LogicalResult convertRotaryEmbedding(NodeContext &nc) {
  if (nc.attrInt("is_packed_batching", 0) != 0)
    return nc.error() << "is_packed_batching=1 is not supported";
  FailureOr<Value> x = nc.floatInput(0, "input");
  if (failed(x))
    return failure();
  FailureOr<Value> positions = intInput(nc, 1, "position_ids", 64);
  if (failed(positions))
    return failure();
  FailureOr<Value> cosCache = nc.floatInput(2, "cos_cache");
  FailureOr<Value> sinCache = failed(cosCache) ? FailureOr<Value>(failure())
                                               : nc.floatInput(3, "sin_cache");
  if (failed(sinCache))
    return failure();
  bool interleaved = nc.attrInt("interleaved", 0) != 0;
  int64_t numHeadsAttr = nc.attrInt("num_heads", 0);
  int64_t rotaryAttr = nc.attrInt("rotary_embedding_dim", 0);
  auto xt = typeOf(*x);
  if (xt.getRank() != 3 && xt.getRank() != 4)
    return nc.error() << "input must be 3-D [batch_size, sequence_length, "
                         "hidden_size] or 4-D [batch_size, num_heads, "
                         "sequence_length, head_size], got "
                      << x->getType();
  if (failed(requireRank(nc, *cosCache, 2, "cos_cache")))
    return failure();
  FailureOr<int64_t> half = staticDim(nc, *cosCache, 1, "cos_cache");
  if (failed(half))
    return failure();
  if (rotaryAttr > 0 && numHeadsAttr <= 0)
    return nc.error() << "num_heads must be given with rotary_embedding_dim";
  int64_t numHeads, headSize;
  if (xt.getRank() == 4) {
    FailureOr<int64_t> n = staticDim(nc, *x, 1, "input");
    FailureOr<int64_t> h = failed(n) ? FailureOr<int64_t>(failure())
                                     : staticDim(nc, *x, 3, "input");
    if (failed(h))
      return failure();
    numHeads = *n, headSize = *h;
  } else {
    FailureOr<int64_t> hidden = staticDim(nc, *x, 2, "input");
    if (failed(hidden))
      return failure();
    // Without rotary_embedding_dim the caches give the head size.
    headSize = rotaryAttr > 0 ? *hidden / numHeadsAttr : 2 * *half;
    if (headSize <= 0 || *hidden % headSize != 0)
      return nc.error() << "hidden size (" << *hidden
                        << ") must be a multiple of the head size (" << headSize
                        << ")";
    numHeads = *hidden / headSize;
    if (numHeadsAttr > 0 && numHeadsAttr != numHeads)
      return nc.error() << "num_heads (" << numHeadsAttr
                        << ") does not match hidden size / head size ("
                        << numHeads << ")";
  }
  int64_t rotaryDim = rotaryAttr > 0 ? rotaryAttr : headSize;
  if (rotaryDim > headSize || rotaryDim % 2 != 0)
    return nc.error() << "rotary_embedding_dim (" << rotaryDim
                      << ") must be even and at most the head size ("
                      << headSize << ")";
  if (failed(checkRotaryCaches(nc, *cosCache, *sinCache, xt.getElementType(),
                               rotaryDim / 2)))
    return failure();

  auto pt = typeOf(*positions);
  int64_t sDim = xt.getRank() == 4 ? 2 : 1;
  Value pos = *positions;
  PositionFn position;
  if (pt.getRank() == 2) {
    if (failed(requireDim(nc, pos, 0, xt.getDimSize(0), "position_ids",
                          "batch_size")) ||
        failed(requireDim(nc, pos, 1, xt.getDimSize(sDim), "position_ids",
                          "sequence_length")))
      return failure();
    position = [pos](OpBuilder &b, Location l, Value bi, Value si) {
      return toIndex(b, l,
                     tensor::ExtractOp::create(b, l, pos, ValueRange{bi, si}));
    };
  } else if (pt.getRank() <= 1 && pt.hasStaticShape() &&
             pt.getNumElements() == 1) {
    // One start offset for every sequence.
    int64_t rank = pt.getRank();
    position = [pos, rank](OpBuilder &b, Location l, Value, Value si) {
      SmallVector<Value> idx;
      if (rank == 1)
        idx.push_back(arith::ConstantIndexOp::create(b, l, 0));
      Value start = toIndex(b, l, tensor::ExtractOp::create(b, l, pos, idx));
      return arith::AddIOp::create(b, l, start, si).getResult();
    };
  } else {
    return nc.error() << "position_ids must have shape [1] or [batch_size, "
                         "sequence_length], got "
                      << pos.getType();
  }

  Emitter em = nc.emitter();
  FailureOr<Value> y =
      rotateHeads(em, *x, numHeads, headSize, 0, sDim, *cosCache, *sinCache,
                  rotaryDim, interleaved, position);
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// ONNX Attention (default domain, opsets 23 and 24)
//===----------------------------------------------------------------------===//

/// Softmax over the last dimension of `x` [B, N, S, T], except that rows
/// whose largest score is the lowest float or -inf (every key hidden) get
/// zero weights, as in ONNX Runtime's Attention kernel.
FailureOr<Value> softmaxZeroingHiddenRows(Emitter &em, Value x) {
  Type t = typeOf(x).getElementType();
  FailureOr<Value> m = em.reduce(x, {3}, Emitter::ReduceKind::Max, true);
  if (failed(m))
    return failure();
  FailureOr<Value> e =
      em.map({x, *m}, t, [](OpBuilder &b, Location l, ValueRange a) {
        Value d = arith::SubFOp::create(b, l, a[0], a[1]);
        return math::ExpOp::create(b, l, d).getResult();
      });
  if (failed(e))
    return failure();
  FailureOr<Value> s = em.reduce(*e, {3}, Emitter::ReduceKind::Sum, true);
  if (failed(s))
    return failure();
  return em.map({*e, *s, *m}, t, [t](OpBuilder &b, Location l, ValueRange a) {
    Emitter se(b, l, nullptr);
    Value hidden = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLE, a[2],
                                         lowestOf(b, l, t));
    Value p = arith::DivFOp::create(b, l, a[0], a[1]);
    return arith::SelectOp::create(b, l, hidden, se.scalarConst(t, 0.0), p)
        .getResult();
  });
}

/// Map reading a mask of rank <= 4 broadcast (numpy rules) to the
/// (b, n, s, t) nest; static size-1 dimensions are broadcast.
AffineMap broadcastMap(Value v, MLIRContext *ctx) {
  auto t = typeOf(v);
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < t.getRank(); ++d)
    exprs.push_back(t.getDimSize(d) == 1
                        ? getAffineConstantExpr(0, ctx)
                        : getAffineDimExpr(4 - t.getRank() + d, ctx));
  return AffineMap::get(4, 0, exprs, ctx);
}

/// Q, K or V of ONNX Attention as [B, heads, L, head_size] (3-D inputs are
/// split into `heads` heads).
FailureOr<Value> onnxHeads(Emitter &em, Value x, int64_t heads,
                           int64_t headSize) {
  if (typeOf(x).getRank() == 4)
    return x;
  return splitHeads(em, x, heads, headSize);
}

LogicalResult convertOnnxAttention(NodeContext &nc) {
  FailureOr<Value> q = nc.floatInput(0, "Q");
  FailureOr<Value> k =
      failed(q) ? FailureOr<Value>(failure()) : nc.floatInput(1, "K");
  FailureOr<Value> v =
      failed(k) ? FailureOr<Value>(failure()) : nc.floatInput(2, "V");
  if (failed(v))
    return failure();
  FailureOr<Value> pastKey = nc.floatInput(4, "past_key", false);
  FailureOr<Value> pastValue = nc.floatInput(5, "past_value", false);
  if (failed(pastKey) || failed(pastValue))
    return failure();
  if (!*pastKey != !*pastValue)
    return nc.error() << "past_key and past_value must be both present or "
                         "both absent";
  if (nc.hasInput(6) && nc.opset < 24)
    return nc.error() << "input 'nonpad_kv_seqlen' needs opset 24, got opset "
                      << nc.opset;
  FailureOr<Value> nonpad = intInput(nc, 6, "nonpad_kv_seqlen", 64, false);
  if (failed(nonpad))
    return failure();
  // ONNX Runtime rejects this combination too: the valid lengths would be
  // ambiguous with a cache in front of the keys.
  if (*nonpad && *pastKey)
    return nc.error() << "nonpad_kv_seqlen cannot be combined with "
                         "past_key/past_value";
  bool causal = nc.attrInt("is_causal", 0) != 0;
  float softcap = nc.attrFloat("softcap", 0.0f);
  int64_t qkMode = -1;
  if (nc.hasOutput(3)) {
    qkMode = nc.attrInt("qk_matmul_output_mode", 0);
    if (qkMode < 0 || qkMode > 3)
      return nc.error() << "qk_matmul_output_mode must be 0, 1, 2 or 3, got "
                        << qkMode;
  }

  auto qt = typeOf(*q), kt = typeOf(*k), vt = typeOf(*v);
  Type et = qt.getElementType();
  int64_t rank = qt.getRank();
  if ((rank != 3 && rank != 4) || kt.getRank() != rank || vt.getRank() != rank)
    return nc.error() << "Q, K and V must be all 3-D [batch_size, seq_length, "
                         "num_heads * head_size] or all 4-D [batch_size, "
                         "num_heads, seq_length, head_size], got "
                      << q->getType() << ", " << k->getType() << " and "
                      << v->getType();
  for (Value x : {*k, *v, *pastKey, *pastValue})
    if (x && typeOf(x).getElementType() != et)
      return nc.error() << "K, V, past_key and past_value must have the "
                           "element type of Q, got "
                        << x.getType();
  int64_t qHeadsAttr = nc.attrInt("q_num_heads", 0);
  int64_t kvHeadsAttr = nc.attrInt("kv_num_heads", 0);
  int64_t qHeads, kvHeads, headSize, kHeadSize, vHeadSize;
  int64_t seqDim = rank == 4 ? 2 : 1;
  if (rank == 4) {
    FailureOr<int64_t> nq = staticDim(nc, *q, 1, "Q");
    FailureOr<int64_t> nk =
        failed(nq) ? FailureOr<int64_t>(failure()) : staticDim(nc, *k, 1, "K");
    FailureOr<int64_t> h =
        failed(nk) ? FailureOr<int64_t>(failure()) : staticDim(nc, *q, 3, "Q");
    FailureOr<int64_t> hk =
        failed(h) ? FailureOr<int64_t>(failure()) : staticDim(nc, *k, 3, "K");
    FailureOr<int64_t> hv =
        failed(hk) ? FailureOr<int64_t>(failure()) : staticDim(nc, *v, 3, "V");
    if (failed(hv))
      return failure();
    qHeads = *nq, kvHeads = *nk, headSize = *h, kHeadSize = *hk;
    vHeadSize = *hv;
    if ((qHeadsAttr > 0 && qHeadsAttr != qHeads) ||
        (kvHeadsAttr > 0 && kvHeadsAttr != kvHeads))
      return nc.error() << "q_num_heads/kv_num_heads (" << qHeadsAttr << ", "
                        << kvHeadsAttr << ") do not match the 4-D Q and K ("
                        << qHeads << ", " << kvHeads << ")";
    if (failed(requireDim(nc, *v, 1, kvHeads, "V", "kv_num_heads")))
      return failure();
  } else {
    if (qHeadsAttr <= 0 || kvHeadsAttr <= 0)
      return nc.error() << "3-D Q, K and V need positive q_num_heads and "
                           "kv_num_heads attributes";
    qHeads = qHeadsAttr, kvHeads = kvHeadsAttr;
    FailureOr<int64_t> qh = staticDim(nc, *q, 2, "Q");
    FailureOr<int64_t> kh =
        failed(qh) ? FailureOr<int64_t>(failure()) : staticDim(nc, *k, 2, "K");
    FailureOr<int64_t> vh =
        failed(kh) ? FailureOr<int64_t>(failure()) : staticDim(nc, *v, 2, "V");
    if (failed(vh))
      return failure();
    if (*qh % qHeads != 0 || *kh % kvHeads != 0 || *vh % kvHeads != 0)
      return nc.error() << "hidden sizes of Q, K and V (" << *qh << ", " << *kh
                        << ", " << *vh << ") must be multiples of "
                        << "q_num_heads, kv_num_heads and kv_num_heads ("
                        << qHeads << ", " << kvHeads << ", " << kvHeads << ")";
    headSize = *qh / qHeads, kHeadSize = *kh / kvHeads;
    vHeadSize = *vh / kvHeads;
  }
  if (qHeads % kvHeads != 0)
    return nc.error() << "q_num_heads (" << qHeads
                      << ") must be a multiple of kv_num_heads (" << kvHeads
                      << ")";
  if (headSize != kHeadSize)
    return nc.error() << "Q and K must have the same head size, got "
                      << headSize << " and " << kHeadSize;
  int64_t batch = qt.getDimSize(0), seq = qt.getDimSize(seqDim);
  if (failed(requireDim(nc, *k, 0, batch, "K", "batch_size")) ||
      failed(requireDim(nc, *v, 0, batch, "V", "batch_size")) ||
      failed(requireDim(nc, *v, seqDim, kt.getDimSize(seqDim), "V",
                        "the kv sequence length of K")))
    return failure();
  int64_t kvLen = kt.getDimSize(seqDim), pastLen = 0;
  if (*pastKey) {
    for (auto [x, name, size] :
         {std::tuple(*pastKey, "past_key", headSize),
          std::tuple(*pastValue, "past_value", vHeadSize)}) {
      if (failed(requireRank(nc, x, 4, name)) ||
          failed(requireDim(nc, x, 0, batch, name, "batch_size")) ||
          failed(requireDim(nc, x, 1, kvHeads, name, "kv_num_heads")) ||
          failed(requireDim(nc, x, 3, size, name, "the head size")))
        return failure();
    }
    if (failed(requireDim(nc, *pastValue, 2, typeOf(*pastKey).getDimSize(2),
                          "past_value", "past_sequence_length")))
      return failure();
    pastLen = typeOf(*pastKey).getDimSize(2);
  }
  int64_t totalLen =
      ShapedType::isDynamic(kvLen) || ShapedType::isDynamic(pastLen)
          ? kDyn
          : kvLen + pastLen;
  if (*nonpad && (failed(requireRank(nc, *nonpad, 1, "nonpad_kv_seqlen")) ||
                  failed(requireDim(nc, *nonpad, 0, batch, "nonpad_kv_seqlen",
                                    "batch_size"))))
    return failure();

  // attn_mask: bool (true attends) or float (added), broadcast to
  // [B, q_num_heads, S, T]; a shorter last dimension is padded with false /
  // -inf (the spec's rule; ONNX Runtime rejects such masks).
  Value mask;
  bool boolMask = false;
  int64_t maskLen = kDyn;
  if (nc.hasInput(3)) {
    mask = nc.input(3);
    if (!mask)
      return nc.error() << "input 'attn_mask' has no value";
    auto mt = typeOf(mask);
    boolMask = mt.getElementType().isInteger(1);
    if (!boolMask && !isa<FloatType>(mt.getElementType()))
      return nc.error() << "attn_mask must be a bool or float tensor, got "
                        << mask.getType();
    if (mt.getRank() < 1 || mt.getRank() > 4)
      return nc.error() << "attn_mask must have rank 1 to 4, got "
                        << mask.getType();
    int64_t want[] = {batch, qHeads, seq, totalLen};
    for (int64_t d = 0; d + 1 < mt.getRank(); ++d) {
      int64_t size = mt.getDimSize(d);
      if (size != 1 && differ(size, want[4 - mt.getRank() + d]))
        return nc.error() << "attn_mask " << mask.getType()
                          << " is not broadcastable to [batch_size, "
                             "q_num_heads, q_seq_length, total_seq_length] = ["
                          << batch << ", " << qHeads << ", " << seq << ", "
                          << totalLen << "]";
    }
    maskLen = mt.getDimSize(mt.getRank() - 1);
    if (!ShapedType::isDynamic(maskLen) && !ShapedType::isDynamic(totalLen) &&
        maskLen > totalLen)
      return nc.error() << "attn_mask's last dimension (" << maskLen
                        << ") exceeds the total sequence length (" << totalLen
                        << ")";
  }
  // A static mask length shorter than (or not known to equal) the total
  // length reads with a bound check.
  bool padMask = mask && !ShapedType::isDynamic(maskLen) &&
                 (ShapedType::isDynamic(totalLen) || maskLen < totalLen);

  Emitter em = nc.emitter();
  FailureOr<Value> q4 = onnxHeads(em, *q, qHeads, headSize);
  FailureOr<Value> k4 = onnxHeads(em, *k, kvHeads, headSize);
  FailureOr<Value> v4 = onnxHeads(em, *v, kvHeads, vHeadSize);
  if (failed(q4) || failed(k4) || failed(v4))
    return failure();
  Value presentK = *k4, presentV = *v4;
  // An empty past contributes nothing.
  if (*pastKey && pastLen != 0) {
    presentK = em.concat({*pastKey, presentK}, 2);
    presentV = em.concat({*pastValue, presentV}, 2);
  }
  FailureOr<ComputeHeads> h = computeHeads(em, *q4, presentK, presentV);
  if (failed(h))
    return failure();
  FailureOr<Value> scores = rawScores(em, *h);
  if (failed(scores))
    return failure();

  MLIRContext *ctx = em.ctx();
  Type ct = scoreType(et);
  // The default scale as ONNX Runtime computes it.
  double scale = nc.attr("scale")
                     ? nc.attrFloat("scale", 1.0f)
                     : static_cast<float>(1.0 / std::sqrt(double(headSize)));
  SmallVector<ScoreOperand> extras;
  int maskIndex = -1, nonpadIndex = -1;
  if (mask && !padMask) {
    maskIndex = extras.size();
    extras.push_back({mask, broadcastMap(mask, ctx)});
  }
  if (*nonpad) {
    nonpadIndex = extras.size();
    extras.push_back(
        {*nonpad, AffineMap::get(4, 0, {getAffineDimExpr(0, ctx)}, ctx)});
  }
  // Loop-invariant values, defined outside the generics. The causal mask
  // lets query s see keys t <= offset + s, with offset the past length (the
  // keys' valid length minus S with nonpad_kv_seqlen); ONNX Runtime skips it
  // for one query after a nonempty past.
  Value seqSize = sizeValue(em, em.sizes(*q4)[2]);
  Value pastSize =
      *pastKey ? sizeValue(em, em.sizes(*pastKey)[2]) : em.indexConst(0);
  // Null when the causal mask certainly applies.
  Value causalOn;
  if (causal) {
    std::optional<int64_t> seqC = getConstantIntValue(em.sizes(*q4)[2]);
    std::optional<int64_t> pastC =
        *pastKey ? getConstantIntValue(em.sizes(*pastKey)[2]) : 0;
    if (seqC && pastC) {
      causal = !(*seqC == 1 && *pastC > 0);
    } else {
      Value one = em.indexConst(1), zero = em.indexConst(0);
      Value decode = arith::AndIOp::create(
          em.b, em.loc,
          cmp(em.b, em.loc, arith::CmpIPredicate::eq, seqSize, one),
          cmp(em.b, em.loc, arith::CmpIPredicate::sgt, pastSize, zero));
      causalOn = arith::XOrIOp::create(
          em.b, em.loc, decode,
          arith::ConstantOp::create(em.b, em.loc, em.b.getBoolAttr(true)));
    }
  }
  Value maskLenV = padMask ? em.indexConst(maskLen) : Value();
  int64_t maskRank = mask ? typeOf(mask).getRank() : 0;
  // Scores up to `stage`, in ONNX Runtime's order: 0 scaled, 1 softcapped,
  // 2 masked (attn_mask and causal mask added, keys past nonpad_kv_seqlen
  // set to the lowest float).
  auto scoreFn = [&](int stage) -> ScoreFn {
    return [&, stage](OpBuilder &b, Location l, Value score,
                      ValueRange ex) -> Value {
      Emitter s(b, l, nullptr);
      Value x = arith::MulFOp::create(b, l, score, s.scalarConst(ct, scale));
      if (stage >= 1 && softcap > 0.0f) {
        Value c = s.scalarConst(ct, softcap);
        x = arith::MulFOp::create(
            b, l, c,
            math::TanhOp::create(b, l, arith::DivFOp::create(b, l, x, c)));
      }
      if (stage < 2)
        return x;
      Value lowest = lowestOf(b, l, ct);
      Value t = indexOf(b, l, 3);
      if (mask || causal) {
        Value add = s.scalarConst(ct, 0.0);
        if (mask) {
          Value m, inRange;
          if (padMask) {
            SmallVector<Value> idx;
            auto mt = typeOf(mask);
            for (int64_t d = 0; d < maskRank; ++d)
              idx.push_back(mt.getDimSize(d) == 1
                                ? arith::ConstantIndexOp::create(b, l, 0)
                                : indexOf(b, l, 4 - maskRank + d));
            inRange = cmp(b, l, arith::CmpIPredicate::slt, t, maskLenV);
            idx.back() = clampIndex(b, l, t, maskLenV);
            m = tensor::ExtractOp::create(b, l, mask, idx);
          } else {
            m = ex[maskIndex];
          }
          if (boolMask) {
            if (inRange)
              m = arith::AndIOp::create(b, l, m, inRange);
            add = arith::SelectOp::create(b, l, m, add, lowest);
          } else {
            add = s.convertScalar(m, ct, false, false);
            if (inRange)
              add = arith::SelectOp::create(
                  b, l, inRange, add,
                  s.scalarConst(ct, -std::numeric_limits<double>::infinity()));
          }
        }
        if (causal) {
          Value si = indexOf(b, l, 2);
          Value offset = pastSize;
          if (nonpadIndex >= 0)
            offset = arith::SubIOp::create(b, l, toIndex(b, l, ex[nonpadIndex]),
                                           seqSize);
          Value limit = arith::AddIOp::create(b, l, offset, si);
          Value hidden = cmp(b, l, arith::CmpIPredicate::sgt, t, limit);
          if (causalOn)
            hidden = arith::AndIOp::create(b, l, causalOn, hidden);
          add = arith::SelectOp::create(b, l, hidden, lowest, add);
        }
        x = arith::AddFOp::create(b, l, x, add);
      }
      if (nonpadIndex >= 0) {
        Value valid = cmp(b, l, arith::CmpIPredicate::slt, t,
                          toIndex(b, l, ex[nonpadIndex]));
        x = arith::SelectOp::create(b, l, valid, x, lowest);
      }
      return x;
    };
  };
  Value masked = adjustScores(em, *scores, extras, scoreFn(2));
  FailureOr<Value> probs = softmaxZeroingHiddenRows(em, masked);
  if (failed(probs))
    return failure();
  FailureOr<Value> out = weightedValues(em, *probs, *h, et);
  if (failed(out))
    return failure();
  Value y = *out;
  if (rank == 3) {
    FailureOr<Value> merged = mergeHeads(em, y, qHeads, vHeadSize);
    if (failed(merged))
      return failure();
    y = *merged;
  }
  nc.setOutput(0, y, nc.inputOnnxType(0));
  if (nc.hasOutput(1))
    nc.setOutput(1, presentK, nc.inputOnnxType(1));
  if (nc.hasOutput(2))
    nc.setOutput(2, presentV, nc.inputOnnxType(2));
  if (qkMode >= 0) {
    Value qk = qkMode == 3   ? *probs
               : qkMode == 2 ? masked
                             : adjustScores(em, *scores, extras,
                                            scoreFn(static_cast<int>(qkMode)));
    FailureOr<Value> rounded = toFloatType(em, qk, et);
    if (failed(rounded))
      return failure();
    nc.setOutput(3, *rounded, nc.inputOnnxType(0));
  }
  return success();
}

//===----------------------------------------------------------------------===//
// ONNX RotaryEmbedding (default domain, opset 23)
//===----------------------------------------------------------------------===//

LogicalResult convertOnnxRotaryEmbedding(NodeContext &nc) {
  FailureOr<Value> x = nc.floatInput(0, "X");
  if (failed(x))
    return failure();
  FailureOr<Value> cosCache = nc.floatInput(1, "cos_cache");
  FailureOr<Value> sinCache = failed(cosCache) ? FailureOr<Value>(failure())
                                               : nc.floatInput(2, "sin_cache");
  if (failed(sinCache))
    return failure();
  FailureOr<Value> positions = intInput(nc, 3, "position_ids", 64, false);
  if (failed(positions))
    return failure();
  bool interleaved = nc.attrInt("interleaved", 0) != 0;
  int64_t numHeadsAttr = nc.attrInt("num_heads", 0);
  int64_t rotaryAttr = nc.attrInt("rotary_embedding_dim", 0);
  auto xt = typeOf(*x);
  int64_t numHeads, headSize;
  if (xt.getRank() == 4) {
    // [B, num_heads, S, head_size].
    FailureOr<int64_t> n = staticDim(nc, *x, 1, "X");
    FailureOr<int64_t> h =
        failed(n) ? FailureOr<int64_t>(failure()) : staticDim(nc, *x, 3, "X");
    if (failed(h))
      return failure();
    numHeads = *n, headSize = *h;
    if (numHeadsAttr > 0 && numHeadsAttr != numHeads)
      return nc.error() << "num_heads (" << numHeadsAttr
                        << ") does not match X's dimension 1 (" << numHeads
                        << ")";
  } else if (xt.getRank() == 3) {
    if (numHeadsAttr <= 0)
      return nc.error() << "attribute 'num_heads' is required for a 3-D X";
    FailureOr<int64_t> hidden = staticDim(nc, *x, 2, "X");
    if (failed(hidden))
      return failure();
    if (*hidden % numHeadsAttr != 0)
      return nc.error() << "hidden size (" << *hidden
                        << ") must be a multiple of num_heads (" << numHeadsAttr
                        << ")";
    numHeads = numHeadsAttr, headSize = *hidden / numHeadsAttr;
  } else {
    return nc.error() << "X must be 3-D [batch_size, sequence_length, "
                         "hidden_size] or 4-D [batch_size, num_heads, "
                         "sequence_length, head_size], got "
                      << x->getType();
  }
  int64_t rotaryDim = rotaryAttr > 0 ? rotaryAttr : headSize;
  if (rotaryDim > headSize || rotaryDim % 2 != 0)
    return nc.error() << "rotary_embedding_dim (" << rotaryDim
                      << ") must be even and at most the head size ("
                      << headSize << ")";
  int64_t bDim = 0, sDim = xt.getRank() == 4 ? 2 : 1;
  int64_t batch = xt.getDimSize(bDim), seq = xt.getDimSize(sDim);

  Emitter em = nc.emitter();
  Value cosC = *cosCache, sinC = *sinCache, pos = *positions;
  PositionFn position;
  if (pos) {
    // Caches [max_position, rotary_dim / 2] read at position_ids [B, S].
    if (failed(requireRank(nc, pos, 2, "position_ids")) ||
        failed(requireDim(nc, pos, 0, batch, "position_ids", "batch_size")) ||
        failed(requireDim(nc, pos, 1, seq, "position_ids", "sequence_length")))
      return failure();
    position = [pos](OpBuilder &b, Location l, Value bi, Value si) {
      return toIndex(b, l,
                     tensor::ExtractOp::create(b, l, pos, ValueRange{bi, si}));
    };
  } else {
    // Caches [B, S, rotary_dim / 2], one row per token: collapsed to
    // [B * S, rotary_dim / 2] and read at row b * S + s.
    for (auto [c, name] :
         {std::pair(cosC, "cos_cache"), std::pair(sinC, "sin_cache")}) {
      if (typeOf(c).getRank() != 3)
        return nc.error() << "without position_ids, input '" << name
                          << "' must be 3-D [batch_size, sequence_length, "
                             "rotary_embedding_dim / 2], got "
                          << c.getType();
      if (failed(requireDim(nc, c, 0, batch, name, "batch_size")) ||
          failed(requireDim(nc, c, 1, seq, name, "sequence_length")))
        return failure();
    }
    Value seqSize = sizeValue(em, em.sizes(*x)[sDim]);
    auto collapse = [&](Value c) -> FailureOr<Value> {
      auto t = typeOf(c);
      int64_t rows =
          t.hasStaticShape() ? t.getDimSize(0) * t.getDimSize(1) : kDyn;
      SmallVector<Value> dyn;
      if (ShapedType::isDynamic(rows)) {
        SmallVector<OpFoldResult> s = em.sizes(c);
        dyn = {arith::MulIOp::create(em.b, em.loc, sizeValue(em, s[0]),
                                     sizeValue(em, s[1])),
               sizeValue(em, s[2])};
      }
      return em.reshape(c, {rows, t.getDimSize(2)}, dyn);
    };
    FailureOr<Value> cc = collapse(cosC);
    FailureOr<Value> sc =
        failed(cc) ? FailureOr<Value>(failure()) : collapse(sinC);
    if (failed(sc))
      return failure();
    cosC = *cc, sinC = *sc;
    position = [seqSize](OpBuilder &b, Location l, Value bi, Value si) {
      Value row = arith::MulIOp::create(b, l, bi, seqSize);
      return arith::AddIOp::create(b, l, row, si).getResult();
    };
  }
  if (failed(checkRotaryCaches(nc, cosC, sinC, xt.getElementType(),
                               rotaryDim / 2)))
    return failure();

  FailureOr<Value> y = rotateHeads(em, *x, numHeads, headSize, bDim, sDim, cosC,
                                   sinC, rotaryDim, interleaved, position);
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(0));
  return success();
}

//===----------------------------------------------------------------------===//
// EmbedLayerNormalization
//===----------------------------------------------------------------------===//

LogicalResult convertEmbedLayerNormalization(NodeContext &nc) {
  FailureOr<Value> ids = intInput(nc, 0, "input_ids", 32);
  if (failed(ids) || failed(requireRank(nc, *ids, 2, "input_ids")))
    return failure();
  FailureOr<Value> segIds = intInput(nc, 1, "segment_ids", 32, false);
  FailureOr<Value> word = nc.floatInput(2, "word_embedding");
  FailureOr<Value> posEmb = nc.floatInput(3, "position_embedding");
  FailureOr<Value> segEmb = nc.floatInput(4, "segment_embedding", false);
  FailureOr<Value> gamma = nc.floatInput(5, "gamma");
  FailureOr<Value> beta = nc.floatInput(6, "beta");
  FailureOr<Value> mask = intInput(nc, 7, "mask", 32, false);
  FailureOr<Value> posIds = intInput(nc, 8, "position_ids", 32, false);
  if (failed(segIds) || failed(word) || failed(posEmb) || failed(segEmb) ||
      failed(gamma) || failed(beta) || failed(mask) || failed(posIds))
    return failure();
  if (!*segIds != !*segEmb)
    return nc.error() << "segment_ids and segment_embedding must be both "
                         "present or both absent";
  if (failed(requireRank(nc, *word, 2, "word_embedding")))
    return failure();
  FailureOr<int64_t> hidden = staticDim(nc, *word, 1, "word_embedding");
  if (failed(hidden))
    return failure();
  Type et = typeOf(*word).getElementType();
  auto idsT = typeOf(*ids);
  int64_t batch = idsT.getDimSize(0), seq = idsT.getDimSize(1);
  for (auto [v, name] : {std::pair(*posEmb, "position_embedding"),
                         std::pair(*segEmb, "segment_embedding")}) {
    if (!v)
      continue;
    if (failed(requireRank(nc, v, 2, name)) ||
        failed(requireDim(nc, v, 1, *hidden, name, "hidden_size")))
      return failure();
    if (typeOf(v).getElementType() != et)
      return nc.error() << "input '" << name
                        << "' must have the element type of word_embedding";
  }
  for (auto [v, name] :
       {std::pair(*gamma, "gamma"), std::pair(*beta, "beta")}) {
    if (failed(requireRank(nc, v, 1, name)) ||
        failed(requireDim(nc, v, 0, *hidden, name, "hidden_size")))
      return failure();
    if (typeOf(v).getElementType() != et)
      return nc.error() << "input '" << name
                        << "' must have the element type of word_embedding";
  }
  for (auto [v, name] :
       {std::pair(*segIds, "segment_ids"), std::pair(*mask, "mask")}) {
    if (!v)
      continue;
    if (failed(requireRank(nc, v, 2, name)) ||
        failed(requireDim(nc, v, 0, batch, name, "batch_size")) ||
        failed(requireDim(nc, v, 1, seq, name, "sequence_length")))
      return failure();
  }
  bool posBroadcast = false;
  if (*posIds) {
    if (failed(requireRank(nc, *posIds, 2, "position_ids")) ||
        failed(
            requireDim(nc, *posIds, 1, seq, "position_ids", "sequence_length")))
      return failure();
    int64_t pb = typeOf(*posIds).getDimSize(0);
    posBroadcast = pb == 1 && batch != 1;
    if (!posBroadcast && differ(pb, batch))
      return nc.error() << "position_ids must have shape [batch_size or 1, "
                           "sequence_length], got "
                        << posIds->getType();
  }
  double epsilon = nc.attrFloat("epsilon", 1e-12f);

  // sum[b, s, :] = word[ids[b, s]] + position[pos(b, s)] + segment[seg[b, s]]
  // with pos(b, s) = position_ids[b or 0, s] or s.
  Emitter em = nc.emitter();
  MLIRContext *ctx = em.ctx();
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  SmallVector<Value> inputs = {*ids};
  SmallVector<AffineMap> maps = {AffineMap::get(3, 0, {d(0), d(1)}, ctx)};
  int segIndex = -1, posIndex = -1;
  if (*segIds) {
    segIndex = inputs.size();
    inputs.push_back(*segIds);
    maps.push_back(AffineMap::get(3, 0, {d(0), d(1)}, ctx));
  }
  if (*posIds) {
    posIndex = inputs.size();
    inputs.push_back(*posIds);
    maps.push_back(AffineMap::get(
        3, 0, {posBroadcast ? getAffineConstantExpr(0, ctx) : d(0), d(1)},
        ctx));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(3, ctx));
  SmallVector<OpFoldResult> idsSizes = em.sizes(*ids);
  // Narrower floats are summed and normalized in f32, as in ONNX Runtime.
  Type ct = scoreType(et);
  auto sumType = RankedTensorType::get({batch, seq, *hidden}, ct);
  Value init = em.empty(sumType, em.dynamicSizes(idsSizes));
  Value wordRows = sizeValue(em, em.sizes(*word)[0]);
  Value posRows = sizeValue(em, em.sizes(*posEmb)[0]);
  Value segRows = *segEmb ? sizeValue(em, em.sizes(*segEmb)[0]) : Value();
  Value wordT = *word, posT = *posEmb, segT = *segEmb;
  SmallVector<utils::IteratorType> iterators(3, utils::IteratorType::parallel);
  Value sum = linalg::GenericOp::create(
                  em.b, em.loc, TypeRange{sumType}, inputs, ValueRange{init},
                  maps, iterators,
                  [&](OpBuilder &b, Location l, ValueRange args) {
                    Value h = indexOf(b, l, 2);
                    Emitter s(b, l, nullptr);
                    auto row = [&](Value table, Value id, Value rows) -> Value {
                      Value r = clampIndex(b, l, toIndex(b, l, id), rows);
                      Value e = tensor::ExtractOp::create(b, l, table,
                                                          ValueRange{r, h});
                      return s.convertScalar(e, ct, false, false);
                    };
                    Value r = row(wordT, args[0], wordRows);
                    Value p = posIndex >= 0 ? args[posIndex] : indexOf(b, l, 1);
                    r = arith::AddFOp::create(b, l, r, row(posT, p, posRows));
                    if (segIndex >= 0)
                      r = arith::AddFOp::create(
                          b, l, r, row(segT, args[segIndex], segRows));
                    linalg::YieldOp::create(b, l, r);
                  })
                  .getResult(0);
  FailureOr<Value> gammaC = toFloatType(em, *gamma, ct);
  FailureOr<Value> betaC = toFloatType(em, *beta, ct);
  if (failed(gammaC) || failed(betaC))
    return failure();
  FailureOr<Emitter::Normalized> norm =
      em.layerNorm(sum, *gammaC, *betaC, 2, epsilon, ct);
  if (failed(norm))
    return failure();
  FailureOr<Value> y = toFloatType(em, norm->y, et);
  if (failed(y))
    return failure();
  nc.setOutput(0, *y, nc.inputOnnxType(2));
  if (nc.hasOutput(1)) {
    // ONNX Runtime counts the mask entries equal to 1; zeros without a mask.
    Type i32 = em.b.getI32Type();
    Value maskIndex;
    if (*mask) {
      FailureOr<Value> ones =
          em.map({*mask}, i32, [](OpBuilder &b, Location l, ValueRange a) {
            Emitter s(b, l, nullptr);
            Value isOne = cmp(b, l, arith::CmpIPredicate::eq, a[0],
                              s.scalarConst(b.getI32Type(), 1));
            return arith::ExtUIOp::create(b, l, b.getI32Type(), isOne)
                .getResult();
          });
      if (failed(ones))
        return failure();
      FailureOr<Value> count =
          em.reduce(*ones, {1}, Emitter::ReduceKind::Sum, false);
      if (failed(count))
        return failure();
      maskIndex = *count;
    } else {
      auto type = RankedTensorType::get({batch}, i32);
      SmallVector<Value> dyn;
      if (ShapedType::isDynamic(batch))
        dyn.push_back(cast<Value>(idsSizes[0]));
      maskIndex = em.filled(type, dyn, em.scalarConst(i32, 0));
    }
    nc.setOutput(1, maskIndex, onnx::TensorProto::INT32);
  }
  if (nc.hasOutput(2)) {
    FailureOr<Value> rounded = toFloatType(em, sum, et);
    if (failed(rounded))
      return failure();
    nc.setOutput(2, *rounded, nc.inputOnnxType(2));
  }
  return success();
}

} // namespace

void parsimony::onnximport::registerContribAttentionConverters(
    llvm::StringMap<ConverterFn> &map) {
  map["com.microsoft::Attention"] = convertAttention;
  map["com.microsoft::MultiHeadAttention"] = convertMultiHeadAttention;
  map["com.microsoft::GroupQueryAttention"] = convertGroupQueryAttention;
  map["com.microsoft::RotaryEmbedding"] = convertRotaryEmbedding;
  map["com.microsoft::EmbedLayerNormalization"] =
      convertEmbedLayerNormalization;
  map["::Attention"] = convertOnnxAttention;
  map["::RotaryEmbedding"] = convertOnnxRotaryEmbedding;
}
