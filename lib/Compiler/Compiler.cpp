//===- Compiler.cpp - load, lower, emit and link a model ------------------===//

#include "parsimony/Compiler/Compiler.h"

#include "parsimony/InitAllParsimony.h"
#include "parsimony/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#ifdef PARSIMONY_HAVE_IMPORTER
#include "parsimony/Importer/OnnxImporter.h"
#endif

#include "llvm/ADT/StringSet.h"

#include <onnx/onnx_pb.h>

using namespace mlir;
using namespace parsimony;

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

int64_t parsimony::dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::Bool:
  case DType::Int8:
  case DType::UInt8:
    return 1;
  case DType::Int16:
  case DType::UInt16:
  case DType::Float16:
  case DType::BFloat16:
    return 2;
  case DType::Float32:
  case DType::Int32:
  case DType::UInt32:
    return 4;
  case DType::Int64:
  case DType::UInt64:
  case DType::Float64:
    return 8;
  }
  return 0;
}

StringRef parsimony::dtypeName(DType dtype) {
  switch (dtype) {
  case DType::Float32:
    return "float32";
  case DType::UInt8:
    return "uint8";
  case DType::Int8:
    return "int8";
  case DType::UInt16:
    return "uint16";
  case DType::Int16:
    return "int16";
  case DType::Int32:
    return "int32";
  case DType::Int64:
    return "int64";
  case DType::Bool:
    return "bool";
  case DType::Float16:
    return "float16";
  case DType::Float64:
    return "float64";
  case DType::UInt32:
    return "uint32";
  case DType::UInt64:
    return "uint64";
  case DType::BFloat16:
    return "bfloat16";
  }
  return "unknown";
}

int64_t TensorSignature::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

static std::optional<DType> dtypeOf(Type type) {
  if (type.isF32())
    return DType::Float32;
  if (type.isF16())
    return DType::Float16;
  if (type.isBF16())
    return DType::BFloat16;
  if (type.isF64())
    return DType::Float64;
  if (auto integer = dyn_cast<IntegerType>(type)) {
    bool isUnsigned = integer.isUnsigned();
    switch (integer.getWidth()) {
    case 1:
      return DType::Bool;
    case 8:
      return isUnsigned ? DType::UInt8 : DType::Int8;
    case 16:
      return isUnsigned ? DType::UInt16 : DType::Int16;
    case 32:
      return isUnsigned ? DType::UInt32 : DType::Int32;
    case 64:
      return isUnsigned ? DType::UInt64 : DType::Int64;
    default:
      return std::nullopt;
    }
  }
  return std::nullopt;
}

void parsimony::registerCompilerDialects(DialectRegistry &registry) {
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::registerAllToLLVMIRTranslations(registry);
  parsimony::registerAllDialects(registry);
}

//===----------------------------------------------------------------------===//
// Loading and preparing
//===----------------------------------------------------------------------===//

#ifdef PARSIMONY_HAVE_IMPORTER
/// Imports `path` with the frozen inputs moved from the graph's inputs to its
/// initializers.
static FailureOr<OwningOpRef<ModuleOp>>
importWithFrozenInputs(StringRef path, MLIRContext &context,
                       const CompileOptions &options,
                       ImportOptions importOptions) {
  Location loc = FileLineColLoc::get(&context, path, 0, 0);
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  onnx::ModelProto model;
  if (!buffer || !model.ParseFromArray((*buffer)->getBufferStart(),
                                       (*buffer)->getBufferSize()))
    return emitError(loc) << "cannot read the ONNX model to freeze inputs";
  onnx::GraphProto *graph = model.mutable_graph();
  for (const FrozenInput &frozen : options.frozenInputs) {
    auto *inputs = graph->mutable_input();
    auto it = std::find_if(inputs->begin(), inputs->end(),
                           [&](const onnx::ValueInfoProto &input) {
                             return input.name() == frozen.name;
                           });
    if (it == inputs->end())
      return emitError(loc) << "cannot freeze '" << frozen.name
                            << "': the model has no such input";
    inputs->erase(it);
    onnx::TensorProto *init = graph->add_initializer();
    init->set_name(frozen.name);
    init->set_data_type(static_cast<int32_t>(frozen.dtype));
    for (int64_t d : frozen.shape)
      init->add_dims(d);
    init->set_raw_data(frozen.bytes);
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    return emitError(loc) << "cannot re-serialize the ONNX model";
  if (importOptions.externalDataDir.empty())
    importOptions.externalDataDir = llvm::sys::path::parent_path(path).str();
  return importOnnxBytes(bytes, context, importOptions, path);
}
#endif

FailureOr<std::vector<std::string>>
parsimony::getOnnxGraphInputNames(StringRef path, std::string &error) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false);
  onnx::ModelProto model;
  if (!buffer || !model.ParseFromArray((*buffer)->getBufferStart(),
                                       (*buffer)->getBufferSize())) {
    error = "cannot read the ONNX model '" + path.str() + "'";
    return failure();
  }
  llvm::StringSet<> initializers;
  for (const onnx::TensorProto &init : model.graph().initializer())
    initializers.insert(init.name());
  std::vector<std::string> names;
  for (const onnx::ValueInfoProto &input : model.graph().input())
    if (!initializers.contains(input.name()))
      names.push_back(input.name());
  return names;
}

FailureOr<OwningOpRef<ModuleOp>>
parsimony::loadModel(StringRef path, MLIRContext &context,
                     const CompileOptions &options) {
  if (path.ends_with(".onnx")) {
#ifdef PARSIMONY_HAVE_IMPORTER
    ImportOptions importOptions;
    for (const auto &dim : options.dims)
      if (dim.getValue().size() == 1)
        importOptions.dimBindings[dim.getKey().str()] = dim.getValue().front();
      else
        return emitError(UnknownLoc::get(&context))
               << "--dim " << dim.getKey()
               << " lists several sizes, but an import binds one (the "
                  "compiler makes one shape variant per size)";
    FailureOr<OwningOpRef<ModuleOp>> module =
        options.frozenInputs.empty()
            ? importOnnxFile(path, context, importOptions)
            : importWithFrozenInputs(path, context, options, importOptions);
    if (failed(module))
      return failure();
    // Raise sparse idioms into spx, as parsimony-translate does by default.
    PassManager pm(&context);
    buildOnnxImportPipeline(pm, /*raiseSparseIdioms=*/true);
    if (failed(pm.run(**module)))
      return failure();
    return module;
#else
    emitError(UnknownLoc::get(&context))
        << "this build of Parsimony has no ONNX importer; cannot load '" << path
        << "'";
    return failure();
#endif
  }
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(path, &context);
  if (!module)
    return failure();
  return module;
}

/// Symbolic dimension names recorded by the importer for argument `index`.
static std::string symbolicDimName(func::FuncOp func, unsigned index,
                                   unsigned dim, bool isResult) {
  auto names =
      isResult ? func.getResultAttrOfType<ArrayAttr>(index, "onnx.dim_params")
               : func.getArgAttrOfType<ArrayAttr>(index, "onnx.dim_params");
  if (names && dim < names.size())
    if (auto name = dyn_cast<StringAttr>(names[dim]); name && !name.empty())
      return name.str();
  return {};
}

static FailureOr<TensorSignature> describe(func::FuncOp func, unsigned index,
                                           bool isResult) {
  Type type =
      isResult ? func.getResultTypes()[index] : func.getArgumentTypes()[index];
  auto name = isResult
                  ? func.getResultAttrOfType<StringAttr>(index, "onnx.name")
                  : func.getArgAttrOfType<StringAttr>(index, "onnx.name");
  TensorSignature tensor;
  tensor.name = name ? name.str()
                     : (isResult ? "output" : "input") + std::to_string(index);
  StringRef kind = isResult ? "output" : "input";
  auto ranked = dyn_cast<RankedTensorType>(type);
  if (!ranked)
    return func.emitError() << kind << " '" << tensor.name
                            << "' must be a ranked tensor, got " << type;
  std::optional<DType> dtype = dtypeOf(ranked.getElementType());
  if (!dtype)
    return func.emitError()
           << kind << " '" << tensor.name << "' has unsupported element type "
           << ranked.getElementType();
  tensor.dtype = *dtype;
  // MLIR integers are signless; the importer records ONNX's element type.
  auto onnxType =
      isResult
          ? func.getResultAttrOfType<StringAttr>(index, "onnx.element_type")
          : func.getArgAttrOfType<StringAttr>(index, "onnx.element_type");
  if (onnxType) {
    std::optional<DType> recorded =
        llvm::StringSwitch<std::optional<DType>>(onnxType.getValue())
            .Case("UINT8", DType::UInt8)
            .Case("UINT16", DType::UInt16)
            .Case("UINT32", DType::UInt32)
            .Case("UINT64", DType::UInt64)
            .Default(std::nullopt);
    if (recorded && dtypeSize(*recorded) == dtypeSize(tensor.dtype))
      tensor.dtype = *recorded;
  }
  for (auto [dim, size] : llvm::enumerate(ranked.getShape())) {
    if (ShapedType::isDynamic(size)) {
      std::string symbol = symbolicDimName(func, index, dim, isResult);
      InFlightDiagnostic diag = func.emitError()
                                << kind << " '" << tensor.name
                                << "' has a dynamic dimension " << dim;
      if (!symbol.empty())
        diag << " ('" << symbol << "'); bind it with --dim " << symbol
             << "=VALUE";
      else
        diag << "; compile with static shapes";
      return diag;
    }
    tensor.shape.push_back(size);
  }
  return tensor;
}

/// Records in `signature` the symbolic dimensions (onnx.dim_params) of
/// `entry`'s inputs and outputs and the sizes they were bound to.
static void collectBoundDims(func::FuncOp entry, ModelSignature &signature) {
  auto add = [&](ArrayAttr names, ArrayRef<int64_t> shape) {
    if (!names)
      return;
    for (auto [dim, name] : llvm::enumerate(names)) {
      auto str = dyn_cast<StringAttr>(name);
      if (!str || str.empty() || dim >= shape.size() ||
          llvm::any_of(signature.dims, [&](const DimBinding &d) {
            return d.first == str.getValue();
          }))
        continue;
      signature.dims.push_back({str.str(), shape[dim]});
    }
  };
  for (auto [i, input] : llvm::enumerate(signature.inputs))
    add(entry.getArgAttrOfType<ArrayAttr>(i, "onnx.dim_params"), input.shape);
  for (auto [i, output] : llvm::enumerate(signature.outputs))
    add(entry.getResultAttrOfType<ArrayAttr>(i, "onnx.dim_params"),
        output.shape);
  llvm::sort(signature.dims);
}

FailureOr<ModelSignature> parsimony::prepareEntry(ModuleOp module,
                                                  const CompileOptions &options,
                                                  StringRef entryName) {
  func::FuncOp entry;
  SmallVector<func::FuncOp> publicFuncs;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal())
      continue;
    if (!options.entry.empty() ? func.getSymName() == options.entry
                               : func.getSymName() == "main")
      entry = func;
    if (func.isPublic())
      publicFuncs.push_back(func);
  }
  if (!entry && options.entry.empty() && publicFuncs.size() == 1)
    entry = publicFuncs.front();
  if (!entry) {
    InFlightDiagnostic diag = module.emitError();
    if (!options.entry.empty())
      diag << "no function named '" << options.entry << "' to compile";
    else
      diag << "cannot pick the entry function: expected @main or exactly one "
              "public function, found "
           << publicFuncs.size();
    return diag;
  }

  ModelSignature signature;
  for (unsigned i = 0, e = entry.getNumArguments(); i < e; ++i) {
    FailureOr<TensorSignature> tensor = describe(entry, i, false);
    if (failed(tensor))
      return failure();
    signature.inputs.push_back(*tensor);
  }
  for (unsigned i = 0, e = entry.getNumResults(); i < e; ++i) {
    FailureOr<TensorSignature> tensor = describe(entry, i, true);
    if (failed(tensor))
      return failure();
    signature.outputs.push_back(*tensor);
  }
  if (signature.outputs.empty())
    return entry.emitError("the entry function has no results");
  collectBoundDims(entry, signature);

  // The C wrapper calls the entry under a model-specific name; everything
  // else becomes private so LLVM may internalize and inline it.
  for (auto func : module.getOps<func::FuncOp>())
    if (func != entry && !func.isExternal())
      func.setPrivate();
  entry.setSymName(entryName.empty() ? options.modelName + "_entry"
                                     : entryName.str());
  entry.setPublic();
  return signature;
}

//===----------------------------------------------------------------------===//
// Lowering and code generation
//===----------------------------------------------------------------------===//

bool parsimony::isGpuTargetAvailable() {
#ifdef PARSIMONY_GPU_RUNTIME_LIB
  return true;
#else
  return false;
#endif
}

/// The CUDA toolkit holding ptxas: $PARSIMONY_CUDA_PATH, else the one the
/// build used.
static std::string cudaToolkitPath() {
  if (const char *env = std::getenv("PARSIMONY_CUDA_PATH"))
    return env;
#ifdef PARSIMONY_CUDA_PATH
  return PARSIMONY_CUDA_PATH;
#else
  return "/usr/local/cuda";
#endif
}

LogicalResult parsimony::lowerToLLVMDialect(ModuleOp module,
                                            const CompileOptions &options) {
  if (options.groupSize != 0 && options.quantize != "int4")
    return emitError(module.getLoc())
           << "--group-size=" << options.groupSize
           << " applies to --quantize=int4 (int8 has one scale per output "
              "channel)";
  PassManager pm(module.getContext());
  bool gpu = options.target == "nvptx";
  auto common = [&](CpuPipelineOptions &pipeline) {
    pipeline.useKernels = options.useKernels;
    pipeline.approximateMath = options.approximateMath;
    pipeline.fuseEpilogues = options.fuseEpilogues;
    pipeline.runtimeChecks = options.runtimeChecks;
    pipeline.sparseFFN = options.sparseFFN;
    pipeline.topk = options.topk;
    pipeline.predictor = options.predictor;
    pipeline.quantize = options.quantize;
    pipeline.groupSize = options.groupSize;
    pipeline.moe = options.moe;
    pipeline.capacityFactor = options.capacityFactor;
  };
  if (gpu) {
    GpuPipelineOptions pipeline;
    common(pipeline);
    pipeline.chip = options.gpuArch;
    pipeline.format = options.gpuBinaryFormat;
    pipeline.toolkit = cudaToolkitPath();
    buildGpuPipeline(pm, pipeline);
  } else {
    CpuPipelineOptions pipeline;
    common(pipeline);
    buildCpuPipeline(pm, pipeline);
  }
  // Ops keep the location of the ONNX node they came from (a NameLoc);
  // pass errors name that node, since file:0:0 alone does not say where.
  ScopedDiagnosticHandler nameNodes(module.getContext(), [](Diagnostic &diag) {
    auto node = diag.getLocation()->findInstanceOf<NameLoc>();
    if (diag.getSeverity() == DiagnosticSeverity::Error && node &&
        !StringRef(diag.str()).contains("node '"))
      diag << " (ONNX node '" << node.getName().getValue() << "')";
    return failure(); // on to the tool's handler
  });
  // The generated C wrapper passes one bare pointer per tensor. An empty
  // tensor in a public function's signature may not get the bare-pointer
  // convention, and the function would then take descriptors instead.
  llvm::StringMap<std::string> emptyTensors;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isPrivate() || func.isExternal())
      continue;
    FunctionType type = func.getFunctionType();
    for (auto [i, t] : llvm::enumerate(
             llvm::concat<const Type>(type.getInputs(), type.getResults()))) {
      auto shaped = dyn_cast<ShapedType>(t);
      if (!shaped || !shaped.hasStaticShape() || shaped.getNumElements() != 0)
        continue;
      bool isArg = i < type.getNumInputs();
      unsigned index = isArg ? i : i - type.getNumInputs();
      auto name =
          isArg ? func.getArgAttrOfType<StringAttr>(index, "onnx.name")
                : func.getResultAttrOfType<StringAttr>(index, "onnx.name");
      llvm::raw_string_ostream os(emptyTensors[func.getSymName()]);
      os << (name ? "tensor '" + name.str() + "'"
                  : std::string(isArg ? "an input" : "an output"))
         << " is empty (" << shaped << ")";
      break;
    }
  }
  if (failed(pm.run(module)))
    return failure();
  for (auto fn : module.getOps<LLVM::LLVMFuncOp>()) {
    auto empty = emptyTensors.find(fn.getName());
    if (empty == emptyTensors.end() ||
        llvm::all_of(fn.getArgumentTypes(),
                     llvm::IsaPred<LLVM::LLVMPointerType>))
      continue;
    return fn.emitError() << "the " << (gpu ? "GPU" : "CPU")
                          << " pipeline cannot pass the signature of '"
                          << fn.getName()
                          << "' as one pointer per tensor: " << empty->second
                          << "; empty tensors in a model's signature are not "
                             "supported";
  }
  // The conversions to LLVM are partial: name whatever they left behind
  // rather than failing later in translation.
  WalkResult leftover = module.walk([&](Operation *op) {
    if (isa<ModuleOp>(op) || isa<LLVM::LLVMDialect>(op->getDialect()))
      return WalkResult::advance();
    // The kernels and their launches, translated by the GPU offloading
    // interface.
    if (gpu && isa<gpu::BinaryOp, gpu::LaunchFuncOp>(op))
      return WalkResult::advance();
    InFlightDiagnostic diag = op->emitError() << "the " << (gpu ? "GPU" : "CPU")
                                              << " pipeline could not lower '"
                                              << op->getName() << "' to LLVM";
    // The usual cause: an empty tensor in the function's signature, which
    // the bare-pointer calling convention cannot always pass.
    auto fn = dyn_cast<FunctionOpInterface>(op);
    if (!fn)
      fn = op->getParentOfType<FunctionOpInterface>();
    if (fn) {
      auto empty = emptyTensors.find(fn.getName());
      if (empty != emptyTensors.end())
        diag << ": " << empty->second
             << "; empty tensors in a model's signature are not supported";
    }
    return WalkResult::interrupt();
  });
  return failure(leftover.wasInterrupted());
}

FailureOr<std::string> parsimony::extractGpuBinary(ModuleOp module) {
  SmallVector<gpu::BinaryOp> binaries(module.getOps<gpu::BinaryOp>());
  Location loc = module.getLoc();
  if (binaries.empty())
    return emitError(loc, "the model has no generated GPU kernels: all its "
                          "work runs in the GPU runtime's kernel library "
                          "(lib/gpu/parsimony_gpu_kernels.ptx in the build "
                          "tree)");
  if (binaries.size() != 1)
    return emitError(loc, "expected one gpu.binary, found ") << binaries.size();
  auto objects = binaries.front().getObjects();
  if (objects.size() != 1)
    return emitError(loc, "expected one GPU object, found ") << objects.size();
  return cast<gpu::ObjectAttr>(objects[0]).getObject().getValue().str();
}

/// The LLVM CPU name and feature string for `cpu`.
static std::pair<std::string, std::string> resolveCpu(StringRef cpu) {
  if (cpu != "native")
    return {cpu.str(), ""};
  SmallVector<std::string> features;
  for (const auto &feature : llvm::sys::getHostCPUFeatures())
    features.push_back((feature.getValue() ? "+" : "-") +
                       feature.getKey().str());
  return {llvm::sys::getHostCPUName().str(), llvm::join(features, ",")};
}

FailureOr<std::string> parsimony::emitNative(ModuleOp module,
                                             const CompileOptions &options,
                                             bool emitObject) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, options.modelName);
  if (!llvmModule)
    return module.emitError("failed to translate the module to LLVM IR");

  llvm::Triple triple(llvm::sys::getProcessTriple());
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return module.emitError()
           << "no LLVM target for " << triple.str() << ": " << error;
  auto [cpu, features] = resolveCpu(options.cpu);
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget(
      target->createMCSubtargetInfo(triple, cpu, ""));
  if (!subtarget || !subtarget->isCPUStringValid(cpu))
    return module.emitError() << "unknown CPU '" << options.cpu
                              << "' (use native, x86-64-v3 or x86-64-v4)";
  llvm::TargetOptions targetOptions;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, cpu, features, targetOptions, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    return module.emitError("failed to create the LLVM target machine");
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(triple);
  // Per-function attributes so every pass sees the target's vector width.
  for (llvm::Function &fn : *llvmModule) {
    if (fn.isDeclaration())
      continue;
    fn.addFnAttr("target-cpu", cpu);
    if (!features.empty())
      fn.addFnAttr("target-features", features);
  }

  // The O3 pipeline with loop and SLP vectorization.
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PipelineTuningOptions tuning;
    tuning.LoopUnrolling = true;
    tuning.LoopInterleaving = true;
    tuning.LoopVectorization = true;
    tuning.SLPVectorization = true;
    llvm::PassBuilder builder(machine.get(), tuning);
    builder.registerModuleAnalyses(mam);
    builder.registerCGSCCAnalyses(cgam);
    builder.registerFunctionAnalyses(fam);
    builder.registerLoopAnalyses(lam);
    builder.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm =
        builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    mpm.run(*llvmModule, mam);
  }

  std::string result;
  llvm::raw_string_ostream os(result);
  if (!emitObject) {
    llvmModule->print(os, nullptr);
    return result;
  }
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream objectStream(buffer);
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, objectStream, nullptr,
                                   llvm::CodeGenFileType::ObjectFile))
    return module.emitError("the target cannot emit object files");
  codegen.run(*llvmModule);
  return std::string(buffer.begin(), buffer.end());
}

//===----------------------------------------------------------------------===//
// C API generation and linking
//===----------------------------------------------------------------------===//

static std::string cType(DType dtype) {
  switch (dtype) {
  case DType::Float32:
    return "float";
  case DType::Float64:
    return "double";
  case DType::Int64:
    return "int64_t";
  case DType::UInt64:
    return "uint64_t";
  case DType::Int32:
    return "int32_t";
  case DType::UInt32:
    return "uint32_t";
  case DType::Int16:
    return "int16_t";
  case DType::UInt16:
  case DType::Float16:
  case DType::BFloat16:
    return "uint16_t";
  case DType::Int8:
    return "int8_t";
  case DType::UInt8:
  case DType::Bool:
    return "uint8_t";
  }
  return "void";
}

static std::string shapeString(const TensorSignature &tensor) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(tensor.shape))
    s += (i ? ", " : "") + std::to_string(d);
  return s + "]";
}

/// A C identifier for a tensor name (used for parameter names).
static std::string identifier(StringRef name, StringRef fallback) {
  std::string id;
  for (char c : name)
    id += llvm::isAlnum(c) ? c : '_';
  if (id.empty() || llvm::isDigit(id.front()))
    id = fallback.str() + "_" + id;
  return id;
}

static constexpr const char *kAbiDefinitions = R"c(
#ifndef PARSIMONY_MODEL_ABI_V1
#define PARSIMONY_MODEL_ABI_V1 1
/* Element types, numbered as ONNX TensorProto.DataType. */
typedef enum parsimony_dtype {
  PARSIMONY_FLOAT32 = 1, PARSIMONY_UINT8 = 2, PARSIMONY_INT8 = 3,
  PARSIMONY_UINT16 = 4, PARSIMONY_INT16 = 5, PARSIMONY_INT32 = 6,
  PARSIMONY_INT64 = 7, PARSIMONY_BOOL = 9, PARSIMONY_FLOAT16 = 10,
  PARSIMONY_FLOAT64 = 11, PARSIMONY_UINT32 = 12, PARSIMONY_UINT64 = 13,
  PARSIMONY_BFLOAT16 = 16
} parsimony_dtype;

typedef struct parsimony_tensor_info {
  const char *name;     /* the ONNX graph input/output name */
  int32_t dtype;        /* a parsimony_dtype */
  int32_t rank;
  const int64_t *shape; /* rank sizes, row-major, contiguous */
} parsimony_tensor_info;

typedef struct parsimony_model_info {
  uint32_t abi_version; /* 1 */
  const char *name;
  int32_t num_inputs;
  const parsimony_tensor_info *inputs;
  int32_t num_outputs;
  const parsimony_tensor_info *outputs;
  /* The symbolic dimensions this shape variant binds: num_dims names and
     sizes. Only in libraries that export parsimony_model_v1_num_variants. */
  int32_t num_dims;
  const char *const *dim_names;
  const int64_t *dim_values;
} parsimony_model_info;
#endif
)c";

std::string parsimony::generateHeader(ArrayRef<ModelSignature> variants,
                                      const CompileOptions &options) {
  std::string name = options.modelName;
  std::string guard = "PARSIMONY_MODEL_" + llvm::StringRef(name).upper() + "_H";
  std::string h;
  llvm::raw_string_ostream os(h);
  os << "/* Generated by parsimony-compile: the C API of model '" << name
     << "'.\n   See docs/abi.md. */\n";
  os << "#ifndef " << guard << "\n#define " << guard << "\n\n";
  os << "#include <stdint.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n";
  os << kAbiDefinitions << "\n";
  for (auto [v, signature] : llvm::enumerate(variants)) {
    if (variants.size() > 1)
      os << "/* Shape variant " << v << " (" << describeDims(signature.dims)
         << ")" << (v == 0 ? ", the default" : "") << ".\n * Inputs:\n";
    else
      os << "/* Inputs:\n";
    for (auto [i, t] : llvm::enumerate(signature.inputs))
      os << " *   " << i << " \"" << t.name << "\": " << dtypeName(t.dtype)
         << " " << shapeString(t) << "\n";
    os << " * Outputs:\n";
    for (auto [i, t] : llvm::enumerate(signature.outputs))
      os << " *   " << i << " \"" << t.name << "\": " << dtypeName(t.dtype)
         << " " << shapeString(t) << "\n";
    os << " */\n\n";
  }
  const ModelSignature &signature = variants.front();
  StringRef which = variants.size() > 1 ? " of variant 0" : "";
  os << "/* Names, types and shapes of the inputs and outputs" << which
     << ". */\n";
  os << "const parsimony_model_info *" << name << "_info(void);\n\n";
  os << "/* Runs the model" << which
     << ": inputs[i] and outputs[i] point to\n"
        "   contiguous, row-major buffers of the shapes above (any "
        "alignment).\n"
        "   Outputs are overwritten. Reentrant: concurrent calls with "
        "distinct\n"
        "   outputs are safe. Returns 0, or non-zero when the run failed (4:\n"
        "   sizes computed from the inputs' contents contradict the model's\n"
        "   shapes; a GPU model without a usable GPU, a failed kernel): see\n"
        "   parsimony_model_v1_last_error. The outputs of a failed run are\n"
        "   undefined. */\n";
  os << "int32_t " << name
     << "_run(const void *const *inputs, void *const *outputs);\n\n";
  os << "/* The same, one pointer per tensor. */\n";
  os << "int32_t " << name << "_run_args(";
  bool first = true;
  for (auto [i, t] : llvm::enumerate(signature.inputs)) {
    os << (first ? "" : ", ") << "const " << cType(t.dtype) << " *"
       << identifier(t.name, "input");
    first = false;
  }
  for (auto [i, t] : llvm::enumerate(signature.outputs)) {
    os << (first ? "" : ", ") << cType(t.dtype) << " *"
       << identifier(t.name, "output");
    first = false;
  }
  os << ");\n\n";
  os << "/* Shape variants: the library holds one compiled variant per "
        "binding of\n"
        "   the model's symbolic dimensions (parsimony-compile --dim "
        "NAME=V1,V2).\n"
        "   find_variant returns the variant whose input shapes equal\n"
        "   input_shapes[i][0, rank) for every input, or -1; variant_info "
        "gives\n"
        "   its shapes (outputs included) and bound dims, or NULL out of "
        "range;\n"
        "   run_variant runs it (3: no such variant); run_shaped does both "
        "and\n"
        "   returns 3 when no variant takes those shapes. */\n";
  os << "int32_t " << name << "_num_variants(void);\n";
  os << "const parsimony_model_info *" << name
     << "_variant_info(int32_t variant);\n";
  os << "int32_t " << name
     << "_find_variant(const int64_t *const *input_shapes);\n";
  os << "int32_t " << name
     << "_run_variant(int32_t variant, const void *const *inputs,\n"
        "                    void *const *outputs);\n";
  os << "int32_t " << name
     << "_run_shaped(const void *const *inputs,\n"
        "                   const int64_t *const *input_shapes,\n"
        "                   void *const *outputs);\n\n";
  os << "/* Model-independent names of the entry points above, for\n"
        "   loaders that dlopen() the library (such as parsimony-run). */\n";
  os << "const parsimony_model_info *parsimony_model_v1_info(void);\n";
  os << "int32_t parsimony_model_v1_run(const void *const *inputs,\n"
        "                               void *const *outputs);\n";
  os << "int32_t parsimony_model_v1_num_variants(void);\n";
  os << "const parsimony_model_info *parsimony_model_v1_variant_info(int32_t "
        "variant);\n";
  os << "int32_t parsimony_model_v1_find_variant(const int64_t *const "
        "*input_shapes);\n";
  os << "int32_t parsimony_model_v1_run_variant(int32_t variant,\n"
        "                                       const void *const *inputs,\n"
        "                                       void *const *outputs);\n";
  os << "/* Why the last failed run failed (\"\" after a successful one). */\n";
  os << "const char *parsimony_model_v1_last_error(void);\n";
  os << "/* Stops the runtime's worker threads; call it before dlclose(). */\n";
  os << "void parsimony_model_v1_unload(void);\n";
  os << "/* Activation-sparsity profiling (docs/abi.md). begin clears the\n"
        "   records and turns profiling on for this library; every run "
        "then\n"
        "   records per-layer figures; report writes them as JSON to\n"
        "   buffer[0, size) (NUL-terminated, truncated) and returns the "
        "full\n"
        "   length; end turns profiling off. */\n";
  os << "void parsimony_model_v1_profile_begin(void);\n";
  os << "int64_t parsimony_model_v1_profile_report(char *buffer, int64_t "
        "size);\n";
  os << "void parsimony_model_v1_profile_end(void);\n\n";
  os << "#ifdef __cplusplus\n}\n#endif\n\n#endif /* " << guard << " */\n";
  return h;
}

/// The C source that implements the API declared by generateHeader on top of
/// the bare-pointer entry function.
/// C code that maps the sidecar weights file when the library is loaded
/// and binds the model's weight pointers into it; on failure the runs
/// return 2 with the reason in parsimony__weights_error.
static void generateWeightsLoader(raw_ostream &os, StringRef name,
                                  const WeightsFile &weights) {
  os << "extern void " << name << "_bind_weights(const void *base);\n"
     << "static char parsimony__weights_error[1024];\n"
     << "static void parsimony__load_weights(void) "
        "__attribute__((constructor));\n"
     << "static void parsimony__load_weights(void) {\n"
     << "  Dl_info info;\n"
     << "  char path[4096];\n"
     << "  if (!dladdr((void *)&parsimony__load_weights, &info) ||\n"
     << "      !info.dli_fname) {\n"
     << "    snprintf(parsimony__weights_error, sizeof "
        "parsimony__weights_error,\n"
     << "             \"cannot locate the model library to find its weights "
        "file\");\n"
     << "    return;\n  }\n"
     << "  snprintf(path, sizeof path, \"%s.weights\", info.dli_fname);\n"
     << "  int fd = open(path, O_RDONLY | O_CLOEXEC);\n"
     << "  struct stat st;\n"
     << "  if (fd < 0 || fstat(fd, &st) != 0) {\n"
     << "    snprintf(parsimony__weights_error, sizeof "
        "parsimony__weights_error,\n"
     << "             \"cannot open the weights file %s: %s\", path, "
        "strerror(errno));\n"
     << "    if (fd >= 0)\n      close(fd);\n"
     << "    return;\n  }\n"
     << "  if ((long long)st.st_size != " << 64 + weights.payloadBytes
     << "LL) {\n"
     << "    snprintf(parsimony__weights_error, sizeof "
        "parsimony__weights_error,\n"
     << "             \"the weights file %s has %lld bytes, expected "
     << 64 + weights.payloadBytes << " (a file of another build?)\", path,\n"
     << "             (long long)st.st_size);\n"
     << "    close(fd);\n    return;\n  }\n"
     << "  void *base = mmap(0, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, "
        "fd, 0);\n"
     << "  close(fd);\n"
     << "  unsigned long long id = 0;\n"
     << "  if (base != MAP_FAILED)\n"
     << "    memcpy(&id, (const char *)base + 8, 8);\n"
     << "  if (base == MAP_FAILED || memcmp(base, \"PRSMWGT1\", 8) != 0 ||\n"
     << "      id != " << weights.buildId << "ULL) {\n"
     << "    snprintf(parsimony__weights_error, sizeof "
        "parsimony__weights_error,\n"
     << "             \"%s is not the weights file of this library "
        "build\", path);\n"
     << "    if (base != MAP_FAILED)\n"
     << "      munmap(base, (size_t)st.st_size);\n"
     << "    return;\n  }\n"
     << "  " << name << "_bind_weights(base);\n}\n\n";
}

static std::string generateWrapper(ArrayRef<ModelSignature> variants,
                                   const CompileOptions &options,
                                   const WeightsFile *weights) {
  std::string name = options.modelName;
  std::string c;
  llvm::raw_string_ostream os(c);
  bool gpu = options.target == "nvptx";
  size_t numVariants = variants.size();
  const ModelSignature &first = variants.front();
  os << "/* Generated by parsimony-compile. */\n";
  if (weights)
    os << "#define _GNU_SOURCE\n#include <dlfcn.h>\n#include <errno.h>\n"
          "#include <fcntl.h>\n#include <string.h>\n"
          "#include <sys/mman.h>\n#include <sys/stat.h>\n"
          "#include <unistd.h>\n";
  os << "#include <stdio.h>\n#include \"model.h\"\n\n";
  if (weights)
    generateWeightsLoader(os, name, *weights);
  // Errors of the call itself (no such variant), per thread.
  os << "static _Thread_local char parsimony__call_error[512];\n\n";
  auto escape = [](StringRef text) {
    std::string escaped;
    llvm::raw_string_ostream es(escaped);
    llvm::printEscapedString(text, es);
    return escaped;
  };
  // GPU models bracket every run: the runtime initialises the device and
  // returns the first error of the run.
  std::string begin;
  if (weights)
    begin = "if (parsimony__weights_error[0])\n    return 2;\n  ";
  if (gpu) {
    os << "extern int32_t parsimony_gpu_begin_run(void);\n"
          "extern int32_t parsimony_gpu_end_run(void);\n"
          "extern void parsimony_gpu_release_run_buffers(void);\n"
          "extern const char *parsimony_gpu_last_error(void);\n\n";
    begin += "if (parsimony_gpu_begin_run())\n    return 1;\n  ";
  }
  // Every run is bracketed by the runtime's run scope
  // (parsimony/Runtime/RunScope.h): a failed runtime check returns early
  // from the entry point, its temporaries are freed and the run returns 4.
  begin += "parsimony_run_begin();\n  ";
  std::string end = "parsimony__end_run()";
  os << "extern void parsimony_run_begin(void);\n"
        "extern const char *parsimony_run_end(void);\n\n"
        "static int32_t parsimony__end_run(void) {\n"
        "  const char *failed = parsimony_run_end();\n";
  if (gpu)
    os << "  if (failed)\n    parsimony_gpu_release_run_buffers();\n"
          "  int32_t status = parsimony_gpu_end_run();\n";
  os << "  if (failed) {\n"
        "    snprintf(parsimony__call_error, sizeof parsimony__call_error,\n"
        "             \"model '%s': %s\", \""
     << escape(name) << "\", failed);\n"
     << "    return 4;\n  }\n  return " << (gpu ? "status" : "0") << ";\n}\n\n";
  for (size_t v = 0; v < numVariants; ++v) {
    size_t numArgs = variants[v].inputs.size() + variants[v].outputs.size();
    os << "extern void " << variantEntryName(options, v, numVariants) << "(";
    for (size_t i = 0; i < numArgs; ++i)
      os << (i ? ", " : "") << "void *";
    os << ");\n";
  }
  os << "\n";
  // The runtime's profiling registry (parsimony/Runtime/Profile.h), linked
  // in from the runtime archive.
  os << "extern void parsimony_profile_enable(int32_t on);\n"
        "extern void parsimony_profile_run_begin(void);\n"
        "extern int64_t parsimony_profile_report(char *buffer, int64_t "
        "size);\n\n";
  auto emitInfos = [&](const std::string &prefix,
                       const std::vector<TensorSignature> &tensors) {
    for (auto [i, t] : llvm::enumerate(tensors)) {
      os << "static const int64_t " << prefix << "_shape_" << i << "[] = {";
      for (int64_t d : t.shape)
        os << d << ", ";
      os << "0};\n";
    }
    os << "static const parsimony_tensor_info " << prefix << "_infos[] = {\n";
    for (auto [i, t] : llvm::enumerate(tensors))
      os << "  {\"" << escape(t.name) << "\", " << static_cast<int32_t>(t.dtype)
         << ", " << t.shape.size() << ", " << prefix << "_shape_" << i
         << "},\n";
    if (tensors.empty())
      os << "  {0, 0, 0, 0},\n";
    os << "};\n";
  };
  std::string escapedName = escape(name);
  for (auto [v, signature] : llvm::enumerate(variants)) {
    std::string prefix = "parsimony__v" + std::to_string(v);
    emitInfos(prefix + "_input", signature.inputs);
    emitInfos(prefix + "_output", signature.outputs);
    os << "static const char *const " << prefix << "_dim_names[] = {";
    for (const DimBinding &dim : signature.dims)
      os << "\"" << escape(dim.first) << "\", ";
    os << "0};\n";
    os << "static const int64_t " << prefix << "_dim_values[] = {";
    for (const DimBinding &dim : signature.dims)
      os << dim.second << ", ";
    os << "0};\n";
  }
  os << "static const parsimony_model_info parsimony__models[" << numVariants
     << "] = {\n";
  for (auto [v, signature] : llvm::enumerate(variants)) {
    std::string prefix = "parsimony__v" + std::to_string(v);
    os << "  {1, \"" << escapedName << "\", " << signature.inputs.size() << ", "
       << prefix << "_input_infos, " << signature.outputs.size() << ", "
       << prefix << "_output_infos, " << signature.dims.size() << ", " << prefix
       << "_dim_names, " << prefix << "_dim_values},\n";
  }
  os << "};\n\n";
  std::string bindings;
  for (const ModelSignature &signature : variants)
    bindings += (bindings.empty() ? "" : "; ") + describeDims(signature.dims);

  os << "const parsimony_model_info *" << name
     << "_info(void) { return &parsimony__models[0]; }\n\n";
  os << "int32_t " << name << "_num_variants(void) { return " << numVariants
     << "; }\n\n";
  os << "const parsimony_model_info *" << name
     << "_variant_info(int32_t variant) {\n  return variant >= 0 && variant < "
     << numVariants << " ? &parsimony__models[variant] : 0;\n}\n\n";
  os << "int32_t " << name
     << "_find_variant(const int64_t *const *input_shapes) {\n"
        "  if (!input_shapes && parsimony__models[0].num_inputs)\n"
        "    return -1;\n"
     << "  for (int32_t v = 0; v < " << numVariants << "; ++v) {\n"
     << "    const parsimony_model_info *m = &parsimony__models[v];\n"
        "    int ok = 1;\n"
        "    for (int32_t i = 0; ok && i < m->num_inputs; ++i)\n"
        "      for (int32_t d = 0; ok && d < m->inputs[i].rank; ++d)\n"
        "        ok = input_shapes[i] && input_shapes[i][d] == "
        "m->inputs[i].shape[d];\n"
        "    if (ok)\n      return v;\n  }\n  return -1;\n}\n\n";
  // One dispatcher from a variant number to its entry.
  auto emitCall = [&](size_t v) {
    const ModelSignature &signature = variants[v];
    os << variantEntryName(options, v, numVariants) << "(";
    size_t arg = 0;
    for (size_t i = 0; i < signature.inputs.size(); ++i)
      os << (arg++ ? ", " : "") << "(void *)inputs[" << i << "]";
    for (size_t i = 0; i < signature.outputs.size(); ++i)
      os << (arg++ ? ", " : "") << "outputs[" << i << "]";
    os << ")";
  };
  os << "int32_t " << name
     << "_run_variant(int32_t variant, const void *const *inputs,\n"
        "                    void *const *outputs) {\n"
        "  parsimony__call_error[0] = 0;\n"
     << "  if (variant < 0 || variant >= " << numVariants << ") {\n"
     << "    snprintf(parsimony__call_error, sizeof parsimony__call_error,\n"
        "             \"model '%s' has no shape variant %d (it has "
     << numVariants << ")\", \"" << escapedName << "\", (int)variant);\n"
     << "    return 3;\n  }\n"
     << "  parsimony_profile_run_begin();\n  " << begin
     << "switch (variant) {\n";
  for (size_t v = 0; v < numVariants; ++v) {
    os << "  case " << v << ":\n    ";
    emitCall(v);
    os << ";\n    break;\n";
  }
  os << "  }\n  return " << end << ";\n}\n\n";
  os << "int32_t " << name
     << "_run(const void *const *inputs, void *const *outputs) {\n"
     << "  return " << name << "_run_variant(0, inputs, outputs);\n}\n\n";
  os << "int32_t " << name
     << "_run_shaped(const void *const *inputs,\n"
        "                   const int64_t *const *input_shapes,\n"
        "                   void *const *outputs) {\n"
     << "  int32_t variant = " << name << "_find_variant(input_shapes);\n"
     << "  if (variant < 0) {\n"
     << "    snprintf(parsimony__call_error, sizeof parsimony__call_error,\n"
        "             \"model '%s' has no shape variant for these input "
        "shapes (compiled: %s)\", \""
     << escapedName << "\", \""
     << escape(bindings.empty() ? "static shapes" : bindings) << "\");\n"
     << "    return 3;\n  }\n"
     << "  return " << name << "_run_variant(variant, inputs, outputs);\n}\n\n";
  os << "int32_t " << name << "_run_args(";
  size_t arg = 0;
  for (const TensorSignature &t : first.inputs)
    os << (arg++ ? ", " : "") << "const " << cType(t.dtype) << " *"
       << identifier(t.name, "input");
  for (const TensorSignature &t : first.outputs)
    os << (arg++ ? ", " : "") << cType(t.dtype) << " *"
       << identifier(t.name, "output");
  os << ") {\n  parsimony__call_error[0] = 0;\n"
     << "  parsimony_profile_run_begin();\n  " << begin
     << variantEntryName(options, 0, numVariants) << "(";
  arg = 0;
  for (const TensorSignature &t : first.inputs)
    os << (arg++ ? ", " : "") << "(void *)" << identifier(t.name, "input");
  for (const TensorSignature &t : first.outputs)
    os << (arg++ ? ", " : "") << "(void *)" << identifier(t.name, "output");
  os << ");\n  return " << end << ";\n}\n\n";
  os << "const parsimony_model_info *parsimony_model_v1_info(void) {\n"
        "  return &parsimony__models[0];\n}\n";
  os << "int32_t parsimony_model_v1_run(const void *const *inputs,\n"
        "                               void *const *outputs) {\n  return "
     << name << "_run(inputs, outputs);\n}\n";
  os << "int32_t parsimony_model_v1_num_variants(void) {\n  return " << name
     << "_num_variants();\n}\n";
  os << "const parsimony_model_info *parsimony_model_v1_variant_info(int32_t "
        "variant) {\n  return "
     << name << "_variant_info(variant);\n}\n";
  os << "int32_t parsimony_model_v1_find_variant(const int64_t *const "
        "*input_shapes) {\n  return "
     << name << "_find_variant(input_shapes);\n}\n";
  os << "int32_t parsimony_model_v1_run_variant(int32_t variant,\n"
        "                                       const void *const *inputs,\n"
        "                                       void *const *outputs) {\n"
        "  return "
     << name << "_run_variant(variant, inputs, outputs);\n}\n";
  os << "extern void parsimony_runtime_shutdown(void);\n"
        "void parsimony_model_v1_unload(void) {\n"
        "  parsimony_runtime_shutdown();\n}\n";
  os << "const char *parsimony_model_v1_last_error(void) {\n"
        "  if (parsimony__call_error[0])\n"
        "    return parsimony__call_error;\n";
  if (weights)
    os << "  if (parsimony__weights_error[0])\n"
          "    return parsimony__weights_error;\n";
  os << "  return " << (gpu ? "parsimony_gpu_last_error()" : "\"\"")
     << ";\n}\n";
  os << "void parsimony_model_v1_profile_begin(void) {\n"
        "  parsimony_profile_enable(1);\n}\n"
        "int64_t parsimony_model_v1_profile_report(char *buffer, int64_t "
        "size) {\n"
        "  return parsimony_profile_report(buffer, size);\n}\n"
        "void parsimony_model_v1_profile_end(void) {\n"
        "  parsimony_profile_enable(0);\n}\n";
  return c;
}

/// Finds the runtime library the generated code calls into.
static std::string
findRuntimeLibrary(StringRef file = "libParsimonyRuntime.a") {
  SmallVector<std::string> dirs;
  if (const char *env = std::getenv("PARSIMONY_RUNTIME_DIR"))
    dirs.push_back(env);
  std::string exe =
      llvm::sys::fs::getMainExecutable(nullptr, (void *)&findRuntimeLibrary);
  if (!exe.empty())
    dirs.push_back(
        (llvm::sys::path::parent_path(llvm::sys::path::parent_path(exe)) +
         "/lib")
            .str());
#ifdef PARSIMONY_RUNTIME_LIB_DIR
  dirs.push_back(PARSIMONY_RUNTIME_LIB_DIR);
#endif
  for (const std::string &dir : dirs) {
    std::string candidate = (dir + "/" + file).str();
    if (llvm::sys::fs::exists(candidate))
      return candidate;
  }
  return {};
}

LogicalResult parsimony::linkSharedLibrary(StringRef objectBytes,
                                           ArrayRef<ModelSignature> variants,
                                           const CompileOptions &options,
                                           StringRef outputPath,
                                           const WeightsFile *weights) {
  SmallString<128> dir;
  if (llvm::sys::fs::createUniqueDirectory("parsimony-link", dir)) {
    llvm::errs() << "error: cannot create a temporary directory\n";
    return failure();
  }
  llvm::scope_exit cleanup([&] { llvm::sys::fs::remove_directories(dir); });
  std::string object = (dir + "/model.o").str();
  std::string wrapper = (dir + "/wrapper.c").str();
  std::string header = (dir + "/model.h").str();
  std::string library = (dir + "/model.so").str();
  std::string log = (dir + "/link.log").str();
  if (failed(writeFileAtomically(object, objectBytes)) ||
      failed(writeFileAtomically(
          wrapper, generateWrapper(variants, options, weights))) ||
      failed(writeFileAtomically(header, generateHeader(variants, options))))
    return failure();

  std::string runtime = findRuntimeLibrary();
  if (runtime.empty()) {
    llvm::errs() << "error: cannot find libParsimonyRuntime.a (set "
                    "PARSIMONY_RUNTIME_DIR to the directory holding it)\n";
    return failure();
  }
  std::string gpuRuntime;
  if (options.target == "nvptx") {
    gpuRuntime = findRuntimeLibrary("libParsimonyGpuRuntime.a");
    if (gpuRuntime.empty()) {
      llvm::errs() << "error: cannot find libParsimonyGpuRuntime.a (set "
                      "PARSIMONY_RUNTIME_DIR to the directory holding it)\n";
      return failure();
    }
  }
  const char *cxxEnv = std::getenv("CXX");
  llvm::ErrorOr<std::string> compiler =
      llvm::sys::findProgramByName(cxxEnv ? cxxEnv : "c++");
  if (!compiler) {
    llvm::errs() << "error: no C++ compiler driver (c++) found to link the "
                    "shared library; set CXX\n";
    return failure();
  }
  SmallVector<StringRef> args = {*compiler, "-shared", "-fPIC", "-O2",  "-x",
                                 "c",       wrapper,   "-x",    "none", object};
  if (!gpuRuntime.empty())
    args.push_back(gpuRuntime);
  args.append({runtime, "-o", library, "-lm", "-lpthread", "-ldl",
               "-Wl,--exclude-libs,ALL", "-Wl,--no-undefined"});
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(log),
                                          StringRef(log)};
  std::string errorMessage;
  int rc = llvm::sys::ExecuteAndWait(*compiler, args, std::nullopt, redirects,
                                     0, 0, &errorMessage);
  if (rc != 0) {
    llvm::errs() << "error: linking the shared library failed";
    if (!errorMessage.empty())
      llvm::errs() << ": " << errorMessage;
    llvm::errs() << "\n";
    if (auto buffer = llvm::MemoryBuffer::getFile(log))
      llvm::errs() << (*buffer)->getBuffer();
    return failure();
  }
  auto built = llvm::MemoryBuffer::getFile(library, /*IsText=*/false);
  if (!built) {
    llvm::errs() << "error: the linker produced no library\n";
    return failure();
  }
  return writeFileAtomically(outputPath, (*built)->getBuffer());
}

FailureOr<std::vector<ModelSignature>>
parsimony::compileToSharedLibrary(StringRef path, StringRef outputPath,
                                  const CompileOptions &options,
                                  MLIRContext &context) {
  OwningOpRef<ModuleOp> module;
  FailureOr<std::vector<ModelSignature>> variants =
      loadAndLowerVariants(path, context, options, module);
  if (failed(variants))
    return failure();
  FailureOr<std::optional<WeightsFile>> weights =
      externalizeWeights(*module, options, outputPath);
  if (failed(weights))
    return failure();
  FailureOr<std::string> object = emitNative(*module, options, true);
  if (failed(object) ||
      failed(linkSharedLibrary(*object, *variants, options, outputPath,
                               *weights ? &**weights : nullptr))) {
    // No library, so no weights file either.
    if (*weights)
      llvm::sys::fs::remove((*weights)->path);
    return failure();
  }
  return variants;
}
