//===- OnnxLoader.h - libonnx checker / shape inference wrapper -*- C++ -*-===//
//
// The only interface to the parts of libonnx that throw C++ exceptions. Its
// implementation (OnnxLoader.cpp) is compiled with -fexceptions and turns
// every exception into an error string; callers are built without
// exceptions.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_LIB_IMPORTER_ONNXLOADER_H
#define PARSIMONY_LIB_IMPORTER_ONNXLOADER_H

#include <string>

#include <vector>

namespace onnx {
class AttributeProto;
class FunctionProto;
class ModelProto;
class NodeProto;
class OpSchema;
class TypeProto;
struct InferenceContext;
} // namespace onnx

namespace parsimony::detail {

/// The newest default-domain opset and IR version the importer accepts
/// (libonnx itself knows opset 17 and IR 8; OnnxNewerSchemas.cpp registers
/// the schemas that changed since).
constexpr int kNewestOnnxOpset = 26;
/// The oldest: nodes of opsets 1 to 6 are rewritten into their opset-7 form
/// (LegacyOpsets.cpp); from 7 on the converters handle the attribute forms
/// of Slice and TopK (before 10), Clip and Pad (before 11), and the other
/// operators' later semantics are supersets.
constexpr int kOldestOnnxOpset = 1;
constexpr int kNewestOnnxIrVersion = 13;

/// Registers the ONNX operator schemas of the `ai.parsimony` domain and of
/// `com.microsoft:MoE` (unless libonnx already knows one), so that the
/// checker and shape inference understand them. Idempotent, thread-safe.
void registerCustomOnnxSchemas();

/// Shape inference functions of the schemas the importer registers: output
/// 0 typed and shaped like input 0; typed like input 1 and shaped like
/// input 0 (an output in the type of a scale or a cast's target).
void inferSameAsInput0(onnx::InferenceContext &ctx);
void inferTypeOf1ShapeOf0(onnx::InferenceContext &ctx);

/// Adds the interface the RMS normalizations share (ONNX's
/// RMSNormalization-23 and ONNX Runtime's SimplifiedLayerNormalization) to
/// `schema`: attributes axis (-1), epsilon (1e-5) and stash_type (1), inputs
/// X (T) and scale (V), output Y (V, X's shape), T and V float types.
onnx::OpSchema &addRmsNormalizationContract(onnx::OpSchema &schema);

/// Registers the default-domain schemas of opsets 18 to kNewestOnnxOpset
/// that libonnx lacks (called by registerCustomOnnxSchemas).
void registerNewerOnnxSchemas();

/// Runs the ONNX checker over `model`; external data locations are resolved
/// against `modelDir`. Returns an empty string on success, the message
/// otherwise.
std::string checkOnnxModel(const onnx::ModelProto &model,
                           const std::string &modelDir);

/// Runs ONNX shape inference (strict mode, with data propagation) and stores
/// the inferred types in the graph's value_info. Returns an empty string on
/// success, the message otherwise. `lenient` skips nodes inference cannot
/// type instead of failing (operator versions before opset 7, many of which
/// have no inference function).
std::string inferOnnxShapes(onnx::ModelProto &model, bool lenient = false);

/// Whether the schema of default-domain operator `opType` at `opset`
/// defines the operator as a function of other operators (a fixed body or
/// one built from the node's attributes and input types).
bool hasSchemaFunction(const std::string &opType, int64_t opset);

/// Builds the function body that the schema of `node` (default domain, at
/// `opset`) defines it by; a context-dependent body is built from the node's
/// attributes and `inputTypes` (one per input; a default TypeProto where a
/// type is unknown). The body's opset_import always names the default
/// domain's version it is written against; `defaults` receives the
/// schema's default values of the attributes the node does not set (which
/// references in the body take). Returns an empty string on success, the
/// message otherwise.
std::string buildSchemaFunction(const onnx::NodeProto &node, int64_t opset,
                                const std::vector<onnx::TypeProto> &inputTypes,
                                onnx::FunctionProto &body,
                                std::vector<onnx::AttributeProto> &defaults);

/// The default-domain operators (at opset kNewestOnnxOpset) whose schema
/// defines a function body, with the operators a body built for float
/// inputs (of every declared input) uses. Bodies that cannot be built
/// without a model are left out.
struct SchemaFunctionOps {
  std::string opType;
  std::vector<std::string> bodyOps;
};
std::vector<SchemaFunctionOps> listSchemaFunctionOps();

} // namespace parsimony::detail

#endif // PARSIMONY_LIB_IMPORTER_ONNXLOADER_H
