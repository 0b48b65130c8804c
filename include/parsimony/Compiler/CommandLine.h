//===- CommandLine.h - options shared by parsimony-compile/-run -*- C++ -*-===//
//
// parsimony-run accepts every parsimony-compile option with the same
// spelling; both tools get them from here.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_COMPILER_COMMANDLINE_H
#define PARSIMONY_COMPILER_COMMANDLINE_H

#include "parsimony/Compiler/Compiler.h"
#include "llvm/Support/CommandLine.h"

namespace parsimony {

/// The category the shared options are listed under in --help.
llvm::cl::OptionCategory &getCompileOptionCategory();

/// Reads the shared options after llvm::cl::ParseCommandLineOptions.
/// Reports malformed values (e.g. --dim without '=') and fails.
mlir::FailureOr<CompileOptions> getCompileOptionsFromCommandLine();

/// Whether the shared option `name` ("sparse-ffn", ...) was given on the
/// command line (rather than left at its default).
bool isCompileOptionGiven(llvm::StringRef name);

} // namespace parsimony

#endif // PARSIMONY_COMPILER_COMMANDLINE_H
