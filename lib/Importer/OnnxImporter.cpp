//===- OnnxImporter.cpp - ONNX ModelProto -> MLIR module ------------------===//
//
// Graph-level import: parsing, validation (opsets, unsupported operators,
// undefined values, cycles), the ONNX checker and shape inference, weights
// (initializers as dense_resource blobs, external data mapped from disk) and
// the function signature. Operators are converted in Convert*.cpp.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"
#include "OnnxLoader.h"

#include "parsimony/Dialect/Spx/IR/SpxDialect.h"
#include "parsimony/Dialect/Spx/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Alignment.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/Path.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <fcntl.h>
#include <unistd.h>

#include <deque>

using namespace mlir;
using namespace parsimony;
using namespace parsimony::onnximport;

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

Type onnximport::getElementType(MLIRContext *ctx, int32_t onnxType) {
  Builder b(ctx);
  switch (onnxType) {
  case onnx::TensorProto::FLOAT:
    return b.getF32Type();
  case onnx::TensorProto::FLOAT16:
    return b.getF16Type();
  case onnx::TensorProto::BFLOAT16:
    return b.getBF16Type();
  case onnx::TensorProto::DOUBLE:
    return b.getF64Type();
  case onnx::TensorProto::INT64:
  case onnx::TensorProto::UINT64:
    return b.getI64Type();
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::UINT32:
    return b.getI32Type();
  case onnx::TensorProto::INT16:
  case onnx::TensorProto::UINT16:
    return b.getI16Type();
  case onnx::TensorProto::INT8:
  case onnx::TensorProto::UINT8:
    return b.getI8Type();
  case onnx::TensorProto::BOOL:
    return b.getI1Type();
  default:
    return {};
  }
}

bool onnximport::isUnsignedOnnxType(int32_t onnxType) {
  return onnxType == onnx::TensorProto::UINT8 ||
         onnxType == onnx::TensorProto::UINT16 ||
         onnxType == onnx::TensorProto::UINT32 ||
         onnxType == onnx::TensorProto::UINT64;
}

std::string onnximport::onnxTypeName(int32_t onnxType) {
  if (onnx::TensorProto::DataType_IsValid(onnxType))
    return onnx::TensorProto::DataType_Name(
        static_cast<onnx::TensorProto::DataType>(onnxType));
  // The types added after libonnx 1.12 (ONNX 1.14-1.18).
  static const char *const newer[] = {
      "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ",
      "UINT4",        "INT4",           "FLOAT4E2M1", "FLOAT8E8M0"};
  if (onnxType >= 17 && onnxType < 17 + static_cast<int32_t>(std::size(newer)))
    return newer[onnxType - 17];
  return "type #" + std::to_string(onnxType);
}

int64_t onnximport::onnxTypeByteWidth(int32_t onnxType) {
  switch (onnxType) {
  case onnx::TensorProto::DOUBLE:
  case onnx::TensorProto::INT64:
  case onnx::TensorProto::UINT64:
    return 8;
  case onnx::TensorProto::FLOAT:
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::UINT32:
    return 4;
  case onnx::TensorProto::FLOAT16:
  case onnx::TensorProto::BFLOAT16:
  case onnx::TensorProto::INT16:
  case onnx::TensorProto::UINT16:
    return 2;
  case onnx::TensorProto::INT8:
  case onnx::TensorProto::UINT8:
  case onnx::TensorProto::BOOL:
    return 1;
  default:
    return 0;
  }
}

int32_t onnximport::onnxTypeFor(Type type, bool isUnsigned) {
  if (type.isF32())
    return onnx::TensorProto::FLOAT;
  if (type.isF16())
    return onnx::TensorProto::FLOAT16;
  if (type.isBF16())
    return onnx::TensorProto::BFLOAT16;
  if (type.isF64())
    return onnx::TensorProto::DOUBLE;
  if (type.isInteger(1))
    return onnx::TensorProto::BOOL;
  if (type.isInteger(8))
    return isUnsigned ? onnx::TensorProto::UINT8 : onnx::TensorProto::INT8;
  if (type.isInteger(16))
    return isUnsigned ? onnx::TensorProto::UINT16 : onnx::TensorProto::INT16;
  if (type.isInteger(32))
    return isUnsigned ? onnx::TensorProto::UINT32 : onnx::TensorProto::INT32;
  if (type.isInteger(64))
    return isUnsigned ? onnx::TensorProto::UINT64 : onnx::TensorProto::INT64;
  return onnx::TensorProto::UNDEFINED;
}

//===----------------------------------------------------------------------===//
// ConstTensor
//===----------------------------------------------------------------------===//

bool ConstTensor::isFloat() const {
  return onnxType == onnx::TensorProto::FLOAT ||
         onnxType == onnx::TensorProto::FLOAT16 ||
         onnxType == onnx::TensorProto::BFLOAT16 ||
         onnxType == onnx::TensorProto::DOUBLE;
}

int64_t ConstTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

DenseElementsAttr ConstTensor::toAttr(MLIRContext *ctx) const {
  Type elementType = getElementType(ctx, onnxType);
  auto type = RankedTensorType::get(shape, elementType);
  if (auto floatType = dyn_cast<FloatType>(elementType)) {
    SmallVector<APFloat> values;
    values.reserve(floats.size());
    for (double v : floats) {
      APFloat f(v);
      bool losesInfo = false;
      f.convert(floatType.getFloatSemantics(), APFloat::rmNearestTiesToEven,
                &losesInfo);
      values.push_back(f);
    }
    return DenseElementsAttr::get(type, values);
  }
  unsigned width = elementType.getIntOrFloatBitWidth();
  if (width == 1) {
    SmallVector<bool> bits;
    for (int64_t v : ints)
      bits.push_back(v != 0);
    return DenseElementsAttr::get(type, bits);
  }
  SmallVector<APInt> values;
  values.reserve(ints.size());
  for (int64_t v : ints)
    values.push_back(APInt(width, static_cast<uint64_t>(v), /*isSigned=*/true,
                           /*implicitTrunc=*/true));
  return DenseElementsAttr::get(type, values);
}

std::optional<ConstTensor> ConstTensor::fromAttr(DenseElementsAttr attr,
                                                 int32_t onnxType) {
  auto type = cast<ShapedType>(attr.getType());
  if (!type.hasStaticShape() || type.getNumElements() > kMaxFoldElements)
    return std::nullopt;
  ConstTensor t;
  t.shape.assign(type.getShape().begin(), type.getShape().end());
  t.onnxType = onnxType;
  Type elementType = type.getElementType();
  if (isa<FloatType>(elementType)) {
    for (APFloat v : attr.getValues<APFloat>())
      t.floats.push_back(v.convertToDouble());
    return t;
  }
  if (!elementType.isSignlessInteger())
    return std::nullopt;
  bool isUnsigned = isUnsignedOnnxType(onnxType) || elementType.isInteger(1);
  for (APInt v : attr.getValues<APInt>())
    t.ints.push_back(isUnsigned ? static_cast<int64_t>(v.getZExtValue())
                                : v.getSExtValue());
  return t;
}

//===----------------------------------------------------------------------===//
// NodeContext
//===----------------------------------------------------------------------===//

NodeError NodeContext::error() const {
  return NodeError(loc, importer.nodeSuffix(node));
}

void NodeContext::check(OpBuilder &b, Value cond, const Twine &what) const {
  cf::AssertOp::create(b, loc, cond, (what + importer.nodeSuffix(node)).str());
}

FailureOr<Value> NodeContext::floatInput(unsigned i, StringRef what,
                                         bool required) {
  if (!hasInput(i)) {
    if (required)
      return error() << "missing required input '" << what << "'";
    return Value();
  }
  Value v = input(i);
  if (!v)
    return error() << "input '" << what << "' has no value";
  if (!isa<FloatType>(getElementTypeOrSelf(v.getType())))
    return error() << "input '" << what << "' must be a float tensor, got "
                   << v.getType();
  return v;
}

onnx::AttributeProto parsimony::onnximport::intAttribute(StringRef name,
                                                         int64_t value) {
  onnx::AttributeProto attr;
  attr.set_name(name.str());
  attr.set_type(onnx::AttributeProto::INT);
  attr.set_i(value);
  return attr;
}

Expansion::~Expansion() {
  for (const std::string &name : names)
    nc.importer.values.erase(name);
}

std::string Expansion::bind(Value value, int32_t onnxType) {
  std::string name = fresh();
  ValueEntry &e = nc.importer.values[name];
  e.value = value;
  e.onnxType = onnxType;
  return name;
}

FailureOr<SmallVector<Expansion::Output>>
Expansion::run(StringRef opType, ArrayRef<std::string> inputs,
               unsigned numOutputs, ArrayRef<onnx::AttributeProto> attrs) {
  ConverterFn fn = getConverters().lookup(("::" + opType).str());
  if (!fn)
    return nc.error() << "no converter for " << opType;
  onnx::NodeProto node;
  node.set_name(GraphImporter::nodeName(nc.node) + "/" + opType.str());
  node.set_op_type(opType.str());
  for (const std::string &in : inputs)
    node.add_input(in);
  for (unsigned i = 0; i < numOutputs; ++i)
    node.add_output(fresh());
  for (const onnx::AttributeProto &attr : attrs)
    *node.add_attribute() = attr;
  NodeContext sub(nc.importer, node, nc.loc,
                  std::max(nc.importer.opsets.lookup(""), kConverterOpset));
  if (failed(fn(sub)))
    return failure();
  SmallVector<Output> outputs;
  for (unsigned i = 0; i < numOutputs; ++i) {
    Value value = nc.importer.lookup(node.output(i));
    if (!value)
      return nc.error() << opType << " produced no output " << i;
    outputs.push_back(
        {node.output(i), value, nc.importer.entry(node.output(i))->onnxType});
  }
  return outputs;
}

std::string Expansion::fresh() {
  std::string name;
  do {
    name = GraphImporter::nodeName(nc.node) + "/expansion_" +
           std::to_string(counter++);
  } while (nc.importer.values.count(name));
  names.push_back(name);
  nc.importer.values[name];
  return name;
}

Value NodeContext::input(unsigned i) {
  if (!hasInput(i))
    return {};
  return importer.lookup(node.input(i));
}

RankedTensorType NodeContext::inputType(unsigned i) {
  Value v = input(i);
  return v ? dyn_cast<RankedTensorType>(v.getType()) : RankedTensorType();
}

int32_t NodeContext::inputOnnxType(unsigned i) {
  if (!hasInput(i))
    return 0;
  ValueEntry *e = importer.entry(node.input(i));
  return e ? e->onnxType : 0;
}

const ConstTensor *NodeContext::constInput(unsigned i) {
  if (!hasInput(i))
    return nullptr;
  ValueEntry *e = importer.entry(node.input(i));
  return e && e->constant ? &*e->constant : nullptr;
}

FailureOr<SmallVector<int64_t>> NodeContext::constInts(unsigned i,
                                                       StringRef what) {
  const ConstTensor *c = constInput(i);
  if (!c || c->isFloat())
    return error() << what << " (input " << i
                   << ") must be a constant integer tensor known at import "
                      "time";
  SmallVector<int64_t> result(c->ints.begin(), c->ints.end());
  return result;
}

void NodeContext::setOutput(unsigned i, Value value, int32_t onnxType) {
  if (!hasOutput(i))
    return;
  ValueEntry &e = importer.values[node.output(i)];
  e.value = value;
  e.onnxType =
      onnxType ? onnxType : onnxTypeFor(getElementTypeOrSelf(value.getType()));
  e.constant.reset();
  e.symbolic.reset();
  e.lazyAttr = {};
}

std::optional<SmallVector<OpFoldResult>>
NodeContext::shapeInput(unsigned i, bool allowRuntime) {
  if (!hasInput(i))
    return std::nullopt;
  ValueEntry *e = importer.entry(node.input(i));
  if (!e)
    return std::nullopt;
  if (e->symbolic)
    return *e->symbolic;
  if (e->constant && !e->constant->isFloat() &&
      e->constant->shape.size() <= 1) {
    SmallVector<OpFoldResult> result;
    Builder b(importer.ctx);
    for (int64_t v : e->constant->ints)
      result.push_back(b.getIndexAttr(v));
    return result;
  }
  // A runtime 0-D/1-D integer tensor of static length: read its elements.
  if (!allowRuntime)
    return std::nullopt;
  Value v = input(i);
  auto type = v ? dyn_cast<RankedTensorType>(v.getType()) : nullptr;
  if (!type || type.getRank() > 1 || !type.hasStaticShape() ||
      !isa<IntegerType>(type.getElementType()) ||
      type.getElementType().isInteger(1) ||
      type.getNumElements() > kMaxFoldElements)
    return std::nullopt;
  OpBuilder &b = importer.builder;
  SmallVector<OpFoldResult> result;
  for (int64_t j = 0; j < type.getNumElements(); ++j) {
    SmallVector<Value> idx;
    if (type.getRank() == 1)
      idx.push_back(arith::ConstantIndexOp::create(b, loc, j));
    Value element = tensor::ExtractOp::create(b, loc, v, idx);
    result.push_back(
        arith::IndexCastOp::create(b, loc, b.getIndexType(), element)
            .getResult());
  }
  return result;
}

void NodeContext::setSymbolicOutput(unsigned i,
                                    SmallVector<OpFoldResult> elements,
                                    bool isScalar, int32_t onnxType) {
  if (!hasOutput(i))
    return;
  ValueEntry &e = importer.values[node.output(i)];
  e = ValueEntry();
  e.onnxType = onnxType;
  // All-constant symbolic tensors are plain constants.
  if (llvm::all_of(elements,
                   [](OpFoldResult r) { return isa<Attribute>(r); })) {
    ConstTensor c;
    c.onnxType = onnxType;
    if (!isScalar)
      c.shape.push_back(static_cast<int64_t>(elements.size()));
    for (OpFoldResult r : elements)
      c.ints.push_back(cast<IntegerAttr>(cast<Attribute>(r)).getInt());
    e.constant = std::move(c);
    return;
  }
  e.symbolic = std::move(elements);
  e.symbolicIsScalar = isScalar;
}

void NodeContext::setConstOutput(unsigned i, ConstTensor value) {
  if (!hasOutput(i))
    return;
  ValueEntry &e = importer.values[node.output(i)];
  e = ValueEntry();
  e.onnxType = value.onnxType;
  e.constant = std::move(value);
}

const onnx::AttributeProto *NodeContext::attr(StringRef name) const {
  for (const onnx::AttributeProto &a : node.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

int64_t NodeContext::attrInt(StringRef name, int64_t def) const {
  const onnx::AttributeProto *a = attr(name);
  return a && a->has_i() ? a->i() : def;
}

float NodeContext::attrFloat(StringRef name, float def) const {
  const onnx::AttributeProto *a = attr(name);
  return a && a->has_f() ? a->f() : def;
}

std::string NodeContext::attrString(StringRef name, StringRef def) const {
  const onnx::AttributeProto *a = attr(name);
  return a && a->has_s() ? a->s() : def.str();
}

std::optional<SmallVector<int64_t>>
NodeContext::attrInts(StringRef name) const {
  const onnx::AttributeProto *a = attr(name);
  if (!a)
    return std::nullopt;
  return SmallVector<int64_t>(a->ints().begin(), a->ints().end());
}

FailureOr<int64_t>
onnximport::normalizeAxis(int64_t axis, int64_t rank,
                          const std::function<NodeError()> &err) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    return err() << "axis " << axis << " is out of range for rank " << rank;
  return axis < 0 ? axis + rank : axis;
}

//===----------------------------------------------------------------------===//
// GraphImporter
//===----------------------------------------------------------------------===//

const llvm::StringMap<ConverterFn> &onnximport::getConverters() {
  static const llvm::StringMap<ConverterFn> converters = [] {
    llvm::StringMap<ConverterFn> map;
    registerMathConverters(map);
    registerTensorConverters(map);
    registerConvolutionConverters(map);
    registerResizeConverters(map);
    registerRecurrentConverters(map);
    registerControlFlowConverters(map);
    registerQLinearConverters(map);
    registerCustomDomainConverters(map);
    registerContribConverters(map);
    registerContribAttentionConverters(map);
    registerContribQuantConverters(map);
    return map;
  }();
  return converters;
}

static std::string normalizeDomain(StringRef domain) {
  return domain == "ai.onnx" ? std::string() : domain.str();
}

GraphImporter::GraphImporter(MLIRContext *ctx, onnx::ModelProto &model,
                             const OnnxImportOptions &options,
                             StringRef modelName, std::string externalDataDir)
    : ctx(ctx), model(model), options(options), modelName(modelName.str()),
      externalDataDir(std::move(externalDataDir)), builder(ctx),
      constBuilder(ctx) {}

Location GraphImporter::fileLoc() {
  return FileLineColLoc::get(ctx, modelName, 0, 0);
}

std::string GraphImporter::nodeName(const onnx::NodeProto &node) {
  if (!node.name().empty())
    return node.name();
  if (node.output_size() > 0 && !node.output(0).empty())
    return "<producing '" + node.output(0) + "'>";
  return "<unnamed>";
}

Location GraphImporter::nodeLoc(const onnx::NodeProto &node) {
  return NameLoc::get(StringAttr::get(ctx, nodeName(node)), fileLoc());
}

std::string GraphImporter::nodeSuffix(const onnx::NodeProto &node) {
  std::string op = node.domain().empty() || node.domain() == "ai.onnx"
                       ? node.op_type()
                       : node.domain() + ":" + node.op_type();
  return " (node '" + nodeName(node) + "', op '" + op + "')";
}

ValueEntry *GraphImporter::entry(StringRef name) {
  auto it = values.find(name);
  return it == values.end() ? nullptr : &it->second;
}

Value GraphImporter::lookup(StringRef name) {
  ValueEntry *e = entry(name);
  if (!e)
    return {};
  if (e->value)
    return e->value;
  Location loc = NameLoc::get(StringAttr::get(ctx, name), fileLoc());
  if (lastConstant)
    constBuilder.setInsertionPointAfter(lastConstant);
  else
    constBuilder.setInsertionPointToStart(&func.getBody().front());
  if (e->constant) {
    e->value =
        arith::ConstantOp::create(constBuilder, loc, e->constant->toAttr(ctx));
  } else if (e->lazyAttr) {
    e->value = arith::ConstantOp::create(constBuilder, loc,
                                         cast<TypedAttr>(e->lazyAttr));
  }
  if (e->value) {
    lastConstant = e->value.getDefiningOp();
    return e->value;
  }
  if (e->symbolic) {
    Type elementType = getElementType(ctx, e->onnxType);
    SmallVector<Value> elements;
    for (OpFoldResult r : *e->symbolic) {
      if (auto attr = dyn_cast<Attribute>(r)) {
        elements.push_back(arith::ConstantOp::create(
            builder, loc,
            builder.getIntegerAttr(elementType,
                                   cast<IntegerAttr>(attr).getInt())));
      } else {
        elements.push_back(arith::IndexCastOp::create(builder, loc, elementType,
                                                      cast<Value>(r)));
      }
    }
    SmallVector<int64_t> shape;
    if (!e->symbolicIsScalar)
      shape.push_back(static_cast<int64_t>(elements.size()));
    e->value = tensor::FromElementsOp::create(
        builder, loc, RankedTensorType::get(shape, elementType), elements);
  }
  return e->value;
}

func::FuncOp GraphImporter::getOrCreateHelper(
    StringRef key, StringRef baseName, FunctionType type,
    ArrayRef<NamedAttribute> attrs,
    function_ref<void(OpBuilder &, func::FuncOp)> build) {
  auto it = helpers.find(key);
  if (it != helpers.end())
    return it->second;
  std::string name = (baseName + "_" + Twine(helpers.size())).str();
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToEnd(module.getBody());
  auto fn = func::FuncOp::create(builder, fileLoc(), name, type);
  fn.setPrivate();
  for (NamedAttribute attr : attrs)
    fn->setAttr(attr.getName(), attr.getValue());
  Block *body = fn.addEntryBlock();
  OpBuilder inner(ctx);
  inner.setInsertionPointToStart(body);
  build(inner, fn);
  helpers[key] = fn;
  return fn;
}

LogicalResult GraphImporter::checkOpsets() {
  for (const onnx::OperatorSetIdProto &opset : model.opset_import())
    opsets[normalizeDomain(opset.domain())] = opset.version();
  auto it = opsets.find("");
  if (it != opsets.end() && (it->second < detail::kOldestOnnxOpset ||
                             it->second > detail::kNewestOnnxOpset))
    return emitError(fileLoc()) << "unsupported opset version " << it->second
                                << " for the default ONNX domain (supported: "
                                << detail::kOldestOnnxOpset << " to "
                                << detail::kNewestOnnxOpset << ")";
  for (const auto &[domain, version] : opsets) {
    if ((domain == "com.microsoft" || domain == "ai.parsimony") && version != 1)
      return emitError(fileLoc())
             << "unsupported opset version " << version << " for domain '"
             << domain << "' (supported: 1)";
  }
  return success();
}

LogicalResult GraphImporter::checkSupported() {
  const llvm::StringMap<ConverterFn> &converters = getConverters();
  std::string list;
  llvm::raw_string_ostream os(list);
  int count = 0;
  // Control-flow operators import their subgraphs: check those too.
  std::function<void(const onnx::GraphProto &)> visit =
      [&](const onnx::GraphProto &graph) {
        for (const onnx::NodeProto &node : graph.node()) {
          std::string domain = normalizeDomain(node.domain());
          bool takesSubgraphs =
              domain.empty() &&
              llvm::is_contained({"If", "Loop", "Scan"}, node.op_type());
          bool hasSubgraph = llvm::any_of(node.attribute(), [](const auto &a) {
            return a.has_g() || a.graphs_size() > 0;
          });
          if ((!hasSubgraph || takesSubgraphs) &&
              (converters.count(domain + "::" + node.op_type()) ||
               (domain.empty() && detail::hasSchemaFunction(
                                      node.op_type(), opsets.lookup(""))))) {
            for (const onnx::AttributeProto &a : node.attribute())
              if (a.has_g())
                visit(a.g());
            continue;
          }
          ++count;
          os << "\n  node '" << nodeName(node) << "': op '"
             << (domain.empty() ? node.op_type()
                                : domain + ":" + node.op_type())
             << "'";
        }
      };
  visit(model.graph());
  if (count == 0)
    return success();
  return emitError(fileLoc())
         << "the model uses " << count << " unsupported operator"
         << (count == 1 ? "" : "s") << ":" << list;
}

/// The names `graph` (and the subgraphs in it) reads from enclosing graphs.
static void collectOuterNames(const onnx::GraphProto &graph,
                              llvm::StringSet<> &names) {
  llvm::StringSet<> local;
  for (const onnx::TensorProto &init : graph.initializer())
    local.insert(init.name());
  for (const onnx::ValueInfoProto &in : graph.input())
    local.insert(in.name());
  for (const onnx::NodeProto &node : graph.node())
    for (const std::string &out : node.output())
      local.insert(out);
  auto use = [&](StringRef name) {
    if (!name.empty() && !local.contains(name))
      names.insert(name);
  };
  for (const onnx::NodeProto &node : graph.node()) {
    for (const std::string &in : node.input())
      use(in);
    for (const onnx::AttributeProto &a : node.attribute()) {
      llvm::StringSet<> inner;
      if (a.has_g())
        collectOuterNames(a.g(), inner);
      for (const onnx::GraphProto &g : a.graphs())
        collectOuterNames(g, inner);
      for (const auto &name : inner)
        use(name.getKey());
    }
  }
  for (const onnx::ValueInfoProto &out : graph.output())
    use(out.name());
}

LogicalResult GraphImporter::checkGraphStructure(std::vector<int> &order) {
  const onnx::GraphProto &graph = model.graph();
  // Who defines each name.
  llvm::StringMap<int> producer; // -1: graph input or initializer
  for (const onnx::TensorProto &init : graph.initializer())
    producer[init.name()] = -1;
  for (const onnx::ValueInfoProto &in : graph.input())
    producer[in.name()] = -1;
  if (graph.sparse_initializer_size() > 0)
    return emitError(fileLoc()) << "sparse initializers are not supported";
  int numNodes = graph.node_size();
  for (int i = 0; i < numNodes; ++i) {
    const onnx::NodeProto &node = graph.node(i);
    for (const std::string &out : node.output()) {
      if (out.empty())
        continue;
      auto [it, inserted] = producer.try_emplace(out, i);
      if (!inserted)
        return emitError(nodeLoc(node))
               << "value '" << out << "' is defined more than once"
               << nodeSuffix(node);
    }
  }
  // Kahn's algorithm; report undefined inputs and cycles.
  std::vector<int> pending(numNodes, 0);
  std::vector<SmallVector<int>> users(numNodes);
  for (int i = 0; i < numNodes; ++i) {
    const onnx::NodeProto &node = graph.node(i);
    // A node's subgraphs may read this graph's values: it depends on them.
    SmallVector<std::string> inputs(node.input().begin(), node.input().end());
    llvm::StringSet<> subgraphInputs;
    for (const onnx::AttributeProto &a : node.attribute())
      if (a.has_g())
        collectOuterNames(a.g(), subgraphInputs);
    for (const auto &name : subgraphInputs)
      inputs.push_back(name.getKey().str());
    for (const std::string &in : inputs) {
      if (in.empty())
        continue;
      auto it = producer.find(in);
      if (it == producer.end())
        return emitError(nodeLoc(node))
               << "input '" << in
               << "' is not defined by any graph input, initializer or node "
                  "(missing initializer?)"
               << nodeSuffix(node);
      if (it->second >= 0) {
        ++pending[i];
        users[it->second].push_back(i);
      }
    }
  }
  std::deque<int> ready;
  for (int i = 0; i < numNodes; ++i)
    if (pending[i] == 0)
      ready.push_back(i);
  order.clear();
  while (!ready.empty()) {
    int i = ready.front();
    ready.pop_front();
    order.push_back(i);
    for (int user : users[i])
      if (--pending[user] == 0)
        ready.push_back(user);
  }
  if (static_cast<int>(order.size()) != numNodes) {
    std::string names;
    int shown = 0;
    for (int i = 0; i < numNodes && shown < 8; ++i) {
      if (pending[i] == 0)
        continue;
      names += (shown ? ", '" : "'") + nodeName(graph.node(i)) + "'";
      ++shown;
    }
    return emitError(fileLoc())
           << "the graph has a cycle (nodes that never become ready: " << names
           << ")";
  }
  for (const onnx::ValueInfoProto &out : graph.output())
    if (!producer.count(out.name()))
      return emitError(fileLoc())
             << "graph output '" << out.name() << "' is never defined";
  return success();
}

FailureOr<RankedTensorType> GraphImporter::importValueInfoType(
    const onnx::ValueInfoProto &info, StringRef what,
    SmallVectorImpl<std::string> &dimParams, int32_t &onnxType) {
  Location loc = fileLoc();
  if (!info.type().has_tensor_type())
    return emitError(loc) << what << " '" << info.name()
                          << "' is not a tensor (sequences, maps and "
                             "optionals are not supported)";
  const onnx::TypeProto::Tensor &tensor = info.type().tensor_type();
  onnxType = tensor.elem_type();
  Type elementType = getElementType(ctx, onnxType);
  if (!elementType)
    return emitError(loc) << what << " '" << info.name()
                          << "' has unsupported element type "
                          << onnxTypeName(onnxType);
  if (!tensor.has_shape())
    return emitError(loc) << what << " '" << info.name()
                          << "' has unknown rank (unranked tensors are not "
                             "supported)";
  SmallVector<int64_t> shape;
  for (const onnx::TensorShapeProto::Dimension &dim : tensor.shape().dim()) {
    if (dim.has_dim_value() && dim.dim_value() >= 0) {
      shape.push_back(dim.dim_value());
      dimParams.push_back("");
    } else {
      std::string param = dim.has_dim_param() ? dim.dim_param() : "";
      auto bound = options.dimBindings.find(param);
      if (!param.empty() && bound != options.dimBindings.end()) {
        if (bound->second < 0)
          return emitError(loc)
                 << "dimension '" << param << "' is bound to a negative size";
        shape.push_back(bound->second);
      } else {
        shape.push_back(ShapedType::kDynamic);
      }
      dimParams.push_back(param);
    }
  }
  return RankedTensorType::get(shape, elementType);
}

//===----------------------------------------------------------------------===//
// Weights
//===----------------------------------------------------------------------===//

static std::string sanitizeBlobName(StringRef name) {
  std::string out = "onnx_";
  for (char c : name)
    out += (llvm::isAlnum(c) || c == '_' || c == '.') ? c : '_';
  return out;
}

FailureOr<std::shared_ptr<llvm::MemoryBuffer>>
GraphImporter::openExternalFile(StringRef location,
                                const std::function<NodeError()> &err) {
  if (location.empty() || llvm::sys::path::is_absolute(location) ||
      llvm::any_of(llvm::make_range(llvm::sys::path::begin(location),
                                    llvm::sys::path::end(location)),
                   [](StringRef part) { return part == ".."; }))
    return err() << "external data location '" << location
                 << "' must be a relative path inside the model directory";
  SmallString<256> path(externalDataDir);
  llvm::sys::path::append(path, location);
  auto it = externalFiles.find(path);
  if (it != externalFiles.end())
    return it->second;
  auto buffer = llvm::MemoryBuffer::getFile(
      path, /*IsText=*/false, /*RequiresNullTerminator=*/false,
      /*IsVolatile=*/!options.mmapExternalData);
  if (!buffer)
    return err() << "cannot open external data file '" << path
                 << "': " << buffer.getError().message();
  std::shared_ptr<llvm::MemoryBuffer> shared(std::move(*buffer));
  externalFiles[path] = shared;
  return shared;
}

FailureOr<GraphImporter::ExternalBytes>
GraphImporter::externalBytes(const onnx::TensorProto &tensor, int64_t numBytes,
                             const std::function<NodeError()> &err) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const onnx::StringStringEntryProto &kv : tensor.external_data()) {
    if (kv.key() == "location")
      location = kv.value();
    else if (kv.key() == "offset" || kv.key() == "length") {
      int64_t parsed = 0;
      if (StringRef(kv.value()).getAsInteger(10, parsed) || parsed < 0)
        return err() << "external data " << kv.key() << " '" << kv.value()
                     << "' of tensor '" << tensor.name()
                     << "' is not a non-negative integer";
      (kv.key() == "offset" ? offset : length) = parsed;
    }
  }
  if (length < 0)
    length = numBytes;
  if (length != numBytes)
    return err() << "external data of tensor '" << tensor.name() << "' has "
                 << length << " bytes, expected " << numBytes;
  FailureOr<std::shared_ptr<llvm::MemoryBuffer>> file =
      openExternalFile(location, err);
  if (failed(file))
    return failure();
  uint64_t fileSize = (*file)->getBufferSize();
  if (static_cast<uint64_t>(offset) > fileSize ||
      static_cast<uint64_t>(length) > fileSize - offset)
    return err() << "external data of tensor '" << tensor.name() << "' (offset "
                 << offset << ", length " << length << ") lies outside '"
                 << location << "' (" << fileSize << " bytes)";
  return ExternalBytes{
      ArrayRef<char>((*file)->getBufferStart() + offset, length), *file};
}

/// Appends the typed (non-raw) payload of `tensor` to `out` as little-endian
/// elements of `width` bytes; returns the number of elements written.
static int64_t appendTypedData(const onnx::TensorProto &tensor, int64_t width,
                               std::vector<char> &out) {
  auto append = [&](auto value) {
    char bytes[8];
    std::memcpy(bytes, &value, sizeof(value));
    out.insert(out.end(), bytes, bytes + width);
  };
  switch (tensor.data_type()) {
  case onnx::TensorProto::FLOAT:
    for (float v : tensor.float_data())
      append(v);
    return tensor.float_data_size();
  case onnx::TensorProto::DOUBLE:
    for (double v : tensor.double_data())
      append(v);
    return tensor.double_data_size();
  case onnx::TensorProto::INT64:
    for (int64_t v : tensor.int64_data())
      append(v);
    return tensor.int64_data_size();
  case onnx::TensorProto::UINT64:
  case onnx::TensorProto::UINT32:
    for (uint64_t v : tensor.uint64_data()) {
      if (width == 4)
        append(static_cast<uint32_t>(v));
      else
        append(v);
    }
    return tensor.uint64_data_size();
  default:
    // INT32, INT16, INT8, UINT16, UINT8, BOOL, FLOAT16, BFLOAT16 live in
    // int32_data (the 16-bit floats as their bit patterns).
    for (int32_t v : tensor.int32_data()) {
      if (width == 4)
        append(v);
      else if (width == 2)
        append(static_cast<uint16_t>(v));
      else
        append(static_cast<uint8_t>(v));
    }
    return tensor.int32_data_size();
  }
}

FailureOr<ElementsAttr>
GraphImporter::tensorToAttr(onnx::TensorProto &tensor, RankedTensorType type,
                            const std::function<NodeError()> &err) {
  int32_t onnxType = tensor.data_type();
  int64_t width = onnxTypeByteWidth(onnxType);
  int64_t numElements = type.getNumElements();
  int64_t numBytes = numElements * width;
  bool isBool = onnxType == onnx::TensorProto::BOOL;
  bool small =
      numElements <= std::max<int64_t>(options.inlineConstantLimit, 0) ||
      isBool;
  size_t align = static_cast<size_t>(width);

  // Small (or boolean) tensors become ordinary dense attributes.
  auto denseFromBytes = [&](ArrayRef<char> bytes) -> ElementsAttr {
    if (isBool) {
      SmallVector<bool> bits;
      bits.reserve(bytes.size());
      for (char c : bytes)
        bits.push_back(c != 0);
      return DenseElementsAttr::get(type, bits);
    }
    return DenseElementsAttr::getFromRawBuffer(type, bytes);
  };
  auto resource = [&](AsmResourceBlob blob) -> ElementsAttr {
    return DenseResourceElementsAttr::get(type, sanitizeBlobName(tensor.name()),
                                          std::move(blob));
  };

  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    FailureOr<ExternalBytes> external = externalBytes(tensor, numBytes, err);
    if (failed(external))
      return failure();
    ArrayRef<char> bytes = external->bytes;
    if (small)
      return denseFromBytes(bytes);
    if (reinterpret_cast<uintptr_t>(bytes.data()) % align != 0)
      return resource(
          HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, align, false));
    // Zero copy: the blob references the mapping and keeps it alive.
    std::shared_ptr<llvm::MemoryBuffer> keepAlive = external->file;
    return resource(UnmanagedAsmResourceBlob::allocateWithAlign(
        bytes, align,
        [keepAlive](void *, size_t, size_t) mutable { keepAlive.reset(); }));
  }

  if (tensor.has_raw_data()) {
    if (static_cast<int64_t>(tensor.raw_data().size()) != numBytes)
      return err() << "tensor '" << tensor.name() << "' has "
                   << tensor.raw_data().size()
                   << " bytes of raw data, expected " << numBytes;
    ArrayRef<char> bytes(tensor.raw_data().data(), tensor.raw_data().size());
    if (small)
      return denseFromBytes(bytes);
    if (reinterpret_cast<uintptr_t>(bytes.data()) % align != 0)
      return resource(
          HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, align, false));
    // Zero copy: the blob takes ownership of the protobuf's string.
    auto *owned = new std::string(std::move(*tensor.mutable_raw_data()));
    tensor.clear_raw_data();
    ArrayRef<char> ownedBytes(owned->data(), owned->size());
    return resource(UnmanagedAsmResourceBlob::allocateWithAlign(
        ownedBytes, align, [owned](void *, size_t, size_t) { delete owned; }));
  }

  std::vector<char> bytes;
  bytes.reserve(numBytes);
  int64_t count = appendTypedData(tensor, width, bytes);
  if (count != numElements)
    return err() << "tensor '" << tensor.name() << "' holds " << count
                 << " elements, its shape needs " << numElements;
  if (small)
    return denseFromBytes(bytes);
  return resource(
      HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, align, false));
}

LogicalResult
GraphImporter::importTensor(onnx::TensorProto &tensor, ValueEntry &out,
                            const std::function<NodeError()> &err) {
  int32_t onnxType = tensor.data_type();
  Type elementType = getElementType(ctx, onnxType);
  if (!elementType)
    return err() << "tensor '" << tensor.name()
                 << "' has unsupported element type " << onnxTypeName(onnxType);
  SmallVector<int64_t> shape;
  for (int64_t d : tensor.dims()) {
    if (d < 0)
      return err() << "tensor '" << tensor.name()
                   << "' has a negative dimension";
    shape.push_back(d);
  }
  auto type = RankedTensorType::get(shape, elementType);
  FailureOr<ElementsAttr> attr = tensorToAttr(tensor, type, err);
  if (failed(attr))
    return failure();
  out = ValueEntry();
  out.onnxType = onnxType;
  if (auto dense = dyn_cast<DenseElementsAttr>(*attr)) {
    out.constant = ConstTensor::fromAttr(dense, onnxType);
    if (!out.constant)
      out.lazyAttr = dense;
  } else {
    out.lazyAttr = *attr;
  }
  return success();
}

LogicalResult GraphImporter::importInitializers() {
  onnx::GraphProto *graph = model.mutable_graph();
  for (onnx::TensorProto &init : *graph->mutable_initializer()) {
    ValueEntry e;
    std::string name = init.name();
    auto err = [&]() {
      return NodeError(fileLoc(), " (initializer '" + name + "')");
    };
    if (failed(importTensor(init, e, err)))
      return failure();
    values[name] = std::move(e);
  }
  return success();
}

LogicalResult GraphImporter::convertNode(const onnx::NodeProto &node) {
  std::string domain = normalizeDomain(node.domain());
  auto opsetIt = opsets.find(domain);
  int64_t opset = opsetIt == opsets.end() ? 1 : opsetIt->second;
  // A node of opset 1-6 converts as its opset-7 form.
  std::optional<onnx::NodeProto> upgraded;
  if (domain.empty() && opset < kConverterOpset) {
    NodeContext legacy(*this, node, nodeLoc(node), opset);
    FailureOr<std::optional<onnx::NodeProto>> u = upgradeLegacyNode(legacy);
    if (failed(u))
      return failure();
    upgraded = std::move(*u);
    opset = kConverterOpset;
  }
  NodeContext nc(*this, upgraded ? *upgraded : node, nodeLoc(node), opset);
  if (tryFoldNode(nc))
    return success();
  ConverterFn convert = getConverters().lookup(domain + "::" + node.op_type());
  if (failed(convert ? convert(nc) : convertThroughSchemaFunction(nc)))
    return failure();
  for (int i = 0; i < node.output_size(); ++i) {
    if (!node.output(i).empty() && !values.count(node.output(i)))
      return nc.error() << "output " << i << " ('" << node.output(i)
                        << "') is not produced by the importer";
  }
  return success();
}

LogicalResult
GraphImporter::convertSubgraph(const onnx::GraphProto &graph, Operation *scope,
                               Location loc, ArrayRef<ValueEntry> inputs,
                               SmallVectorImpl<Value> &outputs,
                               SmallVectorImpl<int32_t> &onnxTypes) {
  llvm::StringSet<> outer;
  for (const auto &entry : values)
    outer.insert(entry.getKey());
  // Outer values the subgraph's inputs hide, restored afterwards.
  llvm::StringMap<ValueEntry> shadowed;
  // The subgraph's names are its own: forget them afterwards, and the outer
  // values materialised inside `scope` (symbolic shapes), which later uses
  // outside it cannot see.
  llvm::scope_exit forget([&] {
    for (auto &entry : shadowed)
      values[entry.getKey()] = std::move(entry.second);
    for (auto it = values.begin(), end = values.end(); it != end;) {
      auto current = it++;
      if (!outer.contains(current->getKey())) {
        values.erase(current);
        continue;
      }
      Value v = current->second.value;
      if (scope && v && scope->isAncestor(v.getParentRegion()->getParentOp()))
        current->second.value = Value();
    }
  });
  if (graph.input_size() != static_cast<int>(inputs.size()))
    return emitError(loc) << "the subgraph '" << graph.name() << "' has "
                          << graph.input_size() << " inputs, the operator "
                          << "binds " << inputs.size();
  for (auto [info, entry] : llvm::zip(graph.input(), inputs)) {
    auto it = values.find(info.name());
    if (it != values.end() && !shadowed.count(info.name()))
      shadowed[info.name()] = std::move(it->second);
    values[info.name()] = entry;
  }
  if (graph.sparse_initializer_size() > 0)
    return emitError(loc) << "sparse initializers are not supported";
  for (const onnx::TensorProto &init : graph.initializer()) {
    if (values.count(init.name()))
      return emitError(loc) << "the subgraph initializer '" << init.name()
                            << "' shadows a value of an enclosing graph";
    onnx::TensorProto copy = init;
    ValueEntry e;
    auto err = [&]() {
      return NodeError(loc, " (subgraph initializer '" + init.name() + "')");
    };
    if (failed(importTensor(copy, e, err)))
      return failure();
    values[init.name()] = std::move(e);
  }
  // The checker requires subgraph nodes in topological order.
  for (const onnx::NodeProto &node : graph.node()) {
    for (const std::string &in : node.input())
      if (!in.empty() && !values.count(in))
        return emitError(nodeLoc(node))
               << "input '" << in
               << "' is not defined before this node in its subgraph or an "
                  "enclosing graph"
               << nodeSuffix(node);
    for (const std::string &out : node.output())
      if (!out.empty() && values.count(out))
        return emitError(nodeLoc(node))
               << "value '" << out << "' is defined more than once"
               << nodeSuffix(node);
    if (failed(convertNode(node)))
      return failure();
  }
  for (const onnx::ValueInfoProto &out : graph.output()) {
    Value v = lookup(out.name());
    if (!v)
      return emitError(loc)
             << "subgraph output '" << out.name() << "' has no value";
    // The declared type may know sizes the conversion did not (a slice at
    // the iteration number: one element).
    SmallVector<std::string> dimParams;
    if (failed(castToDeclaredType(v, out, "subgraph output", dimParams)))
      return failure();
    outputs.push_back(v);
    onnxTypes.push_back(values[out.name()].onnxType);
  }
  return success();
}

LogicalResult
GraphImporter::castToDeclaredType(Value &v, const onnx::ValueInfoProto &info,
                                  StringRef what,
                                  SmallVectorImpl<std::string> &dimParams) {
  auto type = cast<RankedTensorType>(v.getType());
  dimParams.assign(type.getRank(), "");
  if (!info.type().has_tensor_type() || !info.type().tensor_type().has_shape())
    return success();
  SmallVector<std::string> declaredParams;
  int32_t declaredOnnxType = 0;
  FailureOr<RankedTensorType> declared =
      importValueInfoType(info, what, declaredParams, declaredOnnxType);
  if (failed(declared))
    return failure();
  if (declared->getElementType() != type.getElementType() ||
      !tensor::CastOp::areCastCompatible(type, *declared))
    return emitError(fileLoc())
           << what << " '" << info.name() << "' is declared as " << *declared
           << " but computes " << type;
  // Keep the more static of the two shapes.
  SmallVector<int64_t> shape;
  for (auto [d, c] : llvm::zip(declared->getShape(), type.getShape()))
    shape.push_back(ShapedType::isDynamic(d) ? c : d);
  auto joined = type.clone(shape);
  // At the producing node's location: the runtime check of the cast
  // (--parsimony-insert-runtime-checks) names it.
  if (joined != type)
    v = tensor::CastOp::create(
        builder, v.getDefiningOp() ? v.getDefiningOp()->getLoc() : fileLoc(),
        joined, v);
  for (auto [i, p] : llvm::enumerate(declaredParams))
    if (ShapedType::isDynamic(joined.getDimSize(i)))
      dimParams[i] = p;
  return success();
}

LogicalResult GraphImporter::buildFunction(const std::vector<int> &order) {
  const onnx::GraphProto &graph = model.graph();
  // Arguments: graph inputs that are not initializers.
  SmallVector<Type> argTypes;
  SmallVector<DictionaryAttr> argAttrs;
  SmallVector<std::string> argNames;
  SmallVector<int32_t> argOnnxTypes;
  Builder b(ctx);
  auto makeAttrs = [&](StringRef name, ArrayRef<std::string> dimParams,
                       int32_t onnxType) {
    SmallVector<NamedAttribute> attrs;
    attrs.push_back(b.getNamedAttr("onnx.name", b.getStringAttr(name)));
    if (llvm::any_of(dimParams,
                     [](const std::string &s) { return !s.empty(); }))
      attrs.push_back(b.getNamedAttr("onnx.dim_params",
                                     b.getStrArrayAttr(SmallVector<StringRef>(
                                         dimParams.begin(), dimParams.end()))));
    if (isUnsignedOnnxType(onnxType))
      attrs.push_back(b.getNamedAttr("onnx.element_type",
                                     b.getStringAttr(onnxTypeName(onnxType))));
    return b.getDictionaryAttr(attrs);
  };
  for (const onnx::ValueInfoProto &in : graph.input()) {
    if (values.count(in.name()))
      continue; // An initializer (a default that is not an argument).
    SmallVector<std::string> dimParams;
    int32_t onnxType = 0;
    FailureOr<RankedTensorType> type =
        importValueInfoType(in, "graph input", dimParams, onnxType);
    if (failed(type))
      return failure();
    argTypes.push_back(*type);
    argAttrs.push_back(makeAttrs(in.name(), dimParams, onnxType));
    argNames.push_back(in.name());
    argOnnxTypes.push_back(onnxType);
  }

  builder.setInsertionPointToEnd(module.getBody());
  func = func::FuncOp::create(builder, fileLoc(), options.funcName,
                              b.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  for (auto [i, attrs] : llvm::enumerate(argAttrs))
    func.setArgAttrs(i, attrs);
  for (auto [i, name] : llvm::enumerate(argNames)) {
    ValueEntry &e = values[name];
    e.value = entry->getArgument(i);
    e.onnxType = argOnnxTypes[i];
  }
  builder.setInsertionPointToEnd(entry);

  // Nodes, in topological order.
  for (int index : order)
    if (failed(convertNode(graph.node(index))))
      return failure();

  // Results.
  SmallVector<Value> results;
  SmallVector<Type> resultTypes;
  SmallVector<DictionaryAttr> resultAttrs;
  for (const onnx::ValueInfoProto &out : graph.output()) {
    Value v = lookup(out.name());
    if (!v)
      return emitError(fileLoc())
             << "graph output '" << out.name() << "' has no value";
    SmallVector<std::string> dimParams;
    if (failed(castToDeclaredType(v, out, "graph output", dimParams)))
      return failure();
    auto type = cast<RankedTensorType>(v.getType());
    int32_t onnxType = values[out.name()].onnxType;
    results.push_back(v);
    resultTypes.push_back(type);
    resultAttrs.push_back(makeAttrs(out.name(), dimParams, onnxType));
  }
  func::ReturnOp::create(builder, fileLoc(), results);
  func.setType(b.getFunctionType(argTypes, resultTypes));
  for (auto [i, attrs] : llvm::enumerate(resultAttrs))
    func.setResultAttrs(i, attrs);
  return success();
}

FailureOr<OwningOpRef<ModuleOp>> GraphImporter::run() {
  if (!model.has_graph())
    return emitError(fileLoc()) << "the model has no graph";
  if (std::string err = inlineModelFunctions(model); !err.empty())
    return emitError(fileLoc()) << err;
  if (failed(checkOpsets()) || failed(checkSupported()))
    return failure();
  std::vector<int> order;
  if (failed(checkGraphStructure(order)))
    return failure();

  if (failed(widenFourBitTensors()))
    return failure();
  detail::registerCustomOnnxSchemas();
  if (options.runChecker) {
    std::string message = detail::checkOnnxModel(model, externalDataDir);
    if (!message.empty())
      return emitError(fileLoc()) << "invalid ONNX model: " << message;
  }
  if (options.runShapeInference) {
    std::string message =
        detail::inferOnnxShapes(model, /*lenient=*/opsets.count("") &&
                                           opsets.lookup("") < kConverterOpset);
    if (!message.empty())
      return emitError(fileLoc()) << "ONNX shape inference failed: " << message;
  }
  for (const onnx::ValueInfoProto &info : model.graph().value_info())
    inferredTypes[info.name()] = &info.type();

  OwningOpRef<ModuleOp> owned = ModuleOp::create(fileLoc());
  module = *owned;
  if (failed(importInitializers()) || failed(buildFunction(order)))
    return failure();
  if (failed(mlir::verify(*owned)))
    return emitError(fileLoc())
           << "internal error: the imported module does not verify";
  return owned;
}

//===----------------------------------------------------------------------===//
// Public API
//===----------------------------------------------------------------------===//

void parsimony::registerOnnxImporterDialects(DialectRegistry &registry) {
  registry.insert<arith::ArithDialect, cf::ControlFlowDialect,
                  func::FuncDialect, linalg::LinalgDialect, math::MathDialect,
                  scf::SCFDialect, tensor::TensorDialect, spx::SpxDialect>();
}

static void loadDialects(MLIRContext &context) {
  DialectRegistry registry;
  registerOnnxImporterDialects(registry);
  context.appendDialectRegistry(registry);
  context
      .loadDialect<arith::ArithDialect, cf::ControlFlowDialect,
                   func::FuncDialect, linalg::LinalgDialect, math::MathDialect,
                   scf::SCFDialect, tensor::TensorDialect, spx::SpxDialect>();
}

static FailureOr<OwningOpRef<ModuleOp>>
importParsed(onnx::ModelProto &model, MLIRContext &context,
             const OnnxImportOptions &options, StringRef modelName,
             std::string externalDataDir) {
  loadDialects(context);
  GraphImporter importer(&context, model, options, modelName,
                         std::move(externalDataDir));
  return importer.run();
}

FailureOr<OwningOpRef<ModuleOp>>
parsimony::importOnnxBytes(StringRef bytes, MLIRContext &context,
                           const OnnxImportOptions &options,
                           StringRef modelName) {
  Location loc = FileLineColLoc::get(&context, modelName, 0, 0);
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    return emitError(loc) << "the model is larger than 2 GiB; store its "
                             "weights as ONNX external data";
  onnx::ModelProto model;
  google::protobuf::io::CodedInputStream stream(
      reinterpret_cast<const uint8_t *>(bytes.data()),
      static_cast<int>(bytes.size()));
  stream.SetTotalBytesLimit(INT_MAX);
  if (!model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage())
    return emitError(loc) << "cannot parse the input as an ONNX model "
                             "(truncated or not an ONNX ModelProto)";
  std::string dir = options.externalDataDir.empty() ? std::string(".")
                                                    : options.externalDataDir;
  return importParsed(model, context, options, modelName, dir);
}

FailureOr<OwningOpRef<ModuleOp>>
parsimony::importOnnxFile(StringRef path, MLIRContext &context,
                          const OnnxImportOptions &options) {
  Location loc = FileLineColLoc::get(&context, path, 0, 0);
  int fd = ::open(path.str().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return emitError(loc) << "cannot open '" << path
                          << "': " << std::strerror(errno);
  // Stream the file through protobuf: weights are read once, into the
  // protobuf strings that the dense_resource blobs then take over.
  onnx::ModelProto model;
  bool parsed;
  {
    google::protobuf::io::FileInputStream raw(fd);
    google::protobuf::io::CodedInputStream stream(&raw);
    stream.SetTotalBytesLimit(INT_MAX);
    parsed = model.ParseFromCodedStream(&stream) &&
             stream.ConsumedEntireMessage() && raw.GetErrno() == 0;
  }
  ::close(fd);
  if (!parsed)
    return emitError(loc) << "cannot parse '" << path
                          << "' as an ONNX model (truncated, larger than 2 "
                             "GiB, or not an ONNX ModelProto)";
  std::string dir = options.externalDataDir;
  if (dir.empty()) {
    dir = llvm::sys::path::parent_path(path).str();
    if (dir.empty())
      dir = ".";
  }
  return importParsed(model, context, options, path, dir);
}

std::vector<std::string> parsimony::getSupportedOnnxOperators() {
  std::vector<std::string> ops;
  llvm::StringSet<> defaultDomain;
  for (const auto &entry : getConverters()) {
    auto [domain, op] = entry.getKey().split("::");
    ops.push_back(domain.empty() ? op.str() : (domain + ":" + op).str());
    if (domain.empty())
      defaultDomain.insert(op);
  }
  // Operators defined by a schema function whose body uses supported
  // operators only (bodies may use other such operators: to a fixed point).
  std::vector<detail::SchemaFunctionOps> functions =
      detail::listSchemaFunctionOps();
  for (bool changed = true; changed;) {
    changed = false;
    for (const detail::SchemaFunctionOps &fn : functions) {
      if (defaultDomain.contains(fn.opType) ||
          !llvm::all_of(fn.bodyOps, [&](const std::string &op) {
            return defaultDomain.contains(op);
          }))
        continue;
      defaultDomain.insert(fn.opType);
      ops.push_back(fn.opType);
      changed = true;
    }
  }
  llvm::sort(ops);
  return ops;
}

void parsimony::buildOnnxImportPipeline(PassManager &pm,
                                        bool raiseSparseIdioms) {
  if (raiseSparseIdioms)
    pm.addPass(spx::createSpxRaiseSparseIdioms());
  pm.addPass(createSymbolDCEPass());
}
