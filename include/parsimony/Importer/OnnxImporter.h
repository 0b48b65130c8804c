//===- OnnxImporter.h - ONNX model -> MLIR import ---------------*- C++ -*-===//
//
// Imports an ONNX model (ModelProto) into an MLIR module holding one
// `func.func` over tensors in the linalg / tensor / arith / math / scf
// dialects, plus `spx` for Parsimony's own and ONNX Runtime's sparse and
// mixture-of-experts operators. See docs/importer.md.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_IMPORTER_ONNXIMPORTER_H
#define PARSIMONY_IMPORTER_ONNXIMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mlir {
class DialectRegistry;
class MLIRContext;
class PassManager;
} // namespace mlir

namespace parsimony {

/// Options controlling the import.
struct OnnxImportOptions {
  /// Name of the generated function.
  std::string funcName = "main";
  /// Run `onnx::checker` over the model before importing it.
  bool runChecker = true;
  /// Run ONNX shape inference (with data propagation) before importing.
  bool runShapeInference = true;
  /// Directory external-data locations are relative to. `importOnnxFile`
  /// defaults it to the model's directory; `importOnnxBytes` to the current
  /// directory.
  std::string externalDataDir;
  /// Map external data with mmap (read it otherwise).
  bool mmapExternalData = true;
  /// Initializers and constants with at most this many elements become
  /// inline `dense<...>` attributes; larger ones `dense_resource` blobs.
  int64_t inlineConstantLimit = 16;
  /// Symbolic dimensions (ONNX dim_param names) bound to a static size; the
  /// function signature and everything computed from it become static.
  std::map<std::string, int64_t> dimBindings;
};

using ImportOptions = OnnxImportOptions;

/// Makes the dialects the importer emits known to `registry`.
void registerOnnxImporterDialects(mlir::DialectRegistry &registry);

/// Imports the ONNX model in `bytes` (a serialized ModelProto). Errors are
/// reported as diagnostics on `context` (location `modelName`) and yield
/// failure; nothing is thrown and no partial module is returned.
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
importOnnxBytes(llvm::StringRef bytes, mlir::MLIRContext &context,
                const OnnxImportOptions &options = {},
                llvm::StringRef modelName = "<onnx>");

/// Imports the ONNX model stored at `path`.
mlir::FailureOr<mlir::OwningOpRef<mlir::ModuleOp>>
importOnnxFile(llvm::StringRef path, mlir::MLIRContext &context,
               const OnnxImportOptions &options = {});

/// The operators the importer converts, as "OpType" for the default domain
/// and "domain:OpType" otherwise, sorted.
std::vector<std::string> getSupportedOnnxOperators();

/// Adds the default post-import pipeline to `pm` (a module pass manager):
/// `--spx-raise-sparse-idioms` when `raiseSparseIdioms` is set, then removal
/// of unused private helper functions (`--symbol-dce`) and `--cse`.
void buildOnnxImportPipeline(mlir::PassManager &pm, bool raiseSparseIdioms);

} // namespace parsimony

#endif // PARSIMONY_IMPORTER_ONNXIMPORTER_H
