//===- OnnxLoader.cpp - libonnx checker / shape inference wrapper ---------===//
//
// Compiled with -fexceptions -frtti: libonnx reports every problem by
// throwing. Nothing here touches MLIR; every exception is caught and turned
// into an error string for the (exception-free) importer.
//
//===----------------------------------------------------------------------===//

#include "OnnxLoader.h"

#include "onnx/checker.h"
#include "onnx/defs/data_type_utils.h"
#include "onnx/defs/schema.h"
#include "onnx/defs/shape_inference.h"
#include "onnx/onnx_pb.h"
#include "onnx/shape_inference/implementation.h"
#include "llvm/ADT/StringSet.h"

#include <exception>
#include <mutex>
#include <set>
#include <sstream>

using namespace onnx;

namespace {

const std::vector<std::string> kFloatTypes = {
    "tensor(float)", "tensor(float16)", "tensor(bfloat16)"};
const std::vector<std::string> kWeightTypes = {
    "tensor(float)", "tensor(float16)", "tensor(bfloat16)", "tensor(int8)",
    "tensor(uint8)"};

/// The experts' inputs and attributes shared by com.microsoft:MoE and
/// ai.parsimony:MoE.
OpSchema &addMoEContract(OpSchema &schema) {
  return schema
      .Attr("activation_type",
            "Expert activation: relu, gelu, silu, identity or swiglu.",
            AttributeProto::STRING, std::string("relu"))
      .Attr("k", "Number of experts each token is routed to.",
            AttributeProto::INT, static_cast<int64_t>(1))
      .Attr("normalize_routing_weights",
            "Renormalise the k selected routing weights to sum to one.",
            AttributeProto::INT, static_cast<int64_t>(0))
      .Attr("use_sparse_mixer", "Sparse-mixer routing (unsupported).",
            AttributeProto::INT, static_cast<int64_t>(0))
      .Attr("swiglu_fusion",
            "0: no fusion, 1: fc1 interleaves gate and value, 2: fc1 holds "
            "gate then value.",
            AttributeProto::INT, static_cast<int64_t>(0))
      .Attr("swiglu_limit", "Clamp limit of the SwiGLU activation.",
            AttributeProto::FLOAT, false)
      .Attr("activation_alpha", "SwiGLU alpha.", AttributeProto::FLOAT, 1.0f)
      .Attr("activation_beta", "SwiGLU beta.", AttributeProto::FLOAT, 0.0f)
      .Input(0, "input", "[tokens, hidden] or [batch, seq, hidden]", "T")
      .Input(1, "router_probs", "[tokens, experts] router logits", "T")
      .Input(2, "fc1_experts_weights", "[experts, fusion * inter, hidden]", "W")
      .Input(3, "fc1_experts_bias", "[experts, fusion * inter]", "T",
             OpSchema::Optional)
      .Input(4, "fc2_experts_weights", "[experts, hidden, inter]", "W")
      .Input(5, "fc2_experts_bias", "[experts, hidden]", "T",
             OpSchema::Optional)
      .Input(6, "fc3_experts_weights", "[experts, inter, hidden]", "W",
             OpSchema::Optional)
      .Input(7, "fc3_experts_bias", "[experts, inter]", "T", OpSchema::Optional)
      .Output(0, "output", "same shape as input", "T")
      .TypeConstraint("T", kFloatTypes, "Floating-point activations.")
      .TypeConstraint("W", kWeightTypes, "Expert weights.")
      .TypeAndShapeInferenceFunction(parsimony::detail::inferSameAsInput0);
}

/// Checks what libonnx 1.12's convolution and pooling shape inference
/// (convPoolShapeInference, convTransposeShapeInference) index without
/// checking, so that malformed nodes fail inference instead of crashing it
/// (found by the importer fuzzer: a weight whose rank differs from the
/// input's reads dilations out of bounds). Returns false to skip inference
/// of the node (an unknown weight shape, which libonnx dereferences).
/// `weightIndex` is the weight's input (QLinearConv's is 3), -1 for pools.
bool checkConvPoolInference(InferenceContext &ctx, int weightIndex) {
  if (!hasInputShape(ctx, 0))
    return true;
  int rank = ctx.getInputType(0)->tensor_type().shape().dim_size();
  if (rank < 3)
    fail_shape_inference("the input must have rank >= 3 ([N, C, D1, ...]), "
                         "got ",
                         rank);
  size_t spatial = rank - 2;
  if (weightIndex >= 0 &&
      ctx.getNumInputs() > static_cast<size_t>(weightIndex)) {
    if (!hasInputShape(ctx, weightIndex))
      return false;
    int wRank = ctx.getInputType(weightIndex)->tensor_type().shape().dim_size();
    if (wRank != rank)
      fail_shape_inference("the weight has rank ", wRank, ", the input rank ",
                           rank);
  }
  auto checkInts = [&](const char *name, size_t size, int64_t min) {
    std::vector<int64_t> values;
    if (!getRepeatedAttribute(ctx, name, values))
      return;
    if (values.size() != size)
      fail_shape_inference("'", name, "' has ", values.size(),
                           " entries, expected ", size);
    for (int64_t v : values)
      if (v < min)
        fail_shape_inference("'", name, "' entry ", v, " is out of range");
  };
  checkInts("kernel_shape", spatial, 1);
  checkInts("strides", spatial, 1);
  checkInts("dilations", spatial, 1);
  checkInts("pads", 2 * spatial, 0);
  checkInts("output_padding", spatial, 0);
  std::vector<int64_t> outputShape;
  if (getRepeatedAttribute(ctx, "output_shape", outputShape) &&
      outputShape.size() != spatial && outputShape.size() != spatial + 2)
    fail_shape_inference("'output_shape' has ", outputShape.size(),
                         " entries, expected ", spatial);
  return true;
}

/// Wraps the shape inference of every registered version of the
/// convolution and pooling operators with checkConvPoolInference.
void guardConvPoolInference() {
  const std::pair<const char *, int> ops[] = {
      {"Conv", 1},        {"ConvInteger", 1}, {"ConvTranspose", 1},
      {"QLinearConv", 3}, {"MaxPool", -1},    {"AveragePool", -1},
      {"LpPool", -1}};
  for (auto [name, weightIndex] : ops) {
    std::set<const OpSchema *> seen;
    for (int version = 1; version <= parsimony::detail::kNewestOnnxOpset;
         ++version) {
      const OpSchema *schema = OpSchemaRegistry::Schema(name, version, "");
      if (!schema || !seen.insert(schema).second)
        continue;
      InferenceFunction original = schema->GetTypeAndShapeInferenceFunction();
      // The registry owns its schemas; replacing the function in place is
      // the only way to reach the versions libonnx registered.
      const_cast<OpSchema *>(schema)->TypeAndShapeInferenceFunction(
          [original, weight = weightIndex](InferenceContext &ctx) {
            if (checkConvPoolInference(ctx, weight))
              original(ctx);
          });
    }
  }
}

void registerSchemas() {
  parsimony::detail::registerNewerOnnxSchemas();
  guardConvPoolInference();
  auto &ranges = OpSchemaRegistry::DomainToVersionRange::Instance();
  if (!ranges.Map().count("ai.parsimony"))
    ranges.AddDomainToVersion("ai.parsimony", 1, 1);
  bool haveMicrosoftDomain = ranges.Map().count("com.microsoft") != 0;
  if (!haveMicrosoftDomain)
    ranges.AddDomainToVersion("com.microsoft", 1, 1);

  OpSchema topk("TopKActivation", __FILE__, __LINE__);
  topk.SetDomain("ai.parsimony")
      .SinceVersion(1)
      .SetDoc("Keeps the k largest entries along `axis` and zeroes the rest.")
      .Attr("k", "Number of entries kept per slice.", AttributeProto::INT, true)
      .Attr("axis", "Axis the top-k runs over.", AttributeProto::INT,
            static_cast<int64_t>(-1))
      .Attr("mode", "exact or approx.", AttributeProto::STRING,
            std::string("exact"))
      .Attr("recall_target", "Recall target of approx mode.",
            AttributeProto::FLOAT, 0.95f)
      .Input(0, "X", "input", "T")
      .Output(0, "Y", "same shape as X", "T")
      .TypeConstraint("T", kFloatTypes, "Floating-point tensors.")
      .TypeAndShapeInferenceFunction(parsimony::detail::inferSameAsInput0);
  OpSchemaRegistry::OpSchemaRegisterOnce topkOnce(topk);

  OpSchema ffn("SparseFFN", __FILE__, __LINE__);
  ffn.SetDomain("ai.parsimony")
      .SinceVersion(1)
      .SetDoc("y = act(x * w_up + b_up) [top-k] * w_down + b_down.")
      .Attr("activation", "relu, gelu, gelu_tanh, silu, sigmoid or identity.",
            AttributeProto::STRING, std::string("relu"))
      .Attr("topk", "Keep only the topk largest hidden activations.",
            AttributeProto::INT, false)
      .Input(0, "x", "[..., d_model]", "T")
      .Input(1, "w_up", "[d_model, d_ff]", "W")
      .Input(2, "b_up", "[d_ff]", "T", OpSchema::Optional)
      .Input(3, "w_down", "[d_ff, d_model]", "W")
      .Input(4, "b_down", "[d_model]", "T", OpSchema::Optional)
      .Output(0, "y", "[..., d_model]", "T")
      .TypeConstraint("T", kFloatTypes, "Floating-point activations.")
      .TypeConstraint("W", kFloatTypes, "Floating-point weights.")
      .TypeAndShapeInferenceFunction(parsimony::detail::inferSameAsInput0);
  OpSchemaRegistry::OpSchemaRegisterOnce ffnOnce(ffn);

  OpSchema moe("MoE", __FILE__, __LINE__);
  moe.SetDomain("ai.parsimony")
      .SinceVersion(1)
      .SetDoc("com.microsoft:MoE plus Parsimony's dispatch attributes.")
      .Attr("dispatch", "dropless or capacity.", AttributeProto::STRING,
            std::string("dropless"))
      .Attr("capacity_factor", "Capacity factor of capacity dispatch.",
            AttributeProto::FLOAT, 1.0f);
  addMoEContract(moe);
  OpSchemaRegistry::OpSchemaRegisterOnce moeOnce(moe);

  // ONNX Runtime registers its RMSNorm in the default domain; models from
  // its model builder use it there.
  if (!OpSchemaRegistry::Schema("SimplifiedLayerNormalization", 1, "")) {
    OpSchema rms("SimplifiedLayerNormalization", __FILE__, __LINE__);
    rms.SetDomain("").SinceVersion(1).SetDoc(
        "ONNX Runtime's RMS normalization: X / sqrt(mean(X^2) + "
        "epsilon) * scale over the axes [axis, rank).");
    parsimony::detail::addRmsNormalizationContract(rms)
        .Output(1, "inv_std_var", "1 / sqrt(mean(X^2) + epsilon)", "U",
                OpSchema::Optional)
        .TypeConstraint("U", {"tensor(float)", "tensor(double)"},
                        "Statistics type.");
    OpSchemaRegistry::OpSchemaRegisterOnce rmsOnce(rms);
  }

  if (!OpSchemaRegistry::Schema("MoE", 1, "com.microsoft")) {
    OpSchema msMoE("MoE", __FILE__, __LINE__);
    msMoE.SetDomain("com.microsoft")
        .SinceVersion(1)
        .SetDoc("ONNX Runtime's mixture-of-experts contrib operator.");
    addMoEContract(msMoE);
    OpSchemaRegistry::OpSchemaRegisterOnce msOnce(msMoE);
  }
}

template <typename Fn> std::string guarded(Fn &&fn) {
  try {
    fn();
    return {};
  } catch (const std::exception &e) {
    std::string message = e.what();
    while (!message.empty() &&
           (message.back() == '\n' || message.back() == ' '))
      message.pop_back();
    return message.empty() ? std::string("unknown libonnx error") : message;
  } catch (...) {
    return "unknown libonnx error";
  }
}

} // namespace

namespace parsimony::detail {

void inferSameAsInput0(InferenceContext &ctx) {
  propagateElemTypeFromInputToOutput(ctx, 0, 0);
  if (hasInputShape(ctx, 0))
    propagateShapeFromInputToOutput(ctx, 0, 0);
}

void inferTypeOf1ShapeOf0(InferenceContext &ctx) {
  propagateElemTypeFromInputToOutput(ctx, 1, 0);
  if (hasInputShape(ctx, 0))
    propagateShapeFromInputToOutput(ctx, 0, 0);
}

OpSchema &addRmsNormalizationContract(OpSchema &schema) {
  return schema
      .Attr("axis", "First normalized axis.", AttributeProto::INT,
            static_cast<int64_t>(-1))
      .Attr("epsilon", "Added to the mean square.", AttributeProto::FLOAT,
            1e-5f)
      .Attr("stash_type", "Type of the statistics (1: float).",
            AttributeProto::INT, static_cast<int64_t>(1))
      .Input(0, "X", "input", "T")
      .Input(1, "scale", "scale, broadcast to the normalized shape", "V")
      .Output(0, "Y", "X's shape, the scale's type", "V")
      .TypeConstraint("T", kFloatTypes, "Floating-point input.")
      .TypeConstraint("V", kFloatTypes, "Floating-point scale and output.")
      .TypeAndShapeInferenceFunction(inferTypeOf1ShapeOf0);
}

void registerCustomOnnxSchemas() {
  static std::once_flag once;
  std::call_once(once, [] { (void)guarded(registerSchemas); });
}

std::string checkOnnxModel(const ModelProto &model,
                           const std::string &modelDir) {
  return guarded([&] {
    if (!model.has_ir_version())
      fail_check("the model does not set ir_version");
    if (model.ir_version() > parsimony::detail::kNewestOnnxIrVersion)
      fail_check("ir_version ", model.ir_version(),
                 " is newer than this importer supports (",
                 parsimony::detail::kNewestOnnxIrVersion, ")");
    if (model.ir_version() < 3)
      fail_check("ir_version ", model.ir_version(),
                 " is too old (no opset imports)");
    std::unordered_map<std::string, int> opsets;
    for (const OperatorSetIdProto &opset : model.opset_import()) {
      std::string domain = opset.domain() == "ai.onnx" ? "" : opset.domain();
      if (!opsets.emplace(domain, static_cast<int>(opset.version())).second)
        fail_check("duplicate opset import for domain '", opset.domain(), "'");
    }
    checker::CheckerContext ctx;
    // libonnx's checks are those of its own IR version; the IR versions
    // since only added element types, which the importer checks itself.
    ctx.set_ir_version(static_cast<int>(
        std::min<int64_t>(model.ir_version(), Version::IR_VERSION)));
    ctx.set_opset_imports(opsets);
    ctx.set_model_dir(modelDir);
    checker::LexicalScopeContext scope;
    checker::check_graph(model.graph(), ctx, scope);
  });
}

/// Attributes that crash libonnx's shape inference (with data propagation)
/// instead of failing it: a Transpose `perm` that is not a permutation of
/// 0..n-1 (found by the importer fuzzer). Returns a message, or "".
static std::string findShapeInferenceHazards(const GraphProto &graph) {
  for (const NodeProto &node : graph.node()) {
    for (const AttributeProto &attr : node.attribute()) {
      if (attr.has_g()) {
        std::string nested = findShapeInferenceHazards(attr.g());
        if (!nested.empty())
          return nested;
      }
      if (node.op_type() != "Transpose" || attr.name() != "perm")
        continue;
      std::vector<bool> seen(attr.ints_size(), false);
      for (int64_t p : attr.ints()) {
        if (p < 0 || p >= attr.ints_size() || seen[p])
          return "Transpose node '" + node.name() +
                 "': perm is not a permutation of 0.." +
                 std::to_string(attr.ints_size() - 1);
        seen[p] = true;
      }
    }
  }
  return {};
}

/// Whether every Shape node (in `graph` and its subgraphs) reads a value
/// with a known shape. libonnx's data propagation dereferences the shape of
/// a Shape node's input without checking it, and crashes when inference
/// could not type that input (found by the importer fuzzer).
static bool shapeInputsHaveShapes(const GraphProto &graph,
                                  llvm::StringSet<> known) {
  auto add = [&](const ValueInfoProto &info) {
    if (info.type().tensor_type().has_shape())
      known.insert(info.name());
  };
  for (const ValueInfoProto &info : graph.input())
    add(info);
  for (const ValueInfoProto &info : graph.value_info())
    add(info);
  for (const ValueInfoProto &info : graph.output())
    add(info);
  for (const TensorProto &init : graph.initializer())
    known.insert(init.name());
  for (const NodeProto &node : graph.node()) {
    if (node.op_type() == "Shape" && node.domain().empty() &&
        node.input_size() > 0 && !known.contains(node.input(0)))
      return false;
    for (const AttributeProto &attr : node.attribute())
      if (attr.has_g() && !shapeInputsHaveShapes(attr.g(), known))
        return false;
  }
  return true;
}

std::string inferOnnxShapes(ModelProto &model, bool lenient) {
  std::string hazard = findShapeInferenceHazards(model.graph());
  if (!hazard.empty())
    return hazard;
  auto infer = [&](bool dataPropagation) {
    return guarded([&] {
      ShapeInferenceOptions options(/*check_type_val=*/!lenient,
                                    /*strict_mode_val=*/lenient ? 0 : 1,
                                    dataPropagation);
      shape_inference::InferShapes(model, OpSchemaRegistry::Instance(),
                                   options);
    });
  };
  // Types and shapes first; then, where it is safe, again with data
  // propagation (shapes computed by Shape -> ... -> Reshape chains).
  std::string message = infer(/*dataPropagation=*/false);
  if (!message.empty() || !shapeInputsHaveShapes(model.graph(), {}))
    return message;
  return infer(/*dataPropagation=*/true);
}

} // namespace parsimony::detail

namespace parsimony::detail {

bool hasSchemaFunction(const std::string &opType, int64_t opset) {
  registerCustomOnnxSchemas();
  bool found = false;
  (void)guarded([&] {
    const OpSchema *schema =
        OpSchemaRegistry::Schema(opType, static_cast<int>(opset), "");
    found = schema && !schema->Deprecated() &&
            (schema->HasFunction() || schema->HasContextDependentFunction());
  });
  return found;
}

std::string buildSchemaFunction(const NodeProto &node, int64_t opset,
                                const std::vector<TypeProto> &inputTypes,
                                FunctionProto &body,
                                std::vector<AttributeProto> &defaults) {
  registerCustomOnnxSchemas();
  return guarded([&] {
    const OpSchema *schema =
        OpSchemaRegistry::Schema(node.op_type(), static_cast<int>(opset), "");
    if (!schema)
      fail_schema("no schema for operator ", node.op_type(), " at opset ",
                  opset);
    if (schema->HasFunction()) {
      body = *schema->GetFunction();
    } else if (schema->HasContextDependentFunction()) {
      FunctionBodyBuildContextImpl ctx(node, inputTypes);
      if (!schema->BuildContextDependentFunction(ctx, body))
        fail_schema("the ONNX schema of ", node.op_type(),
                    " cannot build its function body for this node (input "
                    "types or attributes it does not handle)");
    } else {
      fail_schema("the ONNX schema of ", node.op_type(),
                  " defines no function body");
    }
    for (const auto &[name, attr] : schema->attributes()) {
      bool set = false;
      for (const AttributeProto &a : node.attribute())
        set |= a.name() == name;
      if (!set && attr.default_value.type() != AttributeProto::UNDEFINED) {
        defaults.push_back(attr.default_value);
        defaults.back().set_name(name);
      }
    }
    for (const OperatorSetIdProto &entry : body.opset_import())
      if (entry.domain().empty() || entry.domain() == "ai.onnx")
        return;
    OperatorSetIdProto *entry = body.add_opset_import();
    entry->set_domain("");
    entry->set_version(schema->SinceVersion());
  });
}

/// The element type a synthetic input of `param` gets when listing bodies:
/// float where allowed, else the first tensor type the constraint allows.
static TypeProto listingInputType(const OpSchema::FormalParameter &param) {
  TypeProto type;
  int32_t elemType = 0;
  for (const std::string *allowed : param.GetTypes()) {
    TypeProto candidate = Utils::DataTypeUtils::ToTypeProto(allowed);
    if (!candidate.has_tensor_type())
      continue;
    if (candidate.tensor_type().elem_type() == TensorProto::FLOAT)
      return candidate;
    if (!elemType) {
      elemType = candidate.tensor_type().elem_type();
      type = candidate;
    }
  }
  return type;
}

std::vector<SchemaFunctionOps> listSchemaFunctionOps() {
  registerCustomOnnxSchemas();
  std::vector<SchemaFunctionOps> list;
  (void)guarded([&] {
    for (const OpSchema &any : OpSchemaRegistry::get_all_schemas()) {
      if (!any.domain().empty())
        continue;
      const OpSchema *schema =
          OpSchemaRegistry::Schema(any.Name(), kNewestOnnxOpset, "");
      // One entry per operator: the schema in force at the newest opset.
      if (!schema || schema->SinceVersion() != any.SinceVersion() ||
          !hasSchemaFunction(any.Name(), kNewestOnnxOpset))
        continue;
      NodeProto node;
      node.set_op_type(schema->Name());
      std::vector<TypeProto> types;
      for (const OpSchema::FormalParameter &in : schema->inputs()) {
        node.add_input("in" + std::to_string(types.size()));
        types.push_back(listingInputType(in));
      }
      for (size_t i = 0; i < schema->outputs().size(); ++i)
        node.add_output("out" + std::to_string(i));
      FunctionProto body;
      std::vector<AttributeProto> defaults;
      if (!buildSchemaFunction(node, kNewestOnnxOpset, types, body, defaults)
               .empty())
        continue;
      SchemaFunctionOps entry{schema->Name(), {}};
      for (const NodeProto &bodyNode : body.node()) {
        bool hasSubgraph = false;
        for (const AttributeProto &attr : bodyNode.attribute())
          hasSubgraph |= attr.has_g() || attr.graphs_size() > 0;
        std::string domain =
            bodyNode.domain() == "ai.onnx" ? "" : bodyNode.domain();
        // A subgraph or another domain marks the body as one the importer
        // cannot take (an unsupported operator name).
        entry.bodyOps.push_back(hasSubgraph || !domain.empty()
                                    ? domain + ":" + bodyNode.op_type() +
                                          "(subgraph)"
                                    : bodyNode.op_type());
      }
      list.push_back(std::move(entry));
    }
  });
  return list;
}

} // namespace parsimony::detail
