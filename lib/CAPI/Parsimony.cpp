//===- Parsimony.cpp - C API of the Parsimony compiler --------------------===//
//
// Implements include/parsimony/CAPI/Parsimony.h on top of the importer, the
// pass registry and the compiler driver. Diagnostics are captured into the
// error strings handed back to the caller; nothing here prints, exits or
// aborts on bad input.
//
//===----------------------------------------------------------------------===//

#include "parsimony/CAPI/Parsimony.h"
#include "parsimony/Support/Diagnostics.h"

#include "parsimony/Compiler/Compiler.h"
#include "parsimony/Compiler/ModelLibrary.h"
#include "parsimony/Importer/OnnxImporter.h"
#include "parsimony/InitAllParsimony.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

using namespace mlir;
using namespace parsimony;

//===----------------------------------------------------------------------===//
// Handles
//===----------------------------------------------------------------------===//

struct ParsimonyCompileOptions {
  CompileOptions options;
};

namespace {
/// A tensor description owned by the model handle.
struct OwnedTensorInfo {
  std::string name;
  int32_t dtype = 0;
  std::vector<int64_t> shape;
  int64_t numBytes = 0;
};

/// The signature of one shape variant, owned by the model handle.
struct OwnedVariant {
  std::vector<OwnedTensorInfo> inputs;
  std::vector<OwnedTensorInfo> outputs;
  /// The symbolic dimensions this variant binds, sorted by name.
  std::vector<std::pair<std::string, int64_t>> dims;
};
} // namespace

struct ParsimonyModel {
  std::unique_ptr<ModelLibrary> library;
  /// One per shape variant of the library (at least one); variant 0 is the
  /// default.
  std::vector<OwnedVariant> variants;
};

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

namespace {

/// A malloc'ed copy of `text` for the caller (NULL if out of memory).
char *copyString(llvm::StringRef text) {
  char *copy = static_cast<char *>(std::malloc(text.size() + 1));
  if (!copy)
    return nullptr;
  std::memcpy(copy, text.data(), text.size());
  copy[text.size()] = '\0';
  return copy;
}

ParsimonyStatus fail(ParsimonyStatus status, llvm::StringRef message,
                     char **error) {
  if (error)
    *error = copyString(message);
  return status;
}

ParsimonyStatus succeed(char **error) {
  if (error)
    *error = nullptr;
  return PARSIMONY_STATUS_OK;
}

/// Collects every diagnostic emitted on a context as
/// `[file:line:col: ]severity: message` lines (notes included) while it is
/// alive.
class DiagnosticCapture {
public:
  explicit DiagnosticCapture(MLIRContext &context)
      : handler(&context, [this](Diagnostic &diag) {
          print(diag);
          return success();
        }) {}

  /// The captured text, or `fallback` when nothing was reported.
  std::string take(llvm::StringRef fallback) const {
    llvm::StringRef captured = llvm::StringRef(text).rtrim();
    return captured.empty() ? fallback.str() : captured.str();
  }

private:
  void print(Diagnostic &diag) {
    llvm::raw_string_ostream os(text);
    printLocation(diag.getLocation(), os);
    os << parsimony::severityPrefix(diag.getSeverity()) << diag.str() << "\n";
    for (Diagnostic &note : diag.getNotes()) {
      printLocation(note.getLocation(), os);
      os << "note: " << note.str() << "\n";
    }
  }

  static void printLocation(Location loc, llvm::raw_ostream &os) {
    auto file = loc->findInstanceOf<FileLineColLoc>();
    if (!file)
      return;
    os << file.getFilename().getValue();
    if (file.getLine() > 0)
      os << ":" << file.getLine() << ":" << file.getColumn();
    os << ": ";
  }

  std::string text;
  ScopedDiagnosticHandler handler;
};

/// Registers every upstream and Parsimony pass and pipeline once.
void registerPassesOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    mlir::registerAllPasses();
    parsimony::registerAllPasses();
  });
}

/// Registers the native LLVM target once: the compiler driver initializes it
/// on every compilation, which is only safe once it has been registered
/// (concurrent compilations from several threads).
void initializeNativeTargetOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

/// The registry of everything the compiler and importer produce.
DialectRegistry &getRegistry() {
  static DialectRegistry *registry = [] {
    auto *r = new DialectRegistry();
    registerCompilerDialects(*r);
    registerOnnxImporterDialects(*r);
    return r;
  }();
  return *registry;
}

std::string printModule(ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os, OpPrintingFlags().enableDebugInfo(false));
  os << "\n";
  return text;
}

/// Runs the default post-import pipeline and prints the module.
ParsimonyStatus finishImport(FailureOr<OwningOpRef<ModuleOp>> module,
                             MLIRContext &context,
                             const DiagnosticCapture &diagnostics,
                             int raiseSparseIdioms, char **mlir, char **error) {
  if (failed(module))
    return fail(PARSIMONY_STATUS_COMPILE_ERROR,
                diagnostics.take("error: the ONNX import failed"), error);
  PassManager pm(&context);
  buildOnnxImportPipeline(pm, raiseSparseIdioms != 0);
  if (failed(pm.run(**module)))
    return fail(PARSIMONY_STATUS_COMPILE_ERROR,
                diagnostics.take("error: the post-import pipeline failed"),
                error);
  *mlir = copyString(printModule(**module));
  if (!*mlir)
    return fail(PARSIMONY_STATUS_RUNTIME_ERROR, "error: out of memory", error);
  return succeed(error);
}

/// A fresh mode-0700 directory under $TMPDIR (or /tmp).
bool createPrivateDirectory(std::string &path, std::string &message) {
  const char *base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base && *base ? base : "/tmp") + "/parsimony-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (!mkdtemp(buffer.data())) {
    message = "error: cannot create a temporary directory under '" +
              pattern.substr(0, pattern.rfind('/')) +
              "': " + std::strerror(errno);
    return false;
  }
  path = buffer.data();
  return true;
}

bool writeBytes(llvm::StringRef path, const void *data, size_t size,
                std::string &message) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec) {
    message = "error: cannot write '" + path.str() + "': " + ec.message();
    return false;
  }
  os.write(static_cast<const char *>(data), size);
  os.close();
  if (os.has_error()) {
    message = "error: cannot write '" + path.str() + "'";
    os.clear_error();
    return false;
  }
  return true;
}

/// Loads a model library and copies every variant's signature into
/// `model`.
ParsimonyStatus loadLibrary(llvm::StringRef path, ParsimonyModel &model,
                            char **error) {
  std::string message;
  model.library = ModelLibrary::load(path, message);
  if (!model.library)
    return fail(PARSIMONY_STATUS_IO_ERROR, "error: " + message, error);
  auto copy = [](const std::vector<TensorSignature> &tensors,
                 std::vector<OwnedTensorInfo> &out) {
    for (const TensorSignature &tensor : tensors) {
      OwnedTensorInfo t;
      t.name = tensor.name;
      t.dtype = static_cast<int32_t>(tensor.dtype);
      t.shape.assign(tensor.shape.begin(), tensor.shape.end());
      t.numBytes = tensor.numElements() * dtypeSize(tensor.dtype);
      out.push_back(std::move(t));
    }
  };
  model.variants.resize(model.library->getNumVariants());
  for (auto [v, variant] : llvm::enumerate(model.variants)) {
    const ModelSignature &signature = model.library->getSignature(v);
    copy(signature.inputs, variant.inputs);
    copy(signature.outputs, variant.outputs);
    for (const DimBinding &dim : signature.dims)
      variant.dims.push_back(dim);
  }
  return succeed(error);
}

/// Compiles the model file at `path` inside the private directory `dir` and
/// loads the result. Diagnostics name the model `displayName`.
ParsimonyStatus compileInDirectory(llvm::StringRef path,
                                   llvm::StringRef displayName,
                                   llvm::StringRef dir,
                                   const CompileOptions &options,
                                   ParsimonyModel **result, char **error) {
  std::string library = (dir + "/model.so").str();
  initializeNativeTargetOnce();
  {
    MLIRContext context(getRegistry());
    context.printOpOnDiagnostic(false);
    context.loadAllAvailableDialects();
    DiagnosticCapture diagnostics(context);
    if (failed(compileToSharedLibrary(path, library, options, context))) {
      std::string message = diagnostics.take(
          "error: compiling '" + displayName.str() +
          "' failed (the compiler reported the details on standard error)");
      // A model given as bytes lives in the temporary directory: name it as
      // the caller knows it.
      if (path != displayName)
        message = llvm::join(llvm::split(message, path), displayName);
      return fail(PARSIMONY_STATUS_COMPILE_ERROR, message, error);
    }
  }
  auto model = std::make_unique<ParsimonyModel>();
  if (ParsimonyStatus status = loadLibrary(library, *model, error))
    return status;
  *result = model.release();
  return succeed(error);
}

/// Shape variant `variant` of `model`, or null when out of range.
const OwnedVariant *getVariant(const ParsimonyModel *model, int32_t variant) {
  if (!model || variant < 0 ||
      static_cast<size_t>(variant) >= model->variants.size())
    return nullptr;
  return &model->variants[variant];
}

/// "the model has N shape variants" / "... 1 shape variant".
std::string describeVariantCount(const ParsimonyModel &model) {
  size_t count = model.variants.size();
  return "the model has " + std::to_string(count) + " shape variant" +
         (count == 1 ? "" : "s");
}

const OwnedTensorInfo *getTensor(const std::vector<OwnedTensorInfo> &tensors,
                                 int32_t index) {
  if (index < 0 || static_cast<size_t>(index) >= tensors.size())
    return nullptr;
  return &tensors[index];
}

void fillInfo(const OwnedTensorInfo &tensor, ParsimonyTensorInfo *info) {
  info->name = tensor.name.c_str();
  info->dtype = tensor.dtype;
  info->rank = static_cast<int32_t>(tensor.shape.size());
  info->shape = tensor.shape.data();
}

bool isKnownDType(int32_t dtype) {
  return dtypeSize(static_cast<DType>(dtype)) > 0;
}

} // namespace

//===----------------------------------------------------------------------===//
// Strings, statuses and types
//===----------------------------------------------------------------------===//

void parsimonyStringFree(char *string) { std::free(string); }

const char *parsimonyStatusGetName(ParsimonyStatus status) {
  switch (status) {
  case PARSIMONY_STATUS_OK:
    return "ok";
  case PARSIMONY_STATUS_INVALID_ARGUMENT:
    return "invalid argument";
  case PARSIMONY_STATUS_UNSUPPORTED:
    return "unsupported";
  case PARSIMONY_STATUS_COMPILE_ERROR:
    return "compile error";
  case PARSIMONY_STATUS_IO_ERROR:
    return "I/O error";
  case PARSIMONY_STATUS_RUNTIME_ERROR:
    return "runtime error";
  }
  return "unknown status";
}

const char *parsimonyDTypeGetName(int32_t dtype) {
  if (!isKnownDType(dtype))
    return "unknown";
  // dtypeName returns string literals.
  return dtypeName(static_cast<DType>(dtype)).data();
}

int64_t parsimonyDTypeGetSize(int32_t dtype) {
  return isKnownDType(dtype) ? dtypeSize(static_cast<DType>(dtype)) : 0;
}

//===----------------------------------------------------------------------===//
// Import and transformation
//===----------------------------------------------------------------------===//

ParsimonyStatus parsimonyImportOnnxFile(const char *path, int raiseSparseIdioms,
                                        char **mlir, char **error) {
  if (!path || !mlir)
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                "error: parsimonyImportOnnxFile: path and mlir must not be "
                "NULL",
                error);
  *mlir = nullptr;
  if (!llvm::sys::fs::exists(path))
    return fail(PARSIMONY_STATUS_IO_ERROR,
                std::string("error: no such file: '") + path + "'", error);
  MLIRContext context(getRegistry());
  context.printOpOnDiagnostic(false);
  DiagnosticCapture diagnostics(context);
  return finishImport(importOnnxFile(path, context), context, diagnostics,
                      raiseSparseIdioms, mlir, error);
}

ParsimonyStatus parsimonyImportOnnxBytes(const void *data, size_t size,
                                         int raiseSparseIdioms, char **mlir,
                                         char **error) {
  if ((!data && size) || !mlir)
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                "error: parsimonyImportOnnxBytes: data and mlir must not be "
                "NULL",
                error);
  *mlir = nullptr;
  MLIRContext context(getRegistry());
  context.printOpOnDiagnostic(false);
  DiagnosticCapture diagnostics(context);
  llvm::StringRef bytes(static_cast<const char *>(data), size);
  return finishImport(importOnnxBytes(bytes, context, {}, "<bytes>"), context,
                      diagnostics, raiseSparseIdioms, mlir, error);
}

ParsimonyStatus parsimonyRunPassPipeline(const char *mlir, size_t size,
                                         const char *pipeline, char **result,
                                         char **error) {
  if ((!mlir && size) || !pipeline || !result)
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                "error: parsimonyRunPassPipeline: mlir, pipeline and result "
                "must not be NULL",
                error);
  *result = nullptr;
  registerPassesOnce();
  MLIRContext context(getRegistry());
  DiagnosticCapture diagnostics(context);

  // The pass manager is anchored on builtin.module: accept the pipeline with
  // or without that anchor.
  llvm::StringRef elements = llvm::StringRef(pipeline).trim();
  if (elements.consume_front("builtin.module(")) {
    if (!elements.consume_back(")"))
      return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                  std::string("error: malformed pass pipeline '") + pipeline +
                      "': unbalanced parentheses",
                  error);
  }
  PassManager pm(&context);
  std::string pipelineErrors;
  llvm::raw_string_ostream pipelineErrorStream(pipelineErrors);
  if (failed(parsePassPipeline(elements, pm, pipelineErrorStream)))
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                std::string("error: invalid pass pipeline '") + pipeline +
                    "'\n" + llvm::StringRef(pipelineErrors).rtrim().str(),
                error);

  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(
          llvm::StringRef(mlir ? mlir : "", size), "<input>"),
      llvm::SMLoc());
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(sourceMgr, ParserConfig(&context));
  if (!module)
    return fail(PARSIMONY_STATUS_COMPILE_ERROR,
                diagnostics.take("error: cannot parse the MLIR input"), error);
  if (failed(pm.run(*module)))
    return fail(PARSIMONY_STATUS_COMPILE_ERROR,
                diagnostics.take("error: the pass pipeline failed"), error);
  *result = copyString(printModule(*module));
  if (!*result)
    return fail(PARSIMONY_STATUS_RUNTIME_ERROR, "error: out of memory", error);
  return succeed(error);
}

//===----------------------------------------------------------------------===//
// Compile options
//===----------------------------------------------------------------------===//

ParsimonyCompileOptions *parsimonyCompileOptionsCreate(void) {
  return new ParsimonyCompileOptions();
}

void parsimonyCompileOptionsDestroy(ParsimonyCompileOptions *options) {
  delete options;
}

ParsimonyStatus parsimonyCompileOptionsSet(ParsimonyCompileOptions *options,
                                           const char *name, const char *value,
                                           char **error) {
  if (!options || !name || !value)
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                "error: parsimonyCompileOptionsSet: options, name and value "
                "must not be NULL",
                error);
  std::string message;
  switch (setCompileOption(options->options, name, value, message)) {
  case OptionStatus::ok:
    return succeed(error);
  case OptionStatus::unsupported:
    return fail(PARSIMONY_STATUS_UNSUPPORTED,
                std::string("error: compile option '") + name + "': " + message,
                error);
  case OptionStatus::invalid:
  case OptionStatus::unknown:
    break;
  }
  return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
              std::string("error: compile option '") + name + "': " + message,
              error);
}

ParsimonyStatus parsimonyCompileOptionsBindDim(ParsimonyCompileOptions *options,
                                               const char *name, int64_t value,
                                               char **error) {
  if (!options || !name || !*name)
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                "error: parsimonyCompileOptionsBindDim: options and a "
                "non-empty name are required",
                error);
  if (value <= 0)
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                std::string("error: dimension '") + name +
                    "' must be bound to a positive size, got " +
                    std::to_string(value),
                error);
  // Each size bound to a name makes one shape variant.
  llvm::SmallVector<int64_t, 1> &sizes = options->options.dims[name];
  if (llvm::is_contained(sizes, value))
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                std::string("error: dimension '") + name +
                    "' is already bound to the size " + std::to_string(value) +
                    " (binding a name again adds a shape variant; bind each "
                    "size once)",
                error);
  sizes.push_back(value);
  return succeed(error);
}

ParsimonyStatus parsimonyCompileOptionsFreezeInput(
    ParsimonyCompileOptions *options, const char *name, int32_t dtype,
    int32_t rank, const int64_t *shape, const void *data, size_t size,
    char **error) {
  if (!options || !name || !*name || rank < 0 || (rank && !shape) ||
      (size && !data))
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                "error: parsimonyCompileOptionsFreezeInput: options, a name, "
                "the shape and the data are required",
                error);
  if (!isKnownDType(dtype))
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                std::string("error: cannot freeze input '") + name +
                    "': unknown element type " + std::to_string(dtype),
                error);
  int64_t expected = dtypeSize(static_cast<DType>(dtype));
  for (int32_t i = 0; i < rank; ++i) {
    if (shape[i] < 0)
      return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                  std::string("error: cannot freeze input '") + name +
                      "': negative dimension",
                  error);
    expected *= shape[i];
  }
  if (static_cast<size_t>(expected) != size)
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                std::string("error: cannot freeze input '") + name +
                    "': " + std::to_string(size) +
                    " bytes given, the shape needs " + std::to_string(expected),
                error);
  FrozenInput frozen;
  frozen.name = name;
  frozen.dtype = static_cast<DType>(dtype);
  frozen.shape.assign(shape, shape + rank);
  frozen.bytes.assign(static_cast<const char *>(data), size);
  auto &list = options->options.frozenInputs;
  llvm::erase_if(list, [&](const FrozenInput &f) { return f.name == name; });
  list.push_back(std::move(frozen));
  return succeed(error);
}

//===----------------------------------------------------------------------===//
// Compiled models
//===----------------------------------------------------------------------===//

ParsimonyStatus parsimonyCompileFile(const char *path,
                                     const ParsimonyCompileOptions *options,
                                     ParsimonyModel **model, char **error) {
  if (!path || !model)
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                "error: parsimonyCompileFile: path and model must not be NULL",
                error);
  *model = nullptr;
  if (!llvm::sys::fs::exists(path))
    return fail(PARSIMONY_STATUS_IO_ERROR,
                std::string("error: no such file: '") + path + "'", error);
  CompileOptions compileOptions = options ? options->options : CompileOptions();
  if (!compileOptions.frozenInputs.empty() &&
      !llvm::StringRef(path).ends_with(".onnx"))
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                "error: frozen inputs need an .onnx model", error);
  std::string dir, message;
  if (!createPrivateDirectory(dir, message))
    return fail(PARSIMONY_STATUS_IO_ERROR, message, error);
  llvm::scope_exit cleanup([&] { llvm::sys::fs::remove_directories(dir); });
  return compileInDirectory(path, path, dir, compileOptions, model, error);
}

ParsimonyStatus parsimonyCompileBytes(const void *data, size_t size,
                                      const char *format,
                                      const ParsimonyCompileOptions *options,
                                      ParsimonyModel **model, char **error) {
  if ((!data && size) || !format || !model)
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                "error: parsimonyCompileBytes: data, format and model must "
                "not be NULL",
                error);
  *model = nullptr;
  llvm::StringRef kind(format);
  if (kind != "onnx" && kind != "mlir")
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                std::string("error: unknown model format '") + format +
                    "': expected 'onnx' or 'mlir'",
                error);
  CompileOptions compileOptions = options ? options->options : CompileOptions();
  if (!compileOptions.frozenInputs.empty() && kind != "onnx")
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                "error: frozen inputs need an ONNX model", error);
  std::string dir, message;
  if (!createPrivateDirectory(dir, message))
    return fail(PARSIMONY_STATUS_IO_ERROR, message, error);
  llvm::scope_exit cleanup([&] { llvm::sys::fs::remove_directories(dir); });
  std::string path = dir + "/model." + kind.str();
  if (!writeBytes(path, data, size, message))
    return fail(PARSIMONY_STATUS_IO_ERROR, message, error);
  return compileInDirectory(path, "<bytes>", dir, compileOptions, model, error);
}

ParsimonyStatus parsimonyModelLoad(const char *path, ParsimonyModel **model,
                                   char **error) {
  if (!path || !model)
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT,
                "error: parsimonyModelLoad: path and model must not be NULL",
                error);
  *model = nullptr;
  auto loaded = std::make_unique<ParsimonyModel>();
  if (ParsimonyStatus status = loadLibrary(path, *loaded, error))
    return status;
  *model = loaded.release();
  return succeed(error);
}

void parsimonyModelDestroy(ParsimonyModel *model) { delete model; }

int32_t parsimonyModelGetNumInputs(const ParsimonyModel *model) {
  const OwnedVariant *variant = getVariant(model, 0);
  return variant ? static_cast<int32_t>(variant->inputs.size()) : 0;
}

int32_t parsimonyModelGetNumOutputs(const ParsimonyModel *model) {
  const OwnedVariant *variant = getVariant(model, 0);
  return variant ? static_cast<int32_t>(variant->outputs.size()) : 0;
}

ParsimonyStatus parsimonyModelGetInput(const ParsimonyModel *model,
                                       int32_t index,
                                       ParsimonyTensorInfo *info) {
  return parsimonyModelGetVariantInput(model, 0, index, info);
}

ParsimonyStatus parsimonyModelGetOutput(const ParsimonyModel *model,
                                        int32_t index,
                                        ParsimonyTensorInfo *info) {
  return parsimonyModelGetVariantOutput(model, 0, index, info);
}

int32_t parsimonyModelGetNumVariants(const ParsimonyModel *model) {
  return model ? static_cast<int32_t>(model->variants.size()) : 0;
}

int32_t parsimonyModelFindVariant(const ParsimonyModel *model,
                                  const int64_t *const *inputShapes) {
  if (!model)
    return -1;
  for (auto [v, variant] : llvm::enumerate(model->variants)) {
    if (!variant.inputs.empty() && !inputShapes)
      return -1;
    bool matches = llvm::all_of(llvm::enumerate(variant.inputs), [&](auto it) {
      const std::vector<int64_t> &shape = it.value().shape;
      const int64_t *given = inputShapes[it.index()];
      return shape.empty() ||
             (given && std::equal(shape.begin(), shape.end(), given));
    });
    if (matches)
      return static_cast<int32_t>(v);
  }
  return -1;
}

ParsimonyStatus parsimonyModelGetVariantInput(const ParsimonyModel *model,
                                              int32_t variant, int32_t index,
                                              ParsimonyTensorInfo *info) {
  const OwnedVariant *v = getVariant(model, variant);
  const OwnedTensorInfo *tensor =
      v && info ? getTensor(v->inputs, index) : nullptr;
  if (!tensor)
    return PARSIMONY_STATUS_INVALID_ARGUMENT;
  fillInfo(*tensor, info);
  return PARSIMONY_STATUS_OK;
}

ParsimonyStatus parsimonyModelGetVariantOutput(const ParsimonyModel *model,
                                               int32_t variant, int32_t index,
                                               ParsimonyTensorInfo *info) {
  const OwnedVariant *v = getVariant(model, variant);
  const OwnedTensorInfo *tensor =
      v && info ? getTensor(v->outputs, index) : nullptr;
  if (!tensor)
    return PARSIMONY_STATUS_INVALID_ARGUMENT;
  fillInfo(*tensor, info);
  return PARSIMONY_STATUS_OK;
}

int32_t parsimonyModelGetVariantNumDims(const ParsimonyModel *model,
                                        int32_t variant) {
  const OwnedVariant *v = getVariant(model, variant);
  return v ? static_cast<int32_t>(v->dims.size()) : 0;
}

ParsimonyStatus parsimonyModelGetVariantDim(const ParsimonyModel *model,
                                            int32_t variant, int32_t index,
                                            const char **name, int64_t *value) {
  const OwnedVariant *v = getVariant(model, variant);
  if (!v || !name || !value || index < 0 ||
      static_cast<size_t>(index) >= v->dims.size())
    return PARSIMONY_STATUS_INVALID_ARGUMENT;
  *name = v->dims[index].first.c_str();
  *value = v->dims[index].second;
  return PARSIMONY_STATUS_OK;
}

namespace {
/// Checks the model, the variant and the buffer arrays of a run; "" when
/// they are fine.
std::string checkRunArguments(const ParsimonyModel *model, int32_t variant,
                              const void *const *inputs, void *const *outputs,
                              llvm::StringRef function) {
  if (!model || !model->library)
    return ("error: " + function + ": no model").str();
  const OwnedVariant *v = getVariant(model, variant);
  if (!v)
    return ("error: " + function + ": no shape variant " +
            std::to_string(variant) + " (" + describeVariantCount(*model) + ")")
        .str();
  auto check = [&](const std::vector<OwnedTensorInfo> &tensors,
                   const void *const *pointers,
                   llvm::StringRef kind) -> std::string {
    if (!tensors.empty() && !pointers)
      return ("error: " + function + ": no " + kind + " pointers").str();
    for (auto [i, t] : llvm::enumerate(tensors))
      if (!pointers[i] && t.numBytes > 0)
        return ("error: " + function + ": " + kind + " '" + t.name +
                "' has no buffer")
            .str();
    return {};
  };
  std::string message = check(v->inputs, inputs, "input");
  if (message.empty())
    message = check(v->outputs, outputs, "output");
  return message;
}

ParsimonyStatus runModel(const ParsimonyModel *model, int32_t variant,
                         const void *const *inputs, void *const *outputs,
                         llvm::StringRef function, char **error) {
  std::string message =
      checkRunArguments(model, variant, inputs, outputs, function);
  if (!message.empty())
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT, message, error);
  if (int32_t rc = model->library->run(inputs, outputs, variant))
    return fail(PARSIMONY_STATUS_RUNTIME_ERROR,
                "error: " + model->library->describeFailure(rc), error);
  return succeed(error);
}

ParsimonyStatus profileModel(const ParsimonyModel *model, int32_t variant,
                             const void *const *inputs, void *const *outputs,
                             char **report, llvm::StringRef function,
                             char **error) {
  if (report)
    *report = nullptr;
  std::string message =
      checkRunArguments(model, variant, inputs, outputs, function);
  if (message.empty() && !report)
    message = ("error: " + function + ": report must not be NULL").str();
  if (!message.empty())
    return fail(PARSIMONY_STATUS_INVALID_ARGUMENT, message, error);
  if (!model->library->canProfile())
    return fail(PARSIMONY_STATUS_UNSUPPORTED,
                "error: the model library has no sparsity profiler "
                "(parsimony_model_v1_profile_*); recompile it with this "
                "version of Parsimony",
                error);
  std::string text;
  if (int32_t rc = model->library->profile(inputs, outputs, text, variant))
    return fail(PARSIMONY_STATUS_RUNTIME_ERROR,
                "error: " + model->library->describeFailure(rc), error);
  *report = copyString(text);
  if (!*report)
    return fail(PARSIMONY_STATUS_RUNTIME_ERROR, "error: out of memory", error);
  return succeed(error);
}
} // namespace

ParsimonyStatus parsimonyModelRun(const ParsimonyModel *model,
                                  const void *const *inputs,
                                  void *const *outputs, char **error) {
  return runModel(model, 0, inputs, outputs, "parsimonyModelRun", error);
}

ParsimonyStatus parsimonyModelRunVariant(const ParsimonyModel *model,
                                         int32_t variant,
                                         const void *const *inputs,
                                         void *const *outputs, char **error) {
  return runModel(model, variant, inputs, outputs, "parsimonyModelRunVariant",
                  error);
}

ParsimonyStatus parsimonyModelProfileSparsity(const ParsimonyModel *model,
                                              const void *const *inputs,
                                              void *const *outputs,
                                              char **report, char **error) {
  return profileModel(model, 0, inputs, outputs, report,
                      "parsimonyModelProfileSparsity", error);
}

ParsimonyStatus parsimonyModelProfileSparsityVariant(
    const ParsimonyModel *model, int32_t variant, const void *const *inputs,
    void *const *outputs, char **report, char **error) {
  return profileModel(model, variant, inputs, outputs, report,
                      "parsimonyModelProfileSparsityVariant", error);
}
