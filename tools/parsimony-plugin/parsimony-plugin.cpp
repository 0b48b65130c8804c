//===- parsimony-plugin.cpp - mlir-opt dialect and pass plugin ------------===//

#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/Compiler.h"

#include "parsimony/InitAllParsimony.h"

using namespace mlir;

extern "C" LLVM_ATTRIBUTE_WEAK DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "Parsimony", LLVM_VERSION_STRING,
          [](DialectRegistry *registry) {
            parsimony::registerAllDialects(*registry);
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "Parsimony", LLVM_VERSION_STRING,
          []() { parsimony::registerAllPasses(); }};
}
