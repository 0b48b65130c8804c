//===- InitAllParsimony.h - register Parsimony's dialects and passes -*- C++
//-*-===//
//
// One place that knows every dialect and pass Parsimony adds, used by
// parsimony-opt, the mlir-opt plugin and the C API.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_INITALLPARSIMONY_H
#define PARSIMONY_INITALLPARSIMONY_H

#include "mlir/IR/DialectRegistry.h"
#include "parsimony/Conversion/Passes.h"
#include "parsimony/Conversion/SpxToRuntime.h"
#include "parsimony/Dialect/Spx/IR/SpxDialect.h"
#include "parsimony/Dialect/Spx/Transforms/Passes.h"
#include "parsimony/Pipelines/Pipelines.h"

namespace parsimony {

inline void registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<mlir::spx::SpxDialect>();
  registerSpxBufferizationModels(registry);
}

inline void registerAllPasses() {
  mlir::spx::registerSpxPasses();
  registerParsimonyConversionPasses();
  registerPipelines();
}

} // namespace parsimony

#endif // PARSIMONY_INITALLPARSIMONY_H
