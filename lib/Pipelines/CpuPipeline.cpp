//===- CpuPipeline.cpp - --parsimony-cpu-pipeline -------------------------===//

#include "parsimony/Conversion/Passes.h"
#include "parsimony/Dialect/Spx/Transforms/Passes.h"
#include "parsimony/Pipelines/Pipelines.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/GPUCommon/GPUCommonPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToFuncs/MathToFuncs.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/TosaToArith/TosaToArith.h"
#include "mlir/Conversion/TosaToLinalg/TosaToLinalg.h"
#include "mlir/Conversion/TosaToTensor/TosaToTensor.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void parsimony::buildBufferizedModelPipeline(OpPassManager &pm,
                                             const CpuPipelineOptions &options,
                                             bool forGpu) {
  // Runtime size checks first: canonicalization folds the casts they
  // check into their users.
  if (options.runtimeChecks)
    pm.addPass(createInsertRuntimeChecks());
  // Weights a model was quantized with (DequantizeLinear -> MatMul) stay
  // int8 and run on the quantized kernels.
  pm.addPass(spx::createSpxRaiseDequantizedWeights());
  // MoE layers become route -> dispatch -> expert_ffn -> combine, which
  // bufferize into runtime kernel calls like every other spx op.
  // Sparse FFNs: an imposed top-k first, then either the dense form or the
  // activation-sparse kernel.
  if (options.topk > 0)
    pm.addPass(spx::createSpxImposeTopK(
        spx::SpxImposeTopKOptions{static_cast<int64_t>(options.topk)}));
  if (options.sparseFFN == "off")
    pm.addPass(spx::createSpxDecomposeSparseFFN());
  // The sparse kernels read whole neurons: store their weights neuron-major
  // (after the predictors are built from the original layout).
  if (options.sparseFFN == "predict") {
    spx::SpxBuildPredictorsOptions build;
    StringRef predictor = options.predictor;
    if (predictor.consume_front("lowrank:")) {
      build.predictor = "lowrank";
      // Validated by the command line; a malformed rank fails the pass.
      if (predictor.getAsInteger(10, build.rank))
        build.rank = 0;
    } else {
      build.predictor = predictor.str();
    }
    build.k = options.topk;
    pm.addPass(spx::createSpxBuildPredictors(build));
  }
  // Weight-only quantization: after the predictors are built from the f32
  // weights (and after sparse-ffn=off has turned FFNs into contractions),
  // before the sparse FFN weights are laid out neuron-major.
  if (!options.quantize.empty()) {
    spx::SpxQuantizeWeightsOptions quantize;
    quantize.mode = options.quantize;
    quantize.groupSize = options.groupSize;
    pm.addPass(spx::createSpxQuantizeWeights(quantize));
  }
  // Sparse FFN and f32 expert weights neuron-major (with sparse-ffn=off the
  // FFNs are contractions by now and only experts are left).
  pm.addPass(spx::createSpxNeuronMajorWeights());

  spx::SpxDecomposeMoEOptions decompose;
  decompose.dispatchOverride = options.moe;
  decompose.capacityFactorOverride = options.capacityFactor;
  pm.addPass(spx::createSpxDecomposeMoE(decompose));

  // Import-level dialects to linalg on tensors.
  OpPassManager &fn = pm.nest<func::FuncOp>();
  fn.addPass(tosa::createTosaToLinalgNamed());
  fn.addPass(tosa::createTosaToLinalg());
  fn.addPass(createTosaToArithPass());
  fn.addPass(createTosaToTensorPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  // Fuse elementwise and broadcast work, never into a matmul.
  pm.addPass(createFuseElementwise());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // A dense f32 projection and the fused elementwise op after it (bias,
  // activation, residual): one GEMM with the epilogue applied in cache.
  if (options.fuseEpilogues && options.useKernels && !forGpu)
    pm.addPass(spx::createSpxFuseEpilogues());

  // One-shot bufferization; results become caller-allocated out-parameters
  // so the entry point is "inputs and outputs as plain pointers"; inputs
  // are the caller's and never written.
  pm.addPass(createReadOnlyArguments());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addPass(createDistinctReturnedBuffers());
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  // Empty tensors in the signature still pass as one pointer each.
  pm.addPass(createDetachEmptyArguments());
  pm.addPass(createCanonicalizerPass());
  bufferization::BufferDeallocationPipelineOptions dealloc;
  bufferization::buildBufferDeallocationPipeline(pm, dealloc);

  // Dense matmuls onto the runtime's packed GEMM.
  if (options.useKernels) {
    ConvertLinalgToKernelsOptions kernels;
    kernels.reportLoops = options.reportLoops;
    pm.addPass(createConvertLinalgToKernels(kernels));
  }
  if (options.approximateMath)
    pm.addPass(createApproximateMath());
}

void parsimony::buildCpuPipeline(OpPassManager &pm,
                                 const CpuPipelineOptions &options) {
  buildBufferizedModelPipeline(pm, options);

  // Loops, then LLVM. LLVM's loop vectorizer widens the innermost loops for
  // the target CPU chosen when the module is compiled.
  pm.addPass(createConvertLinalgToLoopsPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createLowerRuntimeChecks());
  // Integer powers and friends become outlined helper functions; LLVM
  // intrinsics where they exist (fma, sqrt, ...), libm for the rest.
  pm.addPass(createConvertMathToFuncs());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  buildHostToLLVMPipeline(pm, /*launchesGpuKernels=*/false);
}

void parsimony::buildHostToLLVMPipeline(OpPassManager &pm,
                                        bool launchesGpuKernels) {
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // Allocations go through the runtime's buffer cache
  // (lib/Runtime/Allocator.cpp) instead of malloc/free.
  FinalizeMemRefToLLVMConversionPassOptions memrefToLLVM;
  memrefToLLVM.useGenericFunctions = true;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefToLLVM));
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  ConvertFuncToLLVMPassOptions funcToLLVM;
  funcToLLVM.useBarePtrCallConv = true;
  pm.addPass(createConvertFuncToLLVMPass(funcToLLVM));
  // Launches, device allocations and copies become mgpu* runtime calls.
  if (launchesGpuKernels)
    pm.addPass(createGpuToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

void parsimony::registerPipelines() {
  PassPipelineRegistration<CpuPipelineOptions>(
      "parsimony-cpu-pipeline",
      "Lower tensor-level IR (linalg/tensor/arith/math/tosa) to the LLVM "
      "dialect for x86 CPUs",
      buildCpuPipeline);
  PassPipelineRegistration<GpuPipelineOptions>(
      "parsimony-gpu-pipeline",
      "Lower tensor-level IR to host LLVM dialect code that launches NVVM "
      "kernels (embedded as a gpu.binary) for NVIDIA GPUs",
      buildGpuPipeline);
}
