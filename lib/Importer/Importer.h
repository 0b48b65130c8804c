//===- Importer.h - ONNX graph importer internals ---------------*- C++ -*-===//
//
// Internal interface shared by the importer's translation units: the graph
// importer state, the per-node view handed to operator converters, the
// tensor emission helpers and the small-constant folder.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_LIB_IMPORTER_IMPORTER_H
#define PARSIMONY_LIB_IMPORTER_IMPORTER_H

#include "parsimony/Importer/OnnxImporter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/MemoryBuffer.h"

#include "onnx/onnx_pb.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace parsimony::onnximport {

using namespace mlir;

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

/// ONNX's 4-bit integer element types (ONNX 1.16), which libonnx 1.12's
/// TensorProto::DataType does not name.
constexpr int32_t kOnnxUint4 = 21;
constexpr int32_t kOnnxInt4 = 22;

/// The MLIR element type of an ONNX tensor element type (signless integers;
/// unsignedness is tracked separately), or null if unsupported.
Type getElementType(MLIRContext *ctx, int32_t onnxType);
/// Whether `onnxType` is an unsigned integer type.
bool isUnsignedOnnxType(int32_t onnxType);
/// The ONNX name of an element type enum value ("FLOAT", ...).
std::string onnxTypeName(int32_t onnxType);
/// Size in bytes of one element, 0 if unsupported.
int64_t onnxTypeByteWidth(int32_t onnxType);
/// The ONNX element type for an MLIR element type (signed for integers).
int32_t onnxTypeFor(Type type, bool isUnsigned = false);

//===----------------------------------------------------------------------===//
// Small constants known at import time
//===----------------------------------------------------------------------===//

/// A small tensor whose value is known at import time (shape computations
/// and scalar parameters). Integers and booleans are kept in `ints`, floating
/// point values in `floats`.
struct ConstTensor {
  SmallVector<int64_t> shape;
  int32_t onnxType = onnx::TensorProto::INT64;
  SmallVector<int64_t> ints;
  SmallVector<double> floats;

  bool isFloat() const;
  int64_t numElements() const;
  double getDouble(int64_t i) const {
    return isFloat() ? floats[i] : static_cast<double>(ints[i]);
  }
  int64_t getInt(int64_t i) const {
    return isFloat() ? static_cast<int64_t>(floats[i]) : ints[i];
  }
  /// The builtin dense attribute of this constant.
  DenseElementsAttr toAttr(MLIRContext *ctx) const;
  static std::optional<ConstTensor> fromAttr(DenseElementsAttr attr,
                                             int32_t onnxType);
};

/// Largest number of elements the import-time folder materialises.
constexpr int64_t kMaxFoldElements = 4096;

//===----------------------------------------------------------------------===//
// Value table entries
//===----------------------------------------------------------------------===//

struct ValueEntry {
  /// The SSA value, null until a lazily created constant is first used.
  Value value;
  /// The ONNX element type (signedness matters for integers).
  int32_t onnxType = 0;
  /// Known value for small constants.
  std::optional<ConstTensor> constant;
  /// Large constant (dense_resource) not materialised yet.
  ElementsAttr lazyAttr;
  /// A 0-D/1-D integer shape tensor whose elements are known symbolically
  /// (index Values or IntegerAttrs), e.g. the result of Shape on a tensor
  /// with dynamic dimensions. Materialised with tensor.from_elements on use.
  std::optional<SmallVector<OpFoldResult>> symbolic;
  bool symbolicIsScalar = false;
};

class GraphImporter;

//===----------------------------------------------------------------------===//
// Diagnostics
//===----------------------------------------------------------------------===//

/// Collects an error message and emits it, followed by
/// " (node '<name>', op '<OpType>')", when destroyed or converted to a
/// failure.
class NodeError {
public:
  NodeError(Location loc, std::string suffix)
      : loc(loc), suffix(std::move(suffix)), os(message) {}
  NodeError(NodeError &&other)
      : loc(other.loc), suffix(std::move(other.suffix)),
        message(std::move(other.message)), os(message), emitted(other.emitted) {
    other.emitted = true;
  }
  NodeError &operator=(NodeError &&) = delete;
  ~NodeError() { emit(); }

  template <typename T> NodeError &operator<<(T &&value) {
    os << std::forward<T>(value);
    return *this;
  }
  operator LogicalResult() {
    emit();
    return failure();
  }
  template <typename T> operator FailureOr<T>() {
    emit();
    return failure();
  }

private:
  void emit() {
    if (emitted)
      return;
    emitted = true;
    mlir::emitError(loc) << message << suffix;
  }
  Location loc;
  std::string suffix;
  std::string message;
  llvm::raw_string_ostream os;
  bool emitted = false;
};

//===----------------------------------------------------------------------===//
// Per-node view handed to operator converters
//===----------------------------------------------------------------------===//

class NodeContext {
public:
  NodeContext(GraphImporter &importer, const onnx::NodeProto &node,
              Location loc, int64_t opset)
      : importer(importer), node(node), loc(loc), opset(opset) {}

  GraphImporter &importer;
  const onnx::NodeProto &node;
  Location loc;
  /// The opset version of the node's domain.
  int64_t opset;

  StringRef opType() const { return node.op_type(); }
  NodeError error() const;
  /// Asserts `cond` at run time (before the ops `b` creates next): a run in
  /// which it fails ends with `what` and the node's name as its error
  /// (--parsimony-lower-runtime-checks).
  void check(OpBuilder &b, Value cond, const Twine &what) const;

  // Inputs.
  unsigned numInputs() const { return node.input_size(); }
  bool hasInput(unsigned i) const {
    return i < static_cast<unsigned>(node.input_size()) &&
           !node.input(i).empty();
  }
  /// The value of input `i`; null if the input is absent.
  Value input(unsigned i);
  RankedTensorType inputType(unsigned i);
  /// Input `i` if it is a float tensor; null when it is absent and not
  /// `required`. Otherwise an error naming it `what`.
  FailureOr<Value> floatInput(unsigned i, StringRef what, bool required = true);
  int32_t inputOnnxType(unsigned i);
  bool inputUnsigned(unsigned i) {
    return isUnsignedOnnxType(inputOnnxType(i));
  }
  /// The import-time value of input `i` if it is a known small constant.
  const ConstTensor *constInput(unsigned i);
  /// A constant integer vector input (Reshape shapes, Slice starts, axes);
  /// emits an error and fails if it is not known at import time.
  FailureOr<SmallVector<int64_t>> constInts(unsigned i, StringRef what);
  /// The elements of a 0-D/1-D integer input known at import time either as
  /// constants (IntegerAttr) or symbolically (index Values).
  /// With `allowRuntime`, a runtime 0-D/1-D integer tensor of static length
  /// is read element by element (tensor.extract).
  std::optional<SmallVector<OpFoldResult>> shapeInput(unsigned i,
                                                      bool allowRuntime = true);

  // Outputs.
  unsigned numOutputs() const { return node.output_size(); }
  bool hasOutput(unsigned i) const {
    return i < static_cast<unsigned>(node.output_size()) &&
           !node.output(i).empty();
  }
  void setOutput(unsigned i, Value value, int32_t onnxType = 0);
  void setConstOutput(unsigned i, ConstTensor value);
  void setSymbolicOutput(unsigned i, SmallVector<OpFoldResult> elements,
                         bool isScalar, int32_t onnxType);

  // Attributes.
  const onnx::AttributeProto *attr(StringRef name) const;
  int64_t attrInt(StringRef name, int64_t def) const;
  float attrFloat(StringRef name, float def) const;
  std::string attrString(StringRef name, StringRef def) const;
  std::optional<SmallVector<int64_t>> attrInts(StringRef name) const;

  /// Emission helpers at this node's location, reporting through error().
  class Emitter emitter();
};

//===----------------------------------------------------------------------===//
// Emission helpers (Builders.cpp)
//===----------------------------------------------------------------------===//

using BodyFn =
    std::function<Value(OpBuilder &, Location, ValueRange /*scalars*/)>;

/// Tensor emission helpers on top of an OpBuilder; all fail with a
/// diagnostic (through `err`) instead of asserting on bad shapes.
class Emitter {
public:
  Emitter(OpBuilder &builder, Location loc, std::function<NodeError()> err)
      : b(builder), loc(loc), err(std::move(err)) {}

  OpBuilder &b;
  Location loc;
  std::function<NodeError()> err;

  MLIRContext *ctx() { return b.getContext(); }

  // Scalars and constants.
  Value indexConst(int64_t v);
  Value scalarConst(Type type, double v);
  /// arith.constant of `value` splat to `type`.
  Value splat(RankedTensorType type, double value);
  /// A tensor of `type` (dynamic dims from `dynDims`) filled with `value`.
  Value filled(RankedTensorType type, ValueRange dynDims, Value value);
  Value empty(RankedTensorType type, ValueRange dynDims);
  /// Sizes of `v` as OpFoldResults (static attrs or tensor.dim values).
  SmallVector<OpFoldResult> sizes(Value v);
  Value dim(Value v, int64_t d);
  /// Dynamic sizes of `type` taken from `sizes`.
  SmallVector<Value> dynamicSizes(ArrayRef<OpFoldResult> sizes);

  /// Broadcast `inputs` per ONNX (numpy) rules and apply `body` elementwise
  /// in one linalg.generic. Dynamic dimensions are assumed not to be
  /// broadcast (size 1) at run time.
  FailureOr<Value> map(ValueRange inputs, Type resultElementType,
                       const BodyFn &body);
  /// The broadcast result shape of `inputs`.
  FailureOr<SmallVector<int64_t>> broadcastShape(ValueRange inputs);

  /// Converts scalar `v` of type `from` to `to` (ONNX Cast semantics).
  Value convertScalar(Value v, Type to, bool srcUnsigned, bool dstUnsigned);
  /// Elementwise ONNX Cast.
  FailureOr<Value> castTo(Value v, Type to, bool srcUnsigned, bool dstUnsigned);

  /// numpy-style matmul (ONNX MatMul), accumulating in `accType` (or the
  /// input element type).
  FailureOr<Value> matmul(Value a, Value b, Type accType = {});
  Value transpose(Value v, ArrayRef<int64_t> perm);

  enum class ReduceKind { Sum, Max, Min, Prod };
  /// Reduces `v` over `axes` (normalised, sorted) with linalg.reduce.
  FailureOr<Value> reduce(Value v, ArrayRef<int64_t> axes, ReduceKind kind,
                          bool keepDims);
  /// The number of elements of `v` over `axes`, as a scalar of `type`.
  Value countOver(Value v, ArrayRef<int64_t> axes, Type type);

  /// Reshapes with tensor.collapse_shape / tensor.expand_shape when
  /// possible, else tensor.reshape. `shape` may hold kDynamic entries whose
  /// runtime values come from `dynamicShape` (one index Value per dim, may be
  /// empty when `shape` is static).
  FailureOr<Value> reshape(Value v, ArrayRef<int64_t> shape,
                           ArrayRef<Value> dynamicShape = {});
  /// Inserts unit dimensions at `axes` (normalised, sorted, in the output).
  FailureOr<Value> unsqueeze(Value v, ArrayRef<int64_t> axes);
  /// Removes unit dimensions `axes` (normalised, sorted).
  FailureOr<Value> squeeze(Value v, ArrayRef<int64_t> axes);
  /// Materialises `v` broadcast to `shape` (dynamic dims from `dynDims`).
  FailureOr<Value> broadcastTo(Value v, RankedTensorType type,
                               ValueRange dynDims);
  /// Entry `index` of `v` along `axis`, without that axis (a rank-reducing
  /// extract_slice).
  Value entryAlong(Value v, int64_t axis, OpFoldResult index);
  /// `v` with the first lens[b] entries along `timeAxis` of each entry b
  /// along `batchAxis` reversed (ReverseSequence): out[.., t, .., b, ..] =
  /// v[.., lens[b] - 1 - t, .., b, ..] for t < lens[b] (lengths clamped to
  /// the axis), else v itself. `lens` is a 1-D integer tensor.
  Value reverseSequences(Value v, Value lens, int64_t timeAxis,
                         int64_t batchAxis);
  Value extractSlice(Value v, ArrayRef<OpFoldResult> offsets,
                     ArrayRef<OpFoldResult> sizes,
                     ArrayRef<OpFoldResult> strides);
  Value concat(ValueRange values, int64_t axis);

  /// Softmax (or log-softmax) of `x` over `axes` (normalised, sorted; one
  /// axis, or the trailing axes that opsets before 13 flatten into one),
  /// decomposed into reductions and elementwise generics.
  FailureOr<Value> softmax(Value x, ArrayRef<int64_t> axes, bool isLog = false);

  struct Normalized {
    Value y;
    /// Null for the RMS form.
    Value mean;
    Value invStdDev;
  };
  /// Layer normalization of `x` over dimensions [axis, rank): statistics in
  /// `compute` (an f32 or the input type), the result in the input type,
  /// times `scale` plus `bias` (optional). With `rms`, the RMS form
  /// (SimplifiedLayerNormalization): x / sqrt(mean(x^2) + epsilon), no mean.
  FailureOr<Normalized> layerNorm(Value x, Value scale, Value bias,
                                  int64_t axis, double epsilon, Type compute,
                                  bool rms = false);

  /// GELU with erf, x * 0.5 * (1 + erf(x / sqrt 2)), as one elementwise
  /// generic per step: the form PyTorch exports, which the sparse-idiom
  /// raising and the epilogue fusion recognise.
  FailureOr<Value> gelu(Value x);
  /// GELU with the tanh approximation (FastGelu, Gelu approximate="tanh").
  FailureOr<Value> geluTanh(Value x);
};

/// `y` (an integer scalar or vector) with the divisors that trap on x86
/// (0, and -1 when signed: INT_MIN / -1) replaced by 1.
Value safeDivisor(OpBuilder &b, Location loc, Value y, bool isUnsigned);

/// x / y on integers without traps: x / 0 is 0 (as numpy's), x / -1 is
/// the wrapping negation.
Value divideIntegers(OpBuilder &b, Location loc, Value x, Value y,
                     bool isUnsigned);

/// `v` clamped to [0, size - 1] (an index); keeps reads of user-provided
/// positions and ids in bounds.
Value clampIndex(OpBuilder &b, Location l, Value v, Value size);

/// Normalises `axis` for `rank`; fails (with `err`) if out of range.
FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank,
                                 const std::function<NodeError()> &err);

//===----------------------------------------------------------------------===//
// The graph importer
//===----------------------------------------------------------------------===//

using ConverterFn = LogicalResult (*)(NodeContext &);

/// The registry of operator converters, keyed by "domain::OpType" (the
/// default domain is "").
const llvm::StringMap<ConverterFn> &getConverters();
void registerMathConverters(llvm::StringMap<ConverterFn> &map);
void registerTensorConverters(llvm::StringMap<ConverterFn> &map);
void registerCustomDomainConverters(llvm::StringMap<ConverterFn> &map);
/// Conv, ConvInteger, ConvTranspose and pooling (ConvertConvolution.cpp).
void registerConvolutionConverters(llvm::StringMap<ConverterFn> &map);
/// QLinearMatMul, QLinearConv and ONNX Runtime's QLinear* contrib operators
/// (ConvertQLinear.cpp).
void registerQLinearConverters(llvm::StringMap<ConverterFn> &map);
/// Resize and Upsample (ConvertResize.cpp).
void registerResizeConverters(llvm::StringMap<ConverterFn> &map);
/// RNN, GRU and LSTM (ConvertRecurrent.cpp).
void registerRecurrentConverters(llvm::StringMap<ConverterFn> &map);
/// If (ConvertControlFlow.cpp).
void registerControlFlowConverters(llvm::StringMap<ConverterFn> &map);

/// The first default-domain opset whose operators the converters take as
/// they are (opset 7 made broadcasting numpy-style).
constexpr int64_t kConverterOpset = 7;
/// Rewrites a default-domain node of an opset before kConverterOpset into
/// the form it has at kConverterOpset (LegacyOpsets.cpp); no value when the
/// node already has it. New inputs are bound to private names.
FailureOr<std::optional<onnx::NodeProto>> upgradeLegacyNode(NodeContext &nc);

/// One projection of a mixture-of-experts layer's experts: `weight` [E, N,
/// K] (float, or quantized values with their `scales` and an
/// `spx::QuantAttr` `quant` in ONNX Runtime's nk layout), and an optional
/// [E, N] `bias`.
struct MoEProjection {
  Value weight, scales, bias;
  Attribute quant;
};

/// Emits `spx.moe` for a com.microsoft MoE / QMoE node (ai.parsimony:MoE
/// with `parsimonyDomain`, which adds the dispatch attributes) from its
/// input (0), router logits (1), expert projections and attributes.
LogicalResult emitMoE(NodeContext &nc, const MoEProjection &fc1,
                      const MoEProjection &fc2, const MoEProjection &fc3,
                      bool parsimonyDomain);
/// ONNX Runtime's contrib operators (com.microsoft, and the few it registers
/// in the default domain), decomposed into the same linalg/spx forms as the
/// standard operators they fuse: elementwise, normalization and matmul
/// operators (ConvertContrib.cpp), attention and embeddings
/// (ConvertContribAttention.cpp), block-quantized matmuls
/// (ConvertContribQuant.cpp).
void registerContribConverters(llvm::StringMap<ConverterFn> &map);
void registerContribAttentionConverters(llvm::StringMap<ConverterFn> &map);
void registerContribQuantConverters(llvm::StringMap<ConverterFn> &map);

/// Replaces every call of a model-local function (ModelProto.functions) by
/// the function's body and drops the definitions; returns an error message,
/// or "" on success.
std::string inlineModelFunctions(onnx::ModelProto &model);

/// Integer input `valueIdx` minus its zero point (input `zpIdx`, absent:
/// none), widened to i32. A 1-D zero point gets `unitDims` trailing unit
/// dimensions (1: one per row of a matrix; the rank - 1 of a Conv weight:
/// one per output channel), else broadcasts along the last axis.
FailureOr<Value> widenWithZeroPoint(NodeContext &nc, Emitter &em,
                                    unsigned valueIdx, unsigned zpIdx,
                                    int64_t unitDims);

/// Replaces the attribute references (ref_attr_name) of `node`, a node of a
/// function body, by the calling node's attributes `callAttrs`; a reference
/// to an attribute the call does not set is dropped (the default applies).
/// Returns an error message (a body node with a subgraph), or "".
std::string bindAttributeReferences(
    onnx::NodeProto &node,
    const llvm::StringMap<const onnx::AttributeProto *> &callAttrs);

/// The names a function body's values take at one call of the function:
/// formal inputs name the call's inputs ("" where the call leaves an
/// optional one out), formal outputs the call's outputs; every other value,
/// and an output the call does not take, gets `fresh(name)` once. Shared by
/// the model-function inliner and the schema-function expansion.
class FunctionCallNames {
public:
  FunctionCallNames(const onnx::FunctionProto &fn, const onnx::NodeProto &call,
                    std::function<std::string(const std::string &)> fresh);

  /// Renames the inputs and outputs of `node`, a copy of a body node.
  void rename(onnx::NodeProto &node);

private:
  std::string map(const std::string &name);

  llvm::StringMap<std::string> names;
  std::function<std::string(const std::string &)> fresh;
};

/// Converts `nc`'s node, a default-domain operator without a converter,
/// through the function body its ONNX schema defines it by
/// (SchemaFunctions.cpp): the body's nodes are converted like the graph's,
/// at the opset the body is written against, on private value names.
/// `depth` counts nested expansions.
LogicalResult convertThroughSchemaFunction(NodeContext &nc, int depth = 0);

/// Import-time folding of nodes whose inputs are all known (small) constants.
/// Returns true and sets the outputs if the node was folded.
bool tryFoldNode(NodeContext &node);

class GraphImporter {
public:
  GraphImporter(MLIRContext *ctx, onnx::ModelProto &model,
                const OnnxImportOptions &options, StringRef modelName,
                std::string externalDataDir);

  FailureOr<OwningOpRef<ModuleOp>> run();

  MLIRContext *ctx;
  onnx::ModelProto &model;
  const OnnxImportOptions &options;
  std::string modelName;
  std::string externalDataDir;
  OpBuilder builder;
  ModuleOp module;
  func::FuncOp func;
  /// Where lazily materialised constants go (the function entry, in order).
  OpBuilder constBuilder;
  Operation *lastConstant = nullptr;
  llvm::StringMap<ValueEntry> values;
  /// ONNX-inferred types of intermediate values (from value_info).
  llvm::StringMap<const onnx::TypeProto *> inferredTypes;
  llvm::StringMap<int64_t> opsets;
  /// Private helper functions already emitted, by name.
  llvm::StringMap<func::FuncOp> helpers;
  /// Mapped external-data files, by path.
  llvm::StringMap<std::shared_ptr<llvm::MemoryBuffer>> externalFiles;
  /// Values the model types INT4 (true) or UINT4 (false), which
  /// widenFourBitTensors retyped as INT8/UINT8: weights, constants and
  /// QuantizeLinear outputs (which saturate to the 4-bit range).
  llvm::StringMap<bool> fourBitValues;

  Location fileLoc();
  Location nodeLoc(const onnx::NodeProto &node);
  std::string nodeSuffix(const onnx::NodeProto &node);
  static std::string nodeName(const onnx::NodeProto &node);

  /// The value for an ONNX name, materialising lazy constants.
  Value lookup(StringRef name);
  ValueEntry *entry(StringRef name);

  /// Converts a TensorProto (initializer or Constant attribute) to a value
  /// entry: small tensors as known constants, large ones as dense_resource.
  /// Moves raw_data out of `tensor` (no copy) when it becomes a blob.
  LogicalResult importTensor(onnx::TensorProto &tensor, ValueEntry &out,
                             const std::function<NodeError()> &err);

  /// Converts one node at the current insertion point: the rewrite of
  /// opsets before 7, import-time folding, then its converter or schema
  /// function.
  LogicalResult convertNode(const onnx::NodeProto &node);
  /// Converts a subgraph (an If branch, a Loop or Scan body) at the
  /// current insertion point with its inputs bound to `inputs`, and returns
  /// its outputs. Its inputs, initializers and node outputs are visible to
  /// its own nodes only (inputs may hide outer names); outer values
  /// materialised inside `scope` (null: none) are forgotten afterwards.
  LogicalResult convertSubgraph(const onnx::GraphProto &graph, Operation *scope,
                                Location loc, ArrayRef<ValueEntry> inputs,
                                SmallVectorImpl<Value> &outputs,
                                SmallVectorImpl<int32_t> &onnxTypes);

  /// Returns (creating it on first use) the private helper function for
  /// `key`, named `<baseName>_<n>`; `build` fills a fresh function of type
  /// `type`.
  func::FuncOp
  getOrCreateHelper(StringRef key, StringRef baseName, FunctionType type,
                    ArrayRef<NamedAttribute> attrs,
                    function_ref<void(OpBuilder &, func::FuncOp)> build);

private:
  /// Rewrites the model's INT4/UINT4 tensors (initializers, constant
  /// attributes) as INT8/UINT8 tensors holding the same values, one per
  /// byte, and retypes 4-bit value_info and QuantizeLinear output_dtype
  /// likewise (libonnx 1.12 and the converters know 8-bit types only),
  /// recording the values in fourBitValues. 4-bit tensors in the signature
  /// and other operators producing them (Cast, CastLike) are refused.
  LogicalResult widenFourBitTensors();
  LogicalResult checkOpsets();
  LogicalResult checkSupported();
  LogicalResult checkGraphStructure(std::vector<int> &order);
  LogicalResult importInitializers();
  LogicalResult buildFunction(const std::vector<int> &order);
  FailureOr<RankedTensorType>
  importValueInfoType(const onnx::ValueInfoProto &info, StringRef what,
                      SmallVectorImpl<std::string> &dimParams,
                      int32_t &onnxType);
  /// Casts `v` to the more static of its type and the tensor type `info`
  /// declares (if any); `dimParams` gets the declared names of the dynamic
  /// dimensions left. Fails when the two types cannot describe one value.
  LogicalResult castToDeclaredType(Value &v, const onnx::ValueInfoProto &info,
                                   StringRef what,
                                   SmallVectorImpl<std::string> &dimParams);
  FailureOr<ElementsAttr> tensorToAttr(onnx::TensorProto &tensor,
                                       RankedTensorType type,
                                       const std::function<NodeError()> &err);
  FailureOr<std::shared_ptr<llvm::MemoryBuffer>>
  openExternalFile(StringRef location, const std::function<NodeError()> &err);
  /// The `numBytes` bytes of an external-data tensor, in their mapped file.
  struct ExternalBytes {
    ArrayRef<char> bytes;
    std::shared_ptr<llvm::MemoryBuffer> file;
  };
  FailureOr<ExternalBytes> externalBytes(const onnx::TensorProto &tensor,
                                         int64_t numBytes,
                                         const std::function<NodeError()> &err);
  unsigned blobCounter = 0;
};

/// Runs default-domain converters on nodes that stand for parts of `nc`'s
/// node (a contrib operator that fuses them): values are bound to private
/// names in the importer's value table (removed again on destruction), so
/// the expansion is exactly the IR the same ONNX graph imports to. The nodes
/// are named "<node>/<OpType>" in errors.
class Expansion {
public:
  explicit Expansion(NodeContext &nc) : nc(nc) {}
  ~Expansion();

  /// The name of `nc`'s input `i` ("" when absent).
  std::string input(unsigned i) const {
    return nc.hasInput(i) ? nc.node.input(i) : std::string();
  }

  /// A private name bound to `value`.
  std::string bind(Value value, int32_t onnxType);
  /// A private name a converter's output can take.
  std::string fresh();

  struct Output {
    std::string name;
    Value value;
    int32_t onnxType;
  };

  /// Converts `opType` (default domain) with `attrs` over the named inputs;
  /// returns its `numOutputs` outputs.
  FailureOr<SmallVector<Output>> run(StringRef opType,
                                     ArrayRef<std::string> inputs,
                                     unsigned numOutputs,
                                     ArrayRef<onnx::AttributeProto> attrs = {});

private:
  NodeContext &nc;
  SmallVector<std::string> names;
  unsigned counter = 0;
};

/// An INT attribute for Expansion::run.
onnx::AttributeProto intAttribute(StringRef name, int64_t value);

inline Emitter NodeContext::emitter() {
  return Emitter(importer.builder, loc, [this] { return error(); });
}

} // namespace parsimony::onnximport

#endif // PARSIMONY_LIB_IMPORTER_IMPORTER_H
