//===- SchemaFunctions.cpp - operators defined by ONNX function bodies ----===//
//
// Many ONNX operators are defined in their schema as a function of other
// operators (MeanVarianceNormalization, the window functions, the loss
// operators; some bodies depend on the node's attributes and input types).
// A default-domain operator without a converter is imported through that
// body: the schema builds it for the node (libonnx, OnnxLoader.cpp), and
// its nodes are converted like graph nodes, at the opset the body is written
// against, on private value names. The IR is what the model imports to with
// the function expanded by hand (ONNX's *_expanded backend tests).
//
//===----------------------------------------------------------------------===//

#include "Importer.h"
#include "OnnxLoader.h"

using namespace mlir;
using namespace parsimony::onnximport;

namespace {

/// Bodies nest at most this deep.
constexpr int kMaxDepth = 16;

/// The ONNX type of input `i` of `nc`'s node as the body builder sees it
/// (element type and shape; dynamic dimensions unnamed), or a default
/// TypeProto for an absent input.
onnx::TypeProto inputTypeProto(NodeContext &nc, unsigned i) {
  onnx::TypeProto proto;
  if (!nc.hasInput(i))
    return proto;
  Value v = nc.input(i);
  if (!v)
    return proto;
  auto type = cast<RankedTensorType>(v.getType());
  onnx::TypeProto::Tensor *tensor = proto.mutable_tensor_type();
  tensor->set_elem_type(nc.inputOnnxType(i));
  onnx::TensorShapeProto *shape = tensor->mutable_shape();
  for (int64_t size : type.getShape()) {
    onnx::TensorShapeProto::Dimension *dim = shape->add_dim();
    if (!ShapedType::isDynamic(size))
      dim->set_dim_value(size);
  }
  return proto;
}

} // namespace

LogicalResult
parsimony::onnximport::convertThroughSchemaFunction(NodeContext &nc,
                                                    int depth) {
  if (depth > kMaxDepth)
    return nc.error() << "function bodies nest deeper than " << kMaxDepth
                      << " levels";
  std::vector<onnx::TypeProto> inputTypes;
  for (unsigned i = 0; i < nc.numInputs(); ++i) {
    if (nc.hasInput(i) && !nc.input(i))
      return nc.error() << "input " << i << " ('" << nc.node.input(i)
                        << "') has no value";
    inputTypes.push_back(inputTypeProto(nc, i));
  }
  onnx::FunctionProto body;
  std::vector<onnx::AttributeProto> defaults;
  if (std::string err = detail::buildSchemaFunction(nc.node, nc.opset,
                                                    inputTypes, body, defaults);
      !err.empty())
    return nc.error() << err;
  int64_t bodyOpset = nc.opset;
  for (const onnx::OperatorSetIdProto &entry : body.opset_import())
    if (entry.domain().empty() || entry.domain() == "ai.onnx")
      bodyOpset = entry.version();

  Expansion expansion(nc);
  // The body's own values get private names.
  FunctionCallNames names(
      body, nc.node, [&](const std::string &) { return expansion.fresh(); });
  // References take the node's attributes, or the schema's defaults.
  llvm::StringMap<const onnx::AttributeProto *> callAttrs;
  for (const onnx::AttributeProto &a : defaults)
    callAttrs[a.name()] = &a;
  for (const onnx::AttributeProto &a : nc.node.attribute())
    callAttrs[a.name()] = &a;

  std::string scope = GraphImporter::nodeName(nc.node);
  for (const onnx::NodeProto &bodyNode : body.node()) {
    onnx::NodeProto node = bodyNode;
    names.rename(node);
    node.set_name(scope + "/" + bodyNode.op_type());
    if (std::string err = bindAttributeReferences(node, callAttrs);
        !err.empty())
      return nc.error() << "the ONNX function body of " << nc.opType() << ": "
                        << err;
    std::string domain = node.domain() == "ai.onnx" ? "" : node.domain();
    if (!domain.empty())
      return nc.error() << "the ONNX function body of " << nc.opType()
                        << " uses operator " << domain << ":" << node.op_type()
                        << ", which is not supported";
    NodeContext sub(nc.importer, node, nc.loc, bodyOpset);
    if (tryFoldNode(sub))
      continue;
    if (ConverterFn convert = getConverters().lookup("::" + node.op_type())) {
      if (failed(convert(sub)))
        return failure();
      continue;
    }
    if (!detail::hasSchemaFunction(node.op_type(), bodyOpset))
      return nc.error() << "the ONNX function body of " << nc.opType()
                        << " uses operator " << node.op_type()
                        << ", which is not supported";
    if (failed(convertThroughSchemaFunction(sub, depth + 1)))
      return failure();
  }
  for (int i = 0; i < nc.node.output_size(); ++i)
    if (nc.hasOutput(i) && !nc.importer.entry(nc.node.output(i)))
      return nc.error() << "the ONNX function body of " << nc.opType()
                        << " does not compute output " << i;
  return success();
}
