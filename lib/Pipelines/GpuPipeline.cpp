//===- GpuPipeline.cpp - --parsimony-gpu-pipeline -------------------------===//
//
// Shares the CPU pipeline's front half (spx rewrites, fusion,
// bufferization, runtime kernel calls), then:
//   buffers -> device memory, kernel calls -> the GPU runtime
//   remaining linalg -> parallel loops -> gpu.launch (one thread per point)
//   kernel outlining -> NVVM -> gpu.binary (ptxas through
//   gpu-module-to-binary), host side -> LLVM with mgpu* launches.
//
//===----------------------------------------------------------------------===//

#include "parsimony/Conversion/Passes.h"
#include "parsimony/Pipelines/Pipelines.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/MathToFuncs/MathToFuncs.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void parsimony::buildGpuPipeline(OpPassManager &pm,
                                 const GpuPipelineOptions &options) {
  buildBufferizedModelPipeline(pm, options, /*forGpu=*/true);

  // Device buffers, GPU runtime kernels; the rest becomes loops and the
  // loops become kernels.
  pm.addPass(createOffloadToGpu());
  pm.addNestedPass<func::FuncOp>(createParallelIteratorsFirst());
  pm.addPass(createConvertLinalgToParallelLoopsPass());
  // memref.reshape reads its shape buffer (device memory) when lowered on
  // the host: as loads and a reinterpret_cast, the loads are host reads of
  // device memory like any other (read back after a kernel).
  pm.addPass(memref::createExpandOpsPass());
  pm.addPass(createCanonicalizerPass());
  ParallelLoopsToGpuOptions loops;
  loops.blockSize = options.blockSize;
  pm.addNestedPass<func::FuncOp>(createParallelLoopsToGpu(loops));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // Integer powers and the like become functions, which outlining copies
  // into the kernels' module.
  pm.addPass(createConvertMathToFuncs());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createMergeGpuModules());
  // Allocations, copies and launches as one chain of async tokens (what
  // gpu-to-llvm lowers); the runtime orders them on one stream.
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createLowerRuntimeChecks());

  // Kernels: NVVM for the chosen architecture.
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  // The NVVM lowering adds C-interface wrappers of helper functions (from
  // convert-math-to-funcs) that nothing calls.
  kernels.addPass(createSymbolDCEPass());

  // Host: the CPU pipeline's tail plus the launches.
  buildHostToLLVMPipeline(pm, /*launchesGpuKernels=*/true);

  // ptxas (or the PTX itself) into a gpu.binary the host code loads.
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = options.format;
  binary.toolkitPath = options.toolkit;
  pm.addPass(createGpuModuleToBinaryPass(binary));
}
