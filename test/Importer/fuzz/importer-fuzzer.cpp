//===- importer-fuzzer.cpp - libFuzzer target for the ONNX importer -------===//
//
// Feeds arbitrary bytes to parsimony::importOnnxBytes (checker and shape
// inference on, then the default import pipeline). Any crash, hang or
// sanitizer report is a bug; errors must come back as diagnostics.
// Built and run by run-fuzz.sh with clang-22 -fsanitize=fuzzer.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Importer/OnnxImporter.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlir::DialectRegistry registry;
  parsimony::registerOnnxImporterDialects(registry);
  mlir::MLIRContext context(registry);
  context.disableMultithreading();
  mlir::ScopedDiagnosticHandler silence(
      &context, [](mlir::Diagnostic &) { return mlir::success(); });
  parsimony::OnnxImportOptions options;
  // Never read files named by fuzzed external-data entries.
  options.externalDataDir = "/nonexistent-parsimony-fuzz-dir";
  auto module = parsimony::importOnnxBytes(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), context,
      options, "<fuzz>");
  if (mlir::failed(module))
    return 0;
  mlir::PassManager pm(&context);
  parsimony::buildOnnxImportPipeline(pm, /*raiseSparseIdioms=*/true);
  (void)pm.run(**module);
  return 0;
}
