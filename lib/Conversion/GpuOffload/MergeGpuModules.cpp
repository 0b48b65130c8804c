//===- MergeGpuModules.cpp - one gpu.module per model ---------------------===//

#include "parsimony/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/SymbolTable.h"

namespace parsimony {
#define GEN_PASS_DEF_MERGEGPUMODULES
#include "parsimony/Conversion/Passes.h.inc"
} // namespace parsimony

using namespace mlir;

namespace {
struct MergeGpuModulesPass
    : parsimony::impl::MergeGpuModulesBase<MergeGpuModulesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::GPUModuleOp> gpuModules(module.getOps<gpu::GPUModuleOp>());
    if (gpuModules.size() < 2)
      return;
    gpu::GPUModuleOp target = gpuModules.front();
    SymbolTable targetSymbols(target);
    // Old (module, kernel) -> new kernel name in `target`.
    llvm::DenseMap<std::pair<StringAttr, StringAttr>, StringAttr> renamed;
    for (gpu::GPUModuleOp source : llvm::drop_begin(gpuModules)) {
      if (source.getTargetsAttr() != target.getTargetsAttr()) {
        source.emitError("cannot merge gpu.modules with different targets");
        return signalPassFailure();
      }
      for (Operation &op :
           llvm::make_early_inc_range(source.getBody()->getOperations())) {
        auto symbol = dyn_cast<SymbolOpInterface>(op);
        if (!symbol) {
          source.emitError("cannot merge gpu.module holding ") << op.getName();
          return signalPassFailure();
        }
        StringAttr oldName = symbol.getNameAttr();
        op.moveBefore(target.getBody(), target.getBody()->end());
        // insert() renames on a clash and returns the final name.
        StringAttr newName = targetSymbols.insert(&op);
        if (newName != oldName &&
            failed(SymbolTable::replaceAllSymbolUses(&op, newName, target)))
          return signalPassFailure();
        renamed[{source.getSymNameAttr(), oldName}] = newName;
      }
    }
    module.walk([&](gpu::LaunchFuncOp launch) {
      auto it =
          renamed.find({launch.getKernelModuleName(), launch.getKernelName()});
      if (it == renamed.end())
        return;
      launch.setKernelAttr(SymbolRefAttr::get(
          target.getSymNameAttr(), {FlatSymbolRefAttr::get(it->second)}));
    });
    for (gpu::GPUModuleOp source : llvm::drop_begin(gpuModules))
      source.erase();
  }
};
} // namespace
