//===- parsimony-compile.cpp - ahead-of-time model compiler ---------------===//
//
//   parsimony-compile model.onnx|model.mlir -o model.so
//       [--emit=mlir|llvm|obj|so|ptx|cubin] [--target=cpu|nvptx]
//       [--gpu-arch=sm_80|sm_90] [--cpu=native|x86-64-v3|...]
//
// --emit=so (default) also writes the C header next to the library.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Compiler/CommandLine.h"
#include "parsimony/Compiler/Compiler.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;
using namespace parsimony;

static cl::OptionCategory toolOptions("Output options");

static cl::opt<std::string> inputPath(cl::Positional,
                                      cl::desc("<model.onnx|model.mlir>"),
                                      cl::Required, cl::cat(toolOptions));
static cl::opt<std::string> outputPath("o", cl::desc("Output file"),
                                       cl::value_desc("path"), cl::init(""),
                                       cl::cat(toolOptions));
static cl::opt<std::string>
    emitKind("emit",
             cl::desc("What to produce: so (shared library + C header, "
                      "default), obj, llvm (LLVM IR), mlir (LLVM dialect); "
                      "with --target=nvptx also ptx (the generated kernels' "
                      "PTX) and cubin"),
             cl::init("so"), cl::cat(toolOptions));
static cl::opt<std::string>
    headerPath("header",
               cl::desc("Where to write the C header (--emit=so; default: "
                        "the library path with .h)"),
               cl::init(""), cl::cat(toolOptions));

/// A C identifier derived from the output file name.
static std::string defaultModelName(StringRef output) {
  std::string stem = sys::path::stem(output).str();
  std::string name;
  for (char c : stem)
    name += isAlnum(c) ? c : '_';
  if (name.empty() || isDigit(name.front()))
    name = "model_" + name;
  return name;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  // --help lists this tool's options; LLVM's and MLIR's stay accepted
  // (--help-hidden lists them).
  cl::HideUnrelatedOptions({&toolOptions, &getCompileOptionCategory()});
  cl::ParseCommandLineOptions(argc, argv,
                              "Parsimony ahead-of-time model compiler\n");

  FailureOr<CompileOptions> parsed = getCompileOptionsFromCommandLine();
  if (failed(parsed))
    return 1;
  CompileOptions options = *parsed;
  bool kernelsOnly = emitKind == "ptx" || emitKind == "cubin";
  bool textual = emitKind == "mlir" || emitKind == "llvm" || emitKind == "ptx";
  if (!textual && emitKind != "obj" && emitKind != "so" &&
      emitKind != "cubin") {
    errs() << "error: --emit must be one of so, obj, llvm, mlir, ptx, cubin "
              "(got '"
           << emitKind << "')\n";
    return 1;
  }
  if (kernelsOnly && options.target != "nvptx") {
    errs() << "error: --emit=" << emitKind << " needs --target=nvptx\n";
    return 1;
  }
  if (kernelsOnly)
    options.gpuBinaryFormat = emitKind == "ptx" ? "isa" : "bin";
  // A sidecar weights file is bound by the library's loader: only --emit=so
  // writes one.
  if (emitKind != "so") {
    if (options.weights == "sidecar") {
      errs() << "error: --weights=sidecar needs --emit=so\n";
      return 1;
    }
    options.weights = "embed";
  }
  if (outputPath.empty() && !textual) {
    errs() << "error: --emit=" << emitKind << " needs an output file (-o)\n";
    return 1;
  }
  std::string output = outputPath.empty() ? "-" : outputPath.getValue();
  if (options.modelName == "model" && output != "-")
    options.modelName = defaultModelName(output);

  mlir::DialectRegistry registry;
  registerCompilerDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // Errors name the ONNX node; a dump of the failing op's IR is for
  // compiler developers (parsimony-opt prints it).
  context.printOpOnDiagnostic(false);
  SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  auto write = [&](StringRef contents) -> int {
    return failed(writeFileAtomically(output, contents)) ? 1 : 0;
  };

  if (emitKind == "so") {
    FailureOr<std::vector<ModelSignature>> variants =
        compileToSharedLibrary(inputPath, output, options, context);
    if (failed(variants))
      return 1;
    std::string header =
        headerPath.empty()
            ? (sys::path::parent_path(output) +
               (sys::path::parent_path(output).empty() ? "" : "/") +
               sys::path::stem(output) + ".h")
                  .str()
            : headerPath.getValue();
    return failed(
               writeFileAtomically(header, generateHeader(*variants, options)))
               ? 1
               : 0;
  }

  mlir::OwningOpRef<mlir::ModuleOp> module;
  FailureOr<std::vector<ModelSignature>> variants =
      loadAndLowerVariants(inputPath, context, options, module);
  if (failed(variants))
    return 1;
  if (kernelsOnly) {
    if (variants->size() > 1) {
      errs() << "error: --emit=" << emitKind
             << " writes the kernels of one shape variant; give each --dim "
                "one size\n";
      return 1;
    }
    FailureOr<std::string> kernels = extractGpuBinary(*module);
    if (failed(kernels))
      return 1;
    return write(*kernels);
  }
  if (emitKind == "mlir") {
    std::string text;
    raw_string_ostream os(text);
    module->print(os);
    return write(text);
  }
  FailureOr<std::string> native =
      emitNative(*module, options, /*emitObject=*/emitKind == "obj");
  if (failed(native))
    return 1;
  return write(*native);
}
