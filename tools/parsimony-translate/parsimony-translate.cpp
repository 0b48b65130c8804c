//===- parsimony-translate.cpp - ONNX -> MLIR translation driver ----------===//
//
//   parsimony-translate --import-onnx model.onnx [-o out.mlir]
//
// Imports an ONNX model (see docs/importer.md), runs the default import
// pipeline (raising of sparse idioms into spx unless --no-raise) and prints
// the module. Errors are reported as `error: ...` on stderr with exit code 1;
// the output file is only created once everything succeeded.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Importer/OnnxImporter.h"
#include "parsimony/Support/Diagnostics.h"
#include "parsimony/Support/OutputFile.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("parsimony-translate options");

static cl::opt<bool> importOnnx("import-onnx",
                                cl::desc("Import an ONNX model (the default "
                                         "and only translation)"),
                                cl::init(true), cl::cat(category));
static cl::opt<std::string> inputFilename(cl::Positional,
                                          cl::desc("<model.onnx>"),
                                          cl::init("-"), cl::cat(category));
static cl::opt<std::string> outputFilename("o", cl::desc("Output file"),
                                           cl::value_desc("filename"),
                                           cl::init("-"), cl::cat(category));
static cl::opt<bool> raiseIdioms(
    "raise-sparse-idioms",
    cl::desc("Run --spx-raise-sparse-idioms after the import (default on)"),
    cl::init(true), cl::cat(category));
static cl::opt<bool> noRaise("no-raise",
                             cl::desc("Same as --raise-sparse-idioms=false"),
                             cl::init(false), cl::cat(category));
static cl::opt<std::string> funcName("func-name",
                                     cl::desc("Name of the imported function"),
                                     cl::init("main"), cl::cat(category));
static cl::opt<bool> noCheck("no-check", cl::desc("Skip the ONNX checker"),
                             cl::init(false), cl::cat(category));
static cl::opt<bool> noShapeInference("no-shape-inference",
                                      cl::desc("Skip ONNX shape inference"),
                                      cl::init(false), cl::cat(category));
static cl::opt<std::string>
    externalDataDir("external-data-dir",
                    cl::desc("Directory external data is relative to "
                             "(default: the model's directory)"),
                    cl::init(""), cl::cat(category));
static cl::opt<bool> noMmap("no-mmap",
                            cl::desc("Read external data instead of mapping "
                                     "it"),
                            cl::init(false), cl::cat(category));
static cl::list<std::string>
    dimBindingOptions("bind-dim",
                      cl::desc("Bind a symbolic dimension: --bind-dim=batch=1"),
                      cl::value_desc("name=size"), cl::cat(category));
static cl::opt<bool>
    listSupportedOps("list-supported-ops",
                     cl::desc("Print the supported ONNX operators and exit"),
                     cl::init(false), cl::cat(category));
static cl::opt<bool> emitBytecode("emit-bytecode",
                                  cl::desc("Write MLIR bytecode"),
                                  cl::init(false), cl::cat(category));

/// Prints diagnostics as `error: <message>` (plus notes), without MLIR
/// location prefixes.
static LogicalResult printDiagnostic(Diagnostic &diag) {
  llvm::raw_ostream &os = llvm::errs();
  os << parsimony::severityPrefix(diag.getSeverity()) << diag.str() << "\n";
  for (Diagnostic &note : diag.getNotes())
    os << "note: " << note.str() << "\n";
  return success();
}

static int run() {
  DialectRegistry registry;
  parsimony::registerOnnxImporterDialects(registry);
  MLIRContext context(registry);
  ScopedDiagnosticHandler handler(&context, printDiagnostic);

  parsimony::OnnxImportOptions options;
  options.funcName = funcName;
  options.runChecker = !noCheck;
  options.runShapeInference = !noShapeInference;
  options.externalDataDir = externalDataDir;
  options.mmapExternalData = !noMmap;
  for (const std::string &binding : dimBindingOptions) {
    auto [name, size] = llvm::StringRef(binding).split('=');
    int64_t value = 0;
    if (name.empty() || size.getAsInteger(10, value) || value < 0) {
      llvm::errs() << "error: invalid --bind-dim '" << binding
                   << "' (expected name=size)\n";
      return 1;
    }
    options.dimBindings[name.str()] = value;
  }

  FailureOr<OwningOpRef<ModuleOp>> module = failure();
  if (inputFilename == "-") {
    std::string error;
    std::unique_ptr<llvm::MemoryBuffer> buffer =
        openInputFile(inputFilename, &error);
    if (!buffer) {
      llvm::errs() << "error: " << error << "\n";
      return 1;
    }
    module = parsimony::importOnnxBytes(buffer->getBuffer(), context, options,
                                        "<stdin>");
  } else {
    module = parsimony::importOnnxFile(inputFilename, context, options);
  }
  if (failed(module))
    return 1;

  PassManager pm(&context);
  if (failed(applyPassManagerCLOptions(pm)))
    return 1;
  parsimony::buildOnnxImportPipeline(pm, raiseIdioms && !noRaise);
  if (failed(pm.run(**module)))
    return 1;

  auto print = [&](llvm::raw_ostream &os) -> LogicalResult {
    if (emitBytecode)
      return writeBytecodeToFile(**module, os);
    (*module)->print(os, OpPrintingFlags().enableDebugInfo(false));
    os << "\n";
    return success();
  };
  // No partial output file on failure, and special files are written in
  // place (see writeOutputFile).
  return failed(parsimony::writeOutputFile(outputFilename, print)) ? 1 : 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "Parsimony ONNX -> MLIR translator\n");
  if (listSupportedOps) {
    for (const std::string &op : parsimony::getSupportedOnnxOperators())
      llvm::outs() << op << "\n";
    return 0;
  }
  if (!importOnnx) {
    llvm::errs() << "error: no translation selected (use --import-onnx)\n";
    return 1;
  }
  return run();
}
