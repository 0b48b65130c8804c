//===- ConvertControlFlow.cpp - If ----------------------------------------===//
//
// If with a condition known at import time (a constant, or folded from
// static shapes, as exporters often leave it) imports the taken branch
// inline. A runtime condition becomes an scf.if whose regions hold the two
// branches; outputs whose static sizes differ between the branches get a
// dynamic size (tensor.cast in the branch).
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace parsimony::onnximport;

namespace {

const onnx::GraphProto *branch(NodeContext &nc, StringRef name) {
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
  const onnx::GraphProto *thenGraph = branch(nc, "then_branch");
  const onnx::GraphProto *elseGraph = branch(nc, "else_branch");
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
                                     nullptr, nc.loc, outputs, onnxTypes)))
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
                                        nc.loc, branchOutputs[i],
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

} // namespace

void parsimony::onnximport::registerControlFlowConverters(
    llvm::StringMap<ConverterFn> &map) {
  map["::If"] = convertIf;
}
