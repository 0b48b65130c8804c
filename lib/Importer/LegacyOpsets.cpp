//===- LegacyOpsets.cpp - Default-domain opsets 1 to 6 --------------------===//
//
// Models of opsets 1 to 6 import through the converters written for opset 7
// and later: each node is first rewritten into its opset-7 form. Most
// operators kept their semantics (their old versions only carry the
// `consumed_inputs` hint); the rewrites below cover the ones that changed:
// the `broadcast`/`axis` form of the binary operators (unidirectional,
// aligned at `axis`), Cast's string `to`, Concat's default axis, Pad's
// `paddings`, Reshape's `shape` attribute, Split's `split` input, Tile's
// (tiles, axis) inputs, Upsample's height/width scales and the `is_test`
// flag of BatchNormalization and Dropout.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace parsimony::onnximport;

namespace {

/// Binds `entry` to a fresh name derived from the node's and returns it.
std::string bindLegacyValue(NodeContext &nc, ValueEntry entry) {
  std::string base = GraphImporter::nodeName(nc.node) + "/legacy_";
  std::string name;
  unsigned counter = 0;
  do {
    name = base + std::to_string(counter++);
  } while (nc.importer.values.count(name));
  nc.importer.values[name] = std::move(entry);
  return name;
}

std::string bindLegacyConstant(NodeContext &nc, ConstTensor value) {
  ValueEntry entry;
  entry.onnxType = value.onnxType;
  entry.constant = std::move(value);
  return bindLegacyValue(nc, std::move(entry));
}

ConstTensor int64Vector(ArrayRef<int64_t> values) {
  ConstTensor c;
  c.shape = {static_cast<int64_t>(values.size())};
  c.ints.assign(values.begin(), values.end());
  return c;
}

void removeAttributes(onnx::NodeProto &node, ArrayRef<StringRef> names) {
  auto *attrs = node.mutable_attribute();
  for (int i = attrs->size() - 1; i >= 0; --i)
    if (llvm::is_contained(names, StringRef(attrs->Get(i).name())))
      attrs->DeleteSubrange(i, 1);
}

/// The rank of input `i`, without materialising a known constant.
int64_t inputRank(NodeContext &nc, unsigned i) {
  if (const ConstTensor *c = nc.constInput(i))
    return static_cast<int64_t>(c->shape.size());
  return nc.inputType(i).getRank();
}

/// Binary operators before opset 7: with broadcast = 1, B's dimensions line
/// up with A's from `axis` on (default: A's trailing ones). Padding B's shape
/// with trailing ones makes that numpy broadcasting.
LogicalResult upgradeBroadcast(NodeContext &nc, onnx::NodeProto &node) {
  int64_t broadcast = nc.attrInt("broadcast", 0);
  const onnx::AttributeProto *axisAttr = nc.attr("axis");
  std::optional<int64_t> axis;
  if (axisAttr)
    axis = axisAttr->i();
  removeAttributes(node, {"broadcast", "axis"});
  if (!broadcast || !axis)
    return success();
  if (!nc.hasInput(0) || !nc.hasInput(1))
    return nc.error() << "expects inputs A and B";
  int64_t rankA = inputRank(nc, 0), rankB = inputRank(nc, 1);
  if (*axis < 0)
    *axis += rankA;
  if (*axis < 0 || *axis + rankB > rankA)
    return nc.error() << "legacy broadcast: B (rank " << rankB
                      << ") does not fit in A (rank " << rankA << ") from axis "
                      << axisAttr->i();
  int64_t trailing = rankA - *axis - rankB;
  if (trailing == 0)
    return success();
  if (const ConstTensor *c = nc.constInput(1)) {
    ConstTensor padded = *c;
    padded.shape.append(trailing, 1);
    node.set_input(1, bindLegacyConstant(nc, std::move(padded)));
    return success();
  }
  Emitter em = nc.emitter();
  FailureOr<Value> padded = em.unsqueeze(
      nc.input(1),
      llvm::to_vector(llvm::seq<int64_t>(rankB, rankB + trailing)));
  if (failed(padded))
    return failure();
  ValueEntry entry;
  entry.value = *padded;
  entry.onnxType = nc.inputOnnxType(1);
  node.set_input(1, bindLegacyValue(nc, std::move(entry)));
  return success();
}

/// Cast-1 names its target type as a string ("FLOAT").
LogicalResult upgradeCast(NodeContext &nc, onnx::NodeProto &node) {
  const onnx::AttributeProto *to = nc.attr("to");
  if (!to || to->type() != onnx::AttributeProto::STRING)
    return success();
  onnx::TensorProto::DataType type;
  if (!onnx::TensorProto::DataType_Parse(StringRef(to->s()).upper(), &type))
    return nc.error() << "unknown target type '" << to->s() << "'";
  removeAttributes(node, {"to"});
  *node.add_attribute() = intAttribute("to", type);
  return success();
}

/// Reshape-1: the target shape is an attribute.
LogicalResult upgradeReshape(NodeContext &nc, onnx::NodeProto &node) {
  std::optional<SmallVector<int64_t>> shape = nc.attrInts("shape");
  if (!shape)
    return nc.error() << "attribute 'shape' is missing";
  removeAttributes(node, {"shape"});
  node.add_input(bindLegacyConstant(nc, int64Vector(*shape)));
  return success();
}

/// Split-1: the split sizes may come as a second (constant) input.
LogicalResult upgradeSplit(NodeContext &nc, onnx::NodeProto &node) {
  if (!nc.hasInput(1)) {
    if (node.input_size() > 1)
      node.mutable_input()->DeleteSubrange(1, node.input_size() - 1);
    return success();
  }
  FailureOr<SmallVector<int64_t>> split = nc.constInts(1, "split");
  if (failed(split))
    return failure();
  node.mutable_input()->DeleteSubrange(1, node.input_size() - 1);
  removeAttributes(node, {"split"});
  onnx::AttributeProto attr;
  attr.set_name("split");
  attr.set_type(onnx::AttributeProto::INTS);
  for (int64_t s : *split)
    attr.add_ints(s);
  *node.add_attribute() = std::move(attr);
  return success();
}

/// Tile-1: (input, tiles, axis) repeats one axis `tiles` times.
LogicalResult upgradeTile(NodeContext &nc, onnx::NodeProto &node) {
  if (!nc.hasInput(0) || !nc.hasInput(1) || !nc.hasInput(2))
    return nc.error() << "expects inputs input, tiles and axis";
  // Both have the input's element type (float included) in Tile-1.
  const ConstTensor *tiles = nc.constInput(1), *axis = nc.constInput(2);
  auto isWholeScalar = [](const ConstTensor *c) {
    return c && c->numElements() == 1 &&
           c->getDouble(0) == static_cast<double>(c->getInt(0));
  };
  if (!isWholeScalar(tiles) || !isWholeScalar(axis) || tiles->getInt(0) < 0)
    return nc.error() << "tiles and axis must be whole-number scalars known "
                         "at import time (tiles >= 0)";
  int64_t rank = inputRank(nc, 0);
  FailureOr<int64_t> a =
      normalizeAxis(axis->getInt(0), rank, [&] { return nc.error(); });
  if (failed(a))
    return failure();
  SmallVector<int64_t> repeats(rank, 1);
  repeats[*a] = tiles->getInt(0);
  node.mutable_input()->DeleteSubrange(1, 2);
  node.add_input(bindLegacyConstant(nc, int64Vector(repeats)));
  return success();
}

/// Upsample-1: NCHW input, height_scale and width_scale attributes.
LogicalResult upgradeUpsample(NodeContext &nc, onnx::NodeProto &node) {
  if (!nc.attr("height_scale") || !nc.attr("width_scale"))
    return nc.error() << "attributes 'height_scale' and 'width_scale' are "
                         "required";
  if (!nc.hasInput(0) || inputRank(nc, 0) != 4)
    return nc.error() << "expects a 4-D (NCHW) input";
  onnx::AttributeProto scales;
  scales.set_name("scales");
  scales.set_type(onnx::AttributeProto::FLOATS);
  for (float s : {1.0f, 1.0f, nc.attrFloat("height_scale", 1),
                  nc.attrFloat("width_scale", 1)})
    scales.add_floats(s);
  removeAttributes(node, {"height_scale", "width_scale"});
  *node.add_attribute() = std::move(scales);
  return success();
}

} // namespace

FailureOr<std::optional<onnx::NodeProto>>
parsimony::onnximport::upgradeLegacyNode(NodeContext &nc) {
  static const llvm::StringSet<> broadcastOps = {
      "Add", "Sub", "Mul",   "Div",     "Pow", "And",
      "Or",  "Xor", "Equal", "Greater", "Less"};
  static const llvm::StringSet<> rewritten = {"Gemm",    "BatchNormalization",
                                              "Dropout", "Cast",
                                              "Concat",  "Pad",
                                              "Reshape", "Split",
                                              "Tile",    "Upsample"};
  StringRef op = nc.opType();
  // Copy only what changes (a Constant node may hold a large tensor).
  if (!broadcastOps.contains(op) && !rewritten.contains(op) &&
      !nc.attr("consumed_inputs"))
    return std::optional<onnx::NodeProto>();
  onnx::NodeProto node = nc.node;
  removeAttributes(node, {"consumed_inputs"});
  LogicalResult result = success();
  if (broadcastOps.contains(op)) {
    result = upgradeBroadcast(nc, node);
  } else if (op == "Gemm") {
    // C broadcasts unidirectionally, which numpy broadcasting includes.
    removeAttributes(node, {"broadcast"});
  } else if (op == "BatchNormalization" || op == "Dropout") {
    // Inference only either way; the converters refuse statistics outputs.
    removeAttributes(node, {"is_test"});
  } else if (op == "Cast") {
    result = upgradeCast(nc, node);
  } else if (op == "Concat") {
    if (!nc.attr("axis"))
      *node.add_attribute() = intAttribute("axis", 1);
  } else if (op == "Pad") {
    if (const onnx::AttributeProto *paddings = nc.attr("paddings")) {
      onnx::AttributeProto pads = *paddings;
      pads.set_name("pads");
      removeAttributes(node, {"paddings"});
      *node.add_attribute() = std::move(pads);
    }
  } else if (op == "Reshape" && nc.opset < 5) {
    result = upgradeReshape(nc, node);
  } else if (op == "Split" && nc.opset < 2) {
    result = upgradeSplit(nc, node);
  } else if (op == "Tile" && nc.opset < 6) {
    result = upgradeTile(nc, node);
  } else if (op == "Upsample") {
    result = upgradeUpsample(nc, node);
  }
  if (failed(result))
    return failure();
  return std::optional<onnx::NodeProto>(std::move(node));
}
