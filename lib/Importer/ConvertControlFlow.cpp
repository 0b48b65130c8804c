//===- ConvertControlFlow.cpp - If, Loop, Scan ----------------------------===//
//
// If with a condition known at import time (a constant, or folded from
// static shapes, as exporters often leave it) imports the taken branch
// inline. A runtime condition becomes an scf.if whose regions hold the two
// branches; outputs whose static sizes differ between the branches get a
// dynamic size (tensor.cast in the branch).
//
// Loop and Scan bodies become the body of an scf.for (a Loop whose
// condition stays true: a trip count) or an scf.while (a Loop whose body
// computes its condition). Loop-carried values are copied into the
// loop-carried tensor at the end of each iteration and scan outputs are
// inserted into a tensor created before the loop (destination passing):
// both bufferize in place, one buffer for the whole loop.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace parsimony::onnximport;

namespace {

const onnx::GraphProto *subgraph(NodeContext &nc, StringRef name) {
  const onnx::AttributeProto *a = nc.attr(name);
  return a && a->has_g() ? &a->g() : nullptr;
}

/// The type both branches' output `i` fit: the same element type and rank,
/// sizes kept where they agree.
FailureOr<RankedTensorType> joinTypes(NodeContext &nc, unsigned i, Type a,
                                      Type b) {
  auto ta = dyn_cast<RankedTensorType>(a), tb = dyn_cast<RankedTensorType>(b);
  if (!ta || !tb || ta.getElementType() != tb.getElementType() ||
      ta.getRank() != tb.getRank())
    return nc.error() << "output " << i << " is " << a << " in then_branch but "
                      << b
                      << " in else_branch (the element type and rank must "
                         "agree)";
  SmallVector<int64_t> shape;
  for (auto [da, db] : llvm::zip(ta.getShape(), tb.getShape()))
    shape.push_back(da == db ? da : ShapedType::kDynamic);
  return ta.clone(shape);
}

LogicalResult convertIf(NodeContext &nc) {
  GraphImporter &importer = nc.importer;
  const onnx::GraphProto *thenGraph = subgraph(nc, "then_branch");
  const onnx::GraphProto *elseGraph = subgraph(nc, "else_branch");
  if (!thenGraph || !elseGraph)
    return nc.error() << "expects then_branch and else_branch subgraphs";
  for (const onnx::GraphProto *g : {thenGraph, elseGraph})
    if (g->output_size() != static_cast<int>(nc.numOutputs()))
      return nc.error() << "the node has " << nc.numOutputs()
                        << " outputs but subgraph '" << g->name() << "' has "
                        << g->output_size();
  if (!nc.hasInput(0))
    return nc.error() << "input cond is missing";

  // A known condition: the taken branch, inline.
  if (const ConstTensor *cond = nc.constInput(0)) {
    if (cond->numElements() != 1)
      return nc.error() << "cond must hold one element";
    SmallVector<Value> outputs;
    SmallVector<int32_t> onnxTypes;
    if (failed(
            importer.convertSubgraph(cond->getInt(0) ? *thenGraph : *elseGraph,
                                     nullptr, nc.loc, {}, outputs, onnxTypes)))
      return failure();
    for (auto [i, v] : llvm::enumerate(outputs))
      nc.setOutput(i, v, onnxTypes[i]);
    return success();
  }

  Value condTensor = nc.input(0);
  RankedTensorType condType = nc.inputType(0);
  if (!condType.getElementType().isInteger(1) || !condType.hasStaticShape() ||
      condType.getNumElements() != 1)
    return nc.error() << "cond must be a one-element bool tensor, got "
                      << condType;
  Emitter em = nc.emitter();
  OpBuilder &b = em.b;
  SmallVector<Value> zeros(condType.getRank(), em.indexConst(0));
  Value cond = tensor::ExtractOp::create(b, nc.loc, condTensor, zeros);

  // Convert each branch into a result-less scf.if first (the result types
  // are known only afterwards), then move the regions into the final one.
  auto draft = scf::IfOp::create(b, nc.loc, TypeRange{}, cond,
                                 /*withElseRegion=*/true);
  SmallVector<Value> branchOutputs[2];
  SmallVector<int32_t> onnxTypes[2];
  for (int i = 0; i < 2; ++i) {
    Block *block = i == 0 ? draft.thenBlock() : draft.elseBlock();
    block->getTerminator()->erase();
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(block);
    if (failed(importer.convertSubgraph(i == 0 ? *thenGraph : *elseGraph, draft,
                                        nc.loc, {}, branchOutputs[i],
                                        onnxTypes[i]))) {
      draft.erase();
      return failure();
    }
  }
  SmallVector<Type> resultTypes;
  for (unsigned i = 0; i < nc.numOutputs(); ++i) {
    FailureOr<RankedTensorType> joined = joinTypes(
        nc, i, branchOutputs[0][i].getType(), branchOutputs[1][i].getType());
    if (failed(joined)) {
      draft.erase();
      return failure();
    }
    resultTypes.push_back(*joined);
  }
  // Outputs of one static type are written into a tensor created before
  // the scf.if (destination passing): both branches then bufferize into the
  // same buffer, and the result needs no ownership tracked at run time.
  SmallVector<Value> destinations;
  for (Type type : resultTypes) {
    auto tensorType = cast<RankedTensorType>(type);
    Value dest;
    if (tensorType.hasStaticShape()) {
      dest = em.empty(tensorType, {});
      dest.getDefiningOp()->moveBefore(draft);
    }
    destinations.push_back(dest);
  }
  for (int i = 0; i < 2; ++i) {
    Block *block = i == 0 ? draft.thenBlock() : draft.elseBlock();
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(block);
    SmallVector<Value> yielded;
    for (auto [v, type, dest] :
         llvm::zip(branchOutputs[i], resultTypes, destinations)) {
      if (dest)
        yielded.push_back(
            linalg::CopyOp::create(b, nc.loc, v, dest).getResult(0));
      else
        yielded.push_back(v.getType() == type
                              ? v
                              : tensor::CastOp::create(b, nc.loc, type, v));
    }
    scf::YieldOp::create(b, nc.loc, yielded);
  }
  auto ifOp = scf::IfOp::create(b, nc.loc, resultTypes, cond,
                                /*withElseRegion=*/true);
  for (Region *r : {&ifOp.getThenRegion(), &ifOp.getElseRegion()})
    r->getBlocks().clear();
  ifOp.getThenRegion().takeBody(draft.getThenRegion());
  ifOp.getElseRegion().takeBody(draft.getElseRegion());
  draft.erase();
  for (unsigned i = 0; i < nc.numOutputs(); ++i)
    nc.setOutput(i, ifOp.getResult(i), onnxTypes[0][i]);
  return success();
}

//===----------------------------------------------------------------------===//
// Loop and Scan
//===----------------------------------------------------------------------===//

ValueEntry boundValue(Value v, int32_t onnxType) {
  ValueEntry e;
  e.value = v;
  e.onnxType = onnxType;
  return e;
}

/// Loop's condition input inside an iteration, which only runs while the
/// condition holds.
ValueEntry knownTrue() {
  ValueEntry e;
  e.onnxType = onnx::TensorProto::BOOL;
  ConstTensor c;
  c.onnxType = onnx::TensorProto::BOOL;
  c.ints = {1};
  e.constant = std::move(c);
  return e;
}

/// Loop's iteration number: an int64 scalar known as the induction
/// variable, so that slices and shapes computed from it stay index
/// arithmetic.
ValueEntry iterationNumber(Value iv) {
  ValueEntry e;
  e.onnxType = onnx::TensorProto::INT64;
  e.symbolic = SmallVector<OpFoldResult>{iv};
  e.symbolicIsScalar = true;
  return e;
}

bool isConstantTrue(Value v) {
  DenseElementsAttr attr;
  return matchPattern(v, m_Constant(&attr)) &&
         attr.getElementType().isInteger(1) && attr.isSplat() &&
         attr.getSplatValue<bool>();
}

/// The one element of a one-element tensor `v`.
Value onlyElement(Emitter &em, Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<Value> zeros(type.getRank(), em.indexConst(0));
  return tensor::ExtractOp::create(em.b, em.loc, v, zeros);
}

/// Step `iv` of `count` counted from the end: count - 1 - iv.
Value stepFromEnd(OpBuilder &b, Location loc, Value count, Value iv) {
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  return arith::SubIOp::create(b, loc,
                               arith::SubIOp::create(b, loc, count, one), iv);
}

/// The block argument of `block` that `v` is, or is a view of.
BlockArgument viewedArgument(Value v, Block *block) {
  while (Operation *def = v.getDefiningOp()) {
    if (!isa<tensor::CastOp, tensor::ExtractSliceOp, tensor::ExpandShapeOp,
             tensor::CollapseShapeOp, tensor::ReshapeOp>(def))
      return nullptr;
    v = def->getOperand(0);
  }
  auto arg = dyn_cast<BlockArgument>(v);
  return arg && arg.getOwner() == block ? arg : nullptr;
}

/// Writes an iteration's new loop-carried values `next` into the carried
/// tensors `carried` (block arguments of `block`), so that each yielded
/// value is its own loop-carried buffer. A new value that is a view of
/// another carried value (a swap) is copied out first, before any carried
/// tensor is overwritten.
FailureOr<SmallVector<Value>> writeCarried(NodeContext &nc, Emitter &em,
                                           Block *block, ValueRange next,
                                           ValueRange carried) {
  SmallVector<Value> values;
  for (auto [i, v, dest] : llvm::enumerate(next, carried)) {
    Type type = dest.getType();
    if (v.getType() != type) {
      if (!tensor::CastOp::areCastCompatible(v.getType(), type))
        return nc.error() << "loop-carried value " << i << " is " << type
                          << " before the loop but " << v.getType()
                          << " after an iteration (values whose element "
                             "type or shape changes between iterations are "
                             "not supported)";
      v = tensor::CastOp::create(em.b, em.loc, type, v);
    }
    BlockArgument viewed = viewedArgument(v, block);
    if (viewed && viewed != dest) {
      auto tensorType = cast<RankedTensorType>(type);
      Value fresh = em.empty(tensorType, em.dynamicSizes(em.sizes(v)));
      v = linalg::CopyOp::create(em.b, em.loc, v, fresh).getResult(0);
    }
    values.push_back(v);
  }
  for (auto [i, dest] : llvm::enumerate(carried))
    if (values[i] != dest)
      values[i] =
          linalg::CopyOp::create(em.b, em.loc, values[i], dest).getResult(0);
  return values;
}

/// Where the scan outputs of a counted loop go: the axis of the stacked
/// output (in [-(r+1), r] for a slice of rank r) and the direction.
struct ScanOutputSpec {
  int64_t axis = 0;
  bool reverse = false;
};

struct LoopResults {
  SmallVector<Value> values;
  SmallVector<int32_t> onnxTypes;
};

/// Inputs of a loop body for one iteration: from the induction variable
/// and the loop-carried tensors (block arguments).
using BindBodyInputs = function_ref<std::vector<ValueEntry>(
    Emitter &, Value iv, ValueRange carried)>;

/// A loop over steps [0, trip) running `body` (converted once, as the
/// scf.for's body). The body's outputs are `numLeading` values the caller
/// inspects (`acceptLeading`), then the new loop-carried values (as many as
/// `carried`), then one slice per scan output; returns the final carried
/// values and the stacked scan outputs, or no value when `acceptLeading`
/// rejects the body (the draft loop is erased then).
FailureOr<std::optional<LoopResults>>
emitCountedLoop(NodeContext &nc, Emitter &em, const onnx::GraphProto &body,
                OpFoldResult trip, ValueRange carried,
                ArrayRef<int32_t> carriedTypes, unsigned numLeading,
                ArrayRef<ScanOutputSpec> scans, BindBodyInputs bindInputs,
                function_ref<bool(ValueRange)> acceptLeading) {
  OpBuilder &b = em.b;
  Location loc = em.loc;
  Value lb = em.indexConst(0), step = em.indexConst(1);
  Value ub = getValueOrCreateConstantIndexOp(b, loc, trip);
  // The scan outputs' types are known once the body is converted: convert
  // it in a draft loop, then move it into the final one.
  auto draft = scf::ForOp::create(b, loc, lb, ub, step, carried);
  Block *block = draft.getBody();
  if (!block->empty() && block->back().hasTrait<OpTrait::IsTerminator>())
    block->back().erase();
  auto abandon = [&] { draft.erase(); };
  SmallVector<Value> outs;
  SmallVector<int32_t> outTypes;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(block);
  Emitter be(b, loc, em.err);
  std::vector<ValueEntry> inputs =
      bindInputs(be, draft.getInductionVar(), draft.getRegionIterArgs());
  if (failed(nc.importer.convertSubgraph(body, draft, loc, inputs, outs,
                                         outTypes))) {
    abandon();
    return failure();
  }
  size_t numCarried = carried.size();
  if (outs.size() != numLeading + numCarried + scans.size()) {
    abandon();
    return nc.error() << "the body has " << outs.size() << " outputs, "
                      << numLeading + numCarried + scans.size() << " expected";
  }
  ValueRange outValues(outs);
  if (!acceptLeading(outValues.take_front(numLeading))) {
    abandon();
    return std::optional<LoopResults>();
  }
  LoopResults results;
  results.onnxTypes.assign(carriedTypes.begin(), carriedTypes.end());

  // The scan outputs' tensors, created before the loop.
  SmallVector<Value> accInits;
  SmallVector<int64_t> accAxes;
  std::optional<int64_t> staticTrip = getConstantIntValue(trip);
  for (auto [k, scan] : llvm::enumerate(scans)) {
    Value slice = outs[numLeading + numCarried + k];
    auto sliceType = cast<RankedTensorType>(slice.getType());
    if (!sliceType.hasStaticShape()) {
      abandon();
      return nc.error() << "scan output " << k << " is " << sliceType
                        << ", whose sizes are not known before the loop (not "
                           "supported)";
    }
    FailureOr<int64_t> axis =
        normalizeAxis(scan.axis, sliceType.getRank() + 1, em.err);
    if (failed(axis)) {
      abandon();
      return failure();
    }
    SmallVector<int64_t> shape(sliceType.getShape());
    shape.insert(shape.begin() + *axis,
                 staticTrip ? *staticTrip : ShapedType::kDynamic);
    OpBuilder::InsertionGuard before(b);
    b.setInsertionPoint(draft);
    accInits.push_back(em.empty(sliceType.clone(shape),
                                staticTrip ? ValueRange() : ValueRange(ub)));
    accAxes.push_back(*axis);
    results.onnxTypes.push_back(outTypes[numLeading + numCarried + k]);
  }

  // The iteration's end: scan slices into their tensors, then (after
  // everything that reads them) the carried values into theirs.
  Value iv = draft.getInductionVar();
  SmallVector<Value> accs;
  for (auto [k, scan] : llvm::enumerate(scans)) {
    Value slice = outs[numLeading + numCarried + k];
    auto accType = cast<RankedTensorType>(accInits[k].getType());
    BlockArgument acc = block->addArgument(accType, loc);
    Value position = scan.reverse ? stepFromEnd(b, loc, ub, iv) : iv;
    SmallVector<OpFoldResult> offsets(accType.getRank(), b.getIndexAttr(0));
    offsets[accAxes[k]] = position;
    SmallVector<OpFoldResult> sizes;
    for (int64_t d : accType.getShape())
      sizes.push_back(b.getIndexAttr(d));
    sizes[accAxes[k]] = b.getIndexAttr(1);
    SmallVector<OpFoldResult> strides(accType.getRank(), b.getIndexAttr(1));
    accs.push_back(tensor::InsertSliceOp::create(b, loc, slice, acc, offsets,
                                                 sizes, strides));
  }
  FailureOr<SmallVector<Value>> yields =
      writeCarried(nc, be, block, outValues.slice(numLeading, numCarried),
                   block->getArguments().slice(1, numCarried));
  if (failed(yields)) {
    abandon();
    return failure();
  }
  llvm::append_range(*yields, accs);
  scf::YieldOp::create(b, loc, *yields);

  b.setInsertionPoint(draft);
  SmallVector<Value> inits(carried);
  llvm::append_range(inits, accInits);
  auto loop = scf::ForOp::create(b, loc, lb, ub, step, inits);
  loop.getRegion().getBlocks().clear();
  loop.getRegion().takeBody(draft.getRegion());
  draft.erase();
  llvm::append_range(results.values, loop.getResults());
  return std::optional<LoopResults>(std::move(results));
}

/// A Loop whose body computes its condition: an scf.while over (carried
/// values, iteration number, condition) that runs while the condition holds
/// and, with a trip count, the iteration number is below it.
FailureOr<LoopResults> emitConditionalLoop(NodeContext &nc, Emitter &em,
                                           const onnx::GraphProto &body,
                                           Value trip, Value condInit,
                                           ValueRange carried,
                                           ArrayRef<int32_t> carriedTypes) {
  OpBuilder &b = em.b;
  Location loc = em.loc;
  // The loop carries (values..., iteration number, condition) and the
  // condition forwards every argument: bufferization wants each tensor
  // equivalent to the argument of the same position, and the scalars last
  // keep the tensors' positions when canonicalization drops the ones
  // nothing uses.
  SmallVector<Value> inits(carried);
  inits.push_back(em.indexConst(0));
  inits.push_back(condInit);
  SmallVector<Type> types(carried.getTypes());
  types.push_back(b.getIndexType());
  types.push_back(b.getI1Type());
  size_t numCarried = carried.size();
  auto loop = scf::WhileOp::create(
      b, loc, types, inits,
      [&](OpBuilder &wb, Location l, ValueRange args) {
        Value run = args[numCarried + 1];
        if (trip)
          run = arith::AndIOp::create(
              wb, l, run,
              arith::CmpIOp::create(wb, l, arith::CmpIPredicate::slt,
                                    args[numCarried], trip));
        scf::ConditionOp::create(wb, l, run, args);
      },
      /*afterBuilder=*/nullptr);
  // The body, once the loop exists (the scope of its values).
  auto fail = [&]() -> LogicalResult {
    loop.erase();
    return failure();
  };
  Block *block = loop.getAfterBody();
  ValueRange args = block->getArguments();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(block);
  Emitter be(b, loc, em.err);
  ValueRange values = args.take_front(numCarried);
  Value iteration = args[numCarried];
  std::vector<ValueEntry> inputs = {iterationNumber(iteration), knownTrue()};
  for (auto [v, type] : llvm::zip(values, carriedTypes))
    inputs.push_back(boundValue(v, type));
  SmallVector<Value> outs;
  SmallVector<int32_t> outTypes;
  if (failed(
          nc.importer.convertSubgraph(body, loop, loc, inputs, outs, outTypes)))
    return fail();
  if (outs.size() != carried.size() + 1) {
    nc.error() << "the body has " << outs.size() << " outputs, "
               << carried.size() + 1
               << " expected (scan outputs of a Loop that stops on a "
                  "condition its body computes have a data-dependent length "
                  "and are not supported)";
    return fail();
  }
  if (!trip && isConstantTrue(outs[0])) {
    nc.error() << "the loop never ends: it has no trip count and its body's "
                  "condition is always true";
    return fail();
  }
  auto condType = cast<RankedTensorType>(outs[0].getType());
  if (!condType.getElementType().isInteger(1) || !condType.hasStaticShape() ||
      condType.getNumElements() != 1) {
    nc.error() << "the body's condition output must be a one-element bool "
                  "tensor, got "
               << condType;
    return fail();
  }
  FailureOr<SmallVector<Value>> yields =
      writeCarried(nc, be, block, ValueRange(outs).drop_front(), values);
  if (failed(yields))
    return fail();
  yields->push_back(arith::AddIOp::create(b, loc, iteration, be.indexConst(1)));
  yields->push_back(onlyElement(be, outs[0]));
  scf::YieldOp::create(b, loc, *yields);

  LoopResults results;
  llvm::append_range(results.values, loop.getResults().take_front(numCarried));
  results.onnxTypes.assign(carriedTypes.begin(), carriedTypes.end());
  return results;
}

void setLoopOutputs(NodeContext &nc, const LoopResults &results) {
  for (unsigned i = 0; i < nc.numOutputs() && i < results.values.size(); ++i)
    nc.setOutput(i, results.values[i], results.onnxTypes[i]);
}

LogicalResult convertLoop(NodeContext &nc) {
  const onnx::GraphProto *body = subgraph(nc, "body");
  if (!body)
    return nc.error() << "expects a body subgraph";
  if (nc.numInputs() < 2)
    return nc.error() << "expects inputs M and cond (either may be empty)";
  unsigned numCarried = nc.numInputs() - 2;
  if (body->input_size() != static_cast<int>(numCarried) + 2)
    return nc.error() << "the body has " << body->input_size()
                      << " inputs; with " << numCarried
                      << " loop-carried values it takes " << numCarried + 2
                      << " (iteration number, condition, values)";
  if (body->output_size() < static_cast<int>(numCarried) + 1)
    return nc.error() << "the body has " << body->output_size()
                      << " outputs; with " << numCarried
                      << " loop-carried values it has at least "
                      << numCarried + 1;
  unsigned numScans = body->output_size() - 1 - numCarried;
  if (nc.numOutputs() > numCarried + numScans)
    return nc.error() << "the node has " << nc.numOutputs()
                      << " outputs, its body gives " << numCarried + numScans;
  SmallVector<Value> carried;
  SmallVector<int32_t> carriedTypes;
  for (unsigned i = 0; i < numCarried; ++i) {
    if (!nc.hasInput(2 + i))
      return nc.error() << "loop-carried input " << i
                        << " is missing (optional values are not supported)";
    carried.push_back(nc.input(2 + i));
    carriedTypes.push_back(nc.inputOnnxType(2 + i));
  }
  Emitter em = nc.emitter();
  OpBuilder &b = em.b;

  // The trip count, at least 0.
  std::optional<OpFoldResult> trip;
  if (nc.hasInput(0)) {
    std::optional<SmallVector<OpFoldResult>> m = nc.shapeInput(0);
    if (!m || m->size() != 1)
      return nc.error() << "M must be a one-element int64 tensor";
    trip = (*m)[0];
    if (std::optional<int64_t> c = getConstantIntValue(*trip))
      trip = b.getIndexAttr(std::max<int64_t>(*c, 0));
    else
      trip = arith::MaxSIOp::create(b, nc.loc, cast<Value>(*trip),
                                    em.indexConst(0))
                 .getResult();
  }
  // The initial condition: null when it is known to be true.
  Value condInit;
  if (nc.hasInput(1)) {
    if (const ConstTensor *c = nc.constInput(1)) {
      if (c->numElements() != 1)
        return nc.error() << "cond must hold one element";
      if (!c->getInt(0))
        trip = b.getIndexAttr(0); // no iteration
    } else {
      RankedTensorType type = nc.inputType(1);
      if (!type.getElementType().isInteger(1) || !type.hasStaticShape() ||
          type.getNumElements() != 1)
        return nc.error() << "cond must be a one-element bool tensor, got "
                          << type;
      condInit = onlyElement(em, nc.input(1));
    }
  }

  // A body whose condition stays true runs `trip` times (none when the
  // initial condition is false).
  if (trip) {
    OpFoldResult count = *trip;
    if (condInit)
      count = arith::SelectOp::create(
                  b, nc.loc, condInit,
                  getValueOrCreateConstantIndexOp(b, nc.loc, count),
                  em.indexConst(0))
                  .getResult();
    SmallVector<ScanOutputSpec> scans(numScans);
    auto bind = [&](Emitter &, Value iv, ValueRange args) {
      std::vector<ValueEntry> inputs = {iterationNumber(iv), knownTrue()};
      for (auto [v, type] : llvm::zip(args, carriedTypes))
        inputs.push_back(boundValue(v, type));
      return inputs;
    };
    FailureOr<std::optional<LoopResults>> counted = emitCountedLoop(
        nc, em, *body, count, carried, carriedTypes, /*numLeading=*/1, scans,
        bind, [](ValueRange leading) { return isConstantTrue(leading[0]); });
    if (failed(counted))
      return failure();
    if (*counted) {
      setLoopOutputs(nc, **counted);
      return success();
    }
  }
  if (numScans > 0)
    return nc.error() << "scan outputs of a Loop that stops on a condition "
                         "its body computes have a data-dependent length (not "
                         "supported)";
  Value tripValue =
      trip ? getValueOrCreateConstantIndexOp(b, nc.loc, *trip) : Value();
  if (!condInit)
    condInit = em.scalarConst(b.getI1Type(), 1);
  FailureOr<LoopResults> results = emitConditionalLoop(
      nc, em, *body, tripValue, condInit, carried, carriedTypes);
  if (failed(results))
    return failure();
  setLoopOutputs(nc, *results);
  return success();
}

/// Scan from opset 9 over `states` and `scanInputs` (slices along
/// `inAxes`, reversed where `inDirections` is not 0), stacking the body's
/// scan outputs as `outputs` say.
FailureOr<LoopResults>
emitScan(NodeContext &nc, Emitter &em, const onnx::GraphProto &body,
         ValueRange states, ArrayRef<int32_t> stateTypes, ValueRange scanInputs,
         ArrayRef<int32_t> scanTypes, ArrayRef<int64_t> inAxes,
         ArrayRef<int64_t> inDirections, ArrayRef<ScanOutputSpec> outputs) {
  // The number of steps: the scan inputs' (equal) length along their axes.
  OpFoldResult trip;
  SmallVector<int64_t> axes;
  for (auto [j, v] : llvm::enumerate(scanInputs)) {
    auto type = cast<RankedTensorType>(v.getType());
    FailureOr<int64_t> axis = normalizeAxis(inAxes[j], type.getRank(), em.err);
    if (failed(axis))
      return failure();
    axes.push_back(*axis);
    OpFoldResult length = em.sizes(v)[*axis];
    if (j == 0) {
      trip = length;
      continue;
    }
    std::optional<int64_t> a = getConstantIntValue(trip),
                           c = getConstantIntValue(length);
    if (a && c && *a != *c)
      return nc.error() << "scan input " << j << " has " << *c
                        << " steps along axis " << *axis
                        << ", scan input 0 has " << *a;
  }
  auto bind = [&](Emitter &be, Value iv, ValueRange args) {
    std::vector<ValueEntry> inputs;
    for (auto [v, type] : llvm::zip(args, stateTypes))
      inputs.push_back(boundValue(v, type));
    Value steps = getValueOrCreateConstantIndexOp(be.b, be.loc, trip);
    for (auto [j, v] : llvm::enumerate(scanInputs)) {
      Value position =
          inDirections[j] ? stepFromEnd(be.b, be.loc, steps, iv) : iv;
      inputs.push_back(
          boundValue(be.entryAlong(v, axes[j], position), scanTypes[j]));
    }
    return inputs;
  };
  FailureOr<std::optional<LoopResults>> results =
      emitCountedLoop(nc, em, body, trip, states, stateTypes, /*numLeading=*/0,
                      outputs, bind, [](ValueRange) { return true; });
  if (failed(results))
    return failure();
  return std::move(**results);
}

/// An integer-list attribute of `count` entries, `def` when absent.
FailureOr<SmallVector<int64_t>> listAttr(NodeContext &nc, StringRef name,
                                         size_t count, int64_t def) {
  std::optional<SmallVector<int64_t>> list = nc.attrInts(name);
  if (!list)
    return SmallVector<int64_t>(count, def);
  if (list->size() != count)
    return nc.error() << "attribute '" << name << "' has " << list->size()
                      << " entries, expected " << count;
  return *list;
}

LogicalResult convertScan(NodeContext &nc) {
  const onnx::GraphProto *body = subgraph(nc, "body");
  if (!body)
    return nc.error() << "expects a body subgraph";
  int64_t numScanInputs = nc.attrInt("num_scan_inputs", -1);
  // Scan-8 has a leading sequence_lens input and a batch axis.
  bool batched = nc.opset < 9;
  unsigned first = batched ? 1 : 0;
  if (numScanInputs < 1 ||
      numScanInputs > static_cast<int64_t>(nc.numInputs()) - first)
    return nc.error() << "num_scan_inputs must be between 1 and the number "
                         "of inputs";
  unsigned numStates = nc.numInputs() - first - numScanInputs;
  if (body->input_size() != static_cast<int>(numStates + numScanInputs))
    return nc.error() << "the body has " << body->input_size()
                      << " inputs, expected " << numStates + numScanInputs
                      << " (states, then one slice per scan input)";
  if (body->output_size() < static_cast<int>(numStates))
    return nc.error() << "the body has " << body->output_size()
                      << " outputs, fewer than the " << numStates << " states";
  unsigned numScanOutputs = body->output_size() - numStates;
  if (nc.numOutputs() > numStates + numScanOutputs)
    return nc.error() << "the node has " << nc.numOutputs()
                      << " outputs, its body gives "
                      << numStates + numScanOutputs;
  SmallVector<Value> states, scanInputs;
  SmallVector<int32_t> stateTypes, scanTypes;
  for (unsigned i = first; i < nc.numInputs(); ++i) {
    if (!nc.hasInput(i))
      return nc.error() << "input " << i << " is missing";
    bool isState = i < first + numStates;
    (isState ? states : scanInputs).push_back(nc.input(i));
    (isState ? stateTypes : scanTypes).push_back(nc.inputOnnxType(i));
  }
  Emitter em = nc.emitter();

  if (!batched) {
    FailureOr<SmallVector<int64_t>> inAxes =
        listAttr(nc, "scan_input_axes", numScanInputs, 0);
    FailureOr<SmallVector<int64_t>> inDirections =
        listAttr(nc, "scan_input_directions", numScanInputs, 0);
    FailureOr<SmallVector<int64_t>> outAxes =
        listAttr(nc, "scan_output_axes", numScanOutputs, 0);
    FailureOr<SmallVector<int64_t>> outDirections =
        listAttr(nc, "scan_output_directions", numScanOutputs, 0);
    if (failed(inAxes) || failed(inDirections) || failed(outAxes) ||
        failed(outDirections))
      return failure();
    SmallVector<ScanOutputSpec> outputs;
    for (auto [axis, direction] : llvm::zip(*outAxes, *outDirections))
      outputs.push_back({axis, direction != 0});
    FailureOr<LoopResults> results =
        emitScan(nc, em, *body, states, stateTypes, scanInputs, scanTypes,
                 *inAxes, *inDirections, outputs);
    if (failed(results))
      return failure();
    setLoopOutputs(nc, *results);
    return success();
  }

  // Scan-8: every input has a batch axis 0 and scans along axis 1; each
  // batch entry is its own scan.
  FailureOr<SmallVector<int64_t>> directions =
      listAttr(nc, "directions", numScanInputs, 0);
  if (failed(directions))
    return failure();
  int64_t batch = ShapedType::kDynamic;
  for (Value v : llvm::concat<Value>(states, scanInputs)) {
    auto type = cast<RankedTensorType>(v.getType());
    if (type.getRank() < 1 || type.isDynamicDim(0))
      return nc.error() << "Scan-8 inputs need a static batch axis, got "
                        << type;
    if (batch != ShapedType::kDynamic && type.getDimSize(0) != batch)
      return nc.error() << "Scan-8 inputs disagree on the batch size (" << batch
                        << " and " << type.getDimSize(0) << ")";
    batch = type.getDimSize(0);
  }
  if (nc.hasInput(0)) {
    const ConstTensor *lens = nc.constInput(0);
    auto scanType = cast<RankedTensorType>(scanInputs[0].getType());
    bool full = lens && scanType.getRank() > 1 && !scanType.isDynamicDim(1) &&
                lens->numElements() == batch &&
                llvm::all_of(lens->ints, [&](int64_t n) {
                  return n == scanType.getDimSize(1);
                });
    if (!full)
      return nc.error() << "sequence_lens shorter than the scan inputs are "
                           "not supported (only a constant full length)";
  }
  SmallVector<SmallVector<Value>> perOutput(numStates + numScanOutputs);
  SmallVector<int32_t> onnxTypes;
  for (int64_t n = 0; n < batch; ++n) {
    auto entry = [&](Value v) {
      return em.entryAlong(v, 0, em.b.getIndexAttr(n));
    };
    SmallVector<Value> entryStates, entryInputs;
    for (Value v : states)
      entryStates.push_back(entry(v));
    for (Value v : scanInputs)
      entryInputs.push_back(entry(v));
    FailureOr<LoopResults> results =
        emitScan(nc, em, *body, entryStates, stateTypes, entryInputs, scanTypes,
                 SmallVector<int64_t>(numScanInputs, 0), *directions,
                 SmallVector<ScanOutputSpec>(numScanOutputs));
    if (failed(results))
      return failure();
    onnxTypes = results->onnxTypes;
    for (auto [i, v] : llvm::enumerate(results->values)) {
      FailureOr<Value> row = em.unsqueeze(v, {0});
      if (failed(row))
        return failure();
      perOutput[i].push_back(*row);
    }
  }
  for (unsigned i = 0; i < nc.numOutputs(); ++i)
    nc.setOutput(i, em.concat(perOutput[i], 0), onnxTypes[i]);
  return success();
}

} // namespace

void parsimony::onnximport::registerControlFlowConverters(
    llvm::StringMap<ConverterFn> &map) {
  map["::If"] = convertIf;
  map["::Loop"] = convertLoop;
  map["::Scan"] = convertScan;
}
